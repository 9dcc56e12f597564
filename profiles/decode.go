package profiles

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/queuegap/queuegap/loadgen"
	"github.com/queuegap/queuegap/profiles/accesslog"
)

// Error is one problem in a profile: where it is and which field.
type Error struct {
	File      string
	Line, Col int
	Path      string // clients[1].requests[0].weight; "" for the document itself
	Msg       string
}

func (e *Error) Error() string {
	if e.Path == "" {
		return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Col, e.Msg)
	}
	return fmt.Sprintf("%s:%d:%d: %s: %s", e.File, e.Line, e.Col, e.Path, e.Msg)
}

// Errors is every problem Parse found (at most maxErrors), in file order.
// Its text is one error per line.
type Errors []*Error

func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// maxErrors bounds what one Parse reports: past a score of problems the
// file is likely not a profile at all.
const maxErrors = 20

// maxVisits bounds the nodes one Parse visits, aliases expanded: a few
// aliases of aliases could otherwise expand a small file into billions.
const maxVisits = 2_000_000

type decoder struct {
	file    string
	dir     string
	errs    Errors
	more    int // errors past maxErrors
	pos     map[string]*yaml.Node
	visits  int
	tooDeep bool
	notes   []string
}

// Parse decodes and validates a profile. name labels errors (a file name,
// or "shipped:NAME") and gives the profile's default name; dir is where
// body_file and trace_file paths are relative to. On error it returns
// Errors: every problem, each at its file:line:col with its field path.
func Parse(name string, data []byte, dir string) (*Profile, error) {
	d := &decoder{file: name, dir: dir, pos: make(map[string]*yaml.Node)}
	if len(data) > MaxFileBytes {
		return nil, Errors{{File: name, Line: 1, Col: 1, Msg: fmt.Sprintf("over %d MB: too large for a profile", MaxFileBytes>>20)}}
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, Errors{{File: name, Line: 1, Col: 1, Msg: "empty profile: want a mapping with at least clients:"}}
		}
		return nil, Errors{d.syntaxError(err, data)}
	}
	var second yaml.Node
	if err := dec.Decode(&second); !errors.Is(err, io.EOF) {
		if err != nil {
			return nil, Errors{d.syntaxError(err, data)}
		}
		return nil, Errors{{File: name, Line: second.Line, Col: second.Column, Msg: "a second YAML document: one profile per file"}}
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	p := d.profile(root)
	if len(d.errs) == 0 {
		for _, fe := range p.validate() {
			d.errAt(d.lookup(fe.path, root), fe.path, "%s", fe.msg)
		}
	}
	if len(d.errs) > 0 {
		sort.SliceStable(d.errs, func(i, j int) bool {
			a, b := d.errs[i], d.errs[j]
			return a.Line < b.Line || a.Line == b.Line && a.Col < b.Col
		})
		if d.more > 0 {
			last := d.errs[len(d.errs)-1]
			d.errs = append(d.errs, &Error{File: name, Line: last.Line, Col: last.Col, Msg: fmt.Sprintf("and %d more problems", d.more)})
		}
		return nil, d.errs
	}
	if p.Name == "" {
		p.Name = defaultName(name)
	}
	p.Source = name
	p.Notes = append(p.Notes, d.notes...)
	return p, nil
}

// defaultName is a profile's name when it gives none: its file name
// without the extension.
func defaultName(source string) string {
	n := strings.TrimPrefix(source, "shipped:")
	n = filepath.Base(n)
	for _, ext := range []string{".yaml", ".yml"} {
		n = strings.TrimSuffix(n, ext)
	}
	if !nameRE.MatchString(n) {
		return "profile"
	}
	return n
}

var (
	yamlLineRE   = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)
	yamlAnchorRE = regexp.MustCompile(`unknown anchor '(.*)' referenced`)
)

