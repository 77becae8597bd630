package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/scimgate/scimgate/internal/entra"
	"github.com/scimgate/scimgate/internal/store"
)

// The Entra actions of the admin API (docs/admin-api.md): lookups of users
// and groups, member changes, disable/enable/delete/revoke of users, and
// the permission check, through the gateway's one entra.Client. Every
// action that changes Entra is in the audit log with the admin credential
// that asked and its outcome; lookups are not.

// The audit log's types of Entra objects.
const (
	auditEntraUser  = "EntraUser"
	auditEntraGroup = "EntraGroup"
)

// entraRetryAfter is the Retry-After of a transient Entra failure for
// which Graph named no wait.
const entraRetryAfter = 5 * time.Second

// EntraMembership is the answer of the member calls: the user is (add) or
// is not (remove) a member of the group now; Changed is false when it
// already was (not) one.
type EntraMembership struct {
	Group             string `json:"group"`
	User              string `json:"user"` // object id
	UserPrincipalName string `json:"userPrincipalName,omitempty"`
	Member            bool   `json:"member"`
	Changed           bool   `json:"changed"`
}

// EntraUserAction is the answer of disable, enable, revoke and delete.
type EntraUserAction struct {
	User              string `json:"user"` // object id
	UserPrincipalName string `json:"userPrincipalName,omitempty"`
	Action            string `json:"action"` // disable, enable, revoke sessions, delete
}

// errNoEntra answers every Entra call of a gateway without an entra
// section.
var errNoEntra = &adminError{status: http.StatusNotFound,
	msg: "no entra section in the configuration: the Entra actions need one (see examples/scimgate.yaml)"}

func (h *adminHandler) entraClient() (*entra.Client, error) {
	if h.g.entra == nil {
		return nil, errNoEntra
	}
	return h.g.entra, nil
}

// entraStatus maps an error of the entra client to the admin API's
// answer, nil for another error.
func entraStatus(err error) *adminError {
	e, ok := errors.AsType[*entra.Error](err)
	if !ok {
		return nil
	}
	ae := &adminError{msg: err.Error()}
	switch {
	case errors.Is(err, entra.ErrDynamicGroup):
		ae.status = http.StatusConflict
	case errors.Is(err, entra.ErrNotFound):
		ae.status = http.StatusNotFound
	case errors.Is(err, entra.ErrForbidden):
		ae.status = http.StatusForbidden
	case errors.Is(err, entra.ErrNotEnabled):
		ae.status = http.StatusForbidden
		ae.msg += " (the entra section of the gateway's configuration)"
	case errors.Is(err, entra.ErrTransient): // throttled too
		ae.status, ae.retryAfter = http.StatusServiceUnavailable, e.RetryAfter
		if ae.retryAfter <= 0 {
			ae.retryAfter = entraRetryAfter
		}
	case errors.Is(err, entra.ErrAuthentication):
		ae.status = http.StatusBadGateway
	case errors.Is(err, entra.ErrInvalid):
		ae.status = http.StatusBadRequest
	default:
		return nil
	}
	return ae
}

func (h *adminHandler) entraUser(r *http.Request) (any, error) {
	c, err := h.entraClient()
	if err != nil {
		return nil, err
	}
	return c.LookupUser(r.Context(), r.PathValue("key"))
}

func (h *adminHandler) entraGroup(r *http.Request) (any, error) {
	c, err := h.entraClient()
	if err != nil {
		return nil, err
	}
	return c.LookupGroup(r.Context(), r.PathValue("id"))
}

func (h *adminHandler) entraCheck(r *http.Request) (any, error) {
	c, err := h.entraClient()
	if err != nil {
		return nil, err
	}
	return c.Check(r.Context())
}

