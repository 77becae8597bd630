package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
)

// postgresDialect runs the store on PostgreSQL (13 or later). Text
// columns use the "C" collation, so that they compare and sort byte-wise
// as SQLite's do; CHAR(n) columns become VARCHAR(n), since PostgreSQL pads
// CHAR values with spaces.
var postgresDialect = &dialect{
	numbered: true,
	utf8Only: true,
	types: strings.NewReplacer(
		"{serial}", "BIGSERIAL PRIMARY KEY",
		"{sequence}", "BIGSERIAL PRIMARY KEY",
		"{blob}", "BYTEA",
		"{text}", `TEXT COLLATE "C"`,
		"{strkey}", "str",
		"{anchored}", " WHERE anchor <> ''",
		"VARCHAR(", "VARCHAR(",
		"CHAR(", "VARCHAR(",
	),
	// One writer per database (see SQL): serializable costs nothing
	// more, and the store's checks before its writes stay sound.
	beginWrite: "BEGIN ISOLATION LEVEL SERIALIZABLE",
	// The replicas' writers take turns (a session lock, taken before the
	// transaction's snapshot): serializable transactions that overlapped
	// would abort each other, far more often than their rows conflict,
	// since PostgreSQL tracks what they read by index page.
	// Before autovacuum first analyses a fresh database's tables (a minute
	// or more), the planner takes any index that shares a lookup's first
	// columns: a first sync read every record of the target per user.
	analyze:     "ANALYZE resources, idx, members, changes, provisioned, provisioned_members, outbox",
	writeLock:   "SELECT 1 FROM (SELECT pg_advisory_lock(5412903)) l",
	writeUnlock: "SELECT 1 FROM (SELECT pg_advisory_unlock(5412903)) l",
	beginRead:   "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
	returning:   true,
	// A session lock: a transaction's lock would come after its
	// snapshot, which would miss the migrations of the replica it waited
	// for.
	sessionLock:   "SELECT 1 FROM (SELECT pg_advisory_lock(5412901)) l",
	sessionUnlock: "SELECT pg_advisory_unlock(5412901)",
	// No journal lock: the writers take turns (writeLock), so journal
	// entries commit in the order of their numbers.
	contains: func(col, lit string) (string, []any) {
		return "strpos(" + col + ", ?) > 0", []any{lit}
	},
	endsWith: func(col, lit string) (string, []any) {
		return "right(" + col + ", ?) = ?", []any{len([]rune(lit)), lit}
	},
	isUnique: func(err error) bool {
		var e *pgconn.PgError
		return errors.As(err, &e) && e.Code == "23505"
	},
	isConflict: func(err error) bool {
		var e *pgconn.PgError
		// serialization_failure, deadlock_detected.
		return errors.As(err, &e) && (e.Code == "40001" || e.Code == "40P01")
	},
	isInvalidText: func(err error) bool {
		var e *pgconn.PgError
		// 22021: invalid byte sequence (U+0000 included); 22P05:
		// untranslatable character.
		return errors.As(err, &e) && (e.Code == "22021" || e.Code == "22P05")
	},
	isFault: func(err error) bool {
		var e *pgconn.PgError
		if errors.As(err, &e) {
			// Class 53: insufficient resources (disk full, out of
			// memory, too many connections); 58: system errors (I/O);
			// 57P: the server shuts down; 25006: read-only transaction
			// (a standby); 08: the connection failed.
			return strings.HasPrefix(e.Code, "53") || strings.HasPrefix(e.Code, "58") ||
				strings.HasPrefix(e.Code, "57P") || e.Code == "25006" || strings.HasPrefix(e.Code, "08")
		}
		return pgconn.SafeToRetry(err) || pgconn.Timeout(err) || isConnFault(err) || isOSFault(err)
	},
}

// isConnFault reports whether err says that the connection to a database
// server is gone.
func isConnFault(err error) bool {
	var ce *pgconn.ConnectError
	return errors.As(err, &ce) || errors.Is(err, sql.ErrConnDone)
}

// OpenPostgres opens the store on the PostgreSQL database of dsn (a
// postgres:// URL or a key=value string, as libpq and pgx take them) and
// brings its schema up to date. Concurrent openers migrate one at a time.
func OpenPostgres(ctx context.Context, dsn string) (*SQL, error) {
	return openPostgres(ctx, dsn, migrations)
}

func openPostgres(ctx context.Context, dsn string, migs []migration, opts ...func(*SQL)) (*SQL, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		// pgx's errors repeat the DSN, password included.
		return nil, errors.New("store: open postgres: the DSN does not parse")
	}
	where := fmt.Sprintf("postgres %s:%d/%s", cfg.Host, cfg.Port, cfg.Database)
	pool := func(readOnly bool) func() (*sql.DB, error) {
		return func() (*sql.DB, error) {
			c := cfg.Copy()
			if c.RuntimeParams == nil {
				c.RuntimeParams = map[string]string{}
			}
			c.RuntimeParams["application_name"] = "scimgate"
			if readOnly {
				c.RuntimeParams["default_transaction_read_only"] = "on"
			}
			return stdlib.OpenDB(*c), nil
		}
	}
	return open(ctx, postgresDialect, where, pool(false), pool(true), migs, opts...)
}
