package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/scimgate/scimgate/internal/gateway"
	"github.com/scimgate/scimgate/internal/workflow"
)

const workflowUsage = `Usage: scimgate workflow COMMAND [ARGS] [FLAGS]

See, steer and test the gateway's lifecycle workflows (its workflows
section) through the admin API (/admin/v1/workflows). Every change is in
the audit log with the admin token that asked.

Commands:
  list                          every workflow: trigger, state, runs by status
  show NAME                     one workflow with its scope and tasks
  enable NAME                   enable the workflow
  disable NAME                  disable it (its schedules wait, within their window)
  run NAME USER...              run it now for the users
  runs NAME [--status S] [--limit N]
                                its runs, newest first (S: pending, running, done, failed, skipped)
  run-show ID                   one run with its tasks: status, attempts, results, errors
  retry ID                      run a failed run's failed and skipped tasks again
  test NAME --user USER [--at DATE]
                                what the workflow would do for the user now, or at DATE
                                (2026-01-01), with the rendered emails and webhook
                                payloads; sends, calls and changes nothing
  upcoming [--days N]           the time-triggered runs due in the next N days (default 14)

A USER is a user's id or userName.

` + adminFlagsUsage

// workflowOpts are the values of the workflow commands' own flags.
type workflowOpts struct {
	user, at, status string
	days, limit      int
}

// workflowCommand is one "scimgate workflow" command.
type workflowCommand struct {
	args  string // its usage line
	n     int    // how many arguments; -1: at least two
	flags []string
	run   func(ctx context.Context, c *adminClient, o workflowOpts, args []string, w io.Writer) error
}

var workflowCommands = map[string]workflowCommand{
	"list":     {"list", 0, nil, workflowList},
	"show":     {"show NAME", 1, nil, workflowShow},
	"enable":   {"enable NAME", 1, nil, workflowSet("enable")},
	"disable":  {"disable NAME", 1, nil, workflowSet("disable")},
	"run":      {"run NAME USER...", -1, nil, workflowRun},
	"runs":     {"runs NAME [--status S] [--limit N]", 1, []string{"status", "limit"}, workflowRuns},
	"run-show": {"run-show ID", 1, nil, workflowRunShow},
	"retry":    {"retry ID", 1, nil, workflowRetry},
	"test":     {"test NAME --user USER [--at DATE]", 1, []string{"user", "at"}, workflowTest},
	"upcoming": {"upcoming [--days N]", 0, []string{"days"}, workflowUpcoming},
}

// workflowCmd runs "scimgate workflow" and returns its exit code.
func workflowCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, workflowUsage)
		return 2
	}
	return exitCode(runWorkflow(ctx, args, stdout), "scimgate workflow", workflowUsage, stdout, stderr)
}

func runWorkflow(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("workflow", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	af := addAdminFlags(fs)
	var o workflowOpts
	fs.StringVar(&o.user, "user", "", "")
	fs.StringVar(&o.at, "at", "", "")
	fs.StringVar(&o.status, "status", "", "")
	fs.IntVar(&o.days, "days", 14, "")
	fs.IntVar(&o.limit, "limit", 0, "")
	name, pos, err := parseCommand(fs, args)
	if err != nil {
		return err
	}
	cmd, ok := workflowCommands[name]
	if !ok {
		return fmt.Errorf("%w: unknown workflow command %q", errUsage, name)
	}
	var bad error
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "user", "at", "status", "days", "limit":
			if !slices.Contains(cmd.flags, f.Name) && bad == nil {
				bad = fmt.Errorf("%w: --%s does not apply to %s", errUsage, f.Name, name)
			}
		}
	})
	if bad != nil {
		return bad
	}
	if cmd.n < 0 {
		if len(pos) < 2 {
			return fmt.Errorf("%w: %s (got %s)", errUsage, cmd.args, plural(len(pos), "argument"))
		}
	} else if err := wantArgs(pos, cmd.n, cmd.args); err != nil {
		return err
	}
	if name == "test" && o.user == "" {
		return fmt.Errorf("%w: %s: --user is required", errUsage, cmd.args)
	}
	c, err := af.client(fs, stdout)
	if err != nil {
		return err
	}
	return cmd.run(ctx, c, o, pos, stdout)
}

func workflowPath(name string) string { return "/workflows/" + url.PathEscape(name) }

// runCounts shows the counts of runs by status, those not zero.
func runCounts(m map[string]int) string {
	var out []string
	for _, s := range []string{"pending", "running", "done", "failed", "skipped"} {
		if m[s] > 0 {
			out = append(out, fmt.Sprintf("%s %d", s, m[s]))
		}
	}
	if len(out) == 0 {
		return "-"
	}
	return strings.Join(out, ", ")
}

