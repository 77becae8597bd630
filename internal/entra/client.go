// Package entra calls Microsoft Graph for a Microsoft Entra tenant: it
// looks users and groups up, adds and removes group members, enables,
// disables and deletes users and revokes their sessions, and checks which
// of the permissions the configured features need the app was granted.
//
// It authenticates with azidentity (client secret, client certificate,
// managed identity, workload identity federation or the Azure CLI) and
// sends its requests through the Microsoft Graph Go SDK's request adapter
// (msgraph-sdk-go-core over kiota) with kiota URL templates, which escape
// every id and userPrincipalName, and reads Graph's error bodies with the
// SDK's odataerrors model; it does not use msgraph-sdk-go's generated
// models and request builders (package models alone takes six minutes
// and 4.5 GB to compile). Graph throttling (429, 503, 504) is retried
// after Retry-After within a budget, on an injectable clock.
package entra

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	abs "github.com/microsoft/kiota-abstractions-go"
	kauth "github.com/microsoft/kiota-authentication-azure-go"
	khttp "github.com/microsoft/kiota-http-go"
	jsonserialization "github.com/microsoft/kiota-serialization-json-go"
	msgraphcore "github.com/microsoftgraph/msgraph-sdk-go-core"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"
)

// maxResponseBytes bounds a response body.
const maxResponseBytes = 16 << 20

// maxPages bounds the pages one listing follows.
const maxPages = 10000

// Options are the parts of a Client that are not configuration.
type Options struct {
	// Transport carries the requests to the identity platform and to
	// Graph (default: a clone of http.DefaultTransport). Tests pass one
	// that trusts their CA.
	Transport http.RoundTripper
	// Now and After are the clock of Retry-After waits (default
	// time.Now and time.After).
	Now   func() time.Time
	After func(time.Duration) <-chan time.Time
}

// Client calls Graph for one tenant. It is safe for concurrent use.
type Client struct {
	cfg       Config
	cred      azcore.TokenCredential
	adapter   *msgraphcore.GraphRequestAdapterBase
	transport http.RoundTripper
	retry     *retryHandler
	base      *url.URL // cfg.GraphURL
	scope     string   // the token scope: Graph's origin + /.default
}

// New validates cfg, reads its secrets and returns a client. It makes no
// request: Check verifies the credentials.
func New(cfg Config, opts Options) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	transport := opts.Transport
	if transport == nil {
		transport = http.DefaultTransport.(*http.Transport).Clone()
	}
	clk := clock{now: opts.Now, after: opts.After}
	if clk.now == nil {
		clk.now = time.Now
	}
	if clk.after == nil {
		clk.after = time.After
	}
	cred, err := credential(cfg, &http.Client{Transport: transport})
	if err != nil {
		return nil, err
	}
	cred = markedCredential{cred}
	base, err := url.Parse(cfg.GraphURL)
	if err != nil {
		return nil, fieldErr("graph_url", "%v", err)
	}
	scope := base.Scheme + "://" + base.Host + "/.default"
	// The token goes to Graph's host only.
	auth, err := kauth.NewAzureIdentityAuthenticationProviderWithScopesAndValidHosts(cred, []string{scope}, []string{base.Hostname()})
	if err != nil {
		return nil, err
	}
	// kiota's default middleware, in a fixed order, less its retry
	// handler (replaced by retryHandler), its redirect handler (Graph's
	// calls here do not redirect, and a token must not follow one) and
	// its compression of request bodies.
	retry := &retryHandler{clock: clk, budget: cfg.RetryBudget}
	middleware := []khttp.Middleware{
		msgraphcore.NewGraphTelemetryHandler(&msgraphcore.GraphClientOptions{GraphServiceVersion: "v1.0"}),
		khttp.NewParametersNameDecodingHandler(),
		khttp.NewUserAgentHandler(),
		retry,
	}
	hc := &http.Client{
		Transport:     khttp.NewCustomTransportWithParentTransport(transport, middleware...),
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	adapter, err := msgraphcore.NewGraphRequestAdapterBaseWithParseNodeFactoryAndSerializationWriterFactoryAndHttpClient(
		auth, msgraphcore.GraphClientOptions{GraphServiceVersion: "v1.0"}, nil, nil, hc)
	if err != nil {
		return nil, err
	}
	adapter.SetBaseUrl(cfg.GraphURL)
	return &Client{cfg: cfg, cred: cred, adapter: adapter, transport: transport, retry: retry, base: base, scope: scope}, nil
}

// Close releases the client's idle connections.
func (c *Client) Close() error {
	if t, ok := c.transport.(interface{ CloseIdleConnections() }); ok {
		t.CloseIdleConnections()
	}
	return nil
}

// markedCredential marks the errors of a credential, so that they are
// told from Graph's.
type markedCredential struct{ azcore.TokenCredential }

type credentialError struct{ err error }

func (e *credentialError) Error() string { return e.err.Error() }
func (e *credentialError) Unwrap() error { return e.err }

func (m markedCredential) GetToken(ctx context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	t, err := m.TokenCredential.GetToken(ctx, opts)
	if err != nil {
		return t, &credentialError{err}
	}
	return t, nil
}

