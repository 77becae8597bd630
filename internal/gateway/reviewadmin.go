package gateway

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/scimgate/scimgate/internal/review"
)

// The access reviews of the admin API (docs/admin-api.md): the
// definitions (from the configuration) with their instances' progress,
// one instance with its progress per reviewer, its items with their
// decisions, an administrator's reassignment, stop, apply and the export
// for auditors. The review service audits every change with the actor of
// the request.

// AdminReview is a Review of docs/admin-api.md: a definition as
// configured, when its next instance starts, and its instances.
type AdminReview struct {
	review.Config
	// DefinedIn is "configuration" or "api" (the admin API: it can be
	// updated there).
	DefinedIn string                `json:"definedIn"`
	NextStart *time.Time            `json:"nextStart,omitempty"`
	Instances []AdminReviewInstance `json:"instances"`
}

// AdminReviewProgress counts the decisions of items.
type AdminReviewProgress struct {
	Total       int `json:"total"`
	Approved    int `json:"approved"`
	Denied      int `json:"denied"`
	DontKnow    int `json:"dontKnow"`
	NotReviewed int `json:"notReviewed"`
}

// AdminReviewerProgress is one reviewer's progress in an instance.
type AdminReviewerProgress struct {
	Reviewer string `json:"reviewer"` // a user id, or an email address
	// Name is the user's displayName or userName, or the address.
	Name     string              `json:"name"`
	Progress AdminReviewProgress `json:"progress"`
}

// AdminReviewInstance is a ReviewInstance of docs/admin-api.md.
type AdminReviewInstance struct {
	ID         int64  `json:"id"`
	Review     string `json:"review"`
	Occurrence int    `json:"occurrence"`
	Status     string `json:"status"`
	// Stage is the stage in progress (or the last): 1, or 2 in a
	// review's second stage.
	Stage     int                 `json:"stage"`
	Start     time.Time           `json:"start"`
	End       time.Time           `json:"end"`
	Ended     *time.Time          `json:"ended,omitempty"`
	EndedBy   string              `json:"endedBy,omitempty"`
	Applied   *time.Time          `json:"applied,omitempty"`
	AppliedBy string              `json:"appliedBy,omitempty"`
	Progress  AdminReviewProgress `json:"progress"`
	// Reviewers: GET /review-instances/{id} and its actions only.
	Reviewers []AdminReviewerProgress `json:"reviewers,omitempty"`
}

// errNoReviews answers the review calls of a gateway without reviews.
var errNoReviews = &adminError{status: http.StatusNotFound,
	msg: "no access reviews are configured (the reviews section; see package review)"}

// reviewDecisions are the decisions of items.
var reviewDecisions = []string{review.Approve, review.Deny, review.DontKnow, review.NotReviewed}

func (h *adminHandler) reviewService() (*review.Service, error) {
	if h.g.reviews == nil {
		return nil, errNoReviews
	}
	return h.g.reviews, nil
}

func adminProgress(p review.Progress) AdminReviewProgress {
	return AdminReviewProgress{Total: p.Total, Approved: p.Approved, Denied: p.Denied, DontKnow: p.DontKnow, NotReviewed: p.NotReviewed}
}

// adminReviewInstance is the admin API's form of an instance, with its
// reviewers when perReviewer.
func (h *adminHandler) adminReviewInstance(r *http.Request, in review.Instance, perReviewer bool) (AdminReviewInstance, error) {
	out := AdminReviewInstance{ID: in.ID, Review: in.Definition, Occurrence: in.Occurrence, Status: in.Status, Stage: max(in.Stage, 1), Start: in.Start.UTC(),
		End: in.End.UTC(), Ended: timeOpt(in.Ended), EndedBy: in.EndedBy, Applied: timeOpt(in.ReviewInstance.Applied),
		AppliedBy: in.AppliedBy, Progress: adminProgress(in.Progress)}
	if !perReviewer {
		return out, nil
	}
	out.Reviewers = []AdminReviewerProgress{}
	for _, rp := range in.Reviewers {
		name, err := h.g.reviews.ReviewerName(r.Context(), rp.Reviewer)
		if err != nil {
			return out, err
		}
		out.Reviewers = append(out.Reviewers, AdminReviewerProgress{Reviewer: rp.Reviewer, Name: name, Progress: adminProgress(rp.Progress)})
	}
	return out, nil
}

