package profiles

import (
	"errors"
	"strings"
	"testing"
)

// FuzzParse: Parse never panics, every error is Errors with positions and
// one line each, and an accepted profile validates again and resolves.
func FuzzParse(f *testing.F) {
	for _, info := range Shipped() {
		src, _ := ShippedSource(info.Name)
		f.Add(src)
	}
	for _, s := range []string{
		"clients: [{name: a, stages: [\"rate:5:1s\", {burst: 3, every: 1s}], requests: [{name: x, weight: 2}, {name: y, path: /y}]}]",
		"clients:\n  - name: a\n    stages: [{spike: 10, base: 1, for: 4s, spike_for: 1s}]\n    retry: {on_status: {statuses: [503]}, on_timeout: {max: 2}}\n",
		"a: &x {b: *x}",
		"clients: &c [*c]",
		"clients: [{name: a, replay: {trace: UUdUUgEB}}]",
		"clients:\n\t- x",
		"base_url: http://u:p@h/x\nclients: [{name: a, stages: [{ramp: '1:2', for: 2s}], headers: [\"A: b\"]}]",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse("f.yaml", data, "")
		if err != nil {
			var es Errors
			if !errors.As(err, &es) || len(es) == 0 {
				t.Fatalf("error %T %q: want Errors", err, err)
			}
			for _, e := range es {
				if e.Line < 1 || e.Col < 1 || strings.Contains(e.Msg, "\n") || strings.Contains(e.Error(), ":p@") {
					t.Fatalf("bad error %q", e.Error())
				}
			}
			return
		}
		if err := p.Validate(); err != nil {
			t.Fatalf("accepted, then invalid: %v", err)
		}
		if err := p.Resolve("http://127.0.0.1:1"); err != nil {
			t.Fatalf("accepted, then Resolve: %v", err)
		}
		if err := p.Validate(); err != nil {
			t.Fatalf("resolved, then invalid: %v", err)
		}
		for i := range p.Clients {
			_ = p.Clients[i].Summary()
		}
	})
}
