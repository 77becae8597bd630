package guest

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/scimgate/scimgate/policy"
	"github.com/scimgate/scimgate/scim"
	"github.com/scimgate/scimgate/targets"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// extURN is the test's custom extension, with accessExpiresAt.
const extURN = "urn:ietf:params:scim:schemas:extension:Guests:2.0:User"

// testOptions compile with the User type extended by extURN.
func testOptions(t *testing.T) Options {
	t.Helper()
	rts, err := scim.ResourceTypes([]scim.CustomExtension{{URN: extURN, Resource: "User", Attributes: []scim.CustomAttribute{
		{Name: "accessExpiresAt", Type: "dateTime"},
		{Name: "sponsor", Type: "string"},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	return Options{Policy: []policy.Option{policy.WithResourceTypes(rts[0], rts[1])}, User: rts[0]}
}

// parse reads a guests: section as the configuration file gives it.
func parse(t *testing.T, text string) Config {
	t.Helper()
	dec := yaml.NewDecoder(strings.NewReader(text))
	dec.KnownFields(true)
	var c Config
	if err := dec.Decode(&c); err != nil {
		t.Fatalf("parse: %v", err)
	}
	return c
}

func compile(t *testing.T, text string) *Rules {
	t.Helper()
	r, err := Compile(parse(t, text), testOptions(t))
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	return r
}

const allRules = `
rules:
  - userType: Guest
  - upnExternal: true
  - homeDomains: [contoso.com, Contoso.co.uk]
  - group: Partners
  - expression: user.title == "Contractor"
expiry: {lifetime: 2160h}
`

func TestClassify(t *testing.T) {
	only := func(rule string) string { return "rules:\n  - " + rule + "\nexpiry: {lifetime: 2160h}\n" }
	partners := []GroupRef{{ID: "g-1", DisplayName: "Partners"}}
	for _, tc := range []struct {
		name   string
		cfg    string
		user   map[string]any
		groups []GroupRef
		want   string // the rule; "": no guest
	}{
		{"userType guest", only("userType: Guest"), map[string]any{"userName": "a@contoso.com", "userType": "Guest"}, nil, "rules[0].userType"},
		{"userType case-insensitive", only("userType: Guest"), map[string]any{"userType": "GUEST"}, nil, "rules[0].userType"},
		{"userType member", only("userType: Guest"), map[string]any{"userType": "Member"}, nil, ""},
		{"userType absent", only("userType: Guest"), map[string]any{"userName": "a@contoso.com"}, nil, ""},
		{"userType attribute name in any case", only("userType: Guest"), map[string]any{"usertype": "guest"}, nil, "rules[0].userType"},
		{"upnExternal", only("upnExternal: true"), map[string]any{"userName": "ann_fabrikam.com#EXT#@contoso.onmicrosoft.com"}, nil, "rules[0].upnExternal"},
		{"upnExternal lower case", only("upnExternal: true"), map[string]any{"userName": "ann_fabrikam.com#ext#@contoso.onmicrosoft.com"}, nil, "rules[0].upnExternal"},
		{"upnExternal internal", only("upnExternal: true"), map[string]any{"userName": "ann@contoso.com"}, nil, ""},
		{"homeDomains userName outside", only("homeDomains: [contoso.com]"), map[string]any{"userName": "bob@fabrikam.com"}, nil, "rules[0].homeDomains"},
		{"homeDomains userName inside any case", only("homeDomains: [contoso.com]"), map[string]any{"userName": "bob@CONTOSO.com"}, nil, ""},
		{"homeDomains primary email outside", only("homeDomains: [contoso.com]"), map[string]any{"userName": "bob@contoso.com",
			"emails": []any{map[string]any{"value": "bob@fabrikam.com", "primary": true}}}, nil, "rules[0].homeDomains"},
		{"homeDomains work email outside", only("homeDomains: [contoso.com]"), map[string]any{"userName": "bob",
			"emails": []any{map[string]any{"value": "bob@fabrikam.com", "type": "Work"}}}, nil, "rules[0].homeDomains"},
		{"homeDomains other email ignored", only("homeDomains: [contoso.com]"), map[string]any{"userName": "bob@contoso.com",
			"emails": []any{map[string]any{"value": "bob@gmail.com", "type": "home"}}}, nil, ""},
		{"homeDomains every domain inside", only("homeDomains: [contoso.com, contoso.co.uk]"), map[string]any{"userName": "bob@contoso.co.uk",
			"emails": []any{map[string]any{"value": "bob@Contoso.com", "primary": true}}}, nil, ""},
		{"homeDomains subdomain is outside", only("homeDomains: [contoso.com]"), map[string]any{"userName": "bob@eu.contoso.com"}, nil, "rules[0].homeDomains"},
		{"homeDomains no domain", only("homeDomains: [contoso.com]"), map[string]any{"userName": "bob"}, nil, ""},
		{"group by id", only("group: g-1"), map[string]any{"userName": "c"}, partners, "rules[0].group"},
		{"group by displayName", only("group: partners"), map[string]any{"userName": "c"}, partners, "rules[0].group"},
		{"group not a member", only("group: Vendors"), map[string]any{"userName": "c"}, partners, ""},
		{"expression true", only(`expression: user.title == "Contractor"`), map[string]any{"title": "Contractor"}, nil, "rules[0].expression"},
		{"expression false", only(`expression: user.title == "Contractor"`), map[string]any{"title": "Engineer"}, nil, ""},
		{"expression over groups", only(`expression: 'user.groups.exists(g, g.display == "Partners")'`), map[string]any{"userName": "c"}, partners, "rules[0].expression"},
		{"expression over an extension", only(`expression: 'IsPresent(user["` + extURN + `"].sponsor)'`), map[string]any{extURN: map[string]any{"sponsor": "ann"}}, nil, "rules[0].expression"},
		{"expression over an extension, absent", only(`expression: 'IsPresent(user["` + extURN + `"].sponsor)'`), map[string]any{"userName": "c"}, nil, ""},
		{"all rules, none matches", allRules, map[string]any{"userName": "d@contoso.com", "userType": "Member", "title": "Engineer"}, nil, ""},
		{"all rules, the first matching reported", allRules, map[string]any{"userName": "d@fabrikam.com", "userType": "Member", "title": "Contractor"}, partners, "rules[2].homeDomains"},
		{"all rules, only the last matches", allRules, map[string]any{"userName": "d@contoso.com", "title": "Contractor"}, nil, "rules[4].expression"},
		{"all rules, every one matches", allRules, map[string]any{"userName": "d_f.com#EXT#@fabrikam.com", "userType": "guest", "title": "Contractor"}, partners, "rules[0].userType"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			guest, rule := compile(t, tc.cfg).Classify(tc.user, tc.groups)
			if guest != (tc.want != "") || rule != tc.want {
				t.Errorf("Classify = %v, %q; want %v, %q", guest, rule, tc.want != "", tc.want)
			}
		})
	}
}

func TestExpiry(t *testing.T) {
	created := time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	user := func(expiresAt any) map[string]any {
		u := map[string]any{"userName": "g@fabrikam.com", "meta": map[string]any{"created": created.Format(time.RFC3339)}}
		if expiresAt != nil {
			u[extURN] = map[string]any{"accessExpiresAt": expiresAt}
		}
		return u
	}
	const all = `
rules: [{userType: Guest}]
expiry:
  lifetime: 2160h                # 90 days after creation
  afterApproval: 720h            # 30 days after the last approval
  attribute: urn:ietf:params:scim:schemas:extension:Guests:2.0:User:accessExpiresAt
  inactivity: 1440h              # 60 days without a sign-in
`
	for _, tc := range []struct {
		name  string
		cfg   string
		user  map[string]any
		facts Facts
		want  time.Time
		why   string // "": no expiry
	}{
		{"lifetime", "rules: [{userType: Guest}]\nexpiry: {lifetime: 2160h}\n", user(nil), Facts{}, created.Add(90 * day), "expiry.lifetime"},
		{"lifetime without meta.created", "rules: [{userType: Guest}]\nexpiry: {lifetime: 2160h}\n", map[string]any{"userName": "g"}, Facts{}, time.Time{}, ""},
		{"afterApproval", "rules: [{userType: Guest}]\nexpiry: {afterApproval: 720h}\n", user(nil), Facts{LastApproval: created.Add(10 * day)}, created.Add(40 * day), "expiry.afterApproval"},
		{"afterApproval never approved", "rules: [{userType: Guest}]\nexpiry: {afterApproval: 720h}\n", user(nil), Facts{}, time.Time{}, ""},
		{"attribute", "rules: [{userType: Guest}]\nexpiry: {attribute: " + extURN + ":accessExpiresAt}\n", user("2026-02-01T00:00:00+01:00"), Facts{}, time.Date(2026, 1, 31, 23, 0, 0, 0, time.UTC), "expiry.attribute"},
		{"attribute a date alone", "rules: [{userType: Guest}]\nexpiry: {attribute: " + extURN + ":accessExpiresAt}\n", user("2026-02-01"), Facts{}, time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC), "expiry.attribute"},
		{"attribute case-insensitive path", "rules: [{userType: Guest}]\nexpiry: {attribute: " + strings.ToLower(extURN) + ":ACCESSEXPIRESAT}\n", user("2026-02-01"), Facts{}, time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC), "expiry.attribute"},
		{"attribute without its URN (one extension has it)", "rules: [{userType: Guest}]\nexpiry: {attribute: accessExpiresAt}\n", user("2026-02-01"), Facts{}, time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC), "expiry.attribute"},
		{"attribute meta.created", "rules: [{userType: Guest}]\nexpiry: {attribute: meta.created}\n", user(nil), Facts{}, created, "expiry.attribute"},
		{"attribute absent", "rules: [{userType: Guest}]\nexpiry: {attribute: " + extURN + ":accessExpiresAt}\n", user(nil), Facts{}, time.Time{}, ""},
		{"attribute not a date", "rules: [{userType: Guest}]\nexpiry: {attribute: " + extURN + ":accessExpiresAt}\n", user("soon"), Facts{}, time.Time{}, ""},
		{"inactivity", "rules: [{userType: Guest}]\nexpiry: {inactivity: 1440h}\n", user(nil), Facts{LastSignIn: created.Add(5 * day)}, created.Add(65 * day), "expiry.inactivity"},
		{"inactivity never signed in", "rules: [{userType: Guest}]\nexpiry: {inactivity: 1440h}\n", user(nil), Facts{}, time.Time{}, ""},
		{"all, lifetime earliest", all, user("2026-12-31"), Facts{LastApproval: created.Add(70 * day), LastSignIn: created.Add(50 * day)}, created.Add(90 * day), "expiry.lifetime"},
		{"all, approval earliest", all, user("2026-12-31"), Facts{LastApproval: created.Add(20 * day), LastSignIn: created.Add(50 * day)}, created.Add(50 * day), "expiry.afterApproval"},
		{"all, attribute earliest", all, user("2026-01-15T00:00:00Z"), Facts{LastApproval: created.Add(20 * day), LastSignIn: created.Add(50 * day)}, time.Date(2026, 1, 15, 0, 0, 0, 0, time.UTC), "expiry.attribute"},
		{"all, inactivity earliest", all, user("2026-12-31"), Facts{LastApproval: created.Add(70 * day), LastSignIn: created.Add(1 * day)}, created.Add(61 * day), "expiry.inactivity"},
		{"all, missing facts ignored", all, user(nil), Facts{}, created.Add(90 * day), "expiry.lifetime"},
		{"all, nothing applies", all, map[string]any{"userName": "g"}, Facts{}, time.Time{}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			at, why, ok := compile(t, tc.cfg).Expiry(tc.user, tc.facts)
			if ok != (tc.why != "") || why != tc.why || !at.Equal(tc.want) {
				t.Errorf("Expiry = %v, %q, %v; want %v, %q, %v", at, why, ok, tc.want, tc.why, tc.why != "")
			}
		})
	}
}

