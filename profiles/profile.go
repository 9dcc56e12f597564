package profiles

import (
	"errors"
	"fmt"
	"io"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/queuegap/queuegap/loadgen"
)

// Profile is a decoded, validated profile: the clients that run at the
// same time. Request URLs hold only paths until Resolve joins them onto a
// base URL.
type Profile struct {
	Name, Description string
	// BaseURL is the profile's own base_url ("" when it has none); the
	// run's URL, given to Resolve, wins over it.
	BaseURL string
	Clients []Client
	// Notes are the profile's own notes (written by from-log, e.g. "bodies
	// are not in access logs") followed by what decoding noticed.
	Notes []string
	// Source is the file the profile was read from, or "shipped:NAME".
	Source string
}

// Client is one of a profile's concurrent clients: the fields of a run
// plan's per-client entry (session.ClientPlan).
type Client struct {
	Name     string
	Schedule loadgen.Schedule
	// Config holds the requests: Config.Request alone for a single request,
	// else Config.Mix (with Config.Request set to Mix[0], which loadgen
	// then ignores). URLs are paths until Profile.Resolve.
	Config      loadgen.ClientConfig
	Retry       loadgen.Retry
	MaxInflight int // 0: loadgen.DefaultMaxInflight
	// Seed, when not 0, seeds the client's Poisson stages (each its own
	// seed derived from it), so a run can be repeated arrival for arrival.
	Seed uint64

	// paths are the requests' paths (with query) in mix order, kept so
	// Resolve can be called again with another base URL.
	paths []string
	// replay is set for a replay client: its mix comes from the trace.
	replay bool
}

// Requests returns pointers to the client's requests: the mix, or the one
// request. Changes through them change the client.
func (c *Client) Requests() []*loadgen.Request {
	if len(c.Config.Mix) == 0 {
		return []*loadgen.Request{&c.Config.Request}
	}
	rs := make([]*loadgen.Request, len(c.Config.Mix))
	for i := range c.Config.Mix {
		rs[i] = &c.Config.Mix[i]
	}
	return rs
}

// Limits past which a value is a typo, not a profile. Connections and the
// in-flight bound are session's limits (session.MaxConnections,
// session.MaxInflight); the mix index and lane are 16-bit in every Record.
const (
	MaxFileBytes   = 64 << 20
	MaxConnections = 1_000_000
	MaxInflight    = 1_000_000
	MaxClients     = 1000
	MaxMix         = 1 << 16
	MaxRetries     = 100
	MaxWeight      = 1e9
	MaxSpeed       = 1e6
	MaxLoops       = 1_000_000
	maxNameLen     = 200
	maxNotes       = 100
)

var nameRE = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)

// placeholderBase stands in for the run's URL while a profile without a
// base_url is validated: the paths, methods and headers are checked the
// same way.
const placeholderBase = "http://127.0.0.1:1"

// Load reads a shipped profile by name (see Shipped) or a profile file.
// A name with a path separator or a .yaml/.yml suffix is always a file;
// a bare name is a shipped profile if one has it, else a file.
func Load(nameOrPath string) (*Profile, error) {
	isPath := strings.ContainsRune(nameOrPath, os.PathSeparator) || strings.ContainsRune(nameOrPath, '/') ||
		strings.HasSuffix(nameOrPath, ".yaml") || strings.HasSuffix(nameOrPath, ".yml")
	if !isPath {
		if src, ok := ShippedSource(nameOrPath); ok {
			return Parse("shipped:"+nameOrPath, src, "")
		}
		if _, err := os.Stat(nameOrPath); err != nil {
			return nil, fmt.Errorf("profile %q: no shipped profile has that name (shipped: %s) and no such file", nameOrPath, strings.Join(shippedNames(), ", "))
		}
	}
	data, err := ReadFile(nameOrPath)
	if err != nil {
		return nil, err
	}
	return Parse(nameOrPath, data, filepath.Dir(nameOrPath))
}

