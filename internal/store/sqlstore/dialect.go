package sqlstore

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"syscall"

	"github.com/scimgate/scimgate/internal/store"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// dialect is everything that differs between the SQL databases the store
// runs on. Queries are written with ? placeholders and portable SQL; only
// SQLite is implemented, MySQL/MariaDB and PostgreSQL add a value each.
type dialect struct {
	// embedded: the database is a library in this process (SQLite), not
	// a server that connections can lose.
	embedded bool
	// numbered: placeholders are $1, $2, … instead of ?.
	numbered bool
	// types replaces the type tokens of the migrations.
	types *strings.Replacer
	// beginWrite opens a write transaction; beginRead a read-only one
	// that sees one snapshot.
	beginWrite, beginRead string
	// isolate, if set, runs before beginWrite: the isolation level of a
	// database whose BEGIN does not take one.
	isolate string
	// analyze, if set, refreshes the planner's statistics of the tables
	// that grow with the tenant; the writer runs it as they grow fast
	// (see analyzeAt).
	analyze string
	// writeLock and writeUnlock, if set, run before each write transaction
	// begins and after it ends: the replicas' writers take turns, so that
	// their transactions never overlap.
	writeLock, writeUnlock string
	// returning: an INSERT returns the key it generated with RETURNING
	// (else the driver's LastInsertId).
	returning bool
	// sessionLock (which returns 1 once it holds the lock) and
	// sessionUnlock make the migrations of concurrent openers (replicas)
	// wait for each other; none: beginWrite does (SQLite).
	sessionLock, sessionUnlock string
	// rewrite, if set, turns a statement's portable SQL into the
	// database's.
	rewrite func(string) string
	// contains and endsWith return a predicate "col contains / ends with
	// lit" and its arguments; lit is never empty.
	contains func(col, lit string) (string, []any)
	endsWith func(col, lit string) (string, []any)
	// isUnique reports whether err is a unique-constraint violation.
	isUnique func(error) bool
	// isFault reports whether err is the storage's fault (full, I/O
	// error, read-only) rather than the write's.
	isFault func(error) bool
	// utf8Only: text holds only valid UTF-8 without U+0000; the
	// database refuses other strings (isInvalidText).
	utf8Only bool
	// lockJournal, if set, runs in a write transaction before its first
	// journal entry and holds a lock until the transaction ends. A
	// journal entry's sequence number is taken when it is inserted, so
	// without it replicas' transactions may commit entries out of their
	// order, and a reader that moves a cursor over the journal (the
	// engine's planner) would pass, and lose, an entry whose transaction
	// commits after one with a larger number.
	lockJournal string
	// isConflict reports whether err aborted a transaction for a
	// conflict with a concurrent one (another replica's), so that running
	// it again may succeed.
	isConflict func(error) bool
	// isInvalidText reports whether err refuses a string argument the
	// database cannot hold (nil: every string can be held).
	isInvalidText func(error) bool
}

// textErr wraps err with ErrInvalidText when the database refused a
// string it cannot hold.
func (d *dialect) textErr(err error) error {
	if err != nil && d.isInvalidText != nil && d.isInvalidText(err) && !errors.Is(err, store.ErrInvalidText) {
		return fmt.Errorf("%w: %w", store.ErrInvalidText, err)
	}
	return err
}

var sqliteDialect = &dialect{
	embedded: true,
	types: strings.NewReplacer(
		"{serial}", "INTEGER PRIMARY KEY", // rowid alias
		// {sequence}: like {serial}, but a number is never reused, even
		// after the rows holding the largest ones are deleted.
		"{sequence}", "INTEGER PRIMARY KEY AUTOINCREMENT",
		"{blob}", "BLOB",
		"{text}", "TEXT", // BINARY collation: byte-wise order
		"{strkey}", "str",
		"{anchored}", " WHERE anchor <> ''",
	),
	beginWrite: "BEGIN IMMEDIATE",
	beginRead:  "BEGIN",
	// instr and substr of a BLOB work on bytes, so embedded NULs and
	// multi-byte characters are compared exactly.
	contains: func(col, lit string) (string, []any) {
		return "instr(" + col + ", ?) > 0", []any{lit}
	},
	endsWith: func(col, lit string) (string, []any) {
		return "substr(CAST(" + col + " AS BLOB), ?) = ?", []any{-len(lit), []byte(lit)}
	},
	isUnique: func(err error) bool {
		var e *sqlite.Error
		return errors.As(err, &e) && (e.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE ||
			e.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY)
	},
	isFault: func(err error) bool {
		var e *sqlite.Error
		if errors.As(err, &e) {
			// Extended codes keep the primary code in their low byte.
			switch e.Code() & 0xff {
			case sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_READONLY, sqlite3.SQLITE_CANTOPEN:
				return true
			}
		}
		return isOSFault(err)
	},
}

// isOSFault reports whether err is an operating system error that means the
// storage cannot write.
func isOSFault(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EROFS) || errors.Is(err, syscall.EIO)
}

// limitArg is the placeholder of a LIMIT value: a parameter inside an
// expression, not a bare one. SQLite (since 3.47) compiles a bare LIMIT
// parameter's bound value into the program, so a statement is parsed and
// planned again every time it is bound anew, that is on every execution:
// that was half of the cost of a userName eq lookup. PostgreSQL takes the
// expression too.
const limitArg = "(? + 0)"

// rebind rewrites the ? placeholders of q for the dialect. The store never
// puts literals into SQL text, so every ? is a placeholder.
func (d *dialect) rebind(q string) string {
	if d.rewrite != nil {
		q = d.rewrite(q)
	}
	if !d.numbered {
		return q
	}
	var b strings.Builder
	n := 0
	for _, c := range []byte(q) {
		if c == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}
