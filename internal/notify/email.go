package notify

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/mail"
	"net/textproto"
	"strings"

	gomail "github.com/wneessen/go-mail"

	"github.com/scimgate/scimgate/targets"
)

// mailer sends email through one SMTP server.
type mailer struct {
	cfg      SMTP
	from     *mail.Address
	password string
	tls      *tls.Config
}

func newMailer(cfg SMTP, tlsConfig *tls.Config) (*mailer, error) {
	password, err := targets.ReadSecret("password", "", cfg.PasswordEnv, cfg.PasswordFile)
	if err != nil {
		return nil, fmt.Errorf("smtp: %w", err)
	}
	from, err := parseAddress(cfg.From)
	if err != nil {
		return nil, fmt.Errorf("smtp.from: %w", err)
	}
	if cfg.TLS == "" {
		cfg.TLS = TLSStartTLS
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultSMTPTimeout
	}
	t := tlsConfig.Clone()
	t.ServerName = cfg.Host
	return &mailer{cfg: cfg, from: from, password: password, tls: t}, nil
}

// client returns a go-mail client for one delivery.
func (m *mailer) client() (*gomail.Client, error) {
	opts := []gomail.Option{gomail.WithPort(m.cfg.port()), gomail.WithTimeout(m.cfg.Timeout), gomail.WithTLSConfig(m.tls)}
	switch m.cfg.TLS {
	case TLSImplicit:
		opts = append(opts, gomail.WithSSL(), gomail.WithTLSPolicy(gomail.NoTLS))
	case TLSNone:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	default:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	}
	if m.cfg.Username != "" {
		auth := gomail.SMTPAuthPlain
		if m.cfg.TLS == TLSNone { // localhost only (Validate)
			auth = gomail.SMTPAuthPlainNoEnc
		}
		opts = append(opts, gomail.WithSMTPAuth(auth), gomail.WithUsername(m.cfg.Username), gomail.WithPassword(m.password))
	}
	return gomail.NewClient(m.cfg.Host, opts...)
}

// SendEmail sends e through the configured SMTP server. An invalid
// message (no recipient, an invalid address, a line break in the subject,
// no text) is refused with ErrPermanent before anything is sent.
func (n *Notifier) sendEmail(ctx context.Context, e Email) error {
	if n.smtp == nil {
		return permanent("notify: email: no smtp server configured")
	}
	msg, err := n.message(e)
	if err != nil {
		return err
	}
	c, err := n.smtp.client()
	if err != nil {
		return permanent("notify: email: %v", err)
	}
	ctx, cancel := context.WithTimeout(ctx, n.smtp.cfg.Timeout)
	defer cancel()
	if err := c.DialAndSendWithContext(ctx, msg); err != nil {
		err = classifySMTP(err)
		n.log.WarnContext(ctx, "notify: email not sent", "email", e, "error", err)
		return err
	}
	n.log.DebugContext(ctx, "notify: email sent", "email", e)
	return nil
}

// message builds the message of e, or a permanent error.
func (n *Notifier) message(e Email) (*gomail.Msg, error) {
	if len(e.To) == 0 {
		return nil, permanent("notify: email: no recipient")
	}
	to := make([]*mail.Address, 0, len(e.To))
	for i, s := range e.To {
		a, err := parseAddress(s)
		if err != nil {
			return nil, permanent("notify: email: to[%d]: %v", i, err)
		}
		to = append(to, a)
	}
	if strings.ContainsAny(e.Subject, "\r\n") {
		return nil, permanent("notify: email: the subject must not contain line breaks")
	}
	if e.Subject == "" {
		return nil, permanent("notify: email: no subject")
	}
	if e.Text == "" {
		return nil, permanent("notify: email: no text")
	}
	msg := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	msg.FromMailAddress(n.smtp.from)
	msg.ToMailAddress(to...)
	msg.Subject(e.Subject)
	msg.SetDateWithValue(n.now())
	msg.SetMessageID()
	msg.SetBodyString(gomail.TypeTextPlain, e.Text)
	if e.HTML != "" {
		msg.AddAlternativeString(gomail.TypeTextHTML, e.HTML)
	}
	return msg, nil
}

// classifySMTP wraps an error of go-mail as transient or permanent: the
// SMTP reply code decides (4xx, 5xx); an untrusted certificate is
// permanent; anything else (connection refused or reset, timeout, a
// server without STARTTLS) transient.
func classifySMTP(err error) error {
	var se *gomail.SendError
	if errors.As(err, &se) {
		if se.IsTemp() {
			return transient("notify: email: %v", err)
		}
		return permanent("notify: email: %v", err)
	}
	var te *textproto.Error
	if errors.As(err, &te) {
		if te.Code >= 400 && te.Code < 500 {
			return transient("notify: email: %v", err)
		}
		return permanent("notify: email: %v", err)
	}
	var (
		unknownAuthority x509.UnknownAuthorityError
		hostname         x509.HostnameError
		invalid          x509.CertificateInvalidError
		verify           *tls.CertificateVerificationError
	)
	if errors.As(err, &unknownAuthority) || errors.As(err, &hostname) || errors.As(err, &invalid) || errors.As(err, &verify) {
		return permanent("notify: email: %v", err)
	}
	return transient("notify: email: %v", err)
}