// syntaxError places a YAML syntax error. The parser reports a line only,
// and for its own errors ("did not find expected …", as opposed to the
// scanner's) the line before the construct that was left open (yaml.v3
// adds the 1 to scanner marks only): those get the line the construct
// starts on. A tab in indentation, the commonest cause, is found and gets
// its column.
func (d *decoder) syntaxError(err error, data []byte) *Error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line, col := 1, 1
	lines := bytes.Split(data, []byte("\n"))
	indentOf := func(text []byte) int { return len(text) - len(bytes.TrimLeft(text, " \t")) }
	if m := yamlLineRE.FindStringSubmatch(err.Error()); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
		if strings.HasPrefix(msg, "did not find expected") {
			line++
		}
	} else if m := yamlAnchorRE.FindStringSubmatch(msg); m != nil {
		if i := bytes.Index(data, []byte("*"+m[1])); i >= 0 {
			line = bytes.Count(data[:i], []byte("\n")) + 1
			col = i - (bytes.LastIndexByte(data[:i], '\n') + 1) + 1
			return &Error{File: d.file, Line: line, Col: col, Msg: "YAML syntax: " + msg}
		}
	}
	if line < 1 || line > len(lines) {
		return &Error{File: d.file, Line: max(line, 1), Col: col, Msg: "YAML syntax: " + msg}
	}
	if strings.Contains(msg, "tab") || strings.Contains(msg, "cannot start any token") {
		// The scanner may report the line before the tab's.
		for l := line; l <= len(lines) && l <= line+1; l++ {
			text := lines[l-1]
			if i := bytes.IndexByte(text[:indentOf(text)], '\t'); i >= 0 {
				return &Error{File: d.file, Line: l, Col: i + 1, Msg: "YAML syntax: " + msg + " (a tab: YAML indents with spaces only)"}
			}
		}
	}
	text := lines[line-1]
	col = indentOf(text) + 1
	switch {
	case strings.Contains(msg, "',' or ']'"):
		if i := bytes.LastIndexByte(text, '['); i >= 0 {
			col, msg = i+1, msg+" (the list opened here is never closed)"
		}
	case strings.Contains(msg, "',' or '}'"):
		if i := bytes.LastIndexByte(text, '{'); i >= 0 {
			col, msg = i+1, msg+" (the mapping opened here is never closed)"
		}
	}
	return &Error{File: d.file, Line: line, Col: col, Msg: "YAML syntax: " + msg}
}

func (d *decoder) errAt(n *yaml.Node, path, format string, a ...any) {
	if len(d.errs) >= maxErrors {
		d.more++
		return
	}
	line, col := 1, 1
	if n != nil && n.Line > 0 {
		line, col = n.Line, n.Column
	}
	d.errs = append(d.errs, &Error{File: d.file, Line: line, Col: col, Path: path, Msg: fmt.Sprintf(format, a...)})
}

// lookup finds the node of a field path, or of its nearest ancestor that
// was written (a defaulted field has no node of its own).
func (d *decoder) lookup(path string, root *yaml.Node) *yaml.Node {
	for path != "" {
		if n, ok := d.pos[path]; ok {
			return n
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			break
		}
		path = path[:i]
	}
	return root
}

// node follows aliases and counts the visit; nil once the budget is spent.
func (d *decoder) node(n *yaml.Node) *yaml.Node {
	for depth := 0; n != nil && n.Kind == yaml.AliasNode; depth++ {
		if depth > 100 {
			return nil
		}
		n = n.Alias
	}
	d.visits++
	if d.visits > maxVisits {
		if !d.tooDeep {
			d.tooDeep = true
			d.errAt(n, "", "aliases expand to over %d values: too large for a profile", maxVisits)
		}
		return nil
	}
	return n
}

func kindOf(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return "nothing"
		case "!!int", "!!float":
			return "the number " + n.Value
		case "!!bool":
			return n.Value
		}
		return fmt.Sprintf("%q", n.Value)
	}
	return "something else"
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// fields is a decoded mapping: its values by key, with the key nodes for
// errors about the key itself.
type fields struct {
	vals map[string]*yaml.Node
	keys map[string]*yaml.Node
}

func (f fields) has(k string) bool { return f.vals[k] != nil }

// mapping decodes a mapping with the allowed keys; unknown and repeated
// keys are errors. It records every value's position under its path.
func (d *decoder) mapping(n *yaml.Node, path, what string, allowed ...string) (fields, bool) {
	f := fields{vals: map[string]*yaml.Node{}, keys: map[string]*yaml.Node{}}
	if n = d.node(n); n == nil {
		return f, false
	}
	if n.Kind != yaml.MappingNode {
		d.errAt(n, path, "want %s (a mapping of %s), got %s", what, strings.Join(allowed, ", "), kindOf(n))
		return f, false
	}
	d.pos[path] = n
	ok := true
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := d.node(n.Content[i]), n.Content[i+1]
		if k == nil {
			return f, false
		}
		if k.Kind != yaml.ScalarNode {
			d.errAt(k, path, "a key must be a plain name, got %s", kindOf(k))
			ok = false
			continue
		}
		key := k.Value
		kp := join(path, key)
		if !contains(allowed, key) {
			d.errAt(k, kp, "unknown key %q in %s; allowed: %s", key, what, strings.Join(allowed, ", "))
			ok = false
			continue
		}
		if prev, dup := f.keys[key]; dup {
			d.errAt(k, kp, "repeated (first at line %d)", prev.Line)
			ok = false
			continue
		}
		f.keys[key], f.vals[key] = k, v
		d.pos[kp] = v
		if v.Kind == yaml.AliasNode && v.Alias != nil {
			d.pos[kp] = v.Alias
		}
	}
	return f, ok
}

func contains(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}

// scalar returns a non-null scalar node, or reports what was there.
func (d *decoder) scalar(n *yaml.Node, path, want string) *yaml.Node {
	if n = d.node(n); n == nil {
		return nil
	}
	if n.Kind != yaml.ScalarNode || n.ShortTag() == "!!null" {
		d.errAt(n, path, "want %s, got %s", want, kindOf(n))
		return nil
	}
	return n
}

