// Command scimgate is the SCIM 2.0 provisioning gateway.
//
//	scimgate serve [--config FILE] [--listen HOST:PORT] [--data-dir DIR] [--cpuprofile FILE]
//	scimgate plan [--config FILE] [--data-dir DIR] [--target NAME] [--explain USER] [--days N] [--json]
//	scimgate conformance scim --url URL --token TOKEN
//	scimgate conformance connector --name NAME --listen ADDR --token-file FILE
//	scimgate bench scim --url URL --token TOKEN [--concurrency N] [--users N] [--cycles N]
//	scimgate admin COMMAND [ARGS] [--url URL] [--token TOKEN] [--json]
//	scimgate reconcile TARGET [--dry-run] [--json] [--url URL] [--token TOKEN]
//	scimgate entra COMMAND [ARGS] [--url URL] [--token TOKEN] [--json]
//	scimgate workflow COMMAND [ARGS] [--url URL] [--token TOKEN] [--json]
//	scimgate guests [COMMAND [ARGS]] [--url URL] [--token TOKEN] [--json]
//	scimgate reviews COMMAND [ARGS] [--url URL] [--token TOKEN] [--json]
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/scimgate/scimgate/conformance"
	"github.com/scimgate/scimgate/internal/config"
	"github.com/scimgate/scimgate/internal/gateway"
	"github.com/scimgate/scimgate/internal/loadgen"
	"github.com/scimgate/scimgate/targets"
	"github.com/scimgate/scimgate/targets/registry"
)

