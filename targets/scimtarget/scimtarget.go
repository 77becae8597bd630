// Package scimtarget provisions users, groups and memberships to a
// downstream SCIM 2.0 service (RFC 7643, RFC 7644): the typical SaaS app
// that speaks SCIM but sits behind a firewall, as Entra's on-premises SCIM
// provisioning does. The gateway is then the SCIM client.
//
// # Configuration
//
//	targets:
//	  - name: saas
//	    type: scim
//	    config:
//	      base_url: https://app.example.com/scim/v2
//	      bearer_token_file: /etc/scimgate/saas-token    # or bearer_token_env
//	      # or OAuth 2.0 client credentials (golang.org/x/oauth2/clientcredentials):
//	      # oauth2:
//	      #   token_url: https://login.example.com/oauth2/token
//	      #   client_id: scimgate
//	      #   client_secret_file: /etc/scimgate/saas-secret   # or client_secret_env
//	      #   scopes: [scim]
//	      #   params: {audience: https://app.example.com}
//	      tls: {ca_file: /etc/scimgate/app-ca.pem}        # cert_file, key_file, server_name
//	      timeout: 30s           # each HTTP request (default 30s)
//	      rate_limit: 10         # requests per second (default: none); rate_burst
//	      page_size: 100         # List page size (default 100)
//	      object_id_attribute: externalId   # where the gateway's object id is recorded
//	      users: {unique: [userName]}       # how a 409's holder is found (default)
//	      groups: {unique: [displayName]}   # absent: no groups
//	      quirks:
//	        booleans_as_strings: false      # send true/false as "True"/"False"
//	        patch_without_path: false       # one replace without path (value object)
//	        member_removal: path            # or value
//	        patch_status: [200, 204]        # statuses accepted on PATCH
//
// base_url may be http only for a loopback host. Secrets come from an
// environment variable or a file and never appear in errors or logs. The
// tls settings apply to the service and the token endpoint; ca_file
// replaces the system's CAs. OAuth 2.0 tokens are cached until 10 seconds
// before they expire, and renewed at once when the service answers 401.
// Validate reports every invalid field; Open reads the secrets and GETs
// /ServiceProviderConfig, which checks the URL and the credentials and
// says whether the service supports PATCH and ETags.
//
// # Attributes
//
// The target's mapping writes SCIM attribute paths as target attribute
// names. The supported forms, with the values they take:
//
//	userName, title, active            a top-level attribute: string, bool, int64, float64;
//	                                   a []string is a multi-valued simple attribute
//	name.givenName                     a sub-attribute of a complex attribute
//	emails.value  ([]string)           a multi-valued complex attribute: one element per
//	                                   value, without type; it owns the whole attribute
//	                                   (no [type eq] path, no other list path of it)
//	emails[type eq "work"].value       the sub-attribute of the element of that type
//	                                   (created when missing); one value
//	urn:...:2.0:User:department        an extension attribute, in any of the forms above
//	urn:...:2.0:User:manager.value     after the schema URN and ':'
//
// Names are written exactly in this canonical spelling: an operation or a
// Lookup with another one is refused with ErrPermanent naming the
// attribute. The filter is only [type eq "..."], its value a JSON string.
// id, schemas, meta, members and groups are the connector's or the
// service's and may not be mapped, nor may object_id_attribute.
//
// Create POSTs the resource built from the attributes (extension objects
// under their URN, which is added to schemas). Get, List and Lookup return
// every attribute of the resource under the same paths: top-level
// attributes by name, complex ones as name.sub, the elements of a
// multi-valued complex attribute that have a type as name[type eq "t"].sub
// and the string sub-attributes of those without one as a name.sub list,
// extension attributes behind their URN; except id, schemas, meta,
// members, groups, password and object_id_attribute. Numbers without
// fraction or exponent read back as int64, others as float64 (so a decimal
// attribute holding 3.0 reads back as int64 3).
//
// # Operations
//
// The anchor is the resource's id at the service (RFC 7643 section 3.1
// makes ids unique across resource types). The gateway's object id is
// recorded in object_id_attribute (default externalId) on Create and on
// every Update; Create first looks for a resource holding the object id
// (a filter query) and reports it as a conflict instead of creating a
// second one (a service that cannot filter on it gets the POST). When the
// service answers 409, the holder is found by the object id and then by
// the kind's unique attributes, and returned in the
// *targets.ConflictError. A user is disabled when active is false.
//
// Update sends a PATCH (a replace per attribute, a remove per cleared one)
// when /ServiceProviderConfig declares patch.supported; otherwise it GETs
// the resource, changes it and PUTs it back, with If-Match when the service
// declares etag.supported (a changed ETag, 412, is transient). Disable and
// Enable set active. Groups are created without members; AddMembers and
// RemoveMembers PATCH members (GET and PUT without PATCH). AddMembers of a
// member that does not exist is ErrNotFound; RemoveMembers of a member
// that is absent succeeds, also when the service answers noTarget.
//
// Lookup (targets.Finder) queries filter=attr eq "value", the value a
// JSON-escaped SCIM string (a [type eq] path becomes
// attr[type eq "t" and sub eq "value"]). List pages with startIndex and
// count; the cursor is the next startIndex. Index paging means that a
// resource deleted during a listing may make it skip another, which a
// later reconciliation finds. Health GETs /ServiceProviderConfig.
//
// # Quirks
//
//   - booleans_as_strings: every boolean sent (active included) is the
//     string "True" or "False", as Entra sends them without its
//     aadOptscim062020 flag; those strings read back as booleans.
//   - patch_without_path: the replaces of an Update go in one operation
//     without path whose value is the partial resource (RFC 7644 section
//     3.5.2.3); [type eq] paths and removals keep their own operations.
//   - member_removal: path sends {"op":"remove","path":"members[value eq \"id\"]"}
//     per member (RFC 7644); value sends one
//     {"op":"remove","path":"members","value":[{"value":"id"}]} (Entra's
//     default).
//   - patch_status: the statuses that a PATCH may succeed with (200 with the
//     resource, 204 without; default both).
//
// # Errors
//
// 429, 5xx and transport failures are ErrTransient; a Retry-After is given
// in the error and waited for (at most 30 seconds, within the call's
// deadline) before the call returns, and the engine's backoff applies on
// top. 409 is a *targets.ConflictError; 404 ErrNotFound; 400 and other
// statuses ErrPermanent, with the SCIM error's scimType and detail and the
// operation's attribute that the detail names. 401 and 403 are
// permanent (after one renewal of an OAuth 2.0 token), as are a server
// certificate that tls does not trust and a client certificate that the
// service refuses.
package scimtarget

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/time/rate"

	"github.com/scimgate/scimgate/targets"
)

