package smtptest_test

import (
	"crypto/tls"
	"net/smtp"
	"strings"
	"testing"

	"github.com/scimgate/scimgate/internal/smtptest"
)

// TestServer: with a user configured, MAIL needs AUTH (a wrong password:
// notify's TestSendEmailFailures); a base64
// multipart message is recorded with its envelope and decoded parts;
// RefuseNext refuses the next RCPT with the code given.
func TestServer(t *testing.T) {
	s := smtptest.Start(t, smtptest.Config{Username: "u", Password: "p"})
	c, err := smtp.Dial(s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.StartTLS(&tls.Config{RootCAs: s.CertPool(), ServerName: "127.0.0.1"}); err != nil {
		t.Fatalf("STARTTLS: %v", err)
	}
	if err := c.Mail("a@example.com"); err == nil || !strings.HasPrefix(err.Error(), "502") {
		t.Fatalf("MAIL before AUTH = %v; want 502", err)
	}
	if err := c.Auth(smtp.PlainAuth("", "u", "p", "127.0.0.1")); err != nil {
		t.Fatalf("AUTH: %v", err)
	}
	s.RefuseNext(1, 550)
	if err := c.Mail("a@example.com"); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("b@example.com"); err == nil || !strings.HasPrefix(err.Error(), "550") {
		t.Fatalf("RCPT = %v; want 550", err)
	}
	if err := c.Rcpt("c@example.com"); err != nil {
		t.Fatal(err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	msg := "Subject: =?UTF-8?q?Gr=C3=BC=C3=9Fe?=\r\nMIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=b\r\n\r\n" +
		"--b\r\nContent-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: base64\r\n\r\nSGVsbG8=\r\n" +
		"--b\r\nContent-Type: text/html; charset=UTF-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n<p>Hello=3D</p>\r\n--b--\r\n"
	if _, err := w.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got := s.Wait(t, 1)[0]
	if got.From != "a@example.com" || len(got.To) != 1 || got.To[0] != "c@example.com" || !got.TLS || got.User != "u" {
		t.Errorf("envelope %+v", got)
	}
	if got.Subject != "Grüße" || got.Text != "Hello" || strings.TrimSpace(got.HTML) != "<p>Hello=</p>" {
		t.Errorf("subject %q text %q html %q", got.Subject, got.Text, got.HTML)
	}
}

// TestStall: while the server stalls, a message is recorded but its
// sender gets no reply; the release lets the reply go out.
func TestStall(t *testing.T) {
	s := smtptest.Start(t, smtptest.Config{})
	release := s.Stall()
	sent := make(chan error, 1)
	go func() {
		sent <- func() error {
			c, err := smtp.Dial(s.Addr())
			if err != nil {
				return err
			}
			defer c.Close()
			if err := c.Mail("a@example.com"); err != nil {
				return err
			}
			if err := c.Rcpt("b@example.com"); err != nil {
				return err
			}
			w, err := c.Data()
			if err != nil {
				return err
			}
			if _, err := w.Write([]byte("Subject: hi\r\n\r\nhello\r\n")); err != nil {
				return err
			}
			return w.Close() // reads the reply to DATA
		}()
	}()
	if got := s.Wait(t, 1)[0]; got.Subject != "hi" {
		t.Fatalf("recorded %+v", got)
	}
	select {
	case err := <-sent:
		t.Fatalf("the sender got a reply while the server stalls: %v", err)
	default:
	}
	release()
	if err := <-sent; err != nil {
		t.Fatalf("after the release: %v", err)
	}
	release() // twice is harmless
}
