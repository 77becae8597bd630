package sqltarget

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/scimgate/scimgate/targets"
)

// kindSpec is one kind's mapping, with quoted identifiers and bound
// statements, built once at Open.
type kindSpec struct {
	kind     targets.Kind
	field    string // users or groups
	cfg      *ObjectConfig
	table    string // quoted
	anchor   string
	objectID string
	// oidUnique: a single-column unique index covers the object id
	// column, so the database itself refuses a second row for an object
	// id and Create needs no lookup before its insert.
	oidUnique bool
	scalars   []*attrSpec // by name
	multis    []*attrSpec // by name
	attrs     map[string]*attrSpec
	unique    []*attrSpec
	disable   *disableSpec
	members   *membersSpec
	// writes are the procedures or statements that replace the
	// generated writes, by operation.
	writes map[string][]boundStmt
}

type attrSpec struct {
	name, typ string
	column    string // quoted
	unique    bool
	table     string // quoted child table of a strings attribute
	key       string // quoted
	maxLen    int    // characters of a char/varchar column; 0: unknown
	maxInt    int64  // of a PostgreSQL smallint/integer column; 0: unknown
}

type disableSpec struct {
	*DisableConfig
	column string // quoted
}

type membersSpec struct {
	table, group, member string // quoted
}

// boundStmt is a statement with the dialect's placeholders and the
// parameter name of each.
type boundStmt struct {
	field  string // its config field, for errors
	query  string
	params []string
}

// newSpec builds the spec of a validated kind mapping.
func newSpec(dialect string, kind targets.Kind, field string, o *ObjectConfig) (*kindSpec, error) {
	q := func(id string) string { return quote(dialect, id) }
	s := &kindSpec{kind: kind, field: field, cfg: o, table: q(o.Table), anchor: q(o.Anchor), objectID: q(o.ObjectID),
		attrs: map[string]*attrSpec{}, writes: map[string][]boundStmt{}}
	for _, name := range slices.Sorted(maps.Keys(o.Attributes)) {
		a := o.Attributes[name]
		as := &attrSpec{name: name, typ: cmp.Or(a.Type, typeString), column: q(a.Column), unique: a.Unique}
		s.attrs[name] = as
		if a.Type == typeStrings {
			as.table, as.key = q(a.Table), q(a.Key)
			s.multis = append(s.multis, as)
			continue
		}
		s.scalars = append(s.scalars, as)
		if a.Unique {
			s.unique = append(s.unique, as)
		}
	}
	if d := o.Disable; d != nil {
		s.disable = &disableSpec{DisableConfig: d, column: q(d.Column)}
	}
	if m := o.Members; m != nil {
		s.members = &membersSpec{table: q(m.Table), group: q(m.Group), member: q(m.Member)}
	}
	for op, p := range o.Procedures {
		a := args{dialect: dialect}
		ph := make([]string, len(p.Args))
		for i := range p.Args {
			ph[i] = a.add(nil)
		}
		s.writes[op] = []boundStmt{{field: fmt.Sprintf("%s.procedures.%s", field, op),
			query: "CALL " + q(p.Name) + "(" + strings.Join(ph, ", ") + ")", params: p.Args}}
	}
	for op, stmts := range o.Statements {
		for i, st := range stmts {
			query, params, err := bindNamed(st, dialect)
			if err != nil {
				return nil, err
			}
			s.writes[op] = append(s.writes[op], boundStmt{field: fmt.Sprintf("%s.statements.%s[%d]", field, op, i), query: query, params: params})
		}
	}
	return s, nil
}

// column is a column as information_schema describes it.
type column struct {
	dataType string
	maxLen   int   // characters of a char or varchar column
	maxInt   int64 // of a PostgreSQL smallint or integer column
}

// Column type families, by information_schema data_type (lower case).
var families = map[string][]string{
	typeString: {"char", "varchar", "tinytext", "text", "mediumtext", "longtext", "enum", "uuid",
		"character varying", "character", "citext", "user-defined"},
	typeBool:  {"tinyint", "bit", "boolean", "bool"},
	typeInt:   {"tinyint", "smallint", "mediumint", "int", "integer", "bigint", "numeric", "decimal"},
	typeFloat: {"float", "double", "real", "double precision", "numeric", "decimal"},
	modeDate:  {"date", "datetime", "timestamp", "timestamp with time zone", "timestamp without time zone"},
}

