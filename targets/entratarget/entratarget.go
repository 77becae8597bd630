package entratarget

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/scimgate/scimgate/internal/entra"
	"github.com/scimgate/scimgate/targets"
)

// openTimeout bounds Open's requests (the rules' groups).
const openTimeout = 5 * time.Second

// Connector is an open entra target.
type Connector struct {
	cfg    Config
	client *entra.Client
	log    *slog.Logger
	// groups maps each rule's group, as the rules name it, to its object
	// id; names maps back (lower-case id → the rules' name).
	groups map[string]string
	names  map[string]string
	// props are the Entra properties read for Get, List and Lookup: the
	// mapping's attributes that are Entra properties, and accountEnabled.
	props []string
	// member: the mapping writes memberOf (the target has group rules).
	member bool
}

var (
	_ targets.Connector     = (*Connector)(nil)
	_ targets.Finder        = (*Connector)(nil)
	_ targets.HealthChecker = (*Connector)(nil)
)

// features returns the problems of the entra section's features for what
// the configuration does.
func (c *Config) features(f entra.Features) error {
	var errs []error
	need := func(field string, on bool, feature string) {
		if !on {
			errs = append(errs, targets.FieldError(field, "needs features.%s in the entra section", feature))
		}
	}
	if len(c.Groups) > 0 {
		need("groups", f.Membership, "membership")
	}
	if len(c.WriteBack) > 0 {
		need("write_back", f.UpdateUsers, "update_users")
	}
	if c.Disable {
		need("disable", f.EnableDisable, "enable_disable")
	}
	if c.Delete {
		need("delete", f.DeleteUsers, "delete_users")
	}
	if c.CreateUsers {
		need("create_users", f.CreateUsers, "create_users")
	}
	return errors.Join(errs...)
}

// Open checks the mapping's attributes against the configuration and
// resolves the rules' groups in Entra: each must exist, be unique by name
// and not be dynamic. Graph unreachable is ErrTransient (the gateway opens
// the target again later); a group that is missing, ambiguous or dynamic
// is a FieldError.
func (c *Config) Open(ctx context.Context, env targets.Env) (targets.Connector, error) {
	if c.Client == nil {
		return nil, targets.FieldError("type", "an entra target needs the gateway's entra section (tenant and credentials)")
	}
	if err := c.features(c.Client.Features()); err != nil {
		return nil, err
	}
	log := env.Logger
	if log == nil {
		log = slog.Default()
	}
	conn := &Connector{cfg: *c, client: c.Client, log: log.With("target", env.Name), groups: map[string]string{}, names: map[string]string{}}
	var errs []error
	for _, a := range env.Attributes[targets.User] {
		switch {
		case a == MemberOf:
			conn.member = true
		case slices.Contains(c.WriteBack, a), slices.Contains(entra.FilterProperties, a):
			conn.props = append(conn.props, a)
		default:
			errs = append(errs, targets.FieldError("write_back", "the users' mapping writes %q, which the entra target neither writes (write_back: %s) nor matches on (%s)",
				a, strings.Join(WriteBackProperties, ", "), strings.Join(entra.FilterProperties, ", ")))
		}
	}
	if len(c.Groups) > 0 && !conn.member {
		errs = append(errs, targets.FieldError("groups", "the users' mapping has no %s attribute: the gateway derives it from the rules", MemberOf))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	conn.props = append(conn.props, "accountEnabled")
	// The gateway opens its targets before it serves: an Entra that does
	// not answer must not hold SCIM back (the target is opened again in
	// the background).
	ctx, cancel := context.WithTimeout(ctx, openTimeout)
	defer cancel()
	for j, name := range c.groupNames() {
		id, err := conn.resolve(ctx, name)
		if err != nil {
			if errors.Is(err, targets.ErrTransient) {
				return nil, err
			}
			return nil, targets.FieldError(fmt.Sprintf("groups[%d].group", j), "%v", err)
		}
		conn.groups[name] = id
		conn.names[strings.ToLower(id)] = name
	}
	return conn, nil
}

// resolve finds a rule's group.
func (c *Connector) resolve(ctx context.Context, name string) (string, error) {
	var g *entra.Group
	if guid.MatchString(name) {
		var err error
		if g, err = c.client.Group(ctx, name); err != nil {
			return "", classify(err)
		}
	} else {
		gs, err := c.client.FindGroups(ctx, name)
		if err != nil {
			return "", classify(err)
		}
		switch len(gs) {
		case 0:
			return "", fmt.Errorf("no Entra group is named %q", name)
		case 1:
			g = &gs[0]
		default:
			ids := make([]string, len(gs))
			for i, g := range gs {
				ids[i] = g.ID
			}
			return "", fmt.Errorf("%d Entra groups are named %q (%s): give the object id", len(gs), name, strings.Join(ids, ", "))
		}
	}
	if g.Dynamic() {
		return "", fmt.Errorf("group %q (%s) has dynamic membership (membershipRule %q): its members cannot be changed", name, g.ID, g.MembershipRule)
	}
	return g.ID, nil
}

// classify maps the Entra client's errors to the classes of targets.
func classify(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return targets.Transient(err)
	case errors.Is(err, entra.ErrNotFound):
		return targets.NotFound(err)
	case errors.Is(err, entra.ErrTransient), errors.Is(err, entra.ErrAuthentication):
		// No token (Entra unreachable, a secret being rotated) is an
		// outage of the target: its operations wait, and its health says
		// why, rather than being dead-lettered one by one.
		return targets.Transient(err)
	default: // forbidden, invalid, dynamic group, not enabled
		return targets.Permanent(err)
	}
}

