package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/scimgate/scimgate/internal/engine"
	"github.com/scimgate/scimgate/internal/gateway"
)

const reconcileUsage = `Usage: scimgate reconcile TARGET [--dry-run] [--json] [FLAGS]

Reconcile a target through the gateway's admin API: read every account the
target holds, compare each with what the policy says it should be, and queue
the differences through the engine's outbox (never written to the target
directly): missing accounts are created, drift is updated, unlinked
accounts are adopted, accounts out of scope are deprovisioned as the
lifecycle says, orphans are reported, disabled or deleted as the target's
orphans setting says; conflicts wait for a person.

While it runs, the progress shows (accounts read, matched, per second,
estimated time left: on a terminal on one line, else a line per change),
then the report: a table per outcome, differences as attr: old → new.

Flags (anywhere on the command line):
  --dry-run          change nothing: list what a run would do
  --json             print the report as JSON (no progress)
  --url URL          gateway base URL (default $SCIMGATE_ADMIN_URL, else http://127.0.0.1:8080)
  --token TOKEN      admin token (default $SCIMGATE_ADMIN_TOKEN)
  --token-file FILE  read the admin token from FILE, e.g. <data_dir>/admin-token
  --timeout D        time limit of each request (default 30s)
  --interval D       how often the progress is read (default 1s)

The report is kept by the gateway:
GET /admin/v1/targets/TARGET/reconciliations[/ID][?format=csv].
`

// reconcileClock is the time and the wait between two reads of the
// progress (tests make them a fake clock).
type reconcileClock struct {
	now  func() time.Time
	wait func(ctx context.Context, d time.Duration) error
}

var realClock = reconcileClock{now: time.Now, wait: func(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}}

// reconcileCmd runs "scimgate reconcile" and returns its exit code. It
// prints its own errors, as "scimgate reconcile: ...".
func reconcileCmd(ctx context.Context, args []string, stdout, stderr io.Writer, clock reconcileClock) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, reconcileUsage)
		return 2
	}
	return exitCode(runReconcileCmd(ctx, args, stdout, clock), "scimgate reconcile", reconcileUsage, stdout, stderr)
}

func runReconcileCmd(ctx context.Context, args []string, stdout io.Writer, clock reconcileClock) error {
	fs := flag.NewFlagSet("reconcile", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	af := addAdminFlags(fs)
	interval := fs.Duration("interval", time.Second, "")
	dryRun := fs.Bool("dry-run", false, "")
	pos, err := parseInterspersed(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return err
	} else if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if len(pos) != 1 {
		return fmt.Errorf("%w: reconcile TARGET (got %s)", errUsage, plural(len(pos), "argument"))
	}
	if *interval <= 0 {
		return fmt.Errorf("%w: --interval must be positive, got %v", errUsage, *interval)
	}
	// The progress and the report are written here, in JSON with --json.
	c, err := af.client(fs, nil)
	if err != nil {
		return err
	}
	asJSON := af.json
	target := pos[0]
	q := url.Values{"dryRun": {strconv.FormatBool(*dryRun)}}
	var rep adminReconciliation
	if err := c.call(ctx, http.MethodPost, targetPath(target)+"/reconciliations", q, &rep); err != nil {
		return err
	}
	p := &progress{w: stdout, tty: isTerminal(stdout) && !*asJSON, quiet: *asJSON, target: target, start: clock.now()}
	// The progress shows once a run takes longer than an interval.
	for rep.Status == engine.StatusRunning {
		if err := clock.wait(ctx, *interval); err != nil {
			p.end()
			return fmt.Errorf("interrupted; the reconciliation %s of %s goes on in the gateway (GET /admin/v1/targets/%s/reconciliations/%s)",
				rep.ID, target, target, rep.ID)
		}
		if err := c.call(ctx, http.MethodGet, targetPath(target)+"/reconciliations/"+url.PathEscape(rep.ID), nil, &rep); err != nil {
			p.end()
			return err
		}
		if rep.Status == engine.StatusRunning {
			p.show(rep, clock.now())
		}
	}
	p.end()
	if *asJSON {
		b, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return err
		}
		if _, err := fmt.Fprintf(stdout, "%s\n", b); err != nil {
			return err
		}
	} else if err := writeReport(stdout, rep); err != nil {
		return err
	}
	if rep.Status == engine.StatusFailed {
		return fmt.Errorf("the reconciliation failed: %s", rep.Error)
	}
	return nil
}

// isTerminal reports whether w is a terminal (a character device).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// progress shows a running reconciliation: on a terminal one line,
// rewritten; otherwise a line whenever the counts change.
type progress struct {
	w      io.Writer
	tty    bool
	quiet  bool
	target string
	start  time.Time
	last   string // the line shown last (a terminal)
	counts [2]int // read and matched shown last (not a terminal)
	shown  bool
	width  int
}

