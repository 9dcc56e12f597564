package session

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/queuegap/queuegap/analyze"
	"github.com/queuegap/queuegap/loadgen"
	"github.com/queuegap/queuegap/testbed/prefork"
)

// Plan is everything about one run. Build it from flags or a profile, then
// hand it to New, which validates it whole before anything is touched.
type Plan struct {
	Schedule loadgen.Schedule
	// Client is the request and how it is sent. With Target set, Client.URL
	// is ignored: the run goes to the embedded target.
	Client loadgen.ClientConfig
	// NoRequestID leaves out X-Request-Id: <run-id>-<seq>.
	NoRequestID bool
	Engine      loadgen.Engine
	// BatchWindow caps the dispatcher's batching: 0 the default, negative
	// one wake-up per request (loadgen.Config.BatchWindow).
	BatchWindow time.Duration
	MaxInflight int // 0: loadgen.DefaultMaxInflight
	Timing      analyze.TimingConfig
	Checks      []analyze.Check

	Out    string // results file (JSON Lines), "" for none
	HDRLog string // HDR interval log, "" for none

	// Target, if set, starts the embedded prefork target on 127.0.0.1 and
	// points the run at it.
	Target *prefork.Config

	// RunID names the run and prefixes X-Request-Id; New makes one up when
	// empty.
	RunID string
}

// Limits past which a value is a typo, not a plan: memory and descriptors
// grow with them.
const (
	MaxConnections = 1_000_000
	MaxInflight    = 1_000_000
	MaxWorkers     = 1000
)

// validate checks the plan and fills defaults; it touches nothing.
func (p *Plan) validate() (notes []string, err error) {
	if err := p.Schedule.Validate(); err != nil {
		return nil, &UsageError{err}
	}
	cc := &p.Client
	switch {
	case cc.Connections < 0 || cc.Connections > MaxConnections:
		return nil, usagef("--connections %d: want 1 to %d", cc.Connections, MaxConnections)
	case p.MaxInflight < 0 || p.MaxInflight > MaxInflight:
		return nil, usagef("--max-inflight %d: want 1 to %d", p.MaxInflight, MaxInflight)
	case cc.Timeout < 0 || cc.ConnectTimeout < 0:
		return nil, usagef("--timeout and --connect-timeout must be > 0")
	}
	if p.RunID == "" {
		p.RunID = newRunID()
	}
	if !p.NoRequestID {
		cc.RunID = p.RunID
	}
	if p.Target != nil {
		t := p.Target
		if t.Workers <= 0 || t.Workers > MaxWorkers || t.Backlog <= 0 || t.ServiceTime <= 0 {
			return nil, usagef("embedded target: workers must be 1–%d, backlog and service > 0", MaxWorkers)
		}
		if max := somaxconn(); max > 0 && t.Backlog > max {
			notes = append(notes, fmt.Sprintf("embedded target: backlog %d is above net.core.somaxconn (%d): the kernel caps it at %d", t.Backlog, max, max))
		}
		cc.URL = "http://127.0.0.1:1/" // stands in for the target's address while validating
	}
	if err := loadgen.CheckEngine(p.Engine, *cc); err != nil {
		return nil, &UsageError{err}
	}
	// The client and runner check the URL, method, headers and body;
	// building them opens nothing.
	client, err := loadgen.NewClient(*cc)
	if err != nil {
		return nil, &UsageError{err}
	}
	defer client.Close()
	if _, err := loadgen.NewRunner(p.runnerConfig(client, nil)); err != nil {
		return nil, &UsageError{err}
	}
	if err := p.checkPaths(); err != nil {
		return nil, err
	}
	return notes, nil
}

func (p *Plan) runnerConfig(client *loadgen.Client, sink loadgen.Sink) loadgen.Config {
	return loadgen.Config{Schedule: p.Schedule, Client: client, Sink: sink, MaxInflight: p.MaxInflight, BatchWindow: p.BatchWindow, Engine: p.Engine}
}

// checkPaths makes sure every output file can be created, and that no two
// outputs are the same file, without creating or truncating any.
func (p *Plan) checkPaths() error {
	type output struct{ flag, path string }
	var outs []output
	for _, o := range []output{{"--out", p.Out}, {"--hdr-log", p.HDRLog}} {
		if o.path == "" {
			continue
		}
		if err := CheckOutputPath(o.path); err != nil {
			return usagef("%s %s: %v", o.flag, o.path, err)
		}
		for _, prev := range outs {
			if samePath(prev.path, o.path) {
				return usagef("%s and %s name the same file (%s): each output needs its own", prev.flag, o.flag, o.path)
			}
		}
		outs = append(outs, o)
	}
	return nil
}

// CheckOutputPath says whether path can be created or overwritten, without
// touching it.
func CheckOutputPath(path string) error {
	if fi, err := os.Stat(path); err == nil {
		if fi.IsDir() {
			return errors.New("is a directory")
		}
		if !fi.Mode().IsRegular() && fi.Mode()&os.ModeCharDevice == 0 && fi.Mode()&os.ModeNamedPipe == 0 {
			return fmt.Errorf("is not a regular file (%s)", fi.Mode().Type())
		}
		if err := unix.Access(path, unix.W_OK); err != nil {
			return fmt.Errorf("not writable: %w", err)
		}
		return nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	dir := filepath.Dir(path)
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("directory %s does not exist", dir)
	case err != nil:
		return err
	case !fi.IsDir():
		return fmt.Errorf("%s is not a directory", dir)
	}
	if err := unix.Access(dir, unix.W_OK); err != nil {
		return fmt.Errorf("directory %s is not writable: %w", dir, err)
	}
	return nil
}

func samePath(a, b string) bool {
	if fa, err := os.Stat(a); err == nil {
		if fb, err := os.Stat(b); err == nil {
			return os.SameFile(fa, fb)
		}
	}
	aa, err1 := filepath.Abs(a)
	bb, err2 := filepath.Abs(b)
	return err1 == nil && err2 == nil && aa == bb
}

// somaxconn is net.core.somaxconn, the cap on any listen backlog; 0 when
// unknown.
func somaxconn() int {
	b, err := os.ReadFile("/proc/sys/net/core/somaxconn")
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return n
}

func newRunID() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
