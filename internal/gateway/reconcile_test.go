package gateway

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/scimgate/scimgate/internal/engine"
	"github.com/scimgate/scimgate/targets"
)

// reconcileTarget is crmTarget with matching and orphans deleted.
const reconcileTarget = `
- name: crm
  type: memory
  users:
    scope: {all: true}
    mapping:
      - {target: userName, source: userName}
      - {target: title, source: title}
    matching: [userName]
  orphans: delete
`

// send makes an admin request with a body and returns its status,
// Content-Type and body.
func (a adminClient) send(method, path, body string) (int, string, []byte) {
	a.t.Helper()
	req, err := http.NewRequest(method, a.base+"/admin/v1"+path, strings.NewReader(body))
	if err != nil {
		a.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Content-Type"), b
}

// reconcile starts a reconciliation of target through the admin API
// (query and body as given) and waits for its report.
func (a adminClient) reconcile(target, query, body string) engine.Report {
	a.t.Helper()
	status, _, b := a.send("POST", "/targets/"+target+"/reconciliations"+query, body)
	if status != 200 {
		a.t.Fatalf("starting a reconciliation: %d %s", status, b)
	}
	var rep engine.Report
	if err := json.Unmarshal(b, &rep); err != nil || rep.ID == "" {
		a.t.Fatalf("starting a reconciliation: %v %s", err, b)
	}
	waitFor(a.t, "the reconciliation "+rep.ID, func() (bool, string) {
		status, _, b := a.send("GET", "/targets/"+target+"/reconciliations/"+rep.ID, "")
		rep = engine.Report{}
		if err := json.Unmarshal(b, &rep); status != 200 || err != nil {
			return false, fmt.Sprintf("%d %s", status, b)
		}
		return rep.Status != engine.StatusRunning, rep.Status
	})
	return rep
}

// TestAdminReconciliations: a reconciliation started through the admin
// API (dry run from the query or the body) runs in the background; its
// report is read while it runs and after, in the list of the target's
// reports (newest first, without items) and alone, as JSON or as CSV
// (cells a spreadsheet would take for formulas defused); a real run
// converges the target and is counted in the metrics; bad parameters are
// 400s naming them.
func TestAdminReconciliations(t *testing.T) {
	eg := startEngineGateway(t, reconcileTarget)
	c, crm, a := eg.c, eg.conns["crm"], eg.admin(t)
	alice := c.must(201, "POST", "/Users", salesUser("alice@contoso.com")).body["id"].(string)
	eg.idle(t)
	o, _ := object(crm, alice)
	if err := crm.Update(t.Context(), targets.Op{ID: "by hand", ObjectID: alice, Kind: targets.User, Anchor: o.Anchor,
		Attrs: map[string]any{"title": "Boss"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := crm.Seed(targets.Object{Kind: targets.User, Attrs: map[string]any{"userName": `=HYPERLINK("http://x.example")`}}); err != nil {
		t.Fatal(err)
	}
	crm.ResetCalls()

	dry := a.reconcile("crm", "?dryRun=true", "")
	if !dry.DryRun || dry.Status != engine.StatusDone || dry.Read != 2 || dry.Changes != 2 || len(dry.Items) != 2 ||
		dry.Actor != "admin: static token #1" {
		t.Fatalf("dry run %+v", dry)
	}
	if calls := crm.Calls(); len(calls) != 0 {
		t.Errorf("the dry run changed the target: %+v", calls)
	}
	t.Run("CSV of a report", func(t *testing.T) {
		status, ct, b := a.send("GET", "/targets/crm/reconciliations/"+dry.ID+"?format=csv", "")
		if status != 200 || ct != "text/csv; charset=utf-8" {
			t.Fatalf("%d %s %s", status, ct, b)
		}
		rows, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		got := map[string][]string{}
		for _, r := range rows[1:] {
			got[r[0]] = r
		}
		if len(rows) != 3 || strings.Join(rows[0], ",") != "outcome,type,anchor,id,name,action,differences,detail" ||
			got["drift"][3] != alice || got["drift"][6] != `title: "Boss" → "Clerk"` || got["drift"][5] != "update" ||
			got["orphan"][4] != `'=HYPERLINK("http://x.example")` || got["orphan"][5] != "delete" {
			t.Errorf("CSV:\n%s", b)
		}
	})

	run := a.reconcile("crm", "", `{"dryRun": false}`)
	if run.DryRun || run.Changes != 2 || run.Counts[engine.OutcomeDrift] != 1 || run.Counts[engine.OutcomeOrphan] != 1 {
		t.Fatalf("run %+v", run)
	}
	eg.idle(t)
	if o, _ := object(crm, alice); o.Attrs["title"] != "Clerk" || len(crm.Snapshot()) != 1 {
		t.Errorf("after the run: %+v", crm.Snapshot())
	}

	t.Run("list, newest first, without items", func(t *testing.T) {
		m := a.call(200, "GET", "/targets/crm/reconciliations")
		reps := list(m, "reconciliations")
		if len(reps) != 2 || reps[0]["id"] != run.ID || reps[1]["id"] != dry.ID || reps[0]["items"] != nil ||
			reps[0]["counts"].(map[string]any)["drift"] != 1.0 {
			t.Errorf("reports %v", reps)
		}
		status, ct, b := a.send("GET", "/targets/crm/reconciliations?format=csv&limit=1", "")
		rows, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
		if status != 200 || ct != "text/csv; charset=utf-8" || err != nil || len(rows) != 2 || rows[1][0] != run.ID || rows[1][2] != "false" {
			t.Errorf("CSV list: %d %s %v\n%s", status, ct, err, b)
		}
	})
	t.Run("metrics", func(t *testing.T) {
		text := scrape(t, eg)
		for series, want := range map[string]float64{
			`scimgate_reconcile_accounts_total{outcome="drift",target="crm"}`:  1,
			`scimgate_reconcile_accounts_total{outcome="orphan",target="crm"}`: 1,
			`scimgate_reconcile_accounts_total{outcome="ok",target="crm"}`:     0,
		} {
			if got := metric(text, series); got != want {
				t.Errorf("%s = %v, want %v", series, got, want)
			}
		}
		if v := metric(text, `scimgate_reconcile_last_run_timestamp_seconds{target="crm"}`); v < float64(run.Finished.Unix()) {
			t.Errorf("last run timestamp %v, want %v", v, run.Finished.Unix())
		}
		if metric(text, `scimgate_reconcile_last_run_duration_seconds{target="crm"}`) < 0 {
			t.Error("no last run duration")
		}
	})
	for _, tc := range []struct {
		name, method, path, body string
		want                     int
		msg                      string
	}{
		{"bad dryRun", "POST", "/targets/crm/reconciliations?dryRun=maybe", "", 400, `dryRun: "maybe" is not true or false`},
		{"query and body disagree", "POST", "/targets/crm/reconciliations?dryRun=false", `{"dryRun": true}`, 400, "dryRun: the query says false, the body true"},
		{"unknown body field", "POST", "/targets/crm/reconciliations", `{"dry": true}`, 400, `the body: want {"dryRun": true|false}`},
		{"unknown target", "POST", "/targets/nope/reconciliations", "", 404, `unknown target: "nope"`},
		{"bad format", "GET", "/targets/crm/reconciliations?format=xml", "", 400, `format: "xml" is not json or csv`},
		{"unknown report", "GET", "/targets/crm/reconciliations/nope", "", 404, `no such reconciliation: "nope" in target "crm"`},
		{"a report of another target", "GET", "/targets/nope/reconciliations/" + run.ID, "", 404, `unknown target: "nope"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, _, b := a.send(tc.method, tc.path, tc.body)
			var e struct{ Error string }
			if err := json.Unmarshal(b, &e); err != nil || status != tc.want || !strings.Contains(e.Error, tc.msg) {
				t.Errorf("%d %s; want %d with %q", status, b, tc.want, tc.msg)
			}
		})
	}
}

// TestAdminReconcileStatus: a run already going is a 409, an engine not
// started yet a 503.
func TestAdminReconcileStatus(t *testing.T) {
	h := &adminHandler{}
	for _, tc := range []struct {
		err  error
		want int
	}{
		{fmt.Errorf("%w: %q", engine.ErrReconcileRunning, "crm"), http.StatusConflict},
		{engine.ErrNotStarted, http.StatusServiceUnavailable},
		{fmt.Errorf("%w: x", engine.ErrUnknownReconciliation), http.StatusNotFound},
	} {
		if got := h.status(tc.err); got.status != tc.want {
			t.Errorf("%v: %d (%s), want %d", tc.err, got.status, got.msg, tc.want)
		}
	}
}
