package e2e

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/queuegap/queuegap/analyze"
	"github.com/queuegap/queuegap/session"
	"github.com/queuegap/queuegap/testbed/stack"
)

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// queuegapBinary builds the command once for the tests that run it as
// separate processes (shards).
func queuegapBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		binPath = filepath.Join(baseDir, "queuegap")
		out, err := exec.Command("go", "build", "-o", binPath, "github.com/queuegap/queuegap/cmd/queuegap").CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

const shardProfile = `name: shard-e2e
clients:
  - name: cron
    stages:
      - {burst: 24, every: 1s, count: 2}
    requests:
      - {name: slow, weight: 1, path: "/sleep?ms=200"}
      - {name: fast, weight: 3, path: /fast}
    connection: new
    seed: 42
  - name: browse
    stages:
      - {rate: 20, for: 2s}
    requests:
      - {name: page, path: "/sleep?ms=20"}
`

// Three shards as separate processes with one --start-at send, between
// them, exactly what one process sends of the same profile: the same
// requests per second and per endpoint, bursts leaving together on every
// shard, and a merge whose analysis is that of the shards read together.
func TestShardsMergeToTheSingleRun(t *testing.T) {
	cfg := stack.Defaults()
	cfg.Workers = 4
	s := up(t, cfg)
	bin := queuegapBinary(t)
	dir := t.TempDir()
	prof := filepath.Join(dir, "p.yaml")
	if err := os.WriteFile(prof, []byte(shardProfile), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(out string, extra ...string) *exec.Cmd {
		args := append([]string{"run", "--profile", prof, "--out", out, "-q", "--json"}, extra...)
		return exec.Command(bin, append(args, s.URL())...)
	}
	single := filepath.Join(dir, "single.jsonl")
	if out, err := run(single).CombinedOutput(); err != nil {
		t.Fatalf("single run: %v\n%s", err, out)
	}
	start := time.Now().Add(1500 * time.Millisecond).UTC().Format(time.RFC3339Nano)
	var shards []string
	var cmds []*exec.Cmd
	for i := range 3 {
		out := filepath.Join(dir, fmt.Sprintf("shard-%d.jsonl", i))
		shards = append(shards, out)
		c := run(out, "--shard", fmt.Sprintf("%d/3", i), "--start-at", start)
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, c)
	}
	for i, c := range cmds {
		if err := c.Wait(); err != nil {
			t.Fatalf("shard %d: %v", i, err)
		}
	}
	merged := filepath.Join(dir, "merged.jsonl")
	if out, err := exec.Command(bin, "merge", shards[0], shards[1], shards[2], "-o", merged).CombinedOutput(); err != nil {
		t.Fatalf("merge: %v\n%s", err, out)
	}

	type view struct {
		perSecond  map[int]int    // requests by intended second
		perName    map[string]int // by client/name
		totals     []float64      // ms
		burstStart map[int][]time.Duration
	}
	read := func(paths ...string) view {
		v := view{perSecond: map[int]int{}, perName: map[string]int{}, burstStart: map[int][]time.Duration{}}
		for _, p := range paths {
			f, err := os.Open(p)
			if err != nil {
				t.Fatal(err)
			}
			first := map[int]time.Duration{}
			if _, err := analyze.ReadResults(f, func(_ *analyze.RunInfo, r *analyze.Result) error {
				v.perSecond[int(r.Intended/time.Second)]++
				v.perName[r.Client+"/"+r.Name]++
				v.totals = append(v.totals, float64(r.Total())/1e6)
				if r.Client == "cron" {
					sec := int(r.Intended / time.Second)
					if cur, ok := first[sec]; !ok || r.Start < cur {
						first[sec] = r.Start
					}
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			f.Close()
			for sec, st := range first {
				v.burstStart[sec] = append(v.burstStart[sec], st)
			}
		}
		return v
	}
	one, parts := read(single), read(shards...)
	if fmt.Sprint(one.perSecond) != fmt.Sprint(parts.perSecond) || fmt.Sprint(one.perName) != fmt.Sprint(parts.perName) {
		t.Errorf("single run: %v %v; shards: %v %v", one.perSecond, one.perName, parts.perSecond, parts.perName)
	}
	for sec, starts := range parts.burstStart {
		if len(starts) != 3 {
			t.Errorf("burst at %ds: first starts on %d shards, want 3", sec, len(starts))
			continue
		}
		spread := slices.Max(starts) - slices.Min(starts)
		t.Logf("burst at %ds: first request started on each shard within %v", sec, spread)
		if spread > 5*time.Millisecond {
			t.Errorf("burst at %ds: shards began it %v apart, want ≤ 5ms", sec, spread)
		}
	}
	summary := func(paths ...string) (analyze.Summary, string) {
		sum, err := session.Read(paths, session.ReadOptions{Timeline: true})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(sum)
		return *sum, string(b)
	}
	msum, mjson := summary(merged)
	_, pjson := summary(shards...)
	if mjson != pjson {
		t.Errorf("analyze of the merged file differs from analyze of the three shards:\n%s\n%s", mjson, pjson)
	}
	// Percentiles of the merge against the union of the shards' records.
	slices.Sort(parts.totals)
	for _, q := range []struct {
		name string
		p    float64
		got  float64
	}{{"p50", 0.50, msum.Phases["total"].P50}, {"p99", 0.99, msum.Phases["total"].P99}} {
		// HDR's rank for a quantile: q·n rounded, at least the first.
		want := parts.totals[max(int(q.p*float64(len(parts.totals))+0.5), 1)-1]
		if math.Abs(q.got-want) > want*0.002+0.01 {
			t.Errorf("merged %s total %.3f ms, union of the records %.3f ms", q.name, q.got, want)
		}
	}
	if msum.Requests != int64(len(parts.totals)) {
		t.Errorf("merged %d requests, shards %d", msum.Requests, len(parts.totals))
	}
}
