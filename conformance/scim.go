// Package conformance checks a SCIM 2.0 service provider against RFC 7643 and
// RFC 7644 and against the request flows that Microsoft documents for the
// Entra ID provisioning service (Test Connection, Entra's create body, every
// PATCH shape Entra emits, manager and group-membership checks).
//
// RunSCIM runs every check in order against a base URL. Each check creates its
// own uniquely named data (a random per-run suffix plus the check's number)
// and deletes it afterwards, so the suite can run repeatedly against the same
// server and alongside other traffic. Checks for optional features that the
// server's /ServiceProviderConfig advertises as unsupported are skipped.
package conformance

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// SCIMConfig says where the suite sends its requests.
type SCIMConfig struct {
	// BaseURL is the SCIM base URL, e.g. "https://host/scim/v2"; resource
	// endpoints are BaseURL+"/Users", BaseURL+"/Groups", ...
	BaseURL string
	// Token is sent as "Authorization: Bearer <Token>". When empty, no
	// Authorization header is sent and the auth checks are skipped.
	Token string
	// HTTPClient sends the requests; nil means a client with a 30s timeout.
	HTTPClient *http.Client
}

// Outcome lines written by RunSCIM start with one of these words.
const (
	linePass = "PASS"
	lineFail = "FAIL"
	lineSkip = "SKIP"
)

// feature is an optional SCIM capability advertised in /ServiceProviderConfig.
type feature string

const (
	patch  feature = "patch"
	bulk   feature = "bulk"
	filter feature = "filter"
	sort   feature = "sort"
	etag   feature = "etag"
)

// check is one named conformance check. needs lists the features the check
// exercises; it is skipped when the server advertises any of them as
// unsupported.
type check struct {
	name  string
	needs []feature
	fn    func(ctx context.Context, t *checkT)
}

// needs is shorthand for the feature list of a check.
func needs(f ...feature) []feature { return f }

