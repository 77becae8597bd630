package config

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/scimgate/scimgate/internal/review"
	"github.com/scimgate/scimgate/targets"
)

// validateReviews reports every problem of the access reviews, each named
// reviews[i].<field>: their own, unique names, and what they need of the
// other sections: the target they review, a target that holds groups for
// a group's review, the guests section for blockThenDelete, a source of
// sign-ins for inactiveDays, email for the notices, the channels.
func (c Config) validateReviews(p *problems) {
	names := map[string]int{}
	for i, r := range c.Reviews {
		path := fmt.Sprintf("reviews[%d]", i)
		p.section(path, r.Validate())
		if k := targets.NameKey(r.Name); r.Name != "" {
			if j, dup := names[k]; dup {
				p.add(path+".name", "%q: duplicate of reviews[%d].name", r.Name, j)
			} else {
				names[k] = i
			}
		}
		c.reviewNeeds(r, path, p)
	}
}

// CheckReview checks a review defined through the admin API against the
// configuration, as Validate checks the configured ones (its fields
// named review.<field>): what it needs of the other sections.
func (c Config) CheckReview(r review.Config) error {
	var p problems
	c.reviewNeeds(r, "review", &p)
	return errors.Join(p...)
}

// reviewNeeds reports what review r (at path) needs of the other sections
// and does not find.
func (c Config) reviewNeeds(r review.Config, path string, p *problems) {
	var hooks []string
	if n := c.Notifications; n != nil {
		for _, w := range n.Webhooks {
			hooks = append(hooks, w.Name)
		}
	}
	if tn := r.Resource.Target; tn != "" {
		j := slices.IndexFunc(c.Targets, func(t Target) bool { return t.Name == tn })
		switch {
		case j < 0:
			p.add(path+".resource.target", "%q: no such target", tn)
		case c.Targets[j].Users == nil:
			p.add(path+".resource.target", "%q receives no users", tn)
		}
	}
	if r.Resource.Group != "" && !slices.ContainsFunc(c.Targets, func(t Target) bool { return t.Groups != nil }) {
		p.add(path+".resource.group", "no target receives groups: a denial would remove the membership nowhere")
	}
	if r.Reviewers.Type == review.ReviewersGroupOwners && c.Entra == nil {
		p.add(path+".reviewers.type", "groupOwners needs the entra section (a group's owners are read from Entra, the SCIM group's externalId being its object id)")
	}
	if r.SecondStage != nil && r.SecondStage.Reviewers.Type == review.ReviewersGroupOwners && c.Entra == nil {
		p.add(path+".secondStage.reviewers.type", "groupOwners needs the entra section (a group's owners are read from Entra, the SCIM group's externalId being its object id)")
	}
	if r.Settings.DeniedGuests == review.DeniedGuestsBlockThenDelete && c.Guests == nil {
		p.add(path+".settings.deniedGuests", "blockThenDelete needs the guests section (the guest lifecycle blocks, then deletes)")
	}
	signIns := c.Entra != nil && c.Entra.Features.SignInActivity || c.Guests != nil && c.Guests.Expiry.LastLogin != nil
	if r.InactiveDays > 0 && !signIns {
		p.add(path+".inactiveDays", "needs the entra section with features.sign_in_activity, or the guests section's expiry.lastLogin (where the last sign-ins are read)")
	}
	if !c.canEmail() {
		p.add(path, "the notices to reviewers need the smtp settings of the notifications section")
	}
	for j, h := range r.Settings.Channels {
		if h != "" && !slices.ContainsFunc(hooks, func(w string) bool { return strings.EqualFold(w, h) }) {
			p.add(fmt.Sprintf("%s.settings.channels[%d]", path, j), "%q is not a webhook of the notifications section", h)
		}
	}
}
