package ldaptarget

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	ldap "github.com/go-ldap/ldap/v3"
	"github.com/google/uuid"

	"github.com/scimgate/scimgate/internal/ldaptest"
	"github.com/scimgate/scimgate/targets"
)

// newOp returns an operation on a new object.
func newOp(kind targets.Kind, attrs map[string]any) targets.Op {
	return targets.Op{ID: uuid.NewString(), ObjectID: uuid.NewString(), Kind: kind, Attrs: attrs}
}

// next returns a new operation on op's object.
func next(op targets.Op, attrs map[string]any, members ...string) targets.Op {
	return targets.Op{ID: uuid.NewString(), ObjectID: op.ObjectID, Kind: op.Kind, Anchor: op.Anchor, Attrs: attrs, Members: members}
}

// mustCreate creates an object and returns op with its anchor.
func mustCreate(t *testing.T, c *Connector, op targets.Op) targets.Op {
	t.Helper()
	a, err := c.Create(t.Context(), op)
	if err != nil {
		t.Fatalf("Create %v: %v", op.Attrs, err)
	}
	op.Anchor = a
	return op
}

func user(uid string, extra ...any) targets.Op {
	attrs := map[string]any{"uid": uid, "cn": uid, "sn": "S"}
	for i := 0; i+1 < len(extra); i += 2 {
		attrs[extra[i].(string)] = extra[i+1]
	}
	return newOp(targets.User, attrs)
}

