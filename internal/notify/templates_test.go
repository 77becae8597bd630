package notify_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/scimgate/scimgate/internal/notify"
)

const tap = "Tap-9f8e7d6c"

// data is sample data of each default template.
var data = map[string]map[string]any{
	notify.TemplateWelcome: {"displayName": "Ada Lovelace", "userName": "ada@example.com", "startDate": "2026-05-11"},
	notify.TemplatePreHireTAP: {"managerDisplayName": "Charles Babbage", "displayName": "Ada Lovelace", "userName": "ada@example.com",
		"startDate": "2026-05-11", "tap": notify.NewTAP(tap), "tapExpires": "2026-05-11 18:00 UTC", "tapOnce": true},
	notify.TemplateMover: {"managerDisplayName": "Charles Babbage", "displayName": "Ada Lovelace", "userName": "ada@example.com",
		"changes": []map[string]string{{"attribute": "department", "from": "Research", "to": "Engines & <Analytics>"}}},
	notify.TemplateLeaver: {"managerDisplayName": "Charles Babbage", "displayName": "Ada Lovelace", "userName": "ada@example.com",
		"lastDay": "2026-06-30"},
	notify.TemplateAlertRaised: {"rule": "target_down", "kind": "targetDown", "summary": "Target hr-ldap has been down for 65 minutes",
		"since": "2026-05-04 08:55 UTC", "facts": []map[string]string{{"name": "Target", "value": "hr-ldap"}}},
	notify.TemplateAlertResolved: {"rule": "target_down", "kind": "targetDown", "summary": "Target hr-ldap is up",
		"since": "2026-05-04 08:55 UTC", "resolved": "2026-05-04 10:02 UTC", "facts": []map[string]string{{"name": "Target", "value": "hr-ldap"}}},
	notify.TemplateTaskFailed: {"workflow": "leaver", "task": "disable", "displayName": "Ada Lovelace", "userName": "ada@example.com",
		"target": "hr-ldap", "attempts": 5, "error": "connection refused"},
	notify.TemplateGuestExpiry: {"managerDisplayName": "Charles Babbage", "displayName": "Ada <Guest>", "userName": "ada_example.com#EXT#@contoso.onmicrosoft.com",
		"expiry": "2026-06-30", "daysLeft": 14, "deleteOn": "2026-07-30", "rule": "rules[0].upnExternal", "why": "expiry.lifetime"},
	notify.TemplateReviewStarted: {"reviewName": "crm-quarterly", "description": "Keep only who still <needs> the CRM.",
		"reviewerDisplayName": "Charles Babbage", "items": 3, "pending": 3, "endDate": "2026-07-14 00:00 UTC", "daysLeft": 14,
		"lastDay": false, "url": "https://scimgate.example/reviews/?t=x&y", "secondStage": false},
	notify.TemplateReviewReminder: {"reviewName": "crm-quarterly", "description": "", "reviewerDisplayName": "Charles Babbage",
		"items": 3, "pending": 1, "endDate": "2026-07-14 00:00 UTC", "daysLeft": 1, "lastDay": true, "url": ""},
}

