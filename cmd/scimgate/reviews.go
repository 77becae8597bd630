package main

import (
	"bytes"
	"cmp"
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/scimgate/scimgate/internal/gateway"
	"github.com/scimgate/scimgate/internal/review"
)

const reviewsUsage = `Usage: scimgate reviews COMMAND [ARGS] [FLAGS]

See and steer the gateway's access reviews (its reviews section) through
the admin API (/admin/v1/reviews, /admin/v1/review-instances). Every
change is in the audit log with the admin token that asked. Reviews are
defined in the configuration, or through the admin API (create).

Commands:
  list                          every review: resource, reviewers, recurrence, next
                                start, and its latest instance's progress
  show NAME                     one review with its settings and its instances
  instances NAME                the review's instances, newest first, with their progress
  instance ID                   one instance with its progress per reviewer
  items ID [--reviewer R] [--decision D]
                                the instance's items with their recommendations,
                                decisions and apply results; R: a reviewer's userName,
                                id or email address; D: Approve, Deny, DontKnow,
                                NotReviewed
  reassign ITEM REVIEWER        make REVIEWER (a userName, email address or id) the
                                reviewer of ITEM of an instance in progress
  stop ID                       end an instance now: the default decision applies to
                                the items not reviewed, and with autoApply the results
  create FILE                   define a review through the admin API (FILE: one review as
                                in the reviews section, YAML or JSON)
  update NAME FILE              change a review defined through the admin API
  delete NAME                   delete a review defined through the admin API (refused
                                while an instance is in progress: stop it first); its
                                past instances and their results stay
  decide ID --items N,N --decision D [--justification TEXT]
                                decide items of an instance on the reviewers' behalf
                                (recorded as yours), until its results are applied;
                                D: approve, deny, dontKnow, notReviewed
  revert ID INDEX               undo an applied denial of item INDEX of instance ID: the
                                access is provisioned again (a blocked guest unblocked)
  remind ID                     send a reminder now to the reviewers with pending items
  revoke-sessions REVIEWER      sign REVIEWER (a userName, email address or id) out of
                                the reviewer page everywhere, now
  apply ID                      apply the results of an ended instance (again: the
                                items not applied yet or whose apply failed)
  export ID [--format csv|json] [-o FILE]
                                the instance's items for auditors (default csv), to
                                stdout or FILE

An ID is an instance's number; an ITEM is INSTANCE/INDEX as items shows it
(3/2: item 2 of instance 3). REVIEWED counts the items decided of all.

` + adminFlagsUsage

// reviewsOpts are the values of the reviews commands' own flags.
type reviewsOpts struct {
	reviewer, decision, format, out string
	items, justification            string
}

// reviewsCommand is one "scimgate reviews" command.
type reviewsCommand struct {
	args  string // its usage line
	n     int    // how many arguments
	flags []string
	run   func(ctx context.Context, c *adminClient, o reviewsOpts, args []string, w io.Writer) error
}

var reviewsCommands = map[string]reviewsCommand{
	"list":            {"list", 0, nil, reviewsList},
	"show":            {"show NAME", 1, nil, reviewsShow},
	"create":          {"create FILE", 1, nil, reviewsSave(true)},
	"update":          {"update NAME FILE", 2, nil, reviewsSave(false)},
	"delete":          {"delete NAME", 1, nil, reviewsDelete},
	"decide":          {"decide ID --items N,N --decision D [--justification TEXT]", 1, []string{"items", "decision", "justification"}, reviewsDecide},
	"revert":          {"revert ID INDEX", 2, nil, reviewsRevert},
	"instances":       {"instances NAME", 1, nil, reviewsInstances},
	"instance":        {"instance ID", 1, nil, reviewsInstance},
	"items":           {"items ID [--reviewer R] [--decision D]", 1, []string{"reviewer", "decision"}, reviewsItems},
	"reassign":        {"reassign ITEM REVIEWER", 2, nil, reviewsReassign},
	"stop":            {"stop ID", 1, nil, reviewsAction("stop")},
	"apply":           {"apply ID", 1, nil, reviewsAction("apply")},
	"remind":          {"remind ID", 1, nil, reviewsRemind},
	"revoke-sessions": {"revoke-sessions REVIEWER", 1, nil, reviewsRevokeSessions},
	"export":          {"export ID [--format csv|json] [-o FILE]", 1, []string{"format", "o"}, reviewsExport},
}