// adminReview is the admin API's form of a definition with its
// instances, newest first.
func (h *adminHandler) adminReview(r *http.Request, d review.Definition) (AdminReview, error) {
	out := AdminReview{Config: d.Config, DefinedIn: map[bool]string{false: "configuration", true: "api"}[d.API],
		NextStart: timeOpt(d.NextStart), Instances: []AdminReviewInstance{}}
	ins, err := h.g.reviews.Instances(r.Context(), d.Name)
	if err != nil {
		return out, err
	}
	for _, in := range ins {
		ai, err := h.adminReviewInstance(r, in, false)
		if err != nil {
			return out, err
		}
		out.Instances = append(out.Instances, ai)
	}
	return out, nil
}

func (h *adminHandler) reviewList(r *http.Request) (any, error) {
	s, err := h.reviewService()
	if err != nil {
		return nil, err
	}
	out := []AdminReview{}
	for _, d := range s.Definitions() {
		ar, err := h.adminReview(r, d)
		if err != nil {
			return nil, err
		}
		out = append(out, ar)
	}
	return map[string]any{"reviews": out}, nil
}

func (h *adminHandler) reviewShow(r *http.Request) (any, error) {
	s, err := h.reviewService()
	if err != nil {
		return nil, err
	}
	d, err := s.Definition(r.PathValue("name"))
	if err != nil {
		return nil, err
	}
	return h.adminReview(r, d)
}

// reviewCreate defines a review through the admin API (the body is its
// configuration, as in the reviews section, in JSON).
func (h *adminHandler) reviewCreate(r *http.Request) (any, error) {
	return h.reviewSave(r, true)
}

// reviewUpdate changes a review defined through the admin API.
func (h *adminHandler) reviewUpdate(r *http.Request) (any, error) {
	return h.reviewSave(r, false)
}

func (h *adminHandler) reviewSave(r *http.Request, create bool) (any, error) {
	s, err := h.reviewService()
	if err != nil {
		return nil, err
	}
	var d review.Config
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&d); err != nil {
		return nil, badRequest("the body is not a review's definition: %v", err)
	}
	if !create {
		if name := r.PathValue("name"); d.Name == "" {
			d.Name = name
		} else if !strings.EqualFold(d.Name, name) {
			return nil, badRequest("the body names %q, the path %q: a review cannot be renamed", d.Name, name)
		}
	}
	def, err := s.SaveDefinition(r.Context(), d, create)
	if err != nil {
		return nil, err
	}
	return h.adminReview(r, def)
}

// reviewInstances answers a review's instances, newest first: also those
// of a review deleted since (for the auditors).
func (h *adminHandler) reviewInstances(r *http.Request) (any, error) {
	s, err := h.reviewService()
	if err != nil {
		return nil, err
	}
	ins, err := s.Instances(r.Context(), r.PathValue("name"))
	if err != nil {
		return nil, err
	}
	out := []AdminReviewInstance{}
	for _, in := range ins {
		ai, err := h.adminReviewInstance(r, in, false)
		if err != nil {
			return nil, err
		}
		out = append(out, ai)
	}
	return map[string]any{"instances": out}, nil
}

// reviewDelete deletes a review defined through the admin API (409 for
// a configured one, or while an instance is in progress); its past
// instances stay.
func (h *adminHandler) reviewDelete(r *http.Request) (any, error) {
	s, err := h.reviewService()
	if err != nil {
		return nil, err
	}
	d, err := s.Definition(r.PathValue("name"))
	if err != nil {
		return nil, err
	}
	if err := s.DeleteDefinition(r.Context(), d.Name); err != nil {
		return nil, err
	}
	return map[string]any{"deleted": d.Name}, nil
}

