package main

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/scimgate/scimgate/internal/entra"
	"github.com/scimgate/scimgate/internal/gateway"
)

const entraUsage = `Usage: scimgate entra COMMAND [ARGS] [FLAGS]

Look up and change Microsoft Entra ID users and groups through the
gateway's admin API (/admin/v1/entra): the gateway holds the Microsoft
Graph credentials (its entra section) and writes every change, with the
admin token that asked and its outcome, to its audit log
("scimgate admin audit" shows it).

Commands:
  user ID|UPN                   a user, by object id or userPrincipalName (a guest's #EXT# UPN too)
  group ID                      a group: type, membership rule, owners, member count
  add-member GROUP USER         add a user (id or UPN) to a group; already a member is success
  remove-member GROUP USER      remove a user from a group; not a member is success
  disable USER                  block the user's new sign-ins (accountEnabled false)
  enable USER                   allow them again
  revoke USER                   revoke the user's sessions (refresh tokens, session cookies)
  delete USER [--yes]           delete the user (restorable from deleted items for 30 days):
                                asks on stdin for confirmation, unless --yes
  check                         the permissions the enabled features need: granted or missing

` + adminFlagsUsage

// entraCommand is one "scimgate entra" command.
type entraCommand struct {
	args string // its arguments, for usage errors
	n    int    // how many
	run  func(ctx context.Context, e *entraCLI, args []string) error
}

var entraCommands = map[string]entraCommand{
	"user":          {"user ID|UPN", 1, entraUserCmd},
	"group":         {"group ID", 1, entraGroupCmd},
	"add-member":    {"add-member GROUP USER", 2, entraAddMember},
	"remove-member": {"remove-member GROUP USER", 2, entraRemoveMember},
	"disable":       {"disable USER", 1, entraUserAction("disable")},
	"enable":        {"enable USER", 1, entraUserAction("enable")},
	"revoke":        {"revoke USER", 1, entraUserAction("revoke")},
	"delete":        {"delete USER [--yes]", 1, entraDelete},
	"check":         {"check", 0, entraCheck},
}

// entraCLI is a running "scimgate entra" command.
type entraCLI struct {
	c      *adminClient
	yes    bool
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer // the delete's question
}

// entraCmd runs "scimgate entra" and returns its exit code. It prints its
// own errors, as "scimgate entra: ...".
func entraCmd(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, entraUsage)
		return 2
	}
	return exitCode(runEntra(ctx, args, stdin, stdout, stderr), "scimgate entra", entraUsage, stdout, stderr)
}

