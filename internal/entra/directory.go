package entra

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	abs "github.com/microsoft/kiota-abstractions-go"
)

// What the entra target needs beyond the four actions: finding users and
// groups by a property, reading and writing chosen user properties,
// listing users page by page, a user's groups, and a user's membership
// changes in one JSON batch.

// FilterProperties are the user properties FindUsers accepts: those
// Graph filters with eq without advanced query parameters.
var FilterProperties = []string{"id", "userPrincipalName", "mail", "employeeId", "displayName", "givenName", "surname",
	"jobTitle", "department", "userType"}

// odataString is an OData string literal: quoted, its quotes doubled.
func odataString(v string) string { return "'" + strings.ReplaceAll(v, "'", "''") + "'" }

// FindUsers returns at most limit users (<= 0: 100) whose property prop
// (one of FilterProperties) equals value, with the properties props (id
// always).
func (c *Client) FindUsers(ctx context.Context, prop, value string, props []string, limit int) ([]map[string]any, error) {
	const op = "find users"
	if !slices.Contains(FilterProperties, prop) {
		return nil, &Error{Op: op, Kind: ErrInvalid, Err: fmt.Errorf("property %q cannot be searched (one of %s)", prop, strings.Join(FilterProperties, ", "))}
	}
	if value == "" || strings.ContainsFunc(value, func(r rune) bool { return r < 0x20 }) {
		return nil, &Error{Op: op, Kind: ErrInvalid, Err: fmt.Errorf("%s: empty value or a control character", prop)}
	}
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	if limit <= 0 || limit > 999 {
		limit = 100
	}
	resp, err := c.send(ctx, request{op: op, method: abs.GET, template: "{+baseurl}/users{?%24filter,%24select,%24top}",
		query:      map[string]string{"%24filter": prop + " eq " + odataString(value), "%24select": selectOf(props), "%24top": strconv.Itoa(limit)},
		permission: PermUserRead})
	if err != nil {
		return nil, err
	}
	var p struct {
		Value []map[string]any `json:"value"`
	}
	if err := json.Unmarshal(resp.body, &p); err != nil {
		return nil, &Error{Op: op, Kind: ErrTransient, Status: resp.status, Err: err}
	}
	return p.Value, nil
}

// FindGroups returns the groups (at most 10) named displayName.
func (c *Client) FindGroups(ctx context.Context, displayName string) ([]Group, error) {
	const op = "find groups"
	if displayName == "" {
		return nil, &Error{Op: op, Kind: ErrInvalid, Err: fmt.Errorf("empty group name")}
	}
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	resp, err := c.send(ctx, request{op: op, method: abs.GET, template: "{+baseurl}/groups{?%24filter,%24select,%24top}",
		query:      map[string]string{"%24filter": "displayName eq " + odataString(displayName), "%24select": strings.Join(groupFields, ","), "%24top": "10"},
		permission: PermGroupRead})
	if err != nil {
		return nil, err
	}
	var p struct {
		Value []Group `json:"value"`
	}
	if err := json.Unmarshal(resp.body, &p); err != nil {
		return nil, &Error{Op: op, Kind: ErrTransient, Status: resp.status, Err: err}
	}
	return p.Value, nil
}

// Group reads a group's identity, type and membership rule by object id.
func (c *Client) Group(ctx context.Context, id string) (*Group, error) {
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	return c.group(ctx, "read group", id, groupFields)
}

func selectOf(props []string) string {
	if !slices.Contains(props, "id") {
		props = append([]string{"id"}, props...)
	}
	return strings.Join(props, ",")
}

// UserProperties reads the properties props (id always) of a user, by
// object id or userPrincipalName.
func (c *Client) UserProperties(ctx context.Context, user string, props []string) (map[string]any, error) {
	const op = "read user"
	tmpl, path, err := userPath(op, user)
	if err != nil {
		return nil, err
	}
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	resp, err := c.send(ctx, request{op: op, method: abs.GET, template: tmpl + "{?%24select}", path: path,
		query: map[string]string{"%24select": selectOf(props)}, permission: PermUserRead})
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(resp.body, &m); err != nil {
		return nil, &Error{Op: op, Kind: ErrTransient, Status: resp.status, Err: err}
	}
	return m, nil
}