func unsupported(what string) error {
	return targets.Permanent(fmt.Errorf("entra: %s: %w", what, errors.ErrUnsupported))
}

// Capabilities implements targets.Connector.
func (c *Connector) Capabilities() targets.Capabilities { return c.cfg.Provides() }

// Create creates the user when create_users is set; otherwise it refuses:
// the entra target links existing users (the engine's matching). A user
// that exists with the userPrincipalName is a *ConflictError with its
// anchor.
func (c *Connector) Create(ctx context.Context, op targets.Op) (string, error) {
	if op.Kind != targets.User {
		return "", unsupported("groups are not provisioned to Entra (use group rules)")
	}
	if !c.cfg.CreateUsers {
		return "", targets.Permanent(errors.New("entra: no Entra user matches this user, and the entra target does not create users " +
			"(it links existing ones by users.matching, e.g. [userPrincipalName]; set create_users to create them)"))
	}
	if err := targets.CheckAttrs(op.Attrs); err != nil {
		return "", err
	}
	upn, _ := op.Attrs["userPrincipalName"].(string)
	if upn == "" {
		return "", targets.Permanent(errors.New("entra: create: the mapping gives no userPrincipalName"))
	}
	if a, err := c.holder(ctx, upn); a != "" || err != nil {
		return "", err
	}
	props, err := c.writable(op.Attrs)
	if err != nil {
		return "", err
	}
	alias, _, _ := strings.Cut(upn, "@")
	if props["displayName"] == nil {
		props["displayName"] = alias
	}
	props["userPrincipalName"] = upn
	props["mailNickname"] = nickname(alias)
	props["accountEnabled"] = true
	props["passwordProfile"] = map[string]any{"forceChangePasswordNextSignIn": true, "password": initialPassword()}
	id, err := c.client.CreateUser(ctx, props)
	if errors.Is(err, entra.ErrExists) {
		if a, herr := c.holder(ctx, upn); a != "" || herr != nil {
			return "", herr
		}
	}
	if err != nil {
		return "", classify(err)
	}
	if v, ok := op.Attrs[MemberOf]; ok && c.member {
		want, err := c.wanted(v)
		if err == nil {
			err = c.setGroups(ctx, id, want)
		}
		if err != nil {
			// The user exists: a repeated Create finds it (a conflict with
			// its anchor) and the engine's Update sets the groups.
			return "", err
		}
	}
	return id, nil
}

// holder returns a *ConflictError with the anchor of the user that has
// the userPrincipalName upn, nil when none has it.
func (c *Connector) holder(ctx context.Context, upn string) (string, error) {
	found, err := c.client.FindUsers(ctx, "userPrincipalName", upn, []string{"id"}, 2)
	if err != nil {
		return "", classify(err)
	}
	if len(found) == 0 {
		return "", nil
	}
	id, _ := found[0]["id"].(string)
	return id, &targets.ConflictError{Anchor: id, Err: fmt.Errorf("entra: a user has userPrincipalName %q", upn)}
}

// writable returns the write_back properties of attrs.
func (c *Connector) writable(attrs map[string]any) (map[string]any, error) {
	props := map[string]any{}
	for k, v := range attrs {
		if !slices.Contains(c.cfg.WriteBack, k) {
			continue
		}
		switch v := v.(type) {
		case nil:
			props[k] = nil
		case string:
			if strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 }) {
				return nil, targets.Permanent(fmt.Errorf("entra: attribute %q: a control character, which Entra's properties cannot hold", k))
			}
			props[k] = v
		default:
			return nil, targets.Permanent(fmt.Errorf("entra: attribute %q: %T, Entra's %s is a string", k, v, k))
		}
	}
	return props, nil
}

