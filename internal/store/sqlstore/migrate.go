package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/scimgate/scimgate/internal/store"
)

// migration is one step of the schema history: its statements, with the
// type tokens of dialect.types.
type migration []string

// migrations is the schema history; migrations[i] brings the database to
// version i+1. Released entries never change: append new ones.
var migrations = []migration{{
	`CREATE TABLE resources (
		rid {serial},
		type VARCHAR(64) NOT NULL,
		id VARCHAR(255) NOT NULL,
		version BIGINT NOT NULL,
		created CHAR(30) NOT NULL,
		modified CHAR(30) NOT NULL,
		uniq VARCHAR(255),
		data {blob} NOT NULL,
		UNIQUE (type, id),
		UNIQUE (type, uniq)
	)`,
	`CREATE TABLE idx (
		rid BIGINT NOT NULL,
		type VARCHAR(64) NOT NULL,
		path VARCHAR(255) NOT NULL,
		elem INTEGER NOT NULL,
		str {text} NOT NULL,
		num DOUBLE PRECISION
	)`,
	`CREATE INDEX idx_str ON idx (type, path, {strkey})`,
	`CREATE INDEX idx_rid ON idx (rid)`,
}, {
	// The change journal, written by Tx.Create/Update/Delete in the
	// transaction of the change, and the provisioning engine's state.
	`CREATE TABLE changes (
		seq {sequence},
		type VARCHAR(64) NOT NULL,
		id VARCHAR(255) NOT NULL
	)`,
	`CREATE TABLE provisioned (
		target VARCHAR(255) NOT NULL,
		type VARCHAR(64) NOT NULL,
		id VARCHAR(255) NOT NULL,
		anchor VARCHAR(1024) NOT NULL,
		state {blob} NOT NULL,
		PRIMARY KEY (target, type, id)
	)`,
	`CREATE TABLE outbox (
		seq {sequence},
		target VARCHAR(255) NOT NULL,
		type VARCHAR(64) NOT NULL,
		id VARCHAR(255) NOT NULL,
		payload {blob} NOT NULL,
		attempts INTEGER NOT NULL,
		next_at CHAR(30) NOT NULL,
		last_error {text} NOT NULL,
		dead INTEGER NOT NULL
	)`,
	`CREATE INDEX outbox_target ON outbox (target, dead, seq)`,
	// Resources stored before the journal existed are changes the engine
	// has not seen.
	`INSERT INTO changes (type, id) SELECT type, id FROM resources ORDER BY rid`,
	`CREATE TABLE cursors (
		name VARCHAR(255) NOT NULL PRIMARY KEY,
		pos BIGINT NOT NULL
	)`,
}, {
	// The deletion guard's held operations, the enqueue time (for the age
	// of the oldest pending operation) and an index per object.
	`ALTER TABLE outbox ADD COLUMN held INTEGER NOT NULL DEFAULT 0`,
	`ALTER TABLE outbox ADD COLUMN created CHAR(30) NOT NULL DEFAULT ''`,
	`CREATE INDEX outbox_object ON outbox (target, type, id, seq)`,
}, {
	// The audit log: SCIM changes (in the transaction of the change),
	// deliveries and administrative actions.
	`CREATE TABLE audit (
		seq {sequence},
		at CHAR(30) NOT NULL,
		actor {text} NOT NULL,
		action VARCHAR(64) NOT NULL,
		type VARCHAR(64) NOT NULL,
		id VARCHAR(255) NOT NULL,
		target VARCHAR(255) NOT NULL,
		result VARCHAR(32) NOT NULL,
		detail {text} NOT NULL
	)`,
	`CREATE INDEX audit_id ON audit (id, seq)`,
	`CREATE INDEX audit_at ON audit (at)`,
}, {
	// The key of a provisioned object (a user's externalId), to find the
	// anchor of a deleted user that is created again (rehire).
	`ALTER TABLE provisioned ADD COLUMN okey VARCHAR(255) NOT NULL DEFAULT ''`,
	`CREATE INDEX provisioned_key ON provisioned (target, type, okey)`,
}, {
	// An operation queued for later (a leaver's delete after the grace
	// period) is created when it falls due, so that it is not counted as
	// pending meanwhile.
	`UPDATE outbox SET created = next_at WHERE dead = 0 AND attempts = 0 AND last_error = '' AND next_at > created`,
}, {
	// The record of an account found in a target (matching, adoption,
	// reconciliation) by its anchor.
	`CREATE INDEX provisioned_anchor ON provisioned (target, type, anchor)`,
}, {
	// The reports of reconciliations: the summary (counts) apart from the
	// items, so that a list of reports reads only the summaries.
	`CREATE TABLE reconciliations (
		seq {sequence},
		id VARCHAR(64) NOT NULL,
		target VARCHAR(255) NOT NULL,
		dry_run INTEGER NOT NULL,
		started CHAR(30) NOT NULL,
		summary {blob} NOT NULL,
		items {blob} NOT NULL
	)`,
	`CREATE INDEX reconciliations_target ON reconciliations (target, seq)`,
	`CREATE INDEX reconciliations_id ON reconciliations (id)`,
}, {
	// Group members as rows (members.go): adding or removing k members
	// costs O(k) whatever the group's size. A member's index entries stay
	// in idx with its elem. The journal records member deltas.
	`CREATE TABLE members (
		rid BIGINT NOT NULL,
		elem INTEGER NOT NULL,
		value VARCHAR(255) NOT NULL,
		data {blob} NOT NULL,
		PRIMARY KEY (rid, value)
	)`,
	`CREATE INDEX members_elem ON members (rid, elem)`,
	`CREATE INDEX members_value ON members (value)`,
	`ALTER TABLE changes ADD COLUMN added {text}`,
	`ALTER TABLE changes ADD COLUMN removed {text}`,
	`ALTER TABLE changes ADD COLUMN members_only INTEGER NOT NULL DEFAULT 0`,
	// The engine's record of the members it put into a group in a target.
	`CREATE TABLE provisioned_members (
		target VARCHAR(255) NOT NULL,
		gid VARCHAR(255) NOT NULL,
		member VARCHAR(255) NOT NULL,
		PRIMARY KEY (target, gid, member)
	)`,
	`CREATE INDEX provisioned_members_member ON provisioned_members (target, member)`,
	// The planner's old whole-list record of every group's members (the
	// journal now records member deltas).
	`DELETE FROM provisioned WHERE target = ''`,
}, {
	// The index rows of one group member (members.go) are found by their
	// element: removing a member of a large group no longer scans every
	// index row of the group. Member rows get elems from memberElemBase
	// (1 << 30) on, so that an update of the group reads only its own
	// rows. idx_rid still serves lookups by rid alone.
	`DROP INDEX idx_rid`,
	`CREATE INDEX idx_rid ON idx (rid, elem)`,
	`UPDATE idx SET elem = elem + 1073741824 WHERE type = 'Group' AND path LIKE '` + store.MembersPath + `.%'`,
}, {
	// Lifecycle workflows (workflow.go): runs, each (workflow, user,
	// occurrence) at most once, with their tasks; the schedule of time
	// triggers; the snapshot of what event triggers compare; the
	// administrator's enable/disable overrides.
	`CREATE TABLE workflow_runs (
		id {sequence},
		workflow VARCHAR(255) NOT NULL,
		user_id VARCHAR(255) NOT NULL,
		occurrence VARCHAR(255) NOT NULL,
		status VARCHAR(16) NOT NULL,
		preview INTEGER NOT NULL,
		trig {blob} NOT NULL,
		next_at CHAR(30) NOT NULL,
		created CHAR(30) NOT NULL,
		updated CHAR(30) NOT NULL,
		UNIQUE (workflow, user_id, occurrence)
	)`,
	`CREATE INDEX workflow_runs_due ON workflow_runs (status, next_at)`,
	`CREATE INDEX workflow_runs_user ON workflow_runs (user_id, id)`,
	`CREATE TABLE workflow_tasks (
		run BIGINT NOT NULL,
		idx INTEGER NOT NULL,
		kind VARCHAR(64) NOT NULL,
		status VARCHAR(16) NOT NULL,
		attempts INTEGER NOT NULL,
		next_at CHAR(30) NOT NULL,
		last_error {text} NOT NULL,
		result {text} NOT NULL,
		updated CHAR(30) NOT NULL,
		PRIMARY KEY (run, idx)
	)`,
	`CREATE TABLE workflow_schedule (
		workflow VARCHAR(255) NOT NULL,
		user_id VARCHAR(255) NOT NULL,
		occurrence VARCHAR(255) NOT NULL,
		due CHAR(30) NOT NULL,
		PRIMARY KEY (workflow, user_id)
	)`,
	`CREATE INDEX workflow_schedule_due ON workflow_schedule (due)`,
	`CREATE TABLE workflow_snapshots (
		user_id VARCHAR(255) NOT NULL PRIMARY KEY,
		data {blob} NOT NULL
	)`,
	`CREATE TABLE workflow_state (
		workflow VARCHAR(255) NOT NULL PRIMARY KEY,
		enabled INTEGER NOT NULL
	)`,
}, {
	// Alerts (alert.go): the current or last episode of each alert (rule,
	// key), the notifications of raisings and resolutions waiting to be
	// sent (a notification outbox), and the state that rules compare
	// with (the last seen members of a watched Entra group).
	`CREATE TABLE alerts (
		rule VARCHAR(128) NOT NULL,
		akey VARCHAR(512) NOT NULL,
		episode INTEGER NOT NULL,
		active INTEGER NOT NULL,
		raised CHAR(30) NOT NULL,
		resolved CHAR(30) NOT NULL,
		detail {blob} NOT NULL,
		PRIMARY KEY (rule, akey)
	)`,
	`CREATE INDEX alerts_active ON alerts (active, rule)`,
	`CREATE TABLE alert_notices (
		seq {sequence},
		rule VARCHAR(128) NOT NULL,
		akey VARCHAR(512) NOT NULL,
		episode INTEGER NOT NULL,
		event VARCHAR(16) NOT NULL,
		payload {blob} NOT NULL,
		attempts INTEGER NOT NULL,
		next_at CHAR(30) NOT NULL,
		last_error {text} NOT NULL,
		failed INTEGER NOT NULL,
		created CHAR(30) NOT NULL
	)`,
	`CREATE INDEX alert_notices_due ON alert_notices (failed, next_at)`,
	`CREATE TABLE alert_state (
		name VARCHAR(512) NOT NULL PRIMARY KEY,
		data {blob} NOT NULL
	)`,
}, {
	// Workflow webhook callbacks (workflow.go): the SHA-256 of each
	// waiting task's one-time callback token, and the task it completes.
	`CREATE TABLE workflow_callbacks (
		token_hash CHAR(64) NOT NULL PRIMARY KEY,
		run BIGINT NOT NULL,
		idx INTEGER NOT NULL
	)`,
}, {
	// Holds (holds.go): lifecycle decisions that outrank a target's
	// policy for one user, and the guest lifecycle's state per guest.
	`CREATE TABLE holds (
		user_id VARCHAR(255) NOT NULL,
		source VARCHAR(64) NOT NULL,
		target VARCHAR(64) NOT NULL,
		grp VARCHAR(255) NOT NULL,
		action VARCHAR(16) NOT NULL,
		basis INTEGER,
		reason TEXT NOT NULL,
		created CHAR(30) NOT NULL,
		PRIMARY KEY (user_id, source, target, grp)
	)`,
	`CREATE INDEX holds_grp ON holds (grp, target)`,
	`ALTER TABLE changes ADD COLUMN sync TEXT`,
	`CREATE TABLE guests (
		user_id VARCHAR(255) NOT NULL PRIMARY KEY,
		due CHAR(30) NOT NULL,
		data {blob} NOT NULL
	)`,
	`CREATE INDEX guests_due ON guests (due)`,
}, {
	// Access reviews (reviews.go): the instances of each definition, at
	// most one per (definition, start); their items, snapshotted at the
	// start; who may decide each item; the notices sent.
	`CREATE TABLE review_instances (
		id {sequence},
		definition VARCHAR(255) NOT NULL,
		occurrence INTEGER NOT NULL,
		status VARCHAR(16) NOT NULL,
		start_at CHAR(30) NOT NULL,
		end_at CHAR(30) NOT NULL,
		ended_at CHAR(30) NOT NULL,
		ended_by {text} NOT NULL,
		applied_at CHAR(30) NOT NULL,
		applied_by {text} NOT NULL,
		data {blob} NOT NULL,
		UNIQUE (definition, start_at)
	)`,
	`CREATE INDEX review_instances_status ON review_instances (status, end_at)`,
	`CREATE TABLE review_items (
		instance BIGINT NOT NULL,
		idx INTEGER NOT NULL,
		user_id VARCHAR(255) NOT NULL,
		user_name {text} NOT NULL,
		display_name {text} NOT NULL,
		resource_type VARCHAR(16) NOT NULL,
		resource VARCHAR(255) NOT NULL,
		resource_name {text} NOT NULL,
		guest INTEGER NOT NULL,
		last_sign_in CHAR(30) NOT NULL,
		recommendation VARCHAR(16) NOT NULL,
		reason {text} NOT NULL,
		decision VARCHAR(16) NOT NULL,
		justification {text} NOT NULL,
		reviewed_by {text} NOT NULL,
		reviewed_at CHAR(30) NOT NULL,
		apply_result VARCHAR(16) NOT NULL,
		apply_detail {text} NOT NULL,
		applied_at CHAR(30) NOT NULL,
		PRIMARY KEY (instance, idx)
	)`,
	`CREATE TABLE review_reviewers (
		instance BIGINT NOT NULL,
		idx INTEGER NOT NULL,
		reviewer VARCHAR(255) NOT NULL,
		PRIMARY KEY (instance, idx, reviewer)
	)`,
	`CREATE INDEX review_reviewers_reviewer ON review_reviewers (reviewer, instance)`,
	`CREATE TABLE review_notices (
		instance BIGINT NOT NULL,
		recipient VARCHAR(255) NOT NULL,
		kind VARCHAR(16) NOT NULL,
		at CHAR(30) NOT NULL,
		error {text} NOT NULL,
		PRIMARY KEY (instance, recipient, kind)
	)`,
}, {
	// 17: the reviewer page's one-time sign-in links used, by id, kept
	// until they expire.
	`CREATE TABLE review_links (
		id VARCHAR(64) NOT NULL PRIMARY KEY,
		expires CHAR(30) NOT NULL
	)`,
}, {
	// Access reviews defined through the admin API (reviews.go): their
	// configuration's JSON, by name (case-folded).
	`CREATE TABLE review_definitions (
		name VARCHAR(64) NOT NULL PRIMARY KEY,
		data {blob} NOT NULL,
		created CHAR(30) NOT NULL,
		updated CHAR(30) NOT NULL
	)`,
}, {
	// The reviewer page's sessions (reviewsessions.go), by the SHA-256
	// of their id (the id is only in the browser's cookie).
	`CREATE TABLE review_sessions (
		hash CHAR(64) NOT NULL PRIMARY KEY,
		reviewer VARCHAR(255) NOT NULL,
		admin VARCHAR(255) NOT NULL,
		created CHAR(30) NOT NULL,
		last_seen CHAR(30) NOT NULL,
		expires CHAR(30) NOT NULL,
		revoked CHAR(30) NOT NULL
	)`,
	`CREATE INDEX review_sessions_reviewer ON review_sessions (reviewer)`,
	`CREATE INDEX review_sessions_expires ON review_sessions (expires)`,
}, {
	// Access reviews with a second stage (reviews.go): the stage an
	// instance is in, the stage each item is decided in, and the first
	// stage's decision of the items that moved to the second.
	`ALTER TABLE review_instances ADD COLUMN stage INTEGER NOT NULL DEFAULT 1`,
	`ALTER TABLE review_items ADD COLUMN stage INTEGER NOT NULL DEFAULT 1`,
	`ALTER TABLE review_items ADD COLUMN stage1_decision VARCHAR(16) NOT NULL DEFAULT ''`,
	`ALTER TABLE review_items ADD COLUMN stage1_justification {text} NOT NULL DEFAULT ''`,
	`ALTER TABLE review_items ADD COLUMN stage1_reviewed_by {text} NOT NULL DEFAULT ''`,
	`ALTER TABLE review_items ADD COLUMN stage1_reviewed_at CHAR(30) NOT NULL DEFAULT ''`,
}, {
	// Leases (lease.go): the background work of replicas sharing one
	// database runs on the holder of the lease.
	`CREATE TABLE leases (
		name VARCHAR(64) NOT NULL PRIMARY KEY,
		holder VARCHAR(255) NOT NULL,
		epoch BIGINT NOT NULL,
		expires CHAR(30) NOT NULL
	)`,
	// The keys every replica must share (lease.go: EnsureKey), such as
	// the one that signs the reviewer page's links and sessions.
	`CREATE TABLE gateway_keys (
		name VARCHAR(64) NOT NULL PRIMARY KEY,
		value {blob} NOT NULL
	)`,
}, {
	// Delivery claims (engine.go: ClaimOutbox): the replica delivering an
	// operation, and until when its claim stands unless renewed.
	`ALTER TABLE outbox ADD COLUMN claimed_by VARCHAR(255) NOT NULL DEFAULT ''`,
	`ALTER TABLE outbox ADD COLUMN claimed_until CHAR(30) NOT NULL DEFAULT ''`,
}, {
	// The records with an anchor only (where the database has partial
	// indexes): a lookup by key cannot take this index for the target's
	// every record, as PostgreSQL did on tables without statistics yet
	// (a fresh database's first sync read every record per new user).
	`DROP INDEX provisioned_anchor`,
	`CREATE INDEX provisioned_anchor ON provisioned (target, type, anchor){anchored}`,
}}

