package conformance

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	filterparser "github.com/scim2/filter-parser/v2"
)

// refServer is a small in-memory SCIM service provider that behaves as the
// suite expects, so the tests can show that every check passes against a
// correct server; bug switches one deliberate misbehaviour on, to show that
// the matching check fails. It serves under /scim/v2.
type refServer struct {
	mu      sync.Mutex
	token   string
	base    string // absolute base URL, for meta.location
	caps    map[feature]bool
	maxOps  int
	bug     string
	seq     int
	records map[string]*rec // by id
}

// rec is one stored resource; data holds its attributes without id and meta.
type rec struct {
	typ               string // "User" or "Group"
	id                string
	seq, version      int
	created, modified time.Time
	data              map[string]any
}

// scimErr is an error response.
type scimErr struct {
	status           int
	scimType, detail string
}

func errf(status int, scimType, format string, args ...any) *scimErr {
	return &scimErr{status, scimType, fmt.Sprintf(format, args...)}
}

func newRefServer(token string) *refServer {
	return &refServer{
		token:   token,
		caps:    map[feature]bool{patch: true, bulk: true, filter: true, sort: true, etag: true},
		maxOps:  10,
		records: map[string]*rec{},
	}
}

const refPrefix = "/scim/v2"

var enterpriseAttrs = []string{"manager", "department", "employeenumber", "costcenter", "organization", "division"}

func endpointOf(typ string) string { return "/" + typ + "s" }

func (s *refServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := strings.CutPrefix(r.URL.Path, refPrefix)
	if !ok {
		s.writeErr(w, errf(404, "", "not under %s", refPrefix))
		return
	}
	switch {
	case p == "/ServiceProviderConfig":
		s.write(w, 200, s.spc())
		return
	case p == "/Schemas" || p == "/ResourceTypes":
		s.write(w, 200, listOf(discovery(p)))
		return
	case strings.HasPrefix(p, "/Schemas/") || strings.HasPrefix(p, "/ResourceTypes/"):
		i := strings.LastIndex(p, "/")
		for _, d := range discovery(p[:i]) {
			if d["id"] == p[i+1:] {
				s.write(w, 200, d)
				return
			}
		}
		s.writeErr(w, errf(404, "", "no %s", p))
		return
	}
	if s.bug != "no-auth" && r.Header.Get("Authorization") != "Bearer "+s.token {
		s.writeErr(w, errf(401, "", "bad token"))
		return
	}
	body, _ := io.ReadAll(r.Body)
	switch {
	case p == "/Bulk" && r.Method == http.MethodPost:
		s.bulk(w, body)
	case p == "/.search" && r.Method == http.MethodPost:
		s.search(w, []string{"User", "Group"}, body)
	case p == "/Users" || p == "/Groups":
		typ := p[1 : len(p)-1]
		if r.Method == http.MethodPost {
			rc, e := s.create(typ, body)
			if e != nil {
				s.writeErr(w, e)
				return
			}
			w.Header().Set("Location", s.location(rc))
			s.writeRec(w, 201, rc)
			return
		}
		q := r.URL.Query()
		s.list(w, []string{typ}, listParams{
			filter: q.Get("filter"), sortBy: q.Get("sortBy"), sortOrder: q.Get("sortOrder"),
			startIndex: atoiOr(q.Get("startIndex"), 1), count: atoiOr(q.Get("count"), -1),
			attributes: splitList(q.Get("attributes")), excluded: splitList(q.Get("excludedAttributes")),
		})
	case p == "/Users/.search" || p == "/Groups/.search":
		s.search(w, []string{p[1 : len(p)-len("s/.search")]}, body)
	case strings.HasPrefix(p, "/Users/") || strings.HasPrefix(p, "/Groups/"):
		i := strings.LastIndex(p, "/")
		s.one(w, r, p[1:i-1], p[i+1:], body)
	default:
		s.writeErr(w, errf(404, "", "no endpoint %s", p))
	}
}

func atoiOr(s string, def int) int {
	if n, err := strconv.Atoi(s); err == nil {
		return n
	}
	return def
}