func workflowList(ctx context.Context, c *adminClient, _ workflowOpts, _ []string, w io.Writer) error {
	var r struct {
		Workflows []gateway.AdminWorkflow `json:"workflows"`
	}
	if err := c.call(ctx, http.MethodGet, "/workflows", nil, &r); err != nil || c.jsonOut != nil {
		return err
	}
	tb := newTable(w, "NAME", "CATEGORY", "WHEN", "ENABLED", "PREVIEW", "RUNS")
	for _, wf := range r.Workflows {
		tb.row(wf.Name, wf.Category, wf.When, yesNo(wf.Enabled), yesNo(wf.Preview), runCounts(wf.Runs))
	}
	return tb.flush()
}

// describeTask says what a configured task does, with its arguments.
func describeTask(t workflow.TaskConfig) string {
	var args []string
	add := func(k, v string) {
		if v != "" {
			args = append(args, k+" "+v)
		}
	}
	add("to", t.To)
	add("addresses", strings.Join(t.Addresses, ", "))
	add("template", t.Template)
	add("url", t.URL)
	add("groups", strings.Join(t.Groups, ", "))
	if t.LifetimeMinutes != 0 {
		add("lifetime", fmt.Sprintf("%d minutes", t.LifetimeMinutes))
	}
	if t.OneTimeUse {
		add("usable", "once")
	}
	add("emailTo", t.EmailTo)
	add("target", t.Target)
	if t.ContinueOnError {
		args = append(args, "continueOnError")
	}
	if len(args) == 0 {
		return t.Task
	}
	return t.Task + ": " + strings.Join(args, "; ")
}

func writeWorkflow(w io.Writer, wf gateway.AdminWorkflow) error {
	tb := newTable(w, "NAME", "CATEGORY", "WHEN", "ENABLED", "PREVIEW", "RUNS")
	tb.row(wf.Name, wf.Category, wf.When, yesNo(wf.Enabled), yesNo(wf.Preview), runCounts(wf.Runs))
	tb.note("scope", wf.Scope)
	for i, t := range wf.Tasks {
		tb.note(fmt.Sprintf("task %d", i+1), describeTask(t))
	}
	return tb.flush()
}

func workflowShow(ctx context.Context, c *adminClient, _ workflowOpts, args []string, w io.Writer) error {
	var wf gateway.AdminWorkflow
	if err := c.call(ctx, http.MethodGet, workflowPath(args[0]), nil, &wf); err != nil || c.jsonOut != nil {
		return err
	}
	return writeWorkflow(w, wf)
}

func workflowSet(action string) func(ctx context.Context, c *adminClient, _ workflowOpts, args []string, w io.Writer) error {
	return func(ctx context.Context, c *adminClient, _ workflowOpts, args []string, w io.Writer) error {
		var wf gateway.AdminWorkflow
		if err := c.call(ctx, http.MethodPost, workflowPath(args[0])+"/"+action, nil, &wf); err != nil || c.jsonOut != nil {
			return err
		}
		_, err := fmt.Fprintf(w, "workflow %s %sd\n", wf.Name, action)
		return err
	}
}

// userName names the user of a run.
func userName(p workflow.Person) string {
	if p.UserName != "" {
		return p.UserName
	}
	return p.ID
}

func writeRuns(w io.Writer, runs []gateway.AdminWorkflowRun) error {
	if len(runs) == 0 {
		_, err := fmt.Fprintln(w, "no runs")
		return err
	}
	tb := newTable(w, "ID", "WORKFLOW", "USER", "OCCURRENCE", "STATUS", "PREVIEW", "CREATED", "UPDATED")
	for _, r := range runs {
		occ := r.Occurrence
		if strings.HasPrefix(occ, "onDemand@") {
			occ = "on demand" // at its creation time
		}
		tb.row(strconv.FormatInt(r.ID, 10), r.Workflow, userName(r.User), occ, r.Status, yesNo(r.Preview),
			fmtTime(r.Created), fmtTime(r.Updated))
	}
	return tb.flush()
}

func workflowRun(ctx context.Context, c *adminClient, _ workflowOpts, args []string, w io.Writer) error {
	var r struct {
		Runs []gateway.AdminWorkflowRun `json:"runs"`
	}
	if err := c.send(ctx, http.MethodPost, workflowPath(args[0])+"/run", nil, map[string][]string{"users": args[1:]}, &r); err != nil ||
		c.jsonOut != nil {
		return err
	}
	for _, run := range r.Runs {
		if _, err := fmt.Fprintf(w, "run %d of %s for %s created; see \"scimgate workflow run-show %d\"\n", run.ID, run.Workflow,
			userName(run.User), run.ID); err != nil {
			return err
		}
	}
	return nil
}

