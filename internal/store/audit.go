package store

import (
	"context"
	"time"
)

// AuditEntry is one line of the audit log: who or what (Actor) did what
// (Action) to which object, in which target, with what result.
type AuditEntry struct {
	Seq    int64
	Time   time.Time // set by the store when zero
	Actor  string    // "scim: <credential>", "engine", "admin: <credential>"
	Action string    // create, update, delete; an operation; an admin call
	Type   string
	ID     string
	Target string // "" for SCIM changes
	Result string // AuditOK, AuditDead, AuditHeld, AuditFailed
	Detail string
}

// The results of audit entries.
const (
	AuditOK     = "ok"
	AuditDead   = "dead"
	AuditHeld   = "held"
	AuditFailed = "failed"
)

// AuditQuery selects audit entries, newest first.
type AuditQuery struct {
	ID     string // only this object ("" any)
	Target string // only this target ("" any)
	Before int64  // only entries with a smaller Seq (0: from the newest)
	Limit  int
}

type actorKey struct{}

// WithActor returns ctx carrying the actor that the audit entries of the
// changes written with it name.
func WithActor(ctx context.Context, actor string) context.Context {
	return context.WithValue(ctx, actorKey{}, actor)
}

// ActorOf returns the actor of ctx ("unknown" when none was set).
func ActorOf(ctx context.Context) string {
	if a, ok := ctx.Value(actorKey{}).(string); ok && a != "" {
		return a
	}
	return "unknown"
}
