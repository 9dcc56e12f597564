package profiles

import (
	"fmt"
	"time"

	"github.com/queuegap/queuegap/loadgen"
)

// Overrides are the command line's values: every one that is set wins
// over the profile, for every client. Zero values leave the profile's.
type Overrides struct {
	// Schedule replaces every client's stages (a replay client's trace
	// too: it then picks its requests by the trace's counts).
	Schedule loadgen.Schedule
	// Until cuts every client's schedule at this offset from the start.
	Until time.Duration
	// Method, when set, is every request's method.
	Method string
	// Headers are appended to every request's headers.
	Headers [][2]string
	// Body, when not nil, is every request's body (empty: none).
	Body []byte
	// Mode, when set, is every client's connection mode.
	Mode *loadgen.ConnMode
	// Connections, MaxInflight, Timeout and ConnectTimeout, when > 0,
	// replace every client's.
	Connections    int
	MaxInflight    int
	Timeout        time.Duration
	ConnectTimeout time.Duration
}

// Apply overrides the profile's values with o's, then validates the
// result; on error the profile is left as it was.
func (p *Profile) Apply(o Overrides) error {
	switch {
	case o.Until < 0:
		return fmt.Errorf("until %v: must be > 0", o.Until)
	case o.Connections < 0 || o.Connections > MaxConnections:
		return fmt.Errorf("connections %d: want 1 to %d", o.Connections, MaxConnections)
	case o.MaxInflight < 0 || o.MaxInflight > MaxInflight:
		return fmt.Errorf("max in flight %d: want 1 to %d", o.MaxInflight, MaxInflight)
	case o.Timeout < 0 || o.ConnectTimeout < 0:
		return fmt.Errorf("timeouts must be > 0")
	}
	if len(o.Schedule) > 0 {
		if err := o.Schedule.Validate(); err != nil {
			return err
		}
	}
	clients := make([]Client, len(p.Clients))
	for i, c := range p.Clients {
		c.Config.Mix = append([]loadgen.Request(nil), c.Config.Mix...)
		if len(o.Schedule) > 0 {
			c.Schedule = append(loadgen.Schedule(nil), o.Schedule...)
		}
		if o.Until > 0 {
			s := c.Schedule.Until(o.Until)
			if len(s) == 0 {
				return fmt.Errorf("client %s: nothing is sent in the first %v (its schedule: %s)", c.Name, o.Until, c.Schedule)
			}
			c.Schedule = s
		}
		for _, r := range c.Requests() {
			if o.Method != "" {
				r.Method = o.Method
			}
			if len(o.Headers) > 0 {
				r.Headers = append(append([][2]string(nil), r.Headers...), o.Headers...)
			}
			if o.Body != nil {
				r.Body = o.Body
			}
		}
		if len(c.Config.Mix) > 0 {
			c.Config.Request = c.Config.Mix[0]
		}
		if o.Mode != nil {
			c.Config.Mode = *o.Mode
		}
		if o.Connections > 0 {
			c.Config.Connections = o.Connections
		}
		if o.MaxInflight > 0 {
			c.MaxInflight = o.MaxInflight
		}
		if o.Timeout > 0 {
			c.Config.Timeout = o.Timeout
		}
		if o.ConnectTimeout > 0 {
			c.Config.ConnectTimeout = o.ConnectTimeout
		}
		clients[i] = c
	}
	next := *p
	next.Clients = clients
	if err := next.Validate(); err != nil {
		return fmt.Errorf("profile %s with the command line's values: %w", p.Name, err)
	}
	*p = next
	return nil
}
