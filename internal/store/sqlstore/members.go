package sqlstore

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/scimgate/scimgate/internal/store"
)

// memberChunk bounds the values of one IN list or multi-row INSERT.
const memberChunk = 200

// memberElemBase is added to a member's Elem in its index rows, so that the
// index rows of a resource's Data (elem below it) and those of its members
// are apart in idx_rid (rid, elem): Tx.Update reads and rewrites its
// resource's own rows without reading those of every member.
const memberElemBase = 1 << 30

const (
	memberRidSQL   = "SELECT rid FROM resources WHERE type = ? AND id = ?"
	maxElemSQL     = "SELECT COALESCE(MAX(elem), -1) FROM members WHERE rid = ?"
	bumpSQL        = "UPDATE resources SET version = version + 1, modified = ? WHERE rid = ?"
	membersPageSQL = "SELECT elem, value, data FROM members WHERE rid = ? AND elem > ? ORDER BY elem LIMIT " + limitArg
	memberOfSQL    = "SELECT r.id FROM members m JOIN resources r ON r.rid = m.rid WHERE m.value = ? AND r.type = ? ORDER BY r.rid"
	memberCountSQL = "SELECT COUNT(*) FROM members WHERE rid = ?"
	delMemberIdx   = "DELETE FROM idx WHERE rid = ? AND elem = ? AND path LIKE '" + store.MembersPath + ".%'"
	delAllMembers  = "DELETE FROM members WHERE rid = ?"
	memberValues   = "SELECT value FROM members WHERE rid = ? ORDER BY elem"
)

// AddMembers implements Tx.
func (t *sqlTx) AddMembers(ctx context.Context, typ, id string, ms []store.Member) ([]string, error) {
	ctx, err := t.begin(ctx)
	if err != nil {
		return nil, err
	}
	rid, err := t.memberRid(ctx, typ, id)
	if err != nil {
		return nil, err
	}
	// The first of several entries with one value counts.
	first := make(map[string]int, len(ms))
	for i, m := range ms {
		if _, ok := first[m.Value]; !ok {
			first[m.Value] = i
		}
	}
	added := []string{}
	var fresh, changed []store.Member
	for rest := ms; len(rest) > 0; {
		chunk := rest[:min(len(rest), memberChunk)]
		rest = rest[len(chunk):]
		values := make([]string, 0, len(chunk))
		for _, m := range chunk {
			values = append(values, m.Value)
		}
		have, err := t.memberRows(ctx, rid, values)
		if err != nil {
			return nil, err
		}
		base := len(ms) - len(rest) - len(chunk)
		for i, m := range chunk {
			if first[m.Value] != base+i {
				continue
			}
			if old, ok := have[m.Value]; ok {
				if !bytes.Equal(old.Data, m.Data) {
					m.Elem = old.Elem
					changed = append(changed, m)
				}
				continue
			}
			fresh = append(fresh, m)
			added = append(added, m.Value)
		}
	}
	if len(fresh)+len(changed) == 0 {
		return added, nil
	}
	var next int
	if err := t.w.queryRow(ctx, maxElemSQL, rid).Scan(&next); err != nil {
		return nil, fmt.Errorf("store: add members: %w", err)
	}
	for i := range fresh {
		next++
		fresh[i].Elem = next
	}
	for _, m := range changed {
		if _, err := t.w.exec(ctx, "UPDATE members SET data = ? WHERE rid = ? AND value = ?", data(m.Data), rid, m.Value); err != nil {
			return nil, fmt.Errorf("store: add members: %w", err)
		}
		if _, err := t.w.exec(ctx, delMemberIdx, rid, memberElemBase+m.Elem); err != nil {
			return nil, fmt.Errorf("store: add members: %w", err)
		}
	}
	for rest := fresh; len(rest) > 0; {
		chunk := rest[:min(len(rest), memberChunk)]
		rest = rest[len(chunk):]
		args := make([]any, 0, 4*len(chunk))
		for _, m := range chunk {
			args = append(args, rid, m.Elem, m.Value, data(m.Data))
		}
		q := "INSERT INTO members (rid, elem, value, data) VALUES (?, ?, ?, ?)" + strings.Repeat(", (?, ?, ?, ?)", len(chunk)-1)
		if _, err := t.w.exec(ctx, q, args...); err != nil {
			return nil, fmt.Errorf("store: add members: %w", err)
		}
	}
	var idx []store.IndexEntry
	for _, list := range [][]store.Member{fresh, changed} {
		for _, m := range list {
			for _, e := range m.Index {
				if !strings.HasPrefix(e.Path, store.MembersPath+".") {
					return nil, fmt.Errorf("store: add members: index path %q is not under %q", e.Path, store.MembersPath)
				}
				e.Elem = memberElemBase + m.Elem
				idx = append(idx, e)
			}
		}
	}
	if err := t.insertIndex(ctx, rid, &store.Resource{Type: typ, ID: id, Index: idx}); err != nil {
		return nil, err
	}
	if _, err := t.w.exec(ctx, bumpSQL, time.Now().UTC().Round(0).Format(store.TimeFormat), rid); err != nil {
		return nil, fmt.Errorf("store: add members: %w", err)
	}
	if err := t.journalMembers(ctx, typ, id, added, nil, true); err != nil {
		return nil, err
	}
	return added, nil
}