// reviewsCmd runs "scimgate reviews" and returns its exit code.
func reviewsCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, reviewsUsage)
		return 2
	}
	return exitCode(runReviews(ctx, args, stdout), "scimgate reviews", reviewsUsage, stdout, stderr)
}

func runReviews(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("reviews", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	af := addAdminFlags(fs)
	var o reviewsOpts
	fs.StringVar(&o.reviewer, "reviewer", "", "")
	fs.StringVar(&o.decision, "decision", "", "")
	fs.StringVar(&o.format, "format", review.FormatCSV, "")
	fs.StringVar(&o.out, "o", "", "")
	fs.StringVar(&o.items, "items", "", "")
	fs.StringVar(&o.justification, "justification", "", "")
	name, pos, err := parseCommand(fs, args)
	if err != nil {
		return err
	}
	cmd, ok := reviewsCommands[name]
	if !ok {
		return fmt.Errorf("%w: unknown reviews command %q", errUsage, name)
	}
	var bad error
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "reviewer", "decision", "format", "o", "items", "justification":
			if !slices.Contains(cmd.flags, f.Name) && bad == nil {
				bad = fmt.Errorf("%w: -%s does not apply to %s", errUsage, f.Name, name)
			}
		case "json":
			if name == "export" && bad == nil {
				bad = fmt.Errorf("%w: --json does not apply to export (use --format json)", errUsage)
			}
		}
	})
	if bad != nil {
		return bad
	}
	if err := wantArgs(pos, cmd.n, cmd.args); err != nil {
		return err
	}
	if o.format != review.FormatCSV && o.format != review.FormatJSON {
		return fmt.Errorf("%w: --format %q: want csv or json", errUsage, o.format)
	}
	c, err := af.client(fs, stdout)
	if err != nil {
		return err
	}
	return cmd.run(ctx, c, o, pos, stdout)
}

// instancePath is the path of an instance given as ID, checked.
func instancePath(id string) (string, error) {
	if n, err := strconv.ParseInt(id, 10, 64); err != nil || n < 1 {
		return "", fmt.Errorf("%w: %q is not an instance ID (a positive integer)", errUsage, id)
	}
	return "/review-instances/" + id, nil
}

// reviewResource says what a review reviews.
func reviewResource(c review.Config) string {
	if c.Resource.Group != "" {
		return "group " + c.Resource.Group
	}
	return "target " + c.Resource.Target
}

// reviewReviewers says who reviews.
func reviewReviewers(c review.Config) string {
	if c.Reviewers.Type == review.ReviewersNamed {
		return "named: " + strings.Join(c.Reviewers.Named, ", ")
	}
	return c.Reviewers.Type
}

// reviewRecurrence says when the instances run.
func reviewRecurrence(c review.Config) string {
	return fmt.Sprintf("%s, %s", cmp.Or(c.Recurrence.Pattern, review.PatternOneTime), plural(c.Recurrence.DurationDays, "day"))
}

// reviewed shows an instance's progress: decided of all.
func reviewed(p gateway.AdminReviewProgress) string {
	return fmt.Sprintf("%d/%d", p.Total-p.NotReviewed, p.Total)
}

func reviewsList(ctx context.Context, c *adminClient, _ reviewsOpts, _ []string, w io.Writer) error {
	var r struct {
		Reviews []gateway.AdminReview `json:"reviews"`
	}
	if err := c.call(ctx, http.MethodGet, "/reviews", nil, &r); err != nil || c.jsonOut != nil {
		return err
	}
	if len(r.Reviews) == 0 {
		_, err := fmt.Fprintln(w, "no reviews")
		return err
	}
	return writeReviews(w, r.Reviews, false)
}

