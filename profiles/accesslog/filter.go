package accesslog

import (
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// FilterSpec says which entries to keep. Every criterion given must match
// (AND); within one criterion any value may match (OR). Empty criteria
// match everything.
type FilterSpec struct {
	// Clients are IPs ("10.0.0.1") or CIDR prefixes ("10.0.0.0/8").
	Clients []string
	// UserAgents are substrings of the user agent (case-sensitive).
	UserAgents []string
	// PathPrefixes are prefixes of the logged path.
	PathPrefixes []string
	// From (inclusive) and To (exclusive) bound the arrival; zero is open.
	From, To time.Time
}

// Filter is a compiled FilterSpec. The zero Filter matches every entry.
type Filter struct {
	clients      []netip.Prefix
	userAgents   []string
	pathPrefixes []string
	from, to     time.Time
}

// NewFilter compiles s; an invalid IP or CIDR, or an empty time window, is
// an error.
func NewFilter(s FilterSpec) (Filter, error) {
	f := Filter{userAgents: s.UserAgents, pathPrefixes: s.PathPrefixes, from: s.From, to: s.To}
	for _, c := range s.Clients {
		c = strings.TrimSpace(c)
		var p netip.Prefix
		var err error
		if strings.Contains(c, "/") {
			p, err = netip.ParsePrefix(c)
			p = p.Masked()
		} else {
			var a netip.Addr
			a, err = netip.ParseAddr(c)
			p = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
		}
		if err != nil {
			return Filter{}, fmt.Errorf("accesslog: client filter %q: not an IP or CIDR", c)
		}
		f.clients = append(f.clients, p)
	}
	if !s.From.IsZero() && !s.To.IsZero() && !s.From.Before(s.To) {
		return Filter{}, fmt.Errorf("accesslog: time filter from %s to %s is empty", s.From.Format(time.RFC3339), s.To.Format(time.RFC3339))
	}
	return f, nil
}

// Match reports whether e passes every criterion of f.
func (f Filter) Match(e Entry) bool {
	if !f.from.IsZero() && e.Arrival.Before(f.from) {
		return false
	}
	if !f.to.IsZero() && !e.Arrival.Before(f.to) {
		return false
	}
	if len(f.clients) > 0 {
		a, err := netip.ParseAddr(e.Client)
		if err != nil {
			return false
		}
		a = a.Unmap()
		if !anyOf(f.clients, func(p netip.Prefix) bool { return p.Contains(a) }) {
			return false
		}
	}
	if len(f.userAgents) > 0 && !anyOf(f.userAgents, func(s string) bool { return strings.Contains(e.UserAgent, s) }) {
		return false
	}
	if len(f.pathPrefixes) > 0 && !anyOf(f.pathPrefixes, func(s string) bool { return strings.HasPrefix(e.Path, s) }) {
		return false
	}
	return true
}

func anyOf[T any](xs []T, match func(T) bool) bool {
	for _, x := range xs {
		if match(x) {
			return true
		}
	}
	return false
}

// Source is anything that yields entries, as Reader does.
type Source interface {
	Next() (Entry, error)
}

// Filtered yields the entries of a Source that match a Filter.
type Filtered struct {
	src     Source
	filter  Filter
	skipped int64
}

// NewFiltered wraps src so Next returns only entries f matches.
func NewFiltered(src Source, f Filter) *Filtered {
	return &Filtered{src: src, filter: f}
}

// Next returns the next matching entry, or the source's error.
func (r *Filtered) Next() (Entry, error) {
	for {
		e, err := r.src.Next()
		if err != nil {
			return Entry{}, err
		}
		if r.filter.Match(e) {
			return e, nil
		}
		r.skipped++
	}
}

// Skipped is the number of well-formed entries the filter dropped so far.
func (r *Filtered) Skipped() int64 { return r.skipped }