// migrationFuncs are the steps of a migration that SQL alone cannot do,
// keyed by the version the migration brings the database to; each runs
// after that migration's statements, in its transaction.
var migrationFuncs = map[int]func(ctx context.Context, conn *sql.Conn, d *dialect) error{
	9: migrateMembers,
}

// migrate brings the database on conn to len(migs), one transaction per
// migration, so that concurrent openers (replicas) serialise.
func migrate(ctx context.Context, conn *sql.Conn, d *dialect, migs []migration) error {
	create := d.types.Replace(`CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER NOT NULL PRIMARY KEY,
		applied CHAR(30) NOT NULL
	)`)
	if d.sessionLock != "" {
		var got int
		if err := conn.QueryRowContext(ctx, d.sessionLock).Scan(&got); err != nil || got != 1 {
			return fmt.Errorf("store: migrate: the schema lock: %d, %v", got, err)
		}
		defer conn.ExecContext(context.WithoutCancel(ctx), d.sessionUnlock) //nolint:errcheck // the session's end releases it too
	}
	if _, err := conn.ExecContext(ctx, create); err != nil {
		_, _ = conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
		return fmt.Errorf("store: migrate: %w", err)
	}
	for {
		done, err := migrateStep(ctx, conn, d, migs)
		if err != nil || done {
			return err
		}
	}
}

