package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// ConnMode says how the client uses connections.
type ConnMode int

const (
	// KeepAlive reuses up to Connections persistent connections.
	KeepAlive ConnMode = iota
	// NewConn opens one connection per request, as many partner automations
	// do, and asks the server to close it (so the server holds TIME_WAIT).
	NewConn
)

func (m ConnMode) String() string {
	if m == NewConn {
		return "new"
	}
	return "keepalive"
}

// ParseConnMode parses "keepalive" or "new".
func ParseConnMode(s string) (ConnMode, error) {
	switch strings.ToLower(s) {
	case "keepalive", "keep-alive", "ka":
		return KeepAlive, nil
	case "new", "close":
		return NewConn, nil
	}
	return 0, fmt.Errorf("connection mode %q: want keepalive or new", s)
}

// Request is what a scheduled request sends.
type Request struct {
	// Name labels the request in every report ("checkout"); unique in a
	// mix when set. Weight is its share of a mix (ClientConfig.Mix),
	// relative to the others' weights: > 0, ignored outside a mix.
	Name    string
	Weight  float64
	URL     string
	Method  string      // GET when empty
	Headers [][2]string // extra request headers, in order
	Body    []byte
}

// ClientConfig configures a Client. Zero values pick the documented defaults.
type ClientConfig struct {
	Request
	// Mix, when set, replaces Request: each scheduled request is one of
	// these, picked by weight (or named by a Replay trace's index), and
	// Record.Mix says which. Each is rendered once, with its own method,
	// path and query, headers and body; every URL must share the scheme,
	// host and port of the first, since one pool of connections carries
	// them all. Request is then ignored. At most 65 536 entries.
	Mix            []Request
	Mode           ConnMode
	Connections    int           // keep-alive pool bound; default 64. Connections open as needed, so a large bound costs nothing unused
	Timeout        time.Duration // whole attempt, from its start; default 30s
	ConnectTimeout time.Duration // TCP connect; default 10s, long enough to see SYN retries
	RunID          string        // prefix of X-Request-Id; empty disables the header
	KeepHeaders    []string      // response headers to copy into each Record
	MaxBodyBytes   int           // a limit the user asked for: larger bodies are a protocol_error; 0: no limit (bodies are streamed, never held)
	InsecureTLS    bool          // skip certificate verification
	UserAgent      string        // default "queuegap"
}

// Client sends requests over connections it manages itself, so each timing
// belongs to exactly one request, and never retries on its own: one
// Record is one attempt. (A lane's Retry behaviour schedules a retry as a
// new request, with its own Record.)
type Client struct {
	cfg       ClientConfig
	host      string // host name or IP, without port
	port      string
	hostIsIP  bool
	tlsConfig *tls.Config
	reqs      []reqTemplate // the mix, rendered; one entry without a mix
	weights   *aliasTable   // the mix's weights; nil without a mix
	dialer    net.Dialer
	nextAddr  atomic.Uint32 // round-robin over a host name's addresses (pickAddr)

	clockStart time.Time // set by the runner; phase offsets are relative to it

	mu     sync.Mutex
	active map[*Conn]struct{} // every open connection, so Abort can end them
	closed bool
}

const requestIDMarker = "\x01queuegap-request-id\x01"

