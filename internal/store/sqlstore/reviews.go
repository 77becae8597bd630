package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/scimgate/scimgate/internal/store"
)

const (
	rvInstCols = "id, definition, occurrence, status, start_at, end_at, ended_at, ended_by, applied_at, applied_by, data, stage"
	rvItemCols = "instance, idx, user_id, user_name, display_name, resource_type, resource, resource_name, guest, last_sign_in, " +
		"recommendation, reason, decision, justification, reviewed_by, reviewed_at, apply_result, apply_detail, applied_at, " +
		"stage, stage1_decision, stage1_justification, stage1_reviewed_by, stage1_reviewed_at"
	rvAddInstSQL = "INSERT INTO review_instances (definition, occurrence, status, start_at, end_at, ended_at, ended_by, applied_at, applied_by, data, stage)" +
		" VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (definition, start_at) DO NOTHING"
	rvInstIDSQL  = "SELECT id FROM review_instances WHERE definition = ? AND start_at = ?"
	rvAddItemSQL = "INSERT INTO review_items (" + rvItemCols + ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
	rvUpdInstSQL = "UPDATE review_instances SET status = ?, end_at = ?, ended_at = ?, ended_by = ?, applied_at = ?, applied_by = ?, stage = ? WHERE id = ?"
	rvUpdItemSQL = "UPDATE review_items SET decision = ?, justification = ?, reviewed_by = ?, reviewed_at = ?, apply_result = ?, apply_detail = ?, applied_at = ?," +
		" stage = ?, stage1_decision = ?, stage1_justification = ?, stage1_reviewed_by = ?, stage1_reviewed_at = ? WHERE instance = ? AND idx = ?"
	rvAddRevSQL    = "INSERT INTO review_reviewers (instance, idx, reviewer) VALUES (?, ?, ?)"
	rvDelRevSQL    = "DELETE FROM review_reviewers WHERE instance = ? AND idx = ?"
	rvAddNoticeSQL = "INSERT INTO review_notices (instance, recipient, kind, at, error) VALUES (?, ?, ?, ?, ?)" +
		" ON CONFLICT (instance, recipient, kind) DO NOTHING"
)

// CreateReviewInstance implements Tx.
func (t *sqlTx) CreateReviewInstance(ctx context.Context, in *store.ReviewInstance, items []store.ReviewItem) (bool, error) {
	ctx, err := t.begin(ctx)
	if err != nil {
		return false, err
	}
	if in.Definition == "" || in.Status == "" || in.Start.IsZero() || in.End.IsZero() {
		return false, errors.New("store: review instance: definition, status, start and end are required")
	}
	id, inserted, err := t.w.insert(ctx, rvAddInstSQL, "id", in.Definition, in.Occurrence, in.Status, timeText(in.Start), timeText(in.End),
		timeText(in.Ended), in.EndedBy, timeText(in.Applied), in.AppliedBy, data(in.Data), stageOr1(in.Stage))
	if err != nil {
		return false, fmt.Errorf("store: review instance: %w", err)
	}
	if !inserted {
		if err := t.w.queryRow(ctx, rvInstIDSQL, in.Definition, timeText(in.Start)).Scan(&in.ID); err != nil {
			return false, fmt.Errorf("store: review instance: %w", err)
		}
		return false, nil
	}
	in.ID = id
	for i := range items {
		it := &items[i]
		it.Instance = in.ID
		if _, err := t.w.exec(ctx, rvAddItemSQL, it.Instance, it.Index, it.User, it.UserName, it.DisplayName, it.ResourceType,
			it.Resource, it.ResourceName, boolInt(it.Guest), timeText(it.LastSignIn), it.Recommendation, it.Reason, it.Decision,
			it.Justification, it.ReviewedBy, timeText(it.ReviewedAt), it.ApplyResult, it.ApplyDetail, timeText(it.AppliedAt),
			stageOr1(it.Stage), it.Stage1Decision, it.Stage1Justification, it.Stage1ReviewedBy, timeText(it.Stage1ReviewedAt)); err != nil {
			return false, fmt.Errorf("store: review item: %w", err)
		}
		if err := t.putReviewers(ctx, *it); err != nil {
			return false, err
		}
	}
	return true, nil
}