func splitList(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

func (s *refServer) write(w http.ResponseWriter, status int, body any) {
	ct := scimMediaType
	if s.bug == "content-type-json" {
		ct = "application/json"
	}
	w.Header().Set("Content-Type", ct)
	w.WriteHeader(status)
	if body != nil {
		_ = json.NewEncoder(w).Encode(body)
	}
}

func (s *refServer) writeErr(w http.ResponseWriter, e *scimErr) {
	var status any = strconv.Itoa(e.status)
	if s.bug == "error-status-number" {
		status = e.status
	}
	b := map[string]any{"schemas": []any{urnError}, "status": status, "detail": e.detail}
	if e.scimType != "" {
		b["scimType"] = e.scimType
	}
	s.write(w, e.status, b)
}

func (s *refServer) etag(rc *rec) string { return fmt.Sprintf(`W/"%d"`, rc.version) }

func (s *refServer) location(rc *rec) string {
	if s.bug == "no-location" {
		return ""
	}
	return s.base + endpointOf(rc.typ) + "/" + rc.id
}

func (s *refServer) writeRec(w http.ResponseWriter, status int, rc *rec) {
	w.Header().Set("ETag", s.etag(rc))
	s.write(w, status, s.render(rc))
}

// render is the resource as returned: data plus id and meta.
func (s *refServer) render(rc *rec) map[string]any {
	o := deepCopy(rc.data)
	o["id"] = rc.id
	o["meta"] = map[string]any{
		"resourceType": rc.typ, "location": s.location(rc), "version": s.etag(rc),
		"created": rc.created.Format(time.RFC3339Nano), "lastModified": rc.modified.Format(time.RFC3339Nano),
	}
	if b, ok := o["active"].(bool); ok && s.bug == "active-string" {
		o["active"] = map[bool]string{true: "True", false: "False"}[b]
	}
	return o
}

func deepCopy(m map[string]any) map[string]any {
	b, _ := json.Marshal(m)
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	return out
}

func (s *refServer) spc() map[string]any {
	sup := func(f feature) map[string]any { return map[string]any{"supported": s.caps[f]} }
	b := sup(bulk)
	b["maxOperations"], b["maxPayloadSize"] = s.maxOps, 1<<20
	f := sup(filter)
	f["maxResults"] = 200
	return map[string]any{
		"schemas": []any{urnSPC}, "patch": sup(patch), "bulk": b, "filter": f,
		"changePassword": map[string]any{"supported": false}, "sort": sup(sort), "etag": sup(etag),
		"authenticationSchemes": []any{map[string]any{"type": "oauthbearertoken", "name": "Bearer", "description": "token"}},
	}
}

func discovery(p string) []map[string]any {
	attrs := func(names ...string) []any {
		var out []any
		for _, n := range names {
			out = append(out, map[string]any{"name": n, "type": "string"})
		}
		return out
	}
	if p == "/Schemas" {
		return []map[string]any{
			{"id": urnUser, "name": "User", "attributes": attrs("userName", "name", "emails")},
			{"id": urnGroup, "name": "Group", "attributes": attrs("displayName", "members")},
			{"id": urnEnterprise, "name": "EnterpriseUser", "attributes": attrs("employeeNumber", "department", "manager")},
		}
	}
	return []map[string]any{
		{"schemas": []any{urnResourceType}, "id": "User", "name": "User", "endpoint": "/Users", "schema": urnUser,
			"schemaExtensions": []any{map[string]any{"schema": urnEnterprise, "required": false}}},
		{"schemas": []any{urnResourceType}, "id": "Group", "name": "Group", "endpoint": "/Groups", "schema": urnGroup},
	}
}

func listOf[T any](items []T) map[string]any {
	res := make([]any, 0, len(items))
	for _, it := range items {
		res = append(res, it)
	}
	return map[string]any{"schemas": []any{urnListResponse}, "totalResults": len(items), "startIndex": 1,
		"itemsPerPage": len(items), "Resources": res}
}

// normalize validates a POST/PUT body and returns the attributes to store.
func (s *refServer) normalize(typ string, body []byte) (map[string]any, *scimErr) {
	var in map[string]any
	if err := json.Unmarshal(body, &in); err != nil || in == nil {
		return nil, errf(400, "invalidSyntax", "body is not a JSON object")
	}
	out := map[string]any{}
	for k, v := range stripNulls(in).(map[string]any) {
		switch strings.ToLower(k) {
		case "id", "meta":
			continue
		case "active":
			b, ok := toBool(v)
			if !ok {
				return nil, errf(400, "invalidValue", "active must be a boolean")
			}
			v = b
		case "name":
			if _, ok := v.(map[string]any); !ok {
				return nil, errf(400, "invalidValue", "name must be an object")
			}
		case "emails", "members", "roles":
			if _, ok := v.([]any); !ok {
				return nil, errf(400, "invalidValue", "%s must be an array", k)
			}
		}
		out[k] = v
	}
	key := map[string]string{"User": "userName", "Group": "displayName"}[typ]
	if v, _ := out[key].(string); v == "" {
		return nil, errf(400, "invalidValue", "%s is required", key)
	}
	return out, nil
}

func stripNulls(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, e := range x {
			if e != nil {
				out[k] = stripNulls(e)
			}
		}
		return out
	case []any:
		out := []any{}
		for _, e := range x {
			if e != nil {
				out = append(out, stripNulls(e))
			}
		}
		return out
	}
	return v
}