// str reads text; numbers and booleans are text too (a header value of 5).
func (d *decoder) str(n *yaml.Node, path, want string) (string, bool) {
	s := d.scalar(n, path, want)
	if s == nil {
		return "", false
	}
	return s.Value, true
}

func (d *decoder) num(n *yaml.Node, path, want string) (float64, bool) {
	s := d.scalar(n, path, want)
	if s == nil {
		return 0, false
	}
	var f float64
	if t := s.ShortTag(); (t != "!!int" && t != "!!float") || s.Decode(&f) != nil {
		d.errAt(s, path, "want %s, got %s", want, kindOf(s))
		return 0, false
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		d.errAt(s, path, "want %s, got %s", want, s.Value)
		return 0, false
	}
	return f, true
}

func (d *decoder) integer(n *yaml.Node, path, want string, lo, hi int64) (int64, bool) {
	s := d.scalar(n, path, want)
	if s == nil {
		return 0, false
	}
	var i int64
	if s.ShortTag() != "!!int" || s.Decode(&i) != nil {
		d.errAt(s, path, "want %s, got %s", want, kindOf(s))
		return 0, false
	}
	if i < lo || i > hi {
		d.errAt(s, path, "%d: want %d to %d", i, lo, hi)
		return 0, false
	}
	return i, true
}

// duration reads "500ms", "10s", "1m30s": a unit is required, since a bare
// number could mean seconds or milliseconds.
func (d *decoder) duration(n *yaml.Node, path string) (time.Duration, bool) {
	const want = "a duration with a unit, like 500ms, 10s or 2m"
	s := d.scalar(n, path, want)
	if s == nil {
		return 0, false
	}
	if s.ShortTag() != "!!str" {
		d.errAt(s, path, "want %s, got %s", want, kindOf(s))
		return 0, false
	}
	v, err := time.ParseDuration(strings.TrimSpace(s.Value))
	if err != nil {
		d.errAt(s, path, "want %s, got %q", want, s.Value)
		return 0, false
	}
	return v, true
}

// positive reads a duration that must be > 0.
func (d *decoder) positive(n *yaml.Node, path string) (time.Duration, bool) {
	v, ok := d.duration(n, path)
	if ok && v <= 0 {
		d.errAt(d.node(n), path, "%v: must be > 0", v)
		return 0, false
	}
	return v, ok
}

func (d *decoder) list(n *yaml.Node, path, want string) ([]*yaml.Node, bool) {
	if n = d.node(n); n == nil {
		return nil, false
	}
	if n.Kind != yaml.SequenceNode {
		d.errAt(n, path, "want a list of %s, got %s", want, kindOf(n))
		return nil, false
	}
	d.pos[path] = n
	for i, item := range n.Content {
		it := item
		if it.Kind == yaml.AliasNode && it.Alias != nil {
			it = it.Alias
		}
		d.pos[fmt.Sprintf("%s[%d]", path, i)] = it
	}
	return n.Content, true
}

var profileKeys = []string{"name", "description", "base_url", "clients", "notes"}

func (d *decoder) profile(root *yaml.Node) *Profile {
	p := &Profile{}
	f, clean := d.mapping(root, "", "a profile", profileKeys...)
	if root != nil && root.Kind != yaml.MappingNode {
		return p
	}
	if n := f.vals["name"]; n != nil {
		p.Name, _ = d.str(n, "name", "a name")
	}
	if n := f.vals["description"]; n != nil {
		p.Description, _ = d.str(n, "description", "one line of text")
	}
	if n := f.vals["base_url"]; n != nil {
		if s, ok := d.str(n, "base_url", "a URL like http://127.0.0.1:8080"); ok {
			if err := checkBaseURL(s); err != nil {
				d.errAt(d.node(n), "base_url", "%v", err)
			} else {
				p.BaseURL = s
			}
		}
	}
	if n := f.vals["notes"]; n != nil {
		items, _ := d.list(n, "notes", "lines of text")
		for i, it := range items {
			if i == maxNotes {
				d.errAt(d.node(it), "notes", "over %d notes", maxNotes)
				break
			}
			if s, ok := d.str(it, fmt.Sprintf("notes[%d]", i), "a line of text"); ok {
				p.Notes = append(p.Notes, s)
			}
		}
	}
	n := f.vals["clients"]
	if n == nil {
		if !clean {
			return p // an unknown key is likelier "clinets:" than a missing client
		}
		d.errAt(root, "clients", "missing: a profile needs at least one client (clients: [{name: ..., stages: [...]}])")
		return p
	}
	items, ok := d.list(n, "clients", "clients")
	if !ok {
		return p
	}
	if len(items) == 0 {
		d.errAt(d.node(n), "clients", "empty: give at least one client")
		return p
	}
	if len(items) > MaxClients {
		d.errAt(d.node(n), "clients", "%d clients: at most %d", len(items), MaxClients)
		return p
	}
	for i, it := range items {
		if d.tooDeep {
			break
		}
		p.Clients = append(p.Clients, d.client(it, fmt.Sprintf("clients[%d]", i)))
	}
	return p
}

