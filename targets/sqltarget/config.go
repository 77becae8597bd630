package sqltarget

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/scimgate/scimgate/targets"
)

// Type is the target type of the SQL connector in a TargetConfig.
const Type = "sql"

// The dialects.
const (
	MySQL    = "mysql"    // MySQL and MariaDB, through go-sql-driver/mysql
	Postgres = "postgres" // PostgreSQL, through pgx
)

// Config is the configuration of a SQL target: the database connection,
// and how users, groups and memberships map onto the app's tables.
//
// The connection is a DSN in the driver's form (go-sql-driver's
// user:pass@tcp(host:3306)/db?params, or a postgres:// URL or key=value
// string), from dsn, dsn_env or dsn_file; or host, port, database and
// user. The password comes from password, password_env or password_file
// and replaces a DSN's. Secrets never appear in errors or logs.
type Config struct {
	// Dialect is mysql (MySQL, MariaDB) or postgres.
	Dialect string `yaml:"dialect"`

	// DSN, or the name of an environment variable or a file holding it.
	DSN     string `yaml:"dsn"`
	DSNEnv  string `yaml:"dsn_env"`
	DSNFile string `yaml:"dsn_file"`
	// Host (default 127.0.0.1), Port (default 3306 or 5432), Database and
	// User, when there is no DSN.
	Host     string `yaml:"host"`
	Port     int    `yaml:"port"`
	Database string `yaml:"database"`
	User     string `yaml:"user"`
	// Password, or the name of an environment variable or a file (its
	// content without the final newline) holding it.
	Password     string `yaml:"password"`
	PasswordEnv  string `yaml:"password_env"`
	PasswordFile string `yaml:"password_file"`

	// TLS secures the connection.
	TLS TLSConfig `yaml:"tls"`
	// Pool sizes the connection pool.
	Pool PoolConfig `yaml:"pool"`
	// ConnectTimeout bounds establishing a connection (default 10s).
	ConnectTimeout time.Duration `yaml:"connect_timeout"`
	// QueryTimeout bounds each operation, all its statements together
	// (default 30s; the engine's own deadline applies too).
	QueryTimeout time.Duration `yaml:"query_timeout"`

	// CreateSchema creates the configured tables that do not exist (for a
	// fresh app); otherwise Open only checks that they exist.
	CreateSchema bool `yaml:"create_schema"`

	// Users maps users onto a table (required).
	Users *ObjectConfig `yaml:"users"`
	// Groups maps groups onto a table, with a membership table (optional:
	// without it the target has no groups).
	Groups *ObjectConfig `yaml:"groups"`
}

// TLSConfig secures the connection to the database: enabled, and the tls
// keys every connector has (targets.TLSConfig: ca_file, server_name,
// cert_file and key_file of a client certificate, insecure_skip_verify).
type TLSConfig struct {
	// Enabled requires TLS, verifying the server's certificate and name
	// (the host's, or server_name).
	Enabled           bool `yaml:"enabled"`
	targets.TLSConfig `yaml:",inline"`
}

// PoolConfig sizes the connection pool.
type PoolConfig struct {
	// MaxOpen is the most connections open at once (default 16).
	MaxOpen int `yaml:"max_open"`
	// MaxIdle is the most idle connections kept (default MaxOpen).
	MaxIdle int `yaml:"max_idle"`
	// MaxLifetime closes connections older than this (default 30m).
	MaxLifetime time.Duration `yaml:"max_lifetime"`
	// MaxIdleTime closes connections idle for longer (default 5m).
	MaxIdleTime time.Duration `yaml:"max_idle_time"`
}