func runEntra(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("entra", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	af := addAdminFlags(fs)
	yes := fs.Bool("yes", false, "")
	name, pos, err := parseCommand(fs, args)
	if err != nil {
		return err
	}
	cmd, ok := entraCommands[name]
	if !ok {
		return fmt.Errorf("%w: unknown entra command %q", errUsage, name)
	}
	if *yes && name != "delete" {
		return fmt.Errorf("%w: --yes does not apply to %s", errUsage, name)
	}
	if err := wantArgs(pos, cmd.n, cmd.args); err != nil {
		return err
	}
	c, err := af.client(fs, stdout)
	if err != nil {
		return err
	}
	return cmd.run(ctx, &entraCLI{c: c, yes: *yes, stdin: stdin, stdout: stdout, stderr: stderr}, pos)
}

func entraUserPath(user string) string { return "/entra/users/" + url.PathEscape(user) }

func (e *entraCLI) lookupUser(ctx context.Context, key string) (entra.User, error) {
	var u entra.User
	err := e.c.call(ctx, http.MethodGet, entraUserPath(key), nil, &u)
	return u, err
}

func entraUserCmd(ctx context.Context, e *entraCLI, args []string) error {
	u, err := e.lookupUser(ctx, args[0])
	if err != nil || e.c.jsonOut != nil {
		return err
	}
	tb := newTable(e.stdout, "ID", "USER PRINCIPAL NAME", "DISPLAY NAME", "TYPE", "ENABLED", "CREATED")
	tb.row(u.ID, u.UserPrincipalName, u.DisplayName, u.UserType, yesNo(u.AccountEnabled), fmtTime(u.CreatedDateTime))
	tb.note("name", strings.TrimSpace(u.GivenName+" "+u.Surname))
	tb.note("mail", u.Mail)
	tb.note("job title", u.JobTitle)
	tb.note("department", u.Department)
	tb.note("invitation", u.ExternalUserState)
	if a := u.SignInActivity; a != nil {
		tb.note("last sign-in", fmtTime(a.LastSignInDateTime))
		tb.note("last non-interactive sign-in", fmtTime(a.LastNonInteractiveSignInDateTime))
		tb.note("last successful sign-in", fmtTime(a.LastSuccessfulSignInDateTime))
	}
	tb.note("sign-in activity", u.SignInActivityError)
	return tb.flush()
}

// groupKind names a group's type as the Entra admin center does.
func groupKind(g *entra.Group) string {
	kind := "distribution"
	switch {
	case slices.Contains(g.GroupTypes, "Unified"):
		kind = "Microsoft 365"
	case g.SecurityEnabled && g.MailEnabled:
		kind = "mail-enabled security"
	case g.SecurityEnabled:
		kind = "security"
	}
	if g.Dynamic() {
		kind += ", dynamic"
	}
	return kind
}

// entraGroup is a group as the admin API answers it: its owners as
// entra.Group marshals them (entra.Object reads Graph's @odata.type).
type entraGroup struct {
	entra.Group
	Owners []entraObject `json:"owners"`
}

type entraObject struct {
	ID                string `json:"id"`
	Type              string `json:"type"`
	DisplayName       string `json:"displayName"`
	UserPrincipalName string `json:"userPrincipalName"`
	Mail              string `json:"mail"`
}

func entraGroupCmd(ctx context.Context, e *entraCLI, args []string) error {
	var g entraGroup
	if err := e.c.call(ctx, http.MethodGet, "/entra/groups/"+url.PathEscape(args[0]), nil, &g); err != nil || e.c.jsonOut != nil {
		return err
	}
	tb := newTable(e.stdout, "ID", "DISPLAY NAME", "MAIL", "TYPE", "MEMBERS", "OWNERS")
	tb.row(g.ID, g.DisplayName, g.Mail, groupKind(&g.Group), strconv.Itoa(g.MemberCount), strconv.Itoa(len(g.Owners)))
	if g.Dynamic() {
		tb.note("membership rule", g.MembershipRule+"\n(dynamic: its members follow the rule and cannot be added or removed)")
	}
	for _, o := range g.Owners {
		tb.note("owner", describeObject(o))
	}
	return tb.flush()
}

// describeObject names a directory object: its name, its UPN or mail, its
// id.
func describeObject(o entraObject) string {
	s := o.DisplayName
	if at := cmp.Or(o.UserPrincipalName, o.Mail); at != "" {
		s += " <" + at + ">"
	}
	return strings.TrimSpace(s + " (" + cmp.Or(o.Type, "object") + " " + o.ID + ")")
}

// describeUser names a user acted upon: its userPrincipalName and id, or
// its id.
func describeUser(id, upn string) string {
	if upn != "" {
		return upn + " (" + id + ")"
	}
	return id
}

func entraAddMember(ctx context.Context, e *entraCLI, args []string) error {
	var m gateway.EntraMembership
	if err := e.c.send(ctx, http.MethodPost, "/entra/groups/"+url.PathEscape(args[0])+"/members", nil,
		map[string]string{"user": args[1]}, &m); err != nil || e.c.jsonOut != nil {
		return err
	}
	msg := "added to group " + m.Group
	if !m.Changed {
		msg = "is already a member of group " + m.Group + ": nothing changed"
	}
	_, err := fmt.Fprintf(e.stdout, "user %s %s\n", describeUser(m.User, m.UserPrincipalName), msg)
	return err
}

func entraRemoveMember(ctx context.Context, e *entraCLI, args []string) error {
	var m gateway.EntraMembership
	if err := e.c.call(ctx, http.MethodDelete, "/entra/groups/"+url.PathEscape(args[0])+"/members/"+url.PathEscape(args[1]), nil,
		&m); err != nil || e.c.jsonOut != nil {
		return err
	}
	msg := "removed from group " + m.Group
	if !m.Changed {
		msg = "is not a member of group " + m.Group + ": nothing changed"
	}
	_, err := fmt.Fprintf(e.stdout, "user %s %s\n", describeUser(m.User, m.UserPrincipalName), msg)
	return err
}

// entraDone says what each user action did, of the user %s.
var entraDone = map[string]string{
	"disable": "user %s disabled: new sign-ins are blocked; sessions go on until revoked (scimgate entra revoke)",
	"enable":  "user %s enabled",
	"revoke":  "sessions of user %s revoked: the user must sign in again",
	"delete":  "user %s deleted: restorable from deleted items for 30 days",
}

// userAction sends the action to the user and reports it; upn names the
// user when the answer does not.
func (e *entraCLI) userAction(ctx context.Context, action, method, path, upn string) error {
	var a gateway.EntraUserAction
	if err := e.c.call(ctx, method, path, nil, &a); err != nil || e.c.jsonOut != nil {
		return err
	}
	_, err := fmt.Fprintf(e.stdout, entraDone[action]+"\n", describeUser(a.User, cmp.Or(a.UserPrincipalName, upn)))
	return err
}

func entraUserAction(action string) func(ctx context.Context, e *entraCLI, args []string) error {
	return func(ctx context.Context, e *entraCLI, args []string) error {
		return e.userAction(ctx, action, http.MethodPost, entraUserPath(args[0])+"/"+action, "")
	}
}

// entraDelete deletes a user once confirmed: --yes, or "yes" typed on
// stdin after the user's name was shown.
func entraDelete(ctx context.Context, e *entraCLI, args []string) error {
	key, upn := args[0], ""
	if !e.yes {
		quiet := *e.c
		quiet.jsonOut = nil // the lookup only asks
		var u entra.User
		if err := quiet.call(ctx, http.MethodGet, entraUserPath(key), nil, &u); err != nil {
			return err
		}
		fmt.Fprintf(e.stderr, "Delete the Entra user %s <%s> (id %s, %s)? It moves to deleted items, restorable for 30 days.\nType yes to delete: ",
			cmp.Or(u.DisplayName, "-"), u.UserPrincipalName, u.ID, cmp.Or(u.UserType, "Member"))
		line, err := bufio.NewReader(e.stdin).ReadString('\n')
		if strings.TrimSpace(line) != "yes" {
			if err != nil && !errors.Is(err, io.EOF) {
				return fmt.Errorf("reading the confirmation: %w", err)
			}
			return fmt.Errorf("user %s not deleted: not confirmed (type yes, or give --yes)", u.UserPrincipalName)
		}
		key, upn = u.ID, u.UserPrincipalName // the user shown is the user deleted
	}
	return e.userAction(ctx, "delete", http.MethodDelete, entraUserPath(key), upn)
}

// errMissingPermissions is the outcome of a check that found permissions
// missing.
var errMissingPermissions = errors.New("permissions missing")

func entraCheck(ctx context.Context, e *entraCLI, _ []string) error {
	var r entra.Report
	if err := e.c.call(ctx, http.MethodGet, "/entra/check", nil, &r); err != nil {
		return err
	}
	if e.c.jsonOut == nil {
		kind := "application permissions (roles)"
		if r.Delegated {
			kind = "delegated scopes of the signed-in user"
		}
		if _, err := fmt.Fprintf(e.stdout, "tenant %s, app %s: the credentials work; %s granted: %s\n\n", r.TenantID, r.AppID, kind,
			cmp.Or(strings.Join(r.Granted, ", "), "none")); err != nil {
			return err
		}
		tb := newTable(e.stdout, "PERMISSION", "GRANTED", "BY", "NEEDED TO")
		for _, p := range r.Permissions {
			tb.row(p.Name, yesNo(p.Granted), p.GrantedBy, p.For)
		}
		if err := tb.flush(); err != nil {
			return err
		}
	}
	if m := r.Missing(); len(m) > 0 {
		return fmt.Errorf("%w: %s (grant them to the app registration as application permissions, with admin consent)",
			errMissingPermissions, strings.Join(m, ", "))
	}
	return nil
}
