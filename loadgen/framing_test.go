package loadgen

import (
	"testing"
)

func TestBodyFramer(t *testing.T) {
	tests := []struct {
		name    string
		cl      int
		in      string
		used    int // bytes of in that belong to the body
		done    bool
		wantErr bool
	}{
		{"fixed exact", 5, "hello", 5, true, false},
		{"fixed short", 5, "hel", 3, false, false},
		{"fixed with extra", 2, "okEXTRA", 2, true, false},
		{"chunked", -1, "5\r\nhello\r\n0\r\n\r\n", 15, true, false},
		{"chunked upper hex, extension, trailer", -1, "A;x=\"y\"\r\n0123456789\r\n0\r\nT: 1\r\n\r\n", 32, true, false},
		{"chunked bare LF lines", -1, "2\nok\n0\n\n", 8, true, false},
		{"chunked not finished", -1, "5\r\nhel", 6, false, false},
		{"chunked then extra", -1, "0\r\n\r\nEXTRA", 5, true, false},
		{"chunked bad size", -1, "zz\r\n", 4, false, true},
		{"chunked size too long", -1, "1234567890abcdef0\r\n", 19, false, true},
		{"chunked missing CRLF after data", -1, "2\r\nokXX\r\n", 9, false, true},
		{"chunked bad trailer", -1, "0\r\nnocolon\r\n\r\n", 12, false, true},
		{"until close", -2, "anything", 8, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var f bodyFramer
			f.reset(tt.cl, 1<<20)
			used, done, err := f.feed([]byte(tt.in))
			if (err != nil) != tt.wantErr || done != tt.done || (!tt.wantErr && used != tt.used) {
				t.Fatalf("feed(%q) = %d, %v, %v; want %d, %v, err %v", tt.in, used, done, err, tt.used, tt.done, tt.wantErr)
			}
		})
	}
	var f bodyFramer
	f.reset(-1, 10)
	if _, _, err := f.feed([]byte("b\r\n")); err == nil {
		t.Error("a chunk over the limit was accepted")
	}
	f.reset(-2, 3)
	if _, _, err := f.feed([]byte("abcd")); err == nil {
		t.Error("a body until close over the limit was accepted")
	}
	f.reset(0, 10)
	if !f.done() {
		t.Error("an empty fixed body is not done at once")
	}
}

// FuzzBodyFramer: framing does not depend on how the bytes arrive. Fed at
// once, in two parts, or byte by byte, the framer ends at the same byte
// with the same verdict.
func FuzzBodyFramer(f *testing.F) {
	f.Add([]byte("5\r\nhello\r\n0\r\n\r\n"), uint16(4), int8(-1))
	f.Add([]byte("A;x=1\r\n0123456789\r\n0\r\nT: 1\r\n\r\nEXTRA"), uint16(9), int8(-1))
	f.Add([]byte("hello world"), uint16(3), int8(5))
	f.Add([]byte("stream"), uint16(2), int8(-2))
	f.Fuzz(func(t *testing.T, in []byte, split uint16, cl int8) {
		type verdict struct {
			used int
			done bool
			err  bool
		}
		run := func(parts [][]byte) verdict {
			var fr bodyFramer
			fr.reset(int(cl), 1<<16)
			v := verdict{}
			if fr.done() {
				return verdict{done: true}
			}
			for _, p := range parts {
				used, done, err := fr.feed(p)
				v.used += used
				if err != nil {
					return verdict{used: -1, err: true}
				}
				if done {
					v.done = true
					return v
				}
				if used != len(p) {
					t.Fatalf("used %d of %d without finishing", used, len(p))
				}
			}
			return v
		}
		whole := sameWhenSplit(t, in, split, run)
		if whole.used > len(in) {
			t.Fatalf("used %d of %d bytes", whole.used, len(in))
		}
	})
}