func must(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// entry reads the entry with the anchor straight from the directory.
func entry(t *testing.T, s *ldaptest.Server, anchor string) *ldap.Entry {
	t.Helper()
	es := s.Entries(t, ldaptest.BaseDN, eq("entryUUID", anchor))
	if len(es) != 1 {
		t.Fatalf("%d entries with entryUUID %s, want 1", len(es), anchor)
	}
	return es[0]
}

// memberValues returns the values of attr of the group with the anchor.
func memberValues(t *testing.T, s *ldaptest.Server, anchor, attr string) []string {
	t.Helper()
	v := slices.Clone(entry(t, s, anchor).GetEqualFoldAttributeValues(attr))
	slices.Sort(v)
	return v
}

func TestGroupStyles(t *testing.T) {
	s := ldaptest.Start(t)
	for _, c := range []struct {
		style, attr, placeholder string
		groupExtra               map[string]any
		value                    func(dn, uid string) string
	}{
		{StyleGroupOfNames, "member", "cn=nobody,dc=example,dc=org", nil, func(dn, _ string) string { return dn }},
		{StyleGroupOfUniqueNames, "uniqueMember", "cn=nobody,dc=example,dc=org", nil, func(dn, _ string) string { return dn }},
		{StylePosixGroup, "memberUid", "", map[string]any{"gidNumber": int64(5000)}, func(_, uid string) string { return uid }},
	} {
		t.Run(c.style, func(t *testing.T) {
			cfg := testConfig(t, s)
			cfg.Users.DNTemplate = "uid={uid},ou=people,dc=example,dc=org"
			cfg.Groups.Style = c.style
			cfg.Groups.ObjectClasses = nil
			cfg.Groups.ObjectIDAttribute = ""
			cfg.Groups.PlaceholderMember = c.placeholder
			cfg.Groups.DNTemplate = "cn={cn},ou=groups,dc=example,dc=org"
			conn := open(t, cfg)
			p := c.style + "-"
			u1 := mustCreate(t, conn, user(p+"u1"))
			u2 := mustCreate(t, conn, user(p+"u2"))
			gattrs := map[string]any{"cn": p + "g"}
			for k, v := range c.groupExtra {
				gattrs[k] = v
			}
			g := mustCreate(t, conn, newOp(targets.Group, gattrs))
			var placeholder []string
			if c.placeholder != "" {
				placeholder = []string{c.placeholder}
			}
			if got := memberValues(t, s, g.Anchor, c.attr); !slices.Equal(got, placeholder) {
				t.Errorf("new group: %s %q, want %q", c.attr, got, placeholder)
			}
			o, err := conn.Get(t.Context(), targets.Group, g.Anchor)
			must(t, "Get", err)
			if len(o.Members) != 0 {
				t.Errorf("new group: members %q, want none (the placeholder is not a member)", o.Members)
			}
			u1dn, u2dn := entry(t, s, u1.Anchor).DN, entry(t, s, u2.Anchor).DN
			must(t, "AddMembers", conn.AddMembers(t.Context(), next(g, nil, u1.Anchor, u2.Anchor)))
			must(t, "AddMembers repeated", conn.AddMembers(t.Context(), next(g, nil, u1.Anchor)))
			want := []string{c.value(u1dn, p+"u1"), c.value(u2dn, p+"u2")}
			slices.Sort(want)
			if got := memberValues(t, s, g.Anchor, c.attr); !slices.Equal(got, want) {
				t.Errorf("after AddMembers: %s %q, want %q (no placeholder)", c.attr, got, want)
			}
			o, err = conn.Get(t.Context(), targets.Group, g.Anchor)
			must(t, "Get", err)
			slices.Sort(o.Members)
			if wantA := slices.Sorted(slices.Values([]string{u1.Anchor, u2.Anchor})); !slices.Equal(o.Members, wantA) {
				t.Errorf("Get members %q, want %q", o.Members, wantA)
			}
			must(t, "RemoveMembers", conn.RemoveMembers(t.Context(), next(g, nil, u1.Anchor, u2.Anchor)))
			must(t, "RemoveMembers repeated", conn.RemoveMembers(t.Context(), next(g, nil, u1.Anchor)))
			if got := memberValues(t, s, g.Anchor, c.attr); !slices.Equal(got, placeholder) {
				t.Errorf("after removing every member: %s %q, want %q", c.attr, got, placeholder)
			}

			// Deleting a user removes it from its groups; renaming it
			// updates them.
			must(t, "AddMembers", conn.AddMembers(t.Context(), next(g, nil, u1.Anchor, u2.Anchor)))
			must(t, "rename u1", conn.Update(t.Context(), next(u1, map[string]any{"uid": p + "u1r"})))
			if o := entry(t, s, u1.Anchor); !strings.HasPrefix(o.DN, "uid="+p+"u1r,") {
				t.Errorf("renamed user has DN %s", o.DN)
			}
			u1dn = entry(t, s, u1.Anchor).DN
			must(t, "Delete u2", conn.Delete(t.Context(), next(u2, nil)))
			want = []string{c.value(u1dn, p+"u1r")}
			if got := memberValues(t, s, g.Anchor, c.attr); !slices.Equal(got, want) {
				t.Errorf("after renaming u1 and deleting u2: %s %q, want %q", c.attr, got, want)
			}
			must(t, "Delete u1", conn.Delete(t.Context(), next(u1, nil)))
			if got := memberValues(t, s, g.Anchor, c.attr); !slices.Equal(got, placeholder) {
				t.Errorf("after deleting every member: %s %q, want %q", c.attr, got, placeholder)
			}
			must(t, "Delete group", conn.Delete(t.Context(), next(g, nil)))
		})
	}
}

func TestDisableMethods(t *testing.T) {
	s := ldaptest.Start(t)
	for _, c := range []struct {
		name    string
		disable DisableConfig
		check   func(t *testing.T, e *ldap.Entry) bool // reports disabled in the directory
	}{
		{"ppolicy", DisableConfig{Method: DisablePPolicy}, func(t *testing.T, e *ldap.Entry) bool {
			return e.GetAttributeValue("pwdAccountLockedTime") == lockedForever
		}},
		{"attribute", DisableConfig{Method: DisableAttribute, Attribute: "employeeType", DisabledValue: "disabled", EnabledValue: "active"}, func(t *testing.T, e *ldap.Entry) bool {
			v := e.GetAttributeValue("employeeType")
			if v != "disabled" && v != "active" {
				t.Errorf("employeeType = %q", v)
			}
			return v == "disabled"
		}},
		{"ou", DisableConfig{Method: DisableOU, DN: ldaptest.DisabledDN}, func(t *testing.T, e *ldap.Entry) bool {
			return strings.HasSuffix(e.DN, ","+ldaptest.DisabledDN)
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := testConfig(t, s)
			cfg.Users.ObjectIDAttribute = ""
			cfg.Disable = &c.disable
			conn := open(t, cfg)
			u := mustCreate(t, conn, user(c.name+"-u", "userPassword", "Initial-Pw-1"))
			g := mustCreate(t, conn, newOp(targets.Group, map[string]any{"cn": c.name + "-g"}))
			must(t, "AddMembers", conn.AddMembers(t.Context(), next(g, nil, u.Anchor)))
			bind := func() error {
				lc := s.MustDial(t)
				return lc.Bind(entry(t, s, u.Anchor).DN, "Initial-Pw-1")
			}
			must(t, "bind as the new user", bind())
			state := func(what string, want bool) {
				t.Helper()
				o, err := conn.Get(t.Context(), targets.User, u.Anchor)
				must(t, what+": Get", err)
				if o.Disabled != want {
					t.Errorf("%s: Disabled = %v, want %v", what, o.Disabled, want)
				}
				if got := c.check(t, entry(t, s, u.Anchor)); got != want {
					t.Errorf("%s: the directory says disabled = %v, want %v", what, got, want)
				}
				if _, ok := o.Attrs["userPassword"]; ok {
					t.Errorf("%s: Get returns the password", what)
				}
				m, err := conn.Get(t.Context(), targets.Group, g.Anchor)
				must(t, what+": Get group", err)
				if !slices.Equal(m.Members, []string{u.Anchor}) {
					t.Errorf("%s: group members %q, want the user", what, m.Members)
				}
			}
			must(t, "Disable", conn.Disable(t.Context(), next(u, nil)))
			state("after Disable", true)
			if c.name == "ppolicy" {
				if err := bind(); !ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials) {
					t.Errorf("bind as a locked user: %v, want invalid credentials", err)
				}
			}
			must(t, "Disable repeated", conn.Disable(t.Context(), next(u, nil)))
			must(t, "rename while disabled", conn.Update(t.Context(), next(u, map[string]any{"uid": c.name + "-u2", "cn": c.name + "-u2"})))
			state("after a rename while disabled", true)
			must(t, "Enable", conn.Enable(t.Context(), next(u, nil)))
			state("after Enable", false)
			must(t, "bind after Enable", bind())
			must(t, "Enable repeated", conn.Enable(t.Context(), next(u, nil)))
			state("after Enable repeated", false)
		})
	}
}

