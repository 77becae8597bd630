package notify

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/mail"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/scimgate/scimgate/targets"
)

// TLS modes of the SMTP connection.
const (
	// TLSStartTLS upgrades the connection with STARTTLS, which the server
	// must offer (port 587 by default).
	TLSStartTLS = "starttls"
	// TLSImplicit speaks TLS from the first byte (SMTPS, port 465 by
	// default).
	TLSImplicit = "tls"
	// TLSNone sends in clear text: only to a server on localhost (port 25
	// by default).
	TLSNone = "none"
)

// Webhook payload formats.
const (
	// FormatJSON is {"title","text","facts":[{"name","value"}]}.
	FormatJSON = "json"
	// FormatTeams is an Adaptive Card message, as Microsoft Teams
	// incoming webhooks and Workflows (Power Automate) webhooks accept.
	FormatTeams = "teams"
	// FormatSlack is {"text","blocks"}, as Slack incoming webhooks accept.
	FormatSlack = "slack"
)

// Defaults of the timeouts.
const (
	DefaultSMTPTimeout    = 30 * time.Second
	DefaultWebhookTimeout = 10 * time.Second
)

// Config configures the notification channels: the notifications section
// of the gateway's configuration. Validate checks it without reading
// anything; New reads the secrets it names and the templates directory.
type Config struct {
	// SMTP is the server email is sent through; nil: no email.
	SMTP *SMTP `yaml:"smtp"`
	// Webhooks are the webhook channels, by name.
	Webhooks []Webhook `yaml:"webhooks"`
	// TemplatesDir holds templates that replace or add to the embedded
	// defaults (see Templates); "": the defaults only.
	TemplatesDir string `yaml:"templates_dir"`
}

// SMTP configures the SMTP server email is sent through.
type SMTP struct {
	// Host is the server's host name or IP address.
	Host string `yaml:"host"`
	// Port is the server's port; 0: 587 with starttls, 465 with tls, 25
	// with none.
	Port int `yaml:"port"`
	// TLS is starttls (the default), tls or none (localhost only).
	TLS string `yaml:"tls"`
	// Username enables SMTP AUTH (PLAIN) with the password in
	// PasswordEnv or PasswordFile (exactly one of them).
	Username     string `yaml:"username"`
	PasswordEnv  string `yaml:"password_env"`
	PasswordFile string `yaml:"password_file"`
	// From is the sender address, e.g. "scimgate <scimgate@example.com>".
	From string `yaml:"from"`
	// Timeout bounds one message's delivery (default 30s).
	Timeout time.Duration `yaml:"timeout"`
}

// Webhook configures one webhook channel.
type Webhook struct {
	// Name names the channel in workflows and alert rules (letters,
	// digits, '.', '_' or '-'); unique, case-insensitively.
	Name string `yaml:"name"`
	// URL is the https URL posted to (http only for loopback hosts). The
	// URLs of Teams and Slack hold a credential: only their scheme and
	// host are ever logged or put in errors.
	URL string `yaml:"url"`
	// Format is json (the default), teams or slack.
	Format string `yaml:"format"`
	// SecretEnv or SecretFile holds the key that signs each request
	// (X-Scimgate-Signature, see Sign); neither: unsigned.
	SecretEnv  string `yaml:"secret_env"`
	SecretFile string `yaml:"secret_file"`
	// Timeout bounds one request (default 10s).
	Timeout time.Duration `yaml:"timeout"`
}

// Validate reports every invalid field, each a *targets.ConfigError whose
// Field is the YAML path inside the section ("smtp.host",
// "webhooks[1].url"), joined. It reads no file or environment variable,
// and its messages hold no secret (nor a webhook URL's path or query).
func (c Config) Validate() error {
	var errs []error
	add := func(field, format string, args ...any) {
		errs = append(errs, targets.FieldError(field, format, args...))
	}
	if s := c.SMTP; s != nil {
		s.validate(add)
	}
	seen := map[string]int{}
	for i, w := range c.Webhooks {
		path := fmt.Sprintf("webhooks[%d]", i)
		if err := targets.CheckName(w.Name); err != nil {
			add(path+".name", "%v", err)
		} else if j, dup := seen[targets.NameKey(w.Name)]; dup {
			add(path+".name", "duplicate of webhooks[%d].name (names are case-insensitive)", j)
		} else {
			seen[targets.NameKey(w.Name)] = i
		}
		if w.URL == "" {
			add(path+".url", "required")
		} else if err := checkURL(w.URL); err != nil {
			add(path+".url", "%v", err)
		}
		switch w.Format {
		case "", FormatJSON, FormatTeams, FormatSlack:
		default:
			add(path+".format", "unknown format %q (want json, teams or slack)", w.Format)
		}
		if w.SecretEnv != "" && w.SecretFile != "" {
			add(path+".secret_file", "give only one of secret_env and secret_file")
		}
		if w.Timeout < 0 {
			add(path+".timeout", "must not be negative")
		}
	}
	if strings.ContainsRune(c.TemplatesDir, 0) {
		add("templates_dir", "must be a directory path")
	}
	return errors.Join(errs...)
}