// reviewDecide records an administrator's decision on items of an
// instance, on the reviewers' behalf (Entra's batchRecordDecisions):
// the body is {"items": [1, 2], "decision": "Deny", "justification":
// "..."}; it answers the items.
func (h *adminHandler) reviewDecide(r *http.Request) (any, error) {
	s, id, err := h.reviewOf(r)
	if err != nil {
		return nil, err
	}
	var body struct {
		Items         []int  `json:"items"`
		Decision      string `json:"decision"`
		Justification string `json:"justification"`
	}
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		return nil, badRequest(`the body must be {"items": [item numbers], "decision": %s, "justification": text}: %v`, strings.Join(reviewDecisions, "|"), err)
	}
	if len(body.Items) == 0 {
		return nil, badRequest("items: required (the item numbers of the instance)")
	}
	i := slices.IndexFunc(reviewDecisions, func(d string) bool { return strings.EqualFold(d, body.Decision) })
	if i < 0 {
		return nil, badRequest("decision: %q: want one of %s", body.Decision, strings.Join(reviewDecisions, ", "))
	}
	ds := make([]review.Decision, 0, len(body.Items))
	for _, it := range body.Items {
		ds = append(ds, review.Decision{Item: it, Decision: reviewDecisions[i], Justification: body.Justification})
	}
	if err := s.AdminDecide(r.Context(), id, ds); err != nil {
		return nil, err
	}
	rows, err := s.Rows(r.Context(), id)
	if err != nil {
		return nil, err
	}
	out := []review.Row{}
	for _, row := range rows {
		if slices.Contains(body.Items, row.Item) {
			out = append(out, row)
		}
	}
	return map[string]any{"items": out}, nil
}

// reviewRevert undoes the effect of an item's applied denial and answers
// the item.
func (h *adminHandler) reviewRevert(r *http.Request) (any, error) {
	s, id, err := h.reviewOf(r)
	if err != nil {
		return nil, err
	}
	item, err := strconv.Atoi(r.PathValue("item"))
	if err != nil || item < 1 {
		return nil, badRequest("%q is not an item (a positive integer)", r.PathValue("item"))
	}
	if _, err := s.Revert(r.Context(), id, item); err != nil {
		return nil, err
	}
	rows, err := s.Rows(r.Context(), id)
	if err != nil {
		return nil, err
	}
	for _, row := range rows {
		if row.Item == item {
			return row, nil
		}
	}
	return nil, fmt.Errorf("%w: item %d of instance %d", review.ErrNotFound, item, id)
}

// reviewOf returns the review service and the instance {id} of r.
func (h *adminHandler) reviewOf(r *http.Request) (*review.Service, int64, error) {
	s, err := h.reviewService()
	if err != nil {
		return nil, 0, err
	}
	id, err := instanceID(r)
	return s, id, err
}

// instanceID reads the {id} of an instance.
func instanceID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id < 1 {
		return 0, badRequest("%q is not a review instance id (a positive integer)", r.PathValue("id"))
	}
	return id, nil
}

func (h *adminHandler) reviewInstance(r *http.Request) (any, error) {
	s, id, err := h.reviewOf(r)
	if err != nil {
		return nil, err
	}
	in, err := s.Instance(r.Context(), id)
	if err != nil {
		return nil, err
	}
	return h.adminReviewInstance(r, in, true)
}

// reviewItems answers the items of an instance with their decisions,
// those of ?reviewer= (a user's id or userName, or an email address) and
// ?decision= only when given.
func (h *adminHandler) reviewItems(r *http.Request) (any, error) {
	s, id, err := h.reviewOf(r)
	if err != nil {
		return nil, err
	}
	decision := r.URL.Query().Get("decision")
	if decision != "" && !slices.Contains(reviewDecisions, decision) {
		return nil, badRequest("decision: %q: want one of %s", decision, strings.Join(reviewDecisions, ", "))
	}
	rows, err := s.Rows(r.Context(), id)
	if err != nil {
		return nil, err
	}
	reviewer := r.URL.Query().Get("reviewer")
	keys := []string{reviewer}
	if reviewer != "" {
		// A userName stands for its user's id.
		ids, err := h.types["User"].Lookup(r.Context(), h.g.store, reviewer)
		if err != nil {
			return nil, err
		}
		keys = append(keys, ids...)
	}
	out := []review.Row{}
	for _, row := range rows {
		if decision != "" && row.Decision != decision {
			continue
		}
		if reviewer != "" && !slices.ContainsFunc(row.Reviewers, func(k string) bool { return slices.Contains(keys, k) }) {
			continue
		}
		out = append(out, row)
	}
	return map[string]any{"items": out}, nil
}