// writeReviews writes the reviews' table, with the latest instance of
// each; detail adds their descriptions and settings under each row.
func writeReviews(w io.Writer, rs []gateway.AdminReview, detail bool) error {
	tb := newTable(w, "REVIEW", "RESOURCE", "REVIEWERS", "RECURRENCE", "NEXT START", "LATEST", "STATUS", "REVIEWED")
	for _, r := range rs {
		latest, status, done := "-", "-", "-"
		if len(r.Instances) > 0 {
			in := r.Instances[0]
			latest, status, done = strconv.FormatInt(in.ID, 10), in.Status, reviewed(in.Progress)
		}
		tb.row(r.Name, reviewResource(r.Config), reviewReviewers(r.Config), reviewRecurrence(r.Config), fmtTimeOpt(r.NextStart),
			latest, status, done)
		if !detail {
			continue
		}
		tb.note("for admins", r.DescriptionForAdmins)
		tb.note("for reviewers", r.DescriptionForReviewers)
		scope := cmp.Or(r.Scope, review.ScopeEveryone)
		if r.InactiveDays > 0 {
			scope += fmt.Sprintf(", inactive for %s", plural(r.InactiveDays, "day"))
		}
		tb.note("scope", scope)
		tb.note("fallback reviewers", strings.Join(r.FallbackReviewers, ", "))
		s := r.Settings
		settings := []string{"default decision " + cmp.Or(s.DefaultDecision, review.DefaultNoChange)}
		if s.AutoApply {
			settings = append(settings, "auto-apply")
		} else {
			settings = append(settings, "applied by an admin")
		}
		if s.JustificationRequired {
			settings = append(settings, "justification required")
		}
		if s.DeniedGuests != "" {
			settings = append(settings, "denied guests: "+s.DeniedGuests)
		}
		if s.Reminders != nil && !*s.Reminders {
			settings = append(settings, "no reminders")
		}
		tb.note("settings", strings.Join(settings, ", "))
		tb.note("starts", r.Recurrence.StartDate)
		switch {
		case r.Recurrence.EndDate != "":
			tb.note("ends", r.Recurrence.EndDate)
		case r.Recurrence.Occurrences > 0:
			tb.note("ends", "after "+plural(r.Recurrence.Occurrences, "occurrence"))
		}
	}
	return tb.flush()
}

func reviewsShow(ctx context.Context, c *adminClient, _ reviewsOpts, args []string, w io.Writer) error {
	var r gateway.AdminReview
	if err := c.call(ctx, http.MethodGet, "/reviews/"+url.PathEscape(args[0]), nil, &r); err != nil || c.jsonOut != nil {
		return err
	}
	if err := writeReviews(w, []gateway.AdminReview{r}, true); err != nil {
		return err
	}
	if _, err := fmt.Fprintln(w); err != nil {
		return err
	}
	return writeInstances(w, r.Instances)
}

// reviewsSave defines a review through the admin API (create FILE), or
// changes one defined so (update NAME FILE): FILE holds one review as in
// the reviews section, in YAML or JSON.
func reviewsSave(create bool) func(ctx context.Context, c *adminClient, _ reviewsOpts, args []string, w io.Writer) error {
	return func(ctx context.Context, c *adminClient, _ reviewsOpts, args []string, w io.Writer) error {
		file := args[len(args)-1]
		b, err := os.ReadFile(file)
		if err != nil {
			return err
		}
		var d review.Config
		dec := yaml.NewDecoder(bytes.NewReader(b))
		dec.KnownFields(true)
		if err := dec.Decode(&d); err != nil {
			return fmt.Errorf("%s: %w", file, err)
		}
		method, path, verb := http.MethodPost, "/reviews", "created"
		if !create {
			method, path, verb = http.MethodPut, "/reviews/"+url.PathEscape(args[0]), "updated"
		}
		var r gateway.AdminReview
		if err := c.send(ctx, method, path, nil, d, &r); err != nil || c.jsonOut != nil {
			return err
		}
		if _, err := fmt.Fprintf(w, "review %s %s (defined through the admin API)\n", r.Name, verb); err != nil {
			return err
		}
		return writeReviews(w, []gateway.AdminReview{r}, true)
	}
}