var clientKeys = []string{"name", "stages", "requests", "headers", "connection", "connections", "max_inflight", "timeout", "connect_timeout", "seed", "retry", "replay"}

func (d *decoder) client(n *yaml.Node, cp string) Client {
	var c Client
	f, ok := d.mapping(n, cp, "a client", clientKeys...)
	if !ok && len(f.vals) == 0 {
		return c
	}
	node := d.pos[cp]
	if v := f.vals["name"]; v != nil {
		c.Name, _ = d.str(v, cp+".name", "a name")
	}
	cc := &c.Config
	if v := f.vals["connection"]; v != nil {
		if s, ok := d.str(v, cp+".connection", "keepalive or new"); ok {
			m, err := loadgen.ParseConnMode(s)
			if err != nil {
				d.errAt(d.node(v), cp+".connection", "%q: want keepalive or new", s)
			}
			cc.Mode = m
		}
	}
	if v := f.vals["connections"]; v != nil {
		if cc.Mode == loadgen.NewConn {
			d.errAt(f.keys["connections"], cp+".connections", "sizes the keep-alive pool; with connection: new every request opens its own")
		} else if i, ok := d.integer(v, cp+".connections", "a number of connections", 1, MaxConnections); ok {
			cc.Connections = int(i)
		}
	}
	if v := f.vals["max_inflight"]; v != nil {
		if i, ok := d.integer(v, cp+".max_inflight", "a number of requests", 1, MaxInflight); ok {
			c.MaxInflight = int(i)
		}
	}
	if v := f.vals["timeout"]; v != nil {
		cc.Timeout, _ = d.positive(v, cp+".timeout")
	}
	if v := f.vals["connect_timeout"]; v != nil {
		cc.ConnectTimeout, _ = d.positive(v, cp+".connect_timeout")
	}
	if v := f.vals["seed"]; v != nil {
		if s := d.scalar(v, cp+".seed", "a whole number"); s != nil {
			if s.ShortTag() != "!!int" || s.Decode(&c.Seed) != nil {
				d.errAt(s, cp+".seed", "want a whole number ≥ 0, got %s", kindOf(s))
			}
		}
	}
	var common [][2]string
	if v := f.vals["headers"]; v != nil {
		common = d.headers(v, cp+".headers")
	}
	if v := f.vals["retry"]; v != nil {
		c.Retry = d.retry(v, cp+".retry")
	}

	if v := f.vals["replay"]; v != nil {
		for _, other := range []string{"stages", "requests"} {
			if f.has(other) {
				d.errAt(f.keys["replay"], cp+".replay", "replay replaces stages and requests (the trace holds both): give replay or %s, not both", other)
				return c
			}
		}
		d.replay(v, cp+".replay", &c, common)
		return c
	}

	if v := f.vals["stages"]; v != nil {
		c.Schedule = d.stages(v, cp+".stages", c.Seed)
	} else {
		d.errAt(node, cp+".stages", "missing: say when requests are sent (stages: [{rate: 10, for: 30s}]), or replay a trace")
	}

	var reqs []loadgen.Request
	if v := f.vals["requests"]; v != nil {
		items, ok := d.list(v, cp+".requests", "requests")
		if ok && len(items) == 0 {
			d.errAt(d.node(v), cp+".requests", "empty: give at least one request, or leave requests out for one GET /")
		}
		if len(items) > MaxMix {
			d.errAt(d.node(v), cp+".requests", "%d requests: at most %d", len(items), MaxMix)
			items = nil
		}
		for j, it := range items {
			r, path := d.request(it, fmt.Sprintf("%s.requests[%d]", cp, j))
			r.Headers = append(append([][2]string(nil), common...), r.Headers...)
			reqs = append(reqs, r)
			c.paths = append(c.paths, path)
		}
	} else {
		d.pos[cp+".requests[0]"] = node
		reqs = []loadgen.Request{{Method: "GET", Weight: 1, Headers: common}}
		c.paths = []string{"/"}
	}
	switch {
	case len(reqs) == 1:
		cc.Request = reqs[0]
	case len(reqs) > 1:
		cc.Mix = reqs
		cc.Request = reqs[0]
	}
	return c
}

var requestKeys = []string{"name", "weight", "method", "path", "headers", "body", "body_file"}