// ObjectConfig maps one kind of object onto the app's schema. The table
// description (table, anchor, object_id, attributes, disable, members) is
// always required: reads, existence checks, conflict lookups and the
// lookup of existing accounts by an attribute (matching) use it, and by
// default the connector writes with SQL it generates. Procedures or
// statements (not both) replace the generated writes of the operations
// they name; reads and lookups keep using the table description, so an
// app whose writes go through procedures must still expose its accounts
// as a table (or a view) with these columns.
type ObjectConfig struct {
	// Table is the object's table ("name" or "schema.name").
	Table string `yaml:"table"`
	// Anchor is the column that holds the object's anchor: a UUID the
	// connector generates on Create and never changes (a string column,
	// unique).
	Anchor string `yaml:"anchor"`
	// ObjectID is the column that records the gateway's object id.
	ObjectID string `yaml:"object_id"`
	// Attributes maps each target attribute (the names of the target's
	// mapping) to a column.
	Attributes map[string]Attribute `yaml:"attributes"`
	// Disable says how a disabled user is represented (users only;
	// without it the target cannot disable users).
	Disable *DisableConfig `yaml:"disable"`
	// Members is the membership table (groups only, required).
	Members *MembersConfig `yaml:"members"`
	// Procedures replace the generated writes of the operations they name
	// (create, update, delete, disable, enable; add_member, remove_member
	// for groups) by a call of a stored procedure.
	Procedures map[string]Procedure `yaml:"procedures"`
	// Statements replace the generated writes of the operations they name
	// by SQL statements with named parameters (:userName), run in order.
	Statements map[string][]string `yaml:"statements"`
}

// Attribute maps one attribute onto a column, or for a multi-valued
// attribute onto a child table with a row per value.
type Attribute struct {
	// Column holds the value (in the child table for type strings).
	Column string `yaml:"column"`
	// Type is the attribute's value type: string (default), bool, int,
	// float, or strings (multi-valued, in a child table).
	Type string `yaml:"type"`
	// Unique says that no two objects share a value of the column (the
	// user name): a Create or Update that collides is a conflict with the
	// holder.
	Unique bool `yaml:"unique"`
	// Table is the child table of a strings attribute; Key its column
	// holding the owner's anchor.
	Table string `yaml:"table"`
	Key   string `yaml:"key"`
}

// Attribute types.
const (
	typeString  = "string"
	typeBool    = "bool"
	typeInt     = "int"
	typeFloat   = "float"
	typeStrings = "strings"
)

// DisableConfig says how a disabled user is represented.
type DisableConfig struct {
	// Column holds the state.
	Column string `yaml:"column"`
	// Mode is flag (a bool column, true when disabled, or when enabled
	// with invert), status (a string column holding enabled_value or
	// disabled_value), or date (a timestamp column set on disable, NULL
	// when enabled).
	Mode          string `yaml:"mode"`
	Invert        bool   `yaml:"invert"`
	EnabledValue  string `yaml:"enabled_value"`
	DisabledValue string `yaml:"disabled_value"`
}

// Disable modes.
const (
	modeFlag   = "flag"
	modeStatus = "status"
	modeDate   = "date"
)

// MembersConfig is the membership table: a row per group and member.
type MembersConfig struct {
	Table string `yaml:"table"`
	// Group and Member are its columns holding the anchors.
	Group  string `yaml:"group"`
	Member string `yaml:"member"`
}

// Procedure is a stored procedure call: its name, and the parameters
// passed in order: anchor, objectId, member (membership operations) or
// an attribute name (create and update: the object's complete new
// values, NULL for those it does not have).
type Procedure struct {
	Name string   `yaml:"name"`
	Args []string `yaml:"args"`
}

// Parameter names besides the attributes.
const (
	paramAnchor   = "anchor"
	paramObjectID = "objectId"
	paramMember   = "member"
)

// The operations of procedures and statements, per kind.
var (
	userWrites  = []string{"create", "update", "delete", "disable", "enable"}
	groupWrites = []string{"create", "update", "delete", "add_member", "remove_member"}
)

var (
	identPattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,62}$`)
	namePattern  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,62}(\.[A-Za-z_][A-Za-z0-9_]{0,62})?$`)
)