func reviewsInstances(ctx context.Context, c *adminClient, _ reviewsOpts, args []string, w io.Writer) error {
	var r struct {
		Instances []gateway.AdminReviewInstance `json:"instances"`
	}
	if err := c.call(ctx, http.MethodGet, "/reviews/"+url.PathEscape(args[0])+"/instances", nil, &r); err != nil || c.jsonOut != nil {
		return err
	}
	return writeInstances(w, r.Instances)
}

// writeInstances writes the instances' table, with who ended and applied
// each under its row.
func writeInstances(w io.Writer, ins []gateway.AdminReviewInstance) error {
	if len(ins) == 0 {
		_, err := fmt.Fprintln(w, "no instances yet")
		return err
	}
	tb := newTable(w, "ID", "REVIEW", "STATUS", "STAGE", "START", "END", "REVIEWED", "APPROVED", "DENIED", "DONT KNOW")
	for _, in := range ins {
		p := in.Progress
		tb.row(strconv.FormatInt(in.ID, 10), in.Review, in.Status, strconv.Itoa(in.Stage), fmtTime(in.Start), fmtTime(in.End), reviewed(p),
			strconv.Itoa(p.Approved), strconv.Itoa(p.Denied), strconv.Itoa(p.DontKnow))
		if in.Ended != nil {
			tb.note("ended", fmtTimeOpt(in.Ended)+" by "+in.EndedBy)
		}
		if in.Applied != nil {
			tb.note("applied", fmtTimeOpt(in.Applied)+" by "+in.AppliedBy)
		}
	}
	return tb.flush()
}

// writeInstance writes an instance and its progress per reviewer.
func writeInstance(w io.Writer, in gateway.AdminReviewInstance) error {
	if err := writeInstances(w, []gateway.AdminReviewInstance{in}); err != nil {
		return err
	}
	if len(in.Reviewers) == 0 {
		return nil
	}
	if _, err := fmt.Fprintln(w); err != nil {
		return err
	}
	tb := newTable(w, "REVIEWER", "NAME", "REVIEWED", "APPROVED", "DENIED", "DONT KNOW", "PENDING")
	for _, r := range in.Reviewers {
		p := r.Progress
		tb.row(r.Reviewer, r.Name, reviewed(p), strconv.Itoa(p.Approved), strconv.Itoa(p.Denied), strconv.Itoa(p.DontKnow),
			strconv.Itoa(p.NotReviewed))
	}
	return tb.flush()
}

func reviewsInstance(ctx context.Context, c *adminClient, _ reviewsOpts, args []string, w io.Writer) error {
	path, err := instancePath(args[0])
	if err != nil {
		return err
	}
	var in gateway.AdminReviewInstance
	if err := c.call(ctx, http.MethodGet, path, nil, &in); err != nil || c.jsonOut != nil {
		return err
	}
	return writeInstance(w, in)
}

func reviewsItems(ctx context.Context, c *adminClient, o reviewsOpts, args []string, w io.Writer) error {
	path, err := instancePath(args[0])
	if err != nil {
		return err
	}
	q := url.Values{}
	if o.reviewer != "" {
		q.Set("reviewer", o.reviewer)
	}
	if o.decision != "" {
		q.Set("decision", o.decision)
	}
	var r struct {
		Items []review.Row `json:"items"`
	}
	if err := c.call(ctx, http.MethodGet, path+"/items", q, &r); err != nil || c.jsonOut != nil {
		return err
	}
	if len(r.Items) == 0 {
		_, err := fmt.Fprintln(w, "no items")
		return err
	}
	return writeItems(w, r.Items)
}

