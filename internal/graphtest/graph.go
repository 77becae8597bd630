package graphtest

import (
	crand "crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Application permissions that grant each kind of call, least privileged
// first, as the Graph v1.0 reference lists them.
var (
	permReadUsers  = []string{"User.Read.All", "User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"}
	permReadGroups = []string{"GroupMember.Read.All", "Group.Read.All", "GroupMember.ReadWrite.All", "Group.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"}
	permMembers    = []string{"GroupMember.ReadWrite.All", "Group.ReadWrite.All", "Directory.ReadWrite.All"}
	permWriteUsers = []string{"User.ReadWrite.All", "Directory.ReadWrite.All"}
	permRevoke     = []string{"User.RevokeSessions.All", "User.ReadWrite.All", "Directory.ReadWrite.All"}
	permDeleteUser = []string{"User.ReadWrite.All"}
	permSignIns    = []string{"AuditLog.Read.All"}
	permTAP        = []string{"UserAuthMethod-TAP.ReadWrite.All", "UserAuthenticationMethod.ReadWrite.All"}
)

// Graph's messages that clients match on.
const (
	MsgAlreadyMember = "One or more added object references already exist for the following modified properties: 'members'."
	MsgNotMember     = "One or more removed object references do not exist for the following modified properties: 'members'."
	MsgDenied        = "Insufficient privileges to complete the operation."
	// MsgDynamicGroup is the fake's wording of the 400 that a dynamic
	// group answers to member changes.
	MsgDynamicGroup = "Cannot update the members of a group with dynamic membership: its members follow its membershipRule."
)

// maxPage is the largest $top Graph accepts for directory objects.
const maxPage = 999

// greq is a Graph request, from HTTP or from a batch.
type greq struct {
	method  string
	rawPath string   // escaped, from /v1.0
	segs    []string // unescaped path segments after /v1.0
	query   url.Values
	header  http.Header
	body    []byte
	roles   []string
}

// gresp is a Graph response.
type gresp struct {
	status int
	header http.Header
	body   any    // JSON, or nil
	text   string // text/plain body when body is nil
}

func gerr(status int, code, msg string) gresp {
	now := time.Now().UTC().Format("2006-01-02T15:04:05")
	return gresp{status: status, body: map[string]any{"error": map[string]any{
		"code": code, "message": msg,
		"innerError": map[string]any{"date": now, "request-id": requestID(), "client-request-id": requestID()},
	}}}
}

func notFound(key string) gresp {
	return gerr(http.StatusNotFound, "Request_ResourceNotFound", fmt.Sprintf("Resource '%s' does not exist or one of its queried reference-property objects are not present.", key))
}

func badRequest(msg string) gresp { return gerr(http.StatusBadRequest, "Request_BadRequest", msg) }

func denied() gresp { return gerr(http.StatusForbidden, "Authorization_RequestDenied", MsgDenied) }

func noContent() gresp { return gresp{status: http.StatusNoContent} }

func has(roles []string, any []string) bool {
	for _, r := range roles {
		if slices.Contains(any, r) {
			return true
		}
	}
	return false
}

// serveGraph answers a request under /v1.0.
func (s *Server) serveGraph(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 4<<20))
	if err != nil {
		writeResp(w, badRequest(err.Error()))
		return
	}
	q := r.URL.Query()
	s.record(Request{Method: r.Method, Path: r.URL.EscapedPath(), Query: q, Header: r.Header.Clone()})
	rawPath := strings.TrimPrefix(r.URL.EscapedPath(), "/v1.0")
	if rawPath != "/$batch" {
		if f, ok := s.takeFault(); ok {
			writeResp(w, f)
			return
		}
	}
	roles, denial := s.verify(r)
	if denial != "" {
		writeResp(w, gerr(http.StatusUnauthorized, "InvalidAuthenticationToken", denial))
		return
	}
	if rawPath == "/$batch" && r.Method == http.MethodPost {
		writeResp(w, s.batch(body, roles))
		return
	}
	req, resp := parse(r.Method, rawPath, q, r.Header, body, roles)
	if resp.status == 0 {
		resp = s.route(req)
	}
	writeResp(w, resp)
}

