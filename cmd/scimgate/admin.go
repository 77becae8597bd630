package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/scimgate/scimgate/internal/gateway"
)

const adminUsage = `Usage: scimgate admin COMMAND [ARGS] [FLAGS]

See and steer provisioning through the gateway's admin API (/admin/v1).

Commands:
  targets                            every target: health, queue, dead letters
  target NAME                        one target
  deadletters TARGET [--limit N]     the target's dead letters, oldest first
  retry TARGET SEQ...|--all          plan the dead letters' objects again (current state, current policy)
  discard TARGET SEQ...|--all        discard dead letters
  held TARGET [--limit N]            operations held by the deletion guard
  release TARGET                     deliver the held operations
  discard-held TARGET                drop the held operations (the target keeps the objects)
  object (user|group) ID             the object's state in every target, and a user's holds
  release-holds USER [SOURCE]        drop the user's holds (of workflows, guest lifecycle...)
  resync TARGET                      re-send every object's full state to the target
  resync (user|group) ID [--target T]
                                     re-send one object's full state (every target without --target)
  audit [--id ID] [--target T] [--limit N] [--all]
                                     the audit log, newest first (--all follows every page)

An object ID may also be a user's userName or a group's displayName
(compared case-insensitively). Tables show errors and details in full,
on the lines under their row.

` + adminFlagsUsage

// adminDefaultURL is the admin base URL when neither --url nor
// $SCIMGATE_ADMIN_URL is set: the gateway's default listen address.
const adminDefaultURL = "http://127.0.0.1:8080"

// adminCommand is one "scimgate admin" command.
type adminCommand struct {
	flags []string // the command's own flags, beyond those of every command
	run   func(ctx context.Context, c *adminClient, o adminOpts, args []string, w io.Writer) error
}

// adminOpts are the values of the commands' own flags.
type adminOpts struct {
	limit      int
	all        bool
	target, id string
}

var adminCommands = map[string]adminCommand{
	"targets":       {nil, adminTargets},
	"target":        {nil, adminTargetCmd},
	"deadletters":   {[]string{"limit"}, adminDeadLetters},
	"retry":         {[]string{"all"}, adminRetry},
	"discard":       {[]string{"all"}, adminDiscard},
	"held":          {[]string{"limit"}, adminHeld},
	"release":       {nil, adminRelease},
	"discard-held":  {nil, adminDiscardHeld},
	"object":        {nil, adminObjectCmd},
	"release-holds": {nil, adminReleaseHolds},
	"resync":        {[]string{"target"}, adminResync},
	"audit":         {[]string{"id", "target", "limit", "all"}, adminAudit},
}

// adminCmd runs "scimgate admin" and returns its exit code. It prints its
// own errors, as "scimgate admin: ...".
func adminCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, adminUsage)
		return 2
	}
	return exitCode(runAdmin(ctx, args, stdout), "scimgate admin", adminUsage, stdout, stderr)
}

// exitCode prints the outcome err of the command named cmd and returns its
// exit code: 0 on success or for help (usage printed to stdout), 2 for a
// usage error (with the usage), 1 for any other error.
func exitCode(err error, cmd, usage string, stdout, stderr io.Writer) int {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprint(stdout, usage)
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintf(stderr, "%s: %v\n\n%s", cmd, err, usage)
		return 2
	default:
		fmt.Fprintf(stderr, "%s: %v\n", cmd, err)
		return 1
	}
}