func (d *decoder) request(n *yaml.Node, rp string) (loadgen.Request, string) {
	r := loadgen.Request{Method: "GET", Weight: 1}
	path := "/"
	f, _ := d.mapping(n, rp, "a request", requestKeys...)
	if v := f.vals["name"]; v != nil {
		r.Name, _ = d.str(v, rp+".name", "a name")
	}
	if v := f.vals["weight"]; v != nil {
		if w, ok := d.num(v, rp+".weight", "a number > 0"); ok {
			r.Weight = w
		}
	}
	if v := f.vals["method"]; v != nil {
		if m, ok := d.str(v, rp+".method", "an HTTP method"); ok {
			if strings.TrimSpace(m) == "" {
				d.errAt(d.node(v), rp+".method", "empty: want GET, POST, …")
			}
			r.Method = strings.ToUpper(m)
		}
	}
	if v := f.vals["path"]; v != nil {
		path, _ = d.str(v, rp+".path", "a path like /sleep?ms=100")
	}
	if v := f.vals["headers"]; v != nil {
		r.Headers = d.headers(v, rp+".headers")
	}
	if f.has("body") && f.has("body_file") {
		d.errAt(f.keys["body_file"], rp+".body_file", "give body or body_file, not both")
		return r, path
	}
	if v := f.vals["body"]; v != nil {
		if s, ok := d.str(v, rp+".body", "the body's text"); ok {
			r.Body = []byte(s)
		}
	}
	if v := f.vals["body_file"]; v != nil {
		if s, ok := d.str(v, rp+".body_file", "a file name"); ok {
			b, err := ReadFile(d.rel(s))
			if err != nil {
				d.errAt(d.node(v), rp+".body_file", "%v", err)
			}
			r.Body = b
		}
	}
	return r, path
}

// rel resolves a file named in the profile against the profile's directory.
func (d *decoder) rel(name string) string {
	if filepath.IsAbs(name) || d.dir == "" {
		return name
	}
	return filepath.Join(d.dir, name)
}

// headers reads {Name: value, …} or ["Name: value", …], in order.
func (d *decoder) headers(n *yaml.Node, hp string) [][2]string {
	if n = d.node(n); n == nil {
		return nil
	}
	var out [][2]string
	check := func(at *yaml.Node, path, name, value string) {
		kv, err := loadgen.ParseHeader(name + ": " + value)
		if err != nil || kv[0] != strings.TrimSpace(name) {
			if err == nil {
				err = fmt.Errorf("header name %q has a character HTTP does not allow", name)
			}
			d.errAt(at, path, "%v", err)
			return
		}
		out = append(out, kv)
	}
	switch n.Kind {
	case yaml.MappingNode:
		d.pos[hp] = n
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := d.node(n.Content[i]), d.node(n.Content[i+1])
			if k == nil || v == nil {
				return out
			}
			if k.Kind != yaml.ScalarNode {
				d.errAt(k, hp, "a header name must be text, got %s", kindOf(k))
				continue
			}
			vp := join(hp, k.Value)
			d.pos[vp] = v
			if v.Kind != yaml.ScalarNode || v.ShortTag() == "!!null" {
				d.errAt(v, vp, "want the header's value as text, got %s", kindOf(v))
				continue
			}
			check(v, vp, k.Value, v.Value)
		}
	case yaml.SequenceNode:
		items, _ := d.list(n, hp, `"Name: value" lines`)
		for i, it := range items {
			ip := fmt.Sprintf("%s[%d]", hp, i)
			s, ok := d.str(it, ip, `"Name: value"`)
			if !ok {
				continue
			}
			name, value, found := strings.Cut(s, ":")
			if !found {
				d.errAt(d.node(it), ip, `%q: want "Name: value"`, s)
				continue
			}
			check(d.node(it), ip, name, value)
		}
	default:
		d.errAt(n, hp, `want a mapping of header names to values, or a list of "Name: value", got %s`, kindOf(n))
	}
	return out
}

var (
	onTimeoutKeys = []string{"max", "after"}
	onStatusKeys  = []string{"statuses", "max", "backoff", "factor", "max_backoff"}
)

// Defaults of the retry behaviours when their block is given.
const (
	defaultOnTimeoutMax = 1
	defaultOnStatusMax  = 3
	defaultBackoff      = 500 * time.Millisecond
	defaultFactor       = 2
)

var defaultStatuses = []int{502, 503, 504}

