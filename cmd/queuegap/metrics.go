package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/pflag"

	"github.com/queuegap/queuegap/prom"
	"github.com/queuegap/queuegap/session"
)

// metricsOptions are run's live-metrics flags: a /metrics endpoint and a
// Prometheus remote write.
type metricsOptions struct {
	addr           string
	grace          time.Duration
	remoteURL      string
	remoteInterval time.Duration
	fs             *pflag.FlagSet // to tell a flag given from its default
}

func (m *metricsOptions) addFlags(fs *pflag.FlagSet) {
	m.fs = fs
	fs.StringVar(&m.addr, "metrics-addr", "", "serve Prometheus metrics at http://ADDR/metrics while the run goes, e.g. 127.0.0.1:9464\n  (queuegap_* series: see README, Live metrics)")
	fs.DurationVar(&m.grace, "metrics-grace", 15*time.Second, "with --metrics-addr: keep serving this long after the run, so the last scrape sees\n  the final values (longer than the scrape interval; Ctrl-C ends it at once)")
	fs.StringVar(&m.remoteURL, "prom-remote-write", "", "push the metrics to a Prometheus remote-write URL during the run and once at the end,\n  e.g. http://127.0.0.1:9090/api/v1/write (series labelled job=\"queuegap\", run_id, instance)")
	fs.DurationVar(&m.remoteInterval, "prom-remote-write-interval", 5*time.Second, "with --prom-remote-write: time between pushes during the run")
}

func (m *metricsOptions) changed(name string) bool {
	return m.fs != nil && m.fs.Changed(name)
}

// validate checks the flags alone; start binds.
func (m *metricsOptions) validate() error {
	switch {
	case m.changed("metrics-grace") && m.addr == "":
		return usagef("--metrics-grace needs --metrics-addr")
	case m.grace < 0:
		return usagef("--metrics-grace %s: want 0 or more", m.grace)
	case m.changed("prom-remote-write-interval") && m.remoteURL == "":
		return usagef("--prom-remote-write-interval needs --prom-remote-write")
	case m.remoteURL != "" && m.remoteInterval < 100*time.Millisecond:
		return usagef("--prom-remote-write-interval %s: want at least 100ms", m.remoteInterval)
	}
	return nil
}

// start makes the metrics output of s and binds its listener. Call it
// after session.New (the plan is valid) and before s.Run (nothing touched
// yet): a bad flag or a port in use is a usage error and the run never
// starts. finish pushes the final values, serves them for the grace
// period (ended early by ctx or a Ctrl-C) and shuts the listener; it must
// be called once, after s.Run, whatever Run returned.
func (m *metricsOptions) start(s *session.Session, stderr io.Writer) (outs []session.Output, finish func(ctx context.Context) error, err error) {
	noop := func(context.Context) error { return nil }
	if err := m.validate(); err != nil {
		return nil, noop, err
	}
	if m.addr == "" && m.remoteURL == "" {
		return nil, noop, nil
	}
	out := prom.New(prom.Options{Progress: s.Progress})
	var writer *prom.RemoteWriter
	if m.remoteURL != "" {
		host, _ := os.Hostname()
		writer, err = prom.NewRemoteWriter(m.remoteURL, out, map[string]string{
			"job": "queuegap", "instance": host, "run_id": s.Plan().RunID,
		}, nil)
		if err != nil {
			return nil, noop, usagef("--prom-remote-write: %v", err)
		}
	}
	var (
		srv    *http.Server
		served chan error
		shown  string
	)
	if m.addr != "" {
		ln, err := net.Listen("tcp", m.addr)
		if err != nil {
			return nil, noop, usagef("--metrics-addr %s: %v", m.addr, err)
		}
		mux := http.NewServeMux()
		mux.Handle("/metrics", out.Handler())
		srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		served = make(chan error, 1)
		go func() { served <- srv.Serve(ln) }()
		shown = "http://" + ln.Addr().String() + "/metrics"
	}

	// Pushes during the run; the first failure is said once, the final
	// push's is returned.
	pushCtx, stopPush := context.WithCancel(context.Background())
	var pushing sync.WaitGroup
	if writer != nil {
		pushing.Add(1)
		go func() {
			defer pushing.Done()
			t := time.NewTicker(m.remoteInterval)
			defer t.Stop()
			warned := false
			for {
				select {
				case <-pushCtx.Done():
					return
				case now := <-t.C:
					ctx, cancel := context.WithTimeout(pushCtx, m.remoteInterval+5*time.Second)
					err := writer.Push(ctx, now)
					cancel()
					if err != nil && !warned && pushCtx.Err() == nil {
						warned = true
						fmt.Fprintf(stderr, "queuegap: --prom-remote-write: %v (further failures during the run not shown)\n", err)
					}
				}
			}
		}()
	}

	finish = func(ctx context.Context) error {
		stopPush()
		pushing.Wait()
		var errs []error
		if writer != nil {
			pctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			if err := writer.Push(pctx, time.Now()); err != nil {
				errs = append(errs, fmt.Errorf("--prom-remote-write: final push: %w", err))
			}
			cancel()
		}
		if srv == nil {
			return errors.Join(errs...)
		}
		if m.grace > 0 {
			gctx, cancel := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
			fmt.Fprintf(stderr, "queuegap: serving final metrics on %s for %s; Ctrl-C to stop\n", shown, m.grace)
			t := time.NewTimer(m.grace)
			select {
			case <-t.C:
			case <-gctx.Done():
			case err := <-served:
				served <- err
			}
			t.Stop()
			cancel()
		}
		sctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			srv.Close() // a scrape still running: cut it
		}
		if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
			errs = append(errs, fmt.Errorf("--metrics-addr %s: %w", m.addr, err))
		}
		return errors.Join(errs...)
	}
	return []session.Output{out}, finish, nil
}

// withMetricsErr folds finish's error into a run's: the run's exit code
// wins, a metrics failure after a good run is exit 1.
func withMetricsErr(runErr, metricsErr error, stderr io.Writer) error {
	if metricsErr == nil {
		return runErr
	}
	if runErr != nil {
		fmt.Fprintln(stderr, "queuegap:", metricsErr)
		return runErr
	}
	return exitError{exitFailure, metricsErr.Error()}
}
