package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/scimgate/scimgate/internal/gateway"
)

const guestsUsage = `Usage: scimgate guests [COMMAND [ARGS]] [FLAGS]

See the guests of the gateway's guest lifecycle (its guests section) and
extend their access, through the admin API (/admin/v1/guests). Every
extension is in the audit log with the admin token that asked.

Commands:
  (no command)                  every guest: status, rule, expiry, why, next step
  show USER                     one guest, with its id, extension and last sign-in
  extend USER --until DATE | --for DURATION
                                extend the guest's access until DATE (2026-12-31: midnight
                                UTC; or an RFC 3339 time), or for DURATION from now (90d,
                                or 36h); its steps are planned again and a blocked guest
                                is unblocked at once

A USER is a user's id or userName. EXPIRES is when access expires (-:
never), WHY the expiry rule that gave it (or extended), NEXT the next step
(notice, block, unblock, delete) and when it is due. A step's error shows
in full under its row.

` + adminFlagsUsage

// guestsCmd runs "scimgate guests" and returns its exit code.
func guestsCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return exitCode(runGuests(ctx, args, stdout), "scimgate guests", guestsUsage, stdout, stderr)
}

func runGuests(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("guests", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	af := addAdminFlags(fs)
	until := fs.String("until", "", "")
	forD := fs.String("for", "", "")
	pos, err := parseInterspersed(fs, args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return err
	case err != nil:
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	name := "" // no command: the list
	if len(pos) > 0 {
		name, pos = pos[0], pos[1:]
		if name == "" {
			return fmt.Errorf("%w: an empty command", errUsage)
		}
	}
	var extend map[string]string // the body of extend
	switch name {
	case "help":
		return flag.ErrHelp
	case "":
	case "show":
		err = wantArgs(pos, 1, "show USER")
	case "extend":
		if err = wantArgs(pos, 1, "extend USER --until DATE | --for DURATION"); err == nil {
			switch {
			case (*until == "") == (*forD == ""):
				err = fmt.Errorf("%w: extend USER --until DATE | --for DURATION: give one of --until and --for", errUsage)
			case *until != "":
				extend = map[string]string{"until": *until}
			default:
				extend = map[string]string{"for": *forD}
			}
		}
	default:
		return fmt.Errorf("%w: unknown guests command %q", errUsage, name)
	}
	if err != nil {
		return err
	}
	if name != "extend" {
		var bad error
		fs.Visit(func(f *flag.Flag) {
			if (f.Name == "until" || f.Name == "for") && bad == nil {
				bad = fmt.Errorf("%w: --%s applies to extend only", errUsage, f.Name)
			}
		})
		if bad != nil {
			return bad
		}
	}
	c, err := af.client(fs, stdout)
	if err != nil {
		return err
	}
	switch name {
	case "show":
		var g gateway.AdminGuest
		if err := c.call(ctx, http.MethodGet, guestPath(pos[0]), nil, &g); err != nil || c.jsonOut != nil {
			return err
		}
		return writeGuests(stdout, []gateway.AdminGuest{g}, true)
	case "extend":
		var g gateway.AdminGuest
		if err := c.send(ctx, http.MethodPost, guestPath(pos[0])+"/extend", nil, extend, &g); err != nil || c.jsonOut != nil {
			return err
		}
		if _, err := fmt.Fprintf(stdout, "%s: access extended until %s\n", guestName(g), fmtTimeOpt(g.ExtendedUntil)); err != nil {
			return err
		}
		return writeGuests(stdout, []gateway.AdminGuest{g}, true)
	}
	var r struct {
		Guests []gateway.AdminGuest `json:"guests"`
	}
	if err := c.call(ctx, http.MethodGet, "/guests", nil, &r); err != nil || c.jsonOut != nil {
		return err
	}
	if len(r.Guests) == 0 {
		_, err := fmt.Fprintln(stdout, "no guests")
		return err
	}
	return writeGuests(stdout, r.Guests, false)
}

func guestPath(user string) string { return "/guests/" + url.PathEscape(user) }

// guestName names a guest by its userName, else its id.
func guestName(g gateway.AdminGuest) string {
	if g.UserName != "" {
		return g.UserName
	}
	return g.User
}

// writeGuests writes the guests' table, each step's error in full under
// its row; detail adds the guest's id, name, extension and last sign-in.
func writeGuests(w io.Writer, gs []gateway.AdminGuest, detail bool) error {
	tb := newTable(w, "USER", "STATUS", "RULE", "EXPIRES", "WHY", "NEXT")
	for _, g := range gs {
		next := "-"
		if g.Next != nil {
			next = g.Next.Kind + " at " + fmtTime(g.Next.At)
		}
		tb.row(guestName(g), g.Status, g.Rule, fmtTimeOpt(g.Expiry), g.Why, next)
		if detail {
			tb.note("id", g.User)
			tb.note("name", g.DisplayName)
			if g.ExtendedUntil != nil {
				tb.note("extended until", fmtTimeOpt(g.ExtendedUntil))
			}
			if g.LastSignIn != nil {
				tb.note("last sign-in", fmtTimeOpt(g.LastSignIn))
			}
		}
		if g.LastError != "" {
			tb.note("error", fmt.Sprintf("%s (after %s; retried with backoff)", g.LastError, plural(g.Attempts, "failed attempt")))
		}
	}
	return tb.flush()
}
