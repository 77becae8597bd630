// Package server is scimgate's SCIM 2.0 service provider (RFC 7643/7644):
// the HTTP API over the resource model of package scim, built on
// github.com/elimity-com/scim's error type and discovery handlers, with its
// own resource pipeline for what that library lacks: index-answered
// filters, sorting, ETags, /Bulk, POST .search, Location headers and the
// request shapes Microsoft Entra ID sends.
package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	elimity "github.com/elimity-com/scim"
	scimerr "github.com/elimity-com/scim/errors"
	"github.com/elimity-com/scim/optional"
	"github.com/google/uuid"

	"github.com/scimgate/scimgate/internal/store"
	"github.com/scimgate/scimgate/scim"
)

// ContentType is the media type of every SCIM response.
const ContentType = "application/scim+json"

// Store is the part of the store the SCIM server uses.
type Store interface {
	store.Resources
	store.Writer
}

// Options configure a Server.
type Options struct {
	Store Store
	// Types are the served resource types; the first is the default for
	// root-level .search ordering. Usually scim.ResourceTypes(...).
	Types []*scim.ResourceType
	// PublicURL is the external scheme://host[:port] used in Location and
	// meta.location; empty derives it from each request.
	PublicURL string
	// BasePath is where the service lives, e.g. "/scim/v2".
	BasePath          string
	MaxBodyBytes      int64
	MaxResults        int // cap on count
	DefaultCount      int
	BulkMaxOperations int
	BulkMaxPayload    int64
	// QueryTimeout bounds the store reads of one GET or .search request;
	// past it the request answers 503. 0 means DefaultQueryTimeout.
	QueryTimeout time.Duration
	// AuthSchemes are advertised in /ServiceProviderConfig.
	AuthSchemes []AuthScheme
	Logger      *slog.Logger
}

// DefaultQueryTimeout is Options.QueryTimeout when it is 0.
const DefaultQueryTimeout = 10 * time.Second

// AuthScheme is an authentication scheme advertised by the service.
type AuthScheme struct {
	Type        string // "oauthbearertoken"
	Name        string
	Description string
	Primary     bool
}

// Server serves the SCIM API. Mount it at Options.BasePath.
type Server struct {
	opts      Options
	types     map[string]*scim.ResourceType // by endpoint ("/Users")
	endpoints []string                      // fixedEndpoints and the types' ("Users"), for canonical
	discovery http.Handler                  // elimity-com/scim server for /Schemas and /ResourceTypes
	log       *slog.Logger
}