// RemoveMembers implements Tx.
func (t *sqlTx) RemoveMembers(ctx context.Context, typ, id string, values []string) ([]string, error) {
	ctx, err := t.begin(ctx)
	if err != nil {
		return nil, err
	}
	rid, err := t.memberRid(ctx, typ, id)
	if err != nil {
		return nil, err
	}
	removed := []string{}
	seen := make(map[string]bool, len(values))
	for rest := values; len(rest) > 0; {
		chunk := rest[:min(len(rest), memberChunk)]
		rest = rest[len(chunk):]
		have, err := t.memberRows(ctx, rid, chunk)
		if err != nil {
			return nil, err
		}
		var gone []string
		for _, v := range chunk {
			m, ok := have[v]
			if !ok || seen[v] {
				continue
			}
			seen[v] = true
			gone = append(gone, v)
			if _, err := t.w.exec(ctx, delMemberIdx, rid, memberElemBase+m.Elem); err != nil {
				return nil, fmt.Errorf("store: remove members: %w", err)
			}
		}
		if len(gone) == 0 {
			continue
		}
		if _, err := t.w.exec(ctx, "DELETE FROM members WHERE rid = ? AND value"+inList(len(gone)),
			append([]any{rid}, anys(gone)...)...); err != nil {
			return nil, fmt.Errorf("store: remove members: %w", err)
		}
		removed = append(removed, gone...)
	}
	if len(removed) == 0 {
		return removed, nil
	}
	if _, err := t.w.exec(ctx, bumpSQL, time.Now().UTC().Round(0).Format(store.TimeFormat), rid); err != nil {
		return nil, fmt.Errorf("store: remove members: %w", err)
	}
	return removed, t.journalMembers(ctx, typ, id, nil, removed, true)
}

// Members implements Tx.
func (t *sqlTx) Members(ctx context.Context, typ, id string, after, limit int) ([]store.Member, error) {
	ctx, err := t.begin(ctx)
	if err != nil {
		return nil, err
	}
	return members(ctx, t.w, typ, id, after, limit)
}

// MemberOf implements Tx.
func (t *sqlTx) MemberOf(ctx context.Context, typ, value string) ([]string, error) {
	ctx, err := t.begin(ctx)
	if err != nil {
		return nil, err
	}
	return memberOf(ctx, t.w, typ, value)
}

// Members implements Store.
func (s *SQL) Members(ctx context.Context, typ, id string, after, limit int) (ms []store.Member, err error) {
	err = s.read(ctx, func(ctx context.Context, c *conn) error {
		ms, err = members(ctx, c, typ, id, after, limit)
		return err
	})
	return ms, err
}

