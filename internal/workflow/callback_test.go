package workflow

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/scimgate/scimgate/internal/hooktest"
	"github.com/scimgate/scimgate/internal/store"
)

const callbackYAML = `
- name: provision-badge
  category: custom
  trigger: {onDemand: true}
  tasks:
    - {task: webhook, url: "%s/badges", secret_env: BADGE_HOOK_SECRET, callback: true, callbackTimeout: 2h}
    - {task: sendEmail, to: user, template: welcome}
`

// TestWebhookCallback: a webhook task with callback posts a signed payload
// with a callback URL and waits; the receiver's "completed" lets the run go
// on, "failed" fails it (the next task skipped), silence fails it at the
// timeout; a token is used once and is never stored as such.
func TestWebhookCallback(t *testing.T) {
	for _, tc := range []struct {
		name     string
		complete func(w *world, token string)
		want     string // the run's status
		emails   int
		taskErr  string
	}{
		{name: "completed", want: store.WorkflowDone, emails: 1, complete: func(w *world, token string) {
			if err := w.r.Complete(w.t.Context(), token, true, "badge 4711 printed"); err != nil {
				w.t.Fatal(err)
			}
		}},
		{name: "failed", want: store.WorkflowFailed, taskErr: "the callback reported a failure: no photo", complete: func(w *world, token string) {
			if err := w.r.Complete(w.t.Context(), token, false, "no photo"); err != nil {
				w.t.Fatal(err)
			}
		}},
		{name: "timeout", want: store.WorkflowFailed, taskErr: "no callback within 2h0m0s", complete: func(w *world, token string) {
			w.now = w.now.Add(2*time.Hour + time.Minute)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("BADGE_HOOK_SECRET", "badge-hook-secret")
			var w *world
			hook := hooktest.Start(t, "badge-hook-secret", func() time.Time { return w.now })
			w = newWorldWith(t, strings.ReplaceAll(callbackYAML, "%s", hook.URL), func(w *world) {
				w.httpClient = hook.Client()
				w.callbackURL = func(token string) string { return "https://gateway.example/workflow-callbacks/" + token }
			})
			w.put("u-kim", "kim@contoso.example", nil, nil)
			if _, err := w.r.RunNow(t.Context(), "provision-badge", []string{"u-kim"}); err != nil {
				t.Fatal(err)
			}
			w.step()
			req := hook.Wait(t, 1)[0]
			if req.SignatureErr != nil {
				t.Fatalf("signature: %v", req.SignatureErr)
			}
			var p struct {
				CallbackURL string `json:"callbackUrl"`
			}
			if err := json.Unmarshal(req.Body, &p); err != nil || !strings.HasPrefix(p.CallbackURL, "https://gateway.example/workflow-callbacks/") {
				t.Fatalf("payload %s (%v): no callback URL", req.Body, err)
			}
			u, _ := url.Parse(p.CallbackURL)
			token := strings.TrimPrefix(u.Path, "/workflow-callbacks/")
			runs := w.runs("provision-badge", "u-kim")
			if len(runs) != 1 || runs[0].Tasks[0].Status != store.WorkflowWaiting || runs[0].Tasks[1].Status != store.WorkflowPending {
				t.Fatalf("before the callback: %+v", runs)
			}
			w.step() // nothing to do yet
			if got := len(w.sender.take()); got != 0 {
				t.Fatalf("%d emails sent while the webhook waits", got)
			}
			tc.complete(w, token)
			w.step()
			runs = w.runs("provision-badge", "u-kim")
			if runs[0].Status != tc.want || !strings.Contains(runs[0].Tasks[0].LastError, tc.taskErr) {
				t.Errorf("after the callback: run %s, task %+v; want %s, error %q", runs[0].Status, runs[0].Tasks[0], tc.want, tc.taskErr)
			}
			if got := len(w.sender.take()); got != tc.emails {
				t.Errorf("%d emails after the callback, want %d", got, tc.emails)
			}
			if err := w.r.Complete(t.Context(), token, true, ""); !errors.Is(err, ErrUnknownCallback) {
				t.Errorf("a used token: %v, want ErrUnknownCallback", err)
			}
			if err := w.r.Complete(t.Context(), "guess", true, ""); !errors.Is(err, ErrUnknownCallback) {
				t.Errorf("a guessed token: %v, want ErrUnknownCallback", err)
			}
		})
	}
}

// TestWebhookCallbackBeforeResponse: a receiver that calls back before it
// answers the POST (its work is quick) completes or fails the task: the
// token is recorded before the POST, and the POST's return does not put
// the task back to waiting.
func TestWebhookCallbackBeforeResponse(t *testing.T) {
	for _, tc := range []struct {
		name   string
		ok     bool
		want   string
		emails int
	}{
		{"completed", true, store.WorkflowDone, 1},
		{"failed", false, store.WorkflowFailed, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("BADGE_HOOK_SECRET", "badge-hook-secret")
			var w *world
			var completeErr error
			srv := httptest.NewTLSServer(http.HandlerFunc(func(rw http.ResponseWriter, req *http.Request) {
				var p struct {
					CallbackURL string `json:"callbackUrl"`
				}
				if err := json.NewDecoder(req.Body).Decode(&p); err != nil {
					rw.WriteHeader(400)
					return
				}
				token := p.CallbackURL[strings.LastIndex(p.CallbackURL, "/")+1:]
				completeErr = w.r.Complete(req.Context(), token, tc.ok, "done at once")
				rw.WriteHeader(http.StatusAccepted)
			}))
			t.Cleanup(srv.Close)
			w = newWorldWith(t, strings.ReplaceAll(callbackYAML, "%s", srv.URL), func(w *world) {
				w.httpClient = srv.Client()
				w.callbackURL = func(token string) string { return "https://gateway.example/workflow-callbacks/" + token }
			})
			w.put("u-kim", "kim@contoso.example", nil, nil)
			if _, err := w.r.RunNow(t.Context(), "provision-badge", []string{"u-kim"}); err != nil {
				t.Fatal(err)
			}
			w.step()
			if completeErr != nil {
				t.Fatalf("the callback during the POST: %v", completeErr)
			}
			w.step()
			runs := w.runs("provision-badge", "u-kim")
			if len(runs) != 1 || runs[0].Status != tc.want {
				t.Fatalf("runs %+v; want one, %s", runs, tc.want)
			}
			if got := len(w.sender.take()); got != tc.emails {
				t.Errorf("%d emails, want %d", got, tc.emails)
			}
		})
	}
}