func runAdmin(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("admin", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // adminCmd prints the errors and the usage
	fs.Usage = func() {}
	af := addAdminFlags(fs)
	var o adminOpts
	fs.IntVar(&o.limit, "limit", 0, "")
	fs.BoolVar(&o.all, "all", false, "")
	fs.StringVar(&o.target, "target", "", "")
	fs.StringVar(&o.id, "id", "", "")
	name, pos, err := parseCommand(fs, args)
	if err != nil {
		return err
	}
	cmd, ok := adminCommands[name]
	if !ok {
		return fmt.Errorf("%w: unknown admin command %q", errUsage, name)
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	for _, f := range []string{"limit", "all", "target", "id"} {
		if set[f] && !slices.Contains(cmd.flags, f) {
			return fmt.Errorf("%w: --%s does not apply to %s", errUsage, f, name)
		}
	}
	c, err := af.client(fs, stdout)
	if err != nil {
		return err
	}
	return cmd.run(ctx, c, o, pos, stdout)
}

// adminFlagsUsage is the usage of the admin API flags, which admin,
// entra and workflow commands share.
const adminFlagsUsage = `Flags of every command (anywhere on the command line):
  --url URL          gateway base URL (default $SCIMGATE_ADMIN_URL, else http://127.0.0.1:8080)
  --token TOKEN      admin token (default $SCIMGATE_ADMIN_TOKEN)
  --token-file FILE  read the admin token from FILE, e.g. <data_dir>/admin-token
  --json             print the raw JSON responses, pretty-printed, instead of tables
  --timeout D        time limit of each request (default 30s)

Times are RFC 3339 in UTC.
`

// adminFlags are the flags of the commands that call the admin API:
// --url, --token, --token-file, --json and --timeout.
type adminFlags struct {
	url, token, tokenFile *string
	json                  *bool
	timeout               *time.Duration
}

// addAdminFlags defines the admin API flags on fs.
func addAdminFlags(fs *flag.FlagSet) adminFlags {
	return adminFlags{
		url:       fs.String("url", cmp.Or(os.Getenv("SCIMGATE_ADMIN_URL"), adminDefaultURL), ""),
		token:     fs.String("token", os.Getenv("SCIMGATE_ADMIN_TOKEN"), ""),
		tokenFile: fs.String("token-file", "", ""),
		json:      fs.Bool("json", false, ""),
		timeout:   fs.Duration("timeout", 30*time.Second, ""),
	}
}

// client returns the admin API client that the flags of the parsed fs
// give; with --json it prints every answer to stdout (when not nil).
func (f adminFlags) client(fs *flag.FlagSet, stdout io.Writer) (*adminClient, error) {
	if *f.timeout <= 0 {
		return nil, fmt.Errorf("%w: --timeout must be positive, got %v", errUsage, *f.timeout)
	}
	set := false
	fs.Visit(func(fl *flag.Flag) { set = set || fl.Name == "token" })
	c, err := newAdminClient(*f.url, *f.token, set, *f.tokenFile, *f.timeout)
	if err != nil {
		return nil, err
	}
	if *f.json && stdout != nil {
		c.jsonOut = stdout
	}
	return c, nil
}

// parseCommand parses the flags of fs among args and returns the command
// (the first positional argument) and its arguments; "help" and -h are
// flag.ErrHelp, a bad flag or no command errUsage.
func parseCommand(fs *flag.FlagSet, args []string) (name string, pos []string, err error) {
	pos, err = parseInterspersed(fs, args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return "", nil, err
	case err != nil:
		return "", nil, fmt.Errorf("%w: %v", errUsage, err)
	case len(pos) == 0:
		return "", nil, fmt.Errorf("%w: no command", errUsage)
	case pos[0] == "help":
		return "", nil, flag.ErrHelp
	}
	return pos[0], pos[1:], nil
}

// parseInterspersed parses flags placed anywhere among the positional
// arguments, which it returns ("--" ends the flags).
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			return append(pos, rest...), nil
		}
		pos, args = append(pos, rest[0]), rest[1:]
	}
}

// wantArgs checks the number of positional arguments of a command; shape
// is the command's usage line.
func wantArgs(args []string, n int, shape string) error {
	if len(args) != n {
		return fmt.Errorf("%w: %s (got %s)", errUsage, shape, plural(len(args), "argument"))
	}
	return nil
}

// resourceEndpoint maps "user" or "group" to the admin API's path segment.
func resourceEndpoint(kind string) (string, error) {
	switch strings.ToLower(kind) {
	case "user", "users":
		return "Users", nil
	case "group", "groups":
		return "Groups", nil
	}
	return "", fmt.Errorf("%w: %q is not user or group", errUsage, kind)
}

func adminTargets(ctx context.Context, c *adminClient, _ adminOpts, args []string, w io.Writer) error {
	if err := wantArgs(args, 0, "targets"); err != nil {
		return err
	}
	ts, err := c.targets(ctx)
	if err != nil || c.jsonOut != nil {
		return err
	}
	return writeTargets(w, ts)
}