// checks is the whole suite, in run order.
var checks = []check{
	// Discovery (RFC 7644 §4).
	{"discovery/service-provider-config", nil, checkServiceProviderConfig},
	{"discovery/schemas", nil, checkSchemas},
	{"discovery/schema-by-urn", nil, checkSchemaByURN},
	{"discovery/resource-types", nil, checkResourceTypes},
	{"discovery/resource-type-user", nil, checkResourceTypeUser},
	{"discovery/content-type", nil, checkContentType},

	// Users (RFC 7644 §3.3, §3.4.1, §3.5.1, §3.6, §3.12).
	{"users/create", nil, checkUserCreate},
	{"users/get-by-id", nil, checkUserGet},
	{"users/get-unknown-id-404", nil, checkUserGetUnknown},
	{"users/duplicate-username-409", nil, checkUserDuplicate},
	{"users/duplicate-username-other-case-409", nil, checkUserDuplicateCase},
	{"users/missing-username-400", nil, checkUserMissingUserName},
	{"users/invalid-json-400", nil, checkUserInvalidJSON},
	{"users/put-replaces", nil, checkUserPut},
	{"users/delete", nil, checkUserDelete},

	// Entra provisioning flows (Microsoft "Develop and plan provisioning for a
	// SCIM endpoint", "Known issues ... SCIM 2.0 protocol compliance").
	{"entra/test-connection", needs(filter), checkEntraTestConnection},
	{"entra/create-user", nil, checkEntraCreateUser},
	{"entra/lookup-external-id", needs(filter), checkEntraLookupExternalID},
	{"entra/lookup-work-email", needs(filter), checkEntraLookupWorkEmail},
	{"entra/patch-replace-per-attribute", needs(patch), checkEntraPatchPerAttribute},
	{"entra/patch-no-path-dotted-keys", needs(patch), checkEntraPatchDottedKeys},
	{"entra/patch-no-path-nested", needs(patch), checkEntraPatchNested},
	{"entra/patch-op-any-case", needs(patch), checkEntraPatchOpCase},
	{"entra/disable-string-false", needs(patch, filter), checkEntraDisableString},
	{"entra/disable-boolean-false", needs(patch, filter), checkEntraDisableBoolean},
	{"entra/manager-string-then-remove", needs(patch, filter), checkEntraManagerString},
	{"entra/manager-object-then-empty-value", needs(patch, filter), checkEntraManagerObject},
	{"entra/manager-array-with-ref", needs(patch, filter), checkEntraManagerArray},
	{"entra/roles-json-encoded-string", needs(patch), checkEntraRolesJSONString},

	// Groups (RFC 7644 §3.5.2 and Entra's group flows).
	{"groups/create", nil, checkGroupCreate},
	{"groups/duplicate-displayname-other-case-409", nil, checkGroupDuplicate},
	{"groups/add-members", needs(patch), checkGroupAddMembers},
	{"groups/add-existing-member", needs(patch), checkGroupAddExisting},
	{"groups/filter-excluded-members", needs(patch, filter), checkGroupFilterExcludedMembers},
	{"groups/get-excluded-members", needs(patch), checkGroupGetExcludedMembers},
	{"groups/membership-filter", needs(patch, filter), checkGroupMembershipFilter},
	{"groups/remove-member-by-value", needs(patch), checkGroupRemoveByValue},
	{"groups/remove-member-by-value-filter", needs(patch), checkGroupRemoveByFilter},
	{"groups/remove-all-members", needs(patch), checkGroupRemoveAll},
	{"groups/rename", needs(patch), checkGroupRename},
	{"groups/delete", nil, checkGroupDelete},

	// Query (RFC 7644 §3.4.2, §3.4.3).
	{"query/filter-operators", needs(filter), checkFilterOperators},
	{"query/filter-logical", needs(filter), checkFilterLogical},
	{"query/filter-value-path", needs(filter), checkFilterValuePath},
	{"query/filter-attribute-name-case", needs(filter), checkFilterAttrCase},
	{"query/filter-value-case-exact", needs(filter), checkFilterValueCase},
	{"query/filter-invalid-400", needs(filter), checkFilterInvalid},
	{"query/sort", needs(filter, sort), checkSort},
	{"query/paging", needs(filter), checkPaging},
	{"query/attributes", nil, checkAttributes},
	{"query/excluded-attributes", nil, checkExcludedAttributes},
	{"query/search-post-users", needs(filter), checkSearchUsers},
	{"query/search-post-root", needs(filter), checkSearchRoot},

	// ETags (RFC 7644 §3.14).
	{"etag/version", needs(etag), checkETagVersion},
	{"etag/if-none-match-304", needs(etag), checkETagIfNoneMatch},
	{"etag/if-match-stale-412", needs(etag, patch), checkETagIfMatchStale},
	{"etag/if-match-current", needs(etag, patch), checkETagIfMatchCurrent},

	// Bulk (RFC 7644 §3.7).
	{"bulk/bulkid-cross-reference", needs(bulk), checkBulkCrossReference},
	{"bulk/fail-on-errors", needs(bulk), checkBulkFailOnErrors},
	{"bulk/max-operations-413", needs(bulk), checkBulkMaxOperations},

	// Robustness.
	{"robust/wrong-type-400", nil, checkWrongType},
	{"robust/patch-read-only-400", needs(patch), checkPatchReadOnly},
	{"robust/unknown-id-404", needs(patch), checkUnknownID},

	// Authentication (RFC 7644 §2, §3.12).
	{"auth/missing-token-401", nil, checkAuthMissing},
	{"auth/wrong-token-401", nil, checkAuthWrong},
}

// RunSCIM runs every check against cfg.BaseURL, writing one line per check to
// out ("PASS name", "FAIL name: reason" or "SKIP name: reason") and then a
// closing line "N passed, M failed", extended by ", K skipped" when checks
// were skipped. It returns the pass and fail counts. err is non-nil only when
// the suite could not run to the end: an invalid config, a server that cannot
// be reached at all, a cancelled ctx or a failed write to out.
func RunSCIM(ctx context.Context, cfg SCIMConfig, out io.Writer) (passed, failed int, err error) {
	e, err := newEnv(cfg)
	if err != nil {
		return 0, 0, err
	}
	if err := e.probe(ctx); err != nil {
		return 0, 0, err
	}
	e.caps = e.readCapabilities(ctx)
	passed, failed, _, err = runChecks(ctx, e, checks, out)
	return passed, failed, err
}

// env is what every check shares: the client, the server and its
// advertised capabilities.
type env struct {
	client *http.Client
	base   string // without trailing slash
	token  string
	run    string // random suffix that makes this run's names unique
	caps   capabilities
}

func newEnv(cfg SCIMConfig) (*env, error) {
	base := strings.TrimRight(cfg.BaseURL, "/")
	if !strings.HasPrefix(base, "http://") && !strings.HasPrefix(base, "https://") {
		return nil, fmt.Errorf("conformance: base URL %q: want http:// or https://", cfg.BaseURL)
	}
	client := cfg.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, fmt.Errorf("conformance: run suffix: %w", err)
	}
	return &env{client: client, base: base, token: cfg.Token, run: hex.EncodeToString(b[:])}, nil
}

