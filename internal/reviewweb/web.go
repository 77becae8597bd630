// Package reviewweb serves the access reviews' web pages under /reviews/:
// the reviewer's page, where a reviewer decides their own items, and an
// admin page per review (progress, decisions, stop, apply, export).
// Plain server-rendered HTML (html/template, every value escaped), no
// JavaScript.
//
// # Sign-in, sessions and CSRF
//
// A reviewer signs in with a one-time link (Link; the review service's
// notices carry one): a token of the reviewer, a random id and an expiry,
// signed with HMAC-SHA256 under the gateway's key. GET /reviews/signin
// shows a button (mail scanners that fetch links do not spend them);
// posting it verifies the signature and the expiry and records the id as
// used in the store, in one statement, so a link signs in once. An admin
// signs in by posting an admin token, checked like the admin API's.
//
// Either gets a session cookie (HttpOnly, SameSite=Lax, Secure under TLS,
// path /reviews/, expiring): the same kind of signed token, with the
// reviewer or the admin credential's name and a random CSRF token. Every
// form carries that token, compared in constant time with the session's;
// a post without it changes nothing.
package reviewweb

import (
	"context"
	"crypto/subtle"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/scimgate/scimgate/internal/review"
	"github.com/scimgate/scimgate/internal/store"
	"github.com/scimgate/scimgate/scim"
)

// Path is where the pages are served.
const Path = "/reviews/"

// cookieName is the session cookie's name.
const cookieName = "scimgate_review"

// Defaults of Options.
const (
	DefaultLinkTTL    = 7 * 24 * time.Hour
	DefaultSessionTTL = 8 * time.Hour
)

//go:embed templates/*.html templates/style.css
var files embed.FS

var pages = template.Must(template.New("").Funcs(template.FuncMap{
	"when": func(t time.Time) string {
		if t.IsZero() {
			return "never"
		}
		return t.UTC().Format("2006-01-02 15:04 UTC")
	},
	"decision": decisionText,
}).ParseFS(files, "templates/*.html"))

// Options configure a Handler.
type Options struct {
	// Reviews is the review service; Store the store its one-time links'
	// ids are recorded in.
	Reviews *review.Service
	Store   store.Store
	// Key signs the links and the sessions (32 random bytes or more).
	Key []byte
	// Admin checks an admin token posted on the sign-in page (as a
	// request's bearer token would be: limited per address) and returns
	// the credential's name.
	Admin func(r *http.Request, token string) (string, error)
	// BaseURL is the gateway's public URL (scheme and host) the links
	// start with.
	BaseURL func() string
	// Secure marks the session cookie Secure also when the request came
	// without TLS (TLS ends at a proxy in front).
	Secure bool
	// LinkTTL is how long a link is valid, SessionTTL a session.
	LinkTTL, SessionTTL time.Duration
	Logger              *slog.Logger
}

// Handler serves the pages under Path.
type Handler struct {
	opts Options
	mux  *http.ServeMux
}