func (d *decoder) retry(n *yaml.Node, rp string) loadgen.Retry {
	var r loadgen.Retry
	f, _ := d.mapping(n, rp, "retry behaviours", "on_timeout", "on_status")
	if v := f.vals["on_timeout"]; v != nil {
		p := rp + ".on_timeout"
		t, _ := d.mapping(v, p, "a retry after a client-side timeout", onTimeoutKeys...)
		r.OnTimeout = defaultOnTimeoutMax
		if m := t.vals["max"]; m != nil {
			if i, ok := d.integer(m, p+".max", "a number of retries", 0, MaxRetries); ok {
				r.OnTimeout = int(i)
			}
		}
		if a := t.vals["after"]; a != nil {
			if v, ok := d.duration(a, p+".after"); ok {
				if v < 0 {
					d.errAt(d.node(a), p+".after", "%v: must not be negative", v)
				}
				r.After = v
			}
		}
	}
	if v := f.vals["on_status"]; v != nil {
		p := rp + ".on_status"
		s, _ := d.mapping(v, p, "a retry on some statuses", onStatusKeys...)
		r.OnStatus, r.Backoff, r.Factor = defaultOnStatusMax, defaultBackoff, defaultFactor
		r.Statuses = append([]int(nil), defaultStatuses...)
		if m := s.vals["max"]; m != nil {
			if i, ok := d.integer(m, p+".max", "a number of retries", 0, MaxRetries); ok {
				r.OnStatus = int(i)
			}
		}
		if st := s.vals["statuses"]; st != nil {
			r.Statuses = nil
			items, _ := d.list(st, p+".statuses", "HTTP statuses")
			for k, it := range items {
				if i, ok := d.integer(it, fmt.Sprintf("%s.statuses[%d]", p, k), "an HTTP status", 100, 599); ok {
					r.Statuses = append(r.Statuses, int(i))
				}
			}
		}
		if b := s.vals["backoff"]; b != nil {
			r.Backoff, _ = d.duration(b, p+".backoff")
		}
		if fa := s.vals["factor"]; fa != nil {
			if x, ok := d.num(fa, p+".factor", "a number ≥ 1"); ok {
				r.Factor = x
			}
		}
		if mb := s.vals["max_backoff"]; mb != nil {
			r.MaxBackoff, _ = d.duration(mb, p+".max_backoff")
		}
	}
	return r
}

var replayKeys = []string{"trace", "trace_file", "speed", "loop"}

// replay decodes a client that sends a trace's arrivals. Its mix is the
// trace's (method, path) table; each request is named by
// accesslog.EndpointName, so requests differing only in an id share a
// name and every report groups them as one endpoint, exactly as analyze
// groups the production log they came from. Names therefore repeat within
// a replay mix, deliberately. Weights are each entry's count in the
// trace, so a schedule given on the command line instead keeps the log's
// mix.
func (d *decoder) replay(n *yaml.Node, rp string, c *Client, common [][2]string) {
	f, ok := d.mapping(n, rp, "a replay", replayKeys...)
	if !ok && len(f.vals) == 0 {
		return
	}
	c.replay = true
	speed, loops := 1.0, 1
	if v := f.vals["speed"]; v != nil {
		if s, ok := d.num(v, rp+".speed", "a number > 0 (2: twice as fast)"); ok {
			if !(s > 0 && s <= MaxSpeed) {
				d.errAt(d.node(v), rp+".speed", "%v: want a number > 0 and at most %g", s, MaxSpeed)
			}
			speed = s
		}
	}
	if v := f.vals["loop"]; v != nil {
		if i, ok := d.integer(v, rp+".loop", "how many times to play the trace", 1, MaxLoops); ok {
			loops = int(i)
		}
	}
	var data []byte
	var at *yaml.Node
	var tp string
	switch {
	case f.has("trace") && f.has("trace_file"):
		d.errAt(f.keys["trace_file"], rp+".trace_file", "give trace or trace_file, not both")
		return
	case f.has("trace"):
		tp, at = rp+".trace", f.vals["trace"]
		s, ok := d.str(at, tp, "the trace, base64-encoded")
		if !ok {
			return
		}
		s = strings.Map(func(r rune) rune {
			if r == ' ' || r == '\n' || r == '\r' || r == '\t' {
				return -1
			}
			return r
		}, s)
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			if b, err = base64.RawStdEncoding.DecodeString(s); err != nil {
				d.errAt(d.node(at), tp, "not base64: %v", err)
				return
			}
		}
		data = b
	case f.has("trace_file"):
		tp, at = rp+".trace_file", f.vals["trace_file"]
		s, ok := d.str(at, tp, "a file name")
		if !ok {
			return
		}
		b, err := ReadFile(d.rel(s))
		if err != nil {
			d.errAt(d.node(at), tp, "%v", err)
			return
		}
		data = b
	default:
		d.errAt(d.pos[rp], rp, "needs trace (base64, as from-log writes it) or trace_file")
		return
	}
	t := new(accesslog.Trace)
	if err := t.UnmarshalBinary(data); err != nil {
		d.errAt(d.node(at), tp, "%s", strings.TrimPrefix(err.Error(), "accesslog: "))
		return
	}
	if t.Len() == 0 {
		d.errAt(d.node(at), tp, "the trace holds no arrivals")
		return
	}
	if !t.Sorted() {
		t.Sort()
	}
	table := t.Requests()
	if len(table) > MaxMix {
		d.errAt(d.node(at), tp, "%d distinct requests: at most %d", len(table), MaxMix)
		return
	}
	counts := make([]float64, len(table))
	for _, i := range t.Arrivals() {
		if i >= 0 && i < len(counts) {
			counts[i]++
		}
	}
	mix := make([]loadgen.Request, len(table))
	c.paths = make([]string, len(table))
	for i, r := range table {
		mix[i] = loadgen.Request{Name: accesslog.EndpointName(r.Method, r.Path), Weight: max(counts[i], 1), Method: r.Method, Headers: common}
		c.paths[i] = r.Path
	}
	c.Config.Mix, c.Config.Request = mix, mix[0]
	c.Schedule = loadgen.Schedule{loadgen.Replay{Trace: t, Speed: speed, Loops: loops}}
	if err := c.Schedule.Validate(); err != nil {
		d.errAt(d.node(at), tp, "%v", err)
	}
	d.notes = append(d.notes, fmt.Sprintf("%s: replays %d logged arrivals of %d distinct requests; access logs hold no bodies, so none is sent", c.Name, t.Len(), len(table)))
	if t.SecondResolution() {
		d.notes = append(d.notes, fmt.Sprintf("%s: the log gave times to the second only: arrivals are spread evenly within each second (per-second counts kept)", c.Name))
	}
}

