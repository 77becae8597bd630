// Package notify sends the gateway's notifications: email through an SMTP
// server and JSON webhooks (generic, or the shapes Microsoft Teams and
// Slack incoming webhooks accept), each message rendered from a template.
// Workflows (their email and webhook tasks) and alerts send through it.
//
// Errors say whether a retry may help: errors.Is(err, ErrTransient) or
// errors.Is(err, ErrPermanent), exactly one of them for every error of a
// Sender. They never hold a secret: no password, signing key, message
// body, nor the path or query of a webhook URL (which, for Teams and
// Slack, is the channel's credential).
package notify

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/scimgate/scimgate/targets"
)

// Email is one email message. Text is required; HTML is optional (sent
// as multipart/alternative). It logs without its body (LogValue), which
// may carry a Temporary Access Pass.
type Email struct {
	To      []string
	Subject string
	Text    string
	HTML    string
}

// LogValue logs the recipients and the subject, never the body.
func (e Email) LogValue() slog.Value {
	return slog.GroupValue(slog.Any("to", e.To), slog.String("subject", e.Subject))
}

// Sender delivers notifications. Its errors say whether a retry may help
// (errors.Is(err, ErrTransient)).
type Sender interface {
	// SendEmail sends e through the configured SMTP server.
	SendEmail(ctx context.Context, e Email) error
	// Notify posts a message to the named webhook channel of the
	// configuration, in that channel's format.
	Notify(ctx context.Context, channel string, m Message) error
}

// Message is a notification for a webhook channel: a title, a text, and
// facts (name, value pairs) that the formats show as they can.
type Message struct {
	Title string
	Text  string
	Facts [][2]string
}

var (
	// ErrTransient marks a failure that a later retry may overcome: a
	// network error or timeout, an SMTP 4xx reply, HTTP 429 or 5xx (see
	// RetryAfter).
	ErrTransient = errors.New("transient failure")
	// ErrPermanent marks a failure that the same retry would meet again:
	// an invalid message or address, an SMTP 5xx reply, HTTP 4xx other
	// than 429, an unknown channel, an untrusted certificate.
	ErrPermanent = errors.New("permanent failure")
)

// Options are the parts of a Notifier that are not configuration.
type Options struct {
	// RootCAs verify the SMTP server's and the webhooks' certificates;
	// nil: the system roots. Tests pass their servers' (smtptest,
	// hooktest).
	RootCAs *x509.CertPool
	// Logger receives the outcome of each send (never a body or a
	// secret); nil: slog.Default().
	Logger *slog.Logger
	// Now is the clock of signature timestamps, Date headers and
	// Retry-After dates; nil: time.Now.
	Now func() time.Time
	// Registerer, when set, receives scimgate_notifications_total.
	Registerer prometheus.Registerer
}

// Notifier is the Sender of a Config. It is safe for concurrent use.
type Notifier struct {
	smtp      *mailer
	hooks     map[string]*hook
	templates *Templates
	log       *slog.Logger
	now       func() time.Time
	sent      *prometheus.CounterVec
}

var _ Sender = (*Notifier)(nil)

// New validates cfg, reads the secrets it names (targets.ReadSecret) and
// its templates, and returns its Notifier. Nothing is sent or dialled.
func New(cfg Config, opts Options) (*Notifier, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("notify: %w", err)
	}
	n := &Notifier{hooks: map[string]*hook{}, log: opts.Logger, now: opts.Now,
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "scimgate_notifications_total",
			Help: "Notifications sent, by channel (email, or the webhook's name) and outcome (sent, transient, permanent)."},
			[]string{"channel", "outcome"})}
	if opts.Registerer != nil {
		if err := opts.Registerer.Register(n.sent); err != nil {
			return nil, fmt.Errorf("notify: metrics: %w", err)
		}
	}
	if n.log == nil {
		n.log = slog.Default()
	}
	if n.now == nil {
		n.now = time.Now
	}
	tlsConfig := &tls.Config{RootCAs: opts.RootCAs, MinVersion: tls.VersionTLS12}
	if cfg.SMTP != nil {
		m, err := newMailer(*cfg.SMTP, tlsConfig)
		if err != nil {
			return nil, fmt.Errorf("notify: %w", err)
		}
		n.smtp = m
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.TLSClientConfig = tlsConfig
	client := &http.Client{
		Transport: transport,
		// A redirect is answered as it is (3xx: permanent): the signed
		// body is never replayed elsewhere.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	for i, w := range cfg.Webhooks {
		secret, err := targets.ReadSecret("secret", "", w.SecretEnv, w.SecretFile)
		if err != nil {
			return nil, fmt.Errorf("notify: webhooks[%d]: %w", i, err)
		}
		h := &hook{name: w.Name, url: w.URL, format: w.Format, secret: secret, timeout: w.Timeout, client: client}
		if h.format == "" {
			h.format = FormatJSON
		}
		if h.timeout == 0 {
			h.timeout = DefaultWebhookTimeout
		}
		n.hooks[targets.NameKey(w.Name)] = h
	}
	t, err := LoadTemplates(cfg.TemplatesDir)
	if err != nil {
		return nil, fmt.Errorf("notify: %w", err)
	}
	n.templates = t
	return n, nil
}

// Templates returns the templates of the configuration: the defaults and
// those of templates_dir.
func (n *Notifier) Templates() *Templates { return n.templates }

// permanent and transient wrap err (which may be nil) as a failure of
// that kind, with a message prefix.
func permanent(format string, args ...any) error {
	return fmt.Errorf("%w: %w", fmt.Errorf(format, args...), ErrPermanent)
}

func transient(format string, args ...any) error {
	return fmt.Errorf("%w: %w", fmt.Errorf(format, args...), ErrTransient)
}

// SendEmail implements Sender.
func (n *Notifier) SendEmail(ctx context.Context, e Email) error {
	err := n.sendEmail(ctx, e)
	n.count("email", err)
	return err
}

// Notify implements Sender.
func (n *Notifier) Notify(ctx context.Context, channel string, m Message) error {
	err := n.notify(ctx, channel, m)
	n.count(channel, err)
	return err
}

// count counts a send by its outcome; an unknown channel counts as
// "unknown", so that labels stay the configured ones.
func (n *Notifier) count(channel string, err error) {
	if channel != "email" {
		if _, ok := n.hooks[targets.NameKey(channel)]; !ok {
			channel = "unknown"
		} else {
			channel = n.hooks[targets.NameKey(channel)].name
		}
	}
	outcome := "sent"
	switch {
	case errors.Is(err, ErrPermanent):
		outcome = "permanent"
	case err != nil:
		outcome = "transient"
	}
	n.sent.WithLabelValues(channel, outcome).Inc()
}