// New returns the Handler of opts.
func New(opts Options) (*Handler, error) {
	if opts.Reviews == nil || opts.Store == nil || opts.Admin == nil || opts.BaseURL == nil {
		return nil, errors.New("reviewweb: the review service, the store, the admin check and the base URL are required")
	}
	if len(opts.Key) < 32 {
		return nil, errors.New("reviewweb: the signing key must have 32 bytes or more")
	}
	if opts.LinkTTL <= 0 {
		opts.LinkTTL = DefaultLinkTTL
	}
	if opts.SessionTTL <= 0 {
		opts.SessionTTL = DefaultSessionTTL
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	h := &Handler{opts: opts, mux: http.NewServeMux()}
	h.mux.HandleFunc("GET "+Path+"style.css", h.style)
	h.mux.HandleFunc("GET "+Path+"{$}", h.home)
	h.mux.HandleFunc("GET "+Path+"signin", h.signinPage)
	h.mux.HandleFunc("POST "+Path+"signin", h.signin)
	h.mux.HandleFunc("POST "+Path+"admin/signin", h.adminSignin)
	h.mux.HandleFunc("POST "+Path+"signout", h.session(false, h.signout))
	h.mux.HandleFunc("POST "+Path+"decide", h.session(false, h.decide))
	h.mux.HandleFunc("GET "+Path+"admin/review/{name}", h.session(true, h.adminReview))
	h.mux.HandleFunc("POST "+Path+"admin/instances/{id}/{action}", h.session(true, h.adminAction))
	h.mux.HandleFunc("GET "+Path+"admin/instances/{id}/export/{format}", h.session(true, h.export))
	return h, nil
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer") // the links' tokens never leave in a Referer
	hd.Set("Cache-Control", "no-store")
	h.mux.ServeHTTP(w, r)
}

// Link returns a one-time sign-in link of reviewer (the review service's
// Options.URL).
func (h *Handler) Link(reviewer string) string {
	tok := sign(h.opts.Key, purposeLink, claims{ID: random(), Reviewer: reviewer,
		Exp: h.opts.Reviews.Now().Add(h.opts.LinkTTL).Unix()})
	return strings.TrimRight(h.opts.BaseURL(), "/") + Path + "signin?t=" + url.QueryEscape(tok)
}

func (h *Handler) style(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	w.Header().Set("Cache-Control", "max-age=3600")
	http.ServeFileFS(w, r, files, "templates/style.css")
}

// page is what every template gets.
type page struct {
	Title  string
	CSRF   string
	Who    string // the signed-in reviewer's name, or the admin's
	Admin  bool
	Error  string
	Notice string
	Token  string // the sign-in page's link token
	// Names are the display names of the reviewers shown, by key.
	Names   map[string]string
	Content any
}

// render writes the template name with p, with status.
func (h *Handler) render(w http.ResponseWriter, status int, name string, p page) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := pages.ExecuteTemplate(w, name, p); err != nil {
		h.opts.Logger.Error("reviews page: rendering", "page", name, "err", err)
	}
}

// fail shows the sign-in page with msg.
func (h *Handler) fail(w http.ResponseWriter, status int, msg string) {
	h.render(w, status, "signin.html", page{Title: "Sign in", Error: msg})
}

// current returns the request's session, if any valid.
func (h *Handler) current(r *http.Request) (claims, bool) {
	c, err := r.Cookie(cookieName)
	if err != nil {
		return claims{}, false
	}
	s, err := verify(h.opts.Key, purposeSession, c.Value, h.opts.Reviews.Now())
	return s, err == nil && s.CSRF != "" && (s.Reviewer != "") != (s.Admin != "")
}

// session wraps next: a session is required (an admin's when admin), and
// on a POST its CSRF token.
func (h *Handler) session(admin bool, next func(http.ResponseWriter, *http.Request, claims)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s, ok := h.current(r)
		if !ok {
			h.fail(w, http.StatusUnauthorized, "Please sign in: use the link of your latest review notice, or an admin token.")
			return
		}
		if admin && s.Admin == "" {
			h.fail(w, http.StatusForbidden, "This page is for administrators.")
			return
		}
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
			if err := r.ParseForm(); err != nil {
				http.Error(w, "bad form", http.StatusBadRequest)
				return
			}
			if subtle.ConstantTimeCompare([]byte(r.PostForm.Get("csrf")), []byte(s.CSRF)) != 1 {
				h.render(w, http.StatusForbidden, "signin.html", page{Title: "Refused", CSRF: s.CSRF, Who: s.Reviewer + s.Admin,
					Admin: s.Admin != "", Error: "The form was refused (its security token is missing or stale): nothing was changed. Go back to the reviews page and try again."})
				return
			}
		}
		next(w, r, s)
	}
}