// NewClient validates cfg and prepares the request bytes once: the single
// Request, or each entry of Mix.
func NewClient(cfg ClientConfig) (*Client, error) {
	if cfg.Connections <= 0 {
		cfg.Connections = 64
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = 10 * time.Second
	}
	if cfg.ConnectTimeout > cfg.Timeout {
		cfg.ConnectTimeout = cfg.Timeout
	}
	if cfg.MaxBodyBytes < 0 {
		cfg.MaxBodyBytes = 0
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = "queuegap"
	}
	reqs := cfg.Mix
	single := len(reqs) == 0
	if single {
		reqs = []Request{cfg.Request}
	} else {
		// The mix's first request stands for the client wherever one URL is
		// asked for (the engine check, error texts).
		if len(reqs) > maxMix {
			return nil, fmt.Errorf("mix of %d requests: at most %d", len(reqs), maxMix)
		}
		mix := make([]Request, len(reqs))
		copy(mix, reqs)
		cfg.Mix, reqs = mix, mix
		cfg.Request = mix[0]
	}
	c := &Client{
		cfg:    cfg,
		active: make(map[*Conn]struct{}),
		dialer: net.Dialer{Timeout: cfg.ConnectTimeout, KeepAlive: -1},
		reqs:   make([]reqTemplate, len(reqs)),
	}
	var first *url.URL
	names := make(map[string]int)
	for i := range reqs {
		rq := &reqs[i]
		what := func(err error) error { return err }
		if !single {
			what = func(err error) error {
				if rq.Name != "" {
					return fmt.Errorf("mix[%d] %q: %w", i, rq.Name, err)
				}
				return fmt.Errorf("mix[%d]: %w", i, err)
			}
			if !(rq.Weight > 0) || math.IsInf(rq.Weight, 0) {
				return nil, what(fmt.Errorf("weight %v must be > 0", rq.Weight))
			}
			if rq.Name != "" {
				if j, dup := names[rq.Name]; dup {
					return nil, what(fmt.Errorf("name used by mix[%d] too", j))
				}
				names[rq.Name] = i
			}
		}
		if rq.Method == "" {
			rq.Method = fasthttp.MethodGet
		}
		u, err := c.parseURL(rq.URL)
		if err != nil {
			return nil, what(err)
		}
		if first == nil {
			first = u
			c.host, c.port = u.Hostname(), urlPort(u)
			if p, err := strconv.Atoi(c.port); err != nil || p <= 0 || p > 65535 {
				return nil, what(fmt.Errorf("bad URL %q: port %q", RedactURL(rq.URL), c.port))
			}
		} else {
			switch {
			case u.Scheme != first.Scheme:
				return nil, what(errors.New("URL scheme differs from mix[0]"))
			case u.Hostname() != first.Hostname():
				return nil, what(errors.New("URL host differs from mix[0]"))
			case urlPort(u) != c.port:
				return nil, what(errors.New("URL port differs from mix[0]"))
			}
		}
		for _, m := range rq.Method {
			if m <= ' ' || m >= 0x7f || strings.ContainsRune("()<>@,;:\\\"/[]?={}", m) {
				return nil, what(fmt.Errorf("bad method %q", rq.Method))
			}
		}
		if err := c.buildRequest(&c.reqs[i], rq, u); err != nil {
			return nil, what(err)
		}
	}
	c.cfg.Request = reqs[0]
	c.hostIsIP = net.ParseIP(c.host) != nil
	if first.Scheme == "https" {
		// A session cache, as browsers and most HTTP clients keep: a new
		// connection resumes the session (TLS 1.3 PSK, or a 1.2 ticket)
		// instead of a full handshake, which is what a returning client
		// costs a server and what it costs queuegap (bench/README.md).
		c.tlsConfig = &tls.Config{ServerName: c.host, InsecureSkipVerify: cfg.InsecureTLS, NextProtos: []string{"http/1.1"},
			ClientSessionCache: tls.NewLRUClientSessionCache(64)}
	}
	if !single {
		c.weights = newAliasTable(reqs)
	}
	return c, nil
}

// parseURL checks one request's URL; its error texts carry the URL without
// its password (RedactURL).
func (c *Client) parseURL(raw string) (*url.URL, error) {
	shown := RedactURL(raw)
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // its text repeats the URL, password included
		}
		return nil, fmt.Errorf("bad URL %q: %w", shown, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("bad URL %q: scheme must be http or https", shown)
	}
	if u.Hostname() == "" {
		return nil, fmt.Errorf("bad URL %q: no host", shown)
	}
	return u, nil
}

// urlPort is u's port, or its scheme's default.
func urlPort(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	if u.Scheme == "https" {
		return "443"
	}
	return "80"
}

// MixLen is how many requests the client sends: len(Mix), or 1.
func (c *Client) MixLen() int { return len(c.reqs) }

// reqTemplate is one request of the mix rendered once: its bytes split
// around the X-Request-Id value, so each send is two copies and a number.
type reqTemplate struct {
	prefix   []byte // request bytes up to the X-Request-Id value
	suffix   []byte // the rest: remaining headers, blank line, body
	skipBody bool   // HEAD responses have no body
}