// TestMove: a change of the attribute in the OU of the template moves the
// entry, keeping its anchor.
func TestMove(t *testing.T) {
	s := ldaptest.Start(t)
	lc := s.MustDial(t)
	for _, ou := range []string{"sales", "it"} {
		r := ldap.NewAddRequest("ou="+ou+","+ldaptest.PeopleDN, nil)
		r.Attribute("objectClass", []string{"organizationalUnit"})
		r.Attribute("ou", []string{ou})
		must(t, "add ou", lc.Add(r))
	}
	cfg := testConfig(t, s)
	cfg.Users.DNTemplate = "uid={uid},ou={departmentNumber},ou=people,dc=example,dc=org"
	conn := open(t, cfg)
	u := mustCreate(t, conn, user("mover", "departmentNumber", "sales"))
	if dn := entry(t, s, u.Anchor).DN; dn != "uid=mover,ou=sales,ou=people,dc=example,dc=org" {
		t.Fatalf("DN %s", dn)
	}
	must(t, "move", conn.Update(t.Context(), next(u, map[string]any{"departmentNumber": "it"})))
	if dn := entry(t, s, u.Anchor).DN; dn != "uid=mover,ou=it,ou=people,dc=example,dc=org" {
		t.Errorf("after the move: DN %s", dn)
	}
	err := conn.Update(t.Context(), next(u, map[string]any{"departmentNumber": "nowhere", "displayName": "moved"}))
	if targets.Class(err) != targets.ErrPermanent {
		t.Errorf("move to a missing OU: %v, want a permanent error", err)
	}
	e := entry(t, s, u.Anchor)
	if e.DN != "uid=mover,ou=it,ou=people,dc=example,dc=org" || e.GetAttributeValue("departmentNumber") != "it" || e.GetAttributeValue("displayName") != "" {
		t.Errorf("the refused move changed the entry: %s %v", e.DN, e.Attributes)
	}
}

