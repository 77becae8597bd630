package notify_test

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/scimgate/scimgate/internal/notify"
	"github.com/scimgate/scimgate/internal/smtptest"
)

// TestMetrics: every send is counted by channel and outcome.
func TestMetrics(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Config{})
	reg := prometheus.NewRegistry()
	n, err := notify.New(notify.Config{SMTP: &notify.SMTP{Host: srv.Host, Port: srv.Port, From: "scimgate@example.com"}},
		notify.Options{RootCAs: srv.CertPool(), Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	e := notify.Email{To: []string{"ada@example.com"}, Subject: "Hello", Text: "Hello.\n"}
	if err := n.SendEmail(t.Context(), e); err != nil {
		t.Fatal(err)
	}
	srv.RefuseNext(1, 550)
	if err := n.SendEmail(t.Context(), e); err == nil {
		t.Fatal("a refused recipient was sent")
	}
	srv.RefuseNext(1, 451)
	if err := n.SendEmail(t.Context(), e); err == nil {
		t.Fatal("a deferred recipient was sent")
	}
	if err := n.Notify(t.Context(), "nope", notify.Message{Title: "x"}); err == nil {
		t.Fatal("an unknown channel was accepted")
	}
	want := `# HELP scimgate_notifications_total Notifications sent, by channel (email, or the webhook's name) and outcome (sent, transient, permanent).
# TYPE scimgate_notifications_total counter
scimgate_notifications_total{channel="email",outcome="permanent"} 1
scimgate_notifications_total{channel="email",outcome="sent"} 1
scimgate_notifications_total{channel="email",outcome="transient"} 1
scimgate_notifications_total{channel="unknown",outcome="permanent"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "scimgate_notifications_total"); err != nil {
		t.Error(err)
	}
}