// ReadFile reads a profile (or a body or trace file it names), refusing
// anything over MaxFileBytes before reading it whole.
func ReadFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.IsDir() {
		return nil, fmt.Errorf("%s: is a directory", path)
	}
	b, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(b) > MaxFileBytes {
		return nil, fmt.Errorf("%s: over %d MB: too large for a profile", path, MaxFileBytes>>20)
	}
	return b, nil
}

// Resolve joins every request's path onto a base URL: baseURL when given
// (the run's URL wins), else the profile's base_url. A base URL may carry
// a path prefix (http://host/api); it may not carry a query.
func (p *Profile) Resolve(baseURL string) error {
	base := baseURL
	if base == "" {
		base = p.BaseURL
	}
	if base == "" {
		return fmt.Errorf("profile %s has no base_url: give the target's URL on the command line", p.Name)
	}
	if err := checkBaseURL(base); err != nil {
		return err
	}
	for i := range p.Clients {
		p.Clients[i].resolve(base)
	}
	return nil
}

func (c *Client) resolve(base string) {
	base = strings.TrimSuffix(base, "/")
	for j, r := range c.Requests() {
		if j < len(c.paths) {
			r.URL = base + c.paths[j]
		}
	}
	if len(c.Config.Mix) > 0 {
		mix0 := c.Config.Mix[0]
		c.Config.Request = mix0
	}
}

// checkBaseURL accepts http(s)://host[:port][/prefix]; its errors never
// show a password.
func checkBaseURL(raw string) error {
	shown := loadgen.RedactURL(raw)
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // its text repeats the URL, password included
		}
		return fmt.Errorf("base URL %q: %v", shown, err)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("base URL %q: scheme must be http or https", shown)
	case u.Hostname() == "":
		return fmt.Errorf("base URL %q: no host", shown)
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return fmt.Errorf("base URL %q: must not have a query or fragment (put the query in each request's path)", shown)
	}
	if port := u.Port(); port != "" {
		if n, err := strconv.Atoi(port); err != nil || n <= 0 || n > 65535 {
			return fmt.Errorf("base URL %q: port %q", shown, port)
		}
	}
	return nil
}

// fieldError is a problem found by Validate, named by its field path;
// Parse turns it into an Error at that field's position.
type fieldError struct {
	path, msg string
}

func (e *fieldError) Error() string { return e.path + ": " + e.msg }

// Validate checks the whole profile as it stands (after Apply, say):
// every schedule, request, limit and behaviour. Parse has already called
// it; a profile Parse returned always validates.
func (p *Profile) Validate() error {
	errs := p.validate()
	if len(errs) == 0 {
		return nil
	}
	list := make([]error, len(errs))
	for i, e := range errs {
		list[i] = e
	}
	return errors.Join(list...)
}

func (p *Profile) validate() []*fieldError {
	var errs []*fieldError
	add := func(path, format string, a ...any) {
		errs = append(errs, &fieldError{path, fmt.Sprintf(format, a...)})
	}
	if p.Name != "" && (!nameRE.MatchString(p.Name) || len(p.Name) > maxNameLen) {
		add("name", "%q: use letters, digits, '.', '_' and '-' (at most %d)", p.Name, maxNameLen)
	}
	base := p.BaseURL
	if base != "" {
		if err := checkBaseURL(base); err != nil {
			add("base_url", "%v", err)
			base = ""
		}
	}
	if base == "" {
		base = placeholderBase
	}
	switch {
	case len(p.Clients) == 0:
		add("clients", "no clients: give at least one")
	case len(p.Clients) > MaxClients:
		add("clients", "%d clients: at most %d", len(p.Clients), MaxClients)
	}
	seen := make(map[string]int)
	for i := range p.Clients {
		c := &p.Clients[i]
		cp := fmt.Sprintf("clients[%d]", i)
		switch {
		case c.Name == "":
			add(cp+".name", "required: name every client (letters, digits, '.', '_', '-')")
		case !nameRE.MatchString(c.Name) || len(c.Name) > maxNameLen:
			add(cp+".name", "%q: use letters, digits, '.', '_' and '-' (at most %d)", c.Name, maxNameLen)
		default:
			if j, dup := seen[c.Name]; dup {
				add(cp+".name", "%q is also the name of clients[%d]: names must be unique", c.Name, j)
			}
			seen[c.Name] = i
		}
		errs = append(errs, c.validate(cp, base)...)
	}
	return errs
}

