package policy

import (
	"strings"
	"testing"
	"unicode"
)

// TestDiacriticTable checks the table against itself: no letter is listed
// twice, and every lower-case letter's upper case is listed for the
// upper-case replacement (and the other way round).
func TestDiacriticTable(t *testing.T) {
	n := 0
	for _, letters := range diacriticBases {
		n += len([]rune(letters))
	}
	if n != len(diacritics) {
		t.Errorf("%d letters listed, %d distinct: a letter is listed twice", n, len(diacritics))
	}
	for base, letters := range diacriticBases {
		other := strings.ToUpper(base)
		if other == base {
			other = strings.ToLower(base)
		}
		for _, r := range letters {
			c := unicode.ToUpper(r)
			if c == r {
				c = unicode.ToLower(r)
			}
			if c == r || c < 0x80 { // no case pair (ß), or a plain letter (ı → I)
				continue
			}
			if got, ok := diacritics[c]; !ok || got != other {
				t.Errorf("%q → %q, but its case pair %q → %q (want %q)", r, base, c, got, other)
			}
		}
	}
}