// nickname returns a mailNickname from an alias: the characters Entra
// allows, at most 64.
func nickname(alias string) string {
	var b strings.Builder
	for _, r := range alias {
		if r < 0x80 && r > ' ' && !strings.ContainsRune(`@()\[]";:<>,`, r) && b.Len() < 64 {
			b.WriteRune(r)
		}
	}
	if b.Len() == 0 {
		return "user"
	}
	return b.String()
}

// initialPassword is a random password that meets Entra's complexity
// rules; the user changes it at the first sign-in.
func initialPassword() string {
	return "Sg1!" + rand.Text()
}

// Update writes the write_back properties present in op.Attrs and, when
// memberOf is present, the user's membership of the rules' groups.
func (c *Connector) Update(ctx context.Context, op targets.Op) error {
	if op.Kind != targets.User {
		return unsupported("groups are not provisioned to Entra")
	}
	if err := targets.CheckAttrs(op.Attrs); err != nil {
		return err
	}
	props, err := c.writable(op.Attrs)
	if err != nil {
		return err
	}
	if len(props) > 0 {
		err := c.client.UpdateUser(ctx, op.Anchor, props)
		if upn, _ := props["userPrincipalName"].(string); errors.Is(err, entra.ErrExists) && upn != "" {
			if a, herr := c.holder(ctx, upn); a != "" && a != op.Anchor {
				return herr
			}
		}
		if err != nil {
			return classify(err)
		}
	}
	if v, ok := op.Attrs[MemberOf]; ok && c.member {
		want, err := c.wanted(v)
		if err != nil {
			return err
		}
		return c.setGroups(ctx, op.Anchor, want)
	}
	return nil
}

// wanted returns the group ids of a memberOf value.
func (c *Connector) wanted(v any) (map[string]bool, error) {
	var names []string
	switch v := v.(type) {
	case nil:
	case string:
		names = []string{v}
	case []string:
		names = v
	default:
		return nil, targets.Permanent(fmt.Errorf("entra: attribute %s: %T, want a list of groups", MemberOf, v))
	}
	want := map[string]bool{}
	for _, n := range names {
		id, ok := c.groups[n]
		if !ok {
			return nil, targets.Permanent(fmt.Errorf("entra: %s holds %q, which no group rule names", MemberOf, n))
		}
		want[strings.ToLower(id)] = true
	}
	return want, nil
}

// setGroups makes the user a member of the rules' groups in want and of
// none of the others: it reads the user's groups and sends the changes.
func (c *Connector) setGroups(ctx context.Context, user string, want map[string]bool) error {
	have, err := c.client.MemberOf(ctx, user)
	if err != nil {
		return classify(err)
	}
	in := map[string]bool{}
	for _, id := range have {
		in[strings.ToLower(id)] = true
	}
	var add, remove []string
	for _, name := range c.cfg.groupNames() {
		id := c.groups[name]
		switch l := strings.ToLower(id); {
		case want[l] && !in[l]:
			add = append(add, id)
		case !want[l] && in[l]:
			remove = append(remove, id)
		}
	}
	if len(add)+len(remove) == 0 {
		return nil
	}
	if err := c.client.SetMembership(ctx, user, add, remove); err != nil {
		return classify(err)
	}
	c.log.Info("entra group membership changed", "user", user, "added", add, "removed", remove)
	return nil
}

// Delete deletes the Entra user when delete is set; otherwise it takes the
// user out of the rules' groups. A missing user is success.
func (c *Connector) Delete(ctx context.Context, op targets.Op) error {
	if op.Kind != targets.User {
		return unsupported("groups are not provisioned to Entra")
	}
	var err error
	switch {
	case c.cfg.Delete:
		err = c.client.DeleteUser(ctx, op.Anchor)
	case c.member:
		err = c.setGroups(ctx, op.Anchor, nil)
	}
	if errors.Is(err, entra.ErrNotFound) || errors.Is(err, targets.ErrNotFound) {
		return nil
	}
	return classify(err)
}

// Disable sets accountEnabled false.
func (c *Connector) Disable(ctx context.Context, op targets.Op) error {
	if !c.cfg.Disable || op.Kind != targets.User {
		return unsupported("disable is not set")
	}
	return classify(c.client.Disable(ctx, op.Anchor))
}