func (c *Client) validate(cp, base string) []*fieldError {
	var errs []*fieldError
	add := func(path, format string, a ...any) {
		errs = append(errs, &fieldError{path, fmt.Sprintf(format, a...)})
	}
	if err := c.Schedule.Validate(); err != nil {
		add(cp+".stages", "%v", err)
	}
	cc := &c.Config
	switch {
	case cc.Connections < 0 || cc.Connections > MaxConnections:
		add(cp+".connections", "%d: want 1 to %d", cc.Connections, MaxConnections)
	case c.MaxInflight < 0 || c.MaxInflight > MaxInflight:
		add(cp+".max_inflight", "%d: want 1 to %d", c.MaxInflight, MaxInflight)
	}
	if cc.Timeout < 0 {
		add(cp+".timeout", "must be > 0")
	}
	if cc.ConnectTimeout < 0 {
		add(cp+".connect_timeout", "must be > 0")
	}
	errs = append(errs, validateRetry(cp+".retry", c.Retry)...)

	reqs := c.Requests()
	if len(reqs) > MaxMix {
		add(cp+".requests", "%d requests: at most %d", len(reqs), MaxMix)
		return errs
	}
	rp := func(j int) string {
		if c.replay {
			return cp + ".replay"
		}
		return fmt.Sprintf("%s.requests[%d]", cp, j)
	}
	names := make(map[string]int)
	b := strings.TrimSuffix(base, "/")
	for j, r := range reqs {
		path := ""
		if j < len(c.paths) {
			path = c.paths[j]
		}
		if !c.replay {
			switch {
			case r.Name == "" && len(reqs) > 1:
				add(rp(j)+".name", "required when a client has more than one request (it names the endpoint in every report)")
			case len(r.Name) > maxNameLen || strings.ContainsFunc(r.Name, isControl):
				add(rp(j)+".name", "%q: at most %d printable characters", r.Name, maxNameLen)
			case r.Name != "":
				if k, dup := names[r.Name]; dup {
					add(rp(j)+".name", "%q is also the name of requests[%d]: names must be unique within a client", r.Name, k)
				}
				names[r.Name] = j
			}
		}
		if !(r.Weight > 0 && r.Weight <= MaxWeight) {
			add(rp(j)+".weight", "%v: must be > 0 (and at most %g)", r.Weight, MaxWeight)
		}
		if !strings.HasPrefix(path, "/") {
			add(rp(j)+".path", "%q: must start with /", path)
			continue
		}
		if strings.ContainsFunc(path, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
			add(rp(j)+".path", "%q: spaces and control characters must be percent-encoded", path)
			continue
		}
		if strings.Contains(path, "#") {
			add(rp(j)+".path", "%q: a fragment is never sent to a server", path)
			continue
		}
		// NewClient checks the URL, method and headers the way the run will,
		// and opens nothing.
		one := *cc
		one.Mix = nil
		one.Request = *r
		one.URL = b + path
		cl, err := loadgen.NewClient(one)
		if err != nil {
			add(rp(j), "%v", err)
			continue
		}
		cl.Close()
	}
	return errs
}

func isControl(r rune) bool { return r < ' ' || r == 0x7f }