func toBool(v any) (bool, bool) {
	switch b := v.(type) {
	case bool:
		return b, true
	case string:
		if strings.EqualFold(b, "true") {
			return true, true
		}
		if strings.EqualFold(b, "false") {
			return false, true
		}
	}
	return false, false
}

// conflict reports whether another resource of typ has the same unique key.
func (s *refServer) conflict(typ, self string, data map[string]any) *scimErr {
	key := map[string]string{"User": "userName", "Group": "displayName"}[typ]
	mine, _ := data[key].(string)
	for _, rc := range s.records {
		theirs, _ := getCI(rc.data, key).(string)
		same := strings.EqualFold(theirs, mine)
		if s.bug == "case-sensitive-unique" {
			same = theirs == mine
		}
		if rc.typ == typ && rc.id != self && same {
			return errf(409, "uniqueness", "%s %q is taken", key, mine)
		}
	}
	return nil
}

func (s *refServer) create(typ string, body []byte) (*rec, *scimErr) {
	data, e := s.normalize(typ, body)
	if e != nil {
		return nil, e
	}
	if e := s.conflict(typ, "", data); e != nil {
		return nil, e
	}
	s.seq++
	now := time.Now().UTC()
	rc := &rec{typ: typ, id: uuid.NewString(), seq: s.seq, version: 1, created: now, modified: now, data: data}
	s.records[rc.id] = rc
	return rc, nil
}

