package accesslog

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// combinedLines returns n combined+request_time lines, one per 10 ms.
func combinedLines(n int) string {
	var b strings.Builder
	base := time.Date(2025, 10, 10, 12, 0, 0, 0, time.UTC)
	for i := range n {
		ts := base.Add(time.Duration(i) * 10 * time.Millisecond)
		fmt.Fprintf(&b, "10.0.0.%d - - [%s] \"GET /item/%d HTTP/1.1\" 200 12 \"-\" \"t\" 0.005\n", i%250, ts.Format(clfLayout), i%7)
	}
	return b.String()
}

func gz(t testing.TB, parts ...string) []byte {
	t.Helper()
	var buf bytes.Buffer
	for _, p := range parts { // one gzip member each: concatenated members are one stream
		w := gzip.NewWriter(&buf)
		if _, err := io.WriteString(w, p); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

func drain(t testing.TB, r *Reader) ([]Entry, error) {
	t.Helper()
	var out []Entry
	for {
		e, err := r.Next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = nil
			}
			return out, err
		}
		out = append(out, e)
	}
}

func TestReaderInputs(t *testing.T) {
	f, _ := ParseFormat("combined+request_time")
	plain := combinedLines(300)
	long := strings.Repeat("x", MaxLineBytes+10)
	for _, tc := range []struct {
		name      string
		input     []byte
		entries   int
		malformed int64
		lines     int64
	}{
		{"plain", []byte(plain), 300, 0, 300},
		{"gzip", gz(t, plain), 300, 0, 300},
		{"gzip, two members", gz(t, plain[:len(plain)/2], plain[len(plain)/2:]), 300, 0, 300},
		{"no final newline", []byte(strings.TrimSuffix(plain, "\n")), 300, 0, 300},
		{"blank lines skipped", []byte("\n \n" + plain + "\r\n"), 300, 0, 303},
		{"line over 1 MiB", []byte(long + "\n" + plain), 300, 1, 301},
		{"line over 1 MiB at the end", []byte(plain + long), 300, 1, 301},
		{"line of exactly 1 MiB", []byte(strings.Repeat("y", MaxLineBytes) + "\n" + plain), 300, 1, 301},
		{"empty", nil, 0, 0, 0},
		{"one byte", []byte{0x1f}, 0, 1, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := NewReader(bytes.NewReader(tc.input), f)
			got, err := drain(t, r)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tc.entries || r.MalformedCount() != tc.malformed || r.Lines() != tc.lines {
				t.Fatalf("%d entries, %d malformed, %d lines; want %d %d %d (%v)", len(got), r.MalformedCount(), r.Lines(), tc.entries, tc.malformed, tc.lines, r.Malformed())
			}
			if tc.entries > 0 && got[len(got)-1].Path != "/item/"+fmt.Sprint((tc.entries-1)%7) {
				t.Errorf("last entry %+v", got[len(got)-1])
			}
		})
	}
}

func TestReaderLongLineReason(t *testing.T) {
	f, _ := ParseFormat("combined")
	r := NewReader(strings.NewReader(strings.Repeat("z", 3*MaxLineBytes)+"\n"), f)
	if _, err := drain(t, r); err != nil {
		t.Fatal(err)
	}
	if m := r.Malformed(); len(m) != 1 || m[0].Line != 1 || !strings.Contains(m[0].Reason, "longer than") {
		t.Fatalf("malformed %v", m)
	}
	// A line of exactly MaxLineBytes is read (and here fails to parse).
	r = NewReader(strings.NewReader(strings.Repeat("z", MaxLineBytes)+"\n"), f)
	if _, err := drain(t, r); err != nil {
		t.Fatal(err)
	}
	if m := r.Malformed(); len(m) != 1 || strings.Contains(m[0].Reason, "longer than") {
		t.Fatalf("malformed %v", m)
	}
}

func TestReaderMalformedKeepsFirst100CountsAll(t *testing.T) {
	f, _ := ParseFormat("combined")
	var b strings.Builder
	for i := range 250 {
		fmt.Fprintf(&b, "garbage %d\n", i)
	}
	r := NewReader(strings.NewReader(b.String()), f)
	if got, err := drain(t, r); err != nil || len(got) != 0 {
		t.Fatalf("%d entries, %v", len(got), err)
	}
	m := r.Malformed()
	if r.MalformedCount() != 250 || len(m) != MaxMalformedKept || m[0].Line != 1 || m[99].Line != 100 {
		t.Fatalf("count %d kept %d first %v", r.MalformedCount(), len(m), m[:1])
	}
}