func adminTargetCmd(ctx context.Context, c *adminClient, _ adminOpts, args []string, w io.Writer) error {
	if err := wantArgs(args, 1, "target NAME"); err != nil {
		return err
	}
	t, err := c.target(ctx, args[0])
	if err != nil || c.jsonOut != nil {
		return err
	}
	return writeTargets(w, []adminTarget{t})
}

func writeTargets(w io.Writer, ts []adminTarget) error {
	if len(ts) == 0 {
		_, err := fmt.Fprintln(w, "no targets are configured")
		return err
	}
	tb := newTable(w, "NAME", "TYPE", "HEALTH", "PENDING", "HELD", "DEAD", "OLDEST", "SCHEDULED", "PREVIEW")
	var holding []string
	for _, t := range ts {
		tb.row(t.Name, t.Type, t.Health, strconv.Itoa(t.Pending), strconv.Itoa(t.Held),
			strconv.Itoa(t.DeadLetters), fmtTimeOpt(t.OldestPending), strconv.Itoa(t.Scheduled), yesNo(t.Preview))
		if t.Health == "down" {
			tb.note("error", t.HealthError)
		}
		if t.DownSince != nil {
			tb.note("down since", fmtTimeOpt(t.DownSince)+"; operations wait, next probe "+fmtTimeOpt(t.NextProbe))
		}
		if t.NextScheduled != nil {
			tb.note("next scheduled", fmtTimeOpt(t.NextScheduled))
		}
		if t.GuardHolding {
			holding = append(holding, t.Name)
		}
	}
	if err := tb.flush(); err != nil {
		return err
	}
	for _, name := range holding {
		if _, err := fmt.Fprintf(w, "%s: the deletion guard is holding disables/deletes; see \"scimgate admin held %s\", then release or discard-held\n", name, name); err != nil {
			return err
		}
	}
	return nil
}

func adminDeadLetters(ctx context.Context, c *adminClient, o adminOpts, args []string, w io.Writer) error {
	if err := wantArgs(args, 1, "deadletters TARGET [--limit N]"); err != nil {
		return err
	}
	ops, err := c.deadLetters(ctx, args[0], o.limit)
	if err != nil || c.jsonOut != nil {
		return err
	}
	if len(ops) == 0 {
		_, err := fmt.Fprintf(w, "%s: no dead letters\n", args[0])
		return err
	}
	tb := newTable(w, "SEQ", "TYPE", "NAME", "ID", "OP", "ATTEMPTS", "CREATED")
	for _, op := range ops {
		tb.row(strconv.FormatInt(op.Seq, 10), op.Type, op.Name, op.ID, op.Op, strconv.Itoa(op.Attempts),
			fmtTimeOpt(op.Created))
		tb.note("error", op.LastError)
	}
	return tb.flush()
}

func adminRetry(ctx context.Context, c *adminClient, o adminOpts, args []string, w io.Writer) error {
	return actOnDeadLetters(ctx, c, o, args, w, "retry", c.retryDeadLetter, "queued again")
}

func adminDiscard(ctx context.Context, c *adminClient, o adminOpts, args []string, w io.Writer) error {
	return actOnDeadLetters(ctx, c, o, args, w, "discard", c.discardDeadLetter, "discarded")
}

// actOnDeadLetters runs act on the dead letters named by args[1:], or on
// every dead letter of the target with --all, and reports each.
func actOnDeadLetters(ctx context.Context, c *adminClient, o adminOpts, args []string, w io.Writer,
	verb string, act func(ctx context.Context, target string, seq int64) (int, error), done string) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: %s TARGET SEQ...|--all (got no argument)", errUsage, verb)
	}
	target, seqArgs := args[0], args[1:]
	if o.all == (len(seqArgs) > 0) {
		return fmt.Errorf("%w: %s TARGET SEQ...|--all: give dead letter SEQ numbers or --all, not both", errUsage, verb)
	}
	var seqs []int64
	for _, a := range seqArgs {
		seq, err := strconv.ParseInt(a, 10, 64)
		if err != nil || seq <= 0 {
			return fmt.Errorf("%w: SEQ %q is not a dead letter number", errUsage, a)
		}
		seqs = append(seqs, seq)
	}
	report := func(seq int64, n int) error {
		if c.jsonOut != nil {
			return nil
		}
		msg := done
		if n == 0 {
			msg = "nothing to " + verb
		}
		_, err := fmt.Fprintf(w, "%s: dead letter %d %s\n", target, seq, msg)
		return err
	}
	if !o.all {
		for _, seq := range seqs {
			n, err := act(ctx, target, seq)
			if err != nil {
				return fmt.Errorf("dead letter %d: %w", seq, err)
			}
			if err := report(seq, n); err != nil {
				return err
			}
		}
		return nil
	}
	// --all: list, act on each, and list again until no dead letter is
	// new (a retried one may fail and be dead again).
	seen := map[int64]bool{}
	for {
		ops, err := c.deadLetters(ctx, target, 1000)
		if err != nil {
			return err
		}
		acted := false
		for _, op := range ops {
			if seen[op.Seq] {
				continue
			}
			seen[op.Seq], acted = true, true
			n, err := act(ctx, target, op.Seq)
			if err != nil {
				return fmt.Errorf("dead letter %d: %w", op.Seq, err)
			}
			if err := report(op.Seq, n); err != nil {
				return err
			}
		}
		if !acted {
			break
		}
	}
	if len(seen) == 0 && c.jsonOut == nil {
		_, err := fmt.Fprintf(w, "%s: no dead letters\n", target)
		return err
	}
	return nil
}