// MemberOf implements Store.
func (s *SQL) MemberOf(ctx context.Context, typ, value string) (ids []string, err error) {
	err = s.read(ctx, func(ctx context.Context, c *conn) error {
		ids, err = memberOf(ctx, c, typ, value)
		return err
	})
	return ids, err
}

// MemberCount implements Store.
func (s *SQL) MemberCount(ctx context.Context, typ, id string) (n int, err error) {
	err = s.read(ctx, func(ctx context.Context, c *conn) error {
		var rid int64
		if err := c.queryRow(ctx, memberRidSQL, typ, id).Scan(&rid); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("%w: %s %q", store.ErrNotFound, typ, id)
			}
			return fmt.Errorf("store: member count: %w", err)
		}
		if err := c.queryRow(ctx, memberCountSQL, rid).Scan(&n); err != nil {
			return fmt.Errorf("store: member count: %w", err)
		}
		return nil
	})
	return n, err
}

// members reads up to limit members of typ/id with Elem > after, in Elem
// order; limit <= 0 reads them all.
func members(ctx context.Context, c *conn, typ, id string, after, limit int) ([]store.Member, error) {
	var rid int64
	if err := c.queryRow(ctx, memberRidSQL, typ, id).Scan(&rid); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("%w: %s %q", store.ErrNotFound, typ, id)
		}
		return nil, fmt.Errorf("store: members: %w", err)
	}
	if limit <= 0 {
		limit = math.MaxInt32
	}
	rows, err := c.query(ctx, membersPageSQL, rid, after, limit)
	if err != nil {
		return nil, fmt.Errorf("store: members: %w", err)
	}
	defer rows.Close()
	out := []store.Member{}
	for rows.Next() {
		var m store.Member
		if err := rows.Scan(&m.Elem, &m.Value, &m.Data); err != nil {
			return nil, fmt.Errorf("store: members: %w", err)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: members: %w", err)
	}
	return out, nil
}

func memberOf(ctx context.Context, c *conn, typ, value string) ([]string, error) {
	rows, err := c.query(ctx, memberOfSQL, value, typ)
	if err != nil {
		return nil, fmt.Errorf("store: member of: %w", err)
	}
	defer rows.Close()
	ids := []string{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("store: member of: %w", err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: member of: %w", err)
	}
	return ids, nil
}

// memberRid returns the rid of the group a member change applies to.
func (t *sqlTx) memberRid(ctx context.Context, typ, id string) (int64, error) {
	var rid int64
	err := t.w.queryRow(ctx, memberRidSQL, typ, id).Scan(&rid)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("%w: %s %q", store.ErrNotFound, typ, id)
	}
	if err != nil {
		return 0, fmt.Errorf("store: members: %w", err)
	}
	return rid, nil
}

// memberRows returns the stored rows (Elem and Data) of those of values
// that are members of rid.
func (t *sqlTx) memberRows(ctx context.Context, rid int64, values []string) (map[string]store.Member, error) {
	out := map[string]store.Member{}
	if len(values) == 0 {
		return out, nil
	}
	rows, err := t.w.query(ctx, "SELECT elem, value, data FROM members WHERE rid = ? AND value"+inList(len(values)),
		append([]any{rid}, anys(values)...)...)
	if err != nil {
		return nil, fmt.Errorf("store: members: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var m store.Member
		if err := rows.Scan(&m.Elem, &m.Value, &m.Data); err != nil {
			return nil, fmt.Errorf("store: members: %w", err)
		}
		out[m.Value] = m
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: members: %w", err)
	}
	return out, nil
}

// dropMembers removes every member row of rid (a deleted group) and
// returns their values in element order.
func (t *sqlTx) dropMembers(ctx context.Context, rid int64) ([]string, error) {
	rows, err := t.w.query(ctx, memberValues, rid)
	if err != nil {
		return nil, fmt.Errorf("store: delete: %w", err)
	}
	var values []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return nil, fmt.Errorf("store: delete: %w", err)
		}
		values = append(values, v)
	}
	if err := rows.Close(); err != nil {
		return nil, fmt.Errorf("store: delete: %w", err)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: delete: %w", err)
	}
	if len(values) > 0 {
		if _, err := t.w.exec(ctx, delAllMembers, rid); err != nil {
			return nil, fmt.Errorf("store: delete: %w", err)
		}
	}
	return values, nil
}

