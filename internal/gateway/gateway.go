// Package gateway assembles a running scimgate: the store, the SCIM server,
// authentication, health and metrics endpoints and the HTTP server with its
// timeouts, TLS and graceful shutdown.
package gateway

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/scimgate/scimgate/internal/alert"
	"github.com/scimgate/scimgate/internal/auth"
	"github.com/scimgate/scimgate/internal/config"
	"github.com/scimgate/scimgate/internal/engine"
	"github.com/scimgate/scimgate/internal/entra"
	"github.com/scimgate/scimgate/internal/guest"
	"github.com/scimgate/scimgate/internal/notify"
	"github.com/scimgate/scimgate/internal/review"
	"github.com/scimgate/scimgate/internal/reviewweb"
	"github.com/scimgate/scimgate/internal/store"
	"github.com/scimgate/scimgate/internal/store/sqlstore"
	"github.com/scimgate/scimgate/internal/workflow"
	"github.com/scimgate/scimgate/policy"
	"github.com/scimgate/scimgate/scim"
	"github.com/scimgate/scimgate/scim/server"
	"github.com/scimgate/scimgate/targets"
	"github.com/scimgate/scimgate/targets/registry"
)

// TokenFile is the file under the data directory holding the bearer token
// the gateway generates when no authentication is configured.
const TokenFile = "scim-token"

// Gateway is a configured, not yet serving, scimgate.
type Gateway struct {
	cfg     config.Config
	log     *slog.Logger
	store   *sqlstore.SQL
	engine  *engine.Engine               // nil without targets
	reg     *prometheus.Registry         // the metrics of /metrics
	types   targets.Registry             // the target types
	conns   map[string]targets.Connector // by target name
	auth    *auth.Authenticator          // SCIM credentials
	admin   *auth.Authenticator          // admin API credentials
	entra   *entra.Client                // nil without an entra section
	runner  *workflow.Runner             // nil without workflows
	alerts  *alert.Evaluator             // nil without alerts
	guests  *guest.Lifecycle             // nil without guests
	reviews *review.Service              // nil without reviews
	// reviewWeb is the reviewer and admin pages under /reviews/ (nil
	// without reviews).
	reviewWeb *reviewweb.Handler
	// templates are the notifications' templates (nil: the built-in ones).
	templates *notify.Templates
	// sender sends the workflows' emails; nil: no notifications are
	// configured (email tasks fail with "no email sender").
	sender   notify.Sender
	srv      *http.Server
	ln       net.Listener
	draining atomic.Bool
	// replica names this process in the store's lease; leading is
	// whether it runs the background work (leader.go), stopLead stops
	// that (nil before Serve and after Close).
	replica  string
	leading  atomic.Bool
	stopLead func()
	// GeneratedToken is the bearer token the gateway created because none
	// was configured ("" otherwise). The caller shows it to the operator.
	GeneratedToken string
	// GeneratedAdminToken is the admin API token the gateway created
	// because none was configured ("" otherwise).
	GeneratedAdminToken string
}

// New validates cfg, opens the store and the targets' connectors, and binds
// the listener. The targets' types are those of types (nil: the built-in
// ones, registry.New(registry.Services{})).
func New(ctx context.Context, cfg config.Config, types targets.Registry, log *slog.Logger) (*Gateway, error) {
	return newGateway(ctx, cfg, types, log, nil)
}

// newGateway is New; tune, when set, adjusts the engine's options (tests
// shorten its timings).
func newGateway(ctx context.Context, cfg config.Config, types targets.Registry, log *slog.Logger, tune func(*engine.Options)) (*Gateway, error) {
	return newGatewayWith(ctx, cfg, types, log, hooks{engine: tune})
}

// hooks are what tests change in a gateway: the engine's options, the
// Entra client's transport and clock, the workflow runner's and the alert
// evaluator's options, and the notifications' sender.
type hooks struct {
	engine   func(*engine.Options)
	entra    entra.Options
	workflow func(*workflow.Options)
	alert    func(*alert.Options)
	guest    func(*guest.LifecycleOptions)
	review   func(*review.Options)
	// sender replaces the notifications section's sender; notify, its
	// options (a test SMTP server's CA).
	sender notify.Sender
	notify notify.Options
}