func (s *Server) record(r Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, r)
}

// takeFault consumes an injected fault.
func (s *Server) takeFault() (gresp, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.faults) > 0 && s.faults[0].n <= 0 {
		s.faults = s.faults[1:]
	}
	if len(s.faults) == 0 {
		return gresp{}, false
	}
	f := &s.faults[0]
	f.n--
	var resp gresp
	switch f.status {
	case http.StatusTooManyRequests:
		resp = gerr(f.status, "TooManyRequests", "Too many requests. Please retry after the time given in Retry-After.")
	case http.StatusServiceUnavailable:
		resp = gerr(f.status, "serviceNotAvailable", "The service is temporarily unavailable.")
	default:
		resp = gerr(f.status, "UnknownError", http.StatusText(f.status))
	}
	if f.retryAfter != "" {
		resp.header = http.Header{"Retry-After": {f.retryAfter}}
	}
	return resp, true
}

func writeResp(w http.ResponseWriter, resp gresp) {
	for k, v := range resp.header {
		w.Header()[k] = v
	}
	switch {
	case resp.body != nil:
		writeJSON(w, resp.status, resp.body)
	case resp.text != "":
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(resp.status)
		_, _ = io.WriteString(w, resp.text)
	default:
		w.WriteHeader(resp.status)
	}
}

// parse splits an escaped path into unescaped segments; /users('key')
// becomes users, key.
func parse(method, rawPath string, q url.Values, h http.Header, body []byte, roles []string) (greq, gresp) {
	req := greq{method: method, rawPath: rawPath, query: q, header: h, body: body, roles: roles}
	for _, seg := range strings.Split(strings.TrimPrefix(rawPath, "/"), "/") {
		u, err := url.PathUnescape(seg)
		if err != nil {
			return req, badRequest("Invalid path segment " + seg)
		}
		req.segs = append(req.segs, u)
	}
	if k, ok := strings.CutPrefix(req.segs[0], "users('"); ok {
		k, ok = strings.CutSuffix(k, "')")
		if !ok {
			return req, badRequest("Bad key syntax in " + req.segs[0])
		}
		req.segs = append([]string{"users", strings.ReplaceAll(k, "''", "'")}, req.segs[1:]...)
	}
	return req, gresp{}
}

// route answers a parsed request.
func (s *Server) route(r greq) gresp {
	seg := func(i int) string {
		if i < len(r.segs) {
			return r.segs[i]
		}
		return ""
	}
	n := len(r.segs)
	switch {
	case seg(0) == "users" && n == 1 && r.method == http.MethodGet:
		return s.listUsers(r)
	case seg(0) == "users" && n == 1 && r.method == http.MethodPost:
		return s.createUser(r)
	case seg(0) == "users" && n == 2:
		switch r.method {
		case http.MethodGet:
			return s.getUser(r, seg(1))
		case http.MethodPatch:
			return s.patchUser(r, seg(1))
		case http.MethodDelete:
			return s.deleteUser(r, seg(1))
		}
	case seg(0) == "users" && n == 3 && seg(2) == "memberOf" && r.method == http.MethodGet:
		return s.memberOf(r, seg(1))
	case seg(0) == "users" && n == 3 && seg(2) == "revokeSignInSessions" && r.method == http.MethodPost:
		return s.revoke(r, seg(1))
	case seg(0) == "users" && n == 4 && seg(2) == "authentication" && seg(3) == "temporaryAccessPassMethods" && r.method == http.MethodPost:
		return s.createTAP(r, seg(1))
	case seg(0) == "groups" && n == 1 && r.method == http.MethodGet:
		return s.listGroups(r)
	case seg(0) == "groups" && n == 2 && r.method == http.MethodGet:
		return s.getGroup(r, seg(1))
	case seg(0) == "groups" && n == 2 && r.method == http.MethodPatch:
		return s.patchGroup(r, seg(1))
	case seg(0) == "groups" && n == 3 && (seg(2) == "members" || seg(2) == "owners") && r.method == http.MethodGet:
		return s.listRefs(r, seg(1), seg(2))
	case seg(0) == "groups" && n == 4 && seg(2) == "members" && seg(3) == "$count" && r.method == http.MethodGet:
		return s.countMembers(r, seg(1))
	case seg(0) == "groups" && n == 4 && seg(2) == "members" && seg(3) == "$ref" && r.method == http.MethodPost:
		return s.addMemberRef(r, seg(1))
	case seg(0) == "groups" && n == 5 && seg(2) == "members" && seg(4) == "$ref" && r.method == http.MethodDelete:
		return s.removeMemberRef(r, seg(1), seg(3))
	case seg(0) == "groups" && n == 4 && seg(2) == "members" && r.method == http.MethodDelete:
		return s.deleteMemberObject(r, seg(1), seg(3))
	}
	return gerr(http.StatusBadRequest, "BadRequest", fmt.Sprintf("Resource not found for the segment '%s'.", r.segs[n-1]))
}