// TestDefaultTemplates: every default template renders its subject, text
// and HTML from its data, escaping data in the HTML.
func TestDefaultTemplates(t *testing.T) {
	tm, err := notify.LoadTemplates("")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"alert_raised", "alert_resolved", "guest_expiry", "leaver", "mover", "prehire_tap", "review_reminder", "review_started",
		"task_failed", "welcome"}
	if !slices.Equal(tm.Names(), want) {
		t.Errorf("Names = %q, want %q", tm.Names(), want)
	}
	for _, tc := range []struct {
		name    string
		subject string
		text    []string // in the text
		html    []string // in the HTML
	}{
		{notify.TemplateWelcome, "Welcome, Ada Lovelace", []string{"Hello Ada Lovelace,", "account ada@example.com is ready from 2026-05-11"},
			[]string{"<strong>ada@example.com</strong>"}},
		{notify.TemplatePreHireTAP, "Temporary Access Pass for Ada Lovelace, starting 2026-05-11",
			[]string{"Hello Charles Babbage,", "Temporary Access Pass: " + tap, "valid until 2026-05-11 18:00 UTC"}, []string{"<code>" + tap + "</code>"}},
		{notify.TemplateMover, "Ada Lovelace has moved", []string{"- department: Research -> Engines & <Analytics>"},
			[]string{"<li>department: Research &rarr; Engines &amp; &lt;Analytics&gt;</li>"}},
		{notify.TemplateLeaver, "Ada Lovelace leaves on 2026-06-30", []string{"disabled at the end of\n2026-06-30"}, []string{"2026-06-30"}},
		{notify.TemplateAlertRaised, "[scimgate] alert: target_down: Target hr-ldap has been down for 65 minutes",
			[]string{"Alert: Target hr-ldap has been down for 65 minutes.", "Target: hr-ldap"},
			[]string{"Target hr-ldap has been down for 65 minutes", "<td>hr-ldap</td>"}},
		{notify.TemplateAlertResolved, "[scimgate] resolved: target_down: Target hr-ldap is up",
			[]string{"Resolved: Target hr-ldap is up.", "it began 2026-05-04 08:55 UTC", "Target: hr-ldap"},
			[]string{"it began 2026-05-04 08:55 UTC", "<td>hr-ldap</td>"}},
		{notify.TemplateTaskFailed, "[scimgate] workflow leaver: task disable failed for ada@example.com",
			[]string{"(ada@example.com) on hr-ldap\nafter 5 attempt(s):\n\nconnection refused"}, []string{"<pre>connection refused</pre>"}},
		{notify.TemplateGuestExpiry, "Guest access of Ada <Guest> expires on 2026-06-30",
			[]string{"Hello Charles Babbage,", "expires on 2026-06-30,\nin 14 day(s)", "deleted on 2026-07-30"},
			[]string{"<strong>Ada &lt;Guest&gt;</strong>", "deleted on 2026-07-30"}},
		{notify.TemplateReviewStarted, "Access review crm-quarterly: 3 decision(s) to make by 2026-07-14 00:00 UTC",
			[]string{"Hello Charles Babbage,", "You review 3 item(s)", "Keep only who still <needs> the CRM.", "decide by 2026-07-14 00:00 UTC",
				"Review now: https://scimgate.example/reviews/?t=x&y"},
			[]string{"Keep only who still &lt;needs&gt; the CRM.", `<a href="https://scimgate.example/reviews/?t=x&amp;y">Review now</a>`}},
		{notify.TemplateReviewReminder, "Reminder: access review crm-quarterly ends on 2026-07-14 00:00 UTC",
			[]string{"1 of 3 item(s) of the access review crm-quarterly is not decided yet.", "ends on 2026-07-14 00:00 UTC, within a day"},
			[]string{"<strong>crm-quarterly</strong> is not decided yet"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, err := tm.Render(tc.name, data[tc.name])
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			if e.Subject != tc.subject {
				t.Errorf("Subject %q, want %q", e.Subject, tc.subject)
			}
			for _, s := range tc.text {
				if !strings.Contains(e.Text, s) {
					t.Errorf("text lacks %q:\n%s", s, e.Text)
				}
			}
			for _, s := range tc.html {
				if !strings.Contains(e.HTML, s) {
					t.Errorf("HTML lacks %q:\n%s", s, e.HTML)
				}
			}
			if strings.HasPrefix(e.Text, "\n") || !strings.HasSuffix(e.Text, "\n") || strings.HasSuffix(e.Text, "\n\n") {
				t.Errorf("text not trimmed: %q", e.Text)
			}
		})
	}
}

// TestTemplateMissingKey: a key missing from the data fails the render,
// naming the template and the key, in the text and in the HTML.
func TestTemplateMissingKey(t *testing.T) {
	tm, err := notify.LoadTemplates("")
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"displayName", "startDate"} {
		d := map[string]any{}
		for k, v := range data[notify.TemplateWelcome] {
			if k != key {
				d[k] = v
			}
		}
		_, err := tm.Render(notify.TemplateWelcome, d)
		if err == nil || !strings.Contains(err.Error(), `template "welcome"`) || !strings.Contains(err.Error(), `"`+key+`"`) {
			t.Errorf("Render without %s = %v; want an error naming the template and the key", key, err)
		}
	}
	if _, err := tm.Render("nosuch", nil); err == nil || !strings.Contains(err.Error(), `no template "nosuch"`) {
		t.Errorf("Render(nosuch) = %v", err)
	}
}

// TestTemplatesDir: a directory's templates replace the defaults of the
// same name and add new ones; a text-only override drops nothing else.
func TestTemplatesDir(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "welcome.txt", `{{define "subject"}}Hi {{.displayName}}{{end}}{{define "text"}}Custom welcome for {{.userName}}.{{end}}`)
	write(t, dir, "welcome.html", `<p>Custom {{.userName}}</p>`)
	write(t, dir, "badge.txt", `{{define "subject"}}Badge for {{.displayName}}{{end}}{{define "text"}}Collect it at {{.desk}}.{{end}}`)
	n, err := notify.New(notify.Config{TemplatesDir: dir}, notify.Options{})
	if err != nil {
		t.Fatal(err)
	}
	tm := n.Templates()
	if !slices.Contains(tm.Names(), "badge") || !slices.Contains(tm.Names(), "leaver") {
		t.Errorf("Names = %q", tm.Names())
	}
	e, err := tm.Render("welcome", data[notify.TemplateWelcome])
	if err != nil || e.Subject != "Hi Ada Lovelace" || e.Text != "Custom welcome for ada@example.com.\n" || e.HTML != "<p>Custom ada@example.com</p>" {
		t.Errorf("Render(welcome) = %+v, %v", e, err)
	}
	m, err := tm.RenderMessage("badge", map[string]any{"displayName": "Ada", "desk": "B2"})
	if err != nil || m.Title != "Badge for Ada" || m.Text != "Collect it at B2." {
		t.Errorf("RenderMessage(badge) = %+v, %v", m, err)
	}
	if _, err := tm.Render("badge", map[string]any{"displayName": "Ada"}); err == nil || !strings.Contains(err.Error(), `"desk"`) {
		t.Errorf("Render(badge) without desk = %v", err)
	}
}