// newGatewayWith is New with hooks. Without types, the targets' types are
// the built-in ones, the entra type with the client of the entra section.
func newGatewayWith(ctx context.Context, cfg config.Config, types targets.Registry, log *slog.Logger, hk hooks) (*Gateway, error) {
	tune := hk.engine
	builtin := types == nil
	if builtin {
		types = registry.New(registry.Services{})
	}
	if err := cfg.Validate(types); err != nil {
		return nil, err
	}
	g := &Gateway{cfg: cfg, log: log, reg: prometheus.NewRegistry(), types: types, replica: replicaID()}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data_dir: %w", err)
	}
	if err := checkWritable(cfg.DataDir); err != nil {
		return nil, err
	}
	if !cfg.Auth.Enabled() {
		tok, err := ensureToken(filepath.Join(cfg.DataDir, TokenFile))
		if err != nil {
			return nil, err
		}
		cfg.Auth.TokenFiles = []string{filepath.Join(cfg.DataDir, TokenFile)}
		g.GeneratedToken = tok
	}
	rtypes, err := scim.ResourceTypes(cfg.SCIM.CustomExtensions)
	if err != nil {
		return nil, err
	}
	var pol *policy.Policy
	// Workflows and alerts see the changes through the engine's planner,
	// which runs without targets too.
	if len(cfg.Targets) > 0 || len(cfg.Workflows) > 0 || cfg.Alerts != nil || cfg.Guests != nil || cfg.Reviews != nil {
		if pol, err = policy.Compile(cfg.Policy(types), policy.WithResourceTypes(rtypes[0], rtypes[1])); err != nil {
			return nil, err
		}
	}
	st, err := cfg.OpenStore(ctx)
	if err != nil {
		return nil, err
	}
	g.store = st
	if cfg.Entra != nil {
		// New reads the secrets and makes no request: an Entra that
		// cannot be reached fails the Entra actions, never the startup.
		if g.entra, err = entra.New(*cfg.Entra, hk.entra); err != nil {
			g.Close()
			return nil, fmt.Errorf("entra: %w", err)
		}
		log.Info("entra actions enabled", "entra", *cfg.Entra)
	}
	if builtin {
		g.types = registry.New(registry.Services{Entra: g.entra})
	}
	// The notifications' sender (emails of workflows, alerts): nil
	// without a notifications section. It reads its secrets and
	// templates here and connects to nothing.
	g.sender = hk.sender
	if g.sender == nil && cfg.Notifications != nil {
		no := hk.notify
		no.Logger, no.Registerer = log, g.reg
		n, err := notify.New(*cfg.Notifications, no)
		if err != nil {
			g.Close()
			return nil, fmt.Errorf("notifications: %w", err)
		}
		g.sender, g.templates = n, n.Templates()
	}
	// The engine's planner tells the workflows and the alerts of every
	// change, in its transaction; the evaluator is made after the engine
	// it reads, before the planner runs (Serve).
	var hooksOf []engine.ChangesHook
	if len(cfg.Workflows) > 0 {
		if err := g.openRunner(hk.workflow); err != nil {
			g.Close()
			return nil, err
		}
		hooksOf = append(hooksOf, g.runner.OnChanges)
	}
	if cfg.Alerts != nil {
		hooksOf = append(hooksOf, func(ctx context.Context, tx store.Tx, ch []store.Change) error {
			return g.alerts.ObserveChanges(ctx, tx, ch)
		})
	}
	if cfg.Guests != nil {
		hooksOf = append(hooksOf, func(ctx context.Context, tx store.Tx, ch []store.Change) error {
			return g.guests.OnChanges(ctx, tx, ch)
		})
	}
	if pol != nil {
		if err := g.openEngine(ctx, pol, func(o *engine.Options) {
			o.OnChanges = engine.ChainChanges(hooksOf...)
			o.Committed = func() { // what the hooks wrote is visible now
				if g.guests != nil {
					g.guests.Wake()
				}
				if g.runner != nil {
					g.runner.Wake()
				}
			}
			if cfg.Guests != nil && cfg.Guests.Expiry.LastLogin != nil {
				o.OnAccounts = func(ctx context.Context, target string, accounts []engine.Account) error {
					return g.guests.ObserveAccounts(ctx, target, accounts)
				}
			}
			if tune != nil {
				tune(o)
			}
		}); err != nil {
			g.Close()
			return nil, err
		}
	}
	if g.runner != nil {
		g.runner.UseEngine(g.engine)
	}
	if cfg.Alerts != nil {
		if err := g.openAlerts(hk.alert); err != nil {
			g.Close()
			return nil, err
		}
	}
	if cfg.Guests != nil {
		if err := g.openGuests(hk.guest); err != nil {
			g.Close()
			return nil, err
		}
	}
	if cfg.Reviews != nil { // an empty section: reviews defined through the admin API only
		if err := g.openReviews(ctx, pol, hk.review); err != nil {
			g.Close()
			return nil, err
		}
	}
	a, err := auth.New(ctx, cfg.Auth, log)
	if err != nil {
		g.Close()
		return nil, err
	}
	g.auth = a
	adminAuth := config.Auth{Tokens: cfg.Admin.Tokens, TokenFiles: cfg.Admin.TokenFiles}
	if !adminAuth.Enabled() {
		path := filepath.Join(cfg.DataDir, AdminTokenFile)
		if g.GeneratedAdminToken, err = ensureToken(path); err != nil {
			g.Close()
			return nil, err
		}
		adminAuth.TokenFiles = []string{path}
	}
	if g.admin, err = auth.New(ctx, adminAuth, log); err != nil {
		g.Close()
		return nil, fmt.Errorf("admin: %w", err)
	}
	if err := auth.Distinct(g.auth, g.admin); err != nil {
		g.Close()
		return nil, err
	}
	schemes := []server.AuthScheme{{Type: "oauthbearertoken", Name: "OAuth Bearer Token",
		Description: "Authentication with a bearer token (a long-lived secret or an OAuth 2.0 JWT)", Primary: true}}
	api, err := server.New(server.Options{
		Store:             st,
		Types:             rtypes,
		PublicURL:         cfg.PublicURL,
		BasePath:          cfg.SCIM.BasePath,
		MaxBodyBytes:      cfg.SCIM.MaxBodyBytes,
		MaxResults:        cfg.SCIM.MaxResults,
		DefaultCount:      cfg.SCIM.DefaultCount,
		BulkMaxOperations: cfg.SCIM.Bulk.MaxOperations,
		BulkMaxPayload:    cfg.SCIM.Bulk.MaxPayloadBytes,
		QueryTimeout:      cfg.SCIM.QueryTimeout,
		AuthSchemes:       schemes,
		Logger:            log,
	})
	if err != nil {
		g.Close()
		return nil, err
	}
	g.srv = &http.Server{
		Handler:           g.routes(api),
		ReadHeaderTimeout: cfg.Server.ReadHeaderTimeout,
		ReadTimeout:       cfg.Server.ReadTimeout,
		WriteTimeout:      cfg.Server.WriteTimeout,
		IdleTimeout:       cfg.Server.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		TLSConfig:         &tls.Config{MinVersion: tls.VersionTLS12},
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		g.Close()
		return nil, fmt.Errorf("listen: %w", err)
	}
	g.ln = ln
	return g, nil
}