// user finds a user by id or userPrincipalName. s.mu is held.
func (s *Server) user(key string) *User {
	for _, u := range s.users {
		if strings.EqualFold(u.ID, key) || strings.EqualFold(u.UserPrincipalName, key) {
			return u
		}
	}
	return nil
}

// group finds a group by id. s.mu is held.
func (s *Server) group(id string) *Group {
	for _, g := range s.groups {
		if strings.EqualFold(g.ID, id) {
			return g
		}
	}
	return nil
}

var userProps = []string{"id", "userPrincipalName", "displayName", "givenName", "surname", "mail", "jobTitle", "department",
	"employeeId", "userType", "externalUserState", "accountEnabled", "createdDateTime", "signInActivity",
	"businessPhones", "mobilePhone", "officeLocation", "preferredLanguage"}

var userDefault = []string{"businessPhones", "displayName", "givenName", "jobTitle", "mail", "mobilePhone", "officeLocation",
	"preferredLanguage", "surname", "userPrincipalName", "id"}

var groupProps = []string{"id", "displayName", "description", "mail", "mailEnabled", "mailNickname", "groupTypes",
	"securityEnabled", "membershipRule", "membershipRuleProcessingState", "createdDateTime"}

// selectProps returns the properties that $select asks for, or def.
func selectProps(r greq, typ string, known, def []string) ([]string, gresp) {
	sel := r.query.Get("$select")
	if sel == "" {
		return def, gresp{}
	}
	var props []string
	for _, p := range strings.Split(sel, ",") {
		p = strings.TrimSpace(p)
		if !slices.Contains(known, p) {
			return nil, badRequest(fmt.Sprintf("Could not find a property named '%s' on type 'microsoft.graph.%s'.", p, typ))
		}
		props = append(props, p)
	}
	return props, gresp{}
}

// userProps checks the permissions of a read of users with props.
func (s *Server) readUserCheck(r greq, props []string) gresp {
	if !has(r.roles, permReadUsers) {
		return denied()
	}
	if slices.Contains(props, "signInActivity") {
		if !has(r.roles, permSignIns) {
			return denied()
		}
		if s.noPremium {
			return gerr(http.StatusForbidden, "Authentication_RequestFromNonPremiumTenantOrB2CTenant", "Neither tenant is B2C or tenant doesn't have premium license")
		}
	}
	return gresp{}
}

func timeOrNil(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Format(time.RFC3339)
}

func strOrNil(v string) any {
	if v == "" {
		return nil
	}
	return v
}

func (u *User) json(props []string) map[string]any {
	m := map[string]any{}
	for _, p := range props {
		var v any
		switch p {
		case "id":
			v = u.ID
		case "userPrincipalName":
			v = u.UserPrincipalName
		case "displayName":
			v = strOrNil(u.DisplayName)
		case "givenName":
			v = strOrNil(u.GivenName)
		case "surname":
			v = strOrNil(u.Surname)
		case "mail":
			v = strOrNil(u.Mail)
		case "jobTitle":
			v = strOrNil(u.JobTitle)
		case "department":
			v = strOrNil(u.Department)
		case "employeeId":
			v = strOrNil(u.EmployeeID)
		case "userType":
			v = u.UserType
		case "externalUserState":
			v = strOrNil(u.ExternalUserState)
		case "accountEnabled":
			v = u.AccountEnabled
		case "createdDateTime":
			v = timeOrNil(u.CreatedDateTime)
		case "businessPhones":
			v = []string{}
		case "signInActivity":
			if a := u.SignInActivity; a != nil {
				v = map[string]any{
					"lastSignInDateTime": timeOrNil(a.LastSignInDateTime), "lastSignInRequestId": nil,
					"lastNonInteractiveSignInDateTime": timeOrNil(a.LastNonInteractiveSignInDateTime), "lastNonInteractiveSignInRequestId": nil,
					"lastSuccessfulSignInDateTime": timeOrNil(a.LastSuccessfulSignInDateTime), "lastSuccessfulSignInRequestId": nil,
				}
			}
		}
		m[p] = v
	}
	return m
}

