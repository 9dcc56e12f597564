package probe

import (
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Spec
		err  string // substring of the error, "" for none
	}{
		{in: "listen=127.0.0.1:8080", want: Spec{Kind: Listen, Target: "127.0.0.1:8080"}},
		{in: "listen=127.0.0.1:8080,expect=2048", want: Spec{Kind: Listen, Target: "127.0.0.1:8080", ExpectBacklog: 2048}},
		{in: "listen=[::1]:80,every=1s", want: Spec{Kind: Listen, Target: "[::1]:80", Every: time.Second}},
		{in: "uwsgi=127.0.0.1:9191", want: Spec{Kind: UWSGI, Target: "127.0.0.1:9191"}},
		{in: "process=1234", want: Spec{Kind: Process, Target: "pid:1234"}},
		{in: "process=pid:1234", want: Spec{Kind: Process, Target: "pid:1234"}},
		{in: "process=name:uwsgi", want: Spec{Kind: Process, Target: "name:uwsgi"}},
		{in: "cgroup=/sys/fs/cgroup/app", want: Spec{Kind: Process, Target: "cgroup:/sys/fs/cgroup/app"}},
		{in: "listen", err: "want listen=HOST:PORT"},
		{in: "listen=", err: "want listen=HOST:PORT"},
		{in: "tcp=1.2.3.4:5", err: "unknown kind"},
		{in: "listen=localhost:80", err: "not a name"},
		{in: "listen=127.0.0.1", err: "want IP:PORT"},
		{in: "listen=127.0.0.1:0", err: "port"},
		{in: "listen=127.0.0.1:70000", err: "port"},
		{in: "listen=127.0.0.1:80,expect=0", err: "expect"},
		{in: "listen=127.0.0.1:80,expect=x", err: "expect"},
		{in: "uwsgi=127.0.0.1:80,expect=5", err: "listen probes only"},
		{in: "listen=127.0.0.1:80,every=1ms", err: "at least"},
		{in: "listen=127.0.0.1:80,every=soon", err: "duration"},
		{in: "listen=127.0.0.1:80,color=red", err: "unknown option"},
		{in: "process=-3", err: "positive"}, {in: "process=abc", err: "pid:N"},
		{in: "process=pid:0", err: "positive"},
		{in: "process=name:a/b", err: "command name"},
		{in: "process=name:averyveryverylongname", err: "command name"},
		{in: "cgroup=sys/fs", err: "absolute"},
	} {
		got, err := Parse(tc.in)
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("Parse(%q): %v", tc.in, err)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("Parse(%q): error %v, want one containing %q", tc.in, err, tc.err)
		case tc.err == "" && got != tc.want:
			t.Errorf("Parse(%q) = %+v, want %+v", tc.in, got, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "\n") {
			t.Errorf("Parse(%q): error of several lines: %q", tc.in, err)
		}
	}
}

func TestSpecName(t *testing.T) {
	for in, want := range map[string]string{
		"listen=127.0.0.1:8080,expect=5": "listen 127.0.0.1:8080",
		"process=12":                     "process pid:12",
		"cgroup=/sys/fs/cgroup/x":        "process cgroup:/sys/fs/cgroup/x",
	} {
		s, err := Parse(in)
		if err != nil {
			t.Fatal(err)
		}
		if s.Name() != want {
			t.Errorf("%q: name %q, want %q", in, s.Name(), want)
		}
	}
}
