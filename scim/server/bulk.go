package server

import (
	"github.com/scimgate/scimgate/scim"

	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	scimerr "github.com/elimity-com/scim/errors"
)

// bulkOp is one operation of a BulkRequest (RFC 7644 §3.7).
type bulkOp struct {
	Method  string          `json:"method"`
	BulkID  string          `json:"bulkId,omitempty"`
	Version string          `json:"version,omitempty"`
	Path    string          `json:"path"`
	Data    json.RawMessage `json:"data,omitempty"`
}

// bulkResult is one operation of a BulkResponse.
type bulkResult struct {
	Method   string          `json:"method"`
	BulkID   string          `json:"bulkId,omitempty"`
	Version  string          `json:"version,omitempty"`
	Location string          `json:"location,omitempty"`
	Status   string          `json:"status"`
	Response json.RawMessage `json:"response,omitempty"`
}

// bulk answers POST /Bulk. Every operation runs through the same handlers as
// a single request (so each is validated and durably committed on its own);
// "bulkId:<id>" references in paths and data are replaced by the ids that
// earlier operations created, and an operation that references one created
// later waits for it.
func (s *Server) bulk(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(w, r, s.opts.BulkMaxPayload)
	if err != nil {
		s.writeError(w, err)
		return
	}
	var req struct {
		Schemas      []string `json:"schemas"`
		FailOnErrors *int     `json:"failOnErrors"`
		Operations   []bulkOp `json:"Operations"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		s.writeError(w, scim.Errorf(scim.ErrInvalidSyntax, "BulkRequest body is not valid: %v", err))
		return
	}
	if !containsFold(req.Schemas, scim.URNBulkRequest) {
		s.writeError(w, scim.Errorf(scim.ErrInvalidSyntax, "schemas must contain %s", scim.URNBulkRequest))
		return
	}
	if len(req.Operations) == 0 {
		s.writeError(w, invalidValue("BulkRequest has no Operations"))
		return
	}
	if len(req.Operations) > s.opts.BulkMaxOperations {
		s.writeError(w, scimerr.ScimError{Status: http.StatusRequestEntityTooLarge,
			Detail: fmt.Sprintf("BulkRequest has %d operations; maxOperations is %d", len(req.Operations), s.opts.BulkMaxOperations)})
		return
	}
	failLimit := 0 // 0: process everything
	if req.FailOnErrors != nil {
		if *req.FailOnErrors < 1 {
			s.writeError(w, invalidValue("failOnErrors must be a positive integer"))
			return
		}
		failLimit = *req.FailOnErrors
	}
	seen := map[string]bool{}
	for i, op := range req.Operations {
		if op.BulkID == "" {
			continue
		}
		if seen[op.BulkID] {
			s.writeError(w, invalidValue("Operations[%d]: bulkId %q is used twice", i, op.BulkID))
			return
		}
		seen[op.BulkID] = true
	}

	var (
		results  []bulkResult
		ids      = map[string]string{} // bulkId -> created id
		failed   = map[string]bool{}   // bulkIds whose operation failed
		pending  = make([]int, len(req.Operations))
		errCount int
	)
	for i := range pending {
		pending[i] = i
	}
	fail := func(op bulkOp, err error) {
		e, _ := s.scimError(err)
		body, _ := json.Marshal(e)
		results = append(results, bulkResult{Method: op.Method, BulkID: op.BulkID, Status: strconv.Itoa(e.Status), Response: body})
		if op.BulkID != "" {
			failed[op.BulkID] = true
		}
		errCount++
	}
	for len(pending) > 0 && (failLimit == 0 || errCount < failLimit) {
		var next []int
		progress := false
		for _, i := range pending {
			if failLimit > 0 && errCount >= failLimit {
				break
			}
			op := req.Operations[i]
			refs := bulkRefs(op)
			wait := false
			for _, ref := range refs {
				if failed[ref] {
					fail(op, scimerr.ScimError{Status: http.StatusConflict, ScimType: scimerr.ScimTypeInvalidValue,
						Detail: fmt.Sprintf("Operations[%d] references bulkId %q whose operation failed", i, ref)})
					progress = true
					wait = true
					break
				}
				if _, ok := ids[ref]; !ok {
					if !seen[ref] {
						fail(op, invalidValue("Operations[%d] references unknown bulkId %q", i, ref))
						progress = true
						wait = true
						break
					}
					next = append(next, i)
					wait = true
					break
				}
			}
			if wait {
				continue
			}
			progress = true
			res := s.bulkOne(r, i, op, ids)
			if res.Response != nil {
				errCount++
				if op.BulkID != "" {
					failed[op.BulkID] = true
				}
			}
			results = append(results, res)
		}
		pending = next
		if !progress {
			for _, i := range pending {
				op := req.Operations[i]
				fail(op, scimerr.ScimError{Status: http.StatusConflict, ScimType: scimerr.ScimTypeInvalidValue,
					Detail: fmt.Sprintf("Operations[%d]: circular bulkId references", i)})
			}
			break
		}
	}
	if results == nil {
		results = []bulkResult{}
	}
	s.writeJSON(w, http.StatusOK, map[string]any{"schemas": []string{scim.URNBulkResponse}, "Operations": results})
}

// bulkRefs lists the bulkIds an operation references.
func bulkRefs(op bulkOp) []string {
	var refs []string
	scan := func(s string) {
		for {
			i := strings.Index(s, "bulkId:")
			if i < 0 {
				return
			}
			s = s[i+len("bulkId:"):]
			end := strings.IndexAny(s, "\"/?\\ ")
			if end < 0 {
				end = len(s)
			}
			if end > 0 {
				refs = append(refs, s[:end])
			}
		}
	}
	scan(op.Path)
	scan(string(op.Data))
	return refs
}

// bulkOne runs one resolved operation through ServeHTTP.
func (s *Server) bulkOne(r *http.Request, i int, op bulkOp, ids map[string]string) bulkResult {
	res := bulkResult{Method: op.Method, BulkID: op.BulkID}
	errorResult := func(err error) bulkResult {
		e, _ := s.scimError(err)
		res.Status = strconv.Itoa(e.Status)
		res.Response, _ = json.Marshal(e)
		return res
	}
	method := strings.ToUpper(op.Method)
	switch method {
	case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
	default:
		return errorResult(invalidValue("Operations[%d]: method must be POST, PUT, PATCH or DELETE, got %q", i, op.Method))
	}
	path, data := op.Path, string(op.Data)
	for ref, id := range ids {
		path = strings.ReplaceAll(path, "bulkId:"+ref, id)
		data = strings.ReplaceAll(data, "bulkId:"+ref, id)
	}
	endpoint, rest, _ := strings.Cut(strings.TrimPrefix(path, "/"), "/")
	if !strings.HasPrefix(path, "/") || s.types["/"+endpoint] == nil || rest == ".search" {
		return errorResult(invalidValue("Operations[%d]: path %q is not a resource endpoint", i, op.Path))
	}
	if (method == http.MethodPost) != (rest == "") {
		return errorResult(invalidValue("Operations[%d]: %s needs a path of the form %s", i, method,
			map[bool]string{true: "/Users", false: "/Users/{id}"}[method == http.MethodPost]))
	}
	if method == http.MethodPost && op.BulkID == "" {
		return errorResult(invalidValue("Operations[%d]: POST requires a bulkId", i))
	}
	sub, err := http.NewRequestWithContext(r.Context(), method, s.opts.BasePath+path, bytes.NewReader([]byte(data)))
	if err != nil {
		return errorResult(invalidValue("Operations[%d]: %v", i, err))
	}
	sub.Host, sub.TLS = r.Host, r.TLS
	sub.Header.Set("Content-Type", ContentType)
	if op.Version != "" {
		sub.Header.Set("If-Match", op.Version)
	}
	rec := &recorder{header: http.Header{}}
	s.ServeHTTP(rec, sub)
	res.Status = strconv.Itoa(rec.status)
	res.Version = rec.header.Get("ETag")
	if rec.status >= 400 {
		res.Response = rec.body.Bytes()
		return res
	}
	res.Location = rec.header.Get("Location")
	if method == http.MethodPost {
		var created struct {
			ID string `json:"id"`
		}
		_ = json.Unmarshal(rec.body.Bytes(), &created)
		ids[op.BulkID] = created.ID
	} else if method != http.MethodDelete {
		res.Location = s.baseURL(r) + path
	}
	return res
}

// recorder captures the answer of an operation run inside /Bulk.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (rc *recorder) Header() http.Header { return rc.header }
func (rc *recorder) WriteHeader(status int) {
	if rc.status == 0 {
		rc.status = status
	}
}
func (rc *recorder) Write(b []byte) (int, error) {
	if rc.status == 0 {
		rc.status = http.StatusOK
	}
	return rc.body.Write(b)
}
