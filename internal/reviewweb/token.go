package reviewweb

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"time"
)

// Errors of the sign-in links and the sessions, checked with errors.Is.
var (
	// ErrBadToken: a link or session that is malformed or whose signature
	// does not verify.
	ErrBadToken = errors.New("reviewweb: invalid token")
	// ErrExpired: a link or session past its expiry.
	ErrExpired = errors.New("reviewweb: expired")
	// ErrUsed: a one-time link used already.
	ErrUsed = errors.New("reviewweb: link used already")
)

// claims are what a link or a session carries, signed.
type claims struct {
	ID       string `json:"id,omitempty"`   // a link's one-time id
	Reviewer string `json:"sub,omitempty"`  // the reviewer (a session of a reviewer, a link)
	Admin    string `json:"adm,omitempty"`  // the admin credential (an admin's session)
	CSRF     string `json:"csrf,omitempty"` // a session's form token
	Exp      int64  `json:"exp"`            // expiry, Unix seconds
}

// The purposes signed with the claims, so that a link is never accepted
// as a session nor the reverse.
const (
	purposeLink    = "scimgate review link\x00"
	purposeSession = "scimgate review session\x00"
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

// random returns 16 random bytes, base64url.
func random() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}