// Connector is an open SCIM target.
type Connector struct {
	cfg      Config
	base     string // BaseURL without a trailing '/'
	client   *http.Client
	auth     authorizer
	limiter  *rate.Limiter // nil: no limit
	clock    clock
	objectID path
	users    *kind
	groups   *kind // nil without groups

	// From /ServiceProviderConfig, read by Open.
	patch, etag bool
}

// kind is one kind of resource at the service.
type kind struct {
	kind     targets.Kind
	endpoint string // "/Users"
	schema   string // the core schema URN
	unique   []path
}

var (
	_ targets.Connector     = (*Connector)(nil)
	_ targets.Finder        = (*Connector)(nil)
	_ targets.HealthChecker = (*Connector)(nil)
)

// newConnector builds the connector of a validated configuration.
func newConnector(cfg Config, client *http.Client, a authorizer) *Connector {
	c := &Connector{cfg: cfg, base: strings.TrimRight(cfg.BaseURL, "/"), client: client, auth: a,
		limiter: cfg.limiter(), clock: cfg.clock()}
	c.objectID, _ = parsePath(cfg.ObjectIDAttribute)
	newKind := func(k targets.Kind, endpoint, schema string, kc KindConfig) *kind {
		out := &kind{kind: k, endpoint: endpoint, schema: schema}
		for _, u := range kc.Unique {
			p, _ := parsePath(u)
			out.unique = append(out.unique, p)
		}
		return out
	}
	c.users = newKind(targets.User, "/Users", userSchema, cfg.Users)
	if cfg.Groups != nil {
		c.groups = newKind(targets.Group, "/Groups", groupSchema, *cfg.Groups)
	}
	return c
}