// one serves GET, PUT, PATCH and DELETE of one resource.
func (s *refServer) one(w http.ResponseWriter, r *http.Request, typ, id string, body []byte) {
	rc, ok := s.records[id]
	if !ok || rc.typ != typ || (s.bug == "disabled-404" && rc.data["active"] == false) {
		s.writeErr(w, errf(404, "", "%s %s not found", typ, id))
		return
	}
	if m := r.Header.Get("If-Match"); m != "" && m != "*" && m != s.etag(rc) {
		s.writeErr(w, errf(412, "", "version mismatch"))
		return
	}
	switch r.Method {
	case http.MethodGet:
		if r.Header.Get("If-None-Match") == s.etag(rc) {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		q := r.URL.Query()
		w.Header().Set("ETag", s.etag(rc))
		s.write(w, 200, s.project(s.render(rc), splitList(q.Get("attributes")), splitList(q.Get("excludedAttributes"))))
	case http.MethodDelete:
		delete(s.records, id)
		w.WriteHeader(http.StatusNoContent)
	case http.MethodPut:
		data, e := s.normalize(typ, body)
		if e == nil {
			e = s.conflict(typ, id, data)
		}
		if e != nil {
			s.writeErr(w, e)
			return
		}
		if s.bug == "put-merges" {
			for k, v := range data {
				rc.data[k] = v
			}
		} else {
			rc.data = data
		}
		s.touch(rc)
		s.writeRec(w, 200, rc)
	case http.MethodPatch:
		if e := s.patch(rc, body); e != nil {
			s.writeErr(w, e)
			return
		}
		s.touch(rc)
		if typ == "Group" {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		s.writeRec(w, 200, rc)
	default:
		s.writeErr(w, errf(405, "", "method %s", r.Method))
	}
}

func (s *refServer) touch(rc *rec) {
	rc.version++
	rc.modified = time.Now().UTC()
}

// patch applies a PatchOp message to a copy of rc.data, committing only when
// every operation succeeds.
func (s *refServer) patch(rc *rec, body []byte) *scimErr {
	var msg struct {
		Operations []map[string]any
	}
	if err := json.Unmarshal(body, &msg); err != nil {
		return errf(400, "invalidSyntax", "bad PatchOp")
	}
	data := deepCopy(rc.data)
	for _, o := range msg.Operations {
		if e := s.applyOp(rc.typ, data, o); e != nil {
			return e
		}
	}
	if e := s.conflict(rc.typ, rc.id, data); e != nil {
		return e
	}
	rc.data = data
	return nil
}

func (s *refServer) applyOp(typ string, data, o map[string]any) *scimErr {
	name, _ := o["op"].(string)
	if s.bug == "op-case-sensitive" && name != strings.ToLower(name) {
		return errf(400, "invalidSyntax", "op %q", name)
	}
	name = strings.ToLower(name)
	if name != "add" && name != "replace" && name != "remove" {
		return errf(400, "invalidSyntax", "op %q", name)
	}
	path, _ := o["path"].(string)
	value, hasValue := o["value"]
	value = stripNulls(value)
	if path != "" {
		return s.applyPath(typ, data, name, path, value, hasValue)
	}
	m, ok := value.(map[string]any)
	if !ok || name == "remove" {
		return errf(400, "noTarget", "op without path needs an object value")
	}
	for k, v := range m {
		if vm, ok := v.(map[string]any); ok && strings.EqualFold(k, urnEnterprise) {
			for k2, v2 := range vm {
				if e := s.applyPath(typ, data, name, urnEnterprise+":"+k2, v2, true); e != nil {
					return e
				}
			}
			continue
		}
		if e := s.applyPath(typ, data, name, k, v, true); e != nil {
			return e
		}
	}
	return nil
}

// refPath is a parsed PATCH path: [container:]attr[[filter]][.sub].
type refPath struct{ container, attr, filter, sub string }

func parseRefPath(typ, path string) refPath {
	var p refPath
	rest := path
	for _, urn := range []string{urnEnterprise, urnUser, urnGroup} {
		if len(rest) > len(urn) && strings.EqualFold(rest[:len(urn)+1], urn+":") {
			if urn == urnEnterprise {
				p.container = urnEnterprise
			}
			rest = rest[len(urn)+1:]
		}
	}
	if i := strings.Index(rest, "["); i >= 0 {
		j := strings.LastIndex(rest, "]")
		p.attr, p.filter = rest[:i], rest[i+1:j]
		p.sub = strings.TrimPrefix(rest[j+1:], ".")
	} else if i := strings.Index(rest, "."); i >= 0 {
		p.attr, p.sub = rest[:i], rest[i+1:]
	} else {
		p.attr = rest
	}
	if p.container == "" && typ == "User" && slices.Contains(enterpriseAttrs, strings.ToLower(p.attr)) {
		p.container = urnEnterprise
	}
	return p
}

func (s *refServer) applyPath(typ string, data map[string]any, opName, path string, value any, hasValue bool) *scimErr {
	p := parseRefPath(typ, path)
	lower := strings.ToLower(p.attr)
	if p.container == "" && (lower == "id" || lower == "meta") {
		return errf(400, "mutability", "%s is readOnly", p.attr)
	}
	target := data
	if p.container != "" {
		sub, _ := getCI(data, p.container).(map[string]any)
		if sub == nil {
			if opName == "remove" {
				return nil
			}
			sub = map[string]any{}
			data[keyCI(data, p.container)] = sub
		}
		target = sub
	}
	key := keyCI(target, p.attr)
	switch {
	case p.filter != "":
		expr, err := parseFilter(p.filter)
		if err != nil {
			return errf(400, "invalidPath", "%v", err)
		}
		arr, _ := target[key].([]any)
		var kept []any
		matched := false
		for _, el := range arr {
			m, _ := el.(map[string]any)
			if m == nil || !evalExpr(expr, m) {
				kept = append(kept, el)
				continue
			}
			matched = true
			switch {
			case opName == "remove" && p.sub == "":
				continue
			case opName == "remove":
				delete(m, keyCI(m, p.sub))
			case p.sub != "":
				m[keyCI(m, p.sub)] = value
			default:
				if vm, ok := value.(map[string]any); ok {
					for k, v := range vm {
						m[keyCI(m, k)] = v
					}
				}
			}
			kept = append(kept, m)
		}
		if !matched && opName != "remove" && p.sub != "" {
			el := map[string]any{p.sub: value}
			if ae, ok := expr.(*filterparser.AttributeExpression); ok && ae.Operator == filterparser.EQ {
				el[ae.AttributePath.AttributeName] = ae.CompareValue
			}
			kept = append(kept, el)
		}
		target[key] = kept
	case p.sub != "":
		m, _ := target[key].(map[string]any)
		if opName == "remove" {
			if m != nil {
				delete(m, keyCI(m, p.sub))
			}
			return nil
		}
		if m == nil {
			m = map[string]any{}
			target[key] = m
		}
		m[keyCI(m, p.sub)] = value
	case opName == "remove":
		if lower == "members" && hasValue {
			drop := refValues(value)
			var kept []any
			for _, el := range asList(target[key]) {
				if !slices.Contains(drop, str(el, "value")) {
					kept = append(kept, el)
				}
			}
			target[key] = kept
			return nil
		}
		delete(target, key)
	case lower == "active":
		b, ok := toBool(value)
		if !ok {
			return errf(400, "invalidValue", "active must be a boolean")
		}
		target[key] = b
	case lower == "manager":
		if ids := refValues(value); len(ids) == 0 || ids[0] == "" {
			delete(target, key)
		} else {
			target[key] = map[string]any{"value": ids[0]}
		}
	case lower == "roles" || lower == "members" || lower == "emails":
		var add []any
		for _, el := range asList(value) {
			m, _ := el.(map[string]any)
			if v, _ := m["value"].(string); lower == "roles" && strings.HasPrefix(v, "{") && s.bug != "roles-raw" {
				var role map[string]any
				if json.Unmarshal([]byte(v), &role) == nil {
					m = map[string]any{"value": role["value"], "display": role["displayName"]}
				}
			}
			add = append(add, m)
		}
		if opName == "replace" {
			target[key] = add
			return nil
		}
		cur := asList(target[key])
		for _, el := range add {
			if !slices.ContainsFunc(cur, func(c any) bool { return str(c, "value") == str(el, "value") }) {
				cur = append(cur, el)
			}
		}
		target[key] = cur
	default:
		if vm, ok := value.(map[string]any); ok {
			if cur, ok := target[key].(map[string]any); ok {
				for k, v := range vm {
					cur[keyCI(cur, k)] = v
				}
				return nil
			}
		}
		if _, ok := value.(map[string]any); !ok && lower == "name" {
			return errf(400, "invalidValue", "name must be an object")
		}
		target[key] = value
	}
	return nil
}

// refValues reads reference ids from a string, {"value":...} or an array
// of those.
func refValues(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case map[string]any:
		return []string{str(x, "value")}
	case []any:
		var out []string
		for _, e := range x {
			out = append(out, refValues(e)...)
		}
		return out
	}
	return nil
}

func asList(v any) []any {
	if l, ok := v.([]any); ok {
		return l
	}
	if v == nil {
		return nil
	}
	return []any{v}
}

func getCI(o map[string]any, k string) any {
	v, _ := lookup(o, k)
	return v
}

// keyCI is the existing key of o matching k case-insensitively, else k.
func keyCI(o map[string]any, k string) string {
	for ok := range o {
		if strings.EqualFold(ok, k) {
			return ok
		}
	}
	return k
}

// entraValuePath rewrites Entra's `a[f].sub op v` (not in the RFC grammar)
// to `a[f and sub op v]` for the filter parser.
var entraValuePath = regexp.MustCompile(`(\w+)\[([^\]]*)\]\.(\w+) (\w+) ("[^"]*")`)

func parseFilter(f string) (filterparser.Expression, error) {
	return filterparser.ParseFilter([]byte(entraValuePath.ReplaceAllString(f, "$1[$2 and $3 $4 $5]")))
}

func evalExpr(e filterparser.Expression, o map[string]any) bool {
	switch e := e.(type) {
	case *filterparser.LogicalExpression:
		if strings.EqualFold(string(e.Operator), "and") {
			return evalExpr(e.Left, o) && evalExpr(e.Right, o)
		}
		return evalExpr(e.Left, o) || evalExpr(e.Right, o)
	case *filterparser.NotExpression:
		return !evalExpr(e.Expression, o)
	case *filterparser.ValuePath:
		for _, el := range asList(getCI(container(o, e.AttributePath), e.AttributePath.AttributeName)) {
			if m, ok := el.(map[string]any); ok && evalExpr(e.ValueFilter, m) {
				return true
			}
		}
		return false
	case *filterparser.AttributeExpression:
		return compare(e, leafValues(o, e.AttributePath))
	}
	return false
}

func container(o map[string]any, ap filterparser.AttributePath) map[string]any {
	if strings.EqualFold(ap.URI(), urnEnterprise) || (ap.URIPrefix == nil && slices.Contains(enterpriseAttrs, strings.ToLower(ap.AttributeName))) {
		if m, ok := getCI(o, urnEnterprise).(map[string]any); ok {
			return m
		}
		if ap.URIPrefix != nil {
			return nil
		}
	}
	return o
}

func leafValues(o map[string]any, ap filterparser.AttributePath) []any {
	var out []any
	for _, v := range asList(getCI(container(o, ap), ap.AttributeName)) {
		if m, ok := v.(map[string]any); ok {
			sub := ap.SubAttributeName()
			if sub == "" {
				sub = "value"
			}
			v = getCI(m, sub)
		} else if ap.SubAttribute != nil {
			continue
		}
		if v != nil {
			out = append(out, v)
		}
	}
	return out
}

func compare(e *filterparser.AttributeExpression, vals []any) bool {
	op := filterparser.CompareOperator(strings.ToLower(string(e.Operator)))
	if op == filterparser.PR {
		return len(vals) > 0
	}
	name := strings.ToLower(e.AttributePath.AttributeName)
	exact := (name == "id" || name == "externalid") && e.AttributePath.SubAttribute == nil
	match := func(v any) bool {
		a, aok := v.(string)
		b, bok := e.CompareValue.(string)
		if !aok || !bok {
			return (op == filterparser.EQ || op == filterparser.NE) && v == e.CompareValue
		}
		if !exact {
			a, b = strings.ToLower(a), strings.ToLower(b)
		}
		switch op {
		case filterparser.EQ, filterparser.NE:
			return a == b
		case filterparser.CO:
			return strings.Contains(a, b)
		case filterparser.SW:
			return strings.HasPrefix(a, b)
		case filterparser.EW:
			return strings.HasSuffix(a, b)
		case filterparser.GT:
			return a > b
		case filterparser.GE:
			return a >= b
		case filterparser.LT:
			return a < b
		case filterparser.LE:
			return a <= b
		}
		return false
	}
	found := slices.ContainsFunc(vals, match)
	if op == filterparser.NE {
		return !found
	}
	return found
}

type listParams struct {
	filter, sortBy, sortOrder string
	startIndex, count         int
	attributes, excluded      []string
}

func (s *refServer) search(w http.ResponseWriter, types []string, body []byte) {
	var req struct {
		Filter, SortBy, SortOrder      string
		StartIndex, Count              *int
		Attributes, ExcludedAttributes []string
	}
	if err := json.Unmarshal(body, &req); err != nil {
		s.writeErr(w, errf(400, "invalidSyntax", "bad SearchRequest"))
		return
	}
	p := listParams{filter: req.Filter, sortBy: req.SortBy, sortOrder: req.SortOrder, startIndex: 1, count: -1,
		attributes: req.Attributes, excluded: req.ExcludedAttributes}
	if req.StartIndex != nil {
		p.startIndex = *req.StartIndex
	}
	if req.Count != nil {
		p.count = *req.Count
	}
	s.list(w, types, p)
}

func (s *refServer) list(w http.ResponseWriter, types []string, p listParams) {
	var expr filterparser.Expression
	if p.filter != "" {
		var err error
		if expr, err = parseFilter(p.filter); err != nil {
			s.writeErr(w, errf(400, "invalidFilter", "%v", err))
			return
		}
	}
	var all []map[string]any
	var seqs []*rec
	for _, rc := range s.records {
		seqs = append(seqs, rc)
	}
	slices.SortFunc(seqs, func(a, b *rec) int { return a.seq - b.seq })
	for _, rc := range seqs {
		if !slices.Contains(types, rc.typ) {
			continue
		}
		o := s.render(rc)
		if expr == nil || evalExpr(expr, o) {
			all = append(all, o)
		}
	}
	if p.sortBy != "" {
		ap, _ := filterparser.ParseAttrPath([]byte(p.sortBy))
		slices.SortStableFunc(all, func(a, b map[string]any) int {
			x, y := fmt.Sprint(leafValues(a, ap)), fmt.Sprint(leafValues(b, ap))
			c := strings.Compare(strings.ToLower(x), strings.ToLower(y))
			if p.sortOrder == "descending" {
				return -c
			}
			return c
		})
	}
	if len(all) == 0 && p.filter != "" && s.bug == "testconn-404" {
		s.writeErr(w, errf(404, "", "no match"))
		return
	}
	start := max(p.startIndex, 1)
	if s.bug == "paging-overlap" && start > 1 {
		start--
	}
	page := []any{}
	for i := start - 1; i < len(all) && (p.count < 0 || len(page) < p.count); i++ {
		page = append(page, s.project(all[i], p.attributes, p.excluded))
	}
	out := map[string]any{"schemas": []any{urnListResponse}, "totalResults": len(all), "startIndex": start,
		"itemsPerPage": len(page), "Resources": page}
	if len(page) == 0 && s.bug == "resources-null" {
		out["Resources"] = nil
	}
	s.write(w, 200, out)
}

// project applies attributes / excludedAttributes (top-level names and
// "a.b" sub-attributes); id, schemas and meta always stay.
func (s *refServer) project(o map[string]any, attrs, excl []string) map[string]any {
	if len(attrs) > 0 && s.bug != "ignore-attributes" {
		out := map[string]any{"id": o["id"], "schemas": o["schemas"], "meta": o["meta"]}
		for _, a := range attrs {
			top, sub, _ := strings.Cut(a, ".")
			k := keyCI(o, top)
			v, ok := o[k]
			if !ok {
				continue
			}
			if m, isMap := v.(map[string]any); isMap && sub != "" {
				dst, _ := out[k].(map[string]any)
				if dst == nil {
					dst = map[string]any{}
					out[k] = dst
				}
				if sv, ok := m[keyCI(m, sub)]; ok {
					dst[keyCI(m, sub)] = sv
				}
				continue
			}
			out[k] = v
		}
		o = out
	}
	for _, a := range excl {
		if strings.EqualFold(a, "id") || (strings.EqualFold(a, "members") && s.bug == "ignore-excluded-members") {
			continue
		}
		delete(o, keyCI(o, a))
	}
	return o
}

func (s *refServer) bulk(w http.ResponseWriter, body []byte) {
	var req struct {
		FailOnErrors int
		Operations   []struct {
			Method, Path, BulkID string
			Data                 json.RawMessage
		}
	}
	if err := json.Unmarshal(body, &req); err != nil {
		s.writeErr(w, errf(400, "invalidSyntax", "bad BulkRequest"))
		return
	}
	if len(req.Operations) > s.maxOps {
		s.writeErr(w, errf(413, "", "more than %d operations", s.maxOps))
		return
	}
	ids := map[string]string{}
	var results []any
	errs := 0
	for _, o := range req.Operations {
		res := map[string]any{"method": o.Method, "bulkId": o.BulkID}
		data := string(o.Data)
		for b, id := range ids {
			data = strings.ReplaceAll(data, `"bulkId:`+b+`"`, strconv.Quote(id))
		}
		var e *scimErr
		switch {
		case o.Method == "POST" && (o.Path == "/Users" || o.Path == "/Groups"):
			var rc *rec
			if rc, e = s.create(o.Path[1:len(o.Path)-1], []byte(data)); e == nil {
				ids[o.BulkID] = rc.id
				res["location"], res["status"] = s.location(rc), "201"
			}
		case o.Method == "DELETE":
			id := o.Path[strings.LastIndex(o.Path, "/")+1:]
			if _, ok := s.records[id]; !ok {
				e = errf(404, "", "no %s", o.Path)
			} else {
				delete(s.records, id)
				res["status"] = "204"
			}
		default:
			e = errf(400, "invalidValue", "unsupported bulk op %s %s", o.Method, o.Path)
		}
		if e != nil {
			errs++
			res["status"] = strconv.Itoa(e.status)
			res["response"] = map[string]any{"schemas": []any{urnError}, "status": strconv.Itoa(e.status), "detail": e.detail}
		}
		results = append(results, res)
		if req.FailOnErrors > 0 && errs >= req.FailOnErrors {
			break
		}
	}
	s.write(w, 200, map[string]any{"schemas": []any{urnBulkResponse}, "Operations": results})
}