// Validate checks the configuration, reporting every invalid field. It
// reads no secret and no file, and changes nothing: Open reads the
// secrets, parses the DSN and reads the TLS files.
func (c *Config) Validate() error {
	var errs []error
	fail := func(field, format string, args ...any) {
		errs = append(errs, targets.FieldError(field, format, args...))
	}
	switch c.Dialect {
	case MySQL, Postgres:
	case "":
		fail("dialect", "required: mysql or postgres")
	default:
		fail("dialect", "unknown dialect %q (want mysql or postgres)", c.Dialect)
	}
	for _, err := range []error{
		targets.CheckSecret("dsn", c.DSN, c.DSNEnv, c.DSNFile),
		targets.CheckSecret("password", c.Password, c.PasswordEnv, c.PasswordFile),
	} {
		if err != nil {
			errs = append(errs, err)
		}
	}
	if c.DSN != "" || c.DSNEnv != "" || c.DSNFile != "" {
		for _, f := range []struct {
			field string
			set   bool
		}{{"host", c.Host != ""}, {"port", c.Port != 0}, {"database", c.Database != ""}, {"user", c.User != ""}} {
			if f.set {
				fail(f.field, "set together with a DSN: give the connection as a DSN or as host, port, database and user")
			}
		}
	} else {
		if c.Port < 0 || c.Port > 65535 {
			fail("port", "%d is not a port", c.Port)
		}
		if c.Database == "" {
			fail("database", "required (or a DSN)")
		}
		if c.User == "" {
			fail("user", "required (or a DSN)")
		}
	}
	if err := c.TLS.validate(); err != nil {
		errs = append(errs, err)
	}
	p := &c.Pool
	if p.MaxOpen < 0 {
		fail("pool.max_open", "must not be negative")
	}
	if p.MaxIdle < 0 {
		fail("pool.max_idle", "must not be negative")
	} else if p.MaxIdle > 0 && p.MaxOpen > 0 && p.MaxIdle > p.MaxOpen {
		fail("pool.max_idle", "%d is more than pool.max_open %d", p.MaxIdle, p.MaxOpen)
	}
	if p.MaxLifetime < 0 {
		fail("pool.max_lifetime", "must not be negative")
	}
	if p.MaxIdleTime < 0 {
		fail("pool.max_idle_time", "must not be negative")
	}
	if c.ConnectTimeout < 0 {
		fail("connect_timeout", "must not be negative")
	}
	if c.QueryTimeout < 0 {
		fail("query_timeout", "must not be negative")
	}
	if c.Users == nil {
		fail("users", "required: the users table")
	} else {
		c.Users.validate("users", targets.User, fail)
	}
	if c.Groups != nil {
		c.Groups.validate("groups", targets.Group, fail)
	}
	return errors.Join(errs...)
}

func (t *TLSConfig) validate() error {
	if !t.Enabled {
		if !t.IsZero() {
			return targets.FieldError("tls.enabled", "false, but other tls settings are given (ca_file, server_name, cert_file, ...)")
		}
		return nil
	}
	return t.ValidateClient()
}

// config returns the TLS configuration for host, nil when disabled. It
// reads the files.
func (t *TLSConfig) config(host string) (*tls.Config, error) {
	if !t.Enabled {
		return nil, nil
	}
	return t.Client(host)
}