// discover reads /ServiceProviderConfig.
func (c *Connector) discover(ctx context.Context) error {
	spc, err := c.serviceProviderConfig(ctx)
	if err != nil {
		return err
	}
	c.patch, c.etag = spc.Patch.Supported.v, spc.ETag.Supported.v
	return nil
}

type spConfig struct {
	Patch struct {
		Supported flexBool `json:"supported"`
	} `json:"patch"`
	ETag struct {
		Supported flexBool `json:"supported"`
	} `json:"etag"`
}

// flexBool is a JSON boolean that may come as a string ("True").
type flexBool struct{ v bool }

func (b *flexBool) UnmarshalJSON(data []byte) error {
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		return err
	}
	switch v := v.(type) {
	case bool:
		b.v = v
	case string:
		b.v = strings.EqualFold(v, "true")
	}
	return nil
}

func (c *Connector) serviceProviderConfig(ctx context.Context) (spConfig, error) {
	var spc spConfig
	resp, err := c.do(ctx, request{method: http.MethodGet, path: spConfigPath})
	if err == nil {
		if err = json.Unmarshal(resp.body, &spc); err != nil {
			err = targets.Permanent(fmt.Errorf("scim: GET %s: not a ServiceProviderConfig: %w", spConfigPath, err))
		}
	}
	var he *HTTPError
	if errors.Is(err, targets.ErrNotFound) && errors.As(err, &he) {
		err = targets.Permanent(fmt.Errorf("%w (is base_url %s the SCIM base URL?)", he, c.base))
	}
	return spc, err
}

// Capabilities: users, disable and lookup; groups when configured.
func (c *Connector) Capabilities() targets.Capabilities { return c.cfg.Provides() }

// kindOf returns the kind of op, or the unsupported error.
func (c *Connector) kindOf(k targets.Kind) (*kind, error) {
	switch {
	case k == targets.User:
		return c.users, nil
	case k == targets.Group && c.groups != nil:
		return c.groups, nil
	case k == targets.Group:
		return nil, targets.Permanent(fmt.Errorf("scim: groups are not configured (groups:): %w", errors.ErrUnsupported))
	}
	return nil, targets.Permanent(fmt.Errorf("scim: unknown kind %q", k))
}

func (k *kind) resourcePath(anchor string) string { return k.endpoint + "/" + url.PathEscape(anchor) }

// anchorOf checks an operation's anchor.
func anchorOf(op targets.Op) (string, error) {
	if op.Anchor == "" {
		return "", targets.Permanent(errors.New("scim: operation without anchor"))
	}
	return op.Anchor, nil
}

// Create POSTs the resource, after checking that none holds the object id.
func (c *Connector) Create(ctx context.Context, op targets.Op) (string, error) {
	k, err := c.kindOf(op.Kind)
	if err != nil {
		return "", err
	}
	attrs, err := c.parseAttrs(op.Kind, op.Attrs)
	if err != nil {
		return "", err
	}
	// Create ignores nil values, and so empty lists: no nulls are sent.
	attrs = slices.DeleteFunc(attrs, func(a attr) bool { return a.v == nil })
	res := map[string]any{}
	for _, a := range attrs {
		if err := setPath(res, a.p, a.v); err != nil {
			return "", targets.Permanent(fmt.Errorf("attribute %q: %w", a.p, err))
		}
	}
	if op.ObjectID != "" {
		if err := setPath(res, c.objectID, op.ObjectID); err != nil {
			return "", targets.Permanent(fmt.Errorf("object_id_attribute %q: %w", c.objectID, err))
		}
		// Not a second resource for the object: an earlier attempt whose
		// answer was lost, or an Update that recorded the id elsewhere.
		found, err := c.find(ctx, k, c.objectID, op.ObjectID, 2)
		switch {
		case err != nil && targets.Class(err) != targets.ErrPermanent:
			return "", err
		case len(found) > 0:
			return "", &targets.ConflictError{Anchor: found[0].Anchor, ObjectID: found[0].ObjectID,
				Err: fmt.Errorf("scim: %s %s already holds object id %q", k.kind, found[0].Anchor, op.ObjectID)}
		}
	}
	res["schemas"] = schemasOf(k, res)
	resp, err := c.do(ctx, request{method: http.MethodPost, path: k.endpoint, body: res, attrs: attrs})
	if err != nil {
		return "", c.conflict(ctx, k, op, "", err)
	}
	var created struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(resp.body, &created); err != nil || created.ID == "" {
		return "", targets.Permanent(fmt.Errorf("scim: POST %s: HTTP %d without a resource id (%v)", k.endpoint, resp.status, err))
	}
	return created.ID, nil
}