func TestReaderErrors(t *testing.T) {
	good := gz(t, combinedLines(2000))
	for _, tc := range []struct {
		name   string
		input  []byte
		format Format
		want   string
	}{
		{"no format", []byte(combinedLines(1)), Format{}, "no log format"},
		{"truncated gzip", good[:len(good)/2], Format{Kind: NginxCombined}, "unexpected EOF"},
		{"bad gzip header", []byte{0x1f, 0x8b, 0, 0, 0}, Format{Kind: NginxCombined}, "gzip header"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := NewReader(bytes.NewReader(tc.input), tc.format)
			_, err := drain(t, r)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
			if _, again := r.Next(); again == nil || again.Error() != err.Error() {
				t.Errorf("error not sticky: %v", again)
			}
		})
	}
}

func TestOpen(t *testing.T) {
	dir := t.TempDir()
	plain := combinedLines(50)
	for name, data := range map[string][]byte{"access.log": []byte(plain), "access.log.1.gz": gz(t, plain)} {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		f, _ := ParseFormat("combined+request_time")
		r, closer, err := Open(path, f)
		if err != nil {
			t.Fatal(err)
		}
		got, err := drain(t, r)
		if err != nil || len(got) != 50 {
			t.Errorf("%s: %d entries, %v", name, len(got), err)
		}
		if err := closer.Close(); err != nil {
			t.Error(err)
		}
	}
	if _, _, err := Open(filepath.Join(dir, "missing"), Format{Kind: ALB}); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("Open of a missing file: %v", err)
	}
}

func TestFilter(t *testing.T) {
	at := time.Date(2025, 10, 10, 12, 0, 0, 0, time.UTC)
	e := Entry{Arrival: at, Client: "10.1.2.3", UserAgent: "Mozilla/5.0 (iPhone)", Path: "/api/v1/items?x=1"}
	for _, tc := range []struct {
		name string
		spec FilterSpec
		e    Entry
		want bool
	}{
		{"zero matches all", FilterSpec{}, e, true},
		{"ip", FilterSpec{Clients: []string{"10.1.2.3"}}, e, true},
		{"other ip", FilterSpec{Clients: []string{"10.1.2.4"}}, e, false},
		{"cidr", FilterSpec{Clients: []string{"192.168.0.0/16", "10.0.0.0/8"}}, e, true},
		{"cidr miss", FilterSpec{Clients: []string{"10.2.0.0/16"}}, e, false},
		{"unmasked cidr", FilterSpec{Clients: []string{"10.1.2.200/24"}}, e, true},
		{"v4-mapped client", FilterSpec{Clients: []string{"10.1.2.0/24"}}, Entry{Client: "::ffff:10.1.2.3"}, true},
		{"ipv6 cidr", FilterSpec{Clients: []string{"2001:db8::/32"}}, Entry{Client: "2001:db8::7"}, true},
		{"unparsable client never matches", FilterSpec{Clients: []string{"0.0.0.0/0"}}, Entry{Client: "unix:"}, false},
		{"user agent", FilterSpec{UserAgents: []string{"bot", "iPhone"}}, e, true},
		{"user agent miss", FilterSpec{UserAgents: []string{"bot"}}, e, false},
		{"path prefix", FilterSpec{PathPrefixes: []string{"/api/"}}, e, true},
		{"path prefix miss", FilterSpec{PathPrefixes: []string{"/static/"}}, e, false},
		{"from inclusive", FilterSpec{From: at}, e, true},
		{"before from", FilterSpec{From: at.Add(time.Millisecond)}, e, false},
		{"to exclusive", FilterSpec{To: at}, e, false},
		{"within window", FilterSpec{From: at.Add(-time.Hour), To: at.Add(time.Hour)}, e, true},
		{"all criteria must hold", FilterSpec{Clients: []string{"10.0.0.0/8"}, PathPrefixes: []string{"/static"}}, e, false},
	} {
		f, err := NewFilter(tc.spec)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got := f.Match(tc.e); got != tc.want {
			t.Errorf("%s: Match = %v, want %v", tc.name, got, tc.want)
		}
	}
	for _, bad := range []FilterSpec{
		{Clients: []string{"10.0.0.0/33"}},
		{Clients: []string{"10.0.0.300"}},
		{Clients: []string{"example.com"}},
		{From: at, To: at},
	} {
		if _, err := NewFilter(bad); err == nil {
			t.Errorf("NewFilter(%+v) accepted", bad)
		}
	}
}

func TestFiltered(t *testing.T) {
	f, _ := ParseFormat("combined+request_time")
	filter, err := NewFilter(FilterSpec{Clients: []string{"10.0.0.0/30"}, PathPrefixes: []string{"/item/3"}})
	if err != nil {
		t.Fatal(err)
	}
	src := NewFiltered(NewReader(strings.NewReader(combinedLines(1750)), f), filter)
	n := 0
	for {
		e, err := src.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(e.Client, "10.0.0.") || e.Path != "/item/3" {
			t.Fatalf("filter let through %+v", e)
		}
		n++
	}
	// Lines i with i%250 < 4 and i%7 == 3: among 1750 = 7×250 lines, exactly 4.
	if n != 4 || src.Skipped() != 1746 {
		t.Fatalf("%d kept, %d skipped", n, src.Skipped())
	}
}
