package probe

import (
	"os"
	"testing"
)

func FuzzParse(f *testing.F) {
	for _, s := range []string{"listen=127.0.0.1:8080,expect=2048", "uwsgi=[::1]:9191,every=1s", "process=12", "cgroup=/x", "process=name:uwsgi", "listen=,", "="} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sp, err := Parse(s)
		if err != nil {
			return
		}
		if err := sp.Validate(); err != nil {
			t.Fatalf("Parse(%q) = %+v, which does not validate: %v", s, sp, err)
		}
	})
}

func FuzzParseProcNetTCP(f *testing.F) {
	f.Add([]byte(procNetTCP))
	f.Add([]byte(procNetTCP6))
	f.Fuzz(func(t *testing.T, b []byte) { _, _ = ParseProcNetTCP(b) })
}

func FuzzParseNetstat(f *testing.F) {
	f.Add([]byte("TcpExt: A ListenOverflows\nTcpExt: 1 2\n"))
	f.Fuzz(func(t *testing.T, b []byte) { _, _ = ParseNetstat(b) })
}

func FuzzParseProcStat(f *testing.F) {
	f.Add([]byte("26040 (uwsgi) S 26038 26038 2596 0 -1 4194368 2841 0 0 0 12 3 0 0 20 0 1 0 57350912 60071936 5120 18446744073709551615"))
	f.Add([]byte("7 (a b) c)) R 1 7 7 0 -1 0 0 0 0 0 100 200 0 0 20 0 1 0 99 0 -1 0"))
	f.Fuzz(func(t *testing.T, b []byte) { _, _ = ParseProcStat(b) })
}

func FuzzParseKeyedFile(f *testing.F) {
	f.Add([]byte("usage_usec 1234\nuser_usec 1000\n"))
	f.Fuzz(func(t *testing.T, b []byte) { _, _ = ParseKeyedFile(b) })
}

func FuzzParseUWSGIStats(f *testing.F) {
	if b, err := os.ReadFile("testdata/uwsgi-stats-http-and-unix.json"); err == nil {
		f.Add(b)
	}
	f.Add([]byte(`{"listen_queue":1,"sockets":[{"name":"/x"}],"workers":[{"status":"busy"}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := ParseUWSGIStats(b)
		if err == nil {
			_, _ = st.Values()
		}
	})
}

func FuzzParseDiagMessages(f *testing.F) {
	msg := make([]byte, 16+72)
	msg[0], msg[4] = 88, 20
	f.Add(msg)
	f.Add([]byte{20, 0, 0, 0, 3, 0})
	f.Fuzz(func(t *testing.T, b []byte) { _, _, _ = ParseDiagMessages(b) })
}