// startSession sets the session cookie of c.
func (h *Handler) startSession(w http.ResponseWriter, r *http.Request, c claims) {
	exp := h.opts.Reviews.Now().Add(h.opts.SessionTTL)
	c.CSRF, c.Exp, c.ID = random(), exp.Unix(), ""
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: sign(h.opts.Key, purposeSession, c), Path: Path,
		Expires: exp, MaxAge: int(h.opts.SessionTTL.Seconds()), HttpOnly: true, Secure: h.opts.Secure || r.TLS != nil,
		SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, Path, http.StatusSeeOther)
}

func (h *Handler) signinPage(w http.ResponseWriter, r *http.Request) {
	t := r.URL.Query().Get("t")
	if _, err := verify(h.opts.Key, purposeLink, t, h.opts.Reviews.Now()); err != nil {
		h.fail(w, http.StatusUnauthorized, linkError(err))
		return
	}
	h.render(w, http.StatusOK, "signin.html", page{Title: "Sign in", Token: t})
}

// linkError is what the page says of a refused link.
func linkError(err error) string {
	switch {
	case errors.Is(err, ErrExpired):
		return "This sign-in link has expired. A newer notice carries a new one."
	case errors.Is(err, ErrUsed):
		return "This sign-in link was used already: each link signs in once. A newer notice carries a new one."
	default:
		return "This sign-in link is not valid."
	}
}

// signin exchanges a link's token for a session.
func (h *Handler) signin(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	now := h.opts.Reviews.Now()
	c, err := verify(h.opts.Key, purposeLink, r.PostFormValue("t"), now)
	if err == nil && (c.ID == "" || c.Reviewer == "") {
		err = ErrBadToken
	}
	if err == nil {
		fresh := false
		err = h.opts.Store.Write(r.Context(), func(ctx context.Context, tx store.Tx) error {
			var err error
			fresh, err = tx.UseReviewLink(ctx, c.ID, time.Unix(c.Exp, 0), now)
			return err
		})
		if err == nil && !fresh {
			err = ErrUsed
		}
		if err != nil && !errors.Is(err, ErrUsed) {
			h.opts.Logger.Error("reviews page: recording a sign-in link", "err", err)
			h.fail(w, http.StatusInternalServerError, "Signing in failed; please try again later.")
			return
		}
	}
	if err != nil {
		h.opts.Logger.Info("reviews page: sign-in link refused", "reason", err, "remote", r.RemoteAddr)
		h.fail(w, http.StatusUnauthorized, linkError(err))
		return
	}
	h.opts.Logger.Info("reviews page: reviewer signed in", "reviewer", c.Reviewer)
	h.startSession(w, r, claims{Reviewer: c.Reviewer})
}

// adminSignin exchanges an admin token for an admin's session.
func (h *Handler) adminSignin(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	name, err := h.opts.Admin(r, strings.TrimSpace(r.PostFormValue("token")))
	if err != nil {
		h.fail(w, http.StatusUnauthorized, "The admin token was refused.")
		return
	}
	h.startSession(w, r, claims{Admin: name})
}

func (h *Handler) signout(w http.ResponseWriter, r *http.Request, _ claims) {
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: Path, MaxAge: -1, HttpOnly: true,
		Secure: h.opts.Secure || r.TLS != nil, SameSite: http.SameSiteLaxMode})
	h.render(w, http.StatusOK, "signin.html", page{Title: "Signed out", Notice: "You are signed out."})
}

// home is the reviewer's page, an admin's list of reviews, or the
// sign-in page.
func (h *Handler) home(w http.ResponseWriter, r *http.Request) {
	s, ok := h.current(r)
	switch {
	case !ok:
		h.render(w, http.StatusOK, "signin.html", page{Title: "Sign in"})
	case s.Admin != "":
		h.render(w, http.StatusOK, "admin.html", page{Title: "Access reviews", CSRF: s.CSRF, Who: s.Admin, Admin: true,
			Content: h.opts.Reviews.Definitions()})
	default:
		h.reviewerPage(w, r, s, http.StatusOK, "")
	}
}