// New validates opts and builds a Server.
func New(opts Options) (*Server, error) {
	switch {
	case opts.Store == nil:
		return nil, errors.New("scim: Options.Store is required")
	case len(opts.Types) == 0:
		return nil, errors.New("scim: Options.Types is required")
	case opts.MaxBodyBytes <= 0, opts.MaxResults <= 0, opts.DefaultCount <= 0,
		opts.BulkMaxOperations <= 0, opts.BulkMaxPayload <= 0, opts.QueryTimeout < 0:
		return nil, errors.New("scim: body, result, bulk and time limits must be positive")
	}
	if opts.QueryTimeout == 0 {
		opts.QueryTimeout = DefaultQueryTimeout
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	opts.BasePath = strings.TrimRight(opts.BasePath, "/")
	opts.PublicURL = strings.TrimRight(opts.PublicURL, "/")
	s := &Server{opts: opts, types: map[string]*scim.ResourceType{}, endpoints: slices.Clone(fixedEndpoints), log: opts.Logger}
	var rts []elimity.ResourceType
	for _, rt := range opts.Types {
		s.types[rt.Endpoint] = rt
		s.endpoints = append(s.endpoints, strings.TrimPrefix(rt.Endpoint, "/"))
		ert := elimity.ResourceType{
			ID:          optional.NewString(rt.Name),
			Name:        rt.Name,
			Description: optional.NewString(rt.Name),
			Endpoint:    rt.Endpoint,
			Schema:      rt.Schema,
			// Resource endpoints are served by this package, never by the
			// library server; it only answers discovery.
			Handler: discoveryOnly{},
		}
		for _, e := range rt.Extensions {
			ert.SchemaExtensions = append(ert.SchemaExtensions, elimity.SchemaExtension{Schema: e.Schema, Required: e.Required})
		}
		rts = append(rts, ert)
	}
	d, err := elimity.NewServer(&elimity.ServerArgs{
		ServiceProviderConfig: &elimity.ServiceProviderConfig{MaxResults: opts.MaxResults, SupportFiltering: true, SupportPatch: true},
		ResourceTypes:         rts,
	})
	if err != nil {
		return nil, fmt.Errorf("scim: discovery server: %w", err)
	}
	s.discovery = d
	return s, nil
}

// ServeHTTP routes a request whose path is below BasePath.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", ContentType)
	path := s.canonical(strings.TrimPrefix(r.URL.Path, s.opts.BasePath))
	switch {
	case path == "/":
		// RFC 7644 §3.4.2.1: a query at the root, which the gateway does not
		// answer (POST /.search does, across resource types).
		s.writeError(w, scimerr.ScimError{Status: http.StatusNotImplemented,
			Detail: "queries at the service root are not supported: query /Users or /Groups, or POST /.search"})
		return
	case path == "/ServiceProviderConfig":
		s.only(w, r, http.MethodGet, s.serviceProviderConfig)
		return
	case path == "/Schemas" || strings.HasPrefix(path, "/Schemas/") ||
		path == "/ResourceTypes" || strings.HasPrefix(path, "/ResourceTypes/"):
		s.only(w, r, http.MethodGet, func(w http.ResponseWriter, r *http.Request) {
			r2 := r.Clone(r.Context())
			r2.URL.Path = path
			s.discovery.ServeHTTP(w, r2)
		})
		return
	case path == "/Bulk":
		s.only(w, r, http.MethodPost, s.bulk)
		return
	case path == "/.search":
		s.only(w, r, http.MethodPost, func(w http.ResponseWriter, r *http.Request) { s.search(w, r, nil) })
		return
	case path == "/Me":
		s.writeError(w, scimerr.ScimError{Status: http.StatusNotImplemented, Detail: "/Me is not supported: the gateway has no notion of the calling user"})
		return
	}
	endpoint, rest, _ := strings.Cut(strings.TrimPrefix(path, "/"), "/")
	rt, ok := s.types["/"+endpoint]
	if !ok {
		s.writeError(w, scimerr.ScimError{Status: http.StatusNotFound, Detail: fmt.Sprintf("no SCIM endpoint at %q", path)})
		return
	}
	switch {
	case rest == "":
		switch r.Method {
		case http.MethodGet:
			s.list(w, r, rt)
		case http.MethodPost:
			s.create(w, r, rt)
		default:
			s.methodNotAllowed(w, r, "GET, POST")
		}
	case rest == ".search":
		s.only(w, r, http.MethodPost, func(w http.ResponseWriter, r *http.Request) { s.search(w, r, rt) })
	case strings.Contains(rest, "/"):
		s.writeError(w, scimerr.ScimError{Status: http.StatusNotFound, Detail: fmt.Sprintf("no SCIM endpoint at %q", path)})
	default:
		id := rest
		switch r.Method {
		case http.MethodGet:
			s.get(w, r, rt, id)
		case http.MethodPut:
			s.replace(w, r, rt, id)
		case http.MethodPatch:
			s.patch(w, r, rt, id)
		case http.MethodDelete:
			s.delete(w, r, rt, id)
		default:
			s.methodNotAllowed(w, r, "GET, PUT, PATCH, DELETE")
		}
	}
}

// fixedEndpoints are the service's endpoints besides the resource types'.
var fixedEndpoints = []string{"ServiceProviderConfig", "Schemas", "ResourceTypes", "Bulk", ".search", "Me"}

// canonical returns path (below the base path) with its first segment
// spelled as the endpoint it names, compared without case: clients send
// /users, and Entra's on-premises agent /schemas. Ids after it keep their
// case; "" is "/".
func (s *Server) canonical(path string) string {
	if path == "" || path == "/" {
		return "/"
	}
	first, rest, more := strings.Cut(strings.TrimPrefix(path, "/"), "/")
	for _, n := range s.endpoints {
		if strings.EqualFold(first, n) {
			first = n
			break
		}
	}
	if more {
		return "/" + first + "/" + rest
	}
	return "/" + first
}

