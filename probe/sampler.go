package probe

import (
	"context"
	"fmt"
	"strings"
)

// Value is one named reading, in base units (a count, cores, bytes).
type Value struct {
	Name  string
	Value float64
}

// Reading is what one Sample call read.
type Reading struct {
	Values []Value
	// Note is something to say once about this probe (a counter that is
	// host-wide, a value the server cannot know); "" mostly.
	Note string
}

// Sampler reads one probe. Sample is called from one goroutine at a time;
// a failed reading is an error and the caller tries again next interval.
type Sampler interface {
	Spec() Spec
	Sample(ctx context.Context) (Reading, error)
	Close() error
}

// New makes the sampler for a validated spec. It opens nothing yet: a port
// not listening or a stats server down shows as a failed Sample.
func New(s Spec) (Sampler, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	switch s.Kind {
	case Listen:
		return newListen(s)
	case UWSGI:
		return newUWSGI(s), nil
	case Process:
		what, arg, _ := strings.Cut(s.Target, ":")
		if what == "cgroup" {
			return newCgroup(s, arg), nil
		}
		return newProcess(s, what, arg), nil
	}
	return nil, fmt.Errorf("probe kind %q: want listen, uwsgi or process", s.Kind)
}
