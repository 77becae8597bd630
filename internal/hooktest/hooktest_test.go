package hooktest_test

import (
	"bytes"
	"errors"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/scimgate/scimgate/internal/hooktest"
	"github.com/scimgate/scimgate/internal/notify"
)

// TestServer: queued answers come in order, then 204; a request with a
// bad signature is recorded with its verdict and answered 401.
func TestServer(t *testing.T) {
	at := time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)
	s := hooktest.Start(t, "key", func() time.Time { return at })
	s.Respond(1, 429, http.Header{"Retry-After": {"7"}})
	s.Respond(1, 500, nil)
	post := func(secret string) *http.Response {
		t.Helper()
		body := []byte(`{}`)
		req, err := http.NewRequest(http.MethodPost, s.URL+"/hook", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set(notify.TimestampHeader, strconv.FormatInt(at.Unix(), 10))
		req.Header.Set(notify.SignatureHeader, notify.Sign(secret, at, body))
		resp, err := s.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	for i, want := range []int{429, 500, 204} {
		if resp := post("key"); resp.StatusCode != want {
			t.Errorf("request %d: %d, want %d", i, resp.StatusCode, want)
		} else if want == 429 && resp.Header.Get("Retry-After") != "7" {
			t.Errorf("Retry-After %q", resp.Header.Get("Retry-After"))
		}
	}
	if resp := post("other"); resp.StatusCode != 401 {
		t.Errorf("bad signature: %d, want 401", resp.StatusCode)
	}
	reqs := s.Wait(t, 4)
	if reqs[0].SignatureErr != nil || reqs[0].Path != "/hook" || !errors.Is(reqs[3].SignatureErr, notify.ErrSignature) {
		t.Errorf("requests %+v", reqs)
	}
}
