package review

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/scimgate/scimgate/internal/store"
	"github.com/scimgate/scimgate/targets"
)

// Definition is a configured review with what is next.
type Definition struct {
	Config
	// NextStart is when its next instance starts (zero: the series has
	// ended).
	NextStart time.Time
	// API: defined through the admin API, not in the configuration.
	API bool
}

// Progress counts the decisions of items.
type Progress struct {
	Total, Approved, Denied, DontKnow, NotReviewed int
}

// add counts n items of decision.
func (p *Progress) add(decision string, n int) {
	p.Total += n
	switch decision {
	case Approve:
		p.Approved += n
	case Deny:
		p.Denied += n
	case DontKnow:
		p.DontKnow += n
	default:
		p.NotReviewed += n
	}
}

// ReviewerProgress is one reviewer's progress in an instance.
type ReviewerProgress struct {
	Reviewer string
	Progress
}

// Instance is an instance with its definition (as at its start) and its
// progress, in all and per reviewer; Stage (of the ReviewInstance) is
// the stage in progress, or the last one.
type Instance struct {
	store.ReviewInstance
	Config    Config
	Progress  Progress
	Reviewers []ReviewerProgress
}

// Stages is how many stages the instance has (1, or 2 with a second
// stage).
func (in Instance) Stages() int {
	if in.Config.SecondStage != nil {
		return 2
	}
	return 1
}

// StageEnd is when the stage in progress ends (the instance's end
// without a second stage): its reviewers decide until then.
func (in Instance) StageEnd() time.Time {
	_, end := stageWindow(in.ReviewInstance, in.Config)
	return end
}

// Definitions returns the configured reviews, in configuration order.
func (s *Service) Definitions() []Definition {
	now := s.opts.Now()
	defs := s.definitions()
	out := make([]Definition, 0, len(defs))
	s.defsMu.RLock()
	defer s.defsMu.RUnlock()
	for _, d := range defs {
		next, _ := d.Next(now)
		out = append(out, Definition{Config: d, NextStart: next, API: s.api[targets.NameKey(d.Name)]})
	}
	return out
}

// Definition returns the configured review named name (case-insensitive),
// or ErrNotFound.
func (s *Service) Definition(name string) (Definition, error) {
	for _, d := range s.Definitions() {
		if targets.NameKey(d.Name) == targets.NameKey(name) {
			return d, nil
		}
	}
	return Definition{}, fmt.Errorf("%w: review %q", ErrNotFound, name)
}

// Instances returns the instances of a review ("" every review's, also of
// reviews no longer configured), newest first, with their progress. A
// review deleted or no longer configured is named as its instances name
// it; ErrNotFound when it has none.
func (s *Service) Instances(ctx context.Context, definition string) ([]Instance, error) {
	known := true
	if definition != "" {
		d, err := s.Definition(definition)
		if errors.Is(err, ErrNotFound) {
			known = false
		} else if err != nil {
			return nil, err
		} else {
			definition = d.Name
		}
	}
	ins, err := s.opts.Store.ReviewInstances(ctx, store.ReviewInstanceQuery{Definition: definition})
	if err != nil {
		return nil, err
	}
	if !known && len(ins) == 0 {
		return nil, fmt.Errorf("%w: review %q", ErrNotFound, definition)
	}
	out := make([]Instance, 0, len(ins))
	for _, in := range ins {
		i, err := s.instance(ctx, in)
		if err != nil {
			return nil, err
		}
		out = append(out, i)
	}
	return out, nil
}

// Instance returns one instance with its progress, or ErrNotFound.
func (s *Service) Instance(ctx context.Context, id int64) (Instance, error) {
	in, err := s.opts.Store.ReviewInstance(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return Instance{}, fmt.Errorf("%w: instance %d", ErrNotFound, id)
	}
	if err != nil {
		return Instance{}, err
	}
	return s.instance(ctx, in)
}

func (s *Service) instance(ctx context.Context, in store.ReviewInstance) (Instance, error) {
	d, err := definitionOf(in)
	if err != nil {
		return Instance{}, err
	}
	c, err := s.opts.Store.ReviewCounts(ctx, in.ID)
	if err != nil {
		return Instance{}, err
	}
	out := Instance{ReviewInstance: in, Config: d, Reviewers: []ReviewerProgress{}}
	for dec, n := range c.Decisions {
		out.Progress.add(dec, n)
	}
	for _, r := range slices.Sorted(maps.Keys(c.ByReviewer)) {
		rp := ReviewerProgress{Reviewer: r}
		for dec, n := range c.ByReviewer[r] {
			rp.add(dec, n)
		}
		out.Reviewers = append(out.Reviewers, rp)
	}
	return out, nil
}

// Items returns the items of an instance (every reviewer's), by index.
func (s *Service) Items(ctx context.Context, instance int64) ([]Item, error) {
	if _, err := s.Instance(ctx, instance); err != nil {
		return nil, err
	}
	return s.opts.Store.ReviewItems(ctx, store.ReviewItemQuery{Instance: instance})
}

// ReviewerItems returns a reviewer's items in the instances in progress,
// pending and decided, by instance and index: what the reviewer's page
// shows until each instance ends.
func (s *Service) ReviewerItems(ctx context.Context, reviewer string) ([]Item, error) {
	return s.opts.Store.ReviewItems(ctx, store.ReviewItemQuery{Reviewer: reviewer, Status: store.ReviewInProgress})
}