// Enable sets accountEnabled true.
func (c *Connector) Enable(ctx context.Context, op targets.Op) error {
	if !c.cfg.Disable || op.Kind != targets.User {
		return unsupported("disable is not set")
	}
	return classify(c.client.Enable(ctx, op.Anchor))
}

// AddMembers is not supported: Entra groups follow the group rules.
func (c *Connector) AddMembers(ctx context.Context, op targets.Op) error {
	return unsupported("groups are not provisioned to Entra")
}

// RemoveMembers is not supported: Entra groups follow the group rules.
func (c *Connector) RemoveMembers(ctx context.Context, op targets.Op) error {
	return unsupported("groups are not provisioned to Entra")
}

// object turns a user's properties into an Object with the mapping's
// attributes, memberOf read when the rules need it.
func (c *Connector) object(ctx context.Context, m map[string]any) (targets.Object, error) {
	id, _ := m["id"].(string)
	o := targets.Object{Kind: targets.User, Anchor: id, Attrs: map[string]any{}}
	for _, p := range c.props {
		switch v := m[p].(type) {
		case string:
			if v != "" && p != "accountEnabled" {
				o.Attrs[p] = v
			}
		case bool:
			if p == "accountEnabled" {
				o.Disabled = !v
			}
		}
	}
	if slices.Contains(c.props, "id") {
		o.Attrs["id"] = id
	}
	if c.member {
		have, err := c.client.MemberOf(ctx, id)
		if err != nil {
			return o, classify(err)
		}
		var groups []string
		for _, g := range have {
			if n, ok := c.names[strings.ToLower(g)]; ok {
				groups = append(groups, n)
			}
		}
		slices.Sort(groups)
		if len(groups) > 0 {
			o.Attrs[MemberOf] = groups
		}
	}
	return o, nil
}

// Get reads a user.
func (c *Connector) Get(ctx context.Context, kind targets.Kind, anchor string) (targets.Object, error) {
	if kind != targets.User {
		return targets.Object{}, unsupported("groups are not provisioned to Entra")
	}
	m, err := c.client.UserProperties(ctx, anchor, c.props)
	if err != nil {
		return targets.Object{}, classify(err)
	}
	return c.object(ctx, m)
}

// List pages through the tenant's users; the cursor is Graph's
// @odata.nextLink.
func (c *Connector) List(ctx context.Context, kind targets.Kind, cursor string, limit int) (targets.Page, error) {
	if kind != targets.User {
		return targets.Page{}, unsupported("groups are not provisioned to Entra")
	}
	if limit <= 0 {
		limit = 100
	}
	users, next, err := c.client.ListUsers(ctx, cursor, c.props, limit)
	if err != nil {
		if errors.Is(err, entra.ErrInvalid) {
			return targets.Page{}, targets.Permanent(err)
		}
		return targets.Page{}, classify(err)
	}
	page := targets.Page{Next: next}
	for _, m := range users {
		o, err := c.object(ctx, m)
		if err != nil {
			return targets.Page{}, err
		}
		page.Objects = append(page.Objects, o)
	}
	return page, nil
}

// Lookup finds users by a property Graph filters on.
func (c *Connector) Lookup(ctx context.Context, kind targets.Kind, attr string, value any, limit int) ([]targets.Object, error) {
	if kind != targets.User {
		return nil, unsupported("groups are not provisioned to Entra")
	}
	if !slices.Contains(entra.FilterProperties, attr) {
		return nil, targets.Permanent(fmt.Errorf("entra: lookup by %q: not a property Graph filters on (%s)", attr, strings.Join(entra.FilterProperties, ", ")))
	}
	s, ok := value.(string)
	if !ok {
		return nil, targets.Permanent(fmt.Errorf("entra: lookup by %q: a %T value, want a string", attr, value))
	}
	if s == "" || strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 }) {
		return []targets.Object{}, nil // no Entra property holds it
	}
	if err := ctx.Err(); err != nil {
		return nil, targets.Transient(err)
	}
	users, err := c.client.FindUsers(ctx, attr, s, c.props, limit)
	if err != nil {
		return nil, classify(err)
	}
	out := []targets.Object{}
	for _, m := range users {
		o, err := c.object(ctx, m)
		if err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, nil
}

// Health checks that a token can be had.
func (c *Connector) Health(ctx context.Context) error {
	_, err := c.client.Check(ctx)
	return classify(err)
}

// Close releases nothing: the client is the gateway's.
func (c *Connector) Close(context.Context) error { return nil }
