package sqlstore

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/scimgate/scimgate/internal/store"
)

func eq(path, v string) store.Compare {
	return store.Compare{Paths: []string{path}, Op: store.Eq, Str: v}
}

// TestQueryPlan checks that selective conditions are answered from the
// (type, path, str) index, not by scanning the resources.
func TestQueryPlan(t *testing.T) {
	s := openTest(t)
	tests := []struct {
		name string
		cond store.Cond
	}{
		{"eq", eq("username", "alice")},
		{"sw", store.Compare{Paths: []string{"username"}, Op: store.Sw, Str: "al"}},
		{"eq on several paths", store.Compare{Paths: []string{"username", "title"}, Op: store.Eq, Str: "alice"}},
		{"and with not", store.And{store.Not{C: eq("title", "x")}, eq("username", "alice")}},
		{"or", store.Or{eq("username", "alice"), eq("username", "bob")}},
		{"elem", store.Elem{Root: "emails", C: store.And{eq("emails.type", "work"), eq("emails.value", "a@b")}}},
		{"id", eq("id", "u1")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w, err := s.d.where("User", tc.cond)
			if err != nil {
				t.Fatal(err)
			}
			var plan []string
			err = s.read(context.Background(), func(ctx context.Context, c *conn) error {
				rows, err := c.c.QueryContext(ctx, "EXPLAIN QUERY PLAN SELECT r.id FROM resources r WHERE "+w.sql, w.args...)
				if err != nil {
					return err
				}
				defer rows.Close()
				for rows.Next() {
					var id, parent, unused int
					var detail string
					if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
						return err
					}
					plan = append(plan, detail)
				}
				return rows.Err()
			})
			if err != nil {
				t.Fatal(err)
			}
			text := strings.Join(plan, "\n")
			for _, line := range plan {
				if strings.HasPrefix(line, "SCAN") {
					t.Errorf("plan scans:\n%s", text)
				}
			}
			// Resources are visited by rid, candidates come from an index
			// lookup: never a walk over all resources of the type.
			if plan[0] != "SEARCH r USING INTEGER PRIMARY KEY (rowid=?)" {
				t.Errorf("resources not looked up by rid:\n%s", text)
			}
			if !strings.Contains(text, "USING INDEX idx_str (type=? AND path=? AND str") &&
				!strings.Contains(text, "sqlite_autoindex_resources_1 (type=? AND id=?)") {
				t.Errorf("plan does not use the index:\n%s", text)
			}
		})
	}
}

// TestLimitKeepsStatementPrepared: a statement whose LIMIT is a bare
// parameter is prepared again by SQLite (since 3.47) every time it is
// bound, with the value compiled in (the planner reads it): parsing and
// planning were half of a userName eq lookup. EXPLAIN shows it: the
// re-prepared program loads the limit as an Integer constant. The store's
// statements with a LIMIT must keep reading it from the parameter.
func TestLimitKeepsStatementPrepared(t *testing.T) {
	s := openTest(t)
	const limit = 7777 // a value no statement holds
	w, err := s.d.where("User", eq("username", "alice"))
	if err != nil {
		t.Fatal(err)
	}
	page, pageArgs := pageSQL(w, true, "", false, limit, 0)
	scan, scanArgs := pageSQL(w, false, "", false, limit, 0)
	sorted, sortedArgs := pageSQL(w, false, "username", true, limit, 0)
	for _, tc := range []struct {
		name string
		sql  string
		args []any
	}{
		{"page (lookup)", page, pageArgs},
		{"page (scan)", scan, scanArgs},
		{"sorted page", sorted, sortedArgs},
		{"changes", changesSQL, []any{0, limit}},
		{"outbox", outboxSQL, []any{"t", 0, limit}},
		{"held", heldSQL, []any{"t", limit}},
		{"deliverable", deliverableSQL, []any{"t", limit}},
		{"audit", "SELECT " + auditCols + " FROM audit" + auditOrderSQL, []any{limit}},
		{"reconciliations", reconSelectSQL + reconOrderSQL, []any{limit}},
		{"reconciliations kept", reconKeepSQL, []any{"t", limit}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := s.read(context.Background(), func(ctx context.Context, c *conn) error {
				rows, err := c.query(ctx, "EXPLAIN "+tc.sql, tc.args...)
				if err != nil {
					return err
				}
				defer rows.Close()
				cols, err := rows.Columns()
				if err != nil {
					return err
				}
				vals := make([]any, len(cols))
				ptrs := make([]any, len(cols))
				for i := range vals {
					ptrs[i] = &vals[i]
				}
				for rows.Next() {
					if err := rows.Scan(ptrs...); err != nil {
						return err
					}
					if fmt.Sprint(vals[1]) == "Integer" && fmt.Sprint(vals[2]) == fmt.Sprint(limit) {
						t.Errorf("the program loads the limit %d as a constant: SQLite prepared it again for the bound value:\n%s", limit, tc.sql)
					}
				}
				return rows.Err()
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}
