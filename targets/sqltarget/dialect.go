package sqltarget

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/scimgate/scimgate/targets"
)

// quote quotes a validated identifier (name or schema.name).
func quote(dialect, id string) string {
	q := `"`
	if dialect == MySQL {
		q = "`"
	}
	parts := strings.Split(id, ".")
	for i, p := range parts {
		parts[i] = q + p + q
	}
	return strings.Join(parts, ".")
}

// args collects the arguments of a statement and returns their
// placeholders.
type args struct {
	dialect string
	vals    []any
}

// add appends v and returns its placeholder.
func (a *args) add(v any) string {
	a.vals = append(a.vals, v)
	if a.dialect == MySQL {
		return "?"
	}
	return "$" + strconv.Itoa(len(a.vals))
}

// list appends vs and returns their placeholders separated by commas.
func (a *args) list(vs []string) string {
	ph := make([]string, len(vs))
	for i, v := range vs {
		ph[i] = a.add(v)
	}
	return strings.Join(ph, ", ")
}

// bindNamed translates the named parameters (:name) of a statement into
// the dialect's placeholders, and returns the parameter of each. Quoted
// strings and identifiers, comments and casts (::type) are left alone.
func bindNamed(stmt, dialect string) (string, []string, error) {
	var out strings.Builder
	var params []string
	a := args{dialect: dialect}
	for i := 0; i < len(stmt); {
		ch := stmt[i]
		switch {
		case ch == '\'' || ch == '"' || ch == '`':
			j := i + 1
			for ; j < len(stmt); j++ {
				if stmt[j] == '\\' && dialect == MySQL && ch == '\'' {
					j++
					continue
				}
				if stmt[j] == ch {
					if j+1 < len(stmt) && stmt[j+1] == ch { // doubled quote
						j++
						continue
					}
					break
				}
			}
			if j >= len(stmt) {
				return "", nil, fmt.Errorf("unterminated quote %c at offset %d", ch, i)
			}
			out.WriteString(stmt[i : j+1])
			i = j + 1
		case ch == '-' && strings.HasPrefix(stmt[i:], "--"):
			j := strings.IndexByte(stmt[i:], '\n')
			if j < 0 {
				j = len(stmt) - i
			}
			out.WriteString(stmt[i : i+j])
			i += j
		case ch == '/' && strings.HasPrefix(stmt[i:], "/*"):
			j := strings.Index(stmt[i+2:], "*/")
			if j < 0 {
				return "", nil, fmt.Errorf("unterminated comment at offset %d", i)
			}
			out.WriteString(stmt[i : i+j+4])
			i += j + 4
		case ch == ':' && i+1 < len(stmt) && stmt[i+1] == ':':
			out.WriteString("::")
			i += 2
		case ch == ':' && i+1 < len(stmt) && isIdentStart(stmt[i+1]):
			j := i + 1
			for j < len(stmt) && (isIdentStart(stmt[j]) || stmt[j] >= '0' && stmt[j] <= '9') {
				j++
			}
			params = append(params, stmt[i+1:j])
			out.WriteString(a.add(nil))
			i = j
		case ch == '?' || ch == '$' && i+1 < len(stmt) && stmt[i+1] >= '0' && stmt[i+1] <= '9':
			return "", nil, fmt.Errorf("positional placeholder %q at offset %d: use named parameters (:name)", stmt[i:i+1], i)
		default:
			out.WriteByte(ch)
			i++
		}
	}
	if strings.TrimSpace(out.String()) == "" {
		return "", nil, errors.New("empty statement")
	}
	return out.String(), params, nil
}

