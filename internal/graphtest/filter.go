package graphtest

import (
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
)

// filterEq is the one form of $filter the fake implements: a property
// equal to a string literal, the literal's quotes doubled ("prop eq
// 'O”Brien'"), as Graph reads it on users and groups.
var filterEq = regexp.MustCompile(`^\s*([A-Za-z]+)\s+eq\s+'((?:[^']|'')*)'\s*$`)

// Properties that Graph's $filter supports with eq (without advanced
// query parameters) on each type, of those the fake stores.
var (
	userFilterProps  = []string{"id", "userPrincipalName", "mail", "employeeId", "displayName", "givenName", "surname", "jobTitle", "department", "userType"}
	groupFilterProps = []string{"id", "displayName", "mail"}
)

// parseFilter returns the property and value of r's $filter, ok false
// when there is none; a filter the fake does not implement is a 400.
func parseFilter(r greq, typ string, props []string) (prop, value string, ok bool, e gresp) {
	f := r.query.Get("$filter")
	if f == "" {
		return "", "", false, gresp{}
	}
	m := filterEq.FindStringSubmatch(f)
	if m == nil {
		return "", "", false, gerr(http.StatusBadRequest, "Request_UnsupportedQuery", "graphtest implements only $filter=<property> eq '<string>': "+f)
	}
	if !slices.Contains(props, m[1]) {
		return "", "", false, gerr(http.StatusBadRequest, "Request_UnsupportedQuery",
			fmt.Sprintf("Unsupported or invalid query filter clause specified for property '%s' of resource '%s'.", m[1], typ))
	}
	return m[1], strings.ReplaceAll(m[2], "''", "'"), true, gresp{}
}

// userValue is a user's string property, for $filter.
func (u *User) value(prop string) string {
	switch prop {
	case "id":
		return u.ID
	case "userPrincipalName":
		return u.UserPrincipalName
	case "mail":
		return u.Mail
	case "employeeId":
		return u.EmployeeID
	case "displayName":
		return u.DisplayName
	case "givenName":
		return u.GivenName
	case "surname":
		return u.Surname
	case "jobTitle":
		return u.JobTitle
	case "department":
		return u.Department
	case "userType":
		return u.UserType
	}
	return ""
}

// matches reports whether v equals a filter's literal: Graph compares
// these properties case-insensitively.
func matches(v, lit string) bool { return strings.EqualFold(v, lit) }

// memberOf lists the groups a user is a direct member of:
// GET /users/{id}/memberOf.
func (s *Server) memberOf(r greq, key string) gresp {
	if e := unsupportedQuery(r); e.status != 0 {
		return e
	}
	props, e := selectProps(r, "directoryObject", groupProps, []string{"id", "displayName", "mail"})
	if e.status != 0 {
		return e
	}
	if !has(r.roles, permReadUsers) || !has(r.roles, permReadGroups) {
		return denied()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.user(key)
	if u == nil {
		return notFound(key)
	}
	var groups []*Group
	for _, g := range s.groups {
		if slices.ContainsFunc(g.Members, func(m string) bool { return strings.EqualFold(m, u.ID) }) {
			groups = append(groups, g)
		}
	}
	from, to, next, e := s.page(r, len(groups))
	if e.status != 0 {
		return e
	}
	items := []map[string]any{}
	for _, g := range groups[from:to] {
		m := g.json(props)
		m["@odata.type"] = "#microsoft.graph.group"
		items = append(items, m)
	}
	return s.collection("directoryObjects", items, next)
}
