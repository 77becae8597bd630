package sqltarget

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"maps"
	"os"
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

	dsn, password string // resolved secrets
}

// TLSConfig secures the connection to the database.
type TLSConfig struct {
	// Enabled requires TLS, verifying the server's certificate and name.
	Enabled bool `yaml:"enabled"`
	// CAFile is a PEM file of the CAs to trust instead of the system's.
	CAFile string `yaml:"ca_file"`
	// ServerName is the name to verify instead of the host's.
	ServerName string `yaml:"server_name"`
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

// Validate checks the configuration, including that the secrets it names
// are present, and sets the defaults.
func (c *Config) Validate() error {
	switch c.Dialect {
	case MySQL, Postgres:
	case "":
		return targets.FieldError("dialect", "required: mysql or postgres")
	default:
		return targets.FieldError("dialect", "unknown dialect %q (want mysql or postgres)", c.Dialect)
	}
	var err error
	if c.dsn, err = targets.ReadSecret("dsn", c.DSN, c.DSNEnv, c.DSNFile); err != nil {
		return err
	}
	if c.password, err = targets.ReadSecret("password", c.Password, c.PasswordEnv, c.PasswordFile); err != nil {
		return err
	}
	if c.dsn != "" {
		for field, v := range map[string]bool{"host": c.Host != "", "port": c.Port != 0, "database": c.Database != "", "user": c.User != ""} {
			if v {
				return targets.FieldError(field, "set together with a DSN: give the connection as a DSN or as host, port, database and user")
			}
		}
		if _, err := c.driverConfig(); err != nil {
			return targets.FieldError("dsn", "%v", err)
		}
	} else {
		switch {
		case c.Database == "":
			return targets.FieldError("database", "required (or a DSN)")
		case c.User == "":
			return targets.FieldError("user", "required (or a DSN)")
		case c.Port < 0 || c.Port > 65535:
			return targets.FieldError("port", "%d is not a port", c.Port)
		}
	}
	if err := c.TLS.validate(); err != nil {
		return err
	}
	p := &c.Pool
	switch {
	case p.MaxOpen < 0:
		return targets.FieldError("pool.max_open", "must not be negative")
	case p.MaxIdle < 0:
		return targets.FieldError("pool.max_idle", "must not be negative")
	case p.MaxIdle > 0 && p.MaxOpen > 0 && p.MaxIdle > p.MaxOpen:
		return targets.FieldError("pool.max_idle", "%d is more than pool.max_open %d", p.MaxIdle, p.MaxOpen)
	case p.MaxLifetime < 0:
		return targets.FieldError("pool.max_lifetime", "must not be negative")
	case p.MaxIdleTime < 0:
		return targets.FieldError("pool.max_idle_time", "must not be negative")
	case c.ConnectTimeout < 0:
		return targets.FieldError("connect_timeout", "must not be negative")
	case c.QueryTimeout < 0:
		return targets.FieldError("query_timeout", "must not be negative")
	}
	if c.Users == nil {
		return targets.FieldError("users", "required: the users table")
	}
	if err := c.Users.validate("users", targets.User); err != nil {
		return err
	}
	if c.Groups != nil {
		if err := c.Groups.validate("groups", targets.Group); err != nil {
			return err
		}
	}
	return nil
}

func (t *TLSConfig) validate() error {
	if !t.Enabled {
		if t.CAFile != "" || t.ServerName != "" {
			return targets.FieldError("tls.enabled", "false, but tls.ca_file or tls.server_name is set")
		}
		return nil
	}
	if t.CAFile != "" {
		if _, err := t.pool(); err != nil {
			return targets.FieldError("tls.ca_file", "%v", err)
		}
	}
	return nil
}

// pool returns the CAs of CAFile.
func (t *TLSConfig) pool() (*x509.CertPool, error) {
	b, err := os.ReadFile(t.CAFile)
	if err != nil {
		return nil, err
	}
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%s holds no PEM certificate", t.CAFile)
	}
	return p, nil
}

// config returns the TLS configuration for host, nil when disabled.
func (t *TLSConfig) config(host string) (*tls.Config, error) {
	if !t.Enabled {
		return nil, nil
	}
	cfg := &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	if t.ServerName != "" {
		cfg.ServerName = t.ServerName
	}
	if t.CAFile != "" {
		p, err := t.pool()
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = p
	}
	return cfg, nil
}

