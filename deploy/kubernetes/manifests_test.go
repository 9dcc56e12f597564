package kubernetes_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	k8sjson "sigs.k8s.io/json"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/queuegap/queuegap/testbed/stack"
)

// httpScaledObject is the part of the KEDA HTTP add-on's HTTPScaledObject
// (http.keda.sh/v1alpha1) the examples use: its CRD is not in k8s.io/api, and a local
// struct decoded as strictly as the built-in kinds still catches a misspelt field. Field
// names follow the add-on's v1alpha1 API (operator/apis/http/v1alpha1).
type httpScaledObject struct {
	APIVersion string         `json:"apiVersion"`
	Kind       string         `json:"kind"`
	Metadata   map[string]any `json:"metadata"`
	Spec       struct {
		Hosts          []string `json:"hosts"`
		PathPrefixes   []string `json:"pathPrefixes"`
		ScaleTargetRef struct {
			Name       string `json:"name"`
			Kind       string `json:"kind"`
			APIVersion string `json:"apiVersion"`
			Service    string `json:"service"`
			Port       int32  `json:"port"`
			PortName   string `json:"portName"`
		} `json:"scaleTargetRef"`
		Replicas *struct {
			Min *int32 `json:"min"`
			Max *int32 `json:"max"`
		} `json:"replicas"`
		ScaledownPeriod       *int32 `json:"scaledownPeriod"`
		InitialCooldownPeriod *int32 `json:"initialCooldownPeriod"`
		ScalingMetric         *struct {
			Concurrency *struct {
				TargetValue int `json:"targetValue"`
			} `json:"concurrency"`
			RequestRate *struct {
				TargetValue int    `json:"targetValue"`
				Window      string `json:"window"`
				Granularity string `json:"granularity"`
			} `json:"requestRate"`
		} `json:"scalingMetric"`
	} `json:"spec"`
}

// object is one decoded manifest document.
type object struct {
	file string
	kind string
	name string
	obj  any // *batchv1.Job, *appsv1.Deployment, *corev1.Service, ... or *httpScaledObject
}

// newObject returns an empty value of the Go type for apiVersion/kind.
func newObject(apiVersion, kind string) (any, error) {
	switch apiVersion + " " + kind {
	case "batch/v1 Job":
		return &batchv1.Job{}, nil
	case "apps/v1 Deployment":
		return &appsv1.Deployment{}, nil
	case "v1 Service":
		return &corev1.Service{}, nil
	case "v1 ConfigMap":
		return &corev1.ConfigMap{}, nil
	case "v1 PersistentVolumeClaim":
		return &corev1.PersistentVolumeClaim{}, nil
	case "v1 Pod":
		return &corev1.Pod{}, nil
	case "http.keda.sh/v1alpha1 HTTPScaledObject":
		return &httpScaledObject{}, nil
	}
	return nil, fmt.Errorf("apiVersion %q kind %q: no Go type known to this test (add it to newObject)", apiVersion, kind)
}

// decodeFile decodes every document of a manifest file strictly: YAML → JSON (duplicate
// keys are an error), then into the Kubernetes type with sigs.k8s.io/json's strict mode —
// what the API server's strict field validation uses: unknown fields and duplicate fields
// are errors, and names match case-sensitively (encoding/json alone would take
// "completionmode" for "completionMode").
func decodeFile(path string) ([]object, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var out []object
	for i := 1; ; i++ {
		var node yaml.Node
		if err := dec.Decode(&node); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, fmt.Errorf("%s: document %d: %w", path, i, err)
		}
		doc, err := yaml.Marshal(&node)
		if err != nil {
			return nil, fmt.Errorf("%s: document %d: %w", path, i, err)
		}
		js, err := sigsyaml.YAMLToJSONStrict(doc)
		if err != nil {
			return nil, fmt.Errorf("%s: document %d: %w", path, i, err)
		}
		var tm struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Metadata   struct {
				Name string `json:"name"`
			} `json:"metadata"`
		}
		if err := k8sjson.UnmarshalCaseSensitivePreserveInts(js, &tm); err != nil {
			return nil, fmt.Errorf("%s: document %d: %w", path, i, err)
		}
		obj, err := newObject(tm.APIVersion, tm.Kind)
		if err != nil {
			return nil, fmt.Errorf("%s: document %d: %w", path, i, err)
		}
		strict, err := k8sjson.UnmarshalStrict(js, obj, k8sjson.DisallowDuplicateFields, k8sjson.DisallowUnknownFields)
		if err != nil {
			return nil, fmt.Errorf("%s: %s %s: %w", path, tm.Kind, tm.Metadata.Name, err)
		}
		if len(strict) > 0 {
			return nil, fmt.Errorf("%s: %s %s: %w", path, tm.Kind, tm.Metadata.Name, errors.Join(strict...))
		}
		if tm.Metadata.Name == "" {
			return nil, fmt.Errorf("%s: document %d (%s): no metadata.name", path, i, tm.Kind)
		}
		out = append(out, object{file: filepath.Base(path), kind: tm.Kind, name: tm.Metadata.Name, obj: obj})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no documents", path)
	}
	return out, nil
}

func shippedFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(files)
	if len(files) < 4 {
		t.Fatalf("manifests %v: want job, testbed, keda and collect", files)
	}
	return files
}

// manifests decodes every shipped manifest, failing the test on any error.
func manifests(t *testing.T) map[string]any {
	t.Helper()
	all := map[string]any{} // "Kind/name" -> object
	for _, f := range shippedFiles(t) {
		objs, err := decodeFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range objs {
			key := o.kind + "/" + o.name
			if _, dup := all[key]; dup {
				t.Errorf("%s: %s defined twice", o.file, key)
			}
			all[key] = o.obj
		}
	}
	return all
}

func get[T any](t *testing.T, all map[string]any, key string) T {
	t.Helper()
	o, ok := all[key].(T)
	if !ok {
		t.Fatalf("no %s among the manifests (have %v)", key, slices.Sorted(mapKeys(all)))
	}
	return o
}

func mapKeys(m map[string]any) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func TestManifestsDecodeStrictly(t *testing.T) {
	all := manifests(t)
	for _, want := range []string{"Job/queuegap-run", "ConfigMap/queuegap-run", "PersistentVolumeClaim/queuegap-results",
		"Deployment/queuegap-testbed", "Service/queuegap-testbed", "ConfigMap/queuegap-testbed",
		"HTTPScaledObject/queuegap-testbed", "Pod/queuegap-collect"} {
		if _, ok := all[want]; !ok {
			t.Errorf("no %s among the manifests", want)
		}
	}
}

// TestManifestsRejectBrokenCopies: the decoder above is what makes a typo fail CI. Each case
// writes a shipped manifest with one deliberate mistake to a temp file; decoding must fail
// and name the field.
func TestManifestsRejectBrokenCopies(t *testing.T) {
	for _, tc := range []struct {
		name, file, old, new, want string
	}{
		{"wrong field name", "job.yaml", "  completionMode: Indexed", "  completionMod: Indexed", "completionMod"},
		{"wrong case", "job.yaml", "  parallelism: 3", "  Parallelism: 3", "Parallelism"},
		{"nested wrong field", "job.yaml", "        runAsNonRoot: true", "        runAsNonroot: true", "runAsNonroot"},
		// A real Job field, valid YAML, but under the pod spec: the wrong place.
		{"field at the wrong level", "job.yaml", "      restartPolicy: Never\n", "      restartPolicy: Never\n      completions: 3\n", "spec.template.spec.completions"},
		{"sysctl typo", "testbed.yaml", "        sysctls:", "        sysctl:", "sysctl"},
		{"duplicate field", "testbed.yaml", "  replicas: 1\n", "  replicas: 1\n  replicas: 2\n", "replicas"},
		{"keda typo", "keda.yaml", "      targetValue: 4", "      targetvalue: 4", "targetvalue"},
		{"keda unknown field", "keda.yaml", "  scaledownPeriod: 300", "  scaleDownPeriod: 300", "scaleDownPeriod"},
		{"unknown kind", "keda.yaml", "kind: HTTPScaledObject", "kind: HTTPScaledObjekt", "HTTPScaledObjekt"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := os.ReadFile(tc.file)
			if err != nil {
				t.Fatal(err)
			}
			if n := strings.Count(string(b), tc.old); n != 1 {
				t.Fatalf("%s: %q occurs %d times, want once (the shipped file changed: update this case)", tc.file, tc.old, n)
			}
			broken := filepath.Join(t.TempDir(), tc.file)
			if err := os.WriteFile(broken, []byte(strings.Replace(string(b), tc.old, tc.new, 1)), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err = decodeFile(broken)
			if err == nil {
				t.Fatalf("a broken copy of %s (%q → %q) decoded without error", tc.file, tc.old, tc.new)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not name %q", err, tc.want)
			}
			t.Logf("rejected: %v", err)
		})
	}
}