// openEngine opens the targets' connectors and creates the engine.
func (g *Gateway) openEngine(ctx context.Context, pol *policy.Policy, tune func(*engine.Options)) error {
	g.conns = map[string]targets.Connector{}
	ec := g.cfg.Engine
	// A target that cannot be reached is opened again in the background,
	// with the backoff of the engine's retries.
	retry := targets.Retry{Base: ec.BackoffBase, Max: ec.BackoffMax, Logger: g.log}
	pts := map[string]*policy.Target{}
	for _, t := range pol.Targets() {
		pts[t.Name()] = t
	}
	for _, tc := range g.cfg.Connectors() {
		c, err := g.types.Build(ctx, tc, targetEnv(tc.Name, pts[tc.Name], g.log), retry)
		if err != nil {
			return err
		}
		g.conns[tc.Name] = c
	}
	opts := engine.Options{Store: g.store, Policy: pol, Connectors: g.conns, Logger: g.log, Registerer: g.reg,
		Concurrency: ec.Concurrency, MaxAttempts: ec.MaxAttempts, MaxAge: ec.MaxAge, BackoffBase: ec.BackoffBase, BackoffMax: ec.BackoffMax}
	if g.shared() { // operations are claimed in this replica's name
		opts.Replica, opts.ClaimTTL = g.replica, g.cfg.Store.LeaseTTL
	}
	if tune != nil {
		tune(&opts)
	}
	e, err := engine.New(opts)
	if err != nil {
		return err
	}
	g.engine = e
	return nil
}