// validate checks one kind's mapping; field is its path (users, groups).
func (o *ObjectConfig) validate(field string, kind targets.Kind) error {
	fe := func(sub, format string, args ...any) error {
		return targets.FieldError(field+"."+sub, format, args...)
	}
	if !namePattern.MatchString(o.Table) {
		return fe("table", "%s", identMsg(o.Table, true))
	}
	for sub, v := range map[string]string{"anchor": o.Anchor, "object_id": o.ObjectID} {
		if !identPattern.MatchString(v) {
			return fe(sub, "%s", identMsg(v, false))
		}
	}
	if o.Anchor == o.ObjectID {
		return fe("object_id", "the same column as anchor")
	}
	if len(o.Attributes) == 0 {
		return fe("attributes", "required: at least one attribute")
	}
	columns := map[string]string{strings.ToLower(o.Anchor): "anchor", strings.ToLower(o.ObjectID): "object_id"}
	for _, name := range slices.Sorted(maps.Keys(o.Attributes)) {
		a := o.Attributes[name]
		af := "attributes." + name
		switch name {
		case paramAnchor, paramObjectID, paramMember:
			return fe(af, "%q is a reserved parameter name; map the attribute under another target name", name)
		}
		if !identPattern.MatchString(name) {
			return fe(af, "attribute name %q: want letters, digits and '_'", name)
		}
		if !identPattern.MatchString(a.Column) {
			return fe(af+".column", "%s", identMsg(a.Column, false))
		}
		switch a.Type {
		case "":
			a.Type = typeString
			o.Attributes[name] = a
		case typeString, typeBool, typeInt, typeFloat, typeStrings:
		default:
			return fe(af+".type", "unknown type %q (want string, bool, int, float or strings)", a.Type)
		}
		if a.Type == typeStrings {
			if !namePattern.MatchString(a.Table) {
				return fe(af+".table", "the child table of a strings attribute: %s", identMsg(a.Table, true))
			}
			if !identPattern.MatchString(a.Key) {
				return fe(af+".key", "the child table's column holding the owner's anchor: %s", identMsg(a.Key, false))
			}
			if a.Unique {
				return fe(af+".unique", "a strings attribute cannot be unique")
			}
			continue
		}
		if a.Table != "" || a.Key != "" {
			return fe(af+".table", "only a strings attribute has a child table")
		}
		if a.Unique && (a.Type == typeBool || a.Type == typeFloat) {
			return fe(af+".unique", "a %s attribute cannot be unique", a.Type)
		}
		if prev, ok := columns[strings.ToLower(a.Column)]; ok {
			return fe(af+".column", "column %q is already used by %s", a.Column, prev)
		}
		columns[strings.ToLower(a.Column)] = af
	}
	if d := o.Disable; d != nil {
		if kind != targets.User {
			return fe("disable", "only users can be disabled")
		}
		if !identPattern.MatchString(d.Column) {
			return fe("disable.column", "%s", identMsg(d.Column, false))
		}
		if prev, ok := columns[strings.ToLower(d.Column)]; ok {
			return fe("disable.column", "column %q is already used by %s", d.Column, prev)
		}
		switch d.Mode {
		case modeStatus:
			if d.EnabledValue == "" || d.DisabledValue == "" || d.EnabledValue == d.DisabledValue {
				return fe("disable.enabled_value", "status mode needs two different values, enabled_value and disabled_value")
			}
			if d.Invert {
				return fe("disable.invert", "only for flag mode")
			}
		case modeFlag, modeDate:
			if d.EnabledValue != "" || d.DisabledValue != "" {
				return fe("disable.enabled_value", "only for status mode")
			}
			if d.Invert && d.Mode == modeDate {
				return fe("disable.invert", "only for flag mode")
			}
		case "":
			return fe("disable.mode", "required: flag, status or date")
		default:
			return fe("disable.mode", "unknown mode %q (want flag, status or date)", d.Mode)
		}
	}
	if m := o.Members; m != nil || kind == targets.Group {
		if kind != targets.Group {
			return fe("members", "only groups have members")
		}
		if m == nil {
			return fe("members", "required: the membership table (table, group, member)")
		}
		if !namePattern.MatchString(m.Table) {
			return fe("members.table", "%s", identMsg(m.Table, true))
		}
		for sub, v := range map[string]string{"group": m.Group, "member": m.Member} {
			if !identPattern.MatchString(v) {
				return fe("members."+sub, "%s", identMsg(v, false))
			}
		}
		if strings.EqualFold(m.Group, m.Member) {
			return fe("members.member", "the same column as members.group")
		}
	}
	if len(o.Procedures) > 0 && len(o.Statements) > 0 {
		return fe("statements", "give procedures or statements, not both")
	}
	ops := userWrites
	if kind == targets.Group {
		ops = groupWrites
	}
	checkOp := func(sub, op string) error {
		if !slices.Contains(ops, op) {
			return fe(sub+"."+op, "unknown operation (want one of %s)", strings.Join(ops, ", "))
		}
		if (op == "disable" || op == "enable") && o.Disable == nil {
			return fe(sub+"."+op, "needs disable (how a disabled user is read)")
		}
		return nil
	}
	for _, op := range slices.Sorted(maps.Keys(o.Procedures)) {
		p := o.Procedures[op]
		if err := checkOp("procedures", op); err != nil {
			return err
		}
		if !namePattern.MatchString(p.Name) {
			return fe("procedures."+op+".name", "%s", identMsg(p.Name, true))
		}
		for i, a := range p.Args {
			if err := o.checkParam(op, a); err != nil {
				return fe(fmt.Sprintf("procedures.%s.args[%d]", op, i), "%v", err)
			}
		}
	}
	for _, op := range slices.Sorted(maps.Keys(o.Statements)) {
		if err := checkOp("statements", op); err != nil {
			return err
		}
		if len(o.Statements[op]) == 0 {
			return fe("statements."+op, "no statement")
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
				return fe(fmt.Sprintf("statements.%s[%d]", op, i), "%v", err)
			}
		}
	}
	return nil
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

// Open connects to the database, creates the schema if asked to, checks
// that the configured tables, columns and procedures exist, and returns
// the connector.
func (c *Config) Open(ctx context.Context) (targets.Connector, error) {
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