// writeItems writes the items' table, with their reasons, reviewers,
// justifications, first stage's decisions and apply details in full
// under each row.
func writeItems(w io.Writer, items []review.Row) error {
	tb := newTable(w, "ITEM", "STAGE", "USER", "RESOURCE", "RECOMMENDED", "DECISION", "BY", "AT", "APPLIED")
	for _, it := range items {
		res := it.ResourceType + " " + cmp.Or(it.ResourceName, it.Resource)
		at := "-"
		if !it.ReviewedAt.IsZero() {
			at = fmtTime(it.ReviewedAt)
		}
		tb.row(fmt.Sprintf("%d/%d", it.Instance, it.Item), strconv.Itoa(it.Stage), it.UserName, res, it.Recommendation, it.Decision,
			it.ReviewedBy, at, it.ApplyResult)
		tb.note("reason", it.Reason)
		tb.note("reviewers", strings.Join(it.Reviewers, ", "))
		tb.note("justification", it.Justification)
		if it.Stage1Decision != "" {
			first := it.Stage1Decision
			if it.Stage1ReviewedBy != "" {
				first += " by " + it.Stage1ReviewedBy + " at " + fmtTime(it.Stage1ReviewedAt)
			}
			if it.Stage1Justification != "" {
				first += ": " + it.Stage1Justification
			}
			tb.note("stage 1", first)
		}
		tb.note("apply", it.ApplyDetail)
	}
	return tb.flush()
}

func reviewsReassign(ctx context.Context, c *adminClient, _ reviewsOpts, args []string, w io.Writer) error {
	id, index, ok := strings.Cut(args[0], "/")
	n, err := strconv.Atoi(index)
	if !ok || err != nil || n < 1 {
		return fmt.Errorf("%w: ITEM %q: want INSTANCE/INDEX, as items shows it (3/2)", errUsage, args[0])
	}
	path, err := instancePath(id)
	if err != nil {
		return err
	}
	var it review.Row
	if err := c.send(ctx, http.MethodPost, path+"/items/"+index+"/reassign", nil, map[string]string{"reviewer": args[1]}, &it); err != nil ||
		c.jsonOut != nil {
		return err
	}
	if _, err := fmt.Fprintf(w, "item %s reassigned to %s\n", args[0], args[1]); err != nil {
		return err
	}
	return writeItems(w, []review.Row{it})
}

// reviewsAction runs stop or apply on an instance and shows it.
func reviewsAction(action string) func(ctx context.Context, c *adminClient, _ reviewsOpts, args []string, w io.Writer) error {
	return func(ctx context.Context, c *adminClient, _ reviewsOpts, args []string, w io.Writer) error {
		path, err := instancePath(args[0])
		if err != nil {
			return err
		}
		var in gateway.AdminReviewInstance
		if action == "stop" {
			if err := c.call(ctx, http.MethodPost, path+"/stop", nil, &in); err != nil || c.jsonOut != nil {
				return err
			}
			if _, err := fmt.Fprintf(w, "instance %s stopped\n", args[0]); err != nil {
				return err
			}
			return writeInstance(w, in)
		}
		var r struct {
			Applied  int                         `json:"applied"`
			Instance gateway.AdminReviewInstance `json:"instance"`
		}
		if err := c.call(ctx, http.MethodPost, path+"/apply", nil, &r); err != nil || c.jsonOut != nil {
			return err
		}
		if _, err := fmt.Fprintf(w, "instance %s: %s applied\n", args[0], plural(r.Applied, "item")); err != nil {
			return err
		}
		return writeInstance(w, r.Instance)
	}
}

// reviewsRemind sends a reminder now to an instance's reviewers with
// pending items.
func reviewsRemind(ctx context.Context, c *adminClient, _ reviewsOpts, args []string, w io.Writer) error {
	path, err := instancePath(args[0])
	if err != nil {
		return err
	}
	var r struct {
		Sent   int    `json:"sent"`
		Errors string `json:"errors"`
	}
	if err := c.call(ctx, http.MethodPost, path+"/remind", nil, &r); err != nil || c.jsonOut != nil {
		return err
	}
	if _, err := fmt.Fprintf(w, "instance %s: %s sent\n", args[0], plural(r.Sent, "reminder")); err != nil {
		return err
	}
	if r.Errors != "" {
		_, err = fmt.Fprintf(w, "  not sent: %s\n", r.Errors)
	}
	return err
}

