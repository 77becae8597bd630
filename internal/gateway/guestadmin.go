package gateway

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/scimgate/scimgate/internal/guest"
	"github.com/scimgate/scimgate/internal/store"
	"github.com/scimgate/scimgate/targets"
)

// The guest lifecycle of the admin API (docs/admin-api.md): the guests
// with their rule, expiry, state and next step, and extensions. Extend
// audits each extension with the actor of the request.

// AdminGuest is a Guest of docs/admin-api.md.
type AdminGuest struct {
	User        string `json:"user"`
	UserName    string `json:"userName"`
	DisplayName string `json:"displayName,omitempty"`
	// Status is active, blocked, deleted, or member (no guest rule
	// matches any more; tracked while blocked or extended).
	Status string `json:"status"`
	// Rule is the guest rule that matches ("rules[0].upnExternal").
	Rule string `json:"rule,omitempty"`
	// Expiry is when access expires (absent: never) and Why the expiry
	// rule that gave it ("expiry.lifetime", "extended").
	Expiry        *time.Time      `json:"expiry,omitempty"`
	Why           string          `json:"why,omitempty"`
	ExtendedUntil *time.Time      `json:"extendedUntil,omitempty"`
	LastSignIn    *time.Time      `json:"lastSignIn,omitempty"`
	Next          *AdminGuestStep `json:"next,omitempty"`
	// Attempts and LastError are of the next step's failed attempts.
	Attempts  int    `json:"attempts,omitempty"`
	LastError string `json:"lastError,omitempty"`
}

// AdminGuestStep is a guest's next step: notice, block, unblock or
// delete, and when it is due.
type AdminGuestStep struct {
	Kind string    `json:"kind"`
	At   time.Time `json:"at"`
}

// adminGuest is the admin API's form of a record.
func adminGuest(r guest.Record) AdminGuest {
	g := AdminGuest{User: r.User, UserName: r.UserName, DisplayName: r.DisplayName, Status: r.Status(), Rule: r.Rule,
		Expiry: timeOpt(r.Expiry), Why: r.Why, ExtendedUntil: timeOpt(r.ExtendedUntil), LastSignIn: timeOpt(r.LastSignIn),
		Attempts: r.Attempts, LastError: r.LastError}
	if r.Next != nil {
		g.Next = &AdminGuestStep{Kind: string(r.Next.Kind), At: r.Next.At.UTC()}
	}
	return g
}

// errNoGuests answers the guest calls of a gateway without the guests
// section.
var errNoGuests = &adminError{status: http.StatusNotFound,
	msg: "no guest lifecycle is configured (the guests section of the configuration)"}

func (h *adminHandler) lifecycle() (*guest.Lifecycle, error) {
	if h.g.guests == nil {
		return nil, errNoGuests
	}
	return h.g.guests, nil
}

// guestList answers every guest the lifecycle tracks, by userName.
func (h *adminHandler) guestList(r *http.Request) (any, error) {
	l, err := h.lifecycle()
	if err != nil {
		return nil, err
	}
	recs, err := l.Guests(r.Context())
	if err != nil {
		return nil, err
	}
	out := make([]AdminGuest, 0, len(recs))
	for _, rec := range recs {
		out = append(out, adminGuest(rec))
	}
	slices.SortFunc(out, func(a, b AdminGuest) int {
		return cmp.Or(cmp.Compare(strings.ToLower(a.UserName), strings.ToLower(b.UserName)), cmp.Compare(a.User, b.User))
	})
	return map[string]any{"guests": out}, nil
}

// guestID resolves {user} (an id or userName) to the id of a user.
func (h *adminHandler) guestID(r *http.Request) (*guest.Lifecycle, string, error) {
	l, err := h.lifecycle()
	if err != nil {
		return nil, "", err
	}
	id, err := h.resolve(r.Context(), targets.User, r.PathValue("user"))
	return l, id, err
}

// notGuest explains the ErrNotGuest of user id, named key in the request:
// no such user at all, or a user no guest rule matches.
func (h *adminHandler) notGuest(r *http.Request, id string, err error) error {
	if !errors.Is(err, guest.ErrNotGuest) {
		return err
	}
	key := r.PathValue("user")
	if _, gerr := h.g.store.Get(r.Context(), "User", id); errors.Is(gerr, store.ErrNotFound) {
		return &adminError{status: http.StatusNotFound, msg: fmt.Sprintf("no user has the id or userName %q", key)}
	}
	return fmt.Errorf("%w: no guest rule matches %q", guest.ErrNotGuest, key)
}

func (h *adminHandler) guestShow(r *http.Request) (any, error) {
	l, id, err := h.guestID(r)
	if err != nil {
		return nil, err
	}
	rec, err := l.Guest(r.Context(), id)
	if err != nil {
		return nil, h.notGuest(r, id, err)
	}
	return adminGuest(rec), nil
}

// guestExtend extends a guest's access: the body is {"until": a date
// (2026-01-01, midnight UTC) or an RFC 3339 time} or {"for": "90d" (days)
// or a Go duration ("36h")}, counted from the lifecycle's now.
func (h *adminHandler) guestExtend(r *http.Request) (any, error) {
	l, id, err := h.guestID(r)
	if err != nil {
		return nil, err
	}
	var body struct {
		Until string `json:"until"`
		For   string `json:"for"`
	}
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		return nil, badRequest(`the body must be {"until": "2026-01-01"} or {"for": "90d"}: %v`, err)
	}
	var until time.Time
	switch {
	case (body.Until == "") == (body.For == ""):
		return nil, badRequest(`give exactly one of until (a date or an RFC 3339 time) and for ("90d", or a duration like "36h")`)
	case body.Until != "":
		if until, err = time.Parse(time.DateOnly, body.Until); err != nil {
			if until, err = time.Parse(time.RFC3339, body.Until); err != nil {
				return nil, badRequest("until: %q: want a date (2026-01-01) or an RFC 3339 time", body.Until)
			}
		}
	default:
		d, err := extension(body.For)
		if err != nil {
			return nil, err
		}
		until = l.Now().Add(d)
	}
	rec, err := l.Extend(r.Context(), id, until)
	if err != nil {
		return nil, h.notGuest(r, id, err)
	}
	return adminGuest(rec), nil
}

// maxExtensionDays bounds an extension for a number of days.
const maxExtensionDays = 3660

// extension reads the for of an extension: days ("90d") or a positive Go
// duration ("36h").
func extension(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil || days < 1 || days > maxExtensionDays {
			return 0, badRequest("for: %q: want a number of days from 1 to %d (90d), or a duration (36h)", s, maxExtensionDays)
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 || d > maxExtensionDays*24*time.Hour {
		return 0, badRequest("for: %q: want a number of days (90d), or a positive duration (36h) of at most %d days", s, maxExtensionDays)
	}
	return d, nil
}