func (s SMTP) validate(add func(field, format string, args ...any)) {
	switch {
	case s.Host == "":
		add("smtp.host", "required")
	case strings.ContainsFunc(s.Host, func(r rune) bool { return r <= ' ' || r >= 0x7f || strings.ContainsRune("/:@[]", r) }) &&
		net.ParseIP(s.Host) == nil:
		add("smtp.host", "%q is not a host name or IP address", s.Host)
	}
	if s.Port < 0 || s.Port > 65535 {
		add("smtp.port", "must be between 1 and 65535 (0: the default of the tls mode)")
	}
	switch s.TLS {
	case "", TLSStartTLS, TLSImplicit:
	case TLSNone:
		if s.Host != "" && !isLoopback(s.Host) {
			add("smtp.tls", "none is only allowed for a server on localhost (want starttls or tls)")
		}
	default:
		add("smtp.tls", "unknown mode %q (want starttls, tls or none)", s.TLS)
	}
	switch {
	case s.PasswordEnv != "" && s.PasswordFile != "":
		add("smtp.password_file", "give only one of password_env and password_file")
	case s.Username != "" && s.PasswordEnv == "" && s.PasswordFile == "":
		add("smtp.password_env", "required with username (or password_file)")
	case s.Username == "" && (s.PasswordEnv != "" || s.PasswordFile != ""):
		add("smtp.username", "required with a password")
	}
	if strings.ContainsAny(s.Username, "\r\n\x00") {
		add("smtp.username", "must not contain line breaks")
	}
	if s.From == "" {
		add("smtp.from", "required: the sender address")
	} else if _, err := parseAddress(s.From); err != nil {
		add("smtp.from", "%v", err)
	}
	if s.Timeout < 0 {
		add("smtp.timeout", "must not be negative")
	}
}

// parseAddress parses one email address ("a@example.com" or "Name
// <a@example.com>"), refusing line breaks (header injection).
func parseAddress(s string) (*mail.Address, error) {
	if strings.ContainsAny(s, "\r\n") {
		return nil, errors.New("an address must not contain line breaks")
	}
	a, err := mail.ParseAddress(s)
	if err != nil {
		return nil, fmt.Errorf("%q is not an email address", s)
	}
	return a, nil
}

// checkURL accepts an absolute https URL (http for loopback hosts) without
// credentials or fragment. Its errors show the scheme and host only.
func checkURL(s string) error {
	u, err := url.Parse(s)
	switch {
	case err != nil || u.Host == "":
		return errors.New("not an absolute URL")
	case u.Scheme != "https" && !(u.Scheme == "http" && isLoopback(u.Hostname())):
		return fmt.Errorf("%s://%s: must be an https URL (http only for loopback hosts)", u.Scheme, u.Host)
	case u.User != nil || u.Fragment != "":
		return fmt.Errorf("%s://%s: must not have credentials or a fragment", u.Scheme, u.Host)
	}
	return nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// origin returns scheme://host of a URL: what may be shown of it.
func origin(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "[invalid URL]"
	}
	return u.Scheme + "://" + u.Host
}

// LogValue logs the configuration without secrets: where they come from
// (variables, files), and only the origin of webhook URLs.
func (c Config) LogValue() slog.Value {
	var attrs []slog.Attr
	if s := c.SMTP; s != nil {
		sa := []slog.Attr{slog.String("host", s.Host), slog.Int("port", s.Port), slog.String("tls", s.TLS),
			slog.String("from", s.From)}
		for _, kv := range [][2]string{{"username", s.Username}, {"password_env", s.PasswordEnv}, {"password_file", s.PasswordFile}} {
			if kv[1] != "" {
				sa = append(sa, slog.String(kv[0], kv[1]))
			}
		}
		sa = append(sa, slog.Duration("timeout", s.Timeout))
		attrs = append(attrs, slog.Attr{Key: "smtp", Value: slog.GroupValue(sa...)})
	}
	if len(c.Webhooks) > 0 {
		var ws []slog.Attr
		for i, w := range c.Webhooks {
			wa := []slog.Attr{slog.String("name", w.Name), slog.String("url", origin(w.URL)), slog.String("format", w.Format)}
			for _, kv := range [][2]string{{"secret_env", w.SecretEnv}, {"secret_file", w.SecretFile}} {
				if kv[1] != "" {
					wa = append(wa, slog.String(kv[0], kv[1]))
				}
			}
			wa = append(wa, slog.Duration("timeout", w.Timeout))
			ws = append(ws, slog.Attr{Key: strconv.Itoa(i), Value: slog.GroupValue(wa...)})
		}
		attrs = append(attrs, slog.Attr{Key: "webhooks", Value: slog.GroupValue(ws...)})
	}
	if c.TemplatesDir != "" {
		attrs = append(attrs, slog.String("templates_dir", c.TemplatesDir))
	}
	return slog.GroupValue(attrs...)
}

// port returns the SMTP port, or the default of the TLS mode.
func (s SMTP) port() int {
	switch {
	case s.Port != 0:
		return s.Port
	case s.TLS == TLSImplicit:
		return 465
	case s.TLS == TLSNone:
		return 25
	}
	return 587
}