func adminHeld(ctx context.Context, c *adminClient, o adminOpts, args []string, w io.Writer) error {
	if err := wantArgs(args, 1, "held TARGET [--limit N]"); err != nil {
		return err
	}
	ops, err := c.held(ctx, args[0], o.limit)
	if err != nil || c.jsonOut != nil {
		return err
	}
	if len(ops) == 0 {
		_, err := fmt.Fprintf(w, "%s: the deletion guard holds nothing\n", args[0])
		return err
	}
	tb := newTable(w, "SEQ", "TYPE", "NAME", "ID", "OP", "CREATED")
	for _, op := range ops {
		tb.row(strconv.FormatInt(op.Seq, 10), op.Type, op.Name, op.ID, op.Op, fmtTimeOpt(op.Created))
	}
	if err := tb.flush(); err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "deliver them with \"scimgate admin release %s\", or drop them with \"scimgate admin discard-held %s\"\n", args[0], args[0])
	return err
}

func adminRelease(ctx context.Context, c *adminClient, _ adminOpts, args []string, w io.Writer) error {
	if err := wantArgs(args, 1, "release TARGET"); err != nil {
		return err
	}
	n, err := c.release(ctx, args[0])
	if err != nil || c.jsonOut != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s: released %s for delivery\n", args[0], plural(n, "held operation"))
	return err
}

func adminDiscardHeld(ctx context.Context, c *adminClient, _ adminOpts, args []string, w io.Writer) error {
	if err := wantArgs(args, 1, "discard-held TARGET"); err != nil {
		return err
	}
	n, err := c.discardHeld(ctx, args[0])
	if err != nil || c.jsonOut != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s: discarded %s; the target keeps the objects\n", args[0], plural(n, "held operation"))
	return err
}

func adminObjectCmd(ctx context.Context, c *adminClient, _ adminOpts, args []string, w io.Writer) (err error) {
	if err := wantArgs(args, 2, "object (user|group) ID"); err != nil {
		return err
	}
	endpoint, err := resourceEndpoint(args[0])
	if err != nil {
		return err
	}
	obj, err := c.object(ctx, endpoint, args[1])
	if err != nil || c.jsonOut != nil {
		return err
	}
	where := "in the SCIM store"
	if !obj.Exists {
		where = "deleted from the SCIM store"
	}
	what := fmt.Sprintf("%s %s", obj.Type, obj.ID)
	if obj.Name != "" {
		what = fmt.Sprintf("%s %s, id %s", obj.Type, obj.Name, obj.ID)
	}
	if _, err := fmt.Fprintf(w, "%s (%s)\n", what, where); err != nil {
		return err
	}
	if len(obj.Targets) == 0 {
		_, err := fmt.Fprintln(w, "no targets are configured")
		return err
	}
	defer func() {
		if err == nil && len(obj.Holds) > 0 {
			err = printHolds(w, obj.Holds)
		}
	}()
	tb := newTable(w, "TARGET", "ANCHOR", "PRESENT", "IN-SCOPE", "DISABLED", "PENDING", "DEAD")
	var ops int
	for _, t := range obj.Targets {
		present := yesNo(t.Present)
		if t.Deleted {
			present = "deleted"
		}
		tb.row(t.Target, t.Anchor, present, yesNo(t.InScope), yesNo(t.Disabled),
			strconv.Itoa(len(t.Pending)), strconv.Itoa(len(t.DeadLetters)))
		ops += len(t.Pending) + len(t.DeadLetters)
	}
	if err := tb.flush(); err != nil || ops == 0 {
		return err
	}
	if _, err := fmt.Fprintln(w, "\nOperations:"); err != nil {
		return err
	}
	tb = newTable(w, "TARGET", "SEQ", "OP", "STATE", "ATTEMPTS", "CREATED", "NEXT", "CHANGES")
	for _, t := range obj.Targets {
		for _, op := range slices.Concat(t.Pending, t.DeadLetters) {
			state, next := "pending", fmtTime(op.NextAt)
			switch {
			case op.Dead:
				state, next = "dead", "-"
			case op.Held:
				state, next = "held", "-"
			}
			tb.row(t.Target, strconv.FormatInt(op.Seq, 10), op.Op, state, strconv.Itoa(op.Attempts),
				fmtTimeOpt(op.Created), next, opChanges(op))
			tb.note("error", op.LastError)
		}
	}
	return tb.flush()
}