// schemasOf returns the schemas of a resource: the kind's core schema and
// the extension URNs it has objects under.
func schemasOf(k *kind, res map[string]any) []string {
	out := []string{k.schema}
	if old, ok := res["schemas"].([]any); ok {
		for _, s := range old {
			if s, ok := s.(string); ok && !slices.ContainsFunc(out, func(o string) bool { return strings.EqualFold(o, s) }) {
				out = append(out, s)
			}
		}
	}
	var exts []string
	for key, v := range res {
		if _, ok := v.(map[string]any); ok && len(key) > 4 && strings.EqualFold(key[:4], "urn:") &&
			!slices.ContainsFunc(out, func(o string) bool { return strings.EqualFold(o, key) }) {
			exts = append(exts, key)
		}
	}
	slices.Sort(exts)
	return append(out, exts...)
}

// conflict fills the *targets.ConflictError in err (a 409) with the
// holder: the resource that holds op's object id, or else one of the
// kind's unique values, other than self. Other errors are returned as
// they are.
func (c *Connector) conflict(ctx context.Context, k *kind, op targets.Op, self string, err error) error {
	var ce *targets.ConflictError
	if !errors.As(err, &ce) {
		return err
	}
	type probe struct {
		p path
		v any
	}
	var probes []probe
	if op.ObjectID != "" {
		probes = append(probes, probe{c.objectID, op.ObjectID})
	}
	for _, u := range k.unique {
		if v, ok := op.Attrs[u.String()]; ok && v != nil {
			probes = append(probes, probe{u, v})
		}
	}
	for _, pr := range probes {
		found, ferr := c.find(ctx, k, pr.p, pr.v, 2)
		if ferr != nil {
			continue
		}
		for _, o := range found {
			if o.Anchor != self {
				ce.Anchor, ce.ObjectID = o.Anchor, o.ObjectID
				return err
			}
		}
	}
	return err
}

// Update changes the attributes of op.Anchor and records op.ObjectID: a
// PATCH, or GET and PUT without PATCH support.
func (c *Connector) Update(ctx context.Context, op targets.Op) error {
	k, err := c.kindOf(op.Kind)
	if err != nil {
		return err
	}
	anchor, err := anchorOf(op)
	if err != nil {
		return err
	}
	attrs, err := c.parseAttrs(op.Kind, op.Attrs)
	if err != nil {
		return err
	}
	if op.ObjectID != "" {
		attrs = append(attrs, attr{p: c.objectID, v: op.ObjectID})
	}
	if len(attrs) == 0 {
		_, err := c.get(ctx, k, anchor)
		return err
	}
	if c.patch {
		ops, err := patchOps(attrs, c.cfg.Quirks.PatchWithoutPath)
		if err == nil {
			err = c.patchResource(ctx, k, anchor, ops, attrs)
		}
		return c.conflict(ctx, k, op, anchor, err)
	}
	err = c.replace(ctx, k, anchor, attrs, func(res map[string]any) error {
		for _, a := range attrs {
			if a.v == nil {
				removePath(res, a.p)
			} else if err := setPath(res, a.p, a.v); err != nil {
				return targets.Permanent(fmt.Errorf("attribute %q: %w", a.p, err))
			}
		}
		return nil
	})
	return c.conflict(ctx, k, op, anchor, err)
}

