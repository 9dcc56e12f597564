package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/queuegap/queuegap/profiles"
)

// runQG runs the binary and returns its stdout, stderr and exit code.
func runQG(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := queuegap(args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	_ = cmd.Run()
	return stdout.String(), stderr.String(), cmd.ProcessState.ExitCode()
}

func TestProfilesList(t *testing.T) {
	out, errOut, code := runQG(t, "profiles", "list")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, s := range profiles.Shipped() {
		if !strings.Contains(out, s.Name+" ") || !strings.Contains(out, s.Description) {
			t.Errorf("list lacks %s (%s):\n%s", s.Name, s.Description, out)
		}
	}
}

func TestProfilesShow(t *testing.T) {
	out, _, code := runQG(t, "profiles", "show", "refresh-storm")
	src, _ := profiles.ShippedSource("refresh-storm")
	if code != 0 || out != string(src) {
		t.Errorf("show refresh-storm: exit %d, output differs from the embedded text:\n%s", code, out)
	}
	path := filepath.Join(t.TempDir(), "secret.yaml")
	text := "base_url: http://user:hunter2@127.0.0.1:8080\nclients:\n  - name: a\n    stages: [{rate: 1, for: 1s}]\n    headers: {Authorization: Bearer tok3n, X-Ok: visible}\n    requests:\n      - headers: [\"Cookie: session=abc\"]\n"
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := runQG(t, "profiles", "show", path)
	if code != 0 {
		t.Fatalf("show FILE: exit %d: %s", code, errOut)
	}
	for _, secret := range []string{"hunter2", "tok3n", "session=abc"} {
		if strings.Contains(out, secret) {
			t.Errorf("show printed %q:\n%s", secret, out)
		}
	}
	if !strings.Contains(out, "X-Ok: visible") || !strings.Contains(out, "user:xxxxx@") {
		t.Errorf("show masked too much:\n%s", out)
	}
	if _, errOut, code := runQG(t, "profiles", "show", "no-such"); code != exitUsage || !strings.Contains(errOut, "partner-cron") {
		t.Errorf("show no-such: exit %d, %q", code, errOut)
	}
}

func TestProfilesValidate(t *testing.T) {
	var names []string
	for _, s := range profiles.Shipped() {
		names = append(names, s.Name)
	}
	// The example in --help must itself be a valid profile.
	dir := t.TempDir()
	example := filepath.Join(dir, "example.yaml")
	if err := os.WriteFile(example, []byte(profileExample), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := runQG(t, append([]string{"profiles", "validate", example}, names...)...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if got := strings.Count(out, ": ok: profile "); got != len(names)+1 {
		t.Errorf("%d ok lines, want %d:\n%s", got, len(names)+1, out)
	}
	if !strings.Contains(out, "partner-cron: burst:60:20s:4 (240 requests planned over 1m20s); mix: sync 100%") {
		t.Errorf("no plan line for partner-cron:\n%s", out)
	}

	bad := filepath.Join(dir, "bad.yaml")
	src := "clients:\n  - name: a\n    stages: [{rate: 10, for: 1s}]\n    requests:\n      - {name: x, weight: 0}\n      - {name: y, path: nope}\n"
	if err := os.WriteFile(bad, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, code = runQG(t, "profiles", "validate", bad, "spike")
	if code != exitUsage {
		t.Fatalf("exit %d, want %d", code, exitUsage)
	}
	want := []string{
		bad + ":5:27: clients[0].requests[0].weight: 0: must be > 0 (and at most 1e+09)",
		bad + ":6:25: clients[0].requests[1].path: \"nope\": must start with /",
		"queuegap: 1 of 2 profiles invalid",
	}
	if got := strings.Split(strings.TrimSpace(errOut), "\n"); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("stderr:\n%s\nwant:\n%s", errOut, strings.Join(want, "\n"))
	}
	if !strings.Contains(out, "shipped:spike: ok") {
		t.Errorf("the valid one is still reported:\n%s", out)
	}
	for _, args := range [][]string{{"profiles"}, {"profiles", "bogus"}, {"profiles", "validate"}, {"profiles", "show"}, {"profiles", "list", "extra"}} {
		if _, errOut, code := runQG(t, args...); code != exitUsage || strings.Count(strings.TrimSpace(errOut), "\n") > 0 {
			t.Errorf("%v: exit %d, stderr %q: want 2 and one line", args, code, errOut)
		}
	}
}
