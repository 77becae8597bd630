package reviewweb

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"time"
)

// Errors of the sign-in links, checked with errors.Is.
var (
	// ErrBadToken: a link that is malformed or whose signature does not
	// verify.
	ErrBadToken = errors.New("reviewweb: invalid token")
	// ErrExpired: a link past its expiry.
	ErrExpired = errors.New("reviewweb: expired")
	// ErrUsed: a one-time link used already.
	ErrUsed = errors.New("reviewweb: link used already")
)

// claims are what a link or a sign-in form's cookie carries, signed.
type claims struct {
	ID       string `json:"id,omitempty"`  // a link's one-time id; a sign-in form's token
	Reviewer string `json:"sub,omitempty"` // the reviewer (a link)
	Exp      int64  `json:"exp"`           // expiry, Unix seconds
}

// The purposes signed with the claims, so that a link is never accepted
// as a sign-in cookie nor the reverse, and a session's CSRF token is
// never anything else.
const (
	purposeLink   = "scimgate review link\x00"
	purposeSignin = "scimgate review sign-in form\x00"
	purposeCSRF   = "scimgate review session csrf\x00"
)

// sign returns the token of c for purpose: the claims' JSON and its
// HMAC-SHA256, both base64url.
func sign(key []byte, purpose string, c claims) string {
	b, _ := json.Marshal(c) // plain strings and a number
	p := base64.RawURLEncoding.EncodeToString(b)
	return p + "." + base64.RawURLEncoding.EncodeToString(mac(key, purpose, p))
}

func mac(key []byte, purpose, payload string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(purpose))
	m.Write([]byte(payload))
	return m.Sum(nil)
}

// verify returns the claims of tok signed for purpose and not expired at
// now.
func verify(key []byte, purpose, tok string, now time.Time) (claims, error) {
	p, s, ok := strings.Cut(tok, ".")
	if !ok || len(tok) > 4096 {
		return claims{}, ErrBadToken
	}
	sig, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || !hmac.Equal(sig, mac(key, purpose, p)) {
		return claims{}, ErrBadToken
	}
	b, err := base64.RawURLEncoding.DecodeString(p)
	if err != nil {
		return claims{}, ErrBadToken
	}
	var c claims
	if err := json.Unmarshal(b, &c); err != nil {
		return claims{}, ErrBadToken
	}
	if !now.Before(time.Unix(c.Exp, 0)) {
		return claims{}, ErrExpired
	}
	return c, nil
}

// random returns n random bytes, base64url.
func random(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}

// hashID is what the store keeps of a session id: its SHA-256, hex.
func hashID(id string) string {
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:])
}

// csrfOf is the CSRF token of a session id: derived with the key, so
// it is not stored and not the id itself.
func csrfOf(key []byte, id string) string {
	return base64.RawURLEncoding.EncodeToString(mac(key, purposeCSRF, id))
}