// patchResource sends a PATCH and checks its status against the quirks.
func (c *Connector) patchResource(ctx context.Context, k *kind, anchor string, ops []patchOp, attrs []attr) error {
	p := k.resourcePath(anchor)
	resp, err := c.do(ctx, request{method: http.MethodPatch, path: p, body: newPatch(ops...), attrs: attrs})
	if err != nil {
		return err
	}
	if !slices.Contains(c.cfg.Quirks.PatchStatus, resp.status) {
		return targets.Permanent(fmt.Errorf("scim: PATCH %s: HTTP %d, but quirks.patch_status accepts only %v", p, resp.status, c.cfg.Quirks.PatchStatus))
	}
	return nil
}

// replace GETs a resource, lets modify change it, and PUTs it back, with
// If-Match when the service supports ETags; attrs are those modify sets.
func (c *Connector) replace(ctx context.Context, k *kind, anchor string, attrs []attr, modify func(res map[string]any) error) error {
	p := k.resourcePath(anchor)
	resp, err := c.do(ctx, request{method: http.MethodGet, path: p})
	if err != nil {
		return err
	}
	res, err := decodeObject(resp.body)
	if err != nil {
		return targets.Permanent(fmt.Errorf("scim: GET %s: %w", p, err))
	}
	etag := ""
	if c.etag {
		etag = resp.header.Get("ETag")
		if meta, ok := res["meta"].(map[string]any); ok && etag == "" {
			etag, _ = meta["version"].(string)
		}
	}
	if err := modify(res); err != nil {
		return err
	}
	for _, ro := range []string{"meta", "groups"} {
		if k.kind == targets.User || ro == "meta" {
			delete(res, lookupKey(res, ro))
		}
	}
	res["schemas"] = schemasOf(k, res)
	_, err = c.do(ctx, request{method: http.MethodPut, path: p, body: res, ifMatch: etag, attrs: attrs})
	return err
}

// Delete DELETEs the resource; a missing one is success.
func (c *Connector) Delete(ctx context.Context, op targets.Op) error {
	k, err := c.kindOf(op.Kind)
	if err != nil {
		return err
	}
	anchor, err := anchorOf(op)
	if err != nil {
		return err
	}
	_, err = c.do(ctx, request{method: http.MethodDelete, path: k.resourcePath(anchor)})
	if errors.Is(err, targets.ErrNotFound) {
		return nil
	}
	return err
}

// Disable sets active to false.
func (c *Connector) Disable(ctx context.Context, op targets.Op) error {
	return c.setActive(ctx, op, false)
}

// Enable sets active to true.
func (c *Connector) Enable(ctx context.Context, op targets.Op) error {
	return c.setActive(ctx, op, true)
}

func (c *Connector) setActive(ctx context.Context, op targets.Op, active bool) error {
	if op.Kind != targets.User {
		return targets.Permanent(fmt.Errorf("scim: only users are disabled or enabled: %w", errors.ErrUnsupported))
	}
	anchor, err := anchorOf(op)
	if err != nil {
		return err
	}
	a := []attr{{p: path{name: "active"}, v: active}}
	if c.patch {
		ops, _ := patchOps(a, c.cfg.Quirks.PatchWithoutPath)
		return c.patchResource(ctx, c.users, anchor, ops, nil)
	}
	return c.replace(ctx, c.users, anchor, nil, func(res map[string]any) error {
		res[lookupKey(res, "active")] = active
		return nil
	})
}

// memberValues returns the members as the value objects of members.
func memberValues(anchors []string) []any {
	out := make([]any, len(anchors))
	for i, a := range anchors {
		out[i] = map[string]any{"value": a}
	}
	return out
}

