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
// Both sign-in forms are protected from login CSRF before any session
// exists: showing one sets a short-lived cookie (HttpOnly,
// SameSite=Strict), a token signed under the key with a random value, and
// the form carries that value; a post whose value is missing or differs
// (compared in constant time) is refused with 403 and spends nothing.
//
// Signing in starts a session kept in the store: a random id in the
// session cookie (HttpOnly, SameSite=Lax, Secure under TLS, path
// /reviews/), the id's SHA-256 in the store with the reviewer (or the
// admin credential's name), its creation, last request, expiry and
// revocation. Each request reads it by that hash; it ends after
// SessionTTL (8 h) or IdleTimeout (30 min) without a request, on the
// review service's clock, or when revoked: "Sign out" revokes it, and an
// administrator revokes all of a reviewer's (RevokeSessions). Signing in
// again always starts a new id (and revokes the one the browser had), so
// an id set in a browser beforehand never becomes a session. Every form
// after sign-in carries the session's CSRF token (an HMAC of its id under
// the key), compared in constant time; a post without it changes nothing.
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

// The cookies: the session's, and the sign-in forms' (login CSRF).
const (
	cookieName   = "scimgate_review"
	signinCookie = "scimgate_review_signin"
)

// Defaults of Options.
const (
	DefaultLinkTTL     = 7 * 24 * time.Hour
	DefaultSessionTTL  = 8 * time.Hour
	DefaultIdleTimeout = 30 * time.Minute
)

