package stack

import (
	"reflect"
	"testing"

	"github.com/queuegap/queuegap/probe"
)

func TestProbeSpecs(t *testing.T) {
	cfg := Defaults()
	s := &Stack{cfg: cfg, url: "http://127.0.0.1:8080", nginxURL: "http://127.0.0.1:8080",
		appAddrs: []string{"127.0.0.1:3031"}, statsAddrs: []string{"127.0.0.1:9191"},
		procs: []*proc{{Name: "app1", Pid: 100}, {Name: "nginx", Pid: 200}}}
	want := []string{"listen=127.0.0.1:8080,expect=511", "listen=127.0.0.1:3031,expect=100", "uwsgi=127.0.0.1:9191", "process=100"}
	got := s.ProbeSpecs()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ProbeSpecs %q, want %q", got, want)
	}
	// Every one is what --probe takes.
	for _, sp := range got {
		if _, err := probe.Parse(sp); err != nil {
			t.Errorf("%q: %v", sp, err)
		}
	}
	s.cfg.Front, s.nginxURL = FrontALB, "http://127.0.0.1:8081"
	if got := s.ProbeSpecs(); got[0] != "listen=127.0.0.1:8080" || got[1] != "listen=127.0.0.1:8081,expect=511" {
		t.Errorf("with a front: %q", got)
	}
}