// openAlerts creates the alert evaluator over the engine, the store, the
// Entra client and the notifications' sender.
func (g *Gateway) openAlerts(tune func(*alert.Options)) error {
	if g.sender == nil {
		return errors.New("alerts: the alerts section needs the notifications section (their channels)")
	}
	o := alert.Options{Config: *g.cfg.Alerts, Store: g.store, Sender: g.sender, Templates: g.templates, Engine: g.engine, Logger: g.log, Registerer: g.reg}
	if g.entra != nil {
		o.Entra = g.entra // never a typed nil
	}
	if tune != nil {
		tune(&o)
	}
	ev, err := alert.New(o)
	if err != nil {
		return fmt.Errorf("alerts: %w", err)
	}
	g.alerts = ev
	g.log.Info("alerts enabled", "rules", len(o.Config.Rules))
	return nil
}

// openGuests compiles the guest rules and creates the lifecycle, after
// the engine its blocks and deletes go through, before the planner that
// calls its OnChanges runs (Serve).
func (g *Gateway) openGuests(tune func(*guest.LifecycleOptions)) error {
	rules, err := guest.Compile(*g.cfg.Guests, g.cfg.GuestOptions())
	if err != nil {
		return fmt.Errorf("guests: %w", err)
	}
	o := guest.LifecycleOptions{Store: g.store, Rules: rules, Engine: g.engine, Sender: g.sender, Templates: g.templates,
		Logger: g.log, Registerer: g.reg}
	if g.entra != nil {
		o.Entra = g.entra // never a typed nil
	}
	if tune != nil {
		tune(&o)
	}
	if g.guests, err = guest.NewLifecycle(o); err != nil {
		return fmt.Errorf("guests: %w", err)
	}
	g.log.Info("guest lifecycle enabled", "rules", len(rules.Config().Rules), "grace", rules.Grace())
	return nil
}

// openReviews creates the access reviews' service, after the engine its
// denials' holds go through and the guest lifecycle it approves and
// denies guests with: guests are who the guest rules say (else userType
// Guest), sign-ins are read from Entra when its section reads them.
func (g *Gateway) openReviews(ctx context.Context, pol *policy.Policy, tune func(*review.Options)) error {
	o := review.Options{Store: g.store, Definitions: g.cfg.Reviews, Policy: pol, Engine: g.engine, Sender: g.sender,
		Templates: g.templates, Logger: g.log, Check: g.cfg.CheckReview}
	if g.guests != nil {
		o.Guests = g.guests // never a typed nil
		rules, err := guest.Compile(*g.cfg.Guests, g.cfg.GuestOptions())
		if err != nil {
			return fmt.Errorf("reviews: %w", err)
		}
		o.IsGuest = func(u map[string]any, groups []policy.GroupRef) bool {
			ok, _ := rules.Classify(u, groups)
			return ok
		}
	}
	if g.entra != nil && g.cfg.Entra.Features.SignInActivity {
		o.Entra = g.entra
	}
	if g.entra != nil {
		o.Owners = g.entra // the reviewers of type groupOwners
	}
	// The notices carry a one-time link to the reviewer's page.
	o.URL = func(reviewer string) string { return g.reviewWeb.Link(reviewer) }
	if tune != nil {
		tune(&o)
	}
	key, err := ensureToken(filepath.Join(g.cfg.DataDir, ReviewKeyFile))
	if err != nil {
		return fmt.Errorf("reviews: %w", err)
	}
	if g.shared() {
		// Every replica signs and checks the links and sessions with
		// the same key: the first replica's, kept in the database.
		b, err := g.store.EnsureKey(ctx, ReviewKeyFile, []byte(key))
		if err != nil {
			return fmt.Errorf("reviews: %w", err)
		}
		key = string(b)
	}
	if g.reviews, err = review.New(o); err != nil {
		return fmt.Errorf("reviews: %w", err)
	}
	if err := g.reviews.LoadDefinitions(ctx); err != nil { // those defined through the admin API
		return fmt.Errorf("reviews: %w", err)
	}
	g.reviewWeb, err = reviewweb.New(reviewweb.Options{Reviews: g.reviews, Store: g.store, Key: []byte(key),
		Admin: func(r *http.Request, token string) (string, error) {
			r = r.Clone(r.Context())
			r.Header.Set("Authorization", "Bearer "+token)
			return g.admin.Check(r) // the admin API's tokens, limited per address like its requests
		},
		BaseURL: func() string { return strings.TrimSuffix(g.BaseURL(), g.cfg.SCIM.BasePath) },
		Secure:  strings.HasPrefix(g.cfg.PublicURL, "https://"), Logger: g.log})
	if err != nil {
		return fmt.Errorf("reviews: %w", err)
	}
	g.log.Info("access reviews enabled", "reviews", len(o.Definitions))
	return nil
}