// tableColumns returns the columns of a table, nil if it does not exist.
// Column names are lower case for MySQL, whose names ignore case.
func (c *Connector) tableColumns(ctx context.Context, table string) (map[string]column, error) {
	a := args{dialect: c.dialect}
	schema, name := c.schemaOf(&a, table)
	q := fmt.Sprintf("SELECT column_name, data_type, character_maximum_length FROM information_schema.columns WHERE table_schema = %s AND table_name = %s", schema, a.add(name))
	if c.dialect == Postgres {
		q = fmt.Sprintf("SELECT column_name::text, data_type::text, character_maximum_length FROM information_schema.columns WHERE table_schema::text = %s AND table_name::text = %s", schema, "$"+strconv.Itoa(len(a.vals)))
	}
	rows, err := c.db.QueryContext(ctx, q, a.vals...)
	if err != nil {
		return nil, classify("read the columns of "+table, err)
	}
	defer rows.Close()
	var cols map[string]column
	for rows.Next() {
		var n, t string
		var l sql.NullInt64
		if err := rows.Scan(&n, &t, &l); err != nil {
			return nil, classify("read the columns of "+table, err)
		}
		if cols == nil {
			cols = map[string]column{}
		}
		if c.dialect == MySQL {
			n = strings.ToLower(n)
		}
		col := column{dataType: strings.ToLower(t)}
		if c.dialect == Postgres { // signed, whatever the value
			col.maxInt = map[string]int64{"smallint": math.MaxInt16, "integer": math.MaxInt32}[col.dataType]
		}
		if col.dataType == "char" || col.dataType == "varchar" || col.dataType == "character varying" || col.dataType == "character" {
			col.maxLen = int(l.Int64)
		}
		cols[n] = col
	}
	return cols, classify("read the columns of "+table, rows.Err())
}

// uniqueColumn reports whether a unique index of exactly the column name
// (and no predicate) exists on table (quoted: the table's quoted name).
func (c *Connector) uniqueColumn(ctx context.Context, table, quoted, name string) (bool, error) {
	a := args{dialect: c.dialect}
	var q string
	if c.dialect == MySQL {
		schema, tname := c.schemaOf(&a, table)
		q = "SELECT COUNT(*) FROM information_schema.statistics s WHERE s.table_schema = " + schema +
			" AND s.table_name = " + a.add(tname) + " AND s.non_unique = 0 AND LOWER(s.column_name) = LOWER(" + a.add(name) + ")" +
			" AND NOT EXISTS (SELECT 1 FROM information_schema.statistics o WHERE o.table_schema = s.table_schema" +
			" AND o.table_name = s.table_name AND o.index_name = s.index_name AND o.seq_in_index > 1)"
	} else {
		q = "SELECT COUNT(*) FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]" +
			" WHERE i.indrelid = to_regclass(" + a.add(quoted) + ") AND i.indisunique AND i.indnkeyatts = 1 AND i.indpred IS NULL" +
			" AND a.attname = " + a.add(name)
	}
	var n int
	if err := c.db.QueryRowContext(ctx, q, a.vals...).Scan(&n); err != nil {
		return false, classify("read the indexes of "+table, err)
	}
	return n > 0, nil
}

// schemaOf returns the SQL expression of a table's schema and its name.
func (c *Connector) schemaOf(a *args, table string) (schema, name string) {
	if s, n, ok := strings.Cut(table, "."); ok {
		return a.add(s), n
	}
	if c.dialect == MySQL {
		return "DATABASE()", table
	}
	return "current_schema()", table
}