// AddMembers adds op.Members to the group: a PATCH add of members. When
// the service refuses it, a group or member that does not exist makes it
// ErrNotFound.
func (c *Connector) AddMembers(ctx context.Context, op targets.Op) error {
	g, anchor, err := c.group(op)
	if err != nil {
		return err
	}
	if len(op.Members) == 0 {
		_, err := c.get(ctx, g, anchor)
		return err
	}
	if c.patch {
		// Services may skip unknown members of a PATCH (Entra-compatible
		// ones do, scimgate among them): make sure every member exists
		// first, so that the add changes nothing when one does not.
		if err := c.absent(ctx, g, op.Members); err != nil {
			return err
		}
		err = c.patchResource(ctx, g, anchor, []patchOp{{Op: opAdd, Path: "members", Value: memberValues(op.Members)}}, nil)
	} else {
		err = c.replace(ctx, g, anchor, nil, func(res map[string]any) error {
			k := lookupKey(res, "members")
			res[k] = append(asSlice(res[k]), memberValues(slices.DeleteFunc(slices.Clone(op.Members), func(m string) bool {
				return slices.Contains(members(res), m)
			}))...)
			return nil
		})
	}
	if err == nil || targets.Class(err) == targets.ErrTransient {
		return err
	}
	if missing := c.missing(ctx, g, anchor, op.Members); missing != nil {
		return missing
	}
	return err
}

// absentChunk is how many ids one existence query names (filter
// "id eq a or id eq b ...").
const absentChunk = 50

// absent returns ErrNotFound naming a member that is neither a user nor a
// group of the service, nil when all exist. It asks with one filter query
// per absentChunk members and kind; a service that cannot filter by id is
// asked member by member.
func (c *Connector) absent(ctx context.Context, g *kind, members []string) error {
	for rest := members; len(rest) > 0; {
		chunk := rest[:min(len(rest), absentChunk)]
		rest = rest[len(chunk):]
		left := map[string]bool{}
		for _, m := range chunk {
			left[m] = true
		}
		for _, k := range []*kind{c.users, g} {
			if len(left) == 0 {
				break
			}
			terms := make([]string, 0, len(left))
			for _, m := range slices.Sorted(maps.Keys(left)) {
				terms = append(terms, "id eq "+strconv.Quote(m))
			}
			_, objs, err := c.query(ctx, k, url.Values{"filter": {strings.Join(terms, " or ")},
				"attributes": {"id"}, "count": {strconv.Itoa(len(terms))}})
			if err != nil {
				if targets.Class(err) == targets.ErrTransient {
					return err
				}
				return c.missing(ctx, g, "", chunk)
			}
			for _, o := range objs {
				delete(left, o.Anchor)
			}
		}
		for _, m := range chunk {
			if left[m] {
				return targets.NotFound(fmt.Errorf("scim: member %s: no user or group has that id", m))
			}
		}
	}
	return nil
}

// missing returns ErrNotFound naming the group or a member that does not
// exist, nil when all exist or that cannot be told.
func (c *Connector) missing(ctx context.Context, g *kind, anchor string, members []string) error {
	if anchor != "" {
		if _, err := c.get(ctx, g, anchor); errors.Is(err, targets.ErrNotFound) {
			return err
		}
	}
	for _, m := range members {
		_, uerr := c.get(ctx, c.users, m)
		if !errors.Is(uerr, targets.ErrNotFound) {
			continue
		}
		if _, gerr := c.get(ctx, g, m); errors.Is(gerr, targets.ErrNotFound) {
			return targets.NotFound(fmt.Errorf("scim: member %s: no user or group has that id", m))
		}
	}
	return nil
}

// RemoveMembers removes op.Members from the group, in the shape of
// quirks.member_removal. A service that refuses the removal of an absent
// member (noTarget) gets the removal of those present.
func (c *Connector) RemoveMembers(ctx context.Context, op targets.Op) error {
	g, anchor, err := c.group(op)
	if err != nil {
		return err
	}
	if len(op.Members) == 0 {
		_, err := c.get(ctx, g, anchor)
		return err
	}
	if !c.patch {
		return c.replace(ctx, g, anchor, nil, func(res map[string]any) error {
			k := lookupKey(res, "members")
			res[k] = slices.DeleteFunc(asSlice(res[k]), func(e any) bool {
				m, _ := e.(map[string]any)
				v, _ := m["value"].(string)
				return slices.Contains(op.Members, v)
			})
			return nil
		})
	}
	remove := func(anchors []string) error {
		var ops []patchOp
		if c.cfg.Quirks.MemberRemoval == RemoveByValue {
			ops = []patchOp{{Op: opRemove, Path: "members", Value: memberValues(anchors)}}
		} else {
			for _, m := range anchors {
				ops = append(ops, patchOp{Op: opRemove, Path: "members[value eq " + quote(m) + "]"})
			}
		}
		return c.patchResource(ctx, g, anchor, ops, nil)
	}
	err = remove(op.Members)
	var he *HTTPError
	if !errors.As(err, &he) || he.Status != http.StatusBadRequest || !strings.EqualFold(he.ScimType, scimNoTarget) {
		return err
	}
	o, gerr := c.get(ctx, g, anchor)
	if gerr != nil {
		return gerr
	}
	present := slices.DeleteFunc(slices.Clone(op.Members), func(m string) bool { return !slices.Contains(o.Members, m) })
	if len(present) == 0 {
		return nil
	}
	return remove(present)
}