// buildRequest renders rq once with fasthttp into t.
func (c *Client) buildRequest(t *reqTemplate, rq *Request, u *url.URL) error {
	req := fasthttp.AcquireRequest()
	defer fasthttp.ReleaseRequest(req)
	req.Header.DisableNormalizing()
	req.Header.SetMethod(rq.Method)
	req.SetRequestURI(u.RequestURI())
	req.Header.SetHost(u.Host)
	req.Header.SetUserAgent(c.cfg.UserAgent)
	explicitAuth := false
	for _, h := range rq.Headers {
		if err := validHeader(h[0], h[1]); err != nil {
			return err
		}
		switch strings.ToLower(h[0]) {
		case "authorization":
			explicitAuth = true
			req.Header.Add(h[0], h[1])
		case "x-request-id":
			if c.cfg.RunID != "" {
				return fmt.Errorf("header %q is set by queuegap per request (<run-id>-<seq>); use --no-request-id to send your own", h[0])
			}
			req.Header.Add(h[0], h[1])
		case "host":
			req.Header.SetHost(h[1])
		case "user-agent":
			req.Header.SetUserAgent(h[1])
		case "content-length", "transfer-encoding", "connection":
			return fmt.Errorf("header %q is managed by queuegap", h[0])
		default:
			req.Header.Add(h[0], h[1])
		}
	}
	if u.User != nil && !explicitAuth {
		// What browsers and curl do with user:password@ in a URL.
		pw, _ := u.User.Password()
		cred := base64.StdEncoding.EncodeToString([]byte(u.User.Username() + ":" + pw))
		req.Header.Set("Authorization", "Basic "+cred)
	}
	if c.cfg.RunID != "" {
		req.Header.Set("X-Request-Id", requestIDMarker)
	}
	if c.cfg.Mode == NewConn {
		req.Header.SetConnectionClose()
	}
	if len(rq.Body) > 0 || rq.Method == fasthttp.MethodPost || rq.Method == fasthttp.MethodPut || rq.Method == fasthttp.MethodPatch {
		req.SetBody(rq.Body)
	}
	var buf bytes.Buffer
	bw := bufio.NewWriter(&buf)
	if err := req.Write(bw); err != nil {
		return fmt.Errorf("rendering request: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("rendering request: %w", err)
	}
	t.skipBody = strings.EqualFold(rq.Method, fasthttp.MethodHead)
	raw := buf.Bytes()
	if c.cfg.RunID == "" {
		t.prefix = raw
		return nil
	}
	i := bytes.Index(raw, []byte(requestIDMarker))
	if i < 0 {
		return errors.New("rendering request: X-Request-Id was dropped")
	}
	t.prefix = append([]byte(nil), raw[:i]...)
	t.suffix = append([]byte(nil), raw[i+len(requestIDMarker):]...)
	return nil
}

func validHeader(name, value string) error {
	if name == "" {
		return errors.New("empty header name")
	}
	for _, r := range name {
		if r <= ' ' || r >= 0x7f || strings.ContainsRune("()<>@,;:\\\"/[]?={}", r) {
			return fmt.Errorf("header name %q has a character HTTP does not allow", name)
		}
	}
	if strings.ContainsAny(value, "\r\n\x00") {
		return fmt.Errorf("header %q: value must not contain CR, LF or NUL", name)
	}
	return nil
}

// ParseHeader parses "Name: value" as given to -H.
func ParseHeader(s string) ([2]string, error) {
	name, value, ok := strings.Cut(s, ":")
	if !ok {
		return [2]string{}, fmt.Errorf("header %q: want \"Name: value\"", s)
	}
	name, value = strings.TrimSpace(name), strings.TrimSpace(value)
	if err := validHeader(name, value); err != nil {
		return [2]string{}, err
	}
	return [2]string{name, value}, nil
}

// Conn is one client connection with its buffers and response parser,
// owned by one caller of DoOn at a time.
type Conn struct {
	lastUsed time.Duration // run offset when the last exchange ended
	nc       net.Conn
	tcp      net.Conn // the TCP connection under TLS, for TCP_INFO
	req      []byte   // the current request's bytes
	rbuf     []byte   // read buffer: bodies pass through it, never held
	parser   respParser
}

// connReadBuffer is each connection's read buffer.
const connReadBuffer = 16 << 10

// staleAfter: a keep-alive connection idle this long is checked before
// reuse. Servers close idle connections after a keep-alive timeout (5 s in
// Node, 75 s in nginx); at low rates each pooled connection idles for many
// request gaps, and without the check every such request would fail as
// "closed". Busy connections are never idle this long, so the check costs
// high-rate runs nothing.
const staleAfter = 100 * time.Millisecond

// alive reports whether an idle connection is still usable: nothing to
// read means open and quiet; EOF, an error or unexpected bytes (e.g. a TLS
// close_notify) mean it must not carry a request.
func (cn *Conn) alive() bool {
	return socketQuiet(cn.tcp)
}

func (c *Client) since() time.Duration { return time.Since(c.clockStart) }

// setClock fixes the origin of every phase offset.
func (c *Client) setClock(t time.Time) { c.clockStart = t }

// Do performs one attempt of the request on a new connection, closed
// afterwards, and fills rec's phases, status and error class. It never
// retries. The Runner uses DoOn to keep connections alive.
func (c *Client) Do(ctx context.Context, rec *Record) {
	var cn *Conn
	c.DoOn(ctx, rec, &cn)
	if cn != nil {
		c.closeConn(cn, false)
	}
}

// DoOn performs one attempt of the request on *slot, a connection owned
// by the caller: it dials when *slot is nil and leaves a connection that
// may be reused in *slot (nil otherwise). It sets rec.Start when the
// connection is in hand or its dial begins. It never retries.
func (c *Client) DoOn(ctx context.Context, rec *Record, slot **Conn) {
	cn := *slot
	if cn != nil && c.since()-cn.lastUsed >= staleAfter && !cn.alive() {
		// The server closed it while idle (keep-alive timeout): dial a new
		// one. Nothing was sent, so this is connection management, not a
		// retry.
		c.closeConn(cn, false)
		cn, *slot = nil, nil
	}
	if cn == nil {
		var err error
		cn, err = c.dial(ctx, rec)
		if err != nil {
			rec.Done = c.since()
			if rec.Start == 0 {
				rec.Start = rec.Done
			}
			rec.Error = classifyDialError(err)
			if ctx.Err() != nil {
				rec.Error = ErrCanceled
			}
			rec.ErrorText = err.Error()
			return
		}
	} else {
		rec.Start = c.since()
	}
	if c.exchange(ctx, cn, rec) {
		cn.lastUsed = rec.Done
		*slot = cn
		return
	}
	*slot = nil
	c.closeConn(cn, true)
}

func (c *Client) dial(ctx context.Context, rec *Record) (*Conn, error) {
	rec.Start = c.since()
	rec.NewConn = true
	deadline := c.clockStart.Add(rec.Start + c.cfg.Timeout)
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	ip := c.host
	if !c.hostIsIP {
		addrs, err := lookupIPAddr(ctx, c.host)
		if err != nil {
			return nil, err
		}
		if len(addrs) == 0 {
			return nil, &net.DNSError{Err: "no addresses", Name: c.host}
		}
		ip = c.pickAddr(addrs)
		rec.DNSDone = c.since()
	}
	nc, err := c.dialer.DialContext(ctx, "tcp", net.JoinHostPort(ip, c.port))
	if err != nil {
		return nil, err
	}
	rec.ConnectDone = c.since()
	rec.SynRetrans = retransmits(nc)
	tcp := nc
	if c.tlsConfig != nil {
		tc := tls.Client(nc, c.tlsConfig)
		if err := tc.HandshakeContext(ctx); err != nil {
			nc.Close()
			return nil, fmt.Errorf("tls handshake: %w", &tlsError{err})
		}
		rec.TLSDone = c.since()
		nc = tc
	}
	cn := &Conn{nc: nc, tcp: tcp, rbuf: make([]byte, connReadBuffer)}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		nc.Close()
		return nil, context.Canceled
	}
	c.active[cn] = struct{}{}
	c.mu.Unlock()
	return cn, nil
}