func isIdentStart(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// driverConfig returns the driver's configuration (*mysql.Config or
// *pgx.ConnConfig) from dsn or the pieces, with password, TLS and the
// connect timeout applied; dsn and password are the secrets Open read.
// An invalid DSN is a FieldError of dsn. Its errors never contain the DSN
// or password.
func (c *Config) driverConfig(dsn, password string) (any, error) {
	tlsHost := cmp.Or(c.Host, "127.0.0.1")
	switch c.Dialect {
	case MySQL:
		mc := mysql.NewConfig()
		if dsn != "" {
			var err error
			if mc, err = mysql.ParseDSN(dsn); err != nil {
				return nil, targets.FieldError("dsn", "invalid MySQL DSN (want user:password@tcp(host:port)/database?params): %v", err)
			}
			tlsHost, _, _ = net.SplitHostPort(mc.Addr)
		} else {
			mc.Net = "tcp"
			mc.Addr = net.JoinHostPort(tlsHost, strconv.Itoa(cmp.Or(c.Port, 3306)))
			mc.User, mc.DBName = c.User, c.Database
		}
		if password != "" {
			mc.Passwd = password
		}
		// Matched rather than changed rows: an Update that sets the
		// values a row already has still finds it.
		mc.ClientFoundRows = true
		mc.InterpolateParams = false // server-side parameters only
		mc.MultiStatements = false
		mc.Timeout = cmp.Or(c.ConnectTimeout, defaultConnectTimeout)
		// The driver prints a lost connection to stderr; the connector
		// reports the errors it gets, so those lines go to the debug log.
		mc.Logger = driverLogger{}
		if mc.Params == nil {
			mc.Params = map[string]string{}
		}
		if _, ok := mc.Params["sql_mode"]; !ok {
			// A value that does not fit is an error, never silently
			// truncated or converted, whatever the server's default.
			mc.Params["sql_mode"] = "CONCAT(@@sql_mode, ',STRICT_ALL_TABLES')"
		}
		if err := mc.Apply(mysql.Charset("utf8mb4", "utf8mb4_bin")); err != nil {
			return nil, err
		}
		t, err := c.TLS.config(tlsHost)
		if err != nil {
			return nil, err
		}
		if t != nil {
			mc.TLS = t
		}
		return mc, nil
	default:
		pc, err := pgx.ParseConfig(dsn)
		if err != nil {
			// pgx's message quotes parts of the DSN, which may hold the
			// password: say only what is wanted.
			return nil, targets.FieldError("dsn", "invalid PostgreSQL DSN (want postgres://user:password@host:port/database?params with URL escapes, or key=value pairs)")
		}
		if dsn == "" {
			pc.Host, pc.Port = tlsHost, uint16(cmp.Or(c.Port, 5432))
			pc.User, pc.Database = c.User, c.Database
			pc.TLSConfig, pc.Fallbacks = nil, nil // no TLS unless asked for
		}
		if password != "" {
			pc.Password = password
		}
		pc.ConnectTimeout = cmp.Or(c.ConnectTimeout, defaultConnectTimeout)
		t, err := c.TLS.config(pc.Host)
		if err != nil {
			return nil, err
		}
		if t != nil {
			pc.TLSConfig, pc.Fallbacks = t, nil
		}
		return pc, nil
	}
}

// openDB reads the secrets and opens the connection pool.
func (c *Config) openDB() (*sql.DB, error) {
	dsn, err := targets.ReadSecret("dsn", c.DSN, c.DSNEnv, c.DSNFile)
	if err != nil {
		return nil, err
	}
	password, err := targets.ReadSecret("password", c.Password, c.PasswordEnv, c.PasswordFile)
	if err != nil {
		return nil, err
	}
	dc, err := c.driverConfig(dsn, password)
	if err != nil {
		return nil, err
	}
	var db *sql.DB
	switch dc := dc.(type) {
	case *mysql.Config:
		conn, err := mysql.NewConnector(dc)
		if err != nil {
			return nil, err
		}
		db = sql.OpenDB(conn)
	case *pgx.ConnConfig:
		db = stdlib.OpenDB(*dc)
	}
	p := c.Pool
	maxOpen := cmp.Or(p.MaxOpen, defaultMaxOpen)
	db.SetMaxOpenConns(maxOpen)
	db.SetMaxIdleConns(cmp.Or(p.MaxIdle, maxOpen))
	db.SetConnMaxLifetime(cmp.Or(p.MaxLifetime, defaultMaxLifetime))
	db.SetConnMaxIdleTime(cmp.Or(p.MaxIdleTime, defaultMaxIdleTime))
	return db, nil
}

// isDuplicate reports a unique violation.
func isDuplicate(err error) bool {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return me.Number == 1062 || me.Number == 1586 || me.Number == 1022
	}
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

// mysqlTransient are the MySQL/MariaDB server errors that a retry can
// cure: too many connections, shutdown, lock wait timeout, deadlock,
// read-only (failover), interrupted, needs re-prepare, killed, timeouts.
var mysqlTransient = map[uint16]bool{
	1040: true, 1053: true, 1205: true, 1213: true, 1290: true, 1317: true, 1615: true,
	1792: true, 1836: true, 1927: true, 1969: true, 3024: true, 4031: true,
}

// classify classifies a database error for the engine, with what (the
// statement's purpose) as context: duplicate keys are conflicts (which
// the callers complete with the holder), deadlocks, lock waits, lost
// connections, refused logins (a password being rotated) and server
// unavailability are transient, and the server's refusals of a statement
// (constraints, values, types, syntax, permissions on a table) are
// permanent, with the column, constraint and table the server names.
func classify(what string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("sql: %s: %w", what, err)
	}
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		err = fmt.Errorf("sql: %s: %w", what, err)
		state := string(me.SQLState[:2])
		switch {
		case isDuplicate(me):
			return &targets.ConflictError{Err: err}
		case mysqlTransient[me.Number], state == "40", state == "08", state == "28":
			return targets.Transient(err)
		}
		return targets.Permanent(err)
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		var detail []string
		for _, d := range [][2]string{{"table", pe.TableName}, {"column", pe.ColumnName}, {"constraint", pe.ConstraintName}, {"detail", pe.Detail}} {
			if d[1] != "" {
				detail = append(detail, fmt.Sprintf("%s %q", d[0], d[1]))
			}
		}
		msg := "sql: " + what
		if len(detail) > 0 {
			err = fmt.Errorf("%s: %w (%s)", msg, err, strings.Join(detail, ", "))
		} else {
			err = fmt.Errorf("%s: %w", msg, err)
		}
		switch class := pe.Code[:2]; {
		case pe.Code == "23505":
			return &targets.ConflictError{Err: err}
		case class == "08", class == "28", class == "40", class == "53", class == "57", class == "58", class == "XX",
			pe.Code == "55P03", pe.Code == "55006", pe.Code == "25006":
			return targets.Transient(err)
		}
		return targets.Permanent(err)
	}
	if strings.HasPrefix(err.Error(), "failed to encode args[") {
		// pgx refused an argument for its parameter's type (a number out
		// of the column's range) before sending the statement.
		return targets.Permanent(fmt.Errorf("sql: %s: %w", what, err))
	}
	// Connection failures and unknown errors (a connection closed in the
	// middle of a call) are retried.
	return targets.Transient(fmt.Errorf("sql: %s: %w", what, err))
}

// driverLogger is the MySQL driver's logger: slog's default logger, at
// debug.
type driverLogger struct{}

func (driverLogger) Print(v ...any) { slog.Debug("sqltarget: mysql driver", "msg", fmt.Sprint(v...)) }