// checkSchema checks that the configured tables, columns and procedures
// exist and that the statements prepare, reporting every problem with its
// config field (ErrSchema). It records the length limit of each string
// column.
func (c *Connector) checkSchema(ctx context.Context) error {
	var problems []string
	add := func(field, format string, args ...any) {
		problems = append(problems, field+": "+fmt.Sprintf(format, args...))
	}
	tables := map[string]map[string]column{}
	table := func(field, name string) (map[string]column, error) {
		cols, ok := tables[name]
		if !ok {
			var err error
			if cols, err = c.tableColumns(ctx, name); err != nil {
				return nil, err
			}
			tables[name] = cols
		}
		if cols == nil {
			add(field, "table %q does not exist", name)
		}
		return cols, nil
	}
	// col checks a column of a table and its type family.
	col := func(cols map[string]column, field, tableName, name, family string) column {
		if cols == nil {
			return column{}
		}
		key := name
		if c.dialect == MySQL {
			key = strings.ToLower(name)
		}
		cl, ok := cols[key]
		switch {
		case !ok:
			add(field, "table %q has no column %q", tableName, name)
		case !slices.Contains(families[family], cl.dataType):
			add(field, "column %q of table %q has type %s, not one for %s values (%s)", name, tableName, cl.dataType, family, strings.Join(families[family], ", "))
		}
		return cl
	}
	for _, s := range c.specs() {
		o, f := s.cfg, s.field
		cols, err := table(f+".table", o.Table)
		if err != nil {
			return err
		}
		col(cols, f+".anchor", o.Table, o.Anchor, typeString)
		col(cols, f+".object_id", o.Table, o.ObjectID, typeString)
		if cols != nil {
			if s.oidUnique, err = c.uniqueColumn(ctx, o.Table, s.table, o.ObjectID); err != nil {
				return err
			}
		}
		for _, as := range s.scalars {
			cl := col(cols, f+".attributes."+as.name+".column", o.Table, o.Attributes[as.name].Column, as.typ)
			as.maxLen, as.maxInt = cl.maxLen, cl.maxInt
		}
		for _, as := range s.multis {
			a := o.Attributes[as.name]
			af := f + ".attributes." + as.name
			child, err := table(af+".table", a.Table)
			if err != nil {
				return err
			}
			col(child, af+".key", a.Table, a.Key, typeString)
			as.maxLen = col(child, af+".column", a.Table, a.Column, typeString).maxLen
		}
		if d := o.Disable; d != nil {
			family := map[string]string{modeFlag: typeBool, modeStatus: typeString, modeDate: modeDate}[d.Mode]
			col(cols, f+".disable.column", o.Table, d.Column, family)
		}
		if m := o.Members; m != nil {
			mcols, err := table(f+".members.table", m.Table)
			if err != nil {
				return err
			}
			col(mcols, f+".members.group", m.Table, m.Group, typeString)
			col(mcols, f+".members.member", m.Table, m.Member, typeString)
		}
		for _, op := range slices.Sorted(maps.Keys(o.Procedures)) {
			p := o.Procedures[op]
			counts, err := c.procedure(ctx, p.Name)
			if err != nil {
				return err
			}
			switch {
			case len(counts) == 0:
				add(f+".procedures."+op+".name", "procedure %q does not exist", p.Name)
			case !slices.Contains(counts, len(p.Args)):
				add(f+".procedures."+op+".args", "procedure %q takes %d parameters, %d configured", p.Name, counts[0], len(p.Args))
			}
		}
		for _, op := range slices.Sorted(maps.Keys(s.writes)) {
			if len(o.Statements) == 0 {
				break
			}
			for _, st := range s.writes[op] {
				if err := c.prepare(ctx, st.query); err != nil {
					add(st.field, "%v", err)
				}
			}
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w:\n\t%s", ErrSchema, strings.Join(problems, "\n\t"))
	}
	return nil
}

// specs returns the kind specs.
func (c *Connector) specs() []*kindSpec {
	if c.groups == nil {
		return []*kindSpec{c.users}
	}
	return []*kindSpec{c.users, c.groups}
}

// procedure returns the parameter counts of the procedures named name
// (none: it does not exist).
func (c *Connector) procedure(ctx context.Context, name string) ([]int, error) {
	a := args{dialect: c.dialect}
	schema, n := c.schemaOf(&a, name)
	var q string
	if c.dialect == MySQL {
		q = fmt.Sprintf(`SELECT COUNT(p.parameter_name) FROM information_schema.routines r
			LEFT JOIN information_schema.parameters p ON p.specific_schema = r.routine_schema AND p.specific_name = r.specific_name AND p.ordinal_position > 0
			WHERE r.routine_schema = %s AND r.routine_name = %s AND r.routine_type = 'PROCEDURE' GROUP BY r.specific_name`, schema, a.add(n))
	} else {
		q = fmt.Sprintf(`SELECT p.pronargs::bigint FROM pg_proc p JOIN pg_namespace ns ON ns.oid = p.pronamespace
			WHERE ns.nspname = %s AND p.proname = %s AND p.prokind = 'p'`, schema, a.add(n))
	}
	rows, err := c.db.QueryContext(ctx, q, a.vals...)
	if err != nil {
		return nil, classify("look up procedure "+name, err)
	}
	defer rows.Close()
	var counts []int
	for rows.Next() {
		var n int
		if err := rows.Scan(&n); err != nil {
			return nil, classify("look up procedure "+name, err)
		}
		counts = append(counts, n)
	}
	return counts, classify("look up procedure "+name, rows.Err())
}

// prepare prepares a statement on the server, which checks its syntax
// and that its tables and columns exist.
func (c *Connector) prepare(ctx context.Context, query string) error {
	st, err := c.db.PrepareContext(ctx, query)
	if err != nil {
		return err
	}
	return st.Close()
}

// createSchema creates the configured tables that do not exist.
func (c *Connector) createSchema(ctx context.Context) error {
	str, key, long := "VARCHAR(255)", "VARCHAR(64)", "VARCHAR(255)"
	types := map[string]string{typeBool: "BOOLEAN", typeInt: "BIGINT", typeFloat: "DOUBLE", modeDate: "DATETIME(6)"}
	suffix := " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"
	if c.dialect == Postgres {
		str, long = "TEXT", "TEXT"
		types[typeFloat], types[modeDate] = "DOUBLE PRECISION", "TIMESTAMPTZ"
		suffix = ""
	}
	types[typeString] = str
	q := func(id string) string { return quote(c.dialect, id) }
	var stmts []string
	index := func(table, col string) {
		name := strings.ReplaceAll(table, ".", "_") + "_" + col + "_idx"
		if c.dialect == MySQL {
			stmts[len(stmts)-1] = strings.TrimSuffix(stmts[len(stmts)-1], ")"+suffix) + ", INDEX " + q(name) + " (" + q(col) + "))" + suffix
		} else {
			stmts = append(stmts, "CREATE INDEX IF NOT EXISTS "+q(name)+" ON "+q(table)+" ("+q(col)+")")
		}
	}
	for _, s := range c.specs() {
		o := s.cfg
		cols := []string{q(o.Anchor) + " " + key + " NOT NULL PRIMARY KEY", q(o.ObjectID) + " " + str + " NULL UNIQUE"}
		for _, as := range s.scalars {
			def := as.column + " " + types[as.typ] + " NULL"
			if as.unique {
				def += " UNIQUE"
			}
			cols = append(cols, def)
		}
		if d := o.Disable; d != nil {
			cols = append(cols, q(d.Column)+" "+map[string]string{modeFlag: types[typeBool], modeStatus: str, modeDate: types[modeDate]}[d.Mode]+" NULL")
		}
		stmts = append(stmts, "CREATE TABLE IF NOT EXISTS "+s.table+" ("+strings.Join(cols, ", ")+")"+suffix)
		for _, as := range s.multis {
			a := o.Attributes[as.name]
			stmts = append(stmts, "CREATE TABLE IF NOT EXISTS "+as.table+" ("+as.key+" "+key+" NOT NULL, "+as.column+" "+long+" NOT NULL)"+suffix)
			index(a.Table, a.Key)
		}
		if m := o.Members; m != nil {
			ms := s.members
			stmts = append(stmts, "CREATE TABLE IF NOT EXISTS "+ms.table+" ("+ms.group+" "+key+" NOT NULL, "+ms.member+" "+key+" NOT NULL, PRIMARY KEY ("+ms.group+", "+ms.member+"))"+suffix)
			index(m.Table, m.Member)
		}
	}
	for _, st := range stmts {
		if _, err := c.db.ExecContext(ctx, st); err != nil {
			return classify("create_schema", err)
		}
	}
	return nil
}