// opChanges summarises what an operation changes: its attribute names or
// how many members it adds or removes.
func opChanges(op adminOperation) string {
	if len(op.Members) > 0 {
		return plural(len(op.Members), "member")
	}
	return strings.Join(op.Attrs, ",")
}

func adminResync(ctx context.Context, c *adminClient, o adminOpts, args []string, w io.Writer) error {
	switch len(args) {
	case 1:
		if o.target != "" {
			return fmt.Errorf("%w: resync TARGET takes no --target (resync (user|group) ID --target T re-sends one object)", errUsage)
		}
		n, err := c.resyncTarget(ctx, args[0])
		if err != nil || c.jsonOut != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s: re-sync queued for %s\n", args[0], plural(n, "object"))
		return err
	case 2:
		endpoint, err := resourceEndpoint(args[0])
		if err != nil {
			return err
		}
		n, err := c.resyncObject(ctx, endpoint, args[1], o.target)
		if err != nil || c.jsonOut != nil {
			return err
		}
		where := "every target"
		if o.target != "" {
			where = o.target
		}
		_, err = fmt.Fprintf(w, "%s %s: re-sync queued in %s (%d queued)\n", strings.TrimSuffix(endpoint, "s"), args[1], where, n)
		return err
	}
	return fmt.Errorf("%w: resync TARGET, or resync (user|group) ID [--target T] (got %s)", errUsage, plural(len(args), "argument"))
}

func adminAudit(ctx context.Context, c *adminClient, o adminOpts, args []string, w io.Writer) error {
	if err := wantArgs(args, 0, "audit [--id ID] [--target T] [--limit N] [--all]"); err != nil {
		return err
	}
	var (
		entries []adminAuditEntry
		before  int64
	)
	for {
		page, err := c.audit(ctx, o.id, o.target, o.limit, before)
		if err != nil {
			return err
		}
		entries = append(entries, page.Entries...)
		if before != 0 && page.Next >= before {
			return fmt.Errorf("the audit log's next page (before=%d) does not follow the previous one (before=%d)", page.Next, before)
		}
		if before = page.Next; before == 0 || !o.all {
			break
		}
	}
	if c.jsonOut != nil {
		return nil
	}
	if len(entries) == 0 {
		_, err := fmt.Fprintln(w, "no audit entries")
		return err
	}
	tb := newTable(w, "TIME", "ACTOR", "ACTION", "TYPE", "NAME", "ID", "TARGET", "RESULT")
	for _, e := range entries {
		tb.row(fmtTime(e.Time), e.Actor, e.Action, e.Type, e.Name, e.ID, e.Target, e.Result)
		tb.note("detail", e.Detail)
	}
	if err := tb.flush(); err != nil {
		return err
	}
	if before != 0 {
		_, err := fmt.Fprintln(w, "older entries follow: --all shows them")
		return err
	}
	return nil
}

// table is a tab-aligned table; cells are cleaned of control characters
// and empty cells show "-". Long texts (errors, details) are notes: they
// go in full on the lines under their row, never in a cell.
type table struct {
	w     io.Writer
	tw    *tabwriter.Writer
	buf   bytes.Buffer     // the aligned header and rows
	rows  int              // rows written, header included
	notes map[int][]string // the note lines under row i
}

