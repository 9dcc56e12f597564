package main

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/queuegap/queuegap/profiles"
	"github.com/queuegap/queuegap/testbed/prefork"
)

// summaryJSON runs queuegap with args and decodes its --json summary.
func summaryJSON(t *testing.T, args ...string) map[string]any {
	t.Helper()
	cmd := queuegap(args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("queuegap %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	var s map[string]any
	if err := json.Unmarshal(out, &s); err != nil {
		t.Fatalf("--json output: %v\n%s", err, out)
	}
	return s
}

// Every shipped profile runs unchanged against the embedded target, cut
// to a moment of its schedule, and its results break down by the
// profile's own clients and request names.
func TestShippedProfilesRunBriefly(t *testing.T) {
	for _, sh := range profiles.Shipped() {
		t.Run(sh.Name, func(t *testing.T) {
			t.Parallel()
			prof, err := profiles.Load(sh.Name)
			if err != nil {
				t.Fatal(err)
			}
			names := map[string]bool{}
			var clients []string
			for _, c := range prof.Clients {
				clients = append(clients, c.Name)
				for _, r := range c.Requests() {
					names[r.Name] = true
				}
			}
			out := filepath.Join(t.TempDir(), "r.jsonl")
			s := summaryJSON(t, "run", "--profile", sh.Name, "--duration", "1500ms", "--json", "-q", "--out", out)
			if n := s["requests"].(float64); n < 1 {
				t.Fatalf("%v requests", n)
			}
			eps, _ := s["endpoints"].([]any)
			if len(eps) == 0 {
				t.Fatalf("no per-endpoint breakdown: %v", s["endpoints"])
			}
			for _, e := range eps {
				ep := e.(map[string]any)
				client, _ := ep["client"].(string)
				name, _ := ep["name"].(string)
				if !slices.Contains(clients, client) || (name != "" || len(names) > 1) && !names[name] {
					t.Errorf("endpoint %s/%s: not one of the profile's clients %v and names %v", client, name, clients, names)
				}
			}
		})
	}
}

const overrideProfile = `name: o
clients:
  - name: steady
    stages: [{rate: 10, for: 10s}]
    requests:
      - {name: slow, path: "/sleep?ms=2000"}
    timeout: 20s
`

// Every flag given overrides the profile: a schedule flag replaces its
// stages, --duration alone cuts them short, --timeout replaces its own.
func TestRunProfileFlagsOverride(t *testing.T) {
	srv := target(t, prefork.Config{Workers: 64, Backlog: 256, ServiceTime: time.Millisecond})
	path := filepath.Join(t.TempDir(), "o.yaml")
	if err := os.WriteFile(path, []byte(overrideProfile), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name     string
		flags    []string
		requests float64
		timeouts bool
	}{
		{"schedule flag replaces the stages", []string{"--burst", "7", "--timeout", "300ms"}, 7, true},
		{"--duration alone cuts the profile", []string{"--duration", "500ms", "--timeout", "300ms"}, 5, true},
		{"the profile's own timeout otherwise", []string{"--rate", "4", "--duration", "500ms", "-X", "GET"}, 2, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			args := append([]string{"run", "--profile", path, "--json", "-q"}, c.flags...)
			s := summaryJSON(t, append(args, srv.URL())...)
			if s["requests"].(float64) != c.requests {
				t.Errorf("%v requests, want %v", s["requests"], c.requests)
			}
			timeouts, _ := s["outcomes"].(map[string]any)["timeout"].(float64)
			if c.timeouts != (timeouts == c.requests) {
				t.Errorf("outcomes %v: timeouts overridden %v", s["outcomes"], c.timeouts)
			}
		})
	}
}

// A bad profile is a one-line error at its file, line and column, exit 2,
// and nothing is created.
func TestRunBadProfileTouchesNothing(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "bad.yaml")
	bad := strings.Replace(overrideProfile, "{name: slow,", "{name: slow, weight: 0,", 1)
	if err := os.WriteFile(path, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "r.jsonl")
	cmd := queuegap("run", "--profile", path, "--out", out)
	msg, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 {
		t.Fatalf("exit %v, want 2\n%s", err, msg)
	}
	if want := path + ":6:"; !strings.Contains(string(msg), want) || !strings.Contains(string(msg), "clients[0].requests[0].weight") {
		t.Errorf("message %q: want %s… clients[0].requests[0].weight", msg, want)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("--out was created: %v", err)
	}
}
