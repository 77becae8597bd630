package server

import (
	"encoding/json"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/scimgate/scimgate/internal/store"
	"github.com/scimgate/scimgate/scim"
)

// listParams are the query parameters of RFC 7644 §3.4.2, from a GET query
// string or a POST .search body.
type listParams struct {
	Filter             string
	SortBy             string
	SortOrder          string
	StartIndex         int
	Count              int
	Attributes         []string
	ExcludedAttributes []string
}

func splitList(v string) []string {
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// paramsFromQuery reads list parameters from the URL query.
func (s *Server) paramsFromQuery(q url.Values) (listParams, error) {
	p := listParams{
		Filter:             q.Get("filter"),
		SortBy:             q.Get("sortBy"),
		SortOrder:          q.Get("sortOrder"),
		StartIndex:         1,
		Count:              s.opts.DefaultCount,
		Attributes:         splitList(q.Get("attributes")),
		ExcludedAttributes: splitList(q.Get("excludedAttributes")),
	}
	for _, k := range []string{"startIndex", "count"} {
		v := q.Get(k)
		if v == "" {
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			return p, invalidValue("query parameter %s must be an integer, got %q", k, v)
		}
		if k == "startIndex" {
			p.StartIndex = n
		} else {
			p.Count = n
		}
	}
	return p, nil
}

// paramsFromSearch reads list parameters from a SearchRequest body.
func (s *Server) paramsFromSearch(body []byte) (listParams, error) {
	var req struct {
		Schemas            []string `json:"schemas"`
		Attributes         []string `json:"attributes"`
		ExcludedAttributes []string `json:"excludedAttributes"`
		Filter             string   `json:"filter"`
		SortBy             string   `json:"sortBy"`
		SortOrder          string   `json:"sortOrder"`
		StartIndex         *int     `json:"startIndex"`
		Count              *int     `json:"count"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return listParams{}, scim.Errorf(scim.ErrInvalidSyntax, "SearchRequest body is not valid: %v", err)
	}
	if len(req.Schemas) > 0 && !containsFold(req.Schemas, scim.URNSearchRequest) {
		return listParams{}, scim.Errorf(scim.ErrInvalidSyntax, "schemas must contain %s", scim.URNSearchRequest)
	}
	p := listParams{Filter: req.Filter, SortBy: req.SortBy, SortOrder: req.SortOrder, StartIndex: 1,
		Count: s.opts.DefaultCount, Attributes: req.Attributes, ExcludedAttributes: req.ExcludedAttributes}
	if req.StartIndex != nil {
		p.StartIndex = *req.StartIndex
	}
	if req.Count != nil {
		p.Count = *req.Count
	}
	return p, nil
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

// placeholder reports the dummy query of Entra's on-premises provisioning
// agent, `PLACEHOLDER eq "..."` (on an attribute no schema has): it is
// answered with an empty list, as Entra expects, not with a 400.
func placeholder(filter string) bool {
	first, rest, _ := strings.Cut(filter, " ")
	op, _, _ := strings.Cut(strings.TrimSpace(rest), " ")
	return strings.EqualFold(first, "PLACEHOLDER") && strings.EqualFold(op, "eq")
}

// query turns list parameters into a store query for rt.
func (s *Server) query(rt *scim.ResourceType, p listParams) (store.Query, *projection, error) {
	q := store.Query{StartIndex: p.StartIndex, Count: p.Count}
	if q.StartIndex < 1 {
		q.StartIndex = 1
	}
	if q.Count < 0 {
		q.Count = 0
	}
	if q.Count > s.opts.MaxResults {
		q.Count = s.opts.MaxResults
	}
	if f := strings.TrimSpace(p.Filter); placeholder(f) {
		q.Filter = store.Const(false)
	} else if f != "" {
		flt, err := rt.ParseFilter(f)
		if err != nil {
			return q, nil, err
		}
		q.Filter = flt.Cond()
	}
	if p.SortBy != "" {
		a, err := rt.Resolve(p.SortBy)
		if err != nil {
			return q, nil, invalidValue("sortBy: %v", err)
		}
		if a.Leaf().AttributeType() == "complex" {
			if _, err := rt.Resolve(p.SortBy + ".value"); err != nil {
				return q, nil, invalidValue("sortBy: %s is complex and has no value sub-attribute to sort by", a)
			}
			a, _ = rt.Resolve(p.SortBy + ".value")
		}
		q.SortBy = a.IndexPath()
	}
	switch strings.ToLower(p.SortOrder) {
	case "", "ascending":
	case "descending":
		q.Descending = true
	default:
		return q, nil, invalidValue("sortOrder must be \"ascending\" or \"descending\", got %q", p.SortOrder)
	}
	proj, err := newProjection(rt, p.Attributes, p.ExcludedAttributes)
	return q, proj, err
}

func (s *Server) list(w http.ResponseWriter, r *http.Request, rt *scim.ResourceType) {
	p, err := s.paramsFromQuery(r.URL.Query())
	if err != nil {
		s.writeError(w, err)
		return
	}
	s.answerList(w, r, []*scim.ResourceType{rt}, p)
}

// search answers POST .search on a resource endpoint (rt) or at the root
// (rt nil: every resource type).
func (s *Server) search(w http.ResponseWriter, r *http.Request, rt *scim.ResourceType) {
	body, err := readBody(w, r, s.opts.MaxBodyBytes)
	if err != nil {
		s.writeError(w, err)
		return
	}
	p, err := s.paramsFromSearch(body)
	if err != nil {
		s.writeError(w, err)
		return
	}
	types := []*scim.ResourceType{rt}
	if rt == nil {
		types = s.opts.Types
	}
	s.answerList(w, r, types, p)
}

type listed struct {
	rt   *scim.ResourceType
	sr   store.Resource
	proj *projection
	key  string // sort key (root search across types)
	has  bool
}

// answerList runs the query on each type and writes one ListResponse. With
// several types (root .search) each type is queried for the first
// startIndex+count-1 results and the union is ordered and paged in memory.
func (s *Server) answerList(w http.ResponseWriter, r *http.Request, types []*scim.ResourceType, p listParams) {
	r, cancel := s.bounded(r)
	defer cancel()
	var (
		total int
		items []listed
	)
	start := p.StartIndex
	if start < 1 {
		start = 1
	}
	// At the root, a filter on an attribute that only some types have
	// matches nothing in the others (RFC 7644 §3.4.2.2); it is an error only
	// when no type can answer it.
	type typed struct {
		rt   *scim.ResourceType
		q    store.Query
		proj *projection
	}
	var queries []typed
	var firstErr error
	for _, rt := range types {
		q, proj, err := s.query(rt, p)
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		queries = append(queries, typed{rt, q, proj})
	}
	if len(queries) == 0 || (len(types) == 1 && firstErr != nil) {
		s.writeError(w, firstErr)
		return
	}
	for _, tq := range queries {
		rt, q, proj := tq.rt, tq.q, tq.proj
		if len(types) > 1 {
			q.Count, q.StartIndex = q.StartIndex+q.Count-1, 1
		}
		page, err := s.opts.Store.Query(r.Context(), rt.Name, q)
		if err != nil {
			s.writeError(w, err)
			return
		}
		total += page.Total
		for _, sr := range page.Resources {
			it := listed{rt: rt, sr: sr, proj: proj}
			if q.SortBy != "" {
				it.key, it.has = sortKey(sr, q.SortBy)
			}
			items = append(items, it)
		}
	}
	count := p.Count
	if count > s.opts.MaxResults {
		count = s.opts.MaxResults
	}
	if count < 0 {
		count = 0
	}
	if len(types) > 1 {
		if p.SortBy != "" {
			desc := strings.EqualFold(p.SortOrder, "descending")
			sort.SliceStable(items, func(i, j int) bool {
				a, b := items[i], items[j]
				if a.has != b.has {
					return a.has != desc
				}
				if desc {
					return a.key > b.key
				}
				return a.key < b.key
			})
		}
		lo := min(start-1, len(items))
		hi := min(lo+count, len(items))
		items = items[lo:hi]
	}
	resources := make([]any, 0, len(items))
	names := map[string]any{} // group display names, read once per response
	for _, it := range items {
		res, err := scim.DecodeResource(it.sr)
		if err == nil {
			res, err = s.expand(r, it.rt, it.sr.ID, res, false, it.proj, names)
		}
		if err != nil {
			s.writeError(w, err)
			return
		}
		resources = append(resources, s.render(r, it.rt, it.sr, res, it.proj))
	}
	s.writeJSON(w, http.StatusOK, map[string]any{
		"schemas":      []string{scim.URNListResponse},
		"totalResults": total,
		"startIndex":   start,
		"itemsPerPage": len(resources),
		"Resources":    resources,
	})
}

// sortKey is the smallest index value of a resource at path.
func sortKey(sr store.Resource, path string) (string, bool) {
	var (
		key string
		has bool
	)
	for _, e := range sr.Index {
		if e.Path == path && (!has || e.Str < key) {
			key, has = e.Str, true
		}
	}
	return key, has
}

// projection applies attributes / excludedAttributes (RFC 7644 §3.4.2.5).
type projection struct {
	include map[string]bool // canonical paths; parents of sub-attributes included
	exclude map[string]bool
}

func (s *Server) projectionFromQuery(rt *scim.ResourceType, r *http.Request) (*projection, error) {
	q := r.URL.Query()
	return newProjection(rt, splitList(q.Get("attributes")), splitList(q.Get("excludedAttributes")))
}

func newProjection(rt *scim.ResourceType, include, exclude []string) (*projection, error) {
	if len(include) == 0 && len(exclude) == 0 {
		return nil, nil
	}
	if len(include) > 0 && len(exclude) > 0 {
		return nil, invalidValue("attributes and excludedAttributes cannot be used together")
	}
	p := &projection{}
	add := func(list []string, name string) (map[string]bool, error) {
		m := map[string]bool{}
		for _, path := range list {
			a, err := rt.Resolve(path)
			if err != nil {
				return nil, invalidValue("%s: %v", name, err)
			}
			m[a.String()] = true
		}
		return m, nil
	}
	var err error
	if p.include, err = add(include, "attributes"); err != nil {
		return nil, err
	}
	if p.exclude, err = add(exclude, "excludedAttributes"); err != nil {
		return nil, err
	}
	return p, nil
}

// keeps reports whether a core attribute survives the projection (a nil
// projection keeps everything).
func (p *projection) keeps(attr string) bool {
	if p == nil {
		return true
	}
	if len(p.include) > 0 {
		for k := range p.include {
			if k == attr || strings.HasPrefix(k, attr+".") {
				return true
			}
		}
		return false
	}
	return !p.exclude[attr]
}

// apply filters a rendered resource. id is always returned; schemas is set
// by the caller.
func (p *projection) apply(rt *scim.ResourceType, out map[string]any) map[string]any {
	keep := func(urn string, def string, sub string) bool {
		path := def
		if urn != "" {
			path = urn + ":" + def
		}
		if sub != "" {
			path += "." + sub
		}
		if def == "id" && sub == "" && urn == "" {
			return true
		}
		if len(p.include) > 0 {
			if p.include[path] {
				return true
			}
			if sub == "" {
				// a parent of an included sub-attribute stays (filtered below)
				for k := range p.include {
					if strings.HasPrefix(k, path+".") {
						return true
					}
				}
				return false
			}
			parent := strings.TrimSuffix(path, "."+sub)
			return p.include[parent]
		}
		return !p.exclude[path]
	}
	res := map[string]any{}
	for k, v := range out {
		if ext, ok := rt.Extension(k); ok {
			m, _ := v.(map[string]any)
			sub := map[string]any{}
			for name, val := range m {
				if keep(ext.Schema.ID, name, "") {
					sub[name] = filterSub(ext.Schema.ID, name, val, keep)
				}
			}
			if len(sub) > 0 {
				res[k] = sub
			}
			continue
		}
		if keep("", k, "") {
			res[k] = filterSub("", k, v, keep)
		}
	}
	return res
}

// filterSub applies keep to the sub-attributes of a complex value.
func filterSub(urn, name string, v any, keep func(urn, def, sub string) bool) any {
	switch t := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, x := range t {
			if keep(urn, name, k) {
				out[k] = x
			}
		}
		return out
	case []any:
		out := make([]any, 0, len(t))
		for _, x := range t {
			out = append(out, filterSub(urn, name, x, keep))
		}
		return out
	}
	return v
}
