package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/scimgate/scimgate/internal/config"
	"github.com/scimgate/scimgate/internal/guest"
	"github.com/scimgate/scimgate/targets/registry"
)

// TestGuestsSection: the guests section is validated with the others:
// its own problems (rules, expiry, notices) and what it needs of the
// other sections (entra for the directory and sign-ins, notifications
// for the notices and their channels), each named by its path; a
// complete section passes.
func TestGuestsSection(t *testing.T) {
	const entra = `entra:
  tenant_id: contoso.onmicrosoft.com
  client_id: 00000000-0000-0000-0000-000000000000
  credential: client_secret
  client_secret_env: ENTRA_SECRET
  features: {enable_disable: true, delete_users: true, sign_in_activity: true}
notifications:
  smtp: {host: smtp.example.com, from: scimgate@example.com}
  webhooks: [{name: ops, url: "https://hooks.example.com/x"}]
`
	for _, tc := range []struct {
		name, yaml string
		errs       []string
	}{
		{name: "complete", yaml: entra + `guests:
  rules: [{upnExternal: true}, {homeDomains: [contoso.com]}]
  expiry: {lifetime: 4320h, inactivity: 2160h}
  notices: [336h, 72h]
  noticeTo: [manager, guest, security@contoso.com]
  noticeChannels: [ops]
  blockInEntra: true
  deleteInEntra: true
`},
		{name: "its own problems", yaml: entra + `guests:
  rules: [{upnExternal: true, userType: Guest}, {expression: "user.userName.startsWith("}]
  expiry: {attribute: "urn:x:nope"}
  notices: [72h, 72h]
  noticeTo: [boss]
`, errs: []string{
			"guests.rules[0]: set exactly one of userType, upnExternal, homeDomains, group, expression",
			"guests.notices[1]: 72h0m0s listed twice (also notices[0])",
			`guests.noticeTo[0]: "boss": want manager, guest or an email address`,
			"guests.rules[1].expression: 1:26: Syntax error: mismatched input '<EOF>' expecting {'[', '{', '(', ')', '.', '-', '!', 'true', 'false', 'null', NUM_FLOAT, NUM_INT, NUM_UINT, STRING, BYTES, IDENTIFIER}\n | user.userName.startsWith(\n | .........................^",
			`guests.expiry.attribute: unknown attribute: "urn:x:nope" is not an attribute of User`,
		}},
		{name: "last login of a target", yaml: `guests:
  rules: [{upnExternal: true}]
  expiry: {inactivity: 2160h, lastLogin: {target: app, attribute: lastLogin}}
targets:
  - name: app
    type: memory
    users: {scope: {all: true}, mapping: [{target: userName, source: userName}]}
`},
		{name: "last login wrong", yaml: `guests:
  rules: [{upnExternal: true}]
  expiry: {lifetime: 24h, lastLogin: {target: nope}}
`, errs: []string{
			"guests.expiry.lastLogin: only with expiry.inactivity (the last login measures it)",
			"guests.expiry.lastLogin.attribute: required: the attribute of the target's accounts that holds the last login",
			`guests.expiry.lastLogin.target: "nope": no such target`,
		}},
		{name: "without entra nor notifications", yaml: `guests:
  rules: [{upnExternal: true}]
  expiry: {inactivity: 2160h}
  notices: [72h]
  noticeChannels: [ops]
  blockInEntra: true
`, errs: []string{
			"guests: blockInEntra and deleteInEntra need the entra section",
			"guests.expiry.inactivity: needs the entra section with features.sign_in_activity, or expiry.lastLogin (where the last sign-ins are read)",
			`guests.noticeChannels[0]: "ops" is not a webhook of the notifications section`,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "scimgate.yaml")
			if err := os.WriteFile(file, []byte(tc.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			c, err := config.Load(file, nil)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			var got []string
			if err := c.Validate(registry.New(registry.Services{})); err != nil {
				for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
					if _, ok := errors.AsType[*config.FieldError](e); !ok {
						t.Errorf("%v is not a *config.FieldError", e)
					}
					got = append(got, e.Error())
				}
			}
			if !slices.Equal(got, tc.errs) {
				t.Errorf("Validate:\n got %q\nwant %q", got, tc.errs)
			}
		})
	}
}

// TestExampleGuests: examples/guests.yaml is a complete, valid
// configuration whose guest rules compile as the gateway compiles them.
func TestExampleGuests(t *testing.T) {
	c, err := config.Load(filepath.Join("..", "..", "examples", "guests.yaml"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(registry.New(registry.Services{})); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	if c.Guests == nil || len(c.Guests.Rules) != 2 {
		t.Fatalf("guests section %+v", c.Guests)
	}
	if _, err := guest.Compile(*c.Guests, c.GuestOptions()); err != nil {
		t.Fatalf("Compile: %v", err)
	}
}

// TestExampleReviews: examples/reviews.yaml is a complete, valid
// configuration.
func TestExampleReviews(t *testing.T) {
	c, err := config.Load(filepath.Join("..", "..", "examples", "reviews.yaml"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(registry.New(registry.Services{})); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	if len(c.Reviews) != 2 || c.Reviews[0].SecondStage == nil || c.Reviews[0].SecondStage.DurationDays != 7 {
		t.Fatalf("reviews %+v", c.Reviews)
	}
}

// TestExampleReplicas: examples/replicas.yaml is valid with its DSN in
// SCIMGATE_STORE_DSN, and names a postgres store.
func TestExampleReplicas(t *testing.T) {
	c, err := config.Load(filepath.Join("..", "..", "examples", "replicas.yaml"),
		[]string{"SCIMGATE_STORE_DSN=postgres://scimgate:secret@127.0.0.1:5432/scimgate"})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(registry.New(registry.Services{})); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	if c.Store.Type != config.StorePostgres || c.PublicURL == "" {
		t.Errorf("store %+v, public_url %q", c.Store, c.PublicURL)
	}
	c, err = config.Load(filepath.Join("..", "..", "examples", "replicas.yaml"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(registry.New(registry.Services{})); err == nil || !strings.Contains(err.Error(), "store.dsn") {
		t.Errorf("Validate without the DSN: %v, want a store.dsn problem", err)
	}
}
