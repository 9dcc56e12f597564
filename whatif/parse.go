package whatif

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// MaxGrid bounds a grid's cells (every combination of the lists given).
const MaxGrid = 1000

// maxList bounds one list's values.
const maxList = 100

// splitList splits a comma-separated list, refusing empty items.
func splitList(s, what string) ([]string, error) {
	if strings.TrimSpace(s) == "" {
		return nil, fmt.Errorf("%s: empty list", what)
	}
	parts := strings.Split(s, ",")
	if len(parts) > maxList {
		return nil, fmt.Errorf("%s: %d values: at most %d", what, len(parts), maxList)
	}
	for i, p := range parts {
		parts[i] = strings.TrimSpace(p)
		if parts[i] == "" {
			return nil, fmt.Errorf("%s %q: an empty value", what, s)
		}
	}
	return parts, nil
}

// ParseInts parses "4,6,8" into values within [lo, hi].
func ParseInts(s, what string, lo, hi int) ([]int, error) {
	parts, err := splitList(s, what)
	if err != nil {
		return nil, err
	}
	out := make([]int, 0, len(parts))
	for _, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < lo || n > hi {
			return nil, fmt.Errorf("%s %q: want whole numbers from %d to %d", what, p, lo, hi)
		}
		out = append(out, n)
	}
	return out, nil
}

// ParseFloats parses "0,2,4" into values within [lo, hi].
func ParseFloats(s, what string, lo, hi float64) ([]float64, error) {
	parts, err := splitList(s, what)
	if err != nil {
		return nil, err
	}
	out := make([]float64, 0, len(parts))
	for _, p := range parts {
		f, err := strconv.ParseFloat(p, 64)
		if err != nil || !(f >= lo && f <= hi) {
			return nil, fmt.Errorf("%s %q: want numbers from %g to %g", what, p, lo, hi)
		}
		out = append(out, f)
	}
	return out, nil
}

// ParseDurations parses "30s,1m" (or "0" where zero means off) into
// durations within [lo, hi].
func ParseDurations(s, what string, lo, hi time.Duration) ([]time.Duration, error) {
	parts, err := splitList(s, what)
	if err != nil {
		return nil, err
	}
	out := make([]time.Duration, 0, len(parts))
	for _, p := range parts {
		d, err := time.ParseDuration(p)
		if err != nil || d < lo || d > hi {
			return nil, fmt.Errorf("%s %q: want durations (30s, 1m) from %v to %v", what, p, lo, hi)
		}
		out = append(out, d)
	}
	return out, nil
}

// ParseWords parses "tcp,unix" against the allowed words.
func ParseWords(s, what string, allowed ...string) ([]string, error) {
	parts, err := splitList(s, what)
	if err != nil {
		return nil, err
	}
	for _, p := range parts {
		ok := false
		for _, a := range allowed {
			ok = ok || p == a
		}
		if !ok {
			return nil, fmt.Errorf("%s %q: want %s", what, p, strings.Join(allowed, " or "))
		}
	}
	return parts, nil
}

// Share is a CPU share for one endpoint ("" for every endpoint).
type Share struct {
	Endpoint string
	Share    float64
}

// ParseShare parses "0.3" (every endpoint) or "NAME=0.3": the part of an
// endpoint's processing time that needs a core.
func ParseShare(s string) (Share, error) {
	name, val := "", s
	if i := strings.LastIndexByte(s, '='); i >= 0 {
		name, val = strings.TrimSpace(s[:i]), s[i+1:]
		if name == "" {
			return Share{}, fmt.Errorf("cpu share %q: an empty endpoint name", s)
		}
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
	if err != nil || !(f >= 0 && f <= 1) {
		return Share{}, fmt.Errorf("cpu share %q: want a fraction from 0 to 1, alone or as NAME=FRACTION", s)
	}
	return Share{Endpoint: name, Share: f}, nil
}

// ApplyShares sets each endpoint's CPU share: the last matching NAME=
// share, else the last share without a name, else unchanged. A name no
// endpoint has is an error (a typo would silently leave it I/O-bound).
func (w *Workload) ApplyShares(shares []Share) error {
	for _, s := range shares {
		if s.Endpoint == "" {
			for i := range w.Endpoints {
				w.Endpoints[i].CPUShare = s.Share
			}
		}
	}
	for _, s := range shares {
		if s.Endpoint == "" {
			continue
		}
		found := false
		for i := range w.Endpoints {
			if w.Endpoints[i].Name == s.Endpoint {
				w.Endpoints[i].CPUShare, found = s.Share, true
			}
		}
		if !found {
			var names []string
			for _, e := range w.Endpoints {
				names = append(names, strconv.Quote(e.Name))
			}
			return fmt.Errorf("cpu share for %q: no such endpoint (have %s)", s.Endpoint, strings.Join(names, ", "))
		}
	}
	return nil
}
