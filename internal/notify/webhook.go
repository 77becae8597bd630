package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/scimgate/scimgate/targets"
)

// hook is one webhook channel.
type hook struct {
	name, url, format string
	secret            string
	timeout           time.Duration
	client            *http.Client
}

// Notify posts m to the webhook channel named channel (case-insensitive),
// in its format, signed when the channel has a secret (see Sign).
// Success is any 2xx answer.
func (n *Notifier) notify(ctx context.Context, channel string, m Message) error {
	h, ok := n.hooks[targets.NameKey(channel)]
	if !ok {
		return permanent("notify: webhook %q: no such channel", channel)
	}
	if m.Title == "" && m.Text == "" {
		return permanent("notify: webhook %q: the message has neither title nor text", h.name)
	}
	body, err := Payload(h.format, m)
	if err != nil {
		return permanent("notify: webhook %q: %v", h.name, err)
	}
	err = h.post(ctx, body, n.now)
	if err != nil {
		n.log.WarnContext(ctx, "notify: webhook not delivered", "channel", h.name, "error", err)
		return err
	}
	n.log.DebugContext(ctx, "notify: webhook delivered", "channel", h.name, "title", m.Title)
	return nil
}

// post sends body; its errors show the channel's name, never its URL.
func (h *hook) post(ctx context.Context, body []byte, now func() time.Time) error {
	ctx, cancel := context.WithTimeout(ctx, h.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.url, bytes.NewReader(body))
	if err != nil {
		return permanent("notify: webhook %q: invalid URL", h.name)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "scimgate")
	if h.secret != "" {
		ts := now()
		req.Header.Set(TimestampHeader, strconv.FormatInt(ts.Unix(), 10))
		req.Header.Set(SignatureHeader, Sign(h.secret, ts, body))
	}
	resp, err := h.client.Do(req)
	if err != nil {
		// A *url.Error holds the URL: keep only its cause.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return transient("notify: webhook %q: %v", h.name, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	switch code := resp.StatusCode; {
	case code >= 200 && code < 300:
		return nil
	case code == http.StatusTooManyRequests || code >= 500:
		return &statusError{channel: h.name, status: code, retryAfter: retryAfter(resp.Header.Get("Retry-After"), now())}
	default:
		return &statusError{channel: h.name, status: code}
	}
}

// statusError is a webhook's non-2xx answer: transient for 429 and 5xx,
// permanent otherwise.
type statusError struct {
	channel    string
	status     int
	retryAfter time.Duration
}

func (e *statusError) transient() bool {
	return e.status == http.StatusTooManyRequests || e.status >= 500
}

func (e *statusError) Error() string {
	kind := ErrPermanent
	if e.transient() {
		kind = ErrTransient
	}
	s := fmt.Sprintf("notify: webhook %q: HTTP %d %s", e.channel, e.status, http.StatusText(e.status))
	if e.retryAfter > 0 {
		s += fmt.Sprintf(" (retry after %s)", e.retryAfter)
	}
	return s + ": " + kind.Error()
}

// Is reports ErrTransient or ErrPermanent.
func (e *statusError) Is(target error) bool {
	return target == ErrTransient && e.transient() || target == ErrPermanent && !e.transient()
}

// RetryAfter returns how long the server asked to wait before a retry
// (an HTTP Retry-After of a 429 or 5xx answer), and whether it asked.
func RetryAfter(err error) (time.Duration, bool) {
	var se *statusError
	if errors.As(err, &se) && se.retryAfter > 0 {
		return se.retryAfter, true
	}
	return 0, false
}

// retryAfter parses a Retry-After value, seconds or an HTTP date; 0 when
// absent, invalid or past.
func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil {
		if s <= 0 || s > int64(24*time.Hour/time.Second) {
			return 0
		}
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// Payload returns the JSON body of m in format (json, teams or slack):
//
//   - json: {"title": ..., "text": ..., "facts": [{"name": ..., "value": ...}]}
//     (facts in order, "facts" omitted when none);
//   - teams: a message with one Adaptive Card (version 1.4) attachment: the
//     title as a bold TextBlock, the text as a wrapping TextBlock, the facts
//     as a FactSet; Microsoft Teams incoming webhooks and Workflows
//     webhooks accept it;
//   - slack: {"text": fallback, "blocks": [...]}: a header block (the
//     title), a section (the text) and sections of at most 10 fields (the
//     facts), with &, < and > escaped as Slack requires, within Slack's
//     length limits.
func Payload(format string, m Message) ([]byte, error) {
	var v any
	switch format {
	case FormatJSON, "":
		v = jsonPayload(m)
	case FormatTeams:
		v = teamsPayload(m)
	case FormatSlack:
		v = slackPayload(m)
	default:
		return nil, fmt.Errorf("unknown format %q", format)
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

type fact struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

func jsonPayload(m Message) any {
	p := struct {
		Title string `json:"title"`
		Text  string `json:"text"`
		Facts []fact `json:"facts,omitempty"`
	}{Title: m.Title, Text: m.Text}
	for _, f := range m.Facts {
		p.Facts = append(p.Facts, fact{Name: f[0], Value: f[1]})
	}
	return p
}

type object = map[string]any

func teamsPayload(m Message) any {
	var body []any
	if m.Title != "" {
		body = append(body, object{"type": "TextBlock", "text": m.Title, "weight": "Bolder", "size": "Medium", "wrap": true})
	}
	if m.Text != "" {
		body = append(body, object{"type": "TextBlock", "text": m.Text, "wrap": true})
	}
	if len(m.Facts) > 0 {
		facts := make([]any, 0, len(m.Facts))
		for _, f := range m.Facts {
			facts = append(facts, object{"title": f[0], "value": f[1]})
		}
		body = append(body, object{"type": "FactSet", "facts": facts})
	}
	return object{
		"type": "message",
		"attachments": []any{object{
			"contentType": "application/vnd.microsoft.card.adaptive",
			"contentUrl":  nil,
			"content": object{
				"$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
				"type":    "AdaptiveCard",
				"version": "1.4",
				"body":    body,
			},
		}},
	}
}

// Slack's limits: a header's text, a section's text, a field's text, the
// fields of a section.
const (
	slackHeaderMax  = 150
	slackSectionMax = 3000
	slackFieldMax   = 2000
	slackFieldsMax  = 10
)

func slackPayload(m Message) any {
	var blocks []any
	fallback := m.Title
	if m.Title != "" {
		blocks = append(blocks, object{"type": "header", "text": object{"type": "plain_text", "text": truncate(m.Title, slackHeaderMax)}})
	}
	if m.Text != "" {
		blocks = append(blocks, object{"type": "section", "text": object{"type": "mrkdwn", "text": truncate(slackEscape(m.Text), slackSectionMax)}})
		if fallback == "" {
			fallback = m.Text
		}
	}
	for i := 0; i < len(m.Facts); i += slackFieldsMax {
		var fields []any
		for _, f := range m.Facts[i:min(i+slackFieldsMax, len(m.Facts))] {
			fields = append(fields, object{"type": "mrkdwn", "text": truncate("*"+slackEscape(f[0])+"*\n"+slackEscape(f[1]), slackFieldMax)})
		}
		blocks = append(blocks, object{"type": "section", "fields": fields})
	}
	return object{"text": truncate(slackEscape(fallback), slackSectionMax), "blocks": blocks}
}

// slackEscape escapes the three characters Slack's mrkdwn reads as
// control sequences (<!channel>, links).
func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// truncate shortens s to at most n runes, ending it with "…" when cut.
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}
