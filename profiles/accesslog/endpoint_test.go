package accesslog

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestEndpointName(t *testing.T) {
	for _, tc := range []struct{ method, path, want string }{
		{"GET", "/users/123", "GET /users/:id"},
		{"GET", "/users/123?expand=1", "GET /users/:id"},
		{"POST", "/users/123/orders/456/items", "POST /users/:id/orders/:id/items"},
		{"GET", "/", "GET /"},
		{"GET", "", "GET /"},
		{"", "/x", "GET /x"},
		{"GET", "/?q=1", "GET /"},
		{"GET", "/docs#frag", "GET /docs"},
		{"GET", "/v1/api", "GET /v1/api"},
		{"GET", "/v2", "GET /v2"},
		{"DELETE", "/o/550e8400-e29b-41d4-a716-446655440000", "DELETE /o/:id"},
		{"GET", "/o/550E8400-E29B-41D4-A716-446655440000/x", "GET /o/:id/x"},
		{"GET", "/c/5f2b9c1e8a7d", "GET /c/:id"},        // 12 hex
		{"GET", "/c/5f2b9c1e8a7", "GET /c/5f2b9c1e8a7"}, // 11 hex: a word-sized code, kept
		{"GET", "/c/acceptedface", "GET /c/acceptedface"},
		{"GET", "/t/eyJhbGciOiJIUzI1NiJ9_abc-DEF", "GET /t/:id"},
		{"GET", "/t/internationalization", "GET /t/internationalization"},
		{"GET", "/t/internationalization2", "GET /t/:id"},
		{"GET", "/static/app.js", "GET /static/app.js"},
		{"GET", "//double//slash", "GET //double//slash"},
		{"GET", "/files/2024/report", "GET /files/:id/report"},
		{"GET", "/a/b/", "GET /a/b/"},
		{"GET", "*", "GET *"},
	} {
		if got := EndpointName(tc.method, tc.path); got != tc.want {
			t.Errorf("EndpointName(%q, %q) = %q, want %q", tc.method, tc.path, got, tc.want)
		}
	}
}

func FuzzEndpointName(f *testing.F) {
	for _, s := range []string{"/users/123?x", "/o/550e8400-e29b-41d4-a716-446655440000", "", "/", "?", "/a//b/", "/\xff/1"} {
		f.Add("GET", s)
	}
	f.Fuzz(func(t *testing.T, method, path string) {
		got := EndpointName(method, path)
		if method == "" {
			method = "GET"
		}
		if !strings.HasPrefix(got, method+" ") {
			t.Fatalf("%q does not start with the method", got)
		}
		rest := got[len(method)+1:]
		if strings.ContainsAny(rest, "?#") {
			t.Fatalf("%q keeps a query", got)
		}
		if utf8.ValidString(method) && utf8.ValidString(path) && !utf8.ValidString(got) {
			t.Fatalf("%q: invalid UTF-8 from valid input", got)
		}
		// Idempotent: a name's path names itself.
		if again := EndpointName(method, rest); again != got {
			t.Fatalf("EndpointName not idempotent: %q → %q", got, again)
		}
	})
}