// stages decodes a schedule: each item a mapping ({rate: 50, for: 30s})
// or a stage in --stage syntax ("rate:50:30s").
func (d *decoder) stages(n *yaml.Node, sp string, seed uint64) loadgen.Schedule {
	items, ok := d.list(n, sp, "stages")
	if !ok {
		return nil
	}
	if len(items) == 0 {
		d.errAt(d.node(n), sp, "empty: give at least one stage, e.g. {rate: 10, for: 30s}")
		return nil
	}
	var s loadgen.Schedule
	for i, it := range items {
		st := d.stage(it, fmt.Sprintf("%s[%d]", sp, i), seed, i)
		s = append(s, st...)
	}
	return s
}

var stageKinds = []string{"rate", "poisson", "burst", "ramp", "steps", "spike"}

// stageParams are the keys each kind of stage takes besides its own.
var stageParams = map[string][]string{
	"rate":    {"for"},
	"poisson": {"for", "seed"},
	"burst":   {"every", "count"},
	"ramp":    {"for"},
	"steps":   {"each"},
	"spike":   {"base", "for", "spike_for"},
}

func (d *decoder) stage(n *yaml.Node, ip string, seed uint64, index int) []loadgen.Stage {
	if n = d.node(n); n == nil {
		return nil
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!str" {
		st, err := loadgen.ParseStage(n.Value)
		if err != nil {
			d.errAt(n, ip, "%v", err)
			return nil
		}
		if p, ok := st.(loadgen.Poisson); ok && seed != 0 {
			p.Seed = deriveSeed(seed, index)
			st = p
		}
		return []loadgen.Stage{st}
	}
	if n.Kind != yaml.MappingNode {
		d.errAt(n, ip, "want a stage: a mapping like {rate: 50, for: 30s} or text like \"rate:50:30s\", got %s", kindOf(n))
		return nil
	}
	kind := ""
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		if k.Kind == yaml.ScalarNode && contains(stageKinds, k.Value) {
			if kind != "" {
				d.errAt(k, ip, "both %s and %s: one kind per stage (list them as separate stages)", kind, k.Value)
				return nil
			}
			kind = k.Value
		}
	}
	if kind == "" {
		d.errAt(n, ip, "no kind of stage: want one of %s as a key, e.g. {rate: 50, for: 30s}", strings.Join(stageKinds, ", "))
		return nil
	}
	f, ok := d.mapping(n, ip, "a "+kind+" stage", append([]string{kind}, stageParams[kind]...)...)
	if !ok {
		return nil
	}
	need := func(key, why string) *yaml.Node {
		v := f.vals[key]
		if v == nil {
			d.errAt(n, join(ip, key), "missing: %s", why)
		}
		return v
	}
	kp := join(ip, kind)
	var st loadgen.Stage
	ok = true
	dur := func(key, why string) time.Duration {
		v := need(key, why)
		if v == nil {
			ok = false
			return 0
		}
		x, good := d.positive(v, join(ip, key))
		ok = ok && good
		return x
	}
	switch kind {
	case "rate", "poisson":
		r, good := d.num(f.vals[kind], kp, "a rate in requests/s")
		ok = good
		length := dur("for", "how long the rate lasts, e.g. for: 30s")
		if kind == "rate" {
			st = loadgen.Constant{Rate: r, Duration: length}
		} else {
			p := loadgen.Poisson{Rate: r, Duration: length}
			if sv := f.vals["seed"]; sv != nil {
				if s := d.scalar(sv, join(ip, "seed"), "a whole number"); s == nil || s.ShortTag() != "!!int" || s.Decode(&p.Seed) != nil {
					if s != nil {
						d.errAt(s, join(ip, "seed"), "want a whole number ≥ 0, got %s", kindOf(s))
					}
					ok = false
				}
			} else if seed != 0 {
				p.Seed = deriveSeed(seed, index)
			}
			st = p
		}
	case "burst":
		size, good := d.integer(f.vals[kind], kp, "how many requests at once", 1, 1_000_000)
		ok = good
		count := int64(1)
		if v := f.vals["count"]; v != nil {
			count, good = d.integer(v, join(ip, "count"), "how many bursts", 1, 1_000_000_000)
			ok = ok && good
		}
		every := dur("every", "the time between bursts, e.g. every: 60s")
		st = loadgen.Burst{Size: int(size), Every: every, Count: int(count)}
	case "ramp":
		from, to, good := d.rampRates(f.vals[kind], kp)
		ok = good
		st = loadgen.Ramp{From: from, To: to, Duration: dur("for", "how long the ramp lasts, e.g. for: 1m")}
	case "steps":
		items, good := d.list(f.vals[kind], kp, "rates in requests/s")
		ok = good
		var rates []float64
		for k, it := range items {
			r, good := d.num(it, fmt.Sprintf("%s[%d]", kp, k), "a rate in requests/s")
			ok = ok && good
			rates = append(rates, r)
		}
		st = loadgen.Steps{Rates: rates, StepDuration: dur("each", "how long each rate lasts, e.g. each: 20s")}
	case "spike":
		peak, good := d.num(f.vals[kind], kp, "the spike's rate in requests/s")
		ok = good
		var base float64
		if v := need("base", "the rate around the spike, e.g. base: 50"); v != nil {
			base, good = d.num(v, join(ip, "base"), "a rate in requests/s")
			ok = ok && good
		} else {
			ok = false
		}
		length := dur("for", "how long the whole stage lasts, e.g. for: 60s")
		spikeFor := dur("spike_for", "how long the spike lasts, e.g. spike_for: 5s")
		if !ok {
			return nil
		}
		sp := loadgen.Spike{Base: base, Peak: peak, Duration: length, SpikeFor: spikeFor}
		if err := validateSpike(sp); err != nil {
			d.errAt(n, ip, "%v", err)
			return nil
		}
		return []loadgen.Stage{sp}
	}
	if !ok {
		return nil
	}
	if err := (loadgen.Schedule{st}).Validate(); err != nil {
		// "stage 1 (rate:0:1s): rate must be > 0": the path already says
		// which stage.
		msg := err.Error()
		if rest, cut := strings.CutPrefix(msg, "stage 1 ("); cut {
			if i := strings.Index(rest, "): "); i >= 0 {
				msg = rest[:i] + ": " + rest[i+3:]
			}
		}
		d.errAt(n, ip, "%s", msg)
		return nil
	}
	return []loadgen.Stage{st}
}

