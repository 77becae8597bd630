package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/scimgate/scimgate/internal/auth"
	"github.com/scimgate/scimgate/internal/engine"
	"github.com/scimgate/scimgate/internal/guest"
	"github.com/scimgate/scimgate/internal/review"
	"github.com/scimgate/scimgate/internal/store"
	"github.com/scimgate/scimgate/internal/workflow"
	"github.com/scimgate/scimgate/scim"
	"github.com/scimgate/scimgate/targets"
)

// AdminTokenFile is the file under the data directory holding the admin
// token the gateway generates when none is configured.
const AdminTokenFile = "admin-token"

// adminPrefix is where the admin API lives (docs/admin-api.md).
const adminPrefix = "/admin/v1"

// List limits of the admin API.
const (
	adminDefaultLimit = 100
	adminMaxLimit     = 1000
)

// adminError is an admin API error: an HTTP status and a message, and
// for a 503 the Retry-After.
type adminError struct {
	status     int
	msg        string
	retryAfter time.Duration
}

func (e *adminError) Error() string { return e.msg }

func badRequest(format string, args ...any) error {
	return &adminError{status: http.StatusBadRequest, msg: fmt.Sprintf(format, args...)}
}

// adminHandler is the admin API: its own credentials (admin), the engine
// (nil without targets) and the store.
type adminHandler struct {
	g     *Gateway
	admin *auth.Authenticator
	log   *slog.Logger
	types map[string]*scim.ResourceType // User and Group, by name
}

// adminRoutes registers the admin API on mux.
func (g *Gateway) adminRoutes(mux *http.ServeMux, admin *auth.Authenticator) {
	h := &adminHandler{g: g, admin: admin, log: g.log, types: map[string]*scim.ResourceType{}}
	// The core attributes the admin API reads (userName, displayName) do
	// not depend on the extensions; New already built the types once.
	types, err := scim.ResourceTypes(g.cfg.SCIM.CustomExtensions)
	if err != nil {
		types = []*scim.ResourceType{scim.UserType(), scim.GroupType()}
	}
	for _, rt := range types {
		h.types[rt.Name] = rt
	}
	routes := map[string]func(r *http.Request) (any, error){
		"GET /targets":                                      h.targets,
		"GET /targets/{target}":                             h.target,
		"GET /targets/{target}/deadletters":                 h.deadLetters,
		"POST /targets/{target}/deadletters/{seq}/retry":    h.retry,
		"DELETE /targets/{target}/deadletters/{seq}":        h.discardDead,
		"GET /targets/{target}/held":                        h.held,
		"POST /targets/{target}/guard/release":              h.release,
		"POST /targets/{target}/guard/discard":              h.discardHeld,
		"POST /targets/{target}/resync":                     h.resyncTarget,
		"POST /targets/{target}/reconciliations":            h.startReconcile,
		"GET /targets/{target}/reconciliations":             h.reconciliations,
		"GET /targets/{target}/reconciliations/{id}":        h.reconciliation,
		"GET /{kind}/{id}":                                  h.object,
		"POST /{kind}/{id}/resync":                          h.resyncObject,
		"DELETE /Users/{id}/holds":                          h.releaseHolds,
		"GET /audit":                                        h.audit,
		"GET /entra/users/{key}":                            h.entraUser,
		"POST /entra/users/{key}/disable":                   h.entraDisable,
		"POST /entra/users/{key}/enable":                    h.entraEnable,
		"POST /entra/users/{key}/revoke":                    h.entraRevoke,
		"DELETE /entra/users/{key}":                         h.entraDelete,
		"GET /entra/groups/{id}":                            h.entraGroup,
		"POST /entra/groups/{id}/members":                   h.entraAddMember,
		"DELETE /entra/groups/{id}/members/{user}":          h.entraRemoveMember,
		"GET /entra/check":                                  h.entraCheck,
		"GET /workflows":                                    h.workflows,
		"GET /workflows/{name}":                             h.workflow,
		"POST /workflows/{name}/enable":                     h.workflowEnable,
		"POST /workflows/{name}/disable":                    h.workflowDisable,
		"POST /workflows/{name}/run":                        h.workflowRunNow,
		"GET /workflows/{name}/runs":                        h.workflowRuns,
		"GET /workflows/{name}/test":                        h.workflowTest,
		"GET /workflow-runs/{id}":                           h.workflowRun,
		"POST /workflow-runs/{id}/retry":                    h.workflowRetry,
		"GET /workflows-upcoming":                           h.workflowsUpcoming,
		"GET /guests":                                       h.guestList,
		"GET /guests/{user}":                                h.guestShow,
		"POST /guests/{user}/extend":                        h.guestExtend,
		"GET /reviews":                                      h.reviewList,
		"GET /reviews/{name}":                               h.reviewShow,
		"POST /reviews":                                     h.reviewCreate,
		"PUT /reviews/{name}":                               h.reviewUpdate,
		"DELETE /reviews/{name}":                            h.reviewDelete,
		"GET /reviews/{name}/instances":                     h.reviewInstances,
		"POST /review-instances/{id}/decisions":             h.reviewDecide,
		"POST /review-instances/{id}/items/{item}/revert":   h.reviewRevert,
		"GET /review-instances/{id}":                        h.reviewInstance,
		"GET /review-instances/{id}/items":                  h.reviewItems,
		"POST /review-instances/{id}/items/{item}/reassign": h.reviewReassign,
		"POST /review-instances/{id}/stop":                  h.reviewStop,
		"POST /review-instances/{id}/remind":                h.reviewRemind,
		"POST /review-instances/{id}/apply":                 h.reviewApply,
		"GET /review-instances/{id}/export":                 h.reviewExport,
		"POST /review-sessions/revoke":                      h.reviewSessionsRevoke,
	}
	for pattern, fn := range routes {
		method, path, _ := strings.Cut(pattern, " ")
		mux.Handle(method+" "+adminPrefix+path, h.wrap(fn))
	}
	mux.Handle(adminPrefix+"/", h.wrap(func(*http.Request) (any, error) {
		return nil, &adminError{status: http.StatusNotFound, msg: "no such admin call (see docs/admin-api.md)"}
	}))
}

