package scimtarget

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scimgate/scimgate/targets"
)

// TestErrors: how the service's error responses are classified and
// reported, and the waits for Retry-After.
func TestErrors(t *testing.T) {
	get := func(ctx context.Context, c *Connector) error {
		_, err := c.Get(ctx, targets.User, "u-1")
		return err
	}
	update := func(ctx context.Context, c *Connector) error {
		return c.Update(ctx, targets.Op{ID: "op", ObjectID: "obj-u", Kind: targets.User, Anchor: "u-1", Attrs: map[string]any{"userName": "taken@contoso.com", dept: "R&D"}})
	}
	create := func(ctx context.Context, c *Connector) error {
		_, err := c.Create(ctx, targets.Op{ID: "op", ObjectID: "obj-new", Kind: targets.User, Attrs: map[string]any{"userName": "taken@contoso.com", dept: "R&D"}})
		return err
	}
	scimErr := func(status, scimType, detail string) string {
		return `{"schemas":["` + errorSchema + `"],"status":"` + status + `","scimType":"` + scimType + `","detail":"` + detail + `"}`
	}
	httpDate := time.Date(2026, 3, 1, 12, 0, 20, 0, time.UTC).Format(http.TimeFormat) // the fake clock's now + 20s
	tests := []struct {
		name      string
		noPatch   bool // the service declares no PATCH support
		respond   func(f *fakeSCIM)
		config    func(*Config)
		call      func(ctx context.Context, c *Connector) error
		deadline  time.Duration // of the call's context; 0: none
		class     error
		contains  []string
		waits     []time.Duration // Retry-After waits (no rate limit here)
		attribute string          // HTTPError.Attribute
		conflict  *targets.ConflictError
	}{
		{name: "429 with Retry-After seconds", respond: func(f *fakeSCIM) { f.respond("GET /scim/Users/u-1", 429, "", "Retry-After", "7") },
			call: get, class: targets.ErrTransient, contains: []string{"HTTP 429 Too Many Requests", "retry after 7s (Retry-After)"}, waits: []time.Duration{7 * time.Second}},
		{name: "429 with a long Retry-After waits at most 30s", respond: func(f *fakeSCIM) { f.respond("GET", 429, "", "Retry-After", "3600") },
			call: get, class: targets.ErrTransient, contains: []string{"retry after 1h0m0s"}, waits: []time.Duration{maxRetryAfterWait}},
		{name: "503 with Retry-After date", respond: func(f *fakeSCIM) { f.respond("GET", 503, scimErr("503", "", "maintenance"), "Retry-After", httpDate) },
			call: get, class: targets.ErrTransient, contains: []string{"HTTP 503 Service Unavailable: maintenance; retry after 20s"}, waits: []time.Duration{20 * time.Second}},
		{name: "503 without Retry-After", respond: func(f *fakeSCIM) { f.respond("GET", 503, "") },
			call: get, class: targets.ErrTransient, contains: []string{"HTTP 503"}},
		{name: "500", respond: func(f *fakeSCIM) { f.respond("PATCH", 500, "oops") },
			call: update, class: targets.ErrTransient, contains: []string{"PATCH /Users/u-1: HTTP 500 Internal Server Error"}},
		{name: "502 on create", respond: func(f *fakeSCIM) { f.respond("POST", 502, "<html>bad gateway</html>") },
			call: create, class: targets.ErrTransient, contains: []string{"POST /Users: HTTP 502 Bad Gateway"}},
		{name: "400 names the attribute", respond: func(f *fakeSCIM) {
			f.respond("POST", 400, scimErr("400", "invalidValue", "Value of Department is longer than 2 characters"))
		}, call: create, class: targets.ErrPermanent, attribute: dept,
			contains: []string{`attribute "` + dept + `"`, "HTTP 400 Bad Request (invalidValue): Value of Department is longer"}},
		{name: "400 on a PATCH names the attribute", respond: func(f *fakeSCIM) {
			f.respond("PATCH", 400, scimErr("400", "uniqueness", "userName is not valid"))
		}, call: update, class: targets.ErrPermanent, attribute: "userName", contains: []string{`attribute "userName"`}},
		{name: "401 with a bearer token", respond: func(f *fakeSCIM) { f.respond("GET", 401, "") },
			call: get, class: targets.ErrPermanent, contains: []string{"HTTP 401 Unauthorized"}},
		{name: "403", respond: func(f *fakeSCIM) { f.respond("GET", 403, scimErr("403", "", "not allowed")) },
			call: get, class: targets.ErrPermanent, contains: []string{"HTTP 403 Forbidden: not allowed"}},
		{name: "404 on update", respond: func(f *fakeSCIM) { f.respond("PATCH", 404, "") },
			call: update, class: targets.ErrNotFound},
		{name: "404 on delete is success", respond: func(f *fakeSCIM) { f.respond("DELETE", 404, "") },
			call: func(ctx context.Context, c *Connector) error {
				return c.Delete(ctx, targets.Op{ID: "op", Kind: targets.User, Anchor: "u-1"})
			}},
		{name: "412 on PUT", noPatch: true, respond: func(f *fakeSCIM) { f.respond("PUT", 412, "") },
			call: update, class: targets.ErrTransient, contains: []string{"HTTP 412"}},
		{name: "409 on create names the holder", respond: func(f *fakeSCIM) {
			f.respond("POST", 409, scimErr("409", "uniqueness", "userName is taken"))
			f.put(map[string]any{"id": "u-9", "userName": "taken@contoso.com", "externalId": "obj-other"})
		}, call: create, class: targets.ErrConflict, contains: []string{`anchor "u-9", object id "obj-other"`, "HTTP 409 Conflict (uniqueness)"},
			conflict: &targets.ConflictError{Anchor: "u-9", ObjectID: "obj-other"}},
		{name: "409 on update names the holder, not the object", respond: func(f *fakeSCIM) {
			f.respond("PATCH", 409, scimErr("409", "uniqueness", "taken"))
			f.put(map[string]any{"id": "u-9", "userName": "taken@contoso.com"})
		}, call: update, class: targets.ErrConflict, conflict: &targets.ConflictError{Anchor: "u-9"}},
		{name: "create of an object id that exists is a conflict", respond: func(f *fakeSCIM) {
			f.put(map[string]any{"id": "u-5", "userName": "other@contoso.com", "externalId": "obj-new"})
		}, call: create, class: targets.ErrConflict, conflict: &targets.ConflictError{Anchor: "u-5", ObjectID: "obj-new"}},
		{name: "PATCH status outside patch_status", config: func(c *Config) { c.Quirks.PatchStatus = []int{204} },
			respond: func(f *fakeSCIM) { f.PatchStatus = 200 },
			call:    update, class: targets.ErrPermanent, contains: []string{"HTTP 200, but quirks.patch_status accepts only [204]"}},
		{name: "PATCH 200 accepted by default", respond: func(f *fakeSCIM) { f.PatchStatus = 200 }, call: update},
		{name: "Retry-After within the deadline", respond: func(f *fakeSCIM) { f.respond("GET", 429, "", "Retry-After", "20") },
			call: get, deadline: 5 * time.Second, class: targets.ErrTransient, contains: []string{"retry after 20s"}},
		{name: "add of a member that does not exist", respond: func(f *fakeSCIM) {
			f.respond("PATCH", 400, scimErr("400", "invalidValue", "no such member"))
		}, call: func(ctx context.Context, c *Connector) error {
			return c.AddMembers(ctx, targets.Op{ID: "op", Kind: targets.Group, Anchor: "g-1", Members: []string{"u-1", "u-404"}})
		}, class: targets.ErrNotFound, contains: []string{"member u-404"}},
		{name: "add to a group that does not exist", call: func(ctx context.Context, c *Connector) error {
			return c.AddMembers(ctx, targets.Op{ID: "op", Kind: targets.Group, Anchor: "g-404", Members: []string{"u-1"}})
		}, class: targets.ErrNotFound},
		{name: "remove answered noTarget removes the present members", respond: func(f *fakeSCIM) {
			f.respond("PATCH", 400, scimErr("400", "noTarget", "u-404 is no member"))
		}, call: func(ctx context.Context, c *Connector) error {
			return c.RemoveMembers(ctx, targets.Op{ID: "op", Kind: targets.Group, Anchor: "g-1", Members: []string{"u-1", "u-404"}})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeSCIM{NoPatch: tt.noPatch}
			c, clk := openFake(t, f, tt.config)
			f.put(map[string]any{"id": "u-1", "userName": "grace@contoso.com", "meta": map[string]any{"version": `W/"1"`}})
			f.put(map[string]any{"id": "g-1", "displayName": "Navy", "members": []any{map[string]any{"value": "u-1"}}, "meta": map[string]any{"version": `W/"1"`}})
			if tt.respond != nil {
				tt.respond(f)
			}
			ctx := t.Context()
			if tt.deadline > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.deadline)
				defer cancel()
			}
			err := tt.call(ctx, c)
			mustClass(t, "call", err, tt.class)
			for _, s := range tt.contains {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not contain %q", err, s)
				}
			}
			waits := clk.takeWaits()
			if tt.deadline > 0 {
				if len(waits) != 1 || waits[0] > tt.deadline || waits[0] < tt.deadline-time.Second {
					t.Errorf("waits %v, want one a little under the deadline %v", waits, tt.deadline)
				}
			} else if !slices.Equal(waits, tt.waits) {
				t.Errorf("waits %v, want %v", waits, tt.waits)
			}
			var he *HTTPError
			if tt.attribute != "" && (!errors.As(err, &he) || he.Attribute != tt.attribute) {
				t.Errorf("error %v: want HTTPError.Attribute %q", err, tt.attribute)
			}
			if tt.conflict != nil {
				var ce *targets.ConflictError
				if !errors.As(err, &ce) || ce.Anchor != tt.conflict.Anchor || ce.ObjectID != tt.conflict.ObjectID {
					t.Errorf("error %v: want a conflict with anchor %q and object id %q", err, tt.conflict.Anchor, tt.conflict.ObjectID)
				}
			}
			if tt.name == "remove answered noTarget removes the present members" {
				reqs := f.requests()
				if n := len(reqs); n != 3 || !strings.Contains(string(reqs[2].body), `members[value eq \"u-1\"]`) || strings.Contains(string(reqs[2].body), "u-404") {
					t.Errorf("requests %s, want the refused PATCH, a GET, and a PATCH removing u-1 only", render(reqs))
				}
			}
		})
	}
}

// TestErrorsCarryNoSecret: neither the bearer token nor the request body
// appears in an error.
func TestErrorsCarryNoSecret(t *testing.T) {
	f := &fakeSCIM{}
	c, _ := openFake(t, f, nil)
	f.respond("POST", 400, `{"detail":"bad request"}`)
	_, err := c.Create(t.Context(), targets.Op{ID: "op", ObjectID: "o", Kind: targets.User, Attrs: map[string]any{"userName": "x", "password": "Sup3r-Secret!"}})
	mustClass(t, "Create", err, targets.ErrPermanent)
	for _, secret := range []string{fakeToken, "Sup3r-Secret!"} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error %q contains a secret", err)
		}
	}
}