// validate checks one kind's mapping, reporting every problem with fail;
// field is its path (users, groups).
func (o *ObjectConfig) validate(field string, kind targets.Kind, fail func(field, format string, args ...any)) {
	fe := func(sub, format string, args ...any) {
		fail(field+"."+sub, format, args...)
	}
	if !namePattern.MatchString(o.Table) {
		fe("table", "%s", identMsg(o.Table, true))
	}
	if !identPattern.MatchString(o.Anchor) {
		fe("anchor", "%s", identMsg(o.Anchor, false))
	}
	if !identPattern.MatchString(o.ObjectID) {
		fe("object_id", "%s", identMsg(o.ObjectID, false))
	} else if o.Anchor == o.ObjectID {
		fe("object_id", "the same column as anchor")
	}
	if len(o.Attributes) == 0 {
		fe("attributes", "required: at least one attribute")
	}
	columns := map[string]string{strings.ToLower(o.Anchor): "anchor", strings.ToLower(o.ObjectID): "object_id"}
	for _, name := range slices.Sorted(maps.Keys(o.Attributes)) {
		a := o.Attributes[name]
		af := "attributes." + name
		switch name {
		case paramAnchor, paramObjectID, paramMember:
			fe(af, "%q is a reserved parameter name; map the attribute under another target name", name)
			continue
		}
		if !identPattern.MatchString(name) {
			fe(af, "attribute name %q: want letters, digits and '_'", name)
			continue
		}
		if !identPattern.MatchString(a.Column) {
			fe(af+".column", "%s", identMsg(a.Column, false))
		}
		switch a.Type {
		case "", typeString, typeBool, typeInt, typeFloat, typeStrings:
		default:
			fe(af+".type", "unknown type %q (want string, bool, int, float or strings)", a.Type)
			continue
		}
		if a.Type == typeStrings {
			if !namePattern.MatchString(a.Table) {
				fe(af+".table", "the child table of a strings attribute: %s", identMsg(a.Table, true))
			}
			if !identPattern.MatchString(a.Key) {
				fe(af+".key", "the child table's column holding the owner's anchor: %s", identMsg(a.Key, false))
			}
			if a.Unique {
				fe(af+".unique", "a strings attribute cannot be unique")
			}
			continue
		}
		if a.Table != "" || a.Key != "" {
			fe(af+".table", "only a strings attribute has a child table")
		}
		if a.Unique && (a.Type == typeBool || a.Type == typeFloat) {
			fe(af+".unique", "a %s attribute cannot be unique", a.Type)
		}
		if a.Column == "" {
			continue
		}
		if prev, ok := columns[strings.ToLower(a.Column)]; ok {
			fe(af+".column", "column %q is already used by %s", a.Column, prev)
			continue
		}
		columns[strings.ToLower(a.Column)] = af
	}
	if d := o.Disable; d != nil {
		o.validateDisable(kind, columns, fe)
	}
	if m := o.Members; m != nil || kind == targets.Group {
		switch {
		case kind != targets.Group:
			fe("members", "only groups have members")
		case m == nil:
			fe("members", "required: the membership table (table, group, member)")
		default:
			if !namePattern.MatchString(m.Table) {
				fe("members.table", "%s", identMsg(m.Table, true))
			}
			if !identPattern.MatchString(m.Group) {
				fe("members.group", "%s", identMsg(m.Group, false))
			}
			if !identPattern.MatchString(m.Member) {
				fe("members.member", "%s", identMsg(m.Member, false))
			} else if strings.EqualFold(m.Group, m.Member) {
				fe("members.member", "the same column as members.group")
			}
		}
	}
	if len(o.Procedures) > 0 && len(o.Statements) > 0 {
		fe("statements", "give procedures or statements, not both")
	}
	ops := userWrites
	if kind == targets.Group {
		ops = groupWrites
	}
	checkOp := func(sub, op string) bool {
		if !slices.Contains(ops, op) {
			fe(sub+"."+op, "unknown operation (want one of %s)", strings.Join(ops, ", "))
			return false
		}
		if (op == "disable" || op == "enable") && o.Disable == nil {
			fe(sub+"."+op, "needs disable (how a disabled user is read)")
			return false
		}
		return true
	}
	for _, op := range slices.Sorted(maps.Keys(o.Procedures)) {
		p := o.Procedures[op]
		if !checkOp("procedures", op) {
			continue
		}
		if !namePattern.MatchString(p.Name) {
			fe("procedures."+op+".name", "%s", identMsg(p.Name, true))
		}
		for i, a := range p.Args {
			if err := o.checkParam(op, a); err != nil {
				fe(fmt.Sprintf("procedures.%s.args[%d]", op, i), "%v", err)
			}
		}
	}
	for _, op := range slices.Sorted(maps.Keys(o.Statements)) {
		if !checkOp("statements", op) {
			continue
		}
		if len(o.Statements[op]) == 0 {
			fe("statements."+op, "no statement")
		}
		for i, s := range o.Statements[op] {
			_, params, err := bindNamed(s, MySQL)
			if err == nil {
				for _, p := range params {
					if err = o.checkParam(op, p); err != nil {
						break
					}
				}
			}
			if err != nil {
				fe(fmt.Sprintf("statements.%s[%d]", op, i), "%v", err)
			}
		}
	}
}