// TestTemplatesDirErrors: a bad templates directory is refused, naming
// the file and the problem.
func TestTemplatesDirErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"syntax error", map[string]string{"welcome.txt": `{{define "subject"}}{{.x{{end}}`}, "welcome.txt"},
		{"no subject", map[string]string{"badge.txt": `{{define "text"}}x{{end}}`}, `badge.txt does not define "subject"`},
		{"html without text", map[string]string{"badge.html": `<p>x</p>`}, "badge.html has no badge.txt"},
		{"html syntax error", map[string]string{"welcome.html": `<p>{{if}}</p>`}, "welcome.html"},
		{"other file", map[string]string{"README.md": "x"}, "README.md: want only files NAME.txt or NAME.html"},
		{"upper-case name", map[string]string{"Welcome.txt": "x"}, "Welcome.txt"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for f, s := range tc.files {
				write(t, dir, f, s)
			}
			if _, err := notify.LoadTemplates(dir); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("LoadTemplates = %v; want an error with %q", err, tc.want)
			}
		})
	}
	if _, err := notify.LoadTemplates(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Errorf("LoadTemplates of a missing directory succeeded")
	}
}

// TestTAP: a TAP shows only through Reveal in a template: printed,
// logged or marshalled, it is [REDACTED]; and it never goes to a webhook.
func TestTAP(t *testing.T) {
	d := data[notify.TemplatePreHireTAP]
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	log.Info("render", "data", d)
	slog.New(slog.NewTextHandler(&logs, nil)).Info("render", "data", d, "tap", d["tap"])
	out := logs.String() + fmt.Sprint(d) + fmt.Sprintf("%v %+v %#v %s", d["tap"], d["tap"], d["tap"], d["tap"])
	if strings.Contains(out, tap) || !strings.Contains(out, "[REDACTED]") {
		t.Errorf("the TAP is disclosed:\n%s", out)
	}
	tm, err := notify.LoadTemplates("")
	if err != nil {
		t.Fatal(err)
	}
	e, err := tm.Render(notify.TemplatePreHireTAP, d)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(e.Subject, tap) {
		t.Errorf("the TAP is in the subject")
	}
	logs.Reset()
	log.Info("email", "email", e)
	if strings.Contains(logs.String(), tap) || !strings.Contains(logs.String(), e.Subject) {
		t.Errorf("Email.LogValue: %s", logs.String())
	}
	if _, err := tm.RenderMessage(notify.TemplatePreHireTAP, d); err == nil || !strings.Contains(err.Error(), "tap is a Temporary Access Pass") {
		t.Errorf("RenderMessage with a TAP = %v", err)
	}
}

func write(t *testing.T, dir, name, s string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestReviewTemplates: the access reviews' notices for a channel (no
// reviewer: no name, the whole review's counts), without a reviewer page
// (no link), and the halfway reminder (days left, several pending).
func TestReviewTemplates(t *testing.T) {
	tm, err := notify.LoadTemplates("")
	if err != nil {
		t.Fatal(err)
	}
	base := map[string]any{"reviewName": "guests", "description": "", "reviewerDisplayName": "", "items": 40, "pending": 12,
		"endDate": "2026-07-14 00:00 UTC", "daysLeft": 7, "lastDay": false, "url": "", "secondStage": false}
	for _, tc := range []struct {
		name, template, subject string
		text, notText           []string
		secondStage             bool
	}{
		{"started for a channel", notify.TemplateReviewStarted, "Access review guests: 12 decision(s) to make by 2026-07-14 00:00 UTC",
			[]string{"Hello,\n", "It reviews 40 item(s)"}, []string{"Review now", "You review", "second stage"}, false},
		{"second stage started", notify.TemplateReviewStarted, "Access review guests (second stage): 12 decision(s) to make by 2026-07-14 00:00 UTC",
			[]string{"the second stage of the access review guests has started: the first\nreviewers' decisions are shown"}, []string{"has started. It"}, true},
		{"halfway reminder", notify.TemplateReviewReminder, "Reminder: access review guests has 12 decision(s) pending",
			[]string{"12 of 40 item(s) of the access review guests are not decided yet.", "in 7 day(s)"}, []string{"within a day", "Review now"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := maps.Clone(base)
			data["secondStage"] = tc.secondStage
			m, err := tm.RenderMessage(tc.template, data)
			if err != nil {
				t.Fatal(err)
			}
			if m.Title != tc.subject {
				t.Errorf("title %q, want %q", m.Title, tc.subject)
			}
			for _, s := range tc.text {
				if !strings.Contains(m.Text, s) {
					t.Errorf("text lacks %q:\n%s", s, m.Text)
				}
			}
			for _, s := range tc.notText {
				if strings.Contains(m.Text, s) {
					t.Errorf("text has %q:\n%s", s, m.Text)
				}
			}
		})
	}
}