func validateRetry(path string, r loadgen.Retry) []*fieldError {
	var errs []*fieldError
	add := func(p, format string, a ...any) {
		errs = append(errs, &fieldError{path + "." + p, fmt.Sprintf(format, a...)})
	}
	if r.OnTimeout < 0 || r.OnTimeout > MaxRetries {
		add("on_timeout.max", "%d: want 0 to %d", r.OnTimeout, MaxRetries)
	}
	if r.After < 0 {
		add("on_timeout.after", "%v: must not be negative", r.After)
	}
	if r.OnStatus < 0 || r.OnStatus > MaxRetries {
		add("on_status.max", "%d: want 0 to %d", r.OnStatus, MaxRetries)
	}
	seen := make(map[int]bool)
	for k, s := range r.Statuses {
		if s < 100 || s > 599 {
			add(fmt.Sprintf("on_status.statuses[%d]", k), "%d: want an HTTP status, 100 to 599", s)
		} else if seen[s] {
			add(fmt.Sprintf("on_status.statuses[%d]", k), "%d is listed twice", s)
		}
		seen[s] = true
	}
	if r.OnStatus > 0 && len(r.Statuses) == 0 {
		add("on_status.statuses", "empty: list the statuses to retry, e.g. [502, 503, 504]")
	}
	if r.Backoff < 0 {
		add("on_status.backoff", "%v: must not be negative", r.Backoff)
	}
	if r.Factor != 0 && !(r.Factor >= 1 && r.Factor <= 100) {
		add("on_status.factor", "%v: want 1 to 100", r.Factor)
	}
	if r.MaxBackoff < 0 {
		add("on_status.max_backoff", "%v: must not be negative", r.MaxBackoff)
	} else if r.MaxBackoff > 0 && r.MaxBackoff < r.Backoff {
		add("on_status.max_backoff", "%v is below backoff %v", r.MaxBackoff, r.Backoff)
	}
	return errs
}

// Summary is a one-line plan of the client: its schedule, how many
// requests it plans, and its mix.
func (c *Client) Summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s", c.Name, c.Schedule)
	if n := c.Schedule.Planned(); n >= 0 {
		fmt.Fprintf(&b, " (%d requests planned over %v", n, c.Schedule.Length())
	} else {
		fmt.Fprintf(&b, " (about %.0f requests expected over %v", c.Schedule.Rate()*c.Schedule.Length().Seconds(), c.Schedule.Length())
	}
	b.WriteString("); mix: ")
	b.WriteString(c.mixSummary(6))
	if r := c.Retry; r.OnTimeout > 0 || r.OnStatus > 0 {
		var parts []string
		if r.OnTimeout > 0 {
			parts = append(parts, fmt.Sprintf("%d× after a timeout (%v later)", r.OnTimeout, r.After))
		}
		if r.OnStatus > 0 {
			parts = append(parts, fmt.Sprintf("%d× on %v", r.OnStatus, r.Statuses))
		}
		b.WriteString("; retry: " + strings.Join(parts, ", "))
	}
	return b.String()
}

// mixSummary lists the heaviest requests with their shares.
func (c *Client) mixSummary(top int) string {
	reqs := c.Requests()
	if len(reqs) == 1 {
		return describe(reqs[0], c.pathOf(0)) + " 100%"
	}
	type share struct {
		i int
		w float64
	}
	var total float64
	shares := make([]share, len(reqs))
	for i, r := range reqs {
		shares[i] = share{i, r.Weight}
		total += r.Weight
	}
	sort.SliceStable(shares, func(a, b int) bool { return shares[a].w > shares[b].w })
	var parts []string
	for k, s := range shares {
		if k == top {
			parts = append(parts, fmt.Sprintf("and %d more", len(shares)-top))
			break
		}
		pct := 100 * s.w / total
		parts = append(parts, fmt.Sprintf("%s %s%%", describe(reqs[s.i], c.pathOf(s.i)), strconv.FormatFloat(math.Round(pct*10)/10, 'f', -1, 64)))
	}
	return strings.Join(parts, ", ")
}

func (c *Client) pathOf(i int) string {
	if i < len(c.paths) {
		return c.paths[i]
	}
	return ""
}

// describe names a request for a summary: its name, or its method and
// path; the query is left out, as it may carry a token.
func describe(r *loadgen.Request, path string) string {
	if r.Name != "" {
		return r.Name
	}
	m := r.Method
	if m == "" {
		m = "GET"
	}
	p, _, _ := strings.Cut(path, "?")
	return m + " " + p
}

// Length is the longest client's schedule: how long a run of the profile
// lasts.
func (p *Profile) Length() time.Duration {
	var d time.Duration
	for _, c := range p.Clients {
		d = max(d, c.Schedule.Length())
	}
	return d
}
