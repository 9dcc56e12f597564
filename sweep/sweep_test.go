package sweep

import (
	"strings"
	"testing"
	"time"

	"github.com/queuegap/queuegap/testbed/stack"
)

func TestGrid(t *testing.T) {
	base := stack.Defaults()
	for _, c := range []struct {
		name   string
		k      Knobs
		labels []string
		err    string
	}{
		{"no knobs: the base", Knobs{}, []string{"base"}, ""},
		{"one knob", Knobs{Workers: []int{2, 4}}, []string{"workers=2", "workers=4"}, ""},
		{"the first knob varies slowest", Knobs{Workers: []int{2, 4}, Listen: []int{8, 100}},
			[]string{"workers=2 listen=8", "workers=2 listen=100", "workers=4 listen=8", "workers=4 listen=100"}, ""},
		{"durations and strings", Knobs{Harakiri: []time.Duration{0, 30 * time.Second}, Server: []string{"gunicorn"}},
			[]string{"server=gunicorn harakiri=0s", "server=gunicorn harakiri=30s"}, ""},
		{"a bad value names its cell", Knobs{Workers: []int{0}}, nil, "workers=0"},
		{"too many cells", Knobs{Workers: make([]int, 17), Listen: make([]int, 17)}, nil, "more than"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cells, err := Grid(base, c.k)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("Grid: %v, want an error with %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for i, cell := range cells {
				got = append(got, cell.Label)
				if cell.Index != i+1 {
					t.Errorf("cell %q index %d", cell.Label, cell.Index)
				}
			}
			if strings.Join(got, "|") != strings.Join(c.labels, "|") {
				t.Errorf("cells %q, want %q", got, c.labels)
			}
		})
	}
	cells, _ := Grid(base, Knobs{Workers: []int{6}, Listen: []int{8}})
	if cells[0].Config.Workers != 6 || cells[0].Config.Listen != 8 || cells[0].Config.Socket != base.Socket {
		t.Errorf("cell config %+v", cells[0].Config)
	}
}

func TestBestAndSorted(t *testing.T) {
	v := func(f float64) *float64 { return &f }
	rs := []Result{
		{Label: "a", Objective: v(30), Passed: true},
		{Label: "b", Objective: v(10), Passed: false}, // best figure, but fails a constraint
		{Label: "c", Objective: nil, Passed: true},    // no data
		{Label: "d", Objective: v(20), Passed: true},
	}
	p := &Plan{Objective: "p99(total)"}
	if b, ok := Best(p, rs); !ok || b.Label != "d" {
		t.Errorf("best %q %v, want d", b.Label, ok)
	}
	p.Maximize = true
	if b, ok := Best(p, rs); !ok || b.Label != "a" {
		t.Errorf("best (maximize) %q %v, want a", b.Label, ok)
	}
	p.Maximize = false
	var order []string
	for _, r := range Sorted(p, rs) {
		order = append(order, r.Label)
	}
	if strings.Join(order, "") != "bdac" {
		t.Errorf("sorted %v, want b d a c (no data last)", order)
	}
	if _, ok := Best(p, []Result{{Label: "x", Passed: false, Objective: v(1)}}); ok {
		t.Error("a failing cell was named best")
	}
	p.Cells = make([]Cell, 3)
	p.Length = 10 * time.Second
	if got, want := p.Estimate(), 3*(10*time.Second+PerCellOverhead); got != want {
		t.Errorf("estimate %v, want %v", got, want)
	}
}