func newTable(w io.Writer, header ...string) *table {
	t := &table{w: w, notes: map[int][]string{}}
	t.tw = tabwriter.NewWriter(&t.buf, 0, 0, 2, ' ', 0)
	t.row(header...)
	return t
}

func (t *table) row(cells ...string) {
	for i, c := range cells {
		c = strings.Map(func(r rune) rune {
			if unicode.IsControl(r) {
				return ' '
			}
			return r
		}, c)
		if c == "" {
			c = "-"
		}
		cells[i] = c
	}
	fmt.Fprintln(t.tw, strings.Join(cells, "\t"))
	t.rows++
}

// note shows text under the last row as "  label: text", in full; the
// lines of a text of several lines are indented under its first. An
// empty text shows nothing.
func (t *table) note(label, text string) {
	text = strings.TrimSpace(text)
	if text == "" {
		return
	}
	prefix := "  " + label + ": "
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimRightFunc(strings.Map(func(r rune) rune {
			if unicode.IsControl(r) {
				return ' '
			}
			return r
		}, line), unicode.IsSpace)
		if i > 0 {
			prefix = strings.Repeat(" ", len(prefix))
		}
		t.notes[t.rows-1] = append(t.notes[t.rows-1], prefix+line)
	}
}

func (t *table) flush() error {
	if err := t.tw.Flush(); err != nil {
		return err
	}
	var out strings.Builder
	for i, line := range strings.SplitAfter(strings.TrimSuffix(t.buf.String(), "\n"), "\n") {
		out.WriteString(strings.TrimSuffix(line, "\n") + "\n")
		for _, n := range t.notes[i] {
			out.WriteString(n + "\n")
		}
	}
	_, err := io.WriteString(t.w, out.String())
	return err
}

// fmtTime shows an API time in UTC to the second, "-" for the zero time.
func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

// fmtTimeOpt shows an optional API time ("-" when absent).
func fmtTimeOpt(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return fmtTime(*t)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// The admin API's JSON shapes (docs/admin-api.md), as the gateway
// answers them.
type (
	adminTarget     = gateway.AdminTarget
	adminOperation  = gateway.AdminOperation
	adminObject     = gateway.AdminObject
	adminHold       = gateway.AdminHold
	adminAuditEntry = gateway.AdminAuditEntry
	adminAuditPage  = gateway.AdminAuditPage
	// adminReconciliation is the report of a reconciliation (scimgate
	// reconcile).
	adminReconciliation = gateway.AdminReconciliation
)

// adminClient calls the admin API.
type adminClient struct {
	base      string // scheme://host[:port][/prefix], without /admin/v1
	token     string
	tokenFrom string // where the token was read from, for the 401 message
	hc        *http.Client
	jsonOut   io.Writer // --json: every response body is printed here
}

// newAdminClient checks the base URL and reads the token: --token when set
// on the command line, else --token-file, else $SCIMGATE_ADMIN_TOKEN (the
// default of token).
func newAdminClient(rawURL, token string, tokenSet bool, tokenFile string, timeout time.Duration) (*adminClient, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" {
		return nil, fmt.Errorf("%w: --url %q is not an http(s) base URL like %s", errUsage, rawURL, adminDefaultURL)
	}
	base := strings.TrimSuffix(strings.TrimSuffix(u.String(), "/"), "/admin/v1")
	c := &adminClient{base: base, hc: &http.Client{Timeout: timeout}}
	switch {
	case tokenSet && tokenFile != "":
		return nil, fmt.Errorf("%w: give --token or --token-file, not both", errUsage)
	case tokenSet:
		c.token, c.tokenFrom = token, "--token"
	case tokenFile != "":
		b, err := os.ReadFile(tokenFile)
		if err != nil {
			return nil, fmt.Errorf("reading the admin token: %w", err)
		}
		c.token, c.tokenFrom = strings.TrimSpace(string(b)), "--token-file "+tokenFile
		if c.token == "" {
			return nil, fmt.Errorf("the admin token file %s is empty", tokenFile)
		}
	default:
		c.token, c.tokenFrom = token, "$SCIMGATE_ADMIN_TOKEN"
	}
	if strings.TrimSpace(c.token) == "" {
		return nil, errors.New("no admin token: set --token, $SCIMGATE_ADMIN_TOKEN or --token-file " +
			"(without configured admin tokens the gateway generates one in <data_dir>/admin-token)")
	}
	return c, nil
}