func workflowRuns(ctx context.Context, c *adminClient, o workflowOpts, args []string, w io.Writer) error {
	q := url.Values{}
	if o.status != "" {
		q.Set("status", o.status)
	}
	if o.limit != 0 {
		q.Set("limit", strconv.Itoa(o.limit))
	}
	var r struct {
		Runs []gateway.AdminWorkflowRun `json:"runs"`
	}
	if err := c.call(ctx, http.MethodGet, workflowPath(args[0])+"/runs", q, &r); err != nil || c.jsonOut != nil {
		return err
	}
	return writeRuns(w, r.Runs)
}

func runPath(id string) string { return "/workflow-runs/" + url.PathEscape(id) }

func writeRun(w io.Writer, run gateway.AdminWorkflowRun) error {
	if err := writeRuns(w, []gateway.AdminWorkflowRun{run}); err != nil {
		return err
	}
	if _, err := fmt.Fprintln(w); err != nil {
		return err
	}
	tb := newTable(w, "TASK", "KIND", "STATUS", "ATTEMPTS", "NEXT", "UPDATED")
	for _, k := range run.Tasks {
		tb.row(strconv.Itoa(k.Index+1), k.Task, k.Status, strconv.Itoa(k.Attempts), fmtTimeOpt(k.NextAt), fmtTime(k.Updated))
		tb.note("result", k.Result)
		tb.note("error", k.LastError)
	}
	return tb.flush()
}

func workflowRunShow(ctx context.Context, c *adminClient, _ workflowOpts, args []string, w io.Writer) error {
	var run gateway.AdminWorkflowRun
	if err := c.call(ctx, http.MethodGet, runPath(args[0]), nil, &run); err != nil || c.jsonOut != nil {
		return err
	}
	return writeRun(w, run)
}

func workflowRetry(ctx context.Context, c *adminClient, _ workflowOpts, args []string, w io.Writer) error {
	var run gateway.AdminWorkflowRun
	if err := c.call(ctx, http.MethodPost, runPath(args[0])+"/retry", nil, &run); err != nil || c.jsonOut != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "run %d of %s for %s runs again: its failed and skipped tasks, with fresh attempts\n", run.ID, run.Workflow,
		userName(run.User))
	return err
}

func workflowTest(ctx context.Context, c *adminClient, o workflowOpts, args []string, w io.Writer) error {
	q := url.Values{"user": {o.user}}
	if o.at != "" {
		q.Set("at", o.at)
	}
	var r workflow.TestResult
	if err := c.call(ctx, http.MethodGet, workflowPath(args[0])+"/test", q, &r); err != nil || c.jsonOut != nil {
		return err
	}
	var b strings.Builder
	when := "now"
	if o.at != "" {
		when = "at " + o.at
	}
	verdict := "would not run"
	if r.WouldRun {
		verdict = "would run"
	}
	fmt.Fprintf(&b, "workflow %s for %s (%s) %s: %s", r.Workflow, r.User.UserName, r.User.DisplayName, when, verdict)
	if r.Reason != "" {
		fmt.Fprintf(&b, " (%s)", r.Reason)
	}
	b.WriteString("\n")
	if !r.Due.IsZero() {
		fmt.Fprintf(&b, "due: %s\n", fmtTime(r.Due))
	}
	fmt.Fprintf(&b, "in scope: %s; enabled: %s\n", yesNo(r.InScope), yesNo(r.Enabled))
	for _, t := range r.Tasks {
		fmt.Fprintf(&b, "\ntask %d: %s: %s\n", t.Index+1, t.Task, t.Action)
		if e := t.Email; e != nil {
			fmt.Fprintf(&b, "  To: %s\n  Subject: %s\n\n", strings.Join(e.To, ", "), e.Subject)
			for _, line := range strings.Split(strings.TrimRight(e.Text, "\n"), "\n") {
				b.WriteString(strings.TrimRight("  | "+line, " ") + "\n")
			}
			if e.HTML != "" {
				b.WriteString("  (and an HTML part)\n")
			}
		}
		if len(t.Webhook) > 0 {
			fmt.Fprintf(&b, "  payload: %s\n", t.Webhook)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func workflowUpcoming(ctx context.Context, c *adminClient, o workflowOpts, _ []string, w io.Writer) error {
	var r struct {
		Days     int                 `json:"days"`
		Upcoming []workflow.Upcoming `json:"upcoming"`
	}
	if err := c.call(ctx, http.MethodGet, "/workflows-upcoming", url.Values{"days": {strconv.Itoa(o.days)}}, &r); err != nil || c.jsonOut != nil {
		return err
	}
	if len(r.Upcoming) == 0 {
		_, err := fmt.Fprintf(w, "nothing due in the next %s\n", plural(r.Days, "day"))
		return err
	}
	tb := newTable(w, "DUE", "WORKFLOW", "USER", "TASKS", "ENABLED")
	for _, u := range r.Upcoming {
		tb.row(fmtTime(u.Due), u.Workflow, userName(u.User), strings.Join(u.Tasks, ", "), yesNo(u.Enabled))
	}
	return tb.flush()
}