// group returns the groups kind and the anchor of a membership operation.
func (c *Connector) group(op targets.Op) (*kind, string, error) {
	if op.Kind != targets.Group {
		return nil, "", targets.Permanent(fmt.Errorf("scim: members of a %s: %w", op.Kind, errors.ErrUnsupported))
	}
	g, err := c.kindOf(targets.Group)
	if err != nil {
		return nil, "", err
	}
	anchor, err := anchorOf(op)
	return g, anchor, err
}

func asSlice(v any) []any {
	s, _ := v.([]any)
	return s
}

// members returns the member ids of a group resource.
func members(res map[string]any) []string {
	var out []string
	for _, e := range asSlice(res[lookupKey(res, "members")]) {
		if m, ok := e.(map[string]any); ok {
			if v, ok := m["value"].(string); ok && !slices.Contains(out, v) {
				out = append(out, v)
			}
		}
	}
	return out
}

// Get returns the resource of the given kind and id.
func (c *Connector) Get(ctx context.Context, kind targets.Kind, anchor string) (targets.Object, error) {
	k, err := c.kindOf(kind)
	if err != nil {
		return targets.Object{}, err
	}
	if anchor == "" {
		return targets.Object{}, targets.NotFound(errors.New("scim: empty anchor"))
	}
	return c.get(ctx, k, anchor)
}

func (c *Connector) get(ctx context.Context, k *kind, anchor string) (targets.Object, error) {
	p := k.resourcePath(anchor)
	resp, err := c.do(ctx, request{method: http.MethodGet, path: p})
	if err != nil {
		return targets.Object{}, err
	}
	res, err := decodeObject(resp.body)
	if err != nil {
		return targets.Object{}, targets.Permanent(fmt.Errorf("scim: GET %s: %w", p, err))
	}
	o := c.object(k, res)
	if o.Anchor != anchor {
		return targets.Object{}, targets.Permanent(fmt.Errorf("scim: GET %s returned the resource %q", p, o.Anchor))
	}
	return o, nil
}

// object converts a resource into an Object.
func (c *Connector) object(k *kind, res map[string]any) targets.Object {
	o := targets.Object{Kind: k.kind}
	o.Anchor, _ = res[lookupKey(res, "id")].(string)
	all := flatten(res, c.cfg.Quirks.BooleansAsStrings, func(key string) bool {
		switch strings.ToLower(key) {
		case "id", "schemas", "meta", "password":
			return true
		case "members":
			return k.kind == targets.Group
		case "groups":
			return k.kind == targets.User
		}
		return false
	})
	if v, ok := all[c.objectID.String()].(string); ok {
		o.ObjectID = v
	}
	delete(all, c.objectID.String())
	if k.kind == targets.User {
		switch v := res[lookupKey(res, "active")].(type) {
		case bool:
			o.Disabled = !v
		case string:
			o.Disabled = strings.EqualFold(v, "false")
		}
	} else {
		o.Members = members(res)
	}
	o.Attrs = all
	return o
}

// decodeObject decodes a JSON object, numbers as json.Number.
func decodeObject(body []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var res map[string]any
	if err := dec.Decode(&res); err != nil {
		return nil, fmt.Errorf("invalid JSON resource: %w", err)
	}
	if res == nil {
		return nil, errors.New("not a JSON object")
	}
	return res, nil
}

