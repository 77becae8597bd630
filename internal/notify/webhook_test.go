package notify_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/scimgate/scimgate/internal/hooktest"
	"github.com/scimgate/scimgate/internal/notify"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// secretPath is the credential part of a webhook URL (as in Teams' and
// Slack's), which must never be logged nor be in an error.
const secretPath = "/services/T000/B000/XXsecretXX"

const hookSecret = "hook-signing-key-0123456789"

// alert is a message with characters each format must escape and more
// facts than one Slack section holds.
var alert = notify.Message{
	Title: "Target hr-ldap down",
	Text:  "The target <hr-ldap> has been down for 65 minutes & counting.",
	Facts: func() [][2]string {
		f := [][2]string{{"target", "hr-ldap"}, {"since", "2026-05-04T08:55:00Z"}}
		for i := range 10 {
			f = append(f, [2]string{fmt.Sprintf("queued%d", i), strconv.Itoa(i * 10)})
		}
		return f
	}(),
}

// webhookNotifier returns a Notifier with one channel per format, posting
// to srv, signed with hookSecret (from an environment variable).
func webhookNotifier(t *testing.T, srv *hooktest.Server, logs *bytes.Buffer) *notify.Notifier {
	t.Helper()
	t.Setenv("HOOK_SECRET", hookSecret)
	var hooks []notify.Webhook
	for _, f := range []string{notify.FormatJSON, notify.FormatTeams, notify.FormatSlack} {
		hooks = append(hooks, notify.Webhook{Name: f, URL: srv.URL + secretPath + "?sig=" + f, Format: f, SecretEnv: "HOOK_SECRET"})
	}
	hooks = append(hooks, notify.Webhook{Name: "Unsigned", URL: srv.URL + "/unsigned"})
	if logs == nil {
		logs = new(bytes.Buffer)
	}
	n, err := notify.New(notify.Config{Webhooks: hooks}, notify.Options{RootCAs: srv.CertPool(), Now: now,
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return n
}

// TestNotifyFormats: each format posts its payload (golden files), signed
// so that the receiver verifies it with notify.Verify.
func TestNotifyFormats(t *testing.T) {
	srv := hooktest.Start(t, hookSecret, now)
	n := webhookNotifier(t, srv, nil)
	for i, format := range []string{notify.FormatJSON, notify.FormatTeams, notify.FormatSlack} {
		t.Run(format, func(t *testing.T) {
			if err := n.Notify(t.Context(), format, alert); err != nil {
				t.Fatalf("Notify: %v", err)
			}
			req := srv.Wait(t, i+1)[i]
			if req.SignatureErr != nil {
				t.Errorf("signature: %v", req.SignatureErr)
			}
			if req.Method != http.MethodPost || req.Path != secretPath || req.Header.Get("Content-Type") != "application/json" {
				t.Errorf("%s %s %s", req.Method, req.Path, req.Header.Get("Content-Type"))
			}
			if ts := req.Header.Get(notify.TimestampHeader); ts != strconv.FormatInt(clock.Unix(), 10) {
				t.Errorf("timestamp %q", ts)
			}
			if want := notify.Sign(hookSecret, clock, req.Body); req.Header.Get(notify.SignatureHeader) != want {
				t.Errorf("signature %q, want %q", req.Header.Get(notify.SignatureHeader), want)
			}
			var pretty bytes.Buffer
			if err := json.Indent(&pretty, req.Body, "", "  "); err != nil {
				t.Fatalf("body is not JSON: %v\n%s", err, req.Body)
			}
			pretty.WriteByte('\n')
			golden(t, "payload_"+format+".json", pretty.Bytes())
			if b, err := notify.Payload(format, alert); err != nil || !bytes.Equal(b, req.Body) {
				t.Errorf("Payload = %s, %v; want the body posted", b, err)
			}
		})
	}
	t.Run("unsigned, refused by the receiver", func(t *testing.T) {
		err := n.Notify(t.Context(), "unsigned", notify.Message{Text: "no title"})
		if !errors.Is(err, notify.ErrPermanent) || !strings.Contains(err.Error(), "HTTP 401") {
			t.Errorf("Notify = %v; want the receiver's 401, permanent", err)
		}
		req := srv.Wait(t, 4)[3]
		if req.Header.Get(notify.SignatureHeader) != "" || req.Header.Get(notify.TimestampHeader) != "" {
			t.Errorf("an unsigned channel signed: %v", req.Header)
		}
		if !errors.Is(req.SignatureErr, notify.ErrSignature) {
			t.Errorf("receiver's verdict: %v", req.SignatureErr)
		}
		if string(req.Body) != `{"title":"","text":"no title"}` {
			t.Errorf("body %s", req.Body)
		}
	})
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	file := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(file, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (run go test -update to write it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs:\n got %s\nwant %s", file, got, want)
	}
}

// TestNotifyFailures: 429 and 5xx are transient (Retry-After kept), other
// 4xx and 3xx permanent, as are an unknown channel and an empty message;
// a receiver that is down is transient. No error nor log line holds the
// URL's credential or the signing key.
func TestNotifyFailures(t *testing.T) {
	for _, tc := range []struct {
		name       string
		status     int
		header     http.Header
		channel    string
		msg        notify.Message
		want       error
		retryAfter time.Duration
		text       string
	}{
		{name: "429 with Retry-After seconds", status: 429, header: http.Header{"Retry-After": {"120"}},
			want: notify.ErrTransient, retryAfter: 2 * time.Minute, text: `webhook "json": HTTP 429 Too Many Requests (retry after 2m0s)`},
		{name: "503 with Retry-After date", status: 503, header: http.Header{"Retry-After": {clock.Add(90 * time.Second).Format(http.TimeFormat)}},
			want: notify.ErrTransient, retryAfter: 90 * time.Second, text: "HTTP 503"},
		{name: "500", status: 500, want: notify.ErrTransient, text: "HTTP 500"},
		{name: "400", status: 400, want: notify.ErrPermanent, text: "HTTP 400"},
		{name: "404", status: 404, want: notify.ErrPermanent, text: "HTTP 404"},
		{name: "redirect not followed", status: 302, header: http.Header{"Location": {"https://example.com/"}}, want: notify.ErrPermanent, text: "HTTP 302"},
		{name: "unknown channel", channel: "nowhere", want: notify.ErrPermanent, text: `webhook "nowhere": no such channel`},
		{name: "empty message", msg: notify.Message{Facts: [][2]string{{"a", "b"}}}, want: notify.ErrPermanent, text: "neither title nor text"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := hooktest.Start(t, hookSecret, now)
			var logs bytes.Buffer
			n := webhookNotifier(t, srv, &logs)
			if tc.status != 0 {
				srv.Respond(1, tc.status, tc.header)
			}
			channel, msg := tc.channel, tc.msg
			if channel == "" {
				channel = "JSON" // names are case-insensitive
			}
			if msg.Title == "" && msg.Text == "" && msg.Facts == nil {
				msg = alert
			}
			err := n.Notify(t.Context(), channel, msg)
			checkFailure(t, err, tc.want, tc.text, &logs)
			if d, ok := notify.RetryAfter(err); d != tc.retryAfter || ok != (tc.retryAfter > 0) {
				t.Errorf("RetryAfter = %v, %v; want %v", d, ok, tc.retryAfter)
			}
		})
	}
	t.Run("receiver down", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		t.Setenv("HOOK_SECRET", hookSecret)
		var logs bytes.Buffer
		n, err := notify.New(notify.Config{Webhooks: []notify.Webhook{{Name: "down", URL: "https://" + addr + secretPath, SecretEnv: "HOOK_SECRET"}}},
			notify.Options{Now: now, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
		if err != nil {
			t.Fatal(err)
		}
		checkFailure(t, n.Notify(t.Context(), "down", alert), notify.ErrTransient, "connection refused", &logs)
	})
}

func checkFailure(t *testing.T, err, want error, text string, logs *bytes.Buffer) {
	t.Helper()
	other := notify.ErrPermanent
	if want == notify.ErrPermanent {
		other = notify.ErrTransient
	}
	if !errors.Is(err, want) || errors.Is(err, other) || !strings.Contains(err.Error(), text) {
		t.Fatalf("Notify = %v; want %v with %q", err, want, text)
	}
	for _, secret := range []string{"XXsecretXX", "sig=", hookSecret} {
		if strings.Contains(err.Error(), secret) || strings.Contains(logs.String(), secret) {
			t.Errorf("%q is in the error or the logs: %v\n%s", secret, err, logs)
		}
	}
}

// TestSignVerify: Verify accepts what Sign signed, within the window,
// and nothing else.
func TestSignVerify(t *testing.T) {
	body := []byte(`{"title":"x"}`)
	signed := func(secret string, at time.Time, body []byte) http.Header {
		h := http.Header{}
		h.Set(notify.TimestampHeader, strconv.FormatInt(at.Unix(), 10))
		h.Set(notify.SignatureHeader, notify.Sign(secret, at, body))
		return h
	}
	if got := notify.Sign("key", time.Unix(1700000000, 0), body); got != "sha256=735a60d2244caa3bf59471c72ee77c8f26ebd5848b5b4ababc452e26d044a3c6" {
		// hex(HMAC-SHA256("key", "1700000000." + body)), computed with openssl:
		// printf '1700000000.{"title":"x"}' | openssl dgst -sha256 -hmac key
		t.Errorf("Sign = %s", got)
	}
	for _, tc := range []struct {
		name   string
		header http.Header
		body   []byte
		ok     bool
	}{
		{"valid", signed("key", clock, body), body, true},
		{"4 minutes old", signed("key", clock.Add(-4*time.Minute), body), body, true},
		{"body changed", signed("key", clock, body), []byte(`{"title":"y"}`), false},
		{"wrong key", signed("other", clock, body), body, false},
		{"too old", signed("key", clock.Add(-6*time.Minute), body), body, false},
		{"from the future", signed("key", clock.Add(6*time.Minute), body), body, false},
		{"timestamp changed", func() http.Header {
			h := signed("key", clock, body)
			h.Set(notify.TimestampHeader, strconv.FormatInt(clock.Unix()-1, 10))
			return h
		}(), body, false},
		{"no signature", http.Header{notify.TimestampHeader: {strconv.FormatInt(clock.Unix(), 10)}}, body, false},
		{"no timestamp", http.Header{notify.SignatureHeader: {notify.Sign("key", clock, body)}}, body, false},
		{"not hex", func() http.Header {
			h := signed("key", clock, body)
			h.Set(notify.SignatureHeader, "sha256=zz")
			return h
		}(), body, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := notify.Verify("key", tc.header, tc.body, clock, 5*time.Minute)
			if (err == nil) != tc.ok || err != nil && !errors.Is(err, notify.ErrSignature) {
				t.Errorf("Verify = %v; want ok %v", err, tc.ok)
			}
		})
	}
}