// reviewReassign makes the reviewer of the body {"reviewer": userName,
// email or id} the reviewer of an item of an instance in progress, in
// place of its reviewers, and answers the item.
func (h *adminHandler) reviewReassign(r *http.Request) (any, error) {
	s, id, err := h.reviewOf(r)
	if err != nil {
		return nil, err
	}
	item, err := strconv.Atoi(r.PathValue("item"))
	if err != nil || item < 1 {
		return nil, badRequest("%q is not an item (a positive integer)", r.PathValue("item"))
	}
	var body struct {
		Reviewer string `json:"reviewer"`
	}
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		return nil, badRequest("the body must be {\"reviewer\": userName, email or id}: %v", err)
	}
	if strings.TrimSpace(body.Reviewer) == "" {
		return nil, badRequest("reviewer: required (a userName, email address or user id)")
	}
	if err := s.AdminReassign(r.Context(), id, []int{item}, body.Reviewer); err != nil {
		return nil, err
	}
	rows, err := s.Rows(r.Context(), id)
	if err != nil {
		return nil, err
	}
	for _, row := range rows {
		if row.Item == item {
			return row, nil
		}
	}
	return nil, fmt.Errorf("%w: item %d of instance %d", review.ErrNotFound, item, id)
}

// reviewSessionsRevoke signs a reviewer out of the reviewer page: it
// revokes every session of the reviewer of the body {"reviewer":
// userName, email or id} (audited) and answers how many were live.
func (h *adminHandler) reviewSessionsRevoke(r *http.Request) (any, error) {
	s, err := h.reviewService()
	if err != nil {
		return nil, err
	}
	var body struct {
		Reviewer string `json:"reviewer"`
	}
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		return nil, badRequest("the body must be {\"reviewer\": userName, email or id}: %v", err)
	}
	if strings.TrimSpace(body.Reviewer) == "" {
		return nil, badRequest("reviewer: required (a userName, email address or user id)")
	}
	key, err := s.ReviewerKey(r.Context(), strings.TrimSpace(body.Reviewer))
	if err != nil {
		return nil, err
	}
	n, err := h.g.reviewWeb.RevokeSessions(r.Context(), key)
	if err != nil {
		return nil, err
	}
	return map[string]any{"reviewer": key, "revoked": n}, nil
}

// reviewStop ends an instance in progress now and answers it.
func (h *adminHandler) reviewStop(r *http.Request) (any, error) {
	s, id, err := h.reviewOf(r)
	if err != nil {
		return nil, err
	}
	if err := s.Stop(r.Context(), id); err != nil {
		return nil, err
	}
	return h.reviewInstance(r)
}

// reviewRemind sends a reminder now to the reviewers of an instance in
// progress who have pending items, and answers how many went out.
func (h *adminHandler) reviewRemind(r *http.Request) (any, error) {
	s, id, err := h.reviewOf(r)
	if err != nil {
		return nil, err
	}
	n, err := s.Remind(r.Context(), id)
	if err != nil && n == 0 {
		return nil, err
	}
	out := map[string]any{"sent": n}
	if err != nil { // some went out, some could not
		out["errors"] = err.Error()
	}
	return out, nil
}

// reviewApply applies the results of an ended instance and answers how
// many items it applied with the instance.
func (h *adminHandler) reviewApply(r *http.Request) (any, error) {
	s, id, err := h.reviewOf(r)
	if err != nil {
		return nil, err
	}
	n, err := s.Apply(r.Context(), id)
	if err != nil {
		return nil, err
	}
	in, err := h.reviewInstance(r)
	if err != nil {
		return nil, err
	}
	return map[string]any{"applied": n, "instance": in}, nil
}

// download is an admin answer that is a file: its content type, name and
// bytes.
type download struct {
	contentType, name string
	body              []byte
}

// reviewExport answers the items of an instance for auditors, as
// ?format=csv (text/csv) or json (default).
func (h *adminHandler) reviewExport(r *http.Request) (any, error) {
	s, id, err := h.reviewOf(r)
	if err != nil {
		return nil, err
	}
	format := r.URL.Query().Get("format")
	if format == "" {
		format = review.FormatJSON
	}
	if format != review.FormatCSV && format != review.FormatJSON {
		return nil, badRequest("format: %q: want %s or %s", format, review.FormatCSV, review.FormatJSON)
	}
	var b bytes.Buffer
	if err := s.Export(r.Context(), id, format, &b); err != nil {
		return nil, err
	}
	ct := "application/json"
	if format == review.FormatCSV {
		ct = "text/csv; charset=utf-8"
	}
	return download{contentType: ct, name: fmt.Sprintf("review-instance-%d.%s", id, format), body: b.Bytes()}, nil
}