// listResponse is an RFC 7644 ListResponse.
type listResponse struct {
	TotalResults int               `json:"totalResults"`
	StartIndex   int               `json:"startIndex"`
	Resources    []json.RawMessage `json:"Resources"`
}

// query GETs a page of resources.
func (c *Connector) query(ctx context.Context, k *kind, q url.Values) (listResponse, []targets.Object, error) {
	var lr listResponse
	resp, err := c.do(ctx, request{method: http.MethodGet, path: k.endpoint, query: q})
	if err != nil {
		return lr, nil, err
	}
	if err := json.Unmarshal(resp.body, &lr); err != nil {
		return lr, nil, targets.Permanent(fmt.Errorf("scim: GET %s: not a ListResponse: %w", k.endpoint, err))
	}
	objs := make([]targets.Object, 0, len(lr.Resources))
	for _, raw := range lr.Resources {
		res, err := decodeObject(raw)
		if err != nil {
			return lr, nil, targets.Permanent(fmt.Errorf("scim: GET %s: %w", k.endpoint, err))
		}
		o := c.object(k, res)
		if o.Anchor == "" {
			return lr, nil, targets.Permanent(fmt.Errorf("scim: GET %s: a resource without id", k.endpoint))
		}
		objs = append(objs, o)
	}
	return lr, objs, nil
}

// List returns a page of resources: startIndex is the cursor.
func (c *Connector) List(ctx context.Context, kind targets.Kind, cursor string, limit int) (targets.Page, error) {
	k, err := c.kindOf(kind)
	if err != nil {
		return targets.Page{}, err
	}
	start := 1
	if cursor != "" {
		if start, err = strconv.Atoi(cursor); err != nil || start < 1 {
			return targets.Page{}, targets.Permanent(fmt.Errorf("scim: invalid cursor %q", cursor))
		}
	}
	if limit <= 0 {
		limit = c.cfg.PageSize
	}
	lr, objs, err := c.query(ctx, k, url.Values{"startIndex": {strconv.Itoa(start)}, "count": {strconv.Itoa(limit)}})
	if err != nil {
		return targets.Page{}, err
	}
	if len(objs) > limit {
		objs = objs[:limit]
	}
	page := targets.Page{Objects: objs}
	// The next startIndex, until a page is empty or reaches totalResults.
	if next := start + len(objs); len(objs) > 0 && (lr.TotalResults <= 0 || next <= lr.TotalResults) {
		page.Next = strconv.Itoa(next)
	}
	return page, nil
}

// Lookup finds the resources whose attr equals value with a filter query.
func (c *Connector) Lookup(ctx context.Context, kind targets.Kind, attrName string, value any, limit int) ([]targets.Object, error) {
	k, err := c.kindOf(kind)
	if err != nil {
		return nil, err
	}
	p, err := parsePath(attrName)
	if err != nil {
		return nil, targets.Permanent(fmt.Errorf("scim: lookup by attribute %w", err))
	}
	if limit <= 0 {
		limit = maxLookupSize
	}
	objs, err := c.find(ctx, k, p, value, limit)
	if err != nil {
		return nil, fmt.Errorf("scim: lookup by attribute %q: %w", attrName, err)
	}
	return objs, nil
}

// find queries the resources whose p equals v.
func (c *Connector) find(ctx context.Context, k *kind, p path, v any, limit int) ([]targets.Object, error) {
	f, err := filter(p, v)
	if err != nil {
		return nil, err
	}
	_, objs, err := c.query(ctx, k, url.Values{"filter": {f}, "count": {strconv.Itoa(limit)}})
	if len(objs) > limit {
		objs = objs[:limit]
	}
	return objs, err
}

// Health GETs /ServiceProviderConfig.
func (c *Connector) Health(ctx context.Context) error {
	_, err := c.serviceProviderConfig(ctx)
	return err
}

// Close closes the idle connections.
func (c *Connector) Close(context.Context) error {
	c.client.CloseIdleConnections()
	return nil
}
