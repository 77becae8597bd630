package notify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The headers of a signed webhook request.
const (
	// TimestampHeader holds the time of signing, in Unix seconds
	// (decimal).
	TimestampHeader = "X-Scimgate-Timestamp"
	// SignatureHeader holds "sha256=" and the lower-case hex
	// HMAC-SHA256, keyed with the channel's secret, of the timestamp
	// header's value, a ".", and the exact request body:
	//
	//	hex(HMAC-SHA256(secret, timestamp + "." + body))
	SignatureHeader = "X-Scimgate-Signature"
)

// ErrSignature is the error of Verify for a request whose signature is
// missing, malformed, wrong or too old.
var ErrSignature = errors.New("invalid webhook signature")

// Sign returns the SignatureHeader value of body signed at timestamp
// (whose TimestampHeader value is its Unix seconds). Webhook channels and
// workflow webhook tasks sign with it.
func Sign(secret string, timestamp time.Time, body []byte) string {
	return "sha256=" + hex.EncodeToString(mac(secret, strconv.FormatInt(timestamp.Unix(), 10), body))
}

func mac(secret, timestamp string, body []byte) []byte {
	h := hmac.New(sha256.New, []byte(secret))
	h.Write([]byte(timestamp))
	h.Write([]byte{'.'})
	h.Write(body)
	return h.Sum(nil)
}

// Verify checks the signature headers of a request with body (read whole,
// as received) against secret: the signature must match (compared in
// constant time) and the timestamp be at most maxAge away from now, which
// bounds replays. Its errors wrap ErrSignature.
func Verify(secret string, header http.Header, body []byte, now time.Time, maxAge time.Duration) error {
	ts := header.Get(TimestampHeader)
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: missing or malformed %s", ErrSignature, TimestampHeader)
	}
	got, ok := strings.CutPrefix(header.Get(SignatureHeader), "sha256=")
	sig, err := hex.DecodeString(got)
	if !ok || err != nil {
		return fmt.Errorf("%w: missing or malformed %s", ErrSignature, SignatureHeader)
	}
	if !hmac.Equal(sig, mac(secret, ts, body)) {
		return fmt.Errorf("%w: signature mismatch", ErrSignature)
	}
	if d := now.Sub(time.Unix(sec, 0)); d > maxAge || d < -maxAge {
		return fmt.Errorf("%w: timestamp outside the accepted window", ErrSignature)
	}
	return nil
}