func reviewsRevokeSessions(ctx context.Context, c *adminClient, _ reviewsOpts, args []string, w io.Writer) error {
	var r struct {
		Reviewer string `json:"reviewer"`
		Revoked  int    `json:"revoked"`
	}
	if err := c.send(ctx, http.MethodPost, "/review-sessions/revoke", nil, map[string]string{"reviewer": args[0]}, &r); err != nil || c.jsonOut != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "%s: %s revoked\n", args[0], plural(r.Revoked, "session"))
	return err
}

func reviewsExport(ctx context.Context, c *adminClient, o reviewsOpts, args []string, w io.Writer) error {
	path, err := instancePath(args[0])
	if err != nil {
		return err
	}
	b, err := c.raw(ctx, http.MethodGet, path+"/export", url.Values{"format": {o.format}}, nil)
	if err != nil {
		return err
	}
	if o.out == "" {
		_, err := w.Write(b)
		return err
	}
	if err := os.WriteFile(o.out, b, 0o600); err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "instance %s exported as %s to %s\n", args[0], o.format, o.out)
	return err
}

// reviewsDelete deletes a review defined through the admin API.
func reviewsDelete(ctx context.Context, c *adminClient, _ reviewsOpts, args []string, w io.Writer) error {
	var r struct {
		Deleted string `json:"deleted"`
	}
	if err := c.call(ctx, http.MethodDelete, "/reviews/"+url.PathEscape(args[0]), nil, &r); err != nil || c.jsonOut != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "review %s deleted; its past instances and their results stay\n", r.Deleted)
	return err
}

// reviewsDecide records an administrator's decision on items of an
// instance.
func reviewsDecide(ctx context.Context, c *adminClient, o reviewsOpts, args []string, w io.Writer) error {
	path, err := instancePath(args[0])
	if err != nil {
		return err
	}
	if o.items == "" || o.decision == "" {
		return fmt.Errorf("%w: decide needs --items (item numbers, as items shows them: 1,2) and --decision", errUsage)
	}
	var items []int
	for f := range strings.SplitSeq(o.items, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return fmt.Errorf("%w: --items %q: want item numbers separated by commas (1,2)", errUsage, o.items)
		}
		items = append(items, n)
	}
	body := map[string]any{"items": items, "decision": o.decision}
	if o.justification != "" {
		body["justification"] = o.justification
	}
	var r struct {
		Items []review.Row `json:"items"`
	}
	if err := c.send(ctx, http.MethodPost, path+"/decisions", nil, body, &r); err != nil || c.jsonOut != nil {
		return err
	}
	if _, err := fmt.Fprintf(w, "instance %s: %s decided\n", args[0], plural(len(r.Items), "item")); err != nil {
		return err
	}
	return writeItems(w, r.Items)
}

// reviewsRevert undoes an applied denial.
func reviewsRevert(ctx context.Context, c *adminClient, _ reviewsOpts, args []string, w io.Writer) error {
	path, err := instancePath(args[0])
	if err != nil {
		return err
	}
	if n, err := strconv.Atoi(args[1]); err != nil || n < 1 {
		return fmt.Errorf("%w: INDEX %q: want an item number, as items shows it", errUsage, args[1])
	}
	var it review.Row
	if err := c.send(ctx, http.MethodPost, path+"/items/"+args[1]+"/revert", nil, nil, &it); err != nil || c.jsonOut != nil {
		return err
	}
	if _, err := fmt.Fprintf(w, "item %s/%s: denial reverted\n", args[0], args[1]); err != nil {
		return err
	}
	return writeItems(w, []review.Row{it})
}
