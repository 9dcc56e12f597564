package probe

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func TestUWSGIStatsValues(t *testing.T) {
	captured, err := os.ReadFile("testdata/uwsgi-stats-http-and-unix.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		doc  string
		want map[string]float64
		note string // substring; "" for none
	}{
		{name: "captured: http socket and unix socket, 2 busy of 2, 3 queued", doc: string(captured),
			want: map[string]float64{"queue": 3, "queue_errors": 0, "busy": 2, "idle": 0, "workers": 2, "harakiri": 0},
			note: "counts TCP socket 127.0.0.1:18931 only"},
		{name: "tcp only",
			doc:  `{"listen_queue":7,"listen_queue_errors":1,"sockets":[{"name":"127.0.0.1:3031"}],"workers":[{"status":"busy","harakiri_count":2},{"status":"idle","harakiri_count":1},{"status":"cheap"}]}`,
			want: map[string]float64{"queue": 7, "queue_errors": 1, "busy": 1, "idle": 1, "workers": 3, "harakiri": 3}},
		{name: "unix only: queue unknown",
			doc:  `{"listen_queue":0,"sockets":[{"name":"/run/app.sock"}],"workers":[{"status":"idle"}]}`,
			want: map[string]float64{"queue_errors": 0, "busy": 0, "idle": 1, "workers": 1, "harakiri": 0},
			note: "listen queue unknown"},
		{name: "unix: prefix", doc: `{"sockets":[{"name":"unix:/x"}],"workers":[]}`,
			want: map[string]float64{"queue_errors": 0, "busy": 0, "idle": 0, "workers": 0, "harakiri": 0}, note: "unknown"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, err := ParseUWSGIStats([]byte(tc.doc))
			if err != nil {
				t.Fatal(err)
			}
			vs, note := st.Values()
			got := values(Reading{Values: vs})
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("values %v, want %v", got, tc.want)
			}
			if (tc.note == "") != (note == "") || !strings.Contains(note, tc.note) {
				t.Errorf("note %q, want one containing %q", note, tc.note)
			}
		})
	}
	for _, bad := range []string{"", "{", `{"listen_queue":"x","workers":[]}`, `{"listen_queue":1}`, "[]"} {
		if _, err := ParseUWSGIStats([]byte(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

const sleepApp = `import time
def application(env, start_response):
    q = env.get('QUERY_STRING', '')
    ms = int(q.split('=')[1]) if q.startswith('ms=') else 0
    time.sleep(ms / 1000.0)
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [b'ok\n']
`

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startUWSGI runs uWSGI with 2 workers, listen 5, an HTTP socket and a
// stats server, the given extra sockets; stopped in Cleanup.
func startUWSGI(t *testing.T, extra ...string) (httpAddr, statsAddr string) {
	t.Helper()
	bin, err := exec.LookPath("uwsgi")
	if err != nil {
		if os.Getenv("QG_REQUIRE_TESTBED") == "1" {
			t.Fatalf("QG_REQUIRE_TESTBED=1: %v", err)
		}
		t.Skip(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "app.py"), []byte(sleepApp), 0o644); err != nil {
		t.Fatal(err)
	}
	httpAddr, statsAddr = freePort(t), freePort(t)
	args := append([]string{"--plugins", "python3", "--master", "--processes", "2", "--listen", "5",
		"--http-socket", httpAddr, "--stats", statsAddr, "--wsgi-file", filepath.Join(dir, "app.py"),
		"--die-on-term", "--disable-logging"}, extra...)
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PYTHONHOME=") && !strings.HasPrefix(kv, "PYTHONPATH=") {
			env = append(env, kv)
		}
	}
	cmd.Env = env
	logf, err := os.Create(filepath.Join(dir, "uwsgi.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = syscall.Kill(cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // any worker left in its group
		logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			t.Logf("uwsgi log:\n%s", b)
		}
	})
	// Ready: the app answers.
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get("http://" + httpAddr + "/")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("uwsgi not ready: %v", err)
		}
		time.Sleep(50 * time.Millisecond) // poll interval
	}
	return httpAddr, statsAddr
}

// TestUWSGIRealStatsServer: 2 workers, 5 requests of 3 s at once: the
// stats server must show both workers busy and the others queued, and
// both idle afterwards.
func TestUWSGIRealStatsServer(t *testing.T) {
	httpAddr, statsAddr := startUWSGI(t)
	s, err := New(Spec{Kind: UWSGI, Target: statsAddr})
	if err != nil {
		t.Fatal(err)
	}
	// Idle: the readiness request may still show as busy until uWSGI
	// refreshes its stats (about once a second), so poll, bounded.
	for idleBy := time.Now().Add(5 * time.Second); ; {
		rd, err := s.Sample(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		v := values(rd)
		if v["workers"] == 2 && v["busy"] == 0 && v["queue"] == 0 && rd.Note == "" {
			break
		}
		if time.Now().After(idleBy) {
			t.Fatalf("idle: %v note %q, want 2 workers, none busy, queue 0", v, rd.Note)
		}
		time.Sleep(50 * time.Millisecond) // poll interval
	}
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 20 * time.Second}
	for i := 0; i < 5; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if resp, err := client.Get("http://" + httpAddr + "/?ms=3000"); err == nil {
				resp.Body.Close()
			}
		}()
	}
	// uWSGI refreshes its stats about once a second.
	deadline := time.Now().Add(8 * time.Second)
	var v map[string]float64
	for {
		rd, err := s.Sample(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		v = values(rd)
		if v["busy"] == 2 && v["queue"] >= 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("never saw 2 busy workers and a queue: %v", v)
		}
		time.Sleep(50 * time.Millisecond) // poll interval
	}
	t.Logf("during the burst: %v", v)
	if v["idle"] != 0 || v["queue"] > 3 {
		t.Errorf("during the burst: %v, want 0 idle and at most 3 queued", v)
	}
	wg.Wait()
}

// TestUWSGIUnixSocket: with only a unix socket (plus our HTTP socket for
// readiness, a TCP one) the note says what the queue covers; a unix-only
// stats document omits it (TestUWSGIStatsValues).
func TestUWSGIUnixSocket(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "app.sock")
	_, statsAddr := startUWSGI(t, "--socket", sock)
	s, _ := New(Spec{Kind: UWSGI, Target: statsAddr})
	rd, err := s.Sample(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(rd.Note, "reports 0 for unix socket "+sock) {
		t.Errorf("note %q: want it to name the unix socket", rd.Note)
	}
	if rd2, _ := s.Sample(context.Background()); rd2.Note != "" {
		t.Errorf("second note %q: want each note once", rd2.Note)
	}
}

func TestUWSGIDown(t *testing.T) {
	s, _ := New(Spec{Kind: UWSGI, Target: freePort(t)})
	if _, err := s.Sample(context.Background()); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Errorf("error %v, want connection refused", err)
	}
}