// TestInvalidConfigs checks every validation message: each
// testdata/invalid/*.yaml is a bad guests: section and the .golden file
// next to it holds Compile's full error text (go test -update rewrites
// them); every problem is a targets.FieldError, and Validate reports the
// same ones but those needing the schema.
func TestInvalidConfigs(t *testing.T) {
	files, err := filepath.Glob("testdata/invalid/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata/invalid/*.yaml: %v", err)
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".yaml"), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			cfg := parse(t, string(data))
			r, err := Compile(cfg, testOptions(t))
			if err == nil || r != nil {
				t.Fatalf("Compile = %v, %v; want an error", r, err)
			}
			for _, e := range joined(err) {
				var ce *targets.ConfigError
				if !errors.As(e, &ce) || ce.Field == "" {
					t.Errorf("%v is not a targets.FieldError", e)
				}
			}
			// Validate gives Compile's problems but the schema's, in order.
			var fromValidate []string
			for _, e := range joined(cfg.Validate()) {
				fromValidate = append(fromValidate, e.Error())
			}
			var compiled []string
			for _, e := range joined(err) {
				compiled = append(compiled, e.Error())
			}
			if len(fromValidate) > len(compiled) || strings.Join(fromValidate, "\n") != strings.Join(compiled[:len(fromValidate)], "\n") {
				t.Errorf("Validate's problems are not the first of Compile's:\n%s\nvs\n%s", strings.Join(fromValidate, "\n"), strings.Join(compiled, "\n"))
			}
			golden := strings.TrimSuffix(file, ".yaml") + ".golden"
			got := err.Error() + "\n"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if got != string(want) {
				t.Errorf("errors differ from %s (go test -update rewrites it):\n got:\n%s\nwant:\n%s", golden, got, want)
			}
		})
	}
}

// TestValidConfig checks that a configuration using every field is valid
// and keeps what it says.
func TestValidConfig(t *testing.T) {
	cfg := parse(t, allRules+`
notices: [336h, 72h]
deleteInEntra: true
blockInEntra: true
`)
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	r, err := Compile(cfg, testOptions(t))
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	if r.Grace() != DefaultGrace || !r.Config().DeleteInEntra || !r.Config().BlockInEntra || len(r.Config().Notices) != 2 {
		t.Errorf("compiled %+v, grace %v", r.Config(), r.Grace())
	}
	cfg.Grace = time.Hour
	if r, err := Compile(cfg, testOptions(t)); err != nil || r.Grace() != time.Hour {
		t.Errorf("grace 1h: %v, %v", r, err)
	}
}
