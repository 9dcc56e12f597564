// Command target is the benchmark target for bench/run.sh: a minimal
// fasthttp server that answers every request with 200, a tiny body and
// "Server-Timing: app;dur=0.05", keeping connections alive. It prints
// "ready" on stdout once listening and stops on SIGTERM or SIGINT. With
// -tls-addr it also serves https there, with a self-signed certificate made
// at start (clients need --insecure).
package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"flag"
	"fmt"
	"log"
	"math/big"
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
	tlsAddr := flag.String("tls-addr", "", "also serve https on this address (self-signed certificate; keep it on loopback)")
	flag.Parse()

	body := []byte("ok\n")
	handler := func(ctx *fasthttp.RequestCtx) {
		ctx.Response.Header.Set("Server-Timing", "app;dur=0.05")
		ctx.SetContentType("text/plain")
		ctx.SetBody(body)
	}
	newServer := func() *fasthttp.Server {
		return &fasthttp.Server{
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
	}
	srv := newServer()
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
	if *tlsAddr != "" {
		cert, key, err := selfSigned()
		if err != nil {
			log.Fatalf("certificate: %v", err)
		}
		tln, err := net.Listen("tcp4", *tlsAddr)
		if err != nil {
			log.Fatalf("listen %s: %v", *tlsAddr, err)
		}
		tsrv := newServer()
		go func() {
			if err := tsrv.ServeTLSEmbed(tln, cert, key); err != nil {
				log.Fatalf("serve tls: %v", err)
			}
		}()
	}
	fmt.Println("ready")
	if err := srv.Serve(ln); err != nil {
		log.Fatalf("serve: %v", err)
	}
}

// selfSigned makes a P-256 certificate for 127.0.0.1 and localhost, PEM
// encoded.
func selfSigned() (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "bench-target"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), nil
}
