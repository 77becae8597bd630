// Command jsonl-connector is an example scimgate connector built with the
// Go SDK (package sdk): it registers with a gateway's grpc target and keeps
// the users and groups it receives in users.jsonl and groups.jsonl (package
// jsonl). See README.md for a walk-through from zero to a SCIM user in
// users.jsonl.
//
//	jsonl-connector --gateway 127.0.0.1:9443 --name jsonl --token-file token --dir ./data
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/scimgate/scimgate/examples/jsonl-connector/jsonl"
	"github.com/scimgate/scimgate/targets/grpctarget/sdk"
)

func main() {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(log); err != nil {
		log.Error("jsonl-connector stopped", "err", err)
		os.Exit(1)
	}
}

func run(log *slog.Logger) error {
	gateway := flag.String("gateway", "", "`host:port` of the grpc target's endpoint (required)")
	name := flag.String("name", "", "`name` of the gateway's grpc target (required)")
	tokenFile := flag.String("token-file", "", "`file` holding the target's token")
	dir := flag.String("dir", ".", "`directory` of users.jsonl and groups.jsonl")
	caFile := flag.String("tls-ca", "", "CA `file` of the gateway's certificate: connect over TLS")
	certFile := flag.String("tls-cert", "", "client certificate `file` (mTLS, with --tls-key)")
	keyFile := flag.String("tls-key", "", "client key `file` (mTLS)")
	flag.Parse()
	if *gateway == "" || *name == "" {
		flag.Usage()
		return errors.New("--gateway and --name are required")
	}
	opts := sdk.Options{Address: *gateway, Name: *name, Version: "jsonl-example/1", Logger: log}
	if *tokenFile != "" {
		b, err := os.ReadFile(*tokenFile)
		if err != nil {
			return err
		}
		opts.Token = strings.TrimSpace(string(b))
	}
	if *caFile != "" {
		tc, err := clientTLS(*caFile, *certFile, *keyFile)
		if err != nil {
			return err
		}
		opts.TLS = tc
	}
	conn, err := jsonl.Open(*dir)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log.Info("jsonl-connector starting", "gateway", *gateway, "name", *name, "dir", *dir)
	return sdk.Run(ctx, conn, opts)
}

// clientTLS trusts the CA of caFile and presents the client certificate,
// when given.
func clientTLS(caFile, certFile, keyFile string) (*tls.Config, error) {
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("--tls-ca: no PEM certificate in %s", caFile)
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool}
	if certFile != "" || keyFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("--tls-cert/--tls-key: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}
