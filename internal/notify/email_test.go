package notify_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scimgate/scimgate/internal/notify"
	"github.com/scimgate/scimgate/internal/smtptest"
)

// clock is the fixed time of the tests.
var clock = time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)

func now() time.Time { return clock }

// passwordFile writes the SMTP password to a file and returns its path.
func passwordFile(t *testing.T, password string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "password")
	if err := os.WriteFile(f, []byte(password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// newNotifier returns a Notifier that sends to srv and logs into logs.
func newNotifier(t *testing.T, srv *smtptest.Server, cfg notify.SMTP, logs *bytes.Buffer) *notify.Notifier {
	t.Helper()
	cfg.Host, cfg.Port = srv.Host, srv.Port
	if cfg.From == "" {
		cfg.From = "scimgate <scimgate@example.com>"
	}
	if logs == nil {
		logs = new(bytes.Buffer)
	}
	n, err := notify.New(notify.Config{SMTP: &cfg}, notify.Options{RootCAs: srv.CertPool(), Now: now,
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return n
}

// TestSendEmail: email is delivered to a real SMTP server over STARTTLS
// with AUTH and over implicit TLS, text alone or text and HTML.
func TestSendEmail(t *testing.T) {
	const password = "s3cret-smtp-password"
	for _, tc := range []struct {
		name   string
		server smtptest.Config
		smtp   notify.SMTP
		email  notify.Email
	}{
		{name: "starttls with auth, text and html",
			server: smtptest.Config{Username: "gateway", Password: password},
			smtp:   notify.SMTP{TLS: notify.TLSStartTLS, Username: "gateway", PasswordFile: passwordFile(t, password)},
			email: notify.Email{To: []string{"Ada Lovelace <ada@example.com>", "grace@example.com"}, Subject: "Welcome, Ada — äöü",
				Text: "Hello Ada,\nwelcome.\n", HTML: "<p>Hello Ada,</p><p>welcome.</p>"}},
		{name: "implicit tls, text only",
			server: smtptest.Config{ImplicitTLS: true},
			smtp:   notify.SMTP{TLS: notify.TLSImplicit},
			email:  notify.Email{To: []string{"ada@example.com"}, Subject: "Alert", Text: "A target is down.\n"}},
		{name: "implicit tls with auth",
			server: smtptest.Config{ImplicitTLS: true, Username: "gateway", Password: password},
			smtp:   notify.SMTP{TLS: notify.TLSImplicit, Username: "gateway", PasswordFile: passwordFile(t, password)},
			email:  notify.Email{To: []string{"ada@example.com"}, Subject: "Alert", Text: "A target is down.\n", HTML: "<p>A target is down.</p>"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := smtptest.Start(t, tc.server)
			n := newNotifier(t, srv, tc.smtp, nil)
			if err := n.SendEmail(t.Context(), tc.email); err != nil {
				t.Fatalf("SendEmail: %v", err)
			}
			got := srv.Wait(t, 1)[0]
			if got.From != "scimgate@example.com" || !slices.Equal(got.To, []string{"ada@example.com", "grace@example.com"}[:len(tc.email.To)]) {
				t.Errorf("envelope from %q to %q", got.From, got.To)
			}
			if !got.TLS || got.User != tc.server.Username {
				t.Errorf("TLS %v, user %q; want TLS, user %q", got.TLS, got.User, tc.server.Username)
			}
			if got.Subject != tc.email.Subject {
				t.Errorf("Subject %q, want %q", got.Subject, tc.email.Subject)
			}
			if norm(got.Text) != norm(tc.email.Text) || norm(got.HTML) != norm(tc.email.HTML) {
				t.Errorf("text %q html %q; want %q %q", got.Text, got.HTML, tc.email.Text, tc.email.HTML)
			}
			if got.Header.Get("From") != `"scimgate" <scimgate@example.com>` {
				t.Errorf("From: %q", got.Header.Get("From"))
			}
			if d, err := got.Header.Date(); err != nil || !d.Equal(clock) {
				t.Errorf("Date: %v, %v; want %v", d, err, clock)
			}
			if ct := got.Header.Get("Content-Type"); (tc.email.HTML != "") != strings.HasPrefix(ct, "multipart/alternative") {
				t.Errorf("Content-Type %q with HTML %v", ct, tc.email.HTML != "")
			}
		})
	}
}

// norm drops the line-end differences of MIME transport.
func norm(s string) string { return strings.TrimRight(strings.ReplaceAll(s, "\r\n", "\n"), "\n") }

// TestSendEmailRefused: an invalid message is refused with ErrPermanent,
// and nothing reaches the server.
func TestSendEmailRefused(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Config{})
	n := newNotifier(t, srv, notify.SMTP{}, nil)
	ok := notify.Email{To: []string{"ada@example.com"}, Subject: "Hello", Text: "Hello"}
	for _, tc := range []struct {
		name string
		edit func(*notify.Email)
		want string
	}{
		{"no recipient", func(e *notify.Email) { e.To = nil }, "no recipient"},
		{"not an address", func(e *notify.Email) { e.To = []string{"ada@example.com", "ada"} }, `to[1]: "ada" is not an email address`},
		{"empty address", func(e *notify.Email) { e.To = []string{""} }, "to[0]"},
		{"two addresses in one", func(e *notify.Email) { e.To = []string{"a@example.com, b@example.com"} }, "to[0]"},
		{"header injection in the subject", func(e *notify.Email) { e.Subject = "Hello\r\nBcc: eve@example.com" }, "line breaks"},
		{"LF in the subject", func(e *notify.Email) { e.Subject = "Hello\nBcc: eve@example.com" }, "line breaks"},
		{"header injection in an address", func(e *notify.Email) { e.To = []string{"ada@example.com\r\nBcc: eve@example.com"} }, "line breaks"},
		{"no subject", func(e *notify.Email) { e.Subject = "" }, "no subject"},
		{"no text", func(e *notify.Email) { e.Text = "" }, "no text"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := ok
			e.To = slices.Clone(ok.To)
			tc.edit(&e)
			err := n.SendEmail(t.Context(), e)
			if !errors.Is(err, notify.ErrPermanent) || errors.Is(err, notify.ErrTransient) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("SendEmail = %v; want ErrPermanent with %q", err, tc.want)
			}
		})
	}
	if err := n.SendEmail(t.Context(), ok); err != nil {
		t.Fatalf("SendEmail: %v", err)
	}
	if msgs := srv.Wait(t, 1); len(msgs) != 1 || msgs[0].Subject != "Hello" {
		t.Errorf("delivered %d messages, want only the valid one", len(msgs))
	}
}

// TestSendEmailFailures: the server's 5xx is permanent, its 4xx and a
// server that is down transient; a wrong password and an untrusted
// certificate permanent. Errors never hold the password.
func TestSendEmailFailures(t *testing.T) {
	const password = "s3cret-smtp-password"
	down, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	downPort := down.Addr().(*net.TCPAddr).Port
	down.Close()
	for _, tc := range []struct {
		name   string
		server smtptest.Config
		smtp   notify.SMTP
		setup  func(*smtptest.Server, *notify.SMTP)
		roots  bool // trust the server
		want   error
		msg    string
	}{
		{name: "5xx refused recipient", roots: true, setup: func(s *smtptest.Server, _ *notify.SMTP) { s.RefuseNext(1, 550) },
			want: notify.ErrPermanent, msg: "550"},
		{name: "4xx try later", roots: true, setup: func(s *smtptest.Server, _ *notify.SMTP) { s.RefuseNext(1, 451) },
			want: notify.ErrTransient, msg: "451"},
		{name: "server down", roots: true, setup: func(_ *smtptest.Server, c *notify.SMTP) { c.Port = downPort },
			want: notify.ErrTransient, msg: "connection refused"},
		{name: "wrong password", roots: true, server: smtptest.Config{Username: "gateway", Password: "another"},
			smtp: notify.SMTP{Username: "gateway"}, want: notify.ErrPermanent, msg: "535"},
		{name: "untrusted certificate", want: notify.ErrPermanent, msg: "certificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := smtptest.Start(t, tc.server)
			cfg := tc.smtp
			cfg.Host, cfg.Port, cfg.From = srv.Host, srv.Port, "scimgate@example.com"
			if cfg.Username != "" {
				cfg.PasswordFile = passwordFile(t, password)
			}
			if tc.setup != nil {
				tc.setup(srv, &cfg)
			}
			opts := notify.Options{Now: now}
			if tc.roots {
				opts.RootCAs = srv.CertPool()
			}
			var logs bytes.Buffer
			opts.Logger = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			n, err := notify.New(notify.Config{SMTP: &cfg}, opts)
			if err != nil {
				t.Fatal(err)
			}
			err = n.SendEmail(t.Context(), notify.Email{To: []string{"ada@example.com"}, Subject: "Hello", Text: "Hello"})
			other := notify.ErrTransient
			if tc.want == notify.ErrTransient {
				other = notify.ErrPermanent
			}
			if !errors.Is(err, tc.want) || errors.Is(err, other) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("SendEmail = %v; want %v with %q", err, tc.want, tc.msg)
			}
			if strings.Contains(err.Error(), password) || strings.Contains(logs.String(), password) {
				t.Errorf("the password is in the error or the logs: %v\n%s", err, logs.String())
			}
			if !strings.Contains(logs.String(), "email not sent") {
				t.Errorf("the failure is not logged: %s", logs.String())
			}
			if len(srv.Messages()) != 0 {
				t.Errorf("a message was delivered")
			}
		})
	}
}

// TestSendEmailContext: a cancelled context stops the delivery, as a
// transient failure.
func TestSendEmailContext(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Config{})
	n := newNotifier(t, srv, notify.SMTP{}, nil)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err := n.SendEmail(ctx, notify.Email{To: []string{"ada@example.com"}, Subject: "Hello", Text: "Hello"})
	if !errors.Is(err, notify.ErrTransient) {
		t.Errorf("SendEmail = %v; want ErrTransient", err)
	}
	if len(srv.Messages()) != 0 {
		t.Errorf("a message was delivered")
	}
}

// TestNoSMTP: without an smtp section, email is refused as permanent.
func TestNoSMTP(t *testing.T) {
	n, err := notify.New(notify.Config{}, notify.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.SendEmail(t.Context(), notify.Email{To: []string{"ada@example.com"}, Subject: "x", Text: "x"}); !errors.Is(err, notify.ErrPermanent) {
		t.Errorf("SendEmail = %v; want ErrPermanent", err)
	}
}