func (s *Server) only(w http.ResponseWriter, r *http.Request, method string, h http.HandlerFunc) {
	if r.Method != method {
		s.methodNotAllowed(w, r, method)
		return
	}
	h(w, r)
}

func (s *Server) methodNotAllowed(w http.ResponseWriter, r *http.Request, allow string) {
	w.Header().Set("Allow", allow)
	s.writeError(w, scimerr.ScimError{Status: http.StatusMethodNotAllowed, Detail: fmt.Sprintf("method %s is not allowed here (allowed: %s)", r.Method, allow)})
}

// discoveryOnly satisfies the library's ResourceHandler for resource types
// whose endpoints this package serves itself; it is never called.
type discoveryOnly struct{}

var _ elimity.ResourceHandler = discoveryOnly{}

var errNotRouted = scimerr.ScimError{Status: http.StatusInternalServerError, Detail: "resource endpoint routed to the discovery server"}

func (discoveryOnly) Create(*http.Request, elimity.ResourceAttributes) (elimity.Resource, error) {
	return elimity.Resource{}, errNotRouted
}
func (discoveryOnly) Get(*http.Request, string) (elimity.Resource, error) {
	return elimity.Resource{}, errNotRouted
}
func (discoveryOnly) GetAll(*http.Request, elimity.ListRequestParams) (elimity.Page, error) {
	return elimity.Page{}, errNotRouted
}
func (discoveryOnly) Replace(*http.Request, string, elimity.ResourceAttributes) (elimity.Resource, error) {
	return elimity.Resource{}, errNotRouted
}
func (discoveryOnly) Delete(*http.Request, string) error { return errNotRouted }
func (discoveryOnly) Patch(*http.Request, string, []elimity.PatchOperation) (elimity.Resource, error) {
	return elimity.Resource{}, errNotRouted
}

func (s *Server) serviceProviderConfig(w http.ResponseWriter, r *http.Request) {
	schemes := []map[string]any{}
	for _, a := range s.opts.AuthSchemes {
		schemes = append(schemes, map[string]any{"type": a.Type, "name": a.Name, "description": a.Description, "primary": a.Primary})
	}
	s.writeJSON(w, http.StatusOK, map[string]any{
		"schemas":          []string{"urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"},
		"documentationUri": "https://github.com/scimgate/scimgate",
		"patch":            map[string]any{"supported": true},
		"bulk": map[string]any{"supported": true, "maxOperations": s.opts.BulkMaxOperations,
			"maxPayloadSize": s.opts.BulkMaxPayload},
		"filter":                map[string]any{"supported": true, "maxResults": s.opts.MaxResults},
		"changePassword":        map[string]any{"supported": false},
		"sort":                  map[string]any{"supported": true},
		"etag":                  map[string]any{"supported": true},
		"authenticationSchemes": schemes,
		"meta":                  map[string]any{"resourceType": "ServiceProviderConfig", "location": s.baseURL(r) + "/ServiceProviderConfig"},
	})
}

// readBody reads a request body within limit; an oversized body is a 413.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		// RFC 7644 defines no scimType for 413 (§3.7.4's example has none).
		return nil, scimerr.ScimError{Status: http.StatusRequestEntityTooLarge,
			Detail: fmt.Sprintf("request body exceeds the limit of %d bytes", limit)}
	}
	if err != nil {
		return nil, scim.Errorf(scim.ErrInvalidSyntax, "reading request body: %v", err)
	}
	return body, nil
}

// decodeObject decodes a JSON object with numbers kept exact.
func decodeObject(body []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, scim.Errorf(scim.ErrInvalidSyntax, "request body is not valid JSON: %v", err)
	}
	if m == nil {
		return nil, scim.Errorf(scim.ErrInvalidSyntax, "request body must be a JSON object")
	}
	if dec.More() {
		return nil, scim.Errorf(scim.ErrInvalidSyntax, "request body has data after the JSON object")
	}
	return m, nil
}

// readResource reads and normalises a POST or PUT body.
func (s *Server) readResource(w http.ResponseWriter, r *http.Request, rt *scim.ResourceType) (map[string]any, error) {
	body, err := readBody(w, r, s.opts.MaxBodyBytes)
	if err != nil {
		return nil, err
	}
	in, err := decodeObject(body)
	if err != nil {
		return nil, err
	}
	return rt.Normalize(in)
}