const usage = `scimgate: SCIM 2.0 provisioning gateway

Usage:
  scimgate serve [--config FILE] [--listen HOST:PORT] [--data-dir DIR] [--cpuprofile FILE]
      Run the gateway. Settings come from defaults, the YAML file,
      SCIMGATE_* environment variables and flags, in that order.
  scimgate plan [--config FILE] [--data-dir DIR] [--target NAME] [--explain USER] [--days N] [--json]
      Show what each configured target would receive for the users and
      groups in the gateway's store, without calling any target, and,
      with a guests section, the guest lifecycle's steps due in the next
      N days (default 30): notices, blocks, deletes.
      --explain USER (an id, a userName or a group's displayName) shows
      instead why each target has it in scope or not, the attributes it
      gets with their sources, and its provisioning state there.
  scimgate conformance scim --url URL --token TOKEN
      Run the SCIM conformance suite against any SCIM base URL.
  scimgate conformance connector --name NAME --listen ADDR --token-file FILE
      Stand in for the gateway: wait for the gRPC connector NAME to
      register and run the connector conformance suite against it.
  scimgate bench scim --url URL --token TOKEN [--concurrency N] [--users N] [--cycles N]
      Drive creates, filter queries, PATCHes and Entra's initial cycle
      (match query, then create) against a running gateway, and the cycle
      against a bare net/http handler for comparison.
  scimgate admin COMMAND [ARGS] [--url URL] [--token TOKEN] [--json]
      See and steer provisioning through the admin API: targets, dead
      letters, the deletion guard, objects, re-syncs, the audit log.
      "scimgate admin -h" lists the commands.
  scimgate reconcile TARGET [--dry-run] [--json] [--url URL] [--token TOKEN]
      Compare every account of a target with the policy and queue the
      differences (missing, drift, unlinked, out of scope, orphans),
      through the admin API; --dry-run only lists them.
  scimgate entra COMMAND [ARGS] [--url URL] [--token TOKEN] [--json]
      Look up Entra users and groups, add and remove group members,
      disable, enable, delete users and revoke their sessions, through
      the admin API (the gateway's entra section, audited); check the
      Graph permissions. "scimgate entra -h" lists the commands.
  scimgate workflow COMMAND [ARGS] [--url URL] [--token TOKEN] [--json]
      List, enable, disable, run and retry the lifecycle workflows, see
      their runs, and test them before they go live (test, upcoming),
      through the admin API. "scimgate workflow -h" lists the commands.
  scimgate guests [COMMAND [ARGS]] [--url URL] [--token TOKEN] [--json]
      List the guests of the guest lifecycle with their rule, expiry,
      state and next step; show one; extend a guest's access (--until
      DATE or --for 90d), through the admin API. "scimgate guests -h"
      lists the commands.
  scimgate reviews COMMAND [ARGS] [--url URL] [--token TOKEN] [--json]
      See the access reviews and their instances' progress per reviewer,
      the items with their decisions; reassign an item, stop an instance,
      apply its results, export them for auditors (CSV or JSON), through
      the admin API. "scimgate reviews -h" lists the commands.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// errUsage marks errors whose remedy is reading the usage text.
var errUsage = errors.New("usage")

func run(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "serve":
		err = serve(ctx, args[1:], stdout, stderr)
	case "plan":
		err = planCmd(ctx, args[1:], stdout, stderr)
	case "conformance":
		err = conformanceCmd(ctx, args[1:], stdout, stderr)
	case "bench":
		err = benchCmd(ctx, args[1:], stdout, stderr)
	case "admin":
		return adminCmd(ctx, args[1:], stdout, stderr)
	case "reconcile":
		return reconcileCmd(ctx, args[1:], stdout, stderr, realClock)
	case "entra":
		return entraCmd(ctx, args[1:], os.Stdin, stdout, stderr)
	case "workflow":
		return workflowCmd(ctx, args[1:], stdout, stderr)
	case "guests":
		return guestsCmd(ctx, args[1:], stdout, stderr)
	case "reviews":
		return reviewsCmd(ctx, args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		err = fmt.Errorf("%w: unknown command %q", errUsage, args[0])
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintf(stderr, "scimgate: %v\n\n%s", err, usage)
		return 2
	default:
		fmt.Fprintf(stderr, "scimgate: %v\n", err)
		return 1
	}
}

func serve(ctx context.Context, args []string, stdout, stderr io.Writer) (err error) {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgFile := fs.String("config", "", "YAML configuration `file`")
	listen := fs.String("listen", config.DefaultListen, "`HOST:PORT` to listen on")
	dataDir := fs.String("data-dir", config.DefaultDataDir, "`directory` of the gateway's durable state")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the whole run to `file`, for `go tool pprof` (performance work)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: serve takes no arguments, got %q", errUsage, fs.Args())
	}
	types := registry.New(registry.Services{})
	cfg, err := loadConfig(fs, types, cfgFile, listen, dataDir)
	if err != nil {
		return err
	}
	if *cpuProfile != "" {
		stop, err := startCPUProfile(*cpuProfile)
		if err != nil {
			return err
		}
		defer func() { err = errors.Join(err, stop()) }()
	}
	log := startLog(cfg, stderr)
	g, err := gateway.New(ctx, cfg, nil, log) // the built-in types, entra with the entra section's client
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "scimgate is listening\n  SCIM base URL: %s\n", g.BaseURL())
	if g.GeneratedToken != "" {
		fmt.Fprintf(stdout, "  Bearer token:  %s\n  (generated because no token is configured; kept in %s/%s)\n",
			g.GeneratedToken, cfg.DataDir, gateway.TokenFile)
	}
	if g.GeneratedAdminToken != "" {
		fmt.Fprintf(stdout, "  Admin API:     %s/admin/v1 (its token is in %s; `scimgate admin --token-file %s targets`)\n",
			strings.TrimSuffix(g.BaseURL(), cfg.SCIM.BasePath), filepath.Join(cfg.DataDir, gateway.AdminTokenFile),
			filepath.Join(cfg.DataDir, gateway.AdminTokenFile))
	}
	return g.Serve(ctx)
}

// startCPUProfile profiles the process's CPU into a new file at path until
// stop, which writes the profile out.
func startCPUProfile(path string) (stop func() error, err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("cpuprofile: %w", err)
	}
	return func() error {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			return fmt.Errorf("cpuprofile: %w", err)
		}
		return nil
	}, nil
}

// loadConfig reads the configuration the way serve does: defaults, the
// YAML file, SCIMGATE_* variables, then the flags the user set, and
// validates it with the target types of types.
func loadConfig(fs *flag.FlagSet, types targets.Registry, cfgFile, listen, dataDir *string) (config.Config, error) {
	cfg, err := config.Load(*cfgFile, os.Environ())
	if err != nil {
		return cfg, err
	}
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "listen":
			cfg.Listen = *listen
		case "data-dir":
			cfg.DataDir = *dataDir
		}
	})
	if err := cfg.Validate(types); err != nil {
		return cfg, fmt.Errorf("invalid configuration:\n%w", err)
	}
	return cfg, nil
}

// startLog returns the process logger configured by cfg.Log, writing to w,
// after logging the configuration with it (secrets redacted, targets by
// name and type only: see config.Config.LogValue).
func startLog(cfg config.Config, w io.Writer) *slog.Logger {
	log := newLogger(cfg.Log, w)
	log.Info("configuration", "config", cfg)
	return log
}

func newLogger(c config.Log, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: c.SlogLevel()}
	if strings.EqualFold(c.Format, "json") {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func conformanceCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "connector" {
		return conformanceConnector(ctx, args[1:], stdout, stderr)
	}
	if len(args) == 0 || args[0] != "scim" {
		return fmt.Errorf("%w: conformance needs a suite: scim or connector", errUsage)
	}
	fs := flag.NewFlagSet("conformance scim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("url", "", "SCIM base `URL`, e.g. http://127.0.0.1:8080/scim/v2")
	token := fs.String("token", os.Getenv("SCIMGATE_SCIM_TOKEN"), "bearer `token` (default $SCIMGATE_SCIM_TOKEN)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *url == "" {
		return fmt.Errorf("%w: --url is required", errUsage)
	}
	_, failed, err := conformance.RunSCIM(ctx, conformance.SCIMConfig{BaseURL: *url, Token: *token}, stdout)
	if err != nil {
		return err
	}
	if failed > 0 {
		return fmt.Errorf("%d conformance checks failed", failed)
	}
	return nil
}

func benchCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == bareCommand {
		return benchBare(ctx, args[1:], stdout, stderr)
	}
	if len(args) == 0 || args[0] != "scim" {
		return fmt.Errorf("%w: bench needs a target: scim", errUsage)
	}
	fs := flag.NewFlagSet("bench scim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("url", "", "SCIM base `URL` of a running gateway")
	token := fs.String("token", os.Getenv("SCIMGATE_SCIM_TOKEN"), "bearer `token` (default $SCIMGATE_SCIM_TOKEN)")
	conc := fs.Int("concurrency", 16, "concurrent clients")
	users := fs.Int("users", 10000, "users to create")
	queries := fs.Int("queries", 20000, "userName eq queries to run")
	patches := fs.Int("patches", 10000, "PATCH requests to send")
	cycles := fs.Int("cycles", 20000, "users of the Entra-style cycle (match query, then create), run also against a bare net/http handler; 0 skips it")
	timeout := fs.Duration("timeout", 30*time.Minute, "overall time limit")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *url == "" {
		return fmt.Errorf("%w: --url is required", errUsage)
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	var bareURL string
	if *cycles > 0 {
		u, stop, err := startBare(ctx, stderr)
		if err != nil {
			return err
		}
		defer stop()
		bareURL = u
	}
	res, err := loadgen.Run(ctx, loadgen.Config{BaseURL: *url, Token: *token, Concurrency: *conc,
		Users: *users, Queries: *queries, Patches: *patches, Cycles: *cycles, BareURL: bareURL})
	res.WriteText(stdout) // partial when the run was cut short
	return err
}

// bareCommand is the hidden "scimgate bench" command that serves
// loadgen.BareHandler: the bare net/http server that the cycle phase is
// compared with, a process of its own like the gateway.
const bareCommand = "bare-server"

// startBare runs "scimgate bench bare-server" on a free loopback port and
// returns its base URL and a function that stops it.
func startBare(ctx context.Context, stderr io.Writer) (baseURL string, stop func(), err error) {
	exe, err := os.Executable()
	if err != nil {
		return "", nil, fmt.Errorf("bare handler: %w", err)
	}
	cmd := exec.CommandContext(ctx, exe, "bench", bareCommand, "--listen", "127.0.0.1:0")
	cmd.Stderr = stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return "", nil, fmt.Errorf("bare handler: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return "", nil, fmt.Errorf("bare handler: %w", err)
	}
	stop = func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}
	addr, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		stop()
		return "", nil, fmt.Errorf("bare handler: no address: %w", err)
	}
	return "http://" + strings.TrimSpace(addr) + "/scim/v2", stop, nil
}

// benchBare serves loadgen.BareHandler on --listen until ctx ends, after
// printing the address it listens on.
func benchBare(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench "+bareCommand, flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:0", "`HOST:PORT` to listen on")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("bare handler: %w", err)
	}
	srv := &http.Server{Handler: loadgen.BareHandler(), ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintln(stdout, ln.Addr())
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("bare handler: %w", err)
	}
	return nil
}