func (p *progress) show(rep adminReconciliation, now time.Time) {
	if p.quiet {
		return
	}
	line := fmt.Sprintf("%s: %s accounts read, %s matched", p.target, thousands(rep.Read), thousands(rep.Matched))
	if secs := now.Sub(p.start).Seconds(); secs > 0 && rep.Read > 0 {
		rate := float64(rep.Read) / secs
		line += fmt.Sprintf(", %s/s", thousands(int(rate+0.5)))
		if left := rep.Expected - rep.Read; left > 0 {
			line += ", about " + time.Duration(float64(left)/rate*float64(time.Second)).Round(time.Second).String() + " left"
		}
	}
	if !p.tty {
		if counts := [2]int{rep.Read, rep.Matched}; !p.shown || counts != p.counts {
			p.counts, p.shown = counts, true
			fmt.Fprintln(p.w, line)
		}
		return
	}
	if line == p.last {
		return
	}
	p.last, p.shown = line, true
	pad := max(0, p.width-len(line))
	p.width = len(line)
	fmt.Fprint(p.w, "\r"+line+strings.Repeat(" ", pad))
}

// end ends the progress line on a terminal, and separates the progress
// from the report.
func (p *progress) end() {
	switch {
	case p.tty && p.shown:
		fmt.Fprint(p.w, "\n\n")
	case p.shown:
		fmt.Fprintln(p.w)
	}
}

// count is n and noun, plural unless n is 1 (identity: identities), n
// with commas.
func count(n int, noun string) string {
	switch {
	case n == 1:
		return "1 " + noun
	case strings.HasSuffix(noun, "y"):
		return thousands(n) + " " + strings.TrimSuffix(noun, "y") + "ies"
	}
	return thousands(n) + " " + noun + "s"
}

// thousands formats n with commas: 12,345.
func thousands(n int) string {
	s := strconv.Itoa(n)
	if n < 0 {
		return "-" + thousands(-n)
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// outcomeTitles are the headings of the report's tables.
var outcomeTitles = map[string]string{
	engine.OutcomeMissing:    "Missing (in scope, not in the target)",
	engine.OutcomeDrift:      "Drift (attributes or state differ)",
	engine.OutcomeUnlinked:   "Unlinked (match an identity, never linked)",
	engine.OutcomeOutOfScope: "Out of scope but present",
	engine.OutcomeOrphan:     "Orphans (no identity)",
	engine.OutcomeConflict:   "Conflicts (wait for a person)",
}

// writeReport prints a report: a summary, then a table per outcome with
// items, then what was (or would be) queued.
func writeReport(w io.Writer, rep adminReconciliation) error {
	kind := "reconciliation"
	if rep.DryRun {
		kind = "dry run"
	}
	if _, err := fmt.Fprintf(w, "%s: %s %s %s in %s\n", rep.Target, kind, rep.ID, rep.Status,
		(time.Duration(rep.Seconds * float64(time.Second))).Round(time.Millisecond)); err != nil {
		return err
	}
	var counts []string
	for _, o := range engine.Outcomes {
		label := o
		if o == engine.OutcomeOutOfScope {
			label = "out of scope"
		}
		counts = append(counts, fmt.Sprintf("%s %s", label, thousands(rep.Counts[o])))
	}
	if _, err := fmt.Fprintf(w, "read %s, %s matched to an identity; %s in scope\n%s\n",
		count(rep.Read, "account"), thousands(rep.Matched), count(rep.Identities, "identity"), strings.Join(counts, ", ")); err != nil {
		return err
	}
	for _, o := range engine.Outcomes {
		var items []engine.ReportItem
		for _, it := range rep.Items {
			if it.Outcome == o {
				items = append(items, it)
			}
		}
		if len(items) == 0 {
			continue
		}
		title := fmt.Sprintf("\n%s: %s", outcomeTitles[o], thousands(rep.Counts[o]))
		if len(items) < rep.Counts[o] {
			title += fmt.Sprintf(" (the first %s listed)", thousands(len(items)))
		}
		if _, err := fmt.Fprintln(w, title); err != nil {
			return err
		}
		tb := newTable(w, "TYPE", "NAME", "ID", "ANCHOR", "ACTION")
		for _, it := range items {
			tb.row(it.Type, it.Name, it.ID, it.Anchor, it.Action)
			for _, d := range it.Diffs {
				tb.note(d.Attr, strings.TrimPrefix(gateway.Differences([]engine.Diff{d}), d.Attr+": "))
			}
			tb.note("detail", it.Detail)
		}
		if err := tb.flush(); err != nil {
			return err
		}
	}
	var end string
	switch {
	case rep.Status == engine.StatusFailed && !rep.DryRun && rep.Changes > 0:
		end = fmt.Sprintf("failed after queueing %s: %s", plural(rep.Changes, "change"), rep.Error)
	case rep.Status == engine.StatusFailed:
		end = "failed: " + rep.Error
	case rep.Changes == 0:
		end = "nothing to do"
	case rep.DryRun:
		end = fmt.Sprintf("%s would be queued; nothing was changed (dry run)", plural(rep.Changes, "change"))
	default:
		end = fmt.Sprintf("%s queued in the outbox (scimgate admin target %s shows the queue)", plural(rep.Changes, "change"), rep.Target)
	}
	_, err := fmt.Fprintf(w, "\n%s\n", end)
	return err
}