// current reads the resource a request changes and enforces If-Match.
func (s *Server) current(ctx context.Context, tx store.Tx, r *http.Request, rt *scim.ResourceType, id string) (store.Resource, error) {
	cur, err := tx.Get(ctx, rt.Name, id)
	if err != nil {
		return cur, s.storeError(rt, id, err)
	}
	return cur, checkIfMatch(r, cur.Version)
}

// save writes a resource without member rows (a user): a create when cur is
// nil, else an update of cur (whose canonical form is old, or nil). Groups
// are written by saveGroup and patchGroup.
func (s *Server) save(ctx context.Context, tx store.Tx, rt *scim.ResourceType, res, old map[string]any, cur *store.Resource) (store.Resource, error) {
	sr, err := s.toStore(rt, res)
	if err != nil {
		return sr, err
	}
	if cur == nil {
		sr.Changed = scim.ChangedPaths(nil, res)
		err = tx.Create(ctx, &sr)
	} else {
		if old == nil {
			if old, err = scim.DecodeResource(*cur); err != nil {
				return sr, err
			}
		}
		sr.Changed = scim.ChangedPaths(old, res)
		sr.Version, sr.Created = cur.Version, cur.Created
		err = tx.Update(ctx, &sr)
	}
	return sr, s.conflict(rt, res, err)
}

func (s *Server) create(w http.ResponseWriter, r *http.Request, rt *scim.ResourceType) {
	res, err := s.readResource(w, r, rt)
	if err != nil {
		s.writeError(w, err)
		return
	}
	// A time-ordered id: its entries in the store's id indexes are appended
	// next to the last ones instead of dirtying a random page each, which
	// every commit must write and fsync.
	id, err := uuid.NewV7()
	if err != nil {
		s.writeError(w, fmt.Errorf("scim: new id: %w", err))
		return
	}
	res["id"] = id.String()
	// The store commits everyone's writes one at a time: a resource with no
	// members to check is encoded before its turn, in parallel with others.
	groups := scim.HasMemberRows(rt.Name)
	var rec store.Resource
	if !groups {
		if rec, err = s.toStore(rt, res); err != nil {
			s.writeError(w, err)
			return
		}
		rec.Changed = scim.ChangedPaths(nil, res)
	}
	var stored store.Resource
	err = s.opts.Store.Write(r.Context(), func(ctx context.Context, tx store.Tx) (err error) {
		if groups {
			stored, res, err = s.saveGroup(ctx, tx, rt, res, nil)
			return err
		}
		stored = rec
		return s.conflict(rt, res, tx.Create(ctx, &stored))
	})
	if err != nil {
		s.writeError(w, err)
		return
	}
	// A new resource is in no group yet, so it is rendered without the
	// groups lookup of writeResource.
	w.Header().Set("Location", s.location(r, rt, stored.ID))
	w.Header().Set("ETag", etag(stored.Version))
	s.writeJSON(w, http.StatusCreated, s.render(r, rt, stored, res, nil))
}

func (s *Server) get(w http.ResponseWriter, r *http.Request, rt *scim.ResourceType, id string) {
	proj, err := s.projectionFromQuery(rt, r)
	if err != nil {
		s.writeError(w, err)
		return
	}
	r, cancel := s.bounded(r)
	defer cancel()
	sr, err := s.opts.Store.Get(r.Context(), rt.Name, id)
	if err != nil {
		s.writeError(w, s.storeError(rt, id, err))
		return
	}
	if etagMatches(r.Header.Get("If-None-Match"), sr.Version) {
		w.Header().Set("ETag", etag(sr.Version))
		w.Header().Del("Content-Type")
		w.WriteHeader(http.StatusNotModified)
		return
	}
	res, err := scim.DecodeResource(sr)
	if err != nil {
		s.writeError(w, err)
		return
	}
	s.writeResource(w, r, http.StatusOK, rt, sr, res, false, proj)
}