// stageOr1 is a stage as saved: 1 for 0.
func stageOr1(stage int) int { return max(stage, 1) }

// putReviewers records the reviewers of it (after dropping the old ones).
func (t *sqlTx) putReviewers(ctx context.Context, it store.ReviewItem) error {
	if _, err := t.w.exec(ctx, rvDelRevSQL, it.Instance, it.Index); err != nil {
		return fmt.Errorf("store: review reviewers: %w", err)
	}
	for _, r := range slices.Compact(slices.Sorted(slices.Values(it.Reviewers))) {
		if _, err := t.w.exec(ctx, rvAddRevSQL, it.Instance, it.Index, r); err != nil {
			return fmt.Errorf("store: review reviewers: %w", err)
		}
	}
	return nil
}

// UpdateReviewInstance implements Tx.
func (t *sqlTx) UpdateReviewInstance(ctx context.Context, in store.ReviewInstance) error {
	return t.execRow(ctx, "review instance", fmt.Sprintf("review instance %d", in.ID), rvUpdInstSQL,
		in.Status, timeText(in.End), timeText(in.Ended), in.EndedBy, timeText(in.Applied), in.AppliedBy, stageOr1(in.Stage), in.ID)
}

// UpdateReviewItem implements Tx.
func (t *sqlTx) UpdateReviewItem(ctx context.Context, it store.ReviewItem) error {
	if err := t.execRow(ctx, "review item", fmt.Sprintf("item %d of review instance %d", it.Index, it.Instance), rvUpdItemSQL,
		it.Decision, it.Justification, it.ReviewedBy, timeText(it.ReviewedAt), it.ApplyResult, it.ApplyDetail, timeText(it.AppliedAt),
		stageOr1(it.Stage), it.Stage1Decision, it.Stage1Justification, it.Stage1ReviewedBy, timeText(it.Stage1ReviewedAt),
		it.Instance, it.Index); err != nil {
		return err
	}
	ctx, err := t.begin(ctx)
	if err != nil {
		return err
	}
	return t.putReviewers(ctx, it)
}

// AddReviewNotice implements Tx.
func (t *sqlTx) AddReviewNotice(ctx context.Context, n store.ReviewNotice) error {
	return t.execTx(ctx, "review notice", rvAddNoticeSQL, n.Instance, n.Recipient, n.Kind, timeText(n.At), n.Error)
}