// group is an instance's items on the reviewer's page.
type group struct {
	Instance      int64
	Review        string
	Description   string
	End           time.Time // of the stage in progress
	Stage, Stages int
	Justification bool // required
	Pending       []row
	Decided       []row
}

// row is an item on the reviewer's page.
type row struct {
	review.Item
	Selected bool
	// Final: decided in a stage that has ended (no longer to change).
	Final bool
	// Stage1By is who decided the item in the first stage, by name.
	Stage1By string
}

// reviewerPage renders the reviewer's pending and decided items, with
// errMsg (and status) after a refused form.
func (h *Handler) reviewerPage(w http.ResponseWriter, r *http.Request, s claims, status int, errMsg string) {
	ctx := r.Context()
	items, err := h.opts.Reviews.ReviewerItems(ctx, s.Reviewer)
	if err != nil {
		h.opts.Logger.Error("reviews page: reading items", "reviewer", s.Reviewer, "err", err)
		http.Error(w, "the reviews cannot be read now", http.StatusInternalServerError)
		return
	}
	sel := r.URL.Query().Get("select") // select all recommended: approve or deny
	var groups []*group
	byID := map[int64]*group{}
	for _, it := range items {
		g := byID[it.Instance]
		if g == nil {
			in, err := h.opts.Reviews.Instance(ctx, it.Instance)
			if err != nil {
				h.opts.Logger.Error("reviews page: reading an instance", "instance", it.Instance, "err", err)
				http.Error(w, "the reviews cannot be read now", http.StatusInternalServerError)
				return
			}
			g = &group{Instance: in.ID, Review: in.Definition, Description: in.Config.DescriptionForReviewers, End: in.StageEnd(),
				Stage: max(in.Stage, 1), Stages: in.Stages(), Justification: in.Config.Settings.JustificationRequired}
			byID[it.Instance] = g
			groups = append(groups, g)
		}
		rw := row{Item: it, Final: max(it.Stage, 1) != g.Stage}
		if it.Stage1ReviewedBy != "" {
			rw.Stage1By = h.name(ctx, it.Stage1ReviewedBy)
		}
		switch {
		case it.Decision == review.NotReviewed && !rw.Final:
			rw.Selected = sel != "" && strings.EqualFold(sel, it.Recommendation)
			g.Pending = append(g.Pending, rw)
		default:
			g.Decided = append(g.Decided, rw)
		}
	}
	notice := ""
	if n, err := strconv.Atoi(r.URL.Query().Get("saved")); err == nil && errMsg == "" {
		notice = fmt.Sprintf("Recorded %d decision(s).", n)
	}
	if n, err := strconv.Atoi(r.URL.Query().Get("reassigned")); err == nil && errMsg == "" {
		notice = fmt.Sprintf("Reassigned %d item(s).", n)
	}
	h.render(w, status, "reviewer.html", page{Title: "Your access reviews", CSRF: s.CSRF, Who: h.name(ctx, s.Reviewer),
		Error: errMsg, Notice: notice, Content: groups})
}

// name is a reviewer's display name (else their key).
func (h *Handler) name(ctx context.Context, key string) string {
	res, err := h.opts.Store.Get(ctx, "User", key)
	if err != nil {
		return key
	}
	u, err := scim.DecodeResource(res)
	if err != nil {
		return key
	}
	for _, a := range []string{"displayName", "userName"} {
		if s, _ := u[a].(string); s != "" {
			return s
		}
	}
	return key
}