func (s *Server) replace(w http.ResponseWriter, r *http.Request, rt *scim.ResourceType, id string) {
	res, err := s.readResource(w, r, rt)
	if err != nil {
		s.writeError(w, err)
		return
	}
	if v, ok := res["id"].(string); ok && v != id {
		s.writeError(w, scim.Errorf(scim.ErrMutability, "id %q in the body does not match the id %q in the URL; id is read-only", v, id))
		return
	}
	res["id"] = id
	var stored store.Resource
	err = s.opts.Store.Write(r.Context(), func(ctx context.Context, tx store.Tx) error {
		cur, err := s.current(ctx, tx, r, rt, id)
		if err != nil {
			return err
		}
		if scim.HasMemberRows(rt.Name) {
			stored, res, err = s.saveGroup(ctx, tx, rt, res, &cur)
			return err
		}
		stored, err = s.save(ctx, tx, rt, res, nil, &cur)
		return err
	})
	if err != nil {
		s.writeError(w, err)
		return
	}
	s.writeResource(w, r, http.StatusOK, rt, stored, res, true, nil)
}

func (s *Server) patch(w http.ResponseWriter, r *http.Request, rt *scim.ResourceType, id string) {
	body, err := readBody(w, r, s.opts.MaxBodyBytes)
	if err != nil {
		s.writeError(w, err)
		return
	}
	ops, err := scim.ParsePatchRequest(body)
	if err != nil {
		s.writeError(w, err)
		return
	}
	var p patched
	err = s.opts.Store.Write(r.Context(), func(ctx context.Context, tx store.Tx) error {
		p = patched{}
		cur, err := s.current(ctx, tx, r, rt, id)
		if err != nil {
			return err
		}
		if scim.HasMemberRows(rt.Name) {
			if p, err = s.patchGroup(ctx, tx, rt, cur, ops); err != nil || len(p.skipped) == 0 {
				return err
			}
			return auditSkippedMembers(ctx, tx, rt, id, p.skipped)
		}
		old, err := scim.DecodeResource(cur)
		if err != nil {
			return err
		}
		next, changed, err := rt.Patch(old, ops)
		if err != nil {
			return err
		}
		p.stored, p.res = cur, next
		if !changed {
			return nil
		}
		next["id"] = id
		p.stored, err = s.save(ctx, tx, rt, next, old, &cur)
		return err
	})
	if err != nil {
		s.writeError(w, err)
		return
	}
	if len(p.skipped) > 0 {
		// Entra sends the membership changes of a group again every cycle
		// until they succeed: one stale id must not block the others.
		s.log.Warn("scim: PATCH of a group skipped members that name no User or Group",
			"group", id, "count", len(p.skipped), "ids", skippedText(p.skipped))
	}
	w.Header().Set("ETag", etag(p.stored.Version))
	// Entra wants 204 for groups (a body listing every member is costly);
	// users get the resource, as most clients expect.
	if rt.Name == "Group" && r.URL.Query().Get("attributes") == "" {
		w.Header().Del("Content-Type")
		w.WriteHeader(http.StatusNoContent)
		return
	}
	proj, err := s.projectionFromQuery(rt, r)
	if err != nil {
		s.writeError(w, err)
		return
	}
	s.writeResource(w, r, http.StatusOK, rt, p.stored, p.res, p.full, proj)
}

func (s *Server) delete(w http.ResponseWriter, r *http.Request, rt *scim.ResourceType, id string) {
	err := s.opts.Store.Write(r.Context(), func(ctx context.Context, tx store.Tx) error {
		if _, err := s.current(ctx, tx, r, rt, id); err != nil {
			return err
		}
		if err := tx.Delete(ctx, rt.Name, id); err != nil {
			return s.storeError(rt, id, err)
		}
		return s.dropMemberships(ctx, tx, id)
	})
	if err != nil {
		s.writeError(w, err)
		return
	}
	w.Header().Del("Content-Type")
	w.WriteHeader(http.StatusNoContent)
}

// groupType is the served Group resource type, or nil.
func (s *Server) groupType() *scim.ResourceType {
	return s.types["/Groups"]
}

// dropMemberships removes a deleted resource from every group listing it,
// in the same transaction as the delete: O(groups of the resource).
func (s *Server) dropMemberships(ctx context.Context, tx store.Tx, id string) error {
	gt := s.groupType()
	if gt == nil {
		return nil
	}
	gids, err := tx.MemberOf(ctx, gt.Name, id)
	if err != nil {
		return err
	}
	for _, gid := range gids {
		if _, err := tx.RemoveMembers(ctx, gt.Name, gid, []string{id}); err != nil {
			return err
		}
	}
	return nil
}