// TestRefusedUpdateChangesNothing: an Update that renames and sets a value
// the directory refuses leaves the entry as it was.
func TestRefusedUpdateChangesNothing(t *testing.T) {
	s := ldaptest.Start(t)
	conn := open(t, testConfig(t, s))
	u := mustCreate(t, conn, user("keep", "displayName", "before"))
	for _, attrs := range []map[string]any{
		{"uid": "renamed", "displayName": "after", "noSuchAttr": "x"},
		{"uid": "renamed", "displayName": "after", "mail": "not ascii é"},
	} {
		err := conn.Update(t.Context(), next(u, attrs))
		if targets.Class(err) != targets.ErrPermanent {
			t.Errorf("Update %v: %v, want a permanent error", attrs, err)
		}
		e := entry(t, s, u.Anchor)
		if e.DN != "uid=keep,"+ldaptest.PeopleDN || e.GetAttributeValue("displayName") != "before" {
			t.Errorf("the refused Update %v changed the entry: %s %v", attrs, e.DN, e.Attributes)
		}
	}
}

// TestErrors: the engine's error classes, from a real server.
func TestErrors(t *testing.T) {
	s := ldaptest.Start(t)
	conn := open(t, testConfig(t, s))
	ctx := t.Context()

	// An objectClass violation is permanent and names the attribute.
	const pw = "Secret-Initial-Pw-9"
	_, err := conn.Create(ctx, newOp(targets.User, map[string]any{"uid": "nosn", "cn": "x", "userPassword": pw}))
	if targets.Class(err) != targets.ErrPermanent || !strings.Contains(err.Error(), "sn") {
		t.Errorf("Create without sn: %v, want a permanent error naming sn", err)
	}
	if err != nil && strings.Contains(err.Error(), pw) {
		t.Errorf("the error shows the password: %v", err)
	}
	// An undefined attribute and an invalid syntax are permanent.
	_, err = conn.Create(ctx, user("undef", "noSuchAttr", "x"))
	if targets.Class(err) != targets.ErrPermanent || !strings.Contains(err.Error(), "noSuchAttr") {
		t.Errorf("Create with an undefined attribute: %v, want a permanent error naming it", err)
	}
	// The same DN twice is a conflict with the existing anchor.
	u := mustCreate(t, conn, user("dup"))
	_, err = conn.Create(ctx, user("dup"))
	var ce *targets.ConflictError
	if !errors.As(err, &ce) || ce.Anchor != u.Anchor || ce.ObjectID != u.ObjectID {
		t.Errorf("Create of a taken uid: %v, want a conflict with anchor %s", err, u.Anchor)
	}
	// Delete of a missing entry succeeds; Update is not found.
	must(t, "Delete", conn.Delete(ctx, next(u, nil)))
	must(t, "Delete again", conn.Delete(ctx, next(u, nil)))
	if err := conn.Update(ctx, next(u, map[string]any{"sn": "x"})); targets.Class(err) != targets.ErrNotFound {
		t.Errorf("Update of a deleted user: %v, want not found", err)
	}
	// An invalid anchor finds nothing (and is never put raw in a filter).
	if _, err := conn.Get(ctx, targets.User, "*"); targets.Class(err) != targets.ErrNotFound {
		t.Errorf("Get of anchor *: %v, want not found", err)
	}
	for code, want := range map[uint16]error{
		ldap.LDAPResultBusy:                     targets.ErrTransient,
		ldap.LDAPResultUnavailable:              targets.ErrTransient,
		ldap.LDAPResultServerDown:               targets.ErrTransient,
		ldap.ErrorNetwork:                       targets.ErrTransient,
		ldap.LDAPResultConstraintViolation:      targets.ErrPermanent,
		ldap.LDAPResultObjectClassViolation:     targets.ErrPermanent,
		ldap.LDAPResultInsufficientAccessRights: targets.ErrPermanent,
		ldap.LDAPResultNoSuchObject:             targets.ErrNotFound,
		ldap.LDAPResultEntryAlreadyExists:       targets.ErrConflict,
	} {
		if got := targets.Class(classify("x", ldap.NewError(code, errors.New("d")))); got != want {
			t.Errorf("result code %d: class %v, want %v", code, got, want)
		}
	}
}