// request is one Graph request.
type request struct {
	op         string // the action, for errors
	method     abs.HttpMethod
	template   string            // kiota URL template: "{+baseurl}/users/{user%2Did}{?%24select}"
	path       map[string]string // its path parameters (escaped by the template)
	query      map[string]string // its query parameters
	header     map[string]string
	body       any    // sent as JSON when not nil
	next       string // an @odata.nextLink, in place of template
	permission string // the permission the call needs, named in ErrForbidden
}

// response is Graph's answer.
type response struct {
	status int
	header http.Header
	body   []byte
}

// send sends r through the SDK's request adapter. A response with a
// status of 400 or more is an *Error.
func (c *Client) send(ctx context.Context, r request) (response, error) {
	ri := abs.NewRequestInformation()
	ri.Method = r.method
	if r.next != "" {
		// A next link is Graph's own URL: it must stay on Graph's
		// origin (the token goes with it).
		u, err := url.Parse(r.next)
		if err != nil || u.Scheme != c.base.Scheme || u.Host != c.base.Host {
			return response{}, &Error{Op: r.op, Kind: ErrInvalid, Err: fmt.Errorf("@odata.nextLink %q is not on %s", r.next, c.base.Host)}
		}
		ri.SetUri(*u)
	} else {
		ri.UrlTemplate = r.template
		ri.PathParameters["baseurl"] = c.cfg.GraphURL
		for k, v := range r.path {
			ri.PathParameters[k] = v
		}
		for k, v := range r.query {
			ri.QueryParameters[k] = v
		}
	}
	ri.Headers.TryAdd("Accept", "application/json")
	for k, v := range r.header {
		ri.Headers.Add(k, v)
	}
	if r.body != nil {
		b, err := json.Marshal(r.body)
		if err != nil {
			return response{}, &Error{Op: r.op, Kind: ErrInvalid, Err: err}
		}
		ri.SetStreamContentAndContentType(b, "application/json")
	}
	var resp response
	handler := abs.NewRequestHandlerOption()
	handler.SetResponseHandler(func(raw any, _ abs.ErrorMappings) (any, error) {
		hr, ok := raw.(*http.Response)
		if !ok || hr == nil {
			return nil, errors.New("no response")
		}
		defer hr.Body.Close()
		resp.status, resp.header = hr.StatusCode, hr.Header
		b, err := io.ReadAll(io.LimitReader(hr.Body, maxResponseBytes))
		resp.body = b
		return nil, err
	})
	ri.AddRequestOptions([]abs.RequestOption{handler})
	if err := c.adapter.SendNoContent(ctx, ri, nil); err != nil {
		return response{}, c.failure(r, err)
	}
	if resp.status >= 400 {
		return resp, graphError(r, resp)
	}
	return resp, nil
}

// failure classifies an error of a request that got no response.
func (c *Client) failure(r request, err error) error {
	var ce *credentialError
	var ne net.Error
	kind := ErrTransient
	switch {
	case errors.Is(err, context.Canceled):
		kind = ErrTransient
	case errors.As(err, &ce) && !errors.As(err, &ne) && !errors.Is(err, context.DeadlineExceeded):
		kind = ErrAuthentication
	}
	return &Error{Op: r.op, Kind: kind, Err: err}
}

// graphError turns an error response into an *Error.
func graphError(r request, resp response) *Error {
	e := &Error{Op: r.op, Kind: kindOf(resp.status), Status: resp.status, RequestID: resp.header.Get("request-id")}
	// Graph's error body, read with the SDK's own model of it.
	if node, err := jsonserialization.NewJsonParseNode(resp.body); err == nil {
		if v, err := node.GetObjectValue(odataerrors.CreateODataErrorFromDiscriminatorValue); err == nil {
			if oe, ok := v.(odataerrors.ODataErrorable); ok && oe.GetErrorEscaped() != nil {
				me := oe.GetErrorEscaped()
				e.Code, e.Message = deref(me.GetCode()), deref(me.GetMessage())
				if in := me.GetInnerError(); in != nil && deref(in.GetRequestId()) != "" {
					e.RequestID = deref(in.GetRequestId())
				}
			}
		}
	}
	if e.Kind == ErrForbidden {
		e.Permission = r.permission
	}
	if d := retryAfter(resp.header.Get("Retry-After"), time.Now()); d > 0 {
		e.RetryAfter = d
	}
	return e
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// page is a page of a Graph collection.
type page struct {
	Value []json.RawMessage `json:"value"`
	Next  string            `json:"@odata.nextLink"`
}

// list follows a collection's pages and calls each with every page's
// items.
func (c *Client) list(ctx context.Context, r request, each func(json.RawMessage) error) error {
	for range maxPages {
		resp, err := c.send(ctx, r)
		if err != nil {
			return err
		}
		var p page
		if err := json.Unmarshal(resp.body, &p); err != nil {
			return &Error{Op: r.op, Kind: ErrTransient, Status: resp.status, Err: fmt.Errorf("decoding a page: %w", err)}
		}
		for _, item := range p.Value {
			if err := each(item); err != nil {
				return err
			}
		}
		if p.Next == "" {
			return nil
		}
		r.next = p.Next
	}
	return &Error{Op: r.op, Kind: ErrInvalid, Err: fmt.Errorf("more than %d pages", maxPages)}
}

// withTimeout bounds an action by the configured timeout.
func (c *Client) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, c.cfg.Timeout)
}