// toStore turns a canonical resource into a store record.
func (s *Server) toStore(rt *scim.ResourceType, res map[string]any) (store.Resource, error) {
	data, err := json.Marshal(res)
	if err != nil {
		return store.Resource{}, fmt.Errorf("encoding resource: %w", err)
	}
	uniq, _ := res[rt.UniqueAttr].(string)
	return store.Resource{
		Type:   rt.Name,
		ID:     res["id"].(string),
		Unique: strings.ToLower(uniq),
		Data:   data,
		Index:  rt.IndexEntries(res),
	}, nil
}

// conflict gives a uniqueness violation (store.ErrConflict) its detail
// (nil stays nil).
func (s *Server) conflict(rt *scim.ResourceType, res map[string]any, err error) error {
	if errors.Is(err, store.ErrConflict) {
		return scim.Errorf(store.ErrConflict, "%s %q is already in use by another %s (compared case-insensitively)", rt.UniqueAttr, res[rt.UniqueAttr], rt.Name)
	}
	return err
}

// storeError gives store.ErrNotFound its detail.
func (s *Server) storeError(rt *scim.ResourceType, id string, err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return scim.Errorf(store.ErrNotFound, "%s %q not found", rt.Name, id)
	}
	return err
}

// etag renders a version as a weak entity tag.
func etag(version int64) string { return `W/"` + strconv.FormatInt(version, 10) + `"` }

// etagMatches reports whether an If-Match / If-None-Match header value lists
// the version (or is "*").
func etagMatches(header string, version int64) bool {
	if header == "" {
		return false
	}
	want := strings.TrimPrefix(etag(version), "W/")
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || strings.TrimPrefix(t, "W/") == want {
			return true
		}
	}
	return false
}

// checkIfMatch enforces If-Match: store.ErrModified (412) when it does not
// list the version.
func checkIfMatch(r *http.Request, version int64) error {
	h := r.Header.Get("If-Match")
	if h != "" && !etagMatches(h, version) {
		return scim.Errorf(store.ErrModified, "If-Match %s does not match the current version %s", h, etag(version))
	}
	return nil
}