type tlsError struct{ err error }

func (e *tlsError) Error() string { return e.err.Error() }
func (e *tlsError) Unwrap() error { return e.err }

// lookupIPAddr resolves host names for both engines; tests replace it.
var lookupIPAddr = net.DefaultResolver.LookupIPAddr

// pickAddr is the address of the next new connection: the IPv4 addresses
// in turn when the name has any (a service on localhost often listens on
// 127.0.0.1 only, and most clients prefer IPv4 here), else the others in
// turn. The event loop takes them in the same order.
func (c *Client) pickAddr(addrs []net.IPAddr) string {
	n4 := 0
	for _, a := range addrs {
		if a.IP.To4() != nil {
			n4++
		}
	}
	k := int(c.nextAddr.Add(1) - 1)
	if n4 == 0 {
		return addrs[k%len(addrs)].String()
	}
	k %= n4
	for _, a := range addrs {
		if a.IP.To4() != nil {
			if k == 0 {
				return a.IP.String()
			}
			k--
		}
	}
	return addrs[0].IP.String()
}

// exchange writes the request and reads the response through the shared
// parser, discarding the body as it passes. It reports whether the
// connection may be reused.
func (c *Client) exchange(ctx context.Context, cn *Conn, rec *Record) bool {
	if err := cn.nc.SetDeadline(c.clockStart.Add(rec.Start + c.cfg.Timeout)); err != nil {
		c.fail(ctx, rec, err, false)
		return false
	}
	// Abort (on cancel) may have set its past deadline just before ours
	// replaced it; the context is canceled before Abort runs, so this
	// check closes that window.
	if err := ctx.Err(); err != nil {
		c.fail(ctx, rec, err, false)
		return false
	}
	cn.req = c.appendRequest(cn.req[:0], rec.Seq, rec.Mix)
	n, err := cn.nc.Write(cn.req)
	rec.BytesOut = int64(n)
	if err != nil {
		c.fail(ctx, rec, err, false)
		return false
	}
	rec.Written = c.since()
	p := &cn.parser
	p.reset(c.reqs[rec.Mix].skipBody, int64(c.cfg.MaxBodyBytes))
	gotByte := false
	for {
		n, err := cn.nc.Read(cn.rbuf)
		if n > 0 {
			if !gotByte {
				// The first read returns when the first byte is in: TTFB.
				gotByte = true
				rec.FirstByte = c.since()
				if rec.NewConn {
					rec.Retrans = retransmits(cn.tcp)
				}
			}
			used, done, perr := p.feed(rec, c.cfg.KeepHeaders, cn.rbuf[:n])
			if perr != nil {
				c.fail(ctx, rec, perr, true)
				return false
			}
			if done {
				rec.Done = c.since()
				// Bytes after the response: the server and we disagree
				// on framing, so the connection must not carry more.
				return c.cfg.Mode == KeepAlive && !p.close && used == n
			}
		}
		if err == io.EOF {
			done, eerr := p.eof()
			if done {
				rec.Done = c.since()
				return false
			}
			err = eerr
		}
		if err != nil {
			c.fail(ctx, rec, err, gotByte)
			return false
		}
	}
}

