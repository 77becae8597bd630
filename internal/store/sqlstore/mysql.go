package sqlstore

import (
	"context"
	"database/sql"
	sqldriver "database/sql/driver"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"regexp"
	"strings"

	"github.com/go-sql-driver/mysql"
)

// mysqlDialect runs the store on MariaDB (10.6 or later) or MySQL (8.0 or
// later), InnoDB. Every table uses the binary character set, so that text
// compares and sorts byte-wise as SQLite's BINARY collation does, and
// without PAD SPACE; CHAR(n) columns become VARCHAR(n), since a binary
// CHAR is padded with zero bytes.
var mysqlDialect = &dialect{
	types: strings.NewReplacer(
		"{serial}", "BIGINT AUTO_INCREMENT PRIMARY KEY",
		"{sequence}", "BIGINT AUTO_INCREMENT PRIMARY KEY",
		"{blob}", "LONGBLOB",
		"{text}", "LONGBLOB",
		// An index on a LONGBLOB column indexes a prefix: equality and
		// ranges still use it, and compare the whole value.
		"{strkey}", "str(1024)",
		"{anchored}", "", // no partial indexes
		"DROP INDEX provisioned_anchor", "DROP INDEX provisioned_anchor ON provisioned", // migration 24
		"VARCHAR(", "VARCHAR(",
		"CHAR(", "VARCHAR(",
		" TEXT", " LONGBLOB",
		"\n\t)", "\n\t) ENGINE=InnoDB DEFAULT CHARSET=binary",
		"DROP INDEX idx_rid", "DROP INDEX idx_rid ON idx", // migration 10

	),
	// Serializable, as on PostgreSQL: replicas write concurrently.
	isolate:    "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE",
	beginWrite: "BEGIN",
	beginRead:  "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY",
	// A session lock, held across the DDL's implicit commits.
	sessionLock:   "SELECT GET_LOCK('scimgate.schema', 600)",
	sessionUnlock: "SELECT RELEASE_LOCK('scimgate.schema')",
	rewrite:       mysqlRewrite,
	// The lock of a row (made by the first): InnoDB waits for it.
	lockJournal: "INSERT INTO cursors (name, pos) VALUES ('store.journal', 0) ON DUPLICATE KEY UPDATE pos = pos",
	contains: func(col, lit string) (string, []any) {
		return "LOCATE(?, " + col + ") > 0", []any{[]byte(lit)}
	},
	endsWith: func(col, lit string) (string, []any) {
		return "RIGHT(" + col + ", ?) = ?", []any{len(lit), []byte(lit)}
	},
	isUnique: func(err error) bool {
		var e *mysql.MySQLError
		return errors.As(err, &e) && e.Number == 1062
	},
	isConflict: func(err error) bool {
		var e *mysql.MySQLError
		// A deadlock; a lock wait timeout.
		return errors.As(err, &e) && (e.Number == 1213 || e.Number == 1205)
	},
	isInvalidText: func(err error) bool {
		var e *mysql.MySQLError
		// 1406: data too long for a column.
		return errors.As(err, &e) && e.Number == 1406
	},
	isFault: func(err error) bool {
		var e *mysql.MySQLError
		if errors.As(err, &e) {
			switch e.Number {
			case 1021, 1114, 1030, 1036, 1290, 1053, 1927, 2006, 2013:
				// Disk full, table full, storage engine error,
				// read-only, --read-only, server shutdown, connection
				// killed, server gone, connection lost.
				return true
			}
			return false
		}
		return errors.Is(err, mysql.ErrInvalidConn) || errors.Is(err, sqldriver.ErrBadConn) ||
			errors.Is(err, sql.ErrConnDone) || isNetFault(err) || isOSFault(err)
	},
}

var (
	onConflictUpdate = regexp.MustCompile(`ON CONFLICT \([^)]*\) DO UPDATE SET `)
	excluded         = regexp.MustCompile(`excluded\.(\w+)`)
	onConflictNone   = regexp.MustCompile(`ON CONFLICT \((\w+)[^)]*\) DO NOTHING`)
)

// mysqlRewrite turns the store's portable SQL into MySQL's: upserts, and
// LIMIT values, which MySQL takes only as a bare placeholder.
func mysqlRewrite(q string) string {
	if onConflictUpdate.MatchString(q) {
		q = onConflictUpdate.ReplaceAllString(q, "ON DUPLICATE KEY UPDATE ")
		q = excluded.ReplaceAllString(q, "VALUES($1)")
	}
	// An update that changes nothing: the row counts as not affected.
	q = onConflictNone.ReplaceAllString(q, "ON DUPLICATE KEY UPDATE $1 = $1")
	// A page's subquery (pageSQL): MariaDB takes no LIMIT in an IN
	// subquery, but does in a derived table inside it.
	const in, end = "r.rid IN (SELECT r.rid FROM", "OFFSET ?) ORDER BY r.rid"
	if strings.Contains(q, in) && strings.HasSuffix(q, end) {
		q = strings.Replace(q, in, "r.rid IN (SELECT p.rid FROM (SELECT r.rid FROM", 1)
		q = strings.TrimSuffix(q, end) + "OFFSET ?) p) ORDER BY r.rid"
	}
	return strings.ReplaceAll(q, limitArg, "?")
}

// OpenMySQL opens the store on the MariaDB or MySQL database of dsn
// (go-sql-driver's user:password@tcp(host:port)/database?params) and
// brings its schema up to date. Concurrent openers migrate one at a time.
func OpenMySQL(ctx context.Context, dsn string) (*SQL, error) {
	return openMySQL(ctx, dsn, migrations)
}

func openMySQL(ctx context.Context, dsn string, migs []migration, opts ...func(*SQL)) (*SQL, error) {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, errors.New("store: open mysql: the DSN does not parse") // its error may repeat the password
	}
	where := fmt.Sprintf("mysql %s/%s", cfg.Addr, cfg.DBName)
	cfg.ParseTime = false
	cfg.MultiStatements = false
	if cfg.Params == nil {
		cfg.Params = map[string]string{}
	}
	// Strict: a value too long for its column is an error, not
	// truncated; the binary set on the connection too.
	cfg.Params["sql_mode"] = "'STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION'"
	// The driver prints a lost connection ("unexpected EOF") to stderr;
	// the store reports the errors it gets, so those lines go to the
	// debug log.
	cfg.Logger = debugLogger{}
	pool := func() (*sql.DB, error) {
		c, err := mysql.NewConnector(cfg.Clone())
		if err != nil {
			return nil, err
		}
		return sql.OpenDB(c), nil
	}
	return open(ctx, mysqlDialect, where, pool, pool, migs, opts...)
}

// isNetFault reports whether err is a network failure.
func isNetFault(err error) bool {
	var e *net.OpError
	return errors.As(err, &e)
}

// debugLogger is the driver's logger: slog's default logger, at debug.
type debugLogger struct{}

func (debugLogger) Print(v ...any) { slog.Debug("store: mysql driver", "msg", fmt.Sprint(v...)) }
