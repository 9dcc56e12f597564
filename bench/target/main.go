// Command target is the benchmark target for bench/run.sh: a minimal
// fasthttp server that answers every request with 200, a tiny body and
// "Server-Timing: app;dur=0.05", keeping connections alive. It prints
// "ready" on stdout once listening and stops on SIGTERM or SIGINT.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:18080", "listen address (keep it on loopback)")
	workers := flag.Int("workers", 0, "fasthttp Concurrency limit (0: fasthttp default)")
	flag.Parse()

	body := []byte("ok\n")
	handler := func(ctx *fasthttp.RequestCtx) {
		ctx.Response.Header.Set("Server-Timing", "app;dur=0.05")
		ctx.SetContentType("text/plain")
		ctx.SetBody(body)
	}
	srv := &fasthttp.Server{
		Handler:                       handler,
		Name:                          "bench-target",
		DisableKeepalive:              false,
		NoDefaultDate:                 true,
		NoDefaultContentType:          true,
		ReduceMemoryUsage:             false,
		TCPKeepalive:                  false,
		Concurrency:                   *workers,
		DisableHeaderNamesNormalizing: true,
	}
	ln, err := net.Listen("tcp4", *addr)
	if err != nil {
		log.Fatalf("listen %s: %v", *addr, err)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-sig
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.ShutdownWithContext(ctx)
		os.Exit(0)
	}()
	fmt.Println("ready")
	if err := srv.Serve(ln); err != nil {
		log.Fatalf("serve: %v", err)
	}
}