// ListUsers returns a page of users with the properties props: the first
// page for cursor "", else the page cursor (an @odata.nextLink that
// ListUsers returned) names. next is "" after the last page.
func (c *Client) ListUsers(ctx context.Context, cursor string, props []string, limit int) (users []map[string]any, next string, err error) {
	const op = "list users"
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	if limit <= 0 || limit > 999 {
		limit = 999
	}
	r := request{op: op, method: abs.GET, template: "{+baseurl}/users{?%24select,%24top}",
		query: map[string]string{"%24select": selectOf(props), "%24top": strconv.Itoa(limit)}, permission: PermUserRead, next: cursor}
	resp, err := c.send(ctx, r)
	if err != nil {
		return nil, "", err
	}
	var p struct {
		Value []map[string]any `json:"value"`
		Next  string           `json:"@odata.nextLink"`
	}
	if err := json.Unmarshal(resp.body, &p); err != nil {
		return nil, "", &Error{Op: op, Kind: ErrTransient, Status: resp.status, Err: err}
	}
	return p.Value, p.Next, nil
}

// MemberOf returns the ids of the groups a user is a direct member of.
func (c *Client) MemberOf(ctx context.Context, user string) ([]string, error) {
	const op = "list user's groups"
	tmpl, path, err := userPath(op, user)
	if err != nil {
		return nil, err
	}
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	ids := []string{}
	err = c.list(ctx, request{op: op, method: abs.GET, template: tmpl + "/memberOf{?%24select,%24top}", path: path,
		query: map[string]string{"%24select": "id", "%24top": "999"}, permission: PermGroupRead}, func(item json.RawMessage) error {
		var o Object
		if err := json.Unmarshal(item, &o); err != nil {
			return &Error{Op: op, Kind: ErrTransient, Err: err}
		}
		if o.Type == "" || o.Type == "group" {
			ids = append(ids, o.ID)
		}
		return nil
	})
	return ids, err
}

// UpdateUser sets properties of a user (PATCH /users/{id}); a nil value
// clears the property.
func (c *Client) UpdateUser(ctx context.Context, user string, props map[string]any) error {
	const op = "update user"
	if err := enabled(op, c.cfg.Features.UpdateUsers, "update_users"); err != nil {
		return err
	}
	if len(props) == 0 {
		return nil
	}
	tmpl, path, err := userPath(op, user)
	if err != nil {
		return err
	}
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	_, err = c.send(ctx, request{op: op, method: abs.PATCH, template: tmpl, path: path, body: props, permission: PermUserWrite})
	return existing(err)
}

// maxBatch is the number of requests a JSON batch holds at most.
const maxBatch = 20