// migrateStep applies the next missing migration, if any.
func migrateStep(ctx context.Context, conn *sql.Conn, d *dialect, migs []migration) (done bool, err error) {
	if _, err := conn.ExecContext(ctx, d.beginWrite); err != nil {
		return false, fmt.Errorf("store: migrate: %w", err)
	}
	defer func() {
		end := "COMMIT"
		if err != nil || done {
			end = "ROLLBACK"
		}
		if _, e := conn.ExecContext(context.WithoutCancel(ctx), end); e != nil && err == nil {
			err = fmt.Errorf("store: migrate: %w", e)
		}
	}()
	var v int
	if err := conn.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&v); err != nil {
		return false, fmt.Errorf("store: migrate: %w", err)
	}
	switch {
	case v > len(migs):
		return false, fmt.Errorf("%w: database at version %d, this build knows up to %d", store.ErrSchemaTooNew, v, len(migs))
	case v == len(migs):
		return true, nil
	}
	for _, stmt := range migs[v] {
		if _, err := conn.ExecContext(ctx, d.types.Replace(stmt)); err != nil {
			return false, fmt.Errorf("store: migration %d: %w", v+1, err)
		}
	}
	if fn := migrationFuncs[v+1]; fn != nil {
		if err := fn(ctx, conn, d); err != nil {
			return false, fmt.Errorf("store: migration %d: %w", v+1, err)
		}
	}
	if _, err := conn.ExecContext(ctx, d.rebind(`INSERT INTO schema_migrations (version, applied) VALUES (?, ?)`),
		v+1, time.Now().UTC().Format(store.TimeFormat)); err != nil {
		return false, fmt.Errorf("store: migration %d: %w", v+1, err)
	}
	return false, nil
}
