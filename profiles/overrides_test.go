package profiles

import (
	"strings"
	"testing"
	"time"

	"github.com/queuegap/queuegap/loadgen"
)

const overrideSrc = `base_url: http://127.0.0.1:8080
clients:
  - name: a
    stages: [{rate: 10, for: 10s}, {burst: 5, every: 10s, count: 3}]
    requests:
      - {name: x, weight: 3, method: POST, path: /x, headers: {H: 1}, body: hi}
      - {name: y, path: /y}
    connections: 8
    max_inflight: 100
    timeout: 5s
    connect_timeout: 1s
  - name: b
    stages: [{steps: [1, 2, 4], each: 10s}]
    connection: new
`

func TestApplyOverrides(t *testing.T) {
	newConn := loadgen.NewConn
	keep := loadgen.KeepAlive
	sched := loadgen.Schedule{loadgen.Constant{Rate: 7, Duration: 3 * time.Second}}
	cases := []struct {
		name  string
		o     Overrides
		check func(t *testing.T, p *Profile)
	}{
		{"nothing set keeps the profile", Overrides{}, func(t *testing.T, p *Profile) {
			a := p.Clients[0]
			if a.Config.Connections != 8 || a.MaxInflight != 100 || a.Config.Timeout != 5*time.Second || a.Config.Mix[0].Method != "POST" || string(a.Config.Mix[0].Body) != "hi" {
				t.Errorf("changed: %+v", a)
			}
		}},
		{"schedule replaces every client's stages", Overrides{Schedule: sched}, func(t *testing.T, p *Profile) {
			for _, c := range p.Clients {
				if c.Schedule.String() != "rate:7:3s" {
					t.Errorf("%s: %s", c.Name, c.Schedule)
				}
			}
		}},
		{"until cuts every schedule", Overrides{Until: 15 * time.Second}, func(t *testing.T, p *Profile) {
			// a: 10/s for 10 s, then the first of the bursts 10 s apart; b:
			// 1/s for 10 s, then 2/s for 5 s.
			for i, want := range []int64{10*10 + 5, 10 + 2*5} {
				s := p.Clients[i].Schedule
				if s.Length() != 15*time.Second || s.Planned() != want {
					t.Errorf("client %d: %s: %v, %d planned, want 15s and %d", i, s, s.Length(), s.Planned(), want)
				}
			}
		}},
		{"until after a replaced schedule", Overrides{Schedule: sched, Until: time.Second}, func(t *testing.T, p *Profile) {
			if got := p.Clients[1].Schedule.String(); got != "rate:7:1s" {
				t.Errorf("b: %s", got)
			}
		}},
		{"method, headers and body on every request", Overrides{Method: "PUT", Headers: [][2]string{{"X-Run", "1"}}, Body: []byte("flag")}, func(t *testing.T, p *Profile) {
			for _, c := range p.Clients {
				for _, r := range c.Requests() {
					if r.Method != "PUT" || string(r.Body) != "flag" || len(r.Headers) == 0 || r.Headers[len(r.Headers)-1] != [2]string{"X-Run", "1"} {
						t.Errorf("%s/%s: %+v", c.Name, r.Name, *r)
					}
				}
			}
			if h := p.Clients[0].Config.Mix[0].Headers; len(h) != 2 || h[0] != [2]string{"H", "1"} {
				t.Errorf("the profile's headers are kept, the flag's appended: %v", h)
			}
			if p.Clients[0].Config.Request.Method != "PUT" {
				t.Errorf("Config.Request does not follow Mix[0]")
			}
		}},
		{"an empty body clears it", Overrides{Body: []byte{}}, func(t *testing.T, p *Profile) {
			if b := p.Clients[0].Config.Mix[0].Body; len(b) != 0 {
				t.Errorf("body %q", b)
			}
		}},
		{"mode, pool, in-flight bound and timeouts", Overrides{Mode: &newConn, Connections: 2, MaxInflight: 9, Timeout: time.Second, ConnectTimeout: 500 * time.Millisecond}, func(t *testing.T, p *Profile) {
			for _, c := range p.Clients {
				cc := c.Config
				if cc.Mode != loadgen.NewConn || cc.Connections != 2 || c.MaxInflight != 9 || cc.Timeout != time.Second || cc.ConnectTimeout != 500*time.Millisecond {
					t.Errorf("%s: %+v inflight %d", c.Name, cc, c.MaxInflight)
				}
			}
		}},
		{"keep-alive over a client's new", Overrides{Mode: &keep}, func(t *testing.T, p *Profile) {
			if p.Clients[1].Config.Mode != loadgen.KeepAlive {
				t.Errorf("b: %v", p.Clients[1].Config.Mode)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := Parse("o.yaml", []byte(overrideSrc), "")
			if err != nil {
				t.Fatal(err)
			}
			if err := p.Apply(c.o); err != nil {
				t.Fatal(err)
			}
			c.check(t, p)
			if err := p.Validate(); err != nil {
				t.Errorf("after Apply: %v", err)
			}
		})
	}
}

func TestApplyRejects(t *testing.T) {
	cases := []struct {
		name string
		o    Overrides
		want string
	}{
		{"bad schedule", Overrides{Schedule: loadgen.Schedule{loadgen.Constant{Rate: 0, Duration: time.Second}}}, "rate must be > 0"},
		{"too many connections", Overrides{Connections: MaxConnections + 1}, "connections"},
		{"bad method", Overrides{Method: "GE T"}, "bad method"},
		{"bad header", Overrides{Headers: [][2]string{{"Bad Name", "x"}}}, "header name"},
		{"until before anything", Overrides{Until: time.Nanosecond}, "sends no request"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := Parse("o.yaml", []byte(overrideSrc), "")
			if err != nil {
				t.Fatal(err)
			}
			before := p.Clients[0].Summary()
			err = p.Apply(c.o)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Apply: %v, want an error with %q", err, c.want)
			}
			if p.Clients[0].Summary() != before || p.Clients[0].Config.Mix[0].Method != "POST" {
				t.Errorf("a failed Apply changed the profile")
			}
		})
	}
}
