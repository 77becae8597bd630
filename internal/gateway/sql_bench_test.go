package gateway

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/scimgate/scimgate/internal/dbtest"
	"github.com/scimgate/scimgate/internal/engine"
)

// BenchmarkSQLEndToEnd measures SCIM -> MariaDB provisioning: 10,000
// users (1,000 with -short) posted by 8 concurrent SCIM clients to a
// gateway whose sql target has 8 pooled connections and 8 delivery
// workers, timed from the first request until the last user row is
// committed. Beside it, in the same run and on the same server, the raw
// rate at which go-sql-driver alone inserts the same rows (a user row and
// its mail row, one transaction per user) over 8 connections. Run with
// -benchtime 1x.
func BenchmarkSQLEndToEnd(b *testing.B) {
	const conns = 8
	users := 10000
	if testing.Short() {
		users = 1000
	}
	srv := dbtest.StartMariaDB(b)
	for range b.N {
		b.StopTimer()
		raw := rawSQLInserts(b, srv, users, conns)
		e2e, accepted := e2eSQL(b, srv, users, conns, false)
		ceiling, _ := e2eSQL(b, srv, users, conns, true)
		b.ReportMetric(raw, "raw_users/s")
		b.ReportMetric(e2e, "e2e_users/s")
		b.ReportMetric(accepted, "scim_accepted/s")
		b.ReportMetric(100*e2e/raw, "e2e_%_of_raw")
		b.ReportMetric(ceiling, "memory_e2e_users/s")
		b.StartTimer()
	}
}

// sqlCeilingTarget is sqlAppTarget's mapping on the in-memory connector,
// whose own cost is negligible: the gateway's ceiling for the same SCIM
// traffic.
const sqlCeilingTarget = `
- name: app
  type: memory
  users:
    scope: {all: true}
    mapping:
      - {target: userName, source: userName}
      - {target: displayName, expression: 'Join(" ", user.name.givenName, user.name.familyName)'}
      - {target: department, expression: 'user.enterprise.department'}
      - {target: mail, source: emails.value}
`

// rawSQLInserts inserts n users as the connector does, into the tables
// the sql target creates, over conns connections, and returns the users
// per second.
func rawSQLInserts(b *testing.B, srv *dbtest.Server, n, conns int) float64 {
	sg := startSQLGateway(b, srv, conns, nil) // creates the app's tables
	db := sg.db
	db.SetMaxOpenConns(conns)
	db.SetMaxIdleConns(conns)
	ctx := context.Background()
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range conns {
		wg.Go(func() {
			for {
				i := int(next.Add(1))
				if i > n {
					return
				}
				if err := rawInsert(ctx, db, i); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	return float64(n) / time.Since(start).Seconds()
}

// rawInsert inserts user i and its mail in one transaction.
func rawInsert(ctx context.Context, db *sql.DB, i int) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	id, login := uuid.NewString(), fmt.Sprintf("bench%06d@contoso.com", i)
	if _, err := tx.ExecContext(ctx, "INSERT INTO `app_users` (`id`, `scim_id`, `department`, `display_name`, `login`, `status`) VALUES (?, ?, ?, ?, ?, ?)",
		id, uuid.NewString(), "Sales", "Given Family", login, "active"); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO `app_user_mails` (`user_id`, `mail`) VALUES (?, ?)", id, login); err != nil {
		return err
	}
	return tx.Commit()
}

// e2eSQL posts n users from conns SCIM clients to a gateway with a sql
// target (or, with memory, the same mapping on the in-memory connector)
// and returns the users per second until the last row is committed (the
// last user delivered), and the SCIM requests accepted per second.
func e2eSQL(b *testing.B, srv *dbtest.Server, n, conns int, memory bool) (e2e, accepted float64) {
	tune := func(o *engine.Options) { o.Concurrency = conns }
	var sg *sqlGateway
	if memory {
		sg = &sqlGateway{g: startTargetsGateway(b, []byte(sqlCeilingTarget), tune)}
	} else {
		sg = startSQLGateway(b, srv, conns, tune)
	}
	base := sg.g.BaseURL()
	start := time.Now()
	accepted = postUsers(b, base, 0, n, conns)
	ctx := context.Background()
	deadline := time.Now().Add(10 * time.Minute)
	for {
		// Every request was answered, so every change is stored: idle
		// means every user is delivered.
		done, detail := idleNow(ctx, sg.g)
		if done && !memory {
			var rows int
			if err := sg.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM app_users").Scan(&rows); err != nil {
				b.Fatal(err)
			}
			done, detail = rows >= n, fmt.Sprintf("%d of %d users in the database", rows, n)
		}
		if done {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("not done after 10 minutes: %s", detail)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return float64(n) / time.Since(start).Seconds(), accepted
}