// openRunner compiles the workflows, reading their webhooks' secrets,
// and creates their runner, before the engine whose planner calls its
// OnChanges.
func (g *Gateway) openRunner(tune func(*workflow.Options)) error {
	co := g.cfg.WorkflowOptions()
	if g.templates != nil {
		co.Templates = g.templates.Names() // templates_dir's included
	}
	wfs, err := workflow.Compile(g.cfg.Workflows, co)
	if err != nil {
		return err
	}
	o := workflow.Options{Store: g.store, Workflows: wfs, Sender: g.sender, Templates: g.templates, Logger: g.log, Registerer: g.reg}
	o.CallbackURL = func(token string) string {
		return strings.TrimSuffix(g.BaseURL(), g.cfg.SCIM.BasePath) + callbackPath + token
	}
	if g.cfg.Alerts != nil {
		o.OnTaskFailed = func(ctx context.Context, run store.WorkflowRun, task store.WorkflowTask) {
			if err := g.alerts.ObserveTaskFailed(ctx, run, task); err != nil {
				g.log.Error("alerts: recording a failed workflow task", "run", run.ID, "err", err)
			}
		}
	}
	if g.entra != nil {
		o.Entra = g.entra // never a typed nil
	}
	if tune != nil {
		tune(&o)
	}
	if g.runner, err = workflow.New(o); err != nil {
		return err
	}
	g.log.Info("lifecycle workflows enabled", "workflows", len(wfs), "email", g.sender != nil)
	return nil
}

// targetEnv is what the connector of the target name is told: its name,
// the gateway's logger and the target attributes the users and groups
// mappings of its policy t write (those derived from the connector's own
// rules included).
func targetEnv(name string, t *policy.Target, log *slog.Logger) targets.Env {
	attrs := map[targets.Kind][]string{}
	if t == nil {
		return targets.Env{Name: name, Logger: log, Attributes: attrs}
	}
	if a := t.Attributes(false); len(a) > 0 {
		attrs[targets.User] = a
	}
	if a := t.Attributes(true); len(a) > 0 {
		attrs[targets.Group] = a
	}
	return targets.Env{Name: name, Logger: log, Attributes: attrs}
}

// Addr is the address the gateway listens on.
func (g *Gateway) Addr() string { return g.ln.Addr().String() }

// BaseURL is the URL of the SCIM service as seen from this host.
func (g *Gateway) BaseURL() string {
	if g.cfg.PublicURL != "" {
		return strings.TrimRight(g.cfg.PublicURL, "/") + g.cfg.SCIM.BasePath
	}
	scheme := "http"
	if g.cfg.TLS.Enabled() {
		scheme = "https"
	}
	return scheme + "://" + g.Addr() + g.cfg.SCIM.BasePath
}

// Serve answers requests until ctx is done, then stops taking new requests,
// finishes those in flight (bounded by server.shutdown_timeout) and closes
// the store. It returns nil after a clean shutdown.
func (g *Gateway) Serve(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() {
		var err error
		if g.cfg.TLS.Enabled() {
			err = g.srv.ServeTLS(g.ln, g.cfg.TLS.CertFile, g.cfg.TLS.KeyFile)
		} else {
			err = g.srv.Serve(g.ln)
		}
		errc <- err
	}()
	// The background work runs here, or on the replica that holds the
	// lease (leader.go); stopped by Close, after the last request.
	lctx, stopLead := context.WithCancel(context.WithoutCancel(ctx))
	led := make(chan struct{})
	go func() { defer close(led); g.lead(lctx) }()
	g.stopLead = func() { stopLead(); <-led }
	g.log.Info("scimgate serving", "scim", g.BaseURL(), "tls", g.cfg.TLS.Enabled(), "data_dir", g.cfg.DataDir, "targets", len(g.conns))
	select {
	case err := <-errc:
		g.Close()
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	g.draining.Store(true)
	g.log.Info("shutting down: finishing in-flight requests", "timeout", g.cfg.Server.ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), g.cfg.Server.ShutdownTimeout)
	defer cancel()
	err := g.srv.Shutdown(sctx)
	g.Close()
	if err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	g.log.Info("stopped")
	return nil
}