// Row is one item of an instance as auditors get it (Export).
type Row struct {
	Review         string    `json:"review"`
	Instance       int64     `json:"instance"`
	Start          time.Time `json:"start"`
	End            time.Time `json:"end"`
	Item           int       `json:"item"`
	User           string    `json:"userId"`
	UserName       string    `json:"userName"`
	DisplayName    string    `json:"displayName,omitempty"`
	Guest          bool      `json:"guest"`
	ResourceType   string    `json:"resourceType"`
	Resource       string    `json:"resource"`
	ResourceName   string    `json:"resourceName,omitempty"`
	LastSignIn     time.Time `json:"lastSignIn,omitzero"`
	Recommendation string    `json:"recommendation"`
	Reason         string    `json:"reason"`
	Reviewers      []string  `json:"reviewers"`
	Decision       string    `json:"decision"`
	Justification  string    `json:"justification,omitempty"`
	ReviewedBy     string    `json:"reviewedBy,omitempty"`
	ReviewedAt     time.Time `json:"reviewedAt,omitzero"`
	ApplyResult    string    `json:"applyResult,omitempty"`
	ApplyDetail    string    `json:"applyDetail,omitempty"`
	AppliedAt      time.Time `json:"appliedAt,omitzero"`
	// Stage is the stage the item was decided in (2: it moved to the
	// second stage); the Stage1 fields are its first stage's decision.
	Stage               int       `json:"stage"`
	Stage1Decision      string    `json:"stage1Decision,omitempty"`
	Stage1Justification string    `json:"stage1Justification,omitempty"`
	Stage1ReviewedBy    string    `json:"stage1ReviewedBy,omitempty"`
	Stage1ReviewedAt    time.Time `json:"stage1ReviewedAt,omitzero"`
}

// Export formats.
const (
	FormatCSV  = "csv"
	FormatJSON = "json"
)

// Rows returns the items of an instance as auditors get them, by index.
func (s *Service) Rows(ctx context.Context, instance int64) ([]Row, error) {
	in, err := s.Instance(ctx, instance)
	if err != nil {
		return nil, err
	}
	items, err := s.opts.Store.ReviewItems(ctx, store.ReviewItemQuery{Instance: instance})
	if err != nil {
		return nil, err
	}
	rows := make([]Row, 0, len(items))
	for _, it := range items {
		rows = append(rows, Row{Review: in.Definition, Instance: in.ID, Start: in.Start, End: in.End, Item: it.Index, User: it.User,
			UserName: it.UserName, DisplayName: it.DisplayName, Guest: it.Guest, ResourceType: it.ResourceType, Resource: it.Resource,
			ResourceName: it.ResourceName, LastSignIn: it.LastSignIn, Recommendation: it.Recommendation, Reason: it.Reason,
			Reviewers: it.Reviewers, Decision: it.Decision, Justification: it.Justification, ReviewedBy: it.ReviewedBy,
			ReviewedAt: it.ReviewedAt, ApplyResult: it.ApplyResult, ApplyDetail: it.ApplyDetail, AppliedAt: it.AppliedAt,
			Stage: itemStage(it), Stage1Decision: it.Stage1Decision, Stage1Justification: it.Stage1Justification,
			Stage1ReviewedBy: it.Stage1ReviewedBy, Stage1ReviewedAt: it.Stage1ReviewedAt})
	}
	return rows, nil
}

// Export writes the items of an instance to w, as CSV (a header row;
// cells that a spreadsheet would read as a formula are prefixed with ')
// or as a JSON array of Row.
func (s *Service) Export(ctx context.Context, instance int64, format string, w io.Writer) error {
	if format != FormatCSV && format != FormatJSON {
		return fmt.Errorf("review: export format %q: want %s or %s", format, FormatCSV, FormatJSON)
	}
	rows, err := s.Rows(ctx, instance)
	if err != nil {
		return err
	}
	if format == FormatJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rows)
	}
	cw := csv.NewWriter(w)
	if err := cw.Write([]string{"review", "instance", "start", "end", "item", "userId", "userName", "displayName", "guest",
		"resourceType", "resource", "resourceName", "lastSignIn", "recommendation", "reason", "reviewers", "decision",
		"justification", "reviewedBy", "reviewedAt", "applyResult", "applyDetail", "appliedAt", "stage", "stage1Decision",
		"stage1Justification", "stage1ReviewedBy", "stage1ReviewedAt"}); err != nil {
		return err
	}
	for _, r := range rows {
		rec := []string{r.Review, fmt.Sprint(r.Instance), when(r.Start), when(r.End), fmt.Sprint(r.Item), r.User, r.UserName,
			r.DisplayName, fmt.Sprint(r.Guest), r.ResourceType, r.Resource, r.ResourceName, when(r.LastSignIn), r.Recommendation,
			r.Reason, strings.Join(r.Reviewers, " "), r.Decision, r.Justification, r.ReviewedBy, when(r.ReviewedAt), r.ApplyResult,
			r.ApplyDetail, when(r.AppliedAt), fmt.Sprint(r.Stage), r.Stage1Decision, r.Stage1Justification, r.Stage1ReviewedBy,
			when(r.Stage1ReviewedAt)}
		for i, c := range rec {
			rec[i] = cell(c)
		}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// when formats a time for the CSV ("" for none).
func when(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// cell defuses a CSV cell a spreadsheet would run as a formula (starting
// with =, +, -, @, a tab or a carriage return): it is prefixed with '.
func cell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
