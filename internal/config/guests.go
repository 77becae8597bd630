package config

import (
	"fmt"
	"slices"
	"strings"

	"github.com/scimgate/scimgate/internal/guest"
	"github.com/scimgate/scimgate/policy"
	"github.com/scimgate/scimgate/scim"
)

// GuestOptions is the environment the guest rules compile in: the User
// resource type with the custom extensions (expression rules and the
// expiry attribute).
func (c Config) GuestOptions() guest.Options {
	var o guest.Options
	if rtypes, err := scim.ResourceTypes(c.SCIM.CustomExtensions); err == nil {
		o.Policy = []policy.Option{policy.WithResourceTypes(rtypes[0], rtypes[1])}
		o.User = rtypes[0]
	} // else scim.custom_extensions reports the problem
	return o
}

// validateGuests reports every problem of the guests section, each named
// guests.<field>: its rules and expiry, and what it needs of the other
// sections (entra for the directory and sign-ins, notifications for the
// notices).
func (c Config) validateGuests(p *problems) {
	g := c.Guests
	if g == nil {
		return
	}
	_, err := guest.Compile(*g, c.GuestOptions())
	p.section("guests", err)
	if (g.BlockInEntra || g.DeleteInEntra) && c.Entra == nil {
		p.add("guests", "blockInEntra and deleteInEntra need the entra section")
	}
	signIns := c.Entra != nil && c.Entra.Features.SignInActivity
	if g.Expiry.Inactivity > 0 && !signIns && g.Expiry.LastLogin == nil {
		p.add("guests.expiry.inactivity", "needs the entra section with features.sign_in_activity, or expiry.lastLogin (where the last sign-ins are read)")
	}
	if ll := g.Expiry.LastLogin; ll != nil && ll.Target != "" && !slices.ContainsFunc(c.Targets, func(t Target) bool { return strings.EqualFold(t.Name, ll.Target) }) {
		p.add("guests.expiry.lastLogin.target", "%q: no such target", ll.Target)
	}
	if len(g.Notices) > 0 && !c.canEmail() && len(g.NoticeChannels) == 0 {
		p.add("guests.notices", "the notices need the smtp settings of the notifications section, or noticeChannels")
	}
	var hooks []string
	if n := c.Notifications; n != nil {
		for _, w := range n.Webhooks {
			hooks = append(hooks, w.Name)
		}
	}
	for i, h := range g.NoticeChannels {
		if !slices.Contains(hooks, h) {
			p.add(fmt.Sprintf("guests.noticeChannels[%d]", i), "%q is not a webhook of the notifications section", h)
		}
	}
}