// TestServerDown: a stopped or hanging server is a transient error within
// the call's deadline, and the pool reconnects when it is back.
func TestServerDown(t *testing.T) {
	s := ldaptest.Start(t)
	conn := open(t, testConfig(t, s))
	u := mustCreate(t, conn, user("survivor"))
	must(t, "Health", conn.Health(t.Context()))

	resume := s.Pause(t)
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	start := time.Now()
	_, err := conn.Get(ctx, targets.User, u.Anchor)
	cancel()
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Get from a hanging server took %v, past its deadline", d)
	}
	if err == nil || targets.Class(err) != targets.ErrTransient {
		t.Errorf("Get from a hanging server: %v, want a transient error", err)
	}
	hctx, hcancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	if err := conn.Health(hctx); err == nil {
		t.Errorf("Health of a hanging server: nil, want an error")
	}
	hcancel()
	resume()

	s.Restart(t)
	_, err = conn.Get(t.Context(), targets.User, u.Anchor)
	if err != nil {
		// The first call may meet a connection broken by the restart.
		t.Logf("first Get after the restart: %v", err)
		if targets.Class(err) != targets.ErrTransient {
			t.Errorf("first Get after the restart: %v, want success or a transient error", err)
		}
		_, err = conn.Get(t.Context(), targets.User, u.Anchor)
	}
	must(t, "Get after the restart", err)
	must(t, "Health after the restart", conn.Health(t.Context()))
}

func TestTLS(t *testing.T) {
	s := ldaptest.Start(t, ldaptest.Options{TLS: true})
	for _, c := range []struct {
		name   string
		change func(*Config)
		ok     bool
	}{
		{"ldaps with the CA", func(c *Config) { c.URL = s.LDAPSURL; c.TLS.CAFile = s.CAFile }, true},
		{"StartTLS with the CA", func(c *Config) { c.TLS.StartTLS = true; c.TLS.CAFile = s.CAFile }, true},
		{"ldaps without the CA", func(c *Config) { c.URL = s.LDAPSURL }, false},
		{"StartTLS without the CA", func(c *Config) { c.TLS.StartTLS = true }, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := testConfig(t, s)
			c.change(cfg)
			must(t, "Validate", cfg.Validate())
			conn, err := cfg.Open(t.Context(), targets.Env{Name: "dir"})
			if !c.ok {
				if err == nil {
					conn.Close(t.Context())
					t.Fatal("Open succeeded with an untrusted server certificate")
				}
				if targets.Class(err) != targets.ErrPermanent {
					t.Errorf("untrusted certificate: %v, want a permanent error", err)
				}
				return
			}
			must(t, "Open", err)
			defer conn.Close(t.Context())
			mustCreate(t, conn.(*Connector), user("tls-"+strings.ReplaceAll(c.name, " ", "-")))
		})
	}
}

func TestClientCertificate(t *testing.T) {
	s := ldaptest.Start(t, ldaptest.Options{RequireClientCert: true})
	cfg := testConfig(t, s)
	cfg.URL, cfg.TLS.CAFile = s.LDAPSURL, s.CAFile
	if conn, err := cfg.Open(t.Context(), targets.Env{Name: "dir"}); err == nil {
		conn.Close(t.Context())
		t.Fatal("Open without a client certificate succeeded against a server that demands one")
	}
	cfg = testConfig(t, s)
	cfg.URL, cfg.TLS.CAFile = s.LDAPSURL, s.CAFile
	cfg.TLS.CertFile, cfg.TLS.KeyFile = s.ClientCertFile, s.ClientKeyFile
	conn := open(t, cfg)
	must(t, "Health", conn.Health(t.Context()))
}

// TestOpenChecksBases: Open refuses a base entry that does not exist.
func TestOpenChecksBases(t *testing.T) {
	s := ldaptest.Start(t)
	cfg := testConfig(t, s)
	cfg.Groups.DNTemplate = "cn={cn},ou=teams,dc=example,dc=org"
	_, err := cfg.Open(t.Context(), targets.Env{Name: "dir"})
	var ce *targets.ConfigError
	if !errors.As(err, &ce) || ce.Field != "groups.dn_template" {
		t.Errorf("Open with a missing groups OU: %v, want a groups.dn_template field error", err)
	}
	cfg = testConfig(t, s)
	cfg.BindPasswordFile = ""
	cfg.BindPasswordEnv = "LDAPTARGET_TEST_WRONG"
	t.Setenv("LDAPTARGET_TEST_WRONG", "wrong-password")
	_, err = cfg.Open(t.Context(), targets.Env{Name: "dir"})
	if targets.Class(err) != targets.ErrPermanent || strings.Contains(err.Error(), "wrong-password") {
		t.Errorf("Open with a wrong password: %v, want a permanent error without the password", err)
	}
}