func (h *adminHandler) entraAddMember(r *http.Request) (any, error) {
	c, err := h.entraClient()
	if err != nil {
		return nil, err
	}
	var body struct {
		User string `json:"user"`
	}
	dec := json.NewDecoder(io.LimitReader(r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		return nil, badRequest(`the body must be {"user": "<object id or userPrincipalName>"}: %v`, err)
	}
	if strings.TrimSpace(body.User) == "" {
		return nil, badRequest(`user: required (the object id or userPrincipalName of the user to add)`)
	}
	return h.entraMember(r, c, "add member", body.User, c.AddMember)
}

func (h *adminHandler) entraRemoveMember(r *http.Request) (any, error) {
	c, err := h.entraClient()
	if err != nil {
		return nil, err
	}
	return h.entraMember(r, c, "remove member", r.PathValue("user"), c.RemoveMember)
}

// entraMember adds (AddMember) or removes (RemoveMember) user, an object
// id or a userPrincipalName, to or from the group {id}, and audits it.
func (h *adminHandler) entraMember(r *http.Request, c *entra.Client, action, user string,
	change func(ctx context.Context, group, member string) (bool, error)) (any, error) {
	ctx, group := r.Context(), r.PathValue("id")
	id, upn, err := resolveUser(ctx, c, user)
	var changed bool
	if err == nil {
		changed, err = change(ctx, group, id)
	}
	detail := "member " + describeUser(id, upn, user)
	switch {
	case err != nil:
	case changed && action == "add member":
		detail += ": added"
	case changed:
		detail += ": removed"
	case action == "add member":
		detail += ": already a member, nothing changed"
	default:
		detail += ": not a member, nothing changed"
	}
	if err := h.entraAudit(ctx, "entra "+action, auditEntraGroup, group, detail, err); err != nil {
		return nil, err
	}
	return EntraMembership{Group: group, User: id, UserPrincipalName: upn, Member: action == "add member", Changed: changed}, nil
}

func (h *adminHandler) entraDisable(r *http.Request) (any, error) {
	return h.entraUserAction(r, "disable", (*entra.Client).Disable)
}

func (h *adminHandler) entraEnable(r *http.Request) (any, error) {
	return h.entraUserAction(r, "enable", (*entra.Client).Enable)
}

func (h *adminHandler) entraRevoke(r *http.Request) (any, error) {
	return h.entraUserAction(r, "revoke sessions", (*entra.Client).RevokeSessions)
}

func (h *adminHandler) entraDelete(r *http.Request) (any, error) {
	return h.entraUserAction(r, "delete", (*entra.Client).DeleteUser)
}

// entraUserAction applies act to the user {key}, an object id or a
// userPrincipalName, and audits it.
func (h *adminHandler) entraUserAction(r *http.Request, action string, act func(*entra.Client, context.Context, string) error) (any, error) {
	c, err := h.entraClient()
	if err != nil {
		return nil, err
	}
	ctx, key := r.Context(), r.PathValue("key")
	id, upn, err := resolveUser(ctx, c, key)
	if err == nil {
		err = act(c, ctx, id)
	}
	auditID := id
	if auditID == "" {
		auditID = key
	}
	if err := h.entraAudit(ctx, "entra "+action+" user", auditEntraUser, auditID, upn, err); err != nil {
		return nil, err
	}
	return EntraUserAction{User: id, UserPrincipalName: upn, Action: action}, nil
}

// resolveUser returns the object id of a user named by object id or
// userPrincipalName (looking the latter up), and its userPrincipalName
// when it was looked up.
func resolveUser(ctx context.Context, c *entra.Client, key string) (id, upn string, err error) {
	if entra.IsObjectID(key) {
		return key, "", nil
	}
	u, err := c.LookupUser(ctx, key)
	if err != nil {
		return "", "", err
	}
	return u.ID, u.UserPrincipalName, nil
}

// describeUser names a user in an audit detail: its id and
// userPrincipalName, or the key it was asked by when it was not found.
func describeUser(id, upn, key string) string {
	switch {
	case id == "":
		return fmt.Sprintf("%q", key)
	case upn != "":
		return id + " (" + upn + ")"
	}
	return id
}

// entraAudit writes the audit entry of an Entra action with the actor of
// ctx and the action's outcome, and returns the action's error (err), or
// the failure to audit it. The entry is written even when the client has
// gone: the change was made.
func (h *adminHandler) entraAudit(ctx context.Context, action, typ, id, detail string, err error) error {
	e := store.AuditEntry{Actor: store.ActorOf(ctx), Action: action, Type: typ, ID: id, Result: store.AuditOK, Detail: detail}
	if err != nil {
		e.Result = store.AuditFailed
		e.Detail = strings.TrimPrefix(detail+": "+err.Error(), ": ")
	}
	werr := h.g.store.Write(context.WithoutCancel(ctx), func(ctx context.Context, tx store.Tx) error { return tx.Audit(ctx, e) })
	if werr != nil {
		h.log.Error("writing the audit entry of an Entra action", "action", action, "type", typ, "id", id, "result", e.Result, "err", werr)
		if err == nil {
			return fmt.Errorf("the Entra action %s of %s was done, but its audit entry could not be written: %w", action, id, werr)
		}
	}
	return err
}