// checkWritable refuses a data directory the gateway cannot write (read-only
// file system, no permission, full disk): SQLite would open its database
// read-only and every SCIM write would fail. It writes, syncs and removes a
// file, as the store's commits do.
func checkWritable(dir string) error {
	f, err := os.CreateTemp(dir, ".write-check-*")
	if err != nil {
		return fmt.Errorf("data_dir %s: the gateway cannot write there: %w", dir, err)
	}
	_, err = f.Write([]byte("scimgate\n"))
	err = errors.Join(err, f.Sync(), f.Close(), os.Remove(f.Name()))
	if err != nil {
		return fmt.Errorf("data_dir %s: the gateway cannot write there: %w", dir, err)
	}
	return nil
}

// Close stops the engine and releases the connectors, the store and the
// authenticator. Serve calls it.
func (g *Gateway) Close() {
	if g.stopLead != nil {
		g.stopLead() // the background work, and the lease
		g.stopLead = nil
	}
	if g.auth != nil {
		g.auth.Close()
	}
	if g.admin != nil {
		g.admin.Close()
	}
	if g.alerts != nil {
		g.alerts.Close() // before the engine it reads
	}
	if g.reviews != nil {
		g.reviews.Close() // before the guest lifecycle, the engine and the Entra client it calls
	}
	if g.guests != nil {
		g.guests.Close() // before the engine and the Entra client it calls
	}
	if g.runner != nil {
		g.runner.Close() // before the engine and the Entra client it calls
	}
	if g.engine != nil {
		g.engine.Close()
	}
	if g.entra != nil {
		_ = g.entra.Close()
	}
	for name, c := range g.conns {
		if err := c.Close(context.Background()); err != nil {
			g.log.Error("closing target", "target", name, "err", err)
		}
	}
	if g.store != nil {
		if err := g.store.Close(); err != nil {
			g.log.Error("closing store", "err", err)
		}
	}
}

func (g *Gateway) routes(api http.Handler) http.Handler {
	reg := g.reg
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "scimgate_background_running",
			Help: "1 while this replica runs the background work (the engine, workflows, alerts, guests, reviews), else 0.",
		}, func() float64 {
			if g.leading.Load() {
				return 1
			}
			return 0
		}))
	// Every label comes from a closed set (methodLabel, endpointLabel,
	// codeLabel), so that no request, authenticated or not, adds a series.
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "scimgate_scim_requests_total",
		Help: "SCIM requests by method (GET, POST, PUT, PATCH, DELETE or other), resource endpoint and status class (1xx to 5xx).",
	}, []string{"method", "endpoint", "code"})
	latency := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "scimgate_scim_request_duration_seconds", Help: "SCIM request latency.",
		Buckets: []float64{.0005, .001, .002, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
	}, []string{"method", "endpoint"})
	reg.MustRegister(requests, latency)

	base := g.cfg.SCIM.BasePath
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if g.draining.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`{"status":"shutting down"}`))
			return
		}
		if err := g.store.Health(); err != nil {
			// The operator reads the cause in the log; the probe names
			// the failing component without the path or the error text.
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`{"status":"store cannot write","store":"unavailable"}`))
			return
		}
		if !g.shared() {
			_, _ = w.Write([]byte(`{"status":"ok"}`))
			return
		}
		// A replica says whether it reaches the shared database, and
		// whether it runs the background work.
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := g.store.Ping(ctx); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`{"status":"store unreachable","store":"unavailable"}`))
			return
		}
		_, _ = fmt.Fprintf(w, `{"status":"ok","background":%t}`, g.leading.Load())
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	// The audit log names the SCIM credential of every change.
	scimHandler := g.auth.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		api.ServeHTTP(w, r.WithContext(store.WithActor(r.Context(), "scim: "+auth.Principal(r.Context()))))
	}))
	g.adminRoutes(mux, g.admin)
	if g.runner != nil {
		mux.HandleFunc("POST "+callbackPath+"{token}", g.workflowCallback)
	}
	if g.reviewWeb != nil {
		mux.Handle(reviewweb.Path, g.reviewWeb)
	}
	instrumented := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		scimHandler.ServeHTTP(sw, r)
		method, ep := methodLabel(r.Method), endpointLabel(strings.TrimPrefix(r.URL.Path, base))
		requests.WithLabelValues(method, ep, codeLabel(sw.status)).Inc()
		latency.WithLabelValues(method, ep).Observe(time.Since(start).Seconds())
		if sw.status >= 500 {
			g.log.Warn("scim request failed", "method", method, "path", r.URL.Path, "status", sw.status)
		} else {
			g.log.Debug("scim request", "method", method, "path", r.URL.Path, "status", sw.status, "duration", time.Since(start))
		}
	})
	if base == "" || base == "/" {
		mux.Handle("/", instrumented)
	} else {
		mux.Handle(base+"/", instrumented)
		mux.Handle(base, instrumented)
	}
	return mux
}