// TestInjection: hostile names change only their own entry.
func TestInjection(t *testing.T) {
	s := ldaptest.Start(t)
	conn := open(t, testConfig(t, s))
	victim := mustCreate(t, conn, user("victim", "displayName", "untouched"))
	for _, h := range hostile {
		if strings.ContainsAny(h.value, "\x00\t\n\r") || strings.TrimSpace(h.value) == "" {
			continue
		}
		u := mustCreate(t, conn, user(h.value, "displayName", h.value))
		o, err := conn.Get(t.Context(), targets.User, u.Anchor)
		must(t, h.name+": Get", err)
		if o.Attrs["uid"] != h.value {
			t.Errorf("%s: uid %q, want %q", h.name, o.Attrs["uid"], h.value)
		}
		must(t, h.name+": Update", conn.Update(t.Context(), next(u, map[string]any{"displayName": "changed " + h.value})))
		must(t, h.name+": Delete", conn.Delete(t.Context(), next(u, nil)))
	}
	es := s.Entries(t, ldaptest.PeopleDN, "(objectClass=inetOrgPerson)")
	if len(es) != 1 || es[0].GetAttributeValue("displayName") != "untouched" || es[0].GetAttributeValue("entryUUID") != victim.Anchor {
		var dns []string
		for _, e := range es {
			dns = append(dns, e.DN)
		}
		t.Errorf("after the hostile users: people %q, want only the untouched victim", dns)
	}
}

// TestNestedGroups: a group member of a group follows its renames and
// leaves the parent when deleted.
func TestNestedGroups(t *testing.T) {
	s := ldaptest.Start(t)
	conn := open(t, testConfig(t, s))
	parent := mustCreate(t, conn, newOp(targets.Group, map[string]any{"cn": "parent"}))
	child := mustCreate(t, conn, newOp(targets.Group, map[string]any{"cn": "child"}))
	must(t, "AddMembers", conn.AddMembers(t.Context(), next(parent, nil, child.Anchor)))
	must(t, "rename child", conn.Update(t.Context(), next(child, map[string]any{"cn": "child2"})))
	want := []string{"cn=child2," + ldaptest.GroupsDN}
	if got := memberValues(t, s, parent.Anchor, "member"); !slices.Equal(got, want) {
		t.Errorf("after the child's rename: member %q, want %q", got, want)
	}
	o, err := conn.Get(t.Context(), targets.Group, parent.Anchor)
	must(t, "Get", err)
	if !slices.Equal(o.Members, []string{child.Anchor}) {
		t.Errorf("members %q, want the child", o.Members)
	}
	must(t, "Delete child", conn.Delete(t.Context(), next(child, nil)))
	want = []string{"cn=nobody," + ldaptest.BaseDN}
	if got := memberValues(t, s, parent.Anchor, "member"); !slices.Equal(got, want) {
		t.Errorf("after the child's delete: member %q, want the placeholder %q", got, want)
	}
}

// TestConflictWithOtherKind: a user whose DN is taken by a group is a
// conflict without an anchor (never the group's).
func TestConflictWithOtherKind(t *testing.T) {
	s := ldaptest.Start(t)
	cfg := testConfig(t, s)
	cfg.Users.DNTemplate = "cn={cn},ou=groups,dc=example,dc=org"
	conn := open(t, cfg)
	mustCreate(t, conn, newOp(targets.Group, map[string]any{"cn": "shared"}))
	_, err := conn.Create(t.Context(), user("shared"))
	var ce *targets.ConflictError
	if !errors.As(err, &ce) || ce.Anchor != "" {
		t.Errorf("Create of a user at a group's DN: %v, want a conflict without an anchor", err)
	}
}

// TestCaseOnlyRename: a rename that changes only the case of the naming
// value renames the entry (uid compares without case in the directory).
func TestCaseOnlyRename(t *testing.T) {
	s := ldaptest.Start(t)
	conn := open(t, testConfig(t, s))
	u := mustCreate(t, conn, user("Ab"))
	must(t, "rename Ab to ab", conn.Update(t.Context(), next(u, map[string]any{"uid": "ab"})))
	e := entry(t, s, u.Anchor)
	if e.DN != "uid=ab,"+ldaptest.PeopleDN || !slices.Equal(e.GetAttributeValues("uid"), []string{"ab"}) {
		t.Errorf("after the rename: %s uid %q", e.DN, e.GetAttributeValues("uid"))
	}
}