func (s *Server) baseURL(r *http.Request) string {
	if s.opts.PublicURL != "" {
		return s.opts.PublicURL + s.opts.BasePath
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + s.opts.BasePath
}

func (s *Server) location(r *http.Request, rt *scim.ResourceType, id string) string {
	return s.baseURL(r) + rt.Endpoint + "/" + id
}

// memberRefs returns a group's members with each one's $ref set by the
// server to the member's own URI (a Group's when its type says so, else a
// User's), whatever a client sent.
func (s *Server) memberRefs(r *http.Request, members []any) []any {
	base := s.baseURL(r)
	out := make([]any, len(members))
	for i, m := range members {
		mm, ok := m.(map[string]any)
		id, _ := mm["value"].(string)
		if !ok || id == "" {
			out[i] = m
			continue
		}
		c := maps.Clone(mm)
		endpoint := "/Users/"
		if typ, _ := c["type"].(string); strings.EqualFold(typ, "Group") {
			endpoint = "/Groups/"
		}
		c["$ref"] = base + endpoint + url.PathEscape(id)
		out[i] = c
	}
	return out
}

// render builds the response representation of a stored resource.
func (s *Server) render(r *http.Request, rt *scim.ResourceType, sr store.Resource, res map[string]any, proj *projection) map[string]any {
	out := make(map[string]any, len(res)+2)
	for k, v := range res {
		out[k] = v
	}
	delete(out, "password")
	if members, ok := out["members"].([]any); ok {
		out["members"] = s.memberRefs(r, members)
	}
	schemas := []string{rt.Schema.ID}
	for _, e := range rt.Extensions {
		if _, ok := out[e.Schema.ID]; ok {
			schemas = append(schemas, e.Schema.ID)
		}
	}
	out["id"] = sr.ID
	out["meta"] = map[string]any{
		"resourceType": rt.Name,
		"created":      sr.Created.UTC().Format(time.RFC3339Nano),
		"lastModified": sr.Modified.UTC().Format(time.RFC3339Nano),
		"location":     s.location(r, rt, sr.ID),
		"version":      etag(sr.Version),
	}
	if proj != nil {
		out = proj.apply(rt, out)
	}
	out["schemas"] = schemas
	return out
}

// writeResource answers one resource. full: res holds a group's members
// already (else they are read when the projection returns them).
func (s *Server) writeResource(w http.ResponseWriter, r *http.Request, status int, rt *scim.ResourceType, sr store.Resource, res map[string]any, full bool, proj *projection) {
	res, err := s.expand(r, rt, sr.ID, res, full, proj, nil)
	if err != nil {
		s.writeError(w, err)
		return
	}
	w.Header().Set("ETag", etag(sr.Version))
	s.writeJSON(w, status, s.render(r, rt, sr, res, proj))
}

// expand adds what a resource's Data does not hold, when the projection
// returns it: a group's members (read from the store's rows unless full
// says res has them) and a User's read-only "groups" (RFC 7643 §4.1.2: the
// groups the user is a direct member of, from the member index). res is
// not modified. names caches group display names across the resources of
// one response (nil: no cache).
func (s *Server) expand(r *http.Request, rt *scim.ResourceType, id string, res map[string]any, full bool, proj *projection, names map[string]any) (map[string]any, error) {
	switch {
	case scim.HasMemberRows(rt.Name) && !full && proj.keeps("members"):
		rows, err := scim.ReadMembers(r.Context(), s.opts.Store, rt.Name, id)
		if err != nil || len(rows) == 0 {
			return res, err
		}
		elems, err := scim.DecodeMembers(rows)
		if err != nil {
			return nil, fmt.Errorf("decoding the members of %s %s: %w", rt.Name, id, err)
		}
		out := maps.Clone(res)
		out["members"] = elems
		return out, nil
	case rt.Name == "User" && proj.keeps("groups"):
		groups, err := s.userGroups(r, id, names)
		if err != nil || len(groups) == 0 {
			return res, err
		}
		out := maps.Clone(res)
		out["groups"] = groups
		return out, nil
	}
	return res, nil
}

// userGroups lists the groups user id is a direct member of.
func (s *Server) userGroups(r *http.Request, id string, names map[string]any) ([]any, error) {
	gt := s.groupType()
	if gt == nil {
		return nil, nil
	}
	gids, err := s.opts.Store.MemberOf(r.Context(), gt.Name, id)
	if err != nil || len(gids) == 0 {
		return nil, err
	}
	if names == nil {
		names = map[string]any{}
	}
	groups := make([]any, 0, len(gids))
	for _, gid := range gids {
		display, ok := names[gid]
		if !ok {
			g, err := s.opts.Store.Get(r.Context(), gt.Name, gid)
			if errors.Is(err, store.ErrNotFound) {
				continue // deleted since
			}
			if err != nil {
				return nil, err
			}
			gm, err := scim.DecodeResource(g)
			if err != nil {
				return nil, err
			}
			display = gm["displayName"]
			names[gid] = display
		}
		groups = append(groups, map[string]any{"value": gid, "display": display,
			"$ref": s.location(r, gt, gid), "type": "direct"})
	}
	return groups, nil
}

func (s *Server) writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		s.log.Error("encoding response", "err", err)
		s.writeError(w, err)
		return
	}
	w.Header().Set("Content-Type", ContentType)
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// bounded returns r with the time limit of its reads (Options.QueryTimeout):
// the store stops a query when its context ends.
func (s *Server) bounded(r *http.Request) (*http.Request, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(r.Context(), s.opts.QueryTimeout)
	return r.WithContext(ctx), cancel
}

// writeError answers with the RFC 7644 Error body of err (scimError), with
// Retry-After on a 503. A read past its time limit, a store that cannot
// write and any other 5xx are logged.
func (s *Server) writeError(w http.ResponseWriter, err error) {
	se, retry := s.scimError(err)
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		s.log.Warn("scim query stopped at its time limit", "limit", s.opts.QueryTimeout)
	case errors.Is(err, store.ErrUnavailable):
		s.log.Error("scim request failed: the store cannot write", "err", err)
	case se.Status >= 500 && retry == "":
		s.log.Error("scim request failed", "err", err)
	}
	if retry != "" {
		w.Header().Set("Retry-After", retry)
	}
	body, _ := json.Marshal(se)
	w.Header().Set("Content-Type", ContentType)
	w.WriteHeader(se.Status)
	_, _ = w.Write(body)
}