// endpointLabel keeps metric label cardinality fixed.
func endpointLabel(path string) string {
	first, _, _ := strings.Cut(strings.TrimPrefix(path, "/"), "/")
	switch first {
	case "Users", "Groups", "Bulk", "Schemas", "ResourceTypes", "ServiceProviderConfig", ".search":
		return first
	}
	return "other"
}

// methodLabel keeps metric label cardinality fixed: the methods SCIM uses,
// every other one (whatever the client sent) as "other".
func methodLabel(method string) string {
	switch method {
	case http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
		return method
	}
	return "other"
}

// codeLabel keeps metric label cardinality fixed: the status class, "2xx"
// for 200 to 299 and so on, "other" outside 100-599.
func codeLabel(status int) string {
	if status < 100 || status > 599 {
		return "other"
	}
	return fmt.Sprintf("%dxx", status/100)
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// pruneEvery is how often entries past audit.retention are removed.
const pruneEvery = time.Hour

// pruneAudit removes the audit entries older than audit.retention, at once
// and then every pruneEvery, until ctx ends.
func (g *Gateway) pruneAudit(ctx context.Context) {
	for {
		var n int
		err := g.store.Write(ctx, func(ctx context.Context, tx store.Tx) error {
			var err error
			n, err = tx.PruneAudit(ctx, time.Now().Add(-g.cfg.Audit.Retention))
			return err
		})
		switch {
		case err != nil && ctx.Err() == nil:
			g.log.Error("pruning the audit log", "err", err)
		case n > 0:
			g.log.Info("audit log pruned", "entries", n, "retention", g.cfg.Audit.Retention)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(pruneEvery):
		}
	}
}

// ensureToken reads the generated token file or creates it.
func ensureToken(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err == nil && len(strings.TrimSpace(string(b))) > 0 {
		return strings.TrimSpace(string(b)), nil
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("reading %s: %w", path, err)
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", err
	}
	tok := base64.RawURLEncoding.EncodeToString(raw)
	if err := os.WriteFile(path, []byte(tok+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("writing %s: %w", path, err)
	}
	return tok, nil
}

// ReviewKeyFile is the file under the data directory holding the key
// that signs the reviewer page's sign-in links and sessions, generated
// once.
const ReviewKeyFile = "review-key"

// callbackPath is where the receivers of webhook tasks with callback
// complete them: POST /workflow-callbacks/{token}.
const callbackPath = "/workflow-callbacks/"

// workflowCallback completes a webhook task that waits for its callback:
// the one-time token in the path is its credential (no other);
// {"status": "completed"|"failed", "message": "..."}. 204; 404 for a
// token no task waits for; 400 for a bad body.
func (g *Gateway) workflowCallback(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Status  string `json:"status"`
		Message string `json:"message"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	if err := dec.Decode(&body); err != nil || body.Status != "completed" && body.Status != "failed" {
		http.Error(w, `want a JSON body {"status": "completed" or "failed", "message": "..."}`, http.StatusBadRequest)
		return
	}
	err := g.runner.Complete(r.Context(), r.PathValue("token"), body.Status == "completed", body.Message)
	switch {
	case errors.Is(err, workflow.ErrUnknownCallback):
		http.Error(w, "no task waits for this callback", http.StatusNotFound)
	case err != nil:
		g.log.Error("workflow callback", "err", err) // never the token
		http.Error(w, "internal error", http.StatusInternalServerError)
	default:
		w.WriteHeader(http.StatusNoContent)
	}
}
