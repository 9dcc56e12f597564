package session

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/queuegap/queuegap/analyze"
)

// runTo makes a real run against the embedded target, writing its results
// (and HDR log) into dir.
func runTo(t *testing.T, dir, name string, n int) (results, hdr string) {
	t.Helper()
	p := targetPlan(n)
	p.Out, p.HDRLog = filepath.Join(dir, name+".jsonl"), filepath.Join(dir, name+".hlog")
	s, err := New(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	return p.Out, p.HDRLog
}

// split writes the results of path into k part files, result i going to
// part i%k, each part under its own header and trailer counting its share
// — the shape of a run's shards.
func split(t *testing.T, path string, k int) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	parts := make([][]analyze.Result, k)
	var info analyze.RunInfo
	i := 0
	st, err := analyze.ReadResults(f, func(run *analyze.RunInfo, r *analyze.Result) error {
		cp := *r
		cp.RequestID = r.ID()
		parts[i%k] = append(parts[i%k], cp)
		i++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	info = st.Runs[0] // the header as its trailer completed it
	var paths []string
	for j, rs := range parts {
		var buf bytes.Buffer
		pi := info
		pi.Started, pi.Planned = int64(len(rs)), int64(len(rs))
		w, err := analyze.NewResultsWriter(&buf, pi, analyze.ResultsOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for r := range rs {
			if err := w.Write(&rs[r]); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Close(pi); err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(filepath.Dir(path), "part"+string(rune('0'+j))+".jsonl")
		if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	return paths
}

func summaryJSON(t *testing.T, paths ...string) string {
	t.Helper()
	s, err := Read(paths, ReadOptions{Timeline: true})
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Merging a run's parts gives one file whose analysis is exactly that of
// the parts given together, and of the run itself.
func TestMergeResultsIsExact(t *testing.T) {
	dir := t.TempDir()
	whole, _ := runTo(t, dir, "whole", 40)
	parts := split(t, whole, 3)
	merged := filepath.Join(dir, "merged.jsonl")
	st, err := Merge(parts, merged, MergeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if st.Results != 40 || st.Runs != 1 || st.Duplicates != 0 {
		t.Fatalf("merge stats %+v", st)
	}
	want := summaryJSON(t, parts...)
	if got := summaryJSON(t, merged); got != want {
		t.Errorf("analyze of the merged file differs from analyze of its parts:\n%s\n%s", got, want)
	}
	if got := summaryJSON(t, whole); got != want {
		t.Errorf("analyze of the parts differs from the whole run:\n%s\n%s", want, got)
	}
	// Merging a file with itself writes each result once.
	again := filepath.Join(dir, "again.jsonl")
	st, err = Merge([]string{merged, merged}, again, MergeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if st.Duplicates != 40 || st.Results != 40 || len(st.Warnings) == 0 {
		t.Errorf("self-merge stats %+v", st)
	}
}

func TestMergeRefusesBeforeWriting(t *testing.T) {
	dir := t.TempDir()
	a, ah := runTo(t, dir, "a", 5)
	b, _ := runTo(t, dir, "b", 5)
	out := filepath.Join(dir, "out.jsonl")
	if err := os.WriteFile(out, []byte("keep me\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		inputs []string
		out    string
		want   string
	}{
		{"different runs", []string{a, b}, out, "--different-runs"},
		{"kinds mixed", []string{a, ah}, out, "mix HDR logs"},
		{"output is an input", []string{a, b}, a, "also an input"},
		{"missing input", []string{a, filepath.Join(dir, "nope.jsonl")}, out, "nope.jsonl"},
		{"no inputs", nil, out, "no input"},
		{"output dir missing", []string{a}, filepath.Join(dir, "x", "y.jsonl"), "does not exist"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Merge(c.inputs, c.out, MergeOptions{})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Merge: %v, want an error with %q", err, c.want)
			}
			if b, _ := os.ReadFile(out); string(b) != "keep me\n" {
				t.Errorf("-o was touched: %q", b)
			}
		})
	}
	if _, err := Merge([]string{a, b}, out, MergeOptions{DifferentRuns: true}); err != nil {
		t.Fatalf("--different-runs: %v", err)
	}
	s, err := Read([]string{out}, ReadOptions{Merge: true})
	if err != nil || s.Requests != 10 {
		t.Fatalf("two runs merged: %v, %+v", err, s)
	}
}

// HDR logs merge interval by interval, histograms added exactly.
func TestMergeHDRLogs(t *testing.T) {
	dir := t.TempDir()
	_, a := runTo(t, dir, "a", 30)
	_, b := runTo(t, dir, "b", 12)
	out := filepath.Join(dir, "m.hlog")
	st, err := Merge([]string{a, b}, out, MergeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if st.Kind != "hdr" || st.Results == 0 {
		t.Fatalf("stats %+v", st)
	}
	read := func(p string) *analyze.HDRLog {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		l, err := analyze.ReadHDRLog(f, analyze.HDRLogOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	la, lb, lm := read(a), read(b), read(out)
	for tag, h := range lm.Hists {
		var want int64
		if x := la.Hists[tag]; x != nil {
			want += x.TotalCount()
		}
		if x := lb.Hists[tag]; x != nil {
			want += x.TotalCount()
		}
		if h.TotalCount() != want {
			t.Errorf("tag %q: %d values merged, want %d", tag, h.TotalCount(), want)
		}
	}
	if len(lm.Hists) != len(la.Hists) {
		t.Errorf("merged tags %d, input tags %d", len(lm.Hists), len(la.Hists))
	}
}