// decide records a reviewer's decisions: "one" (item:decision) decides
// one item with its own justification (j<item>); "bulk" decides the
// checked items (item) with decision and justification; "accept" takes
// the recommendations of every pending item of the instance; "reassign"
// gives the checked items to another reviewer (to).
func (h *Handler) decide(w http.ResponseWriter, r *http.Request, s claims) {
	f := r.PostForm
	inst, err := strconv.ParseInt(f.Get("instance"), 10, 64)
	if err != nil {
		h.reviewerPage(w, r, s, http.StatusBadRequest, "The form names no review.")
		return
	}
	var ds []review.Decision
	n := 0
	switch {
	case f.Get("one") != "":
		idx, dec, _ := strings.Cut(f.Get("one"), ":")
		i, err := strconv.Atoi(idx)
		if err != nil {
			h.reviewerPage(w, r, s, http.StatusBadRequest, "The form names no item.")
			return
		}
		ds = []review.Decision{{Item: i, Decision: dec, Justification: f.Get("j" + idx)}}
	case f.Get("action") == "accept":
		n, err = h.opts.Reviews.AcceptRecommendations(r.Context(), s.Reviewer, inst, f.Get("justification"))
	default:
		if len(f["item"]) == 0 {
			h.reviewerPage(w, r, s, http.StatusBadRequest, "Select the items first: nothing was changed.")
			return
		}
		var idxs []int
		for _, v := range f["item"] {
			i, err := strconv.Atoi(v)
			if err != nil {
				h.reviewerPage(w, r, s, http.StatusBadRequest, "The form names no item.")
				return
			}
			idxs = append(idxs, i)
		}
		if f.Get("action") == "reassign" {
			to := strings.TrimSpace(f.Get("to"))
			if to == "" {
				h.reviewerPage(w, r, s, http.StatusBadRequest, "Name the reviewer to reassign the selected items to: nothing was changed.")
				return
			}
			if err := h.opts.Reviews.Reassign(r.Context(), s.Reviewer, inst, idxs, to); err != nil {
				status, msg := decideError(err)
				if errors.Is(err, review.ErrUnknownReviewer) {
					status, msg = http.StatusBadRequest, fmt.Sprintf("No user nor email address is %q. Nothing was changed.", to)
				}
				h.reviewerPage(w, r, s, status, msg)
				return
			}
			http.Redirect(w, r, Path+"?reassigned="+strconv.Itoa(len(idxs)), http.StatusSeeOther)
			return
		}
		if f.Get("decision") == "" {
			h.reviewerPage(w, r, s, http.StatusBadRequest, "Choose approve, deny or don't know for the selected items: nothing was changed.")
			return
		}
		for _, i := range idxs {
			ds = append(ds, review.Decision{Item: i, Decision: f.Get("decision"), Justification: f.Get("justification")})
		}
	}
	if ds != nil {
		err, n = h.opts.Reviews.Decide(r.Context(), s.Reviewer, inst, ds), len(ds)
	}
	if err != nil {
		status, msg := decideError(err)
		if status == http.StatusInternalServerError {
			h.opts.Logger.Error("reviews page: recording decisions", "reviewer", s.Reviewer, "instance", inst, "err", err)
		}
		h.reviewerPage(w, r, s, status, msg)
		return
	}
	http.Redirect(w, r, Path+"?saved="+strconv.Itoa(n), http.StatusSeeOther)
}

// decideError is the status and the message of a refused decision.
func decideError(err error) (int, string) {
	const nothing = " Nothing was changed."
	switch {
	case errors.Is(err, review.ErrBadDecision):
		msg := "That decision is not valid."
		if strings.Contains(err.Error(), "justification") {
			msg = "This review requires a justification to approve or deny."
		}
		return http.StatusBadRequest, msg + nothing
	case errors.Is(err, review.ErrNotReviewer):
		return http.StatusForbidden, "That item is not yours to review." + nothing
	case errors.Is(err, review.ErrNotFound):
		return http.StatusNotFound, "No such review item." + nothing
	case errors.Is(err, review.ErrNotInProgress):
		return http.StatusConflict, "This review has ended: its decisions are final." + nothing
	default:
		return http.StatusInternalServerError, "Your decisions could not be recorded; please try again." + nothing
	}
}

// decisionText is a decision in words.
func decisionText(d string) string {
	switch d {
	case review.Approve:
		return "Approved"
	case review.Deny:
		return "Denied"
	case review.DontKnow:
		return "Don't know"
	case review.NotReviewed, "":
		return "Not reviewed"
	}
	return d
}
