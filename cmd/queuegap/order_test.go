package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// TestAttributionIsOrderIndependent: analyze of a shuffled copy of a results
// file gives the same summary and the same per-request attribution as the
// original, for every header style the embedded target can emit; and run's
// own summary equals analyze of its --out file. Attribution uses run-wide
// estimates, so neither the order of lines nor the moment a request was
// seen may change its answer.
func TestAttributionIsOrderIndependent(t *testing.T) {
	for _, style := range []string{"app", "app,queue", "default", "start,runtime", "start,response-time", "none", "all"} {
		t.Run(style, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			out := filepath.Join(dir, "r.jsonl")
			// Backlog 4 behind 2 workers: some SYNs retry, most requests queue.
			runJSON, err := queuegap("run", "-q", "--json", "--out", out, "--burst", "16", "--conn-mode", "new",
				"--target-workers", "2", "--target-backlog", "4", "--target-service", "40ms", "--target-headers", style).Output()
			if err != nil {
				t.Fatalf("run: %v", err)
			}
			shuffled := filepath.Join(dir, "shuffled.jsonl")
			shuffleResults(t, out, shuffled)

			sumA, reqA := analyzeWithRequests(t, out, filepath.Join(dir, "a.req.jsonl"))
			sumB, reqB := analyzeWithRequests(t, shuffled, filepath.Join(dir, "b.req.jsonl"))
			if !reflect.DeepEqual(sumA, sumB) {
				t.Errorf("summary of the shuffled file differs:\noriginal %s\nshuffled %s", mustJSON(sumA), mustJSON(sumB))
			}
			if len(reqA) != 16 || !reflect.DeepEqual(reqA, reqB) {
				t.Errorf("per-request attribution of the shuffled file differs (%d vs %d requests)", len(reqA), len(reqB))
				for seq, a := range reqA {
					if b := reqB[seq]; !reflect.DeepEqual(a, b) {
						t.Errorf("seq %v: %v vs %v", seq, a, b)
					}
				}
			}
			var runSum map[string]any
			if err := json.Unmarshal(runJSON, &runSum); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(runSum, sumA) {
				t.Errorf("run --json differs from analyze --json of its own file:\nrun     %s\nanalyze %s", mustJSON(runSum), mustJSON(sumA))
			}
		})
	}
}

// shuffleResults writes a copy of a results file with its result lines in
// random order (the header first and the trailer last, as a reader needs).
func shuffleResults(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.Split(bytes.TrimSuffix(data, []byte("\n")), []byte("\n"))
	if len(lines) < 3 {
		t.Fatalf("%s: %d lines", from, len(lines))
	}
	mid := lines[1 : len(lines)-1]
	rng := rand.New(rand.NewPCG(1, 2))
	rng.Shuffle(len(mid), func(i, j int) { mid[i], mid[j] = mid[j], mid[i] })
	if err := os.WriteFile(to, append(bytes.Join(lines, []byte("\n")), '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}

// analyzeWithRequests runs analyze --json --requests and returns the summary
// (without the timeline) and each request's attribution keyed by seq.
func analyzeWithRequests(t *testing.T, path, requests string) (map[string]any, map[float64]any) {
	t.Helper()
	out, err := queuegap("analyze", "--json", "--timeline=false", "--requests", requests, path).Output()
	if err != nil {
		t.Fatalf("analyze %s: %v", path, err)
	}
	var sum map[string]any
	if err := json.Unmarshal(out, &sum); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(requests)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	reqs := map[float64]any{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var line map[string]any
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatal(err)
		}
		if seq, ok := line["seq"].(float64); ok {
			if line["attr"] == nil {
				t.Fatalf("--requests line without attr: %s", sc.Bytes())
			}
			reqs[seq] = line
		}
	}
	return sum, reqs
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