// SetMembership adds the user memberID (an object id) to the groups add
// and removes it from the groups remove, in JSON batches of at most 20
// requests: a member already added or already removed is success. A
// request that Graph throttles inside a batch is sent again after its
// Retry-After, which holds back every other request of the client, within
// the retry budget. The first failure is returned; the requests that
// succeeded stay done (every request is safe to repeat).
func (c *Client) SetMembership(ctx context.Context, memberID string, add, remove []string) error {
	const op = "set membership"
	if err := enabled(op, c.cfg.Features.Membership, "membership"); err != nil {
		return err
	}
	if err := objectID(op, "member id", memberID); err != nil {
		return err
	}
	type sub struct {
		ID      string            `json:"id"`
		Method  string            `json:"method"`
		URL     string            `json:"url"`
		Headers map[string]string `json:"headers,omitempty"`
		Body    any               `json:"body,omitempty"`
		group   string
		add     bool
	}
	var subs []sub
	for _, g := range add {
		if err := objectID(op, "group id", g); err != nil {
			return err
		}
		subs = append(subs, sub{Method: http.MethodPost, URL: "/groups/" + g + "/members/$ref",
			Headers: map[string]string{"Content-Type": "application/json"},
			Body:    map[string]string{"@odata.id": c.cfg.GraphURL + "/directoryObjects/" + memberID}, group: g, add: true})
	}
	for _, g := range remove {
		if err := objectID(op, "group id", g); err != nil {
			return err
		}
		subs = append(subs, sub{Method: http.MethodDelete, URL: "/groups/" + g + "/members/" + memberID + "/$ref", group: g})
	}
	if len(subs) == 1 { // one request needs no batch
		var err error
		if subs[0].add {
			_, err = c.AddMember(ctx, subs[0].group, memberID)
		} else {
			_, err = c.RemoveMember(ctx, subs[0].group, memberID)
		}
		return err
	}
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	var waited time.Duration
	for len(subs) > 0 {
		n := min(len(subs), maxBatch)
		chunk := subs[:n]
		for i := range chunk {
			chunk[i].ID = strconv.Itoa(i + 1)
		}
		resp, err := c.send(ctx, request{op: op, method: abs.POST, template: "{+baseurl}/$batch",
			body: map[string]any{"requests": chunk}, permission: PermGroupMemberWrite})
		if err != nil {
			return err
		}
		var out struct {
			Responses []struct {
				ID      string            `json:"id"`
				Status  int               `json:"status"`
				Headers map[string]string `json:"headers"`
				Body    json.RawMessage   `json:"body"`
			} `json:"responses"`
		}
		if err := json.Unmarshal(resp.body, &out); err != nil {
			return &Error{Op: op, Kind: ErrTransient, Status: resp.status, Err: fmt.Errorf("decoding the batch response: %w", err)}
		}
		var again []sub
		var wait time.Duration
		answered := map[string]bool{}
		for _, r := range out.Responses {
			i, err := strconv.Atoi(r.ID)
			if err != nil || i < 1 || i > n {
				continue
			}
			answered[r.ID] = true
			s := chunk[i-1]
			if r.Status < 300 {
				continue
			}
			h := http.Header{}
			for k, v := range r.Headers {
				h.Set(k, v)
			}
			e := graphError(request{op: map[bool]string{true: "add member", false: "remove member"}[s.add], permission: PermGroupMemberWrite},
				response{status: r.Status, header: h, body: r.Body})
			switch {
			case retriable(r.Status):
				d := retryAfter(h.Get("Retry-After"), c.retry.clock.now())
				if d <= 0 {
					d = time.Second
				}
				wait = max(wait, d)
				again = append(again, s)
				continue
			case s.add && r.Status == http.StatusBadRequest && strings.Contains(e.Message, "added object references already exist"):
				continue
			case !s.add && r.Status == http.StatusNotFound:
				// Not a member, or no such group: tell them apart.
				if _, gerr := c.group(ctx, e.Op, s.group, []string{"id"}); gerr != nil {
					return gerr
				}
				continue
			case r.Status == http.StatusBadRequest:
				return c.dynamicRefusal(ctx, e.Op, s.group, e)
			}
			return e
		}
		for i, s := range chunk {
			if !answered[strconv.Itoa(i+1)] {
				return &Error{Op: op, Kind: ErrTransient, Err: fmt.Errorf("the batch response has no answer for group %s", s.group)}
			}
		}
		subs = append(again, subs[n:]...)
		if len(again) > 0 {
			if waited+wait > c.cfg.RetryBudget {
				return &Error{Op: op, Kind: ErrThrottled, Status: http.StatusTooManyRequests, RetryAfter: wait}
			}
			c.retry.hold(wait)
			if err := c.retry.clock.sleep(ctx, wait); err != nil {
				return &Error{Op: op, Kind: ErrTransient, Err: err}
			}
			waited += wait
		}
	}
	return nil
}

// Features returns the features the configuration enables.
func (c *Client) Features() Features { return c.cfg.Features }

// msgExists is the start of Graph's message for a unique value that
// another object holds.
const msgExists = "Another object with the same value for property"

// CreateUser creates a user with props (POST /users; Graph requires
// accountEnabled, displayName, mailNickname, userPrincipalName and
// passwordProfile) and returns its object id. A userPrincipalName that
// another user has is ErrExists.
func (c *Client) CreateUser(ctx context.Context, props map[string]any) (string, error) {
	const op = "create user"
	if err := enabled(op, c.cfg.Features.CreateUsers, "create_users"); err != nil {
		return "", err
	}
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	resp, err := c.send(ctx, request{op: op, method: abs.POST, template: "{+baseurl}/users", body: props, permission: PermUserWrite})
	if err != nil {
		return "", existing(err)
	}
	var u struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(resp.body, &u); err != nil || u.ID == "" {
		return "", &Error{Op: op, Kind: ErrTransient, Status: resp.status, Err: fmt.Errorf("no object id in the answer: %v", err)}
	}
	return u.ID, nil
}

// existing turns Graph's 400 for a taken unique value into ErrExists.
func existing(err error) error {
	if e, ok := err.(*Error); ok && e.Status == http.StatusBadRequest && strings.HasPrefix(e.Message, msgExists) {
		d := *e
		d.Kind = ErrExists
		return &d
	}
	return err
}