// adminAPIError is an error answer of the admin API.
type adminAPIError struct {
	Status  int    `json:"status"`
	Message string `json:"error"`
}

func (e *adminAPIError) Error() string { return fmt.Sprintf("%s (HTTP %d)", e.Message, e.Status) }

// call sends one request to /admin/v1+path and decodes the answer into out.
func (c *adminClient) call(ctx context.Context, method, path string, query url.Values, out any) error {
	return c.send(ctx, method, path, query, nil, out)
}

// send is call with a JSON body (none when body is nil).
func (c *adminClient) send(ctx context.Context, method, path string, query url.Values, body any, out any) error {
	answer, err := c.raw(ctx, method, path, query, body)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(answer, out); err != nil {
		u := c.base + "/admin/v1" + path
		if len(query) > 0 {
			u += "?" + query.Encode()
		}
		return fmt.Errorf("%s %s: the answer is not the expected JSON: %v (%q)", method, u, err, snippet(answer))
	}
	if c.jsonOut != nil {
		var buf bytes.Buffer
		if err := json.Indent(&buf, bytes.TrimSpace(answer), "", "  "); err != nil {
			return err
		}
		buf.WriteByte('\n')
		_, err := buf.WriteTo(c.jsonOut)
		return err
	}
	return nil
}

// raw sends one request to /admin/v1+path (with a JSON body unless body
// is nil) and returns the body of a successful answer as it is.
func (c *adminClient) raw(ctx context.Context, method, path string, query url.Values, body any) ([]byte, error) {
	u := c.base + "/admin/v1" + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			if ue.Timeout() && ctx.Err() == nil {
				return nil, fmt.Errorf("no answer from %s within %v (--timeout)", u, c.hc.Timeout)
			}
			err = ue.Err
		}
		return nil, fmt.Errorf("cannot reach the admin API at %s: %w (set --url or $SCIMGATE_ADMIN_URL)", u, err)
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("%s %s: reading the answer: %w", method, u, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		apiErr := &adminAPIError{}
		if json.Unmarshal(answer, apiErr) != nil || apiErr.Message == "" {
			apiErr.Message = fmt.Sprintf("%s %s: unexpected answer %q", method, u, snippet(answer))
		}
		apiErr.Status = resp.StatusCode
		if resp.StatusCode == http.StatusUnauthorized {
			return nil, fmt.Errorf("the gateway refused the admin token from %s: %w", c.tokenFrom, apiErr)
		}
		return nil, apiErr
	}
	return answer, nil
}

// snippet is the start of an unexpected answer, for an error message.
func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if r := []rune(s); len(r) > 100 {
		s = string(r[:100]) + "…"
	}
	return s
}

func limitQuery(limit int) url.Values {
	if limit == 0 {
		return nil // the API's default
	}
	return url.Values{"limit": {strconv.Itoa(limit)}}
}

func targetPath(target string) string { return "/targets/" + url.PathEscape(target) }

func (c *adminClient) targets(ctx context.Context) ([]adminTarget, error) {
	var r struct {
		Targets []adminTarget `json:"targets"`
	}
	err := c.call(ctx, http.MethodGet, "/targets", nil, &r)
	return r.Targets, err
}

func (c *adminClient) target(ctx context.Context, name string) (adminTarget, error) {
	var r adminTarget
	err := c.call(ctx, http.MethodGet, targetPath(name), nil, &r)
	return r, err
}

func (c *adminClient) deadLetters(ctx context.Context, target string, limit int) ([]adminOperation, error) {
	var r struct {
		DeadLetters []adminOperation `json:"deadLetters"`
	}
	err := c.call(ctx, http.MethodGet, targetPath(target)+"/deadletters", limitQuery(limit), &r)
	return r.DeadLetters, err
}

func (c *adminClient) retryDeadLetter(ctx context.Context, target string, seq int64) (int, error) {
	var r struct {
		Retried int `json:"retried"`
	}
	err := c.call(ctx, http.MethodPost, fmt.Sprintf("%s/deadletters/%d/retry", targetPath(target), seq), nil, &r)
	return r.Retried, err
}