func (c *Client) fail(ctx context.Context, rec *Record, err error, gotByte bool) {
	rec.Done = c.since()
	rec.Error = classifyExchangeError(err, gotByte)
	if ctx.Err() != nil {
		rec.Error = ErrCanceled
	}
	rec.ErrorText = err.Error()
}

func (c *Client) closeConn(cn *Conn, serverCloses bool) {
	c.mu.Lock()
	delete(c.active, cn)
	c.mu.Unlock()
	if serverCloses && cn.parser.close {
		// Let the server close first so TIME_WAIT lands on its side: wait
		// briefly for its FIN before closing ours, off the request's path.
		go func() {
			cn.nc.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
			var b [1]byte
			cn.nc.Read(b[:])
			cn.nc.Close()
		}()
		return
	}
	cn.nc.Close()
}

// Abort ends every open connection at once; in-flight requests fail and
// are classified as canceled when their context is done.
func (c *Client) Abort() {
	c.mu.Lock()
	c.closed = true
	for cn := range c.active {
		cn.nc.SetDeadline(time.Unix(1, 0))
	}
	c.mu.Unlock()
}

// Close closes idle connections. Call it after the run.
func (c *Client) Close() {
	c.mu.Lock()
	c.closed = true
	for cn := range c.active {
		cn.nc.Close()
	}
	c.active = map[*Conn]struct{}{}
	c.mu.Unlock()
}