// probe fails when the server cannot be reached at all, so that an unreachable
// URL is one clear error rather than a failure of every check.
func (e *env) probe(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.base+"/ServiceProviderConfig", nil)
	if err != nil {
		return fmt.Errorf("conformance: %w", err)
	}
	resp, err := e.client.Do(req)
	if err != nil {
		return fmt.Errorf("conformance: server unreachable: %w", err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	_ = resp.Body.Close()
	return nil
}

// capabilities is what /ServiceProviderConfig advertises.
type capabilities struct {
	err              error // why the document could not be read; nil when it was
	supported        map[feature]bool
	bulkMaxOps       int
	bulkMaxPayload   int
	filterMaxResults int
}

// readCapabilities reads /ServiceProviderConfig; the discovery check reports
// what is wrong with it, this only extracts what the skip logic needs.
func (e *env) readCapabilities(ctx context.Context) capabilities {
	t := &checkT{env: e}
	var caps capabilities
	func() {
		defer func() {
			if v := recover(); v != nil {
				if _, ok := v.(abort); !ok {
					caps.err = fmt.Errorf("panic: %v", v)
					return
				}
				caps.err = errors.New(strings.Join(t.failures, "; "))
			}
		}()
		r := t.do(ctx, http.MethodGet, "/ServiceProviderConfig", nil)
		t.wantStatus(r, http.StatusOK)
		o := t.object(r)
		caps.supported = map[feature]bool{}
		for _, f := range []feature{patch, bulk, filter, sort, etag} {
			b, _ := get(o, string(f), "supported").(bool)
			caps.supported[f] = b
		}
		caps.bulkMaxOps = intAt(o, "bulk", "maxOperations")
		caps.bulkMaxPayload = intAt(o, "bulk", "maxPayloadSize")
		caps.filterMaxResults = intAt(o, "filter", "maxResults")
	}()
	return caps
}

// skipReason says why a check needing feats does not run, or "" when it runs.
func (c capabilities) skipReason(feats []feature) string {
	for _, f := range feats {
		if c.err != nil {
			return fmt.Sprintf("needs %s, but /ServiceProviderConfig could not be read (%v)", f, c.err)
		}
		if !c.supported[f] {
			return fmt.Sprintf("/ServiceProviderConfig advertises %s.supported=false", f)
		}
	}
	return ""
}

// runChecks runs cs in order and writes the outcome lines and the closing
// line to out.
func runChecks(ctx context.Context, e *env, cs []check, out io.Writer) (passed, failed, skipped int, err error) {
	w := &lineWriter{w: out}
	for i, c := range cs {
		if err := ctx.Err(); err != nil {
			w.printf("%d passed, %d failed%s\n", passed, failed, skippedSuffix(skipped))
			return passed, failed, skipped, fmt.Errorf("conformance: stopped before %s: %w", c.name, err)
		}
		if reason := e.caps.skipReason(c.needs); reason != "" {
			skipped++
			w.printf("%s %s: %s\n", lineSkip, c.name, reason)
			continue
		}
		t := &checkT{env: e, prefix: fmt.Sprintf("cf%s-%03d-", e.run, i+1)}
		t.run(ctx, c.fn)
		switch {
		case t.skip != "":
			skipped++
			w.printf("%s %s: %s\n", lineSkip, c.name, oneLine(t.skip))
		case len(t.failures) > 0:
			failed++
			w.printf("%s %s: %s\n", lineFail, c.name, oneLine(strings.Join(t.failures, "; ")))
		default:
			passed++
			w.printf("%s %s\n", linePass, c.name)
		}
	}
	w.printf("%d passed, %d failed%s\n", passed, failed, skippedSuffix(skipped))
	if w.err != nil {
		return passed, failed, skipped, fmt.Errorf("conformance: writing results: %w", w.err)
	}
	return passed, failed, skipped, nil
}

func skippedSuffix(skipped int) string {
	if skipped == 0 {
		return ""
	}
	return fmt.Sprintf(", %d skipped", skipped)
}

// oneLine keeps an outcome on a single output line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// lineWriter remembers the first write error so the loop stays simple.
type lineWriter struct {
	w   io.Writer
	err error
}

func (l *lineWriter) printf(format string, args ...any) {
	if l.err != nil {
		return
	}
	_, l.err = fmt.Fprintf(l.w, format, args...)
}
