package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/queuegap/queuegap/testbed/prefork"
)

// targetOptions configure the embedded prefork target.
type targetOptions struct {
	addr    string
	workers int
	backlog int
	service time.Duration
	headers string
}

func (t *targetOptions) addFlags(fs *pflag.FlagSet, prefix string) {
	fs.IntVar(&t.workers, prefix+"workers", 4, "embedded target: workers (each serves one request at a time)")
	fs.IntVar(&t.backlog, prefix+"backlog", 16, "embedded target: listen backlog (the accept queue holds backlog+1)")
	fs.DurationVar(&t.service, prefix+"service", 250*time.Millisecond, "embedded target: service time per request (?ms=N overrides per request)")
	fs.StringVar(&t.headers, prefix+"headers", "default", "embedded target: timing headers: default (app + X-Request-Start), all, app (Server-Timing app only)")
}

func (t *targetOptions) config() (prefork.Config, error) {
	if t.workers <= 0 || t.workers > 1000 || t.backlog <= 0 || t.service <= 0 {
		return prefork.Config{}, usagef("embedded target: workers must be 1–1000, backlog and service > 0")
	}
	cfg := prefork.Config{Addr: t.addr, Workers: t.workers, Backlog: t.backlog, ServiceTime: t.service}
	switch t.headers {
	case "default", "":
		cfg.Headers = prefork.DefaultHeaders
	case "all":
		cfg.Headers = prefork.AllHeaders
	case "app":
		cfg.Headers = prefork.ServerTimingApp
	default:
		return cfg, usagef("embedded target: --headers %q: want default, all or app", t.headers)
	}
	return cfg, nil
}

func newTargetCmd() *cobra.Command {
	t := &targetOptions{}
	cmd := &cobra.Command{
		Use:   "target",
		Short: "Serve the embedded prefork target until Ctrl-C",
		Long: `Serve queuegap's embedded prefork target: W workers that accept a connection
only when idle, behind a real kernel listen backlog of the given size, each
serving one request at a time. Point 'queuegap run' (or anything else) at it.

Examples:
  queuegap target --addr 127.0.0.1:8080 --workers 4 --backlog 8 --service 200ms
  queuegap run --burst 40 http://127.0.0.1:8080/?ms=500`,
		Args: typedArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := t.config()
			if err != nil {
				return err
			}
			srv, err := prefork.Start(cfg)
			if err != nil {
				return usageError{err}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "embedded prefork target on %s (%d workers, backlog %d, %s per request); Ctrl-C stops it\n",
				srv.URL(), cfg.Workers, cfg.Backlog, cfg.ServiceTime)
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			<-ctx.Done()
			return srv.Close()
		},
	}
	cmd.Flags().StringVar(&t.addr, "addr", "127.0.0.1:8080", "listen address")
	t.addFlags(cmd.Flags(), "")
	return cmd
}