func (g *Group) json(props []string) map[string]any {
	m := map[string]any{}
	for _, p := range props {
		var v any
		switch p {
		case "id":
			v = g.ID
		case "displayName":
			v = g.DisplayName
		case "mail":
			v = strOrNil(g.Mail)
		case "mailEnabled":
			v = g.MailEnabled
		case "groupTypes":
			v = append([]string{}, g.GroupTypes...)
		case "securityEnabled":
			v = g.SecurityEnabled
		case "membershipRule":
			v = strOrNil(g.MembershipRule)
		case "membershipRuleProcessingState":
			if g.Dynamic() {
				v = "On"
			}
		}
		m[p] = v
	}
	return m
}

func (s *Server) entity(set string, props []string, sel bool, m map[string]any) map[string]any {
	ctx := s.GraphURL + "/$metadata#" + set
	if sel {
		ctx += "(" + strings.Join(props, ",") + ")"
	}
	m["@odata.context"] = ctx + "/$entity"
	return m
}

func (s *Server) getUser(r greq, key string) gresp {
	props, e := selectProps(r, "user", userProps, userDefault)
	if e.status != 0 {
		return e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.readUserCheck(r, props); e.status != 0 {
		return e
	}
	u := s.user(key)
	if u == nil {
		return notFound(key)
	}
	return gresp{status: http.StatusOK, body: s.entity("users", props, r.query.Has("$select"), u.json(props))}
}

// page returns the page of n items that $top and $skiptoken select, and
// the next link ("" on the last page).
func (s *Server) page(r greq, n int) (from, to int, next string, e gresp) {
	size := 100
	if t := r.query.Get("$top"); t != "" {
		v, err := strconv.Atoi(t)
		if err != nil || v < 1 || v > maxPage {
			return 0, 0, "", badRequest(fmt.Sprintf("Invalid page size specified: '%s'. Must be between 1 and %d inclusive.", t, maxPage))
		}
		size = v
	}
	if tok := r.query.Get("$skiptoken"); tok != "" {
		b, err := base64.RawURLEncoding.DecodeString(tok)
		off, ok := strings.CutPrefix(string(b), "offset:")
		if err == nil {
			from, err = strconv.Atoi(off)
		}
		if err != nil || !ok || from < 0 {
			return 0, 0, "", badRequest("The specified page token value has expired or is invalid.")
		}
	}
	from = min(from, n)
	to = min(from+size, n)
	if to < n {
		q := url.Values{}
		for k, v := range r.query {
			q[k] = v
		}
		q.Set("$skiptoken", base64.RawURLEncoding.EncodeToString([]byte("offset:"+strconv.Itoa(to))))
		next = s.GraphURL + r.rawPath + "?" + strings.ReplaceAll(q.Encode(), "%24", "$")
	}
	return from, to, next, gresp{}
}

func (s *Server) collection(set string, items []map[string]any, next string) gresp {
	body := map[string]any{"@odata.context": s.GraphURL + "/$metadata#" + set, "value": items}
	if next != "" {
		body["@odata.nextLink"] = next
	}
	return gresp{status: http.StatusOK, body: body}
}

func unsupportedQuery(r greq) gresp {
	for _, k := range []string{"$filter", "$search", "$orderby", "$expand"} {
		if r.query.Has(k) {
			return gerr(http.StatusBadRequest, "Request_UnsupportedQuery", "graphtest does not implement "+k)
		}
	}
	return gresp{}
}

func (s *Server) listUsers(r greq) gresp {
	prop, lit, filtered, e := parseFilter(r, "user", userFilterProps)
	if e.status != 0 {
		return e
	}
	r.query.Del("$filter")
	if e := unsupportedQuery(r); e.status != 0 {
		return e
	}
	if filtered {
		r.query.Set("$filter", prop+" eq '"+strings.ReplaceAll(lit, "'", "''")+"'")
	}
	props, e := selectProps(r, "user", userProps, userDefault)
	if e.status != 0 {
		return e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.readUserCheck(r, props); e.status != 0 {
		return e
	}
	users := s.users
	if filtered {
		users = nil
		for _, u := range s.users {
			if matches(u.value(prop), lit) {
				users = append(users, u)
			}
		}
	}
	from, to, next, e := s.page(r, len(users))
	if e.status != 0 {
		return e
	}
	items := []map[string]any{}
	for _, u := range users[from:to] {
		items = append(items, u.json(props))
	}
	return s.collection("users", items, next)
}

func (s *Server) listGroups(r greq) gresp {
	prop, lit, filtered, e := parseFilter(r, "group", groupFilterProps)
	if e.status != 0 {
		return e
	}
	r.query.Del("$filter")
	if e := unsupportedQuery(r); e.status != 0 {
		return e
	}
	if filtered {
		r.query.Set("$filter", prop+" eq '"+strings.ReplaceAll(lit, "'", "''")+"'")
	}
	props, e := selectProps(r, "group", groupProps, groupProps)
	if e.status != 0 {
		return e
	}
	if !has(r.roles, permReadGroups) {
		return denied()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	groups := s.groups
	if filtered {
		groups = nil
		for _, g := range s.groups {
			v := map[string]string{"id": g.ID, "displayName": g.DisplayName, "mail": g.Mail}[prop]
			if matches(v, lit) {
				groups = append(groups, g)
			}
		}
	}
	from, to, next, e := s.page(r, len(groups))
	if e.status != 0 {
		return e
	}
	items := []map[string]any{}
	for _, g := range groups[from:to] {
		items = append(items, g.json(props))
	}
	return s.collection("groups", items, next)
}

func (s *Server) getGroup(r greq, id string) gresp {
	props, e := selectProps(r, "group", groupProps, groupProps)
	if e.status != 0 {
		return e
	}
	if !has(r.roles, permReadGroups) {
		return denied()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.group(id)
	if g == nil {
		return notFound(id)
	}
	return gresp{status: http.StatusOK, body: s.entity("groups", props, r.query.Has("$select"), g.json(props))}
}

// object returns a directory object's JSON with its @odata.type. s.mu is held.
func (s *Server) object(id string, props []string) map[string]any {
	if u := s.user(id); u != nil && strings.EqualFold(u.ID, id) {
		m := u.json(props)
		m["@odata.type"] = "#microsoft.graph.user"
		return m
	}
	if g := s.group(id); g != nil {
		var gp []string
		for _, p := range props {
			if slices.Contains(groupProps, p) {
				gp = append(gp, p)
			}
		}
		m := g.json(gp)
		m["@odata.type"] = "#microsoft.graph.group"
		return m
	}
	return nil
}

// listRefs lists a group's members or owners.
func (s *Server) listRefs(r greq, id, rel string) gresp {
	if e := unsupportedQuery(r); e.status != 0 {
		return e
	}
	props, e := selectProps(r, "directoryObject", append(slices.Clone(userProps), groupProps...), []string{"id", "displayName", "userPrincipalName", "mail"})
	if e.status != 0 {
		return e
	}
	if !has(r.roles, permReadGroups) {
		return denied()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.group(id)
	if g == nil {
		return notFound(id)
	}
	ids := g.Members
	if rel == "owners" {
		ids = g.Owners
	}
	from, to, next, e := s.page(r, len(ids))
	if e.status != 0 {
		return e
	}
	items := []map[string]any{}
	for _, m := range ids[from:to] {
		if o := s.object(m, props); o != nil {
			items = append(items, o)
		}
	}
	return s.collection("directoryObjects", items, next)
}

func (s *Server) countMembers(r greq, id string) gresp {
	if !strings.EqualFold(r.header.Get("ConsistencyLevel"), "eventual") {
		return badRequest("$count is not currently supported.")
	}
	if !has(r.roles, permReadGroups) {
		return denied()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.group(id)
	if g == nil {
		return notFound(id)
	}
	return gresp{status: http.StatusOK, text: strconv.Itoa(len(g.Members))}
}

// refID returns the object id of an @odata.id URL of this Graph:
// .../directoryObjects/{id}, .../users/{id} or .../groups/{id}.
func (s *Server) refID(ref string) (string, bool) {
	u, err := url.Parse(ref)
	if err != nil || !strings.HasPrefix(ref, s.GraphURL+"/") {
		return "", false
	}
	p := strings.TrimPrefix(u.EscapedPath(), "/v1.0/")
	kind, id, ok := strings.Cut(p, "/")
	if !ok || !slices.Contains([]string{"directoryObjects", "users", "groups"}, kind) || strings.Contains(id, "/") {
		return "", false
	}
	id, err = url.PathUnescape(id)
	return id, err == nil && id != ""
}

// exists reports whether a user (by id) or group exists. s.mu is held.
func (s *Server) exists(id string) bool {
	u := s.user(id)
	return u != nil && strings.EqualFold(u.ID, id) || s.group(id) != nil
}

func (s *Server) addMemberRef(r greq, id string) gresp {
	var body struct {
		Ref string `json:"@odata.id"`
	}
	if err := json.Unmarshal(r.body, &body); err != nil || body.Ref == "" {
		return badRequest("Invalid request body: expected {\"@odata.id\": \"" + s.GraphURL + "/directoryObjects/{id}\"}.")
	}
	mid, ok := s.refID(body.Ref)
	if !ok {
		return badRequest("Invalid URL format specified in @odata.id for members: " + body.Ref)
	}
	if !has(r.roles, permMembers) {
		return denied()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.group(id)
	switch {
	case g == nil:
		return notFound(id)
	case !s.exists(mid):
		return notFound(mid)
	case g.Dynamic():
		return badRequest(MsgDynamicGroup)
	case slices.ContainsFunc(g.Members, func(m string) bool { return strings.EqualFold(m, mid) }):
		return badRequest(MsgAlreadyMember)
	}
	g.Members = append(g.Members, mid)
	return noContent()
}

func (s *Server) removeMemberRef(r greq, id, mid string) gresp {
	if !has(r.roles, permMembers) {
		return denied()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.group(id)
	if g == nil {
		return notFound(id)
	}
	if g.Dynamic() {
		return badRequest(MsgDynamicGroup)
	}
	i := slices.IndexFunc(g.Members, func(m string) bool { return strings.EqualFold(m, mid) })
	if i < 0 {
		return gerr(http.StatusNotFound, "Request_ResourceNotFound", MsgNotMember)
	}
	g.Members = slices.Delete(g.Members, i, i+1)
	return noContent()
}

// deleteMemberObject is DELETE /groups/{id}/members/{id} without /$ref:
// Graph deletes the member object itself. It is recorded as a violation.
func (s *Server) deleteMemberObject(r greq, id, mid string) gresp {
	s.mu.Lock()
	s.violations = append(s.violations, fmt.Sprintf("DELETE %s without /$ref: deletes the directory object %s, not the membership", r.rawPath, mid))
	s.mu.Unlock()
	return s.deleteUser(r, mid)
}

func (s *Server) patchGroup(r greq, id string) gresp {
	var body map[string]json.RawMessage
	if err := json.Unmarshal(r.body, &body); err != nil {
		return badRequest("Invalid request body.")
	}
	var refs []string
	for k, v := range body {
		if k != "members@odata.bind" {
			return badRequest(fmt.Sprintf("graphtest does not implement updating '%s'.", k))
		}
		if err := json.Unmarshal(v, &refs); err != nil {
			return badRequest("members@odata.bind must be an array of URLs.")
		}
	}
	if len(refs) > 20 {
		return badRequest("The number of references in members@odata.bind exceeds the limit of 20.")
	}
	if !has(r.roles, permMembers) {
		return denied()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.group(id)
	if g == nil {
		return notFound(id)
	}
	var add []string
	for _, ref := range refs {
		mid, ok := s.refID(ref)
		if !ok {
			return badRequest("Invalid URL format specified in @odata.bind for members: " + ref)
		}
		if !s.exists(mid) {
			return notFound(mid)
		}
		if g.Dynamic() {
			return badRequest(MsgDynamicGroup)
		}
		if slices.ContainsFunc(g.Members, func(m string) bool { return strings.EqualFold(m, mid) }) || slices.Contains(add, mid) {
			return badRequest(MsgAlreadyMember)
		}
		add = append(add, mid)
	}
	g.Members = append(g.Members, add...)
	return noContent()
}

func (s *Server) patchUser(r greq, key string) gresp {
	var body map[string]json.RawMessage
	if err := json.Unmarshal(r.body, &body); err != nil || len(body) == 0 {
		return badRequest("Invalid request body.")
	}
	onlyEnabled := len(body) == 1 && body["accountEnabled"] != nil
	switch {
	case onlyEnabled && slices.Contains(r.roles, "User.EnableDisableAccount.All") && has(r.roles, permReadUsers):
	case has(r.roles, permWriteUsers):
	default:
		return denied()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.user(key)
	if u == nil {
		return notFound(key)
	}
	c := *u
	strs := map[string]*string{"displayName": &c.DisplayName, "givenName": &c.GivenName, "surname": &c.Surname,
		"jobTitle": &c.JobTitle, "department": &c.Department, "employeeId": &c.EmployeeID, "mail": &c.Mail,
		"userPrincipalName": &c.UserPrincipalName}
	for k, v := range body {
		var err error
		switch {
		case k == "accountEnabled":
			err = json.Unmarshal(v, &c.AccountEnabled)
		case strs[k] != nil && string(v) == "null": // null clears a property
			*strs[k] = ""
		case strs[k] != nil:
			err = json.Unmarshal(v, strs[k])
		default:
			return badRequest(fmt.Sprintf("Invalid property '%s'.", k))
		}
		if err != nil {
			return badRequest(fmt.Sprintf("Invalid value for property '%s'.", k))
		}
	}
	if c.UserPrincipalName != u.UserPrincipalName {
		if e := s.renameCheck(u, c.UserPrincipalName); e.status != 0 {
			return e
		}
	}
	*u = c
	return noContent()
}

func (s *Server) deleteUser(r greq, key string) gresp {
	if !has(r.roles, permDeleteUser) {
		return denied()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.user(key)
	if u == nil {
		return notFound(key)
	}
	s.users = slices.DeleteFunc(s.users, func(x *User) bool { return x == u })
	s.deleted[u.ID] = u
	for _, g := range s.groups {
		g.Members = slices.DeleteFunc(g.Members, func(m string) bool { return strings.EqualFold(m, u.ID) })
		g.Owners = slices.DeleteFunc(g.Owners, func(m string) bool { return strings.EqualFold(m, u.ID) })
	}
	return noContent()
}

func (s *Server) revoke(r greq, key string) gresp {
	if !has(r.roles, permRevoke) {
		return denied()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.user(key)
	if u == nil {
		return notFound(key)
	}
	u.SessionsRevoked++
	return gresp{status: http.StatusOK, body: map[string]any{"@odata.context": s.GraphURL + "/$metadata#Edm.Boolean", "value": true}}
}

// maxBatch is the number of requests a JSON batch may hold.
const maxBatch = 20

// batch answers POST /$batch: each request is answered on its own, with
// its own status (a throttled one gets its own 429 and Retry-After).
func (s *Server) batch(body []byte, roles []string) gresp {
	var in struct {
		Requests []struct {
			ID      string            `json:"id"`
			Method  string            `json:"method"`
			URL     string            `json:"url"`
			Headers map[string]string `json:"headers"`
			Body    json.RawMessage   `json:"body"`
		} `json:"requests"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return gerr(http.StatusBadRequest, "BadRequest", "Invalid batch payload format.")
	}
	if len(in.Requests) == 0 || len(in.Requests) > maxBatch {
		return gerr(http.StatusBadRequest, "BadRequest", fmt.Sprintf("A batch must hold 1 to %d requests; it holds %d.", maxBatch, len(in.Requests)))
	}
	var out []map[string]any
	for _, sub := range in.Requests {
		u, err := url.Parse(sub.URL)
		var resp gresp
		if err != nil || u.IsAbs() {
			resp = badRequest("Invalid request URL " + sub.URL + ": a batch holds URLs relative to the version.")
		} else {
			rawPath := "/" + strings.TrimPrefix(u.EscapedPath(), "/")
			h := http.Header{}
			for k, v := range sub.Headers {
				h.Set(k, v)
			}
			q := u.Query()
			s.record(Request{Method: sub.Method, Path: "/v1.0" + rawPath, Query: q, Header: h, Batch: true})
			if f, ok := s.takeFault(); ok {
				resp = f
			} else {
				var req greq
				body := []byte(sub.Body)
				if req, resp = parse(sub.Method, rawPath, q, h, body, roles); resp.status == 0 {
					resp = s.route(req)
				}
			}
		}
		item := map[string]any{"id": sub.ID, "status": resp.status}
		hdr := map[string]string{}
		for k := range resp.header {
			hdr[k] = resp.header.Get(k)
		}
		switch {
		case resp.body != nil:
			hdr["Content-Type"] = "application/json"
			item["body"] = resp.body
		case resp.text != "":
			hdr["Content-Type"] = "text/plain"
			item["body"] = resp.text
		}
		item["headers"] = hdr
		out = append(out, item)
	}
	return gresp{status: http.StatusOK, body: map[string]any{"responses": out}}
}

// createTAP answers POST /users/{id}/authentication/temporaryAccessPassMethods
// as Graph documents it: lifetimeInMinutes from 10 to 43200 (default 60),
// isUsableOnce, an optional startDateTime; 201 with the pass, which only
// this response carries. A new pass replaces the user's usable one.
func (s *Server) createTAP(r greq, key string) gresp {
	if !has(r.roles, permTAP) {
		return denied()
	}
	var body struct {
		StartDateTime     *time.Time `json:"startDateTime"`
		LifetimeInMinutes *int       `json:"lifetimeInMinutes"`
		IsUsableOnce      bool       `json:"isUsableOnce"`
	}
	if len(r.body) > 0 {
		if err := json.Unmarshal(r.body, &body); err != nil {
			return badRequest(err.Error())
		}
	}
	life := 60
	if body.LifetimeInMinutes != nil {
		life = *body.LifetimeInMinutes
	}
	if life < 10 || life > 43200 {
		return badRequest(fmt.Sprintf("lifetimeInMinutes %d: must be between 10 and 43200", life))
	}
	now := time.Now().UTC().Truncate(time.Second)
	start := now
	if body.StartDateTime != nil {
		start = body.StartDateTime.UTC()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.user(key)
	if u == nil {
		return notFound(key)
	}
	tap := &TemporaryAccessPass{ID: requestID(), Pass: passCode(), CreatedDateTime: now, StartDateTime: start,
		LifetimeInMinutes: life, IsUsableOnce: body.IsUsableOnce}
	u.TemporaryAccessPass = tap
	return gresp{status: http.StatusCreated, body: map[string]any{
		"@odata.context":        s.GraphURL + "/$metadata#users('" + u.ID + "')/authentication/temporaryAccessPassMethods/$entity",
		"id":                    tap.ID,
		"temporaryAccessPass":   tap.Pass,
		"createdDateTime":       tap.CreatedDateTime.Format(time.RFC3339),
		"startDateTime":         tap.StartDateTime.Format(time.RFC3339),
		"lifetimeInMinutes":     tap.LifetimeInMinutes,
		"isUsableOnce":          tap.IsUsableOnce,
		"isUsable":              !start.After(now),
		"methodUsabilityReason": map[bool]string{true: "EnabledByPolicy", false: "NotYetValid"}[!start.After(now)],
	}}
}

// passCode returns a random pass of the shape Entra issues (letters,
// digits and symbols, 8 characters).
func passCode() string {
	const alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789#%+"
	b := make([]byte, 8)
	_, _ = crand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}