// TestJobShards: an Indexed Job whose completion index becomes the shard, N in one place
// (the ConfigMap) and equal to completions and parallelism, one shared start time, and every
// $(VAR) in the args defined (Kubernetes leaves an undefined $(VAR) as literal text).
func TestJobShards(t *testing.T) {
	all := manifests(t)
	job := get[*batchv1.Job](t, all, "Job/queuegap-run")
	cm := get[*corev1.ConfigMap](t, all, "ConfigMap/queuegap-run")
	spec := job.Spec
	if spec.CompletionMode == nil || *spec.CompletionMode != batchv1.IndexedCompletion {
		t.Errorf("completionMode %v, want Indexed", spec.CompletionMode)
	}
	n, err := strconv.Atoi(cm.Data["QG_SHARDS"])
	if err != nil || n < 1 {
		t.Fatalf("ConfigMap queuegap-run QG_SHARDS=%q: want a positive integer", cm.Data["QG_SHARDS"])
	}
	if spec.Completions == nil || int(*spec.Completions) != n || spec.Parallelism == nil || int(*spec.Parallelism) != n {
		t.Errorf("completions %v, parallelism %v: want both = QG_SHARDS = %d (every shard at once)", spec.Completions, spec.Parallelism, n)
	}
	if spec.BackoffLimit == nil || *spec.BackoffLimit != 0 {
		t.Errorf("backoffLimit %v, want 0: a re-run shard would start late and double its share", spec.BackoffLimit)
	}
	if _, err := time.Parse(time.RFC3339, cm.Data["QG_START_AT"]); err != nil {
		t.Errorf("QG_START_AT=%q: %v", cm.Data["QG_START_AT"], err)
	}
	pod := spec.Template.Spec
	if pod.RestartPolicy != corev1.RestartPolicyNever {
		t.Errorf("restartPolicy %q, want Never", pod.RestartPolicy)
	}
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(pod.Containers))
	}
	c := pod.Containers[0]
	env := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		env[e.Name] = e
	}
	idx, ok := env["SHARD_INDEX"]
	if !ok || idx.ValueFrom == nil || idx.ValueFrom.FieldRef == nil ||
		idx.ValueFrom.FieldRef.FieldPath != "metadata.annotations['batch.kubernetes.io/job-completion-index']" {
		t.Errorf("SHARD_INDEX %+v: want the completion-index annotation", idx)
	}
	args := strings.Join(c.Args, " ")
	for _, want := range []string{"run ", "--shard $(SHARD_INDEX)/$(QG_SHARDS)", "--start-at $(QG_START_AT)", "--out /results/shard-$(SHARD_INDEX).jsonl"} {
		if !strings.Contains(args, want) {
			t.Errorf("args %q: want %q", args, want)
		}
	}
	for _, m := range regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`).FindAllStringSubmatch(args, -1) {
		if _, ok := env[m[1]]; !ok {
			t.Errorf("args use $(%s), which the container's env does not define", m[1])
		}
	}
	for _, e := range c.Env {
		if e.ValueFrom != nil && e.ValueFrom.ConfigMapKeyRef != nil {
			ref := e.ValueFrom.ConfigMapKeyRef
			if _, ok := cm.Data[ref.Key]; ref.Name != cm.Name || !ok {
				t.Errorf("env %s reads %s/%s, which is not in ConfigMap %s", e.Name, ref.Name, ref.Key, cm.Name)
			}
		}
	}
	if pod.SecurityContext == nil || pod.SecurityContext.RunAsNonRoot == nil || !*pod.SecurityContext.RunAsNonRoot {
		t.Errorf("pod securityContext %+v: want runAsNonRoot (the image runs as 65532)", pod.SecurityContext)
	}
}

// TestTestbedDeployment: the testbed pod sets exactly the native runner's knobs, raises
// net.core.somaxconn above every backlog it configures, and its Service reaches nginx.
func TestTestbedDeployment(t *testing.T) {
	all := manifests(t)
	dep := get[*appsv1.Deployment](t, all, "Deployment/queuegap-testbed")
	cm := get[*corev1.ConfigMap](t, all, "ConfigMap/queuegap-testbed")
	svc := get[*corev1.Service](t, all, "Service/queuegap-testbed")

	var knobs []string
	for k := range cm.Data {
		knobs = append(knobs, k)
	}
	sort.Strings(knobs)
	if want := stack.EnvKnobs(); !slices.Equal(knobs, want) {
		t.Errorf("ConfigMap queuegap-testbed sets %v\nnative runner passes %v", knobs, want)
	}

	pod := dep.Spec.Template.Spec
	var somaxconn int
	if pod.SecurityContext != nil {
		for _, s := range pod.SecurityContext.Sysctls {
			if s.Name == "net.core.somaxconn" {
				somaxconn, _ = strconv.Atoi(s.Value)
			}
		}
	}
	for _, k := range []string{"QG_LISTEN", "QG_NGINX_BACKLOG"} {
		v, _ := strconv.Atoi(cm.Data[k])
		if somaxconn < v || somaxconn < 4096 {
			t.Errorf("pod sysctl net.core.somaxconn = %d: want ≥ %s (%d) and ≥ 4096, or the kernel caps it", somaxconn, k, v)
		}
	}
	names := map[string]corev1.Container{}
	for _, c := range pod.Containers {
		names[c.Name] = c
		if len(c.EnvFrom) != 1 || c.EnvFrom[0].ConfigMapRef == nil || c.EnvFrom[0].ConfigMapRef.Name != cm.Name {
			t.Errorf("container %s: envFrom %+v, want ConfigMap %s", c.Name, c.EnvFrom, cm.Name)
		}
	}
	for _, want := range []string{"app", "nginx"} {
		if _, ok := names[want]; !ok {
			t.Errorf("no container %s in the testbed pod", want)
		}
	}
	for k, v := range svc.Spec.Selector {
		if dep.Spec.Template.Labels[k] != v {
			t.Errorf("Service selector %s=%s does not match the pod's labels %v", k, v, dep.Spec.Template.Labels)
		}
	}
	port, _ := strconv.Atoi(cm.Data["QG_PORT"])
	found := false
	for _, p := range names["nginx"].Ports {
		if int(p.ContainerPort) == port && len(svc.Spec.Ports) > 0 && svc.Spec.Ports[0].TargetPort.StrVal == p.Name {
			found = true
		}
	}
	if !found {
		t.Errorf("Service %v does not target nginx's QG_PORT %d", svc.Spec.Ports, port)
	}
}

// TestKEDATargetIsConcurrency: the scaled object's targetValue equals the app's concurrency
// (workers × threads), not the add-on's default 100 — above that, requests are queueing.
func TestKEDATargetIsConcurrency(t *testing.T) {
	all := manifests(t)
	so := get[*httpScaledObject](t, all, "HTTPScaledObject/queuegap-testbed")
	cm := get[*corev1.ConfigMap](t, all, "ConfigMap/queuegap-testbed")
	dep := get[*appsv1.Deployment](t, all, "Deployment/queuegap-testbed")
	svc := get[*corev1.Service](t, all, "Service/queuegap-testbed")

	workers, err := strconv.Atoi(cm.Data["QG_WORKERS"])
	if err != nil {
		t.Fatalf("QG_WORKERS=%q: %v", cm.Data["QG_WORKERS"], err)
	}
	// The testbed's uWSGI config has no threads option and gunicorn runs sync workers: one
	// request per worker at a time.
	const threads = 1
	if so.Spec.ScalingMetric == nil || so.Spec.ScalingMetric.Concurrency == nil {
		t.Fatal("HTTPScaledObject: no scalingMetric.concurrency")
	}
	if got, want := so.Spec.ScalingMetric.Concurrency.TargetValue, workers*threads; got != want {
		t.Errorf("concurrency targetValue %d, want workers × threads = %d", got, want)
	}
	ref := so.Spec.ScaleTargetRef
	if ref.Kind != "Deployment" || ref.Name != dep.Name || ref.Service != svc.Name || len(svc.Spec.Ports) == 0 || ref.Port != svc.Spec.Ports[0].Port {
		t.Errorf("scaleTargetRef %+v does not point at Deployment %s / Service %s:%v", ref, dep.Name, svc.Name, svc.Spec.Ports)
	}
}