func (c *adminClient) discardDeadLetter(ctx context.Context, target string, seq int64) (int, error) {
	var r struct {
		Discarded int `json:"discarded"`
	}
	err := c.call(ctx, http.MethodDelete, fmt.Sprintf("%s/deadletters/%d", targetPath(target), seq), nil, &r)
	return r.Discarded, err
}

func (c *adminClient) held(ctx context.Context, target string, limit int) ([]adminOperation, error) {
	var r struct {
		Held []adminOperation `json:"held"`
	}
	err := c.call(ctx, http.MethodGet, targetPath(target)+"/held", limitQuery(limit), &r)
	return r.Held, err
}

func (c *adminClient) release(ctx context.Context, target string) (int, error) {
	var r struct {
		Released int `json:"released"`
	}
	err := c.call(ctx, http.MethodPost, targetPath(target)+"/guard/release", nil, &r)
	return r.Released, err
}

func (c *adminClient) discardHeld(ctx context.Context, target string) (int, error) {
	var r struct {
		Discarded int `json:"discarded"`
	}
	err := c.call(ctx, http.MethodPost, targetPath(target)+"/guard/discard", nil, &r)
	return r.Discarded, err
}

func (c *adminClient) resyncTarget(ctx context.Context, target string) (int, error) {
	var r struct {
		Queued int `json:"queued"`
	}
	err := c.call(ctx, http.MethodPost, targetPath(target)+"/resync", nil, &r)
	return r.Queued, err
}

// object returns an object's state; endpoint is Users or Groups.
func (c *adminClient) object(ctx context.Context, endpoint, id string) (adminObject, error) {
	var r adminObject
	err := c.call(ctx, http.MethodGet, "/"+endpoint+"/"+url.PathEscape(id), nil, &r)
	return r, err
}

// printHolds prints a user's holds.
func printHolds(w io.Writer, hs []adminHold) error {
	if _, err := fmt.Fprintln(w, "\nHolds (they outrank the policy):"); err != nil {
		return err
	}
	tb := newTable(w, "SOURCE", "TARGET", "GROUP", "ACTION", "UNTIL", "SINCE", "REASON")
	for _, h := range hs {
		target, group, until := h.Target, h.Group, "released"
		if target == "" {
			target = "(every)"
		}
		if group == "" {
			group = "-"
		}
		if h.Until == "scim" {
			until = "SCIM changes it"
		}
		tb.row(h.Source, target, group, h.Action, until, fmtTime(h.Created), h.Reason)
	}
	return tb.flush()
}

// adminReleaseHolds drops a user's holds: those of a source, or all.
func adminReleaseHolds(ctx context.Context, c *adminClient, _ adminOpts, args []string, w io.Writer) error {
	if len(args) < 1 || len(args) > 2 {
		return fmt.Errorf("%w: release-holds USER [SOURCE] (got %s)", errUsage, plural(len(args), "argument"))
	}
	q := url.Values{}
	if len(args) == 2 {
		q.Set("source", args[1])
	}
	var r struct {
		Released int `json:"released"`
	}
	if err := c.call(ctx, http.MethodDelete, "/Users/"+url.PathEscape(args[0])+"/holds", q, &r); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "%s: released %s\n", args[0], plural(r.Released, "hold"))
	return err
}

// resyncObject re-sends an object to target, or to every target when
// target is "".
func (c *adminClient) resyncObject(ctx context.Context, endpoint, id, target string) (int, error) {
	var q url.Values
	if target != "" {
		q = url.Values{"target": {target}}
	}
	var r struct {
		Queued int `json:"queued"`
	}
	err := c.call(ctx, http.MethodPost, "/"+endpoint+"/"+url.PathEscape(id)+"/resync", q, &r)
	return r.Queued, err
}

// audit returns one page of the audit log, newest first; before is the
// next of the previous page, 0 for the first.
func (c *adminClient) audit(ctx context.Context, id, target string, limit int, before int64) (adminAuditPage, error) {
	q := url.Values{}
	if id != "" {
		q.Set("id", id)
	}
	if target != "" {
		q.Set("target", target)
	}
	if limit != 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	if before != 0 {
		q.Set("before", strconv.FormatInt(before, 10))
	}
	var r adminAuditPage
	err := c.call(ctx, http.MethodGet, "/audit", q, &r)
	return r, err
}
