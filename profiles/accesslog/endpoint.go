package accesslog

import "strings"

// EndpointName is the label every report uses for a logged or replayed
// request: the method, a space, and the path without its query, with each
// id-like segment replaced by ":id" ("GET /users/:id"). Without it a log's
// ten thousand user ids would be ten thousand endpoints of one request each.
//
// A segment is id-like when it is all digits, a UUID, hex of at least 12
// characters, or a base64-ish token (letters, digits, '-', '_', '=', '+',
// '%') of at least 20 characters. Hex and tokens must hold a digit: that
// keeps words such as "acceptedface" or "internationalization" as they are.
func EndpointName(method, path string) string {
	if i := strings.IndexAny(path, "?#"); i >= 0 {
		path = path[:i]
	}
	if method == "" {
		method = "GET"
	}
	var b strings.Builder
	b.Grow(len(method) + 1 + len(path))
	b.WriteString(method)
	b.WriteByte(' ')
	if path == "" {
		b.WriteByte('/')
		return b.String()
	}
	for i, seg := range strings.Split(path, "/") {
		if i > 0 {
			b.WriteByte('/')
		}
		if idLike(seg) {
			b.WriteString(":id")
		} else {
			b.WriteString(seg)
		}
	}
	return b.String()
}

func idLike(s string) bool {
	if s == "" {
		return false
	}
	digits, hex, token, hasDigit := true, true, true, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		isDigit := '0' <= c && c <= '9'
		hasDigit = hasDigit || isDigit
		digits = digits && isDigit
		hex = hex && (isDigit || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F')
		token = token && (isDigit || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || strings.IndexByte("-_=+%", c) >= 0)
	}
	switch {
	case digits:
		return true
	case isUUID(s):
		return true
	case hex && len(s) >= 12 && hasDigit:
		return true
	case token && len(s) >= 20 && hasDigit:
		return true
	}
	return false
}

// isUUID reports the 8-4-4-4-12 hex form.
func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}
