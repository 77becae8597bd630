package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/scimgate/scimgate/conformance/connector"
	"github.com/scimgate/scimgate/targets"
	"github.com/scimgate/scimgate/targets/grpctarget"
)

// conformanceConnector runs `scimgate conformance connector`: it stands in
// for the gateway, serving a grpc target's registration endpoint, waits for
// the connector NAME to register, and runs the connector conformance suite
// against it, one line per check and the counts on stdout.
func conformanceConnector(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	stderr = &lockedWriter{w: stderr} // the target's log writes from its own goroutines
	fs := flag.NewFlagSet("conformance connector", flag.ContinueOnError)
	fs.SetOutput(stderr)
	name := fs.String("name", "", "`name` the connector registers with (required)")
	listen := fs.String("listen", "127.0.0.1:9443", "`host:port` the connector dials")
	tokenFile := fs.String("token-file", "", "`file` holding the token the connector must present")
	certFile := fs.String("tls-cert", "", "server certificate `file`: serve TLS")
	keyFile := fs.String("tls-key", "", "server key `file`")
	clientCA := fs.String("tls-client-ca", "", "CA `file` of client certificates: require mTLS")
	wait := fs.Duration("wait", time.Minute, "how long to wait for the connector to register")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *name == "" {
		return fmt.Errorf("%w: --name is required", errUsage)
	}
	cfg := grpctarget.Config{
		Listen:    *listen,
		TokenFile: *tokenFile,
		TLS:       targets.TLSConfig{CertFile: *certFile, KeyFile: *keyFile, ClientCAFile: *clientCA},
		// Accept any capabilities: the suite checks those declared.
		Capabilities: &targets.Capabilities{},
	}
	if err := cfg.Validate(); err != nil {
		var ce *targets.ConfigError
		if errors.As(err, &ce) {
			return fmt.Errorf("%w: %s: %v", errUsage, flagOf(ce.Field), ce.Err)
		}
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	opened, err := cfg.Open(ctx, targets.Env{Name: *name, Logger: log})
	if err != nil {
		return err
	}
	gw := opened.(*grpctarget.Connector)
	defer gw.Close(context.Background())
	fmt.Fprintf(stderr, "waiting up to %v for connector %q to register at %s\n", *wait, *name, gw.Addr())
	inst, err := waitRegistered(ctx, gw, *wait)
	if err != nil {
		return fmt.Errorf("connector %q: %w", *name, err)
	}
	fmt.Fprintf(stderr, "connector %q (version %s, protocol minor %d, instance %s) registered; capabilities: groups=%v disable=%v lookup=%v\n",
		*name, inst.Version, inst.ProtocolMinor, inst.ID, inst.Capabilities.Groups, inst.Capabilities.Disable, inst.Capabilities.Lookup)
	_, failed, err := connector.RunReport(ctx, func() targets.Connector { return declared{gw, inst.Capabilities} }, stdout)
	if err != nil {
		return err
	}
	if failed > 0 {
		return fmt.Errorf("%d connector conformance checks failed", failed)
	}
	return nil
}

// flagOf names the flag of a grpc target config field.
func flagOf(field string) string {
	switch field {
	case "listen":
		return "--listen"
	case "token_file":
		return "--token-file (or --tls-client-ca)"
	case "tls.client_ca_file":
		return "--tls-client-ca"
	case "tls.cert_file":
		return "--tls-cert/--tls-key"
	}
	return field
}

// waitRegistered waits for the first instance to register.
func waitRegistered(ctx context.Context, gw *grpctarget.Connector, wait time.Duration) (grpctarget.Instance, error) {
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if in := gw.Instances(); len(in) > 0 {
			return in[0], nil
		}
		select {
		case <-ctx.Done():
			return grpctarget.Instance{}, fmt.Errorf("did not register within %v", wait)
		case <-tick.C:
		}
	}
}

// declared is the grpc target as the suite sees it: with the capabilities
// the connector declared, and shared by every check (which close theirs).
// Its Lookup is the target's, which sends lookups to the connector when it
// declared lookup and answers ErrUnsupported otherwise.
type declared struct {
	*grpctarget.Connector
	caps targets.Capabilities
}

func (d declared) Capabilities() targets.Capabilities { return d.caps }
func (d declared) Close(context.Context) error        { return nil }

// lockedWriter serialises writes to w.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