// signinTTL is how long a sign-in form's cookie is valid; touchEvery how
// often a session's last request is written (the idle timeout is exact
// to that).
const (
	signinTTL  = time.Hour
	touchEvery = time.Minute
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

// Store is the part of the store the reviewer pages use.
type Store interface {
	store.Resources
	store.Writer
	store.Reviews
}

// Options configure a Handler.
type Options struct {
	// Reviews is the review service; Store the store its one-time links'
	// ids are recorded in.
	Reviews *review.Service
	Store   Store
	// Key signs the links and the sign-in forms' cookies and derives the
	// sessions' CSRF tokens (32 random bytes or more).
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
	// LinkTTL is how long a link is valid, SessionTTL a session at
	// most, IdleTimeout a session without a request.
	LinkTTL, SessionTTL, IdleTimeout time.Duration
	Logger                           *slog.Logger
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
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = DefaultIdleTimeout
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
	h.mux.HandleFunc("POST "+Path+"signout", h.signedIn(false, h.signout))
	h.mux.HandleFunc("POST "+Path+"decide", h.signedIn(false, h.decide))
	h.mux.HandleFunc("GET "+Path+"admin/review/{name}", h.signedIn(true, h.adminReview))
	h.mux.HandleFunc("POST "+Path+"admin/instances/{id}/{action}", h.signedIn(true, h.adminAction))
	h.mux.HandleFunc("GET "+Path+"admin/instances/{id}/export/{format}", h.signedIn(true, h.export))
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
	tok := sign(h.opts.Key, purposeLink, claims{ID: random(16), Reviewer: reviewer,
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

// session is a signed-in request's session.
type session struct {
	hash     string // of its id
	Reviewer string // the reviewer's key, or ""
	Admin    string // the admin credential's name, or ""
	CSRF     string // its forms' token
}

// signinForm renders the sign-in page p (the link's button when p.Token,
// else the admin token's form) with status, its forms carrying the token
// of the sign-in cookie: the browser's while it stays valid for half its
// life more, else a new one.
func (h *Handler) signinForm(w http.ResponseWriter, r *http.Request, status int, p page) {
	now := h.opts.Reviews.Now()
	c, err := h.signinToken(r, now.Add(signinTTL/2))
	if err != nil {
		exp := now.Add(signinTTL)
		c = claims{ID: random(16), Exp: exp.Unix()}
		http.SetCookie(w, &http.Cookie{Name: signinCookie, Value: sign(h.opts.Key, purposeSignin, c), Path: Path,
			Expires: exp, MaxAge: int(signinTTL.Seconds()), HttpOnly: true, Secure: h.opts.Secure || r.TLS != nil,
			SameSite: http.SameSiteStrictMode})
	}
	p.CSRF = c.ID
	h.render(w, status, "signin.html", p)
}

// signinToken returns the claims of the request's sign-in cookie valid at
// now.
func (h *Handler) signinToken(r *http.Request, now time.Time) (claims, error) {
	ck, err := r.Cookie(signinCookie)
	if err != nil {
		return claims{}, ErrBadToken
	}
	c, err := verify(h.opts.Key, purposeSignin, ck.Value, now)
	if err == nil && c.ID == "" {
		err = ErrBadToken
	}
	return c, err
}

// signinCSRF reports whether the posted sign-in form carries its
// cookie's token; if not, it answers 403 with the sign-in page again
// (with the link's button when link is still valid).
func (h *Handler) signinCSRF(w http.ResponseWriter, r *http.Request, link string) bool {
	now := h.opts.Reviews.Now()
	c, err := h.signinToken(r, now)
	if err == nil && subtle.ConstantTimeCompare([]byte(r.PostFormValue("csrf")), []byte(c.ID)) == 1 {
		return true
	}
	h.opts.Logger.Info("reviews page: sign-in form refused: missing or stale form token", "remote", r.RemoteAddr)
	p := page{Title: "Sign in", Error: "The sign-in form was refused (its security token is missing or stale, or this browser " +
		"blocks cookies): nothing was used. Please sign in again from this page."}
	if _, err := verify(h.opts.Key, purposeLink, link, now); link != "" && err == nil {
		p.Token = link
	}
	h.signinForm(w, r, http.StatusForbidden, p)
	return false
}

// fail shows the sign-in page with msg.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, status int, msg string) {
	h.signinForm(w, r, status, page{Title: "Sign in", Error: msg})
}

// current returns the request's session, if valid: not revoked, before
// its expiry and its idle timeout. It records the request as the
// session's last at most every touchEvery.
func (h *Handler) current(r *http.Request) (session, bool) {
	c, err := r.Cookie(cookieName)
	if err != nil || c.Value == "" || len(c.Value) > 128 {
		return session{}, false
	}
	ctx := r.Context()
	hash := hashID(c.Value)
	rs, err := h.opts.Store.ReviewSession(ctx, hash)
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			h.opts.Logger.Error("reviews page: reading a session", "err", err)
		}
		return session{}, false
	}
	now := h.opts.Reviews.Now()
	if !rs.Revoked.IsZero() || !now.Before(rs.Expires) || !now.Before(rs.LastSeen.Add(h.opts.IdleTimeout)) {
		return session{}, false
	}
	if now.Sub(rs.LastSeen) >= touchEvery {
		if err := h.opts.Store.Write(ctx, func(ctx context.Context, tx store.Tx) error {
			return tx.TouchReviewSession(ctx, hash, now)
		}); err != nil {
			h.opts.Logger.Error("reviews page: recording a session's request", "err", err)
		}
	}
	return session{hash: hash, Reviewer: rs.Reviewer, Admin: rs.Admin, CSRF: csrfOf(h.opts.Key, c.Value)}, true
}

// signedIn wraps next: a session is required (an admin's when admin),
// and on a POST its CSRF token.
func (h *Handler) signedIn(admin bool, next func(http.ResponseWriter, *http.Request, session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s, ok := h.current(r)
		if !ok {
			h.fail(w, r, http.StatusUnauthorized, "Please sign in: use the link of your latest review notice, or an admin token.")
			return
		}
		if admin && s.Admin == "" {
			h.fail(w, r, http.StatusForbidden, "This page is for administrators.")
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

// startSession starts the session of rs (a reviewer's or an admin's) in
// tx: a new random id, whose hash is stored; the session the request
// carried, if any, is revoked. It returns the id.
func (h *Handler) startSession(ctx context.Context, tx store.Tx, r *http.Request, rs store.ReviewSession) (string, error) {
	if c, err := r.Cookie(cookieName); err == nil && c.Value != "" && len(c.Value) <= 128 {
		if err := tx.RevokeReviewSession(ctx, hashID(c.Value), rs.Created); err != nil {
			return "", err
		}
	}
	id := random(32)
	rs.Hash, rs.LastSeen, rs.Expires = hashID(id), rs.Created, rs.Created.Add(h.opts.SessionTTL)
	return id, tx.CreateReviewSession(ctx, rs)
}

// setSession sets the session cookie of id, clears the sign-in cookie and
// redirects to the home page.
func (h *Handler) setSession(w http.ResponseWriter, r *http.Request, id string) {
	secure := h.opts.Secure || r.TLS != nil
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: id, Path: Path,
		Expires: h.opts.Reviews.Now().Add(h.opts.SessionTTL), MaxAge: int(h.opts.SessionTTL.Seconds()), HttpOnly: true,
		Secure: secure, SameSite: http.SameSiteLaxMode})
	http.SetCookie(w, &http.Cookie{Name: signinCookie, Value: "", Path: Path, MaxAge: -1, HttpOnly: true, Secure: secure,
		SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, Path, http.StatusSeeOther)
}

func (h *Handler) signinPage(w http.ResponseWriter, r *http.Request) {
	t := r.URL.Query().Get("t")
	if _, err := verify(h.opts.Key, purposeLink, t, h.opts.Reviews.Now()); err != nil {
		h.fail(w, r, http.StatusUnauthorized, linkError(err))
		return
	}
	h.signinForm(w, r, http.StatusOK, page{Title: "Sign in", Token: t})
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

// signin exchanges a link's token for a session, in one transaction:
// the link is spent only when the session starts.
func (h *Handler) signin(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	t := r.PostFormValue("t")
	if !h.signinCSRF(w, r, t) {
		return
	}
	now := h.opts.Reviews.Now()
	c, err := verify(h.opts.Key, purposeLink, t, now)
	if err == nil && (c.ID == "" || c.Reviewer == "") {
		err = ErrBadToken
	}
	var id string
	if err == nil {
		err = h.opts.Store.Write(r.Context(), func(ctx context.Context, tx store.Tx) error {
			fresh, err := tx.UseReviewLink(ctx, c.ID, time.Unix(c.Exp, 0), now)
			if err != nil {
				return err
			}
			if !fresh {
				return ErrUsed
			}
			id, err = h.startSession(ctx, tx, r, store.ReviewSession{Reviewer: c.Reviewer, Created: now})
			return err
		})
		if err != nil && !errors.Is(err, ErrUsed) {
			h.opts.Logger.Error("reviews page: signing in with a link", "err", err)
			h.fail(w, r, http.StatusInternalServerError, "Signing in failed; please try again later.")
			return
		}
	}
	if err != nil {
		h.opts.Logger.Info("reviews page: sign-in link refused", "reason", err, "remote", r.RemoteAddr)
		h.fail(w, r, http.StatusUnauthorized, linkError(err))
		return
	}
	h.opts.Logger.Info("reviews page: reviewer signed in", "reviewer", c.Reviewer)
	h.setSession(w, r, id)
}

// adminSignin exchanges an admin token for an admin's session.
func (h *Handler) adminSignin(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if !h.signinCSRF(w, r, "") {
		return
	}
	name, err := h.opts.Admin(r, strings.TrimSpace(r.PostFormValue("token")))
	if err != nil {
		h.fail(w, r, http.StatusUnauthorized, "The admin token was refused.")
		return
	}
	var id string
	if err := h.opts.Store.Write(r.Context(), func(ctx context.Context, tx store.Tx) (err error) {
		id, err = h.startSession(ctx, tx, r, store.ReviewSession{Admin: name, Created: h.opts.Reviews.Now()})
		return err
	}); err != nil {
		h.opts.Logger.Error("reviews page: starting an admin's session", "err", err)
		h.fail(w, r, http.StatusInternalServerError, "Signing in failed; please try again later.")
		return
	}
	h.opts.Logger.Info("reviews page: administrator signed in", "credential", name)
	h.setSession(w, r, id)
}

// signout revokes the session and clears its cookie.
func (h *Handler) signout(w http.ResponseWriter, r *http.Request, s session) {
	if err := h.opts.Store.Write(r.Context(), func(ctx context.Context, tx store.Tx) error {
		return tx.RevokeReviewSession(ctx, s.hash, h.opts.Reviews.Now())
	}); err != nil {
		h.opts.Logger.Error("reviews page: revoking a session", "err", err)
		h.render(w, http.StatusInternalServerError, "signin.html", page{Title: "Sign out", CSRF: s.CSRF, Who: s.Reviewer + s.Admin,
			Admin: s.Admin != "", Error: "Signing out failed; please try again."})
		return
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: Path, MaxAge: -1, HttpOnly: true,
		Secure: h.opts.Secure || r.TLS != nil, SameSite: http.SameSiteLaxMode})
	h.signinForm(w, r, http.StatusOK, page{Title: "Signed out", Notice: "You are signed out."})
}

// RevokeSessions revokes every session of reviewer (the reviewer's key: a
// user id or an email address, as the review items name them) now, in
// the audit log with the actor of ctx, and returns how many were live.
func (h *Handler) RevokeSessions(ctx context.Context, reviewer string) (int, error) {
	if strings.TrimSpace(reviewer) == "" {
		return 0, errors.New("reviewweb: a reviewer is required")
	}
	now := h.opts.Reviews.Now()
	var n int
	err := h.opts.Store.Write(ctx, func(ctx context.Context, tx store.Tx) (err error) {
		if n, err = tx.RevokeReviewerSessions(ctx, reviewer, now); err != nil {
			return err
		}
		return tx.Audit(ctx, store.AuditEntry{Time: now, Actor: store.ActorOf(ctx), Action: "review sessions revoke", Type: "User",
			ID: reviewer, Result: store.AuditOK, Detail: fmt.Sprintf("%d session(s) of the reviewer page revoked", n)})
	})
	return n, err
}

// home is the reviewer's page, an admin's list of reviews, or the
// sign-in page.
func (h *Handler) home(w http.ResponseWriter, r *http.Request) {
	s, ok := h.current(r)
	switch {
	case !ok:
		h.signinForm(w, r, http.StatusOK, page{Title: "Sign in"})
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
func (h *Handler) reviewerPage(w http.ResponseWriter, r *http.Request, s session, status int, errMsg string) {
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
func (h *Handler) decide(w http.ResponseWriter, r *http.Request, s session) {
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
