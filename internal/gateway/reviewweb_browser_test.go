package gateway

import (
	"context"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"gopkg.in/yaml.v3"

	"github.com/scimgate/scimgate/internal/config"
	"github.com/scimgate/scimgate/internal/engine"
	"github.com/scimgate/scimgate/internal/notify"
	"github.com/scimgate/scimgate/internal/review"
	"github.com/scimgate/scimgate/targets"
	"github.com/scimgate/scimgate/targets/memory"
)

// reviewWebTargets is a memory target with every user; what leaves its
// scope (a denial) is deleted.
const reviewWebTargets = `
- name: app
  type: memory
  users:
    scope: {all: true}
    mapping:
      - {target: userName, source: userName}
  lifecycle: {outOfScope: delete}
`

// reviewWebReviews reviews the users of app by their managers for 7 days
// from %s, a justification required, applied at the end.
const reviewWebReviews = `
- name: app-access
  descriptionForReviewers: Who still needs the app?
  resource: {target: app}
  reviewers: {type: manager}
  fallbackReviewers: [audit@contoso.example]
  recurrence: {durationDays: 7, startDate: "%s"}
  settings: {justificationRequired: true, autoApply: true}
`

// TestReviewPagesInChromium drives the reviewer page in headless
// Chromium on a gateway on a fake clock: Mia opens the link of her
// notice, approves Ada, denies Bob and Cy in bulk with a justification;
// Max, the second reviewer, sees none of her items and cannot decide one
// (a form altered to name hers is refused); a used link and, after the
// end, an expired one are refused; at the end the results are applied:
// Bob and Cy are deleted from the memory target, Ada and Max's Dan stay.
// With SCIMGATE_SCREENSHOTS=1 it saves the reviewer page (a phone's
// width) and the admin page under docs/img/.
func TestReviewPagesInChromium(t *testing.T) {
	browserPath := ""
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			browserPath = p
			break
		}
	}
	if browserPath == "" {
		t.Skip("SKIPPING THE BROWSER TEST: no chromium on PATH (make test-deps installs Debian's chromium; apt-get install chromium)")
	}
	t0 := time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, 1)
	clock := &fakeClock{t: t0.Add(-time.Hour)}
	cfg := config.Defaults()
	cfg.Listen, cfg.DataDir = "127.0.0.1:0", t.TempDir()
	cfg.Auth.Tokens = []config.Secret{testToken}
	cfg.Admin.Tokens = []config.Secret{adminToken}
	if err := yaml.Unmarshal([]byte(reviewWebTargets), &cfg.Targets); err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal([]byte(strings.ReplaceAll(reviewWebReviews, "%s", t0.Format(time.RFC3339))), &cfg.Reviews); err != nil {
		t.Fatal(err)
	}
	cfg.Notifications = &notify.Config{SMTP: &notify.SMTP{Host: "127.0.0.1", TLS: "none", From: "scimgate@example.com"}}
	sender := &recordingSender{}
	ctx, cancel := context.WithCancel(context.Background())
	g, err := newGatewayWith(ctx, cfg, nil, slog.New(slog.DiscardHandler), hooks{
		engine: func(o *engine.Options) { o.Poll = 20 * time.Millisecond },
		review: func(o *review.Options) { o.Now, o.Poll = clock.Now, time.Hour }, // runs when the test says
		sender: sender,
	})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	serveUntilCleanup(t, ctx, cancel, g)
	c := client{t: t, base: g.BaseURL()}
	app := g.conns["app"].(*memory.Connector)
	idle := func() {
		t.Helper()
		waitFor(t, "the engine to plan and deliver", func() (bool, string) { return idleNow(t.Context(), g) })
	}
	user := func(upn, display, manager string) string {
		t.Helper()
		body := map[string]any{"userName": upn, "displayName": display, "active": true,
			"emails": []any{map[string]any{"value": upn, "primary": true}}}
		if manager != "" {
			body["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"] = map[string]any{"manager": map[string]any{"value": manager}}
		}
		return c.must(201, "POST", "/Users", body).body["id"].(string)
	}
	mia := user("mia@contoso.example", "Mia Manager", "")
	max := user("max@contoso.example", "Max Manager", "")
	user("ada@contoso.example", "Ada Lovelace", mia)
	user("bob@contoso.example", "Bob Builder", mia)
	user("cy@contoso.example", "Cy Young", mia)
	user("dan@contoso.example", "Dan Brown", max)
	idle()
	accounts := func() []string {
		var out []string
		for _, o := range app.Snapshot() {
			if o.Kind == targets.User {
				out = append(out, o.Attrs["userName"].(string))
			}
		}
		return out
	}
	if got := len(accounts()); got != 6 {
		t.Fatalf("app has %d accounts, want 6: %v", got, accounts())
	}

	// The start: the notices carry each manager's link.
	clock.Set(t0)
	if _, err := g.reviews.RunDue(t.Context()); err != nil {
		t.Fatal(err)
	}
	links := map[string]string{}
	linkRE := regexp.MustCompile(`Review now: (\S+)`)
	for _, e := range sender.sent() {
		if m := linkRE.FindStringSubmatch(e.Text); m != nil {
			links[e.To[0]] = m[1]
		}
	}
	miaLink, maxLink := links["mia@contoso.example"], links["max@contoso.example"]
	if miaLink == "" || maxLink == "" || !strings.HasPrefix(miaLink, "http://"+g.Addr()+"/reviews/signin?t=") {
		t.Fatalf("the notices carry no link to the reviewer page: %v", links)
	}
	ins, err := g.reviews.Instances(t.Context(), "app-access")
	if err != nil || len(ins) != 1 {
		t.Fatalf("instances: %v %v", ins, err)
	}
	inst := ins[0].ID
	items, err := g.reviews.Items(t.Context(), inst)
	if err != nil {
		t.Fatal(err)
	}
	index := map[string]string{}
	for _, it := range items {
		index[it.UserName] = strconv.Itoa(it.Index)
	}
	id := func(user string) string { return strconv.FormatInt(inst, 10) + "-" + index[user] }

	actx, cancelAlloc := chromedp.NewExecAllocator(t.Context(), append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(browserPath), chromedp.NoSandbox, chromedp.Headless, chromedp.DisableGPU)...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()
	if err := chromedp.Do(bctx); err != nil { // starts the browser, with no timeout (see chromedp.Run)
		t.Fatalf("starting %s: %v", browserPath, err)
	}
	bctx, cancelTimeout := context.WithTimeout(bctx, time.Minute)
	defer cancelTimeout()
	run := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(bctx, actions...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	text := func() string {
		t.Helper()
		s, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS("main")))
		if err != nil {
			t.Fatalf("reading the page: %v", err)
		}
		return s
	}
	shots := os.Getenv("SCIMGATE_SCREENSHOTS") == "1"
	screenshot := func(name string) {
		t.Helper()
		if !shots {
			return
		}
		png, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot: %v", err)
		}
		dir := filepath.Join("..", "..", "docs", "img")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("saved docs/img/%s", name)
	}

	// Mia signs in with her link, on a phone's screen.
	run("Mia's link", chromedp.EmulateViewport(390, 844), chromedp.Navigate(miaLink),
		chromedp.Click(chromedp.CSS(`button.primary`)), chromedp.WaitVisible(chromedp.CSS(`#review-`+strconv.FormatInt(inst, 10))))
	page := text()
	for _, want := range []string{"Signed in as Mia Manager", "Ada Lovelace", "Bob Builder", "Cy Young", "Pending (3)", "no sign-in information"} {
		if !strings.Contains(text()+pageHeader(t, bctx), want) {
			t.Errorf("Mia's page lacks %q: %s", want, page)
		}
	}
	if strings.Contains(page, "Dan Brown") {
		t.Errorf("Mia's page shows Max's item: %s", page)
	}
	// Approving without the required justification is refused.
	run("approve Ada without a justification", chromedp.Click(chromedp.CSS(`button[value="`+index["ada@contoso.example"]+`:Approve"]`)),
		chromedp.WaitVisible(chromedp.CSS(`.error`)))
	if p := text(); !strings.Contains(p, "requires a justification") || !strings.Contains(p, "Pending (3)") {
		t.Errorf("after approving without a justification: %s", p)
	}
	run("approve Ada", chromedp.SendKeys(chromedp.CSS(`#j-`+id("ada@contoso.example")), "still on the project"),
		chromedp.Click(chromedp.CSS(`button[value="`+index["ada@contoso.example"]+`:Approve"]`)), chromedp.WaitVisible(chromedp.CSS(`.notice`)))
	if p := text(); !strings.Contains(p, "Recorded 1 decision(s).") || !strings.Contains(p, "Pending (2)") || !strings.Contains(p, "Decided (1)") {
		t.Errorf("after approving Ada: %s", p)
	}
	screenshot("review-reviewer.png")
	home := strings.TrimSuffix(g.BaseURL(), "/scim/v2") + "/reviews/"
	run("deny Bob and Cy in bulk", chromedp.Navigate(home), // no notice yet: the next one is the bulk's
		chromedp.Click(chromedp.CSS(`#item-`+id("bob@contoso.example"))),
		chromedp.Click(chromedp.CSS(`#item-`+id("cy@contoso.example"))),
		chromedp.Click(chromedp.CSS(`#bulk-deny-`+strconv.FormatInt(inst, 10))),
		chromedp.SendKeys(chromedp.CSS(`#justification-`+strconv.FormatInt(inst, 10)), "left the team"),
		chromedp.Click(chromedp.CSS(`button[value="bulk"]`)), chromedp.WaitVisible(chromedp.CSS(`.notice`)))
	if p := text(); !strings.Contains(p, "Recorded 2 decision(s).") || !strings.Contains(p, "Decided (3)") || strings.Contains(p, "Pending (") {
		t.Errorf("after denying Bob and Cy: %s", p)
	}
	decisions := func() map[string]string {
		t.Helper()
		items, err := g.reviews.Items(t.Context(), inst)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, it := range items {
			out[it.UserName] = it.Decision + " by " + it.ReviewedBy + ": " + it.Justification
		}
		return out
	}
	want := map[string]string{
		"ada@contoso.example": "Approve by " + mia + ": still on the project",
		"bob@contoso.example": "Deny by " + mia + ": left the team",
		"cy@contoso.example":  "Deny by " + mia + ": left the team",
		"dan@contoso.example": "NotReviewed by : ",
	}
	got := decisions()
	for u, w := range want {
		if got[u] != w {
			t.Errorf("%s: %q, want %q", u, got[u], w)
		}
	}

	// Her link again: used.
	run("Mia's link again", chromedp.Navigate(miaLink), chromedp.Click(chromedp.CSS(`button.primary`)), chromedp.WaitVisible(chromedp.CSS(`.error`)))
	if p := text(); !strings.Contains(p, "was used already") {
		t.Errorf("a used link: %s", p)
	}

	// Max signs in (after Mia signs out): none of her items; a form
	// altered to decide one of hers is refused, nothing changes.
	run("sign out", chromedp.Navigate(home), chromedp.Click(chromedp.CSS(`.signout button`)),
		chromedp.WaitVisible(chromedp.CSS(`.notice`)))
	run("Max's link", chromedp.Navigate(maxLink), chromedp.Click(chromedp.CSS(`button.primary`)),
		chromedp.WaitVisible(chromedp.CSS(`#review-`+strconv.FormatInt(inst, 10))))
	page = text()
	if !strings.Contains(page, "Dan Brown") || strings.Contains(page, "Ada Lovelace") || strings.Contains(page, "Bob Builder") {
		t.Errorf("Max's page: %s", page)
	}
	before := decisions()
	run("Max decides Ada's item", chromedp.SendKeys(chromedp.CSS(`#j-`+id("dan@contoso.example")), "mine now"),
		chromedp.SetAttributeValue(chromedp.CSS(`button[value="`+index["dan@contoso.example"]+`:Deny"]`), "value", index["ada@contoso.example"]+":Deny"),
		chromedp.SetAttributeValue(chromedp.CSS(`#j-`+id("dan@contoso.example")), "name", "j"+index["ada@contoso.example"]),
		chromedp.Click(chromedp.CSS(`button[value="`+index["ada@contoso.example"]+`:Deny"]`)), chromedp.WaitVisible(chromedp.CSS(`.error`)))
	if p := text(); !strings.Contains(p, "not yours to review") {
		t.Errorf("Max deciding Ada's item: %s", p)
	}
	if after := decisions(); after["ada@contoso.example"] != before["ada@contoso.example"] {
		t.Errorf("Ada's item changed: %q", after["ada@contoso.example"])
	}

	// The end: the denials are applied; Dan's item (not reviewed, no
	// default decision) changes nothing.
	clock.Set(t0.Add(7 * 24 * time.Hour))
	if _, err := g.reviews.RunDue(t.Context()); err != nil {
		t.Fatal(err)
	}
	idle()
	left := strings.Join(accounts(), " ")
	for _, u := range []string{"ada@", "dan@", "mia@", "max@"} {
		if !strings.Contains(left, u) {
			t.Errorf("%s lost access: app has %s", u, left)
		}
	}
	for _, u := range []string{"bob@", "cy@"} {
		if strings.Contains(left, u) {
			t.Errorf("%s still has access after the denial: app has %s", u, left)
		}
	}
	// Max's link of the start has expired by now (7 days), as has his
	// session (8 hours).
	run("an expired link", chromedp.Navigate(maxLink), chromedp.WaitVisible(chromedp.CSS(`.error`)))
	if p := text(); !strings.Contains(p, "has expired") {
		t.Errorf("an expired link: %s", p)
	}

	// The admin page, signed in with the admin token.
	run("admin sign-in", chromedp.EmulateViewport(1100, 900), chromedp.Navigate(home),
		chromedp.SendKeys(chromedp.CSS(`#token`), adminToken), chromedp.Submit(chromedp.CSS(`#token`)),
		chromedp.WaitVisible(chromedp.CSS(`ul.reviews a`)), chromedp.Click(chromedp.CSS(`ul.reviews a`)),
		chromedp.WaitVisible(chromedp.CSS(`#instance-`+strconv.FormatInt(inst, 10))))
	page = text()
	for _, w := range []string{"Applied", "1 approved, 2 denied, 0 don't know, 3 not reviewed", "left the team", "Export CSV"} {
		if !strings.Contains(page, w) {
			t.Errorf("admin page lacks %q: %s", w, page)
		}
	}
	screenshot("review-admin.png")

	// The admin signs out: the session is revoked, the admin page asks
	// to sign in again.
	run("admin sign-out", chromedp.Click(chromedp.CSS(`.signout button`)), chromedp.WaitVisible(chromedp.CSS(`.notice`)),
		chromedp.Navigate(strings.TrimSuffix(home, "/")+"/admin/review/app-access"), chromedp.WaitVisible(chromedp.CSS(`.error`)))
	if p := text(); !strings.Contains(p, "Please sign in") || strings.Contains(p, "Export CSV") {
		t.Errorf("the admin page after signing out: %s", p)
	}
}

// pageHeader is the page's header text (who is signed in).
func pageHeader(t *testing.T, ctx context.Context) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("header")))
	if err != nil {
		t.Fatal(err)
	}
	return s
}
