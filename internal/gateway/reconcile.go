package gateway

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/scimgate/scimgate/internal/engine"
)

// AdminReconciliation is a Reconciliation of docs/admin-api.md: the
// engine's report, as it keeps it.
type AdminReconciliation = engine.Report

// maxReconcileBody bounds the body of a POST .../reconciliations.
const maxReconcileBody = 4 << 10

// startReconcile starts a reconciliation of {target}: dryRun from the
// query or from the body ({"dryRun": true}); it answers the run's report
// as it starts (status running), whose id names it.
func (h *adminHandler) startReconcile(r *http.Request) (any, error) {
	e, err := h.engine()
	if err != nil {
		return nil, err
	}
	dry, err := dryRunOf(r)
	if err != nil {
		return nil, err
	}
	target := r.PathValue("target")
	id, err := e.StartReconcile(r.Context(), target, dry)
	if err != nil {
		return nil, err
	}
	return e.Reconciliation(r.Context(), target, id)
}

// dryRunOf reads dryRun from the query or the body; both must agree.
func dryRunOf(r *http.Request) (bool, error) {
	var fromQuery, fromBody *bool
	if s := r.URL.Query().Get("dryRun"); s != "" {
		b, err := strconv.ParseBool(s)
		if err != nil {
			return false, badRequest("dryRun: %q is not true or false", s)
		}
		fromQuery = &b
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxReconcileBody+1))
	if err != nil {
		return false, badRequest("reading the body: %v", err)
	}
	if len(body) > maxReconcileBody {
		return false, badRequest("the body is larger than %d bytes", maxReconcileBody)
	}
	if len(bytes.TrimSpace(body)) > 0 {
		var req struct {
			DryRun *bool `json:"dryRun"`
		}
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			return false, badRequest(`the body: want {"dryRun": true|false}: %v`, err)
		}
		fromBody = req.DryRun
	}
	switch {
	case fromQuery != nil && fromBody != nil && *fromQuery != *fromBody:
		return false, badRequest("dryRun: the query says %t, the body %t", *fromQuery, *fromBody)
	case fromQuery != nil:
		return *fromQuery, nil
	case fromBody != nil:
		return *fromBody, nil
	}
	return false, nil
}

// format reads the format query parameter: json (default) or csv.
func format(r *http.Request) (string, error) {
	switch f := r.URL.Query().Get("format"); f {
	case "", "json":
		return "json", nil
	case "csv":
		return "csv", nil
	default:
		return "", badRequest("format: %q is not json or csv", f)
	}
}

// reconciliations lists {target}'s reports, newest first (the running one
// first), without their items.
func (h *adminHandler) reconciliations(r *http.Request) (any, error) {
	e, err := h.engine()
	if err != nil {
		return nil, err
	}
	f, err := format(r)
	if err != nil {
		return nil, err
	}
	n, err := limit(r)
	if err != nil {
		return nil, err
	}
	reps, err := e.Reconciliations(r.Context(), r.PathValue("target"), n)
	if err != nil {
		return nil, err
	}
	if f == "csv" {
		rows := csvRows{append([]string{"id", "target", "dryRun", "actor", "status", "error", "started", "finished",
			"durationSeconds", "read", "matched", "identities", "changes"}, engine.Outcomes...)}
		for _, rep := range reps {
			row := []string{rep.ID, rep.Target, strconv.FormatBool(rep.DryRun), rep.Actor, rep.Status, rep.Error,
				csvTime(rep.Started), csvTime(rep.Finished), strconv.FormatFloat(rep.Seconds, 'f', 3, 64),
				strconv.Itoa(rep.Read), strconv.Itoa(rep.Matched), strconv.Itoa(rep.Identities), strconv.Itoa(rep.Changes)}
			for _, o := range engine.Outcomes {
				row = append(row, strconv.Itoa(rep.Counts[o]))
			}
			rows = append(rows, row)
		}
		return rows, nil
	}
	if reps == nil {
		reps = []engine.Report{}
	}
	return map[string]any{"reconciliations": reps}, nil
}

// reconciliation answers one report of {target} with its items; as CSV,
// its items.
func (h *adminHandler) reconciliation(r *http.Request) (any, error) {
	e, err := h.engine()
	if err != nil {
		return nil, err
	}
	f, err := format(r)
	if err != nil {
		return nil, err
	}
	rep, err := e.Reconciliation(r.Context(), r.PathValue("target"), r.PathValue("id"))
	if err != nil {
		return nil, err
	}
	if f == "json" {
		if rep.Items == nil {
			rep.Items = []engine.ReportItem{}
		}
		return rep, nil
	}
	rows := csvRows{{"outcome", "type", "anchor", "id", "name", "action", "differences", "detail"}}
	for _, it := range rep.Items {
		rows = append(rows, []string{it.Outcome, it.Type, it.Anchor, it.ID, it.Name, it.Action, Differences(it.Diffs), it.Detail})
	}
	return rows, nil
}

// Differences shows an item's differences on one line: "attr: old → new"
// (values as JSON; null: none), "members: +a -b", separated by "; ".
func Differences(diffs []engine.Diff) string {
	parts := make([]string, 0, len(diffs))
	for _, d := range diffs {
		if d.Attr == "members" {
			var ms []string
			for _, m := range d.Add {
				ms = append(ms, "+"+m)
			}
			for _, m := range d.Remove {
				ms = append(ms, "-"+m)
			}
			parts = append(parts, "members: "+strings.Join(ms, " "))
			continue
		}
		parts = append(parts, fmt.Sprintf("%s: %s → %s", d.Attr, jsonText(d.Old), jsonText(d.New)))
	}
	return strings.Join(parts, "; ")
}

// jsonText is a value as JSON, <, > and & as they are.
func jsonText(v any) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Sprint(v)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

func csvTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// csvRows is an admin answer written as CSV (a header, then rows).
type csvRows [][]string

// writeCSV writes rows as text/csv. A cell that a spreadsheet would take
// for a formula (it starts with =, +, -, @, a tab or a carriage return: an
// account's values are anyone's input) gets a leading apostrophe.
func writeCSV(w http.ResponseWriter, rows csvRows) {
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	cw := csv.NewWriter(w)
	for _, row := range rows {
		out := make([]string, len(row))
		for i, c := range row {
			if c != "" && strings.ContainsRune("=+-@\t\r", rune(c[0])) {
				c = "'" + c
			}
			out[i] = c
		}
		if cw.Write(out) != nil {
			return // the client went away
		}
	}
	cw.Flush()
}