// wrap authenticates the request with an admin credential, runs fn with
// the actor of the audit log in its context, and writes its result or
// error as JSON.
func (h *adminHandler) wrap(fn func(r *http.Request) (any, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		principal, err := h.admin.Check(r) // logs the bad credentials
		if retry, ok := errors.AsType[*auth.RetryError](err); ok {
			w.Header().Set("Retry-After", strconv.FormatInt(retry.Seconds(), 10))
			writeJSON(w, http.StatusTooManyRequests, map[string]any{"status": http.StatusTooManyRequests, "error": retry.Error()})
			return
		}
		if err != nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="scimgate-admin"`)
			writeJSON(w, http.StatusUnauthorized, map[string]any{"status": http.StatusUnauthorized,
				"error": "an admin token is required (admin.tokens, or the generated " + AdminTokenFile + " in the data directory)"})
			return
		}
		actor := "admin: " + principal
		r = r.WithContext(store.WithActor(r.Context(), actor))
		out, err := fn(r)
		if err != nil {
			ae := h.status(err)
			if r.Method != http.MethodGet && ae.status != http.StatusNotFound && ae.status != http.StatusBadRequest {
				h.log.Error("admin call failed", "actor", actor, "method", r.Method, "path", r.URL.Path, "err", err)
			}
			if ae.retryAfter > 0 {
				w.Header().Set("Retry-After", strconv.FormatInt(int64((ae.retryAfter+time.Second-1)/time.Second), 10))
			}
			writeJSON(w, ae.status, map[string]any{"status": ae.status, "error": ae.msg})
			return
		}
		if r.Method != http.MethodGet {
			h.log.Info("admin call", "actor", actor, "method", r.Method, "path", r.URL.Path)
		}
		if d, ok := out.(download); ok {
			w.Header().Set("Content-Type", d.contentType)
			w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", d.name))
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write(d.body)
			return
		}
		if rows, ok := out.(csvRows); ok {
			writeCSV(w, rows)
			return
		}
		writeJSON(w, http.StatusOK, out)
	})
}

// status maps an error to its HTTP status and message.
func (h *adminHandler) status(err error) *adminError {
	var ae *adminError
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.Is(err, engine.ErrUnknownTarget), errors.Is(err, engine.ErrUnknownOperation), errors.Is(err, store.ErrNotFound),
		errors.Is(err, engine.ErrUnknownReconciliation):
		return &adminError{status: http.StatusNotFound, msg: err.Error()}
	case errors.Is(err, workflow.ErrUnknownWorkflow), errors.Is(err, guest.ErrNotGuest):
		return &adminError{status: http.StatusNotFound, msg: err.Error()}
	case errors.Is(err, review.ErrInvalid):
		return &adminError{status: http.StatusBadRequest, msg: err.Error()}
	case errors.Is(err, review.ErrExists), errors.Is(err, review.ErrReadOnly):
		return &adminError{status: http.StatusConflict, msg: err.Error()}
	case errors.Is(err, review.ErrNotFound):
		return &adminError{status: http.StatusNotFound, msg: err.Error()}
	case errors.Is(err, review.ErrNotInProgress), errors.Is(err, review.ErrNotEnded), errors.Is(err, review.ErrApplied),
		errors.Is(err, review.ErrNotApplied):
		return &adminError{status: http.StatusConflict, msg: err.Error()}
	case errors.Is(err, review.ErrUnknownReviewer), errors.Is(err, review.ErrBadDecision), errors.Is(err, review.ErrNotReviewer):
		return &adminError{status: http.StatusBadRequest, msg: err.Error()}
	case errors.Is(err, guest.ErrBadExtension):
		return &adminError{status: http.StatusBadRequest, msg: err.Error()}
	case errors.Is(err, engine.ErrBadHold), errors.Is(err, engine.ErrNotProvisioned):
		return &adminError{status: http.StatusBadRequest, msg: err.Error()}
	case errors.Is(err, workflow.ErrNotRetryable):
		return &adminError{status: http.StatusConflict, msg: err.Error()}
	case errors.Is(err, engine.ErrReconcileRunning):
		return &adminError{status: http.StatusConflict, msg: err.Error()}
	case errors.Is(err, engine.ErrNotStarted):
		return &adminError{status: http.StatusServiceUnavailable, msg: "the provisioning engine is starting; try again"}
	}
	if ae := entraStatus(err); ae != nil {
		return ae
	}
	return &adminError{status: http.StatusInternalServerError, msg: "internal error: " + err.Error()}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// engine returns the engine, or a 404 when the gateway has no targets.
func (h *adminHandler) engine() (*engine.Engine, error) {
	if h.g.engine == nil {
		return nil, &adminError{status: http.StatusNotFound, msg: "no targets are configured"}
	}
	return h.g.engine, nil
}

// The JSON shapes of the admin API (docs/admin-api.md), shared with its
// client, scimgate admin.

// AdminTarget is a Target of docs/admin-api.md.
type AdminTarget struct {
	Name                 string     `json:"name"`
	Type                 string     `json:"type"`
	Health               string     `json:"health"`
	HealthError          string     `json:"healthError,omitempty"`
	Preview              bool       `json:"preview"`
	Pending              int        `json:"pending"`
	Held                 int        `json:"held"`
	GuardHolding         bool       `json:"guardHolding"`
	DeadLetters          int        `json:"deadLetters"`
	OldestPending        *time.Time `json:"oldestPending,omitempty"`
	OldestPendingSeconds float64    `json:"oldestPendingSeconds"`
	// Scheduled operations fall due later (a leaver's delete after the
	// grace period); they are not pending. NextScheduled is the earliest.
	Scheduled     int        `json:"scheduled"`
	NextScheduled *time.Time `json:"nextScheduled,omitempty"`
	// DownSince and NextProbe: while the engine holds the target's
	// operations because it is down.
	DownSince *time.Time `json:"downSince,omitempty"`
	NextProbe *time.Time `json:"nextProbe,omitempty"`
}

// timeOpt returns t in UTC, or nil when it is zero.
func timeOpt(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

func (h *adminHandler) statuses(r *http.Request) ([]AdminTarget, error) {
	e, err := h.engine()
	if err != nil {
		return nil, err
	}
	sts, err := e.Targets(r.Context())
	if err != nil {
		return nil, err
	}
	types := map[string]string{}
	for _, t := range h.g.cfg.Targets {
		types[t.Name] = t.Type
	}
	out := make([]AdminTarget, 0, len(sts))
	for _, st := range sts {
		tj := AdminTarget{Name: st.Name, Type: types[st.Name], Health: st.Health, HealthError: st.HealthError,
			Preview: st.Preview, Pending: st.Pending, Held: st.Held, GuardHolding: st.GuardHolding, DeadLetters: st.Dead,
			Scheduled: st.Scheduled, NextScheduled: timeOpt(st.NextScheduled), DownSince: timeOpt(st.DownSince), NextProbe: timeOpt(st.NextProbe)}
		if !st.Oldest.IsZero() {
			o := st.Oldest.UTC()
			tj.OldestPending, tj.OldestPendingSeconds = &o, time.Since(o).Seconds()
		}
		out = append(out, tj)
	}
	return out, nil
}

func (h *adminHandler) targets(r *http.Request) (any, error) {
	ts, err := h.statuses(r)
	if err != nil {
		return nil, err
	}
	return map[string]any{"targets": ts}, nil
}

func (h *adminHandler) target(r *http.Request) (any, error) {
	ts, err := h.statuses(r)
	if err != nil {
		return nil, err
	}
	for _, t := range ts {
		if t.Name == r.PathValue("target") {
			return t, nil
		}
	}
	return nil, fmt.Errorf("%w: %q", engine.ErrUnknownTarget, r.PathValue("target"))
}

// AdminOperation is an Operation of docs/admin-api.md.
type AdminOperation struct {
	Seq       int64      `json:"seq"`
	Target    string     `json:"target"`
	Type      string     `json:"type"`
	ID        string     `json:"id"`
	Name      string     `json:"name,omitempty"` // userName or displayName; absent when no longer in the store
	Op        string     `json:"op"`
	Attrs     []string   `json:"attrs,omitempty"`
	Members   []string   `json:"members,omitempty"`
	Attempts  int        `json:"attempts"`
	LastError string     `json:"lastError,omitempty"`
	Created   *time.Time `json:"created,omitempty"`
	NextAt    time.Time  `json:"nextAt"`
	Dead      bool       `json:"dead"`
	Held      bool       `json:"held"`
}

func operationsJSON(ctx context.Context, ops []engine.Operation, names *namer) ([]AdminOperation, error) {
	out := make([]AdminOperation, 0, len(ops))
	for _, o := range ops {
		name, err := names.name(ctx, o.Kind, o.ID)
		if err != nil {
			return nil, err
		}
		oj := AdminOperation{Seq: o.Seq, Target: o.Target, Type: o.Kind, ID: o.ID, Name: name, Op: o.Op, Attrs: o.Attrs, Members: o.Members,
			Attempts: o.Attempts, LastError: o.LastError, NextAt: o.NextAt.UTC(), Dead: o.Dead, Held: o.Held}
		if !o.Created.IsZero() {
			c := o.Created.UTC()
			oj.Created = &c
		}
		out = append(out, oj)
	}
	return out, nil
}

// namer looks up the userName or displayName of objects, each once.
type namer struct {
	h     *adminHandler
	cache map[[2]string]string
}

func (h *adminHandler) namer() *namer { return &namer{h: h, cache: map[[2]string]string{}} }

// name is the userName (users) or displayName (groups) of an object, ""
// when it is not in the store.
func (n *namer) name(ctx context.Context, typ, id string) (string, error) {
	rt := n.h.types[typ]
	if rt == nil || id == "" {
		return "", nil
	}
	key := [2]string{typ, id}
	if s, ok := n.cache[key]; ok {
		return s, nil
	}
	sr, err := n.h.g.store.Get(ctx, typ, id)
	if errors.Is(err, store.ErrNotFound) {
		n.cache[key] = ""
		return "", nil
	}
	if err != nil {
		return "", err
	}
	res, err := scim.DecodeResource(sr)
	if err != nil {
		return "", err
	}
	n.cache[key] = rt.NameOf(res)
	return n.cache[key], nil
}

// limit reads the limit query parameter.
func limit(r *http.Request) (int, error) {
	s := r.URL.Query().Get("limit")
	if s == "" {
		return adminDefaultLimit, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > adminMaxLimit {
		return 0, badRequest("limit: must be an integer from 1 to %d", adminMaxLimit)
	}
	return n, nil
}

func (h *adminHandler) deadLetters(r *http.Request) (any, error) {
	return h.operations(r, "deadLetters", (*engine.Engine).DeadLetters)
}

func (h *adminHandler) held(r *http.Request) (any, error) {
	return h.operations(r, "held", (*engine.Engine).Held)
}

// operations answers the operations that fn lists for {target}, up to the
// limit parameter, under key.
func (h *adminHandler) operations(r *http.Request, key string, fn func(*engine.Engine, context.Context, string, int) ([]engine.Operation, error)) (any, error) {
	e, err := h.engine()
	if err != nil {
		return nil, err
	}
	n, err := limit(r)
	if err != nil {
		return nil, err
	}
	ops, err := fn(e, r.Context(), r.PathValue("target"), n)
	if err != nil {
		return nil, err
	}
	out, err := operationsJSON(r.Context(), ops, h.namer())
	if err != nil {
		return nil, err
	}
	return map[string]any{key: out}, nil
}

func seq(r *http.Request) (int64, error) {
	n, err := strconv.ParseInt(r.PathValue("seq"), 10, 64)
	if err != nil || n < 1 {
		return 0, badRequest("seq: must be a positive integer (the seq of a dead letter)")
	}
	return n, nil
}

func (h *adminHandler) retry(r *http.Request) (any, error) {
	return h.deadLetter(r, "retried", (*engine.Engine).Retry)
}

func (h *adminHandler) discardDead(r *http.Request) (any, error) {
	return h.deadLetter(r, "discarded", (*engine.Engine).DiscardDead)
}

// deadLetter applies fn to the dead letter {seq} of {target}.
func (h *adminHandler) deadLetter(r *http.Request, key string, fn func(*engine.Engine, context.Context, string, int64) error) (any, error) {
	e, err := h.engine()
	if err != nil {
		return nil, err
	}
	n, err := seq(r)
	if err != nil {
		return nil, err
	}
	if err := fn(e, r.Context(), r.PathValue("target"), n); err != nil {
		return nil, err
	}
	return map[string]int{key: 1}, nil
}

// guard runs Release or Discard, refusing when nothing is held.
func (h *adminHandler) guard(r *http.Request, key string, fn func(e *engine.Engine) (int, error)) (any, error) {
	e, err := h.engine()
	if err != nil {
		return nil, err
	}
	held, err := e.Held(r.Context(), r.PathValue("target"), 1)
	if err != nil {
		return nil, err
	}
	if len(held) == 0 {
		return nil, &adminError{status: http.StatusConflict, msg: fmt.Sprintf("the deletion guard holds nothing in target %q", r.PathValue("target"))}
	}
	n, err := fn(e)
	if err != nil {
		return nil, err
	}
	return map[string]int{key: n}, nil
}

func (h *adminHandler) release(r *http.Request) (any, error) {
	return h.guard(r, "released", func(e *engine.Engine) (int, error) { return e.Release(r.Context(), r.PathValue("target")) })
}

func (h *adminHandler) discardHeld(r *http.Request) (any, error) {
	return h.guard(r, "discarded", func(e *engine.Engine) (int, error) { return e.Discard(r.Context(), r.PathValue("target")) })
}

func (h *adminHandler) resyncTarget(r *http.Request) (any, error) {
	e, err := h.engine()
	if err != nil {
		return nil, err
	}
	n, err := e.ResyncTarget(r.Context(), r.PathValue("target"))
	if err != nil {
		return nil, err
	}
	return map[string]int{"queued": n}, nil
}

// kind reads the {kind} path segment: Users or Groups.
func kind(r *http.Request) (targets.Kind, error) {
	k := r.PathValue("kind")
	if k == "" && strings.HasPrefix(r.URL.Path, adminPrefix+"/Users/") {
		k = "Users" // a route of users only
	}
	switch k {
	case "Users":
		return targets.User, nil
	case "Groups":
		return targets.Group, nil
	}
	return "", &adminError{status: http.StatusNotFound, msg: "no such admin call (objects are under /admin/v1/Users/{id} and /admin/v1/Groups/{id})"}
}

// AdminObject is an Object of docs/admin-api.md.
type AdminObject struct {
	Type    targets.Kind        `json:"type"`
	ID      string              `json:"id"`
	Name    string              `json:"name,omitempty"` // userName or displayName; absent when no longer in the store
	Exists  bool                `json:"exists"`         // still in the SCIM store
	Targets []AdminObjectTarget `json:"targets"`
	Holds   []AdminHold         `json:"holds,omitempty"` // a user's holds
}

// AdminHold is a hold over a user (docs/admin-api.md).
type AdminHold struct {
	Source string `json:"source"`
	Target string `json:"target,omitempty"` // absent: every target
	Group  string `json:"group,omitempty"`  // absent: the account
	Action string `json:"action"`
	// Until is "scim" (lapses when SCIM changes the fact it overrides)
	// or "released".
	Until   string    `json:"until"`
	Reason  string    `json:"reason,omitempty"`
	Created time.Time `json:"created"`
}

// holdsJSON converts holds for the admin API.
func holdsJSON(hs []store.Hold) []AdminHold {
	out := make([]AdminHold, 0, len(hs))
	for _, h := range hs {
		until := "released"
		if h.Basis != nil {
			until = "scim"
		}
		out = append(out, AdminHold{Source: h.Source, Target: h.Target, Group: h.Group, Action: h.Action, Until: until,
			Reason: h.Reason, Created: h.Created})
	}
	return out
}

// AdminObjectTarget is an object's state in one target (docs/admin-api.md).
type AdminObjectTarget struct {
	Target      string           `json:"target"`
	Anchor      string           `json:"anchor"`
	Present     bool             `json:"present"`
	InScope     bool             `json:"inScope"`
	Disabled    bool             `json:"disabled"`
	Deleted     bool             `json:"deleted"`
	Pending     []AdminOperation `json:"pending"`
	DeadLetters []AdminOperation `json:"deadLetters"`
	LastError   string           `json:"lastError,omitempty"`
}

func (h *adminHandler) object(r *http.Request) (any, error) {
	k, id, err := h.objectOf(r)
	if err != nil {
		return nil, err
	}
	ctx := r.Context()
	names := h.namer()
	name, err := names.name(ctx, string(k), id)
	if err != nil {
		return nil, err
	}
	exists, states, err := h.known(ctx, k, id)
	if err != nil {
		return nil, err
	}
	ts := make([]AdminObjectTarget, 0, len(states))
	for _, s := range states {
		pending, err := operationsJSON(ctx, s.Pending, names)
		if err != nil {
			return nil, err
		}
		dead, err := operationsJSON(ctx, s.Dead, names)
		if err != nil {
			return nil, err
		}
		ts = append(ts, AdminObjectTarget{Target: s.Target, Anchor: s.Anchor, Present: s.Present, InScope: s.InScope,
			Disabled: s.Disabled, Deleted: s.Deleted, Pending: pending, DeadLetters: dead, LastError: s.LastError})
	}
	obj := AdminObject{Type: k, ID: id, Name: name, Exists: exists, Targets: ts}
	if k == targets.User {
		hs, err := h.g.store.Holds(ctx, store.HoldQuery{User: id})
		if err != nil {
			return nil, err
		}
		obj.Holds = holdsJSON(hs)
	}
	return obj, nil
}

// releaseHolds drops a user's holds (those of the source query
// parameter, or all).
func (h *adminHandler) releaseHolds(r *http.Request) (any, error) {
	e, err := h.engine()
	if err != nil {
		return nil, err
	}
	_, id, err := h.objectOf(r)
	if err != nil {
		return nil, err
	}
	n, err := e.ReleaseHolds(r.Context(), store.HoldQuery{User: id, Source: r.URL.Query().Get("source")})
	if err != nil {
		return nil, err
	}
	return map[string]int{"released": n}, nil
}

// objectOf reads the object a request names in {kind} and {id}: {id} is
// its id, or its userName (users) or displayName (groups) compared as
// SCIM compares them. An id wins over a name; a string that names no
// stored object is taken as an id (of an object deleted from the store
// that targets may still hold).
func (h *adminHandler) objectOf(r *http.Request) (targets.Kind, string, error) {
	k, err := kind(r)
	if err != nil {
		return "", "", err
	}
	id, err := h.resolve(r.Context(), k, r.PathValue("id"))
	if err != nil {
		return "", "", err
	}
	return k, id, nil
}

// resolve returns the id of the object of kind k that s names, as
// objectOf reads {id}.
func (h *adminHandler) resolve(ctx context.Context, k targets.Kind, s string) (string, error) {
	rt := h.types[string(k)]
	ids, err := rt.Lookup(ctx, h.g.store, s)
	if err != nil {
		return "", err
	}
	switch {
	case len(ids) == 0 || slices.Contains(ids, s):
		return s, nil
	case len(ids) == 1:
		return ids[0], nil
	}
	return "", badRequest("%q is ambiguous: it is the %s of %s %s; give the id", s, rt.UniqueAttr, k, strings.Join(ids, ", "))
}

// known returns whether an object is in the store and its state in every
// target, or a 404 naming it when neither the store nor any target knows
// it.
func (h *adminHandler) known(ctx context.Context, k targets.Kind, id string) (bool, []engine.ObjectState, error) {
	_, err := h.g.store.Get(ctx, string(k), id)
	exists := err == nil
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return false, nil, err
	}
	var states []engine.ObjectState
	if h.g.engine != nil {
		if states, err = h.g.engine.Object(ctx, k, id); err != nil {
			return false, nil, err
		}
	}
	known := exists
	for _, s := range states {
		known = known || s.Present || s.Anchor != "" || len(s.Pending)+len(s.Dead) > 0
	}
	if !known {
		return false, nil, &adminError{status: http.StatusNotFound, msg: fmt.Sprintf("no %s has the id or %s %q (neither in the store nor in any target)",
			k, h.types[string(k)].UniqueAttr, id)}
	}
	return exists, states, nil
}

func (h *adminHandler) resyncObject(r *http.Request) (any, error) {
	e, err := h.engine()
	if err != nil {
		return nil, err
	}
	k, id, err := h.objectOf(r)
	if err != nil {
		return nil, err
	}
	if _, _, err := h.known(r.Context(), k, id); err != nil {
		return nil, err
	}
	n, err := e.ResyncObject(r.Context(), r.URL.Query().Get("target"), k, id)
	if err != nil {
		return nil, err
	}
	return map[string]int{"queued": n}, nil
}

// AdminAuditPage is a page of the audit log; Next is the before of the
// next page, 0 on the last.
type AdminAuditPage struct {
	Entries []AdminAuditEntry `json:"entries"`
	Next    int64             `json:"next"`
}

// AdminAuditEntry is an AuditEntry of docs/admin-api.md.
type AdminAuditEntry struct {
	Seq    int64     `json:"seq"`
	Time   time.Time `json:"time"`
	Actor  string    `json:"actor"`
	Action string    `json:"action"`
	Type   string    `json:"type,omitempty"`
	ID     string    `json:"id,omitempty"`
	Name   string    `json:"name,omitempty"` // userName or displayName; absent when no longer in the store
	Target string    `json:"target,omitempty"`
	Result string    `json:"result"`
	Detail string    `json:"detail,omitempty"`
}

func (h *adminHandler) audit(r *http.Request) (any, error) {
	ctx := r.Context()
	n, err := limit(r)
	if err != nil {
		return nil, err
	}
	q := store.AuditQuery{Target: r.URL.Query().Get("target"), Limit: n}
	if s := r.URL.Query().Get("before"); s != "" {
		if q.Before, err = strconv.ParseInt(s, 10, 64); err != nil || q.Before < 1 {
			return nil, badRequest("before: must be a positive integer (the next of the previous page)")
		}
	}
	named := false // id named a stored object by id or name
	if s := r.URL.Query().Get("id"); s != "" {
		if q.ID, named, err = h.auditID(ctx, s); err != nil {
			return nil, err
		}
	}
	entries, err := h.g.store.Audit(ctx, q)
	if err != nil {
		return nil, err
	}
	if q.ID != "" && !named && len(entries) == 0 && q.Before == 0 {
		return nil, &adminError{status: http.StatusNotFound, msg: fmt.Sprintf("no User or Group has the id, userName or displayName %q, and the audit log has no entry for it", q.ID)}
	}
	names := h.namer()
	out := make([]AdminAuditEntry, 0, len(entries))
	for _, e := range entries {
		name, err := names.name(ctx, e.Type, e.ID)
		if err != nil {
			return nil, err
		}
		out = append(out, AdminAuditEntry{Seq: e.Seq, Time: e.Time.UTC(), Actor: e.Actor, Action: e.Action, Type: e.Type, ID: e.ID,
			Name: name, Target: e.Target, Result: e.Result, Detail: e.Detail})
	}
	var next int64
	if len(out) == n {
		next = out[len(out)-1].Seq
	}
	return AdminAuditPage{Entries: out, Next: next}, nil
}

// auditID resolves the id parameter of the audit log: the id of a stored
// user or group, or the userName or displayName of one (named true); any
// other string is taken as the id of an object no longer stored.
func (h *adminHandler) auditID(ctx context.Context, s string) (id string, named bool, err error) {
	var found []string // "User u-1"
	for _, typ := range []string{"User", "Group"} {
		ids, err := h.types[typ].Lookup(ctx, h.g.store, s)
		if err != nil {
			return "", false, err
		}
		if slices.Contains(ids, s) {
			return s, true, nil
		}
		for _, id := range ids {
			found = append(found, typ+" "+id)
		}
	}
	switch len(found) {
	case 0:
		return s, false, nil
	case 1:
		_, id, _ := strings.Cut(found[0], " ")
		return id, true, nil
	}
	return "", false, badRequest("id: %q is ambiguous: it names %s; give the id", s, strings.Join(found, " and "))
}