// UseReviewLink implements Tx.
func (t *sqlTx) UseReviewLink(ctx context.Context, id string, expires, now time.Time) (bool, error) {
	ctx, err := t.begin(ctx)
	if err != nil {
		return false, err
	}
	if _, err := t.w.exec(ctx, "DELETE FROM review_links WHERE expires < ?", timeText(now)); err != nil {
		return false, fmt.Errorf("store: review link: %w", err)
	}
	res, err := t.w.exec(ctx, "INSERT INTO review_links (id, expires) VALUES (?, ?) ON CONFLICT (id) DO NOTHING", id, timeText(expires))
	if err != nil {
		return false, fmt.Errorf("store: review link: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("store: review link: %w", err)
	}
	return n == 1, nil
}

// ReviewInstance implements Tx.
func (t *sqlTx) ReviewInstance(ctx context.Context, id int64) (store.ReviewInstance, error) {
	ctx, err := t.begin(ctx)
	if err != nil {
		return store.ReviewInstance{}, err
	}
	return reviewInstance(ctx, t.w, id)
}

// ReviewInstance implements Store.
func (s *SQL) ReviewInstance(ctx context.Context, id int64) (in store.ReviewInstance, err error) {
	err = s.read(ctx, func(ctx context.Context, c *conn) error {
		in, err = reviewInstance(ctx, c, id)
		return err
	})
	return in, err
}

func reviewInstance(ctx context.Context, c *conn, id int64) (store.ReviewInstance, error) {
	in, err := scanReviewInstance(c.queryRow(ctx, "SELECT "+rvInstCols+" FROM review_instances WHERE id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return store.ReviewInstance{}, fmt.Errorf("%w: review instance %d", store.ErrNotFound, id)
	}
	if err != nil {
		return store.ReviewInstance{}, fmt.Errorf("store: review instance: %w", err)
	}
	return in, nil
}

func scanReviewInstance(row scanner) (store.ReviewInstance, error) {
	var in store.ReviewInstance
	var start, end, ended, applied string
	if err := row.Scan(&in.ID, &in.Definition, &in.Occurrence, &in.Status, &start, &end, &ended, &in.EndedBy, &applied,
		&in.AppliedBy, &in.Data, &in.Stage); err != nil {
		return store.ReviewInstance{}, err
	}
	var err error
	for _, f := range []struct {
		s   string
		dst *time.Time
	}{{start, &in.Start}, {end, &in.End}, {ended, &in.Ended}, {applied, &in.Applied}} {
		if *f.dst, err = parseTimeText(f.s); err != nil {
			return store.ReviewInstance{}, err
		}
	}
	return in, nil
}

// ReviewInstances implements Store.
func (s *SQL) ReviewInstances(ctx context.Context, q store.ReviewInstanceQuery) (out []store.ReviewInstance, err error) {
	stmt := "SELECT " + rvInstCols + " FROM review_instances WHERE 1 = 1"
	var args []any
	if q.Definition != "" {
		stmt += " AND definition = ?"
		args = append(args, q.Definition)
	}
	if len(q.Status) > 0 {
		stmt += " AND status IN (?" + strings.Repeat(", ?", len(q.Status)-1) + ")"
		for _, st := range q.Status {
			args = append(args, st)
		}
	}
	if !q.Start.IsZero() {
		stmt += " AND start_at = ?"
		args = append(args, timeText(q.Start))
	}
	stmt += " ORDER BY start_at DESC, id DESC"
	if q.Limit > 0 {
		stmt += " LIMIT " + limitArg
		args = append(args, q.Limit)
	}
	err = s.read(ctx, func(ctx context.Context, c *conn) error {
		rows, err := c.query(ctx, stmt, args...)
		if err != nil {
			return fmt.Errorf("store: review instances: %w", err)
		}
		defer rows.Close()
		out = []store.ReviewInstance{}
		for rows.Next() {
			in, err := scanReviewInstance(rows)
			if err != nil {
				return fmt.Errorf("store: review instances: %w", err)
			}
			out = append(out, in)
		}
		return rows.Err()
	})
	return out, err
}

// ReviewItems implements Tx.
func (t *sqlTx) ReviewItems(ctx context.Context, q store.ReviewItemQuery) ([]store.ReviewItem, error) {
	ctx, err := t.begin(ctx)
	if err != nil {
		return nil, err
	}
	return reviewItems(ctx, t.w, q)
}

// ReviewItems implements Store.
func (s *SQL) ReviewItems(ctx context.Context, q store.ReviewItemQuery) (out []store.ReviewItem, err error) {
	err = s.read(ctx, func(ctx context.Context, c *conn) error {
		out, err = reviewItems(ctx, c, q)
		return err
	})
	return out, err
}

func reviewItems(ctx context.Context, c *conn, q store.ReviewItemQuery) ([]store.ReviewItem, error) {
	cols := "i." + strings.ReplaceAll(rvItemCols, ", ", ", i.")
	stmt := "SELECT " + cols + " FROM review_items i"
	var args []any
	if q.Reviewer != "" {
		stmt += " JOIN review_reviewers r ON r.instance = i.instance AND r.idx = i.idx AND r.reviewer = ?"
		args = append(args, q.Reviewer)
	}
	if q.Status != "" {
		stmt += " JOIN review_instances n ON n.id = i.instance AND n.status = ?"
		args = append(args, q.Status)
	}
	stmt += " WHERE 1 = 1"
	if q.Instance != 0 {
		stmt += " AND i.instance = ?"
		args = append(args, q.Instance)
	}
	if q.Index != 0 {
		stmt += " AND i.idx = ?"
		args = append(args, q.Index)
	}
	if q.Pending {
		stmt += " AND i.decision = ?"
		args = append(args, store.ReviewNotReviewed)
	}
	stmt += " ORDER BY i.instance, i.idx"
	rows, err := c.query(ctx, stmt, args...)
	if err != nil {
		return nil, fmt.Errorf("store: review items: %w", err)
	}
	out := []store.ReviewItem{}
	for rows.Next() {
		var it store.ReviewItem
		var guest int
		var signIn, reviewed, applied, reviewed1 string
		if err := rows.Scan(&it.Instance, &it.Index, &it.User, &it.UserName, &it.DisplayName, &it.ResourceType, &it.Resource,
			&it.ResourceName, &guest, &signIn, &it.Recommendation, &it.Reason, &it.Decision, &it.Justification, &it.ReviewedBy,
			&reviewed, &it.ApplyResult, &it.ApplyDetail, &applied, &it.Stage, &it.Stage1Decision, &it.Stage1Justification,
			&it.Stage1ReviewedBy, &reviewed1); err != nil {
			rows.Close()
			return nil, fmt.Errorf("store: review items: %w", err)
		}
		it.Guest = guest != 0
		for _, f := range []struct {
			s   string
			dst *time.Time
		}{{signIn, &it.LastSignIn}, {reviewed, &it.ReviewedAt}, {applied, &it.AppliedAt}, {reviewed1, &it.Stage1ReviewedAt}} {
			if *f.dst, err = parseTimeText(f.s); err != nil {
				rows.Close()
				return nil, fmt.Errorf("store: review items: %w", err)
			}
		}
		out = append(out, it)
	}
	if err := rows.Err(); err != nil {
		rows.Close()
		return nil, fmt.Errorf("store: review items: %w", err)
	}
	rows.Close()
	// The reviewers, read per instance of the answer.
	byItem := map[[2]int64][]string{}
	instances := map[int64]bool{}
	for _, it := range out {
		instances[it.Instance] = true
	}
	for _, in := range slices.Sorted(maps.Keys(instances)) {
		rs, err := c.query(ctx, "SELECT idx, reviewer FROM review_reviewers WHERE instance = ? ORDER BY idx, reviewer", in)
		if err != nil {
			return nil, fmt.Errorf("store: review reviewers: %w", err)
		}
		for rs.Next() {
			var idx int64
			var r string
			if err := rs.Scan(&idx, &r); err != nil {
				rs.Close()
				return nil, fmt.Errorf("store: review reviewers: %w", err)
			}
			byItem[[2]int64{in, idx}] = append(byItem[[2]int64{in, idx}], r)
		}
		err = rs.Err()
		rs.Close()
		if err != nil {
			return nil, fmt.Errorf("store: review reviewers: %w", err)
		}
	}
	for i := range out {
		out[i].Reviewers = byItem[[2]int64{out[i].Instance, int64(out[i].Index)}]
		if out[i].Reviewers == nil {
			out[i].Reviewers = []string{}
		}
	}
	return out, nil
}

// ReviewCounts implements Store.
func (s *SQL) ReviewCounts(ctx context.Context, instance int64) (out store.ReviewCounts, err error) {
	err = s.read(ctx, func(ctx context.Context, c *conn) error {
		out = store.ReviewCounts{Decisions: map[string]int{}, ByReviewer: map[string]map[string]int{}}
		rows, err := c.query(ctx, "SELECT decision, COUNT(*) FROM review_items WHERE instance = ? GROUP BY decision", instance)
		if err != nil {
			return fmt.Errorf("store: review counts: %w", err)
		}
		for rows.Next() {
			var d string
			var n int
			if err := rows.Scan(&d, &n); err != nil {
				rows.Close()
				return fmt.Errorf("store: review counts: %w", err)
			}
			out.Decisions[d] = n
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return fmt.Errorf("store: review counts: %w", err)
		}
		rows, err = c.query(ctx, "SELECT r.reviewer, i.decision, COUNT(*) FROM review_reviewers r JOIN review_items i"+
			" ON i.instance = r.instance AND i.idx = r.idx WHERE r.instance = ? GROUP BY r.reviewer, i.decision", instance)
		if err != nil {
			return fmt.Errorf("store: review counts: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var r, d string
			var n int
			if err := rows.Scan(&r, &d, &n); err != nil {
				return fmt.Errorf("store: review counts: %w", err)
			}
			if out.ByReviewer[r] == nil {
				out.ByReviewer[r] = map[string]int{}
			}
			out.ByReviewer[r][d] = n
		}
		return rows.Err()
	})
	return out, err
}

// ReviewNotices implements Store.
func (s *SQL) ReviewNotices(ctx context.Context, instance int64) (out []store.ReviewNotice, err error) {
	err = s.read(ctx, func(ctx context.Context, c *conn) error {
		rows, err := c.query(ctx, "SELECT instance, recipient, kind, at, error FROM review_notices WHERE instance = ? ORDER BY at, recipient, kind", instance)
		if err != nil {
			return fmt.Errorf("store: review notices: %w", err)
		}
		defer rows.Close()
		out = []store.ReviewNotice{}
		for rows.Next() {
			var n store.ReviewNotice
			var at string
			if err := rows.Scan(&n.Instance, &n.Recipient, &n.Kind, &at, &n.Error); err != nil {
				return fmt.Errorf("store: review notices: %w", err)
			}
			if n.At, err = parseTimeText(at); err != nil {
				return fmt.Errorf("store: review notices: %w", err)
			}
			out = append(out, n)
		}
		return rows.Err()
	})
	return out, err
}

// ReviewDefinitions implements Store.
func (s *SQL) ReviewDefinitions(ctx context.Context) (out []store.ReviewDefinition, err error) {
	err = s.read(ctx, func(ctx context.Context, c *conn) error {
		rows, err := c.query(ctx, "SELECT name, data, created, updated FROM review_definitions ORDER BY created, name")
		if err != nil {
			return fmt.Errorf("store: review definitions: %w", err)
		}
		defer rows.Close()
		out = []store.ReviewDefinition{}
		for rows.Next() {
			var d store.ReviewDefinition
			var created, updated string
			if err := rows.Scan(&d.Name, &d.Data, &created, &updated); err != nil {
				return fmt.Errorf("store: review definitions: %w", err)
			}
			if d.Created, err = parseTimeText(created); err == nil {
				d.Updated, err = parseTimeText(updated)
			}
			if err != nil {
				return fmt.Errorf("store: review definitions: %w", err)
			}
			out = append(out, d)
		}
		return rows.Err()
	})
	return out, err
}

// PutReviewDefinition implements Tx.
func (t *sqlTx) PutReviewDefinition(ctx context.Context, d store.ReviewDefinition) error {
	if err := t.execTx(ctx, "review definition", "DELETE FROM review_definitions WHERE name = ?", d.Name); err != nil {
		return err
	}
	return t.execTx(ctx, "review definition", "INSERT INTO review_definitions (name, data, created, updated) VALUES (?, ?, ?, ?)",
		d.Name, data(d.Data), timeText(d.Created), timeText(d.Updated))
}

// DeleteReviewDefinition implements Tx.
func (t *sqlTx) DeleteReviewDefinition(ctx context.Context, name string) error {
	return t.execRow(ctx, "review definition", fmt.Sprintf("review definition %q", name), "DELETE FROM review_definitions WHERE name = ?", name)
}