// auditMembers is how many member values an audit entry lists by name.
const auditMembers = 20

// journalMembers appends a change recording member deltas, and its audit
// entry. membersOnly: nothing but the members changed.
func (t *sqlTx) journalMembers(ctx context.Context, typ, id string, added, removed []string, membersOnly bool) error {
	enc := func(vs []string) (any, error) {
		if len(vs) == 0 {
			return nil, nil
		}
		b, err := json.Marshal(vs)
		return string(b), err
	}
	a, err := enc(added)
	if err != nil {
		return fmt.Errorf("store: journal: %w", err)
	}
	r, err := enc(removed)
	if err != nil {
		return fmt.Errorf("store: journal: %w", err)
	}
	if err := t.lockJournal(ctx); err != nil {
		return err
	}
	if _, err := t.w.exec(ctx, journalDeltaSQL, typ, id, a, r, boolInt(membersOnly)); err != nil {
		return fmt.Errorf("store: journal: %w", err)
	}
	t.changed = true
	if !membersOnly {
		return nil // the entry's audit is the caller's
	}
	var parts []string
	for _, d := range []struct {
		verb string
		vs   []string
	}{{"added", added}, {"removed", removed}} {
		if len(d.vs) == 0 {
			continue
		}
		s := fmt.Sprintf("members %s (%d): %s", d.verb, len(d.vs), strings.Join(d.vs[:min(len(d.vs), auditMembers)], ", "))
		if len(d.vs) > auditMembers {
			s += fmt.Sprintf(" and %d more", len(d.vs)-auditMembers)
		}
		parts = append(parts, s)
	}
	return t.Audit(ctx, store.AuditEntry{Actor: store.ActorOf(ctx), Action: "update", Type: typ, ID: id, Result: store.AuditOK,
		Detail: strings.Join(parts, "; ")})
}

// migrateMembers moves the members of the groups stored before member rows
// existed (inside each group's Data, under "members") to rows. Their index
// entries already carry the element numbers the rows get (the next
// migration adds memberElemBase to them).
func migrateMembers(ctx context.Context, conn *sql.Conn, d *dialect) error {
	type group struct {
		rid  int64
		data []byte
	}
	rows, err := conn.QueryContext(ctx, d.rebind("SELECT rid, data FROM resources WHERE type = ?"), "Group")
	if err != nil {
		return err
	}
	var groups []group
	for rows.Next() {
		var g group
		if err := rows.Scan(&g.rid, &g.data); err != nil {
			rows.Close()
			return err
		}
		groups = append(groups, g)
	}
	if err := rows.Close(); err != nil {
		return err
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for _, g := range groups {
		var res map[string]json.RawMessage
		if err := json.Unmarshal(g.data, &res); err != nil {
			return fmt.Errorf("group rid %d: %w", g.rid, err)
		}
		raw, ok := res[store.MembersPath]
		if !ok {
			continue
		}
		var elems []json.RawMessage
		if err := json.Unmarshal(raw, &elems); err != nil {
			return fmt.Errorf("group rid %d: members: %w", g.rid, err)
		}
		seen := map[string]bool{}
		for i, el := range elems {
			var m struct {
				Value string `json:"value"`
			}
			if err := json.Unmarshal(el, &m); err != nil || m.Value == "" || seen[m.Value] {
				continue
			}
			seen[m.Value] = true
			if _, err := conn.ExecContext(ctx, d.rebind("INSERT INTO members (rid, elem, value, data) VALUES (?, ?, ?, ?)"),
				g.rid, i, m.Value, []byte(el)); err != nil {
				return err
			}
		}
		delete(res, store.MembersPath)
		b, err := json.Marshal(res)
		if err != nil {
			return err
		}
		if _, err := conn.ExecContext(ctx, d.rebind("UPDATE resources SET data = ? WHERE rid = ?"), b, g.rid); err != nil {
			return err
		}
	}
	return nil
}
