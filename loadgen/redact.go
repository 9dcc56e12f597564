package loadgen

import "strings"

// Redacted stands in for a secret in anything printed or written.
const Redacted = "[redacted]"

// RedactURL returns raw with the password of its user info replaced by
// xxxxx (user:xxxxx@host), for anything printed or written. It works on
// the text, so URLs that do not parse are redacted too; a URL without a
// password is returned unchanged.
func RedactURL(raw string) string {
	rest := raw
	prefix := ""
	if i := strings.Index(raw, "://"); i >= 0 {
		prefix, rest = raw[:i+3], raw[i+3:]
	} else if strings.HasPrefix(raw, "//") {
		prefix, rest = "//", raw[2:]
	}
	// The authority ends at the first '/', '?' or '#'; user info, at its
	// last '@' (a password may contain '@' unescaped).
	auth := rest
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		auth = rest[:i]
	}
	at := strings.LastIndexByte(auth, '@')
	if at < 0 {
		return raw
	}
	user, _, hasPw := strings.Cut(auth[:at], ":")
	if !hasPw {
		return raw
	}
	return prefix + user + ":xxxxx" + rest[at:]
}

// RedactHeader returns value, or Redacted for headers that carry
// credentials (Authorization, Proxy-Authorization, Cookie, Set-Cookie).
func RedactHeader(name, value string) string {
	switch strings.ToLower(strings.TrimSpace(name)) {
	case "authorization", "proxy-authorization", "cookie", "set-cookie":
		return Redacted
	}
	return value
}
