package policy

import "strings"

// NormalizeDiacritics replaces letters with diacritics by their plain
// forms. The table covers Entra's documented list (which maps ø to "oe"
// and ß to "ss"), Latin-1, Latin Extended-A and the precomposed Latin
// letters of Latin Extended-B/Additional used in European and Vietnamese
// names; combining marks (U+0300–U+036F and the other combining blocks)
// are dropped, so "ā́" (ā + combining acute) becomes "a".

// diacriticBases maps a replacement to the letters it replaces.
var diacriticBases = map[string]string{
	"a":  "àáâãäåāăąǎǟǡǻȁȃȧạảấầẩẫậắằẳẵặ",
	"A":  "ÀÁÂÃÄÅĀĂĄǍǞǠǺȀȂȦẠẢẤẦẨẪẬẮẰẲẴẶ",
	"ae": "æǣǽ",
	"AE": "ÆǢǼ",
	"c":  "çćĉċč",
	"C":  "ÇĆĈĊČ",
	"d":  "ďđḍḏ",
	"D":  "ĎĐḌḎ",
	"e":  "èéêëēĕėęěȅȇȩḕḗẹẻẽếềểễệ",
	"E":  "ÈÉÊËĒĔĖĘĚȄȆȨḔḖẸẺẼẾỀỂỄỆ",
	"g":  "ĝğġģǧḡ",
	"G":  "ĜĞĠĢǦḠ",
	"h":  "ĥħ",
	"H":  "ĤĦ",
	"i":  "ìíîïĩīĭįıǐȉȋỉị",
	"I":  "ÌÍÎÏĨĪĬĮİǏȈȊỈỊ",
	"j":  "ĵ",
	"J":  "Ĵ",
	"k":  "ķǩ",
	"K":  "ĶǨ",
	"l":  "ĺļľŀłḷḹḻ",
	"L":  "ĹĻĽĿŁḶḸḺ",
	"n":  "ñńņňṅṇṉ",
	"N":  "ÑŃŅŇṄṆṈ",
	"o":  "òóôõöōŏőơǒǫǭȍȏȫȭȯȱṑṓọỏốồổỗộớờởỡợ",
	"O":  "ÒÓÔÕÖŌŎŐƠǑǪǬȌȎȪȬȮȰṐṒỌỎỐỒỔỖỘỚỜỞỠỢ",
	"oe": "øœǿ",
	"OE": "ØŒǾ",
	"r":  "ŕŗřȑȓṛṝṟ",
	"R":  "ŔŖŘȐȒṚṜṞ",
	"s":  "śŝşšșṣ",
	"S":  "ŚŜŞŠȘṢ",
	"ss": "ß",
	"t":  "ţťŧțṭṯ",
	"T":  "ŢŤŦȚṬṮ",
	"u":  "ùúûüũūŭůűųưǔǖǘǚǜȕȗṳṻụủứừửữự",
	"U":  "ÙÚÛÜŨŪŬŮŰŲƯǓǕǗǙǛȔȖṲṺỤỦỨỪỬỮỰ",
	"w":  "ŵ",
	"W":  "Ŵ",
	"y":  "ýÿŷȳỳỵỷỹ",
	"Y":  "ÝŸŶȲỲỴỶỸ",
	"z":  "źżžẓẕ",
	"Z":  "ŹŻŽẒẔ",
}

var diacritics = func() map[rune]string {
	m := map[rune]string{}
	for base, letters := range diacriticBases {
		for _, r := range letters {
			m[r] = base
		}
	}
	return m
}()

func isCombiningMark(r rune) bool {
	return r >= 0x0300 && r <= 0x036F || r >= 0x1AB0 && r <= 0x1AFF ||
		r >= 0x1DC0 && r <= 0x1DFF || r >= 0x20D0 && r <= 0x20FF || r >= 0xFE20 && r <= 0xFE2F
}

func normalizeDiacritics(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		if isCombiningMark(r) {
			continue
		}
		if rep, ok := diacritics[r]; ok {
			b.WriteString(rep)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}