// validateDisable checks the disable mapping; columns are those the
// attributes use.
func (o *ObjectConfig) validateDisable(kind targets.Kind, columns map[string]string, fe func(sub, format string, args ...any)) {
	d := o.Disable
	if kind != targets.User {
		fe("disable", "only users can be disabled")
		return
	}
	if !identPattern.MatchString(d.Column) {
		fe("disable.column", "%s", identMsg(d.Column, false))
	} else if prev, ok := columns[strings.ToLower(d.Column)]; ok {
		fe("disable.column", "column %q is already used by %s", d.Column, prev)
	}
	switch d.Mode {
	case modeStatus:
		if d.EnabledValue == "" || d.DisabledValue == "" || d.EnabledValue == d.DisabledValue {
			fe("disable.enabled_value", "status mode needs two different values, enabled_value and disabled_value")
		}
		if d.Invert {
			fe("disable.invert", "only for flag mode")
		}
	case modeFlag, modeDate:
		if d.EnabledValue != "" || d.DisabledValue != "" {
			fe("disable.enabled_value", "only for status mode")
		}
		if d.Invert && d.Mode == modeDate {
			fe("disable.invert", "only for flag mode")
		}
	case "":
		fe("disable.mode", "required: flag, status or date")
	default:
		fe("disable.mode", "unknown mode %q (want flag, status or date)", d.Mode)
	}
}

// checkParam checks that the parameter name is available to op.
func (o *ObjectConfig) checkParam(op, name string) error {
	switch name {
	case paramAnchor, paramObjectID:
		return nil
	case paramMember:
		if op == "add_member" || op == "remove_member" {
			return nil
		}
		return fmt.Errorf("parameter %q only in add_member and remove_member", name)
	}
	a, ok := o.Attributes[name]
	switch {
	case !ok:
		return fmt.Errorf("unknown parameter %q (want anchor, objectId, member or a configured attribute)", name)
	case a.Type == typeStrings:
		return fmt.Errorf("parameter %q: a strings attribute is written to its child table by the connector, not passed", name)
	case op != "create" && op != "update":
		return fmt.Errorf("parameter %q: attributes only in create and update", name)
	}
	return nil
}

func identMsg(v string, qualified bool) string {
	what := "a column name"
	if qualified {
		what = "a table name (name or schema.name)"
	}
	if v == "" {
		return "required: " + what
	}
	return fmt.Sprintf("%q is not %s of letters, digits and '_' (up to 63, not starting with a digit)", v, what)
}

// Provides: groups with a groups mapping, disable with a users disable
// mapping, and lookup always (it reads through the table description,
// which every mapping has).
func (c *Config) Provides() targets.Capabilities {
	return targets.Capabilities{Groups: c.Groups != nil, Disable: c.Users != nil && c.Users.Disable != nil, Lookup: c.Users != nil}
}

// Open reads the secrets, connects to the database, creates the schema
// if asked to, checks that the configured tables, columns and procedures
// exist, and returns the connector.
func (c *Config) Open(ctx context.Context, _ targets.Env) (targets.Connector, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return open(ctx, c)
}

// Defaults of the durations and sizes.
const (
	defaultConnectTimeout = 10 * time.Second
	defaultQueryTimeout   = 30 * time.Second
	defaultMaxOpen        = 16
	defaultMaxLifetime    = 30 * time.Minute
	defaultMaxIdleTime    = 5 * time.Minute
)

// ErrSchema: the database does not have the configured tables, columns
// or procedures (Open), listed one per line with their config fields.
var ErrSchema = errors.New("sql: schema check failed")