// rampRates reads ramp: "10:200" or ramp: [10, 200].
func (d *decoder) rampRates(n *yaml.Node, kp string) (from, to float64, ok bool) {
	const want = `FROM:TO in requests/s, like "10:200"`
	if n = d.node(n); n == nil {
		return 0, 0, false
	}
	if n.Kind == yaml.SequenceNode {
		if len(n.Content) != 2 {
			d.errAt(n, kp, "want %s or [FROM, TO], got a list of %d", want, len(n.Content))
			return 0, 0, false
		}
		a, ok1 := d.num(n.Content[0], kp+"[0]", "a rate in requests/s")
		b, ok2 := d.num(n.Content[1], kp+"[1]", "a rate in requests/s")
		return a, b, ok1 && ok2
	}
	s := d.scalar(n, kp, want)
	if s == nil {
		return 0, 0, false
	}
	a, b, found := strings.Cut(s.Value, ":")
	x, err1 := strconv.ParseFloat(strings.TrimSpace(a), 64)
	y, err2 := strconv.ParseFloat(strings.TrimSpace(b), 64)
	if !found || err1 != nil || err2 != nil || math.IsNaN(x) || math.IsNaN(y) || math.IsInf(x, 0) || math.IsInf(y, 0) {
		d.errAt(s, kp, "want %s, got %s", want, kindOf(s))
		return 0, 0, false
	}
	return x, y, true
}

func validateSpike(s loadgen.Spike) error {
	switch {
	case !(s.Peak > 0) || s.Peak > 1e6:
		return fmt.Errorf("spike %v: want a rate > 0 and at most 1e6 requests/s", s.Peak)
	case !(s.Base >= 0) || s.Base > 1e6:
		return fmt.Errorf("base %v: want a rate ≥ 0 and at most 1e6 requests/s", s.Base)
	case s.SpikeFor >= s.Duration:
		return fmt.Errorf("spike_for %v must be shorter than for %v (the spike sits in the middle of the stage)", s.SpikeFor, s.Duration)
	}
	return nil
}

// deriveSeed gives each Poisson stage of a seeded client its own stream.
func deriveSeed(seed uint64, index int) uint64 {
	s := seed + uint64(index)*0x9e3779b97f4a7c15
	if s == 0 {
		s = 1
	}
	return s
}
