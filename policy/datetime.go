package policy

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Dates in expressions: CDate, Now, DateAdd and DateFromNum give CEL
// timestamps (UTC); FormatDateTime reads and writes the .NET custom date
// and time format strings Entra mappings use ("yyyyMMddHHmmss.fZ").
// The gateway has no local time zone: "local" is UTC.

// cdateLayouts are the forms CDate and the date functions accept for a
// date given as a string, tried in order.
var cdateLayouts = []string{
	time.RFC3339Nano,                // xsd:dateTime with zone
	"2006-01-02T15:04:05.999999999", // without zone: UTC
	"2006-01-02T15:04",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02Z07:00", // Workday: "2012-03-16-07:00" is midnight at -07:00
	"2006-01-02",
	"1/2/2006 3:04:05 PM", // Entra's own rendering of a DateTime
	"1/2/2006",
}

var errDate = errors.New("not a recognised date")

// parseDate parses a date string in one of cdateLayouts.
func parseDate(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	for _, l := range cdateLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, errDate
}

// adEpoch is the origin of Active Directory dates (100 ns ticks since
// 1601-01-01 UTC) in Unix seconds.
const adEpoch = -11644473600

// adTicks converts t to an Active Directory date.
func adTicks(t time.Time) int64 {
	return (t.Unix()-adEpoch)*10_000_000 + int64(t.Nanosecond()/100)
}

// fromADTicks converts an Active Directory date to a time.
func fromADTicks(n int64) time.Time {
	return time.Unix(n/10_000_000+adEpoch, (n%10_000_000)*100).UTC()
}

// addInterval adds n intervals (DateAdd's yyyy, m, d, ww, h, n, s) to t.
// Months and years keep the day, clamped to the last day of the month,
// as .NET's AddMonths does.
func addInterval(interval string, n int64, t time.Time) (time.Time, error) {
	switch interval {
	case "yyyy":
		return addMonths(t, n*12), nil
	case "m":
		return addMonths(t, n), nil
	case "d":
		return t.AddDate(0, 0, int(n)), nil
	case "ww":
		return t.AddDate(0, 0, int(n)*7), nil
	case "h":
		return t.Add(time.Duration(n) * time.Hour), nil
	case "n":
		return t.Add(time.Duration(n) * time.Minute), nil
	case "s":
		return t.Add(time.Duration(n) * time.Second), nil
	}
	return time.Time{}, errInterval
}

var errInterval = errors.New(`interval must be one of "yyyy", "m", "d", "ww", "h", "n", "s"`)

func addMonths(t time.Time, n int64) time.Time {
	y, m, d := t.Date()
	total := int64(y)*12 + int64(m-1) + n
	ny, nm := int(total/12), time.Month(total%12+1)
	if last := daysIn(ny, nm); d > last {
		d = last
	}
	h, mi, s := t.Clock()
	return time.Date(ny, nm, d, h, mi, s, t.Nanosecond(), t.Location())
}

func daysIn(y int, m time.Month) int {
	return time.Date(y, m+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// diffInterval is DateDiff: the number of intervals from a to b, positive
// when b is later. Years, months and days count calendar boundaries (of
// the UTC dates); weeks are whole days / 7 rounded down; hours, minutes
// and seconds are the elapsed time truncated.
func diffInterval(interval string, a, b time.Time) (int64, error) {
	a, b = a.UTC(), b.UTC()
	days := func() int64 {
		da := time.Date(a.Year(), a.Month(), a.Day(), 0, 0, 0, 0, time.UTC).Unix()
		db := time.Date(b.Year(), b.Month(), b.Day(), 0, 0, 0, 0, time.UTC).Unix()
		return (db - da) / 86400
	}
	secs := b.Unix() - a.Unix()
	switch interval {
	case "yyyy":
		return int64(b.Year() - a.Year()), nil
	case "m":
		return int64(b.Year()-a.Year())*12 + int64(b.Month()-a.Month()), nil
	case "d":
		return days(), nil
	case "ww":
		d := days()
		if d < 0 {
			return -((-d + 6) / 7), nil
		}
		return d / 7, nil
	case "h":
		return secs / 3600, nil
	case "n":
		return secs / 60, nil
	case "s":
		return secs, nil
	}
	return 0, errInterval
}

// ---- .NET custom date and time format strings ----

// dnToken is one element of a .NET format: a specifier letter repeated n
// times, or literal text (spec == 0).
type dnToken struct {
	spec byte
	n    int
	lit  string
}

// dnStandard maps the .NET standard (one-letter) formats of the invariant
// culture to custom formats.
var dnStandard = map[string]string{
	"d": "MM/dd/yyyy",
	"D": "dddd, dd MMMM yyyy",
	"f": "dddd, dd MMMM yyyy HH:mm",
	"F": "dddd, dd MMMM yyyy HH:mm:ss",
	"g": "MM/dd/yyyy HH:mm",
	"G": "MM/dd/yyyy HH:mm:ss",
	"o": "yyyy'-'MM'-'dd'T'HH':'mm':'ss'.'fffffffK",
	"O": "yyyy'-'MM'-'dd'T'HH':'mm':'ss'.'fffffffK",
	"r": "ddd, dd MMM yyyy HH':'mm':'ss 'GMT'",
	"R": "ddd, dd MMM yyyy HH':'mm':'ss 'GMT'",
	"s": "yyyy'-'MM'-'dd'T'HH':'mm':'ss",
	"t": "HH:mm",
	"T": "HH:mm:ss",
	"u": "yyyy'-'MM'-'dd HH':'mm':'ss'Z'",
}

// dnMaxRepeat is the longest run each specifier letter allows.
var dnMaxRepeat = map[byte]int{
	'd': 4, 'f': 7, 'F': 7, 'h': 2, 'H': 2, 'K': 1, 'm': 2, 'M': 4,
	's': 2, 't': 2, 'y': 5, 'z': 3,
}

// parseDotNetFormat splits a .NET date format into tokens.
func parseDotNetFormat(f string) ([]dnToken, error) {
	if f == "" {
		return nil, errors.New("the format is empty")
	}
	if std, ok := dnStandard[f]; ok {
		f = std
	} else if len(f) == 1 && isASCIILetter(f[0]) {
		return nil, fmt.Errorf("standard format %q is not supported; write a custom format such as \"yyyy-MM-dd\"", f)
	}
	var toks []dnToken
	lit := func(s string) {
		if n := len(toks); n > 0 && toks[n-1].spec == 0 {
			toks[n-1].lit += s
			return
		}
		toks = append(toks, dnToken{lit: s})
	}
	for i := 0; i < len(f); {
		c := f[i]
		switch {
		case c == '\'' || c == '"':
			j := strings.IndexByte(f[i+1:], c)
			if j < 0 {
				return nil, fmt.Errorf("the quote at position %d is not closed", i+1)
			}
			lit(f[i+1 : i+1+j])
			i += j + 2
		case c == '\\':
			if i+1 >= len(f) {
				return nil, errors.New("the format ends with a \\")
			}
			lit(f[i+1 : i+2])
			i += 2
		case c == '%':
			if i+1 >= len(f) || dnMaxRepeat[f[i+1]] == 0 {
				return nil, fmt.Errorf("%% at position %d must precede a format specifier", i+1)
			}
			toks = append(toks, dnToken{spec: f[i+1], n: 1})
			i += 2
		case c == 'g':
			return nil, errors.New("the era specifier g is not supported")
		case dnMaxRepeat[c] > 0:
			j := i
			for j < len(f) && f[j] == c {
				j++
			}
			n := j - i
			if n > dnMaxRepeat[c] {
				if c != 'y' {
					return nil, fmt.Errorf("%q at position %d repeats %c too often", f[i:j], i+1, c)
				}
			}
			toks = append(toks, dnToken{spec: c, n: n})
			i = j
		default:
			lit(f[i : i+1])
			i++
		}
	}
	return toks, nil
}

func isASCIILetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

var (
	monthNames = [...]string{"January", "February", "March", "April", "May", "June", "July",
		"August", "September", "October", "November", "December"}
	dayNames = [...]string{"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"}
)

// formatDotNet renders t in a .NET custom format. zoned says whether t
// carries a known offset (for K).
func formatDotNet(t time.Time, toks []dnToken, zoned bool) string {
	var b strings.Builder
	pad := func(v, w int) { fmt.Fprintf(&b, "%0*d", w, v) }
	for _, tk := range toks {
		switch tk.spec {
		case 0:
			b.WriteString(tk.lit)
		case 'y':
			switch {
			case tk.n == 1:
				b.WriteString(strconv.Itoa(t.Year() % 100))
			case tk.n == 2:
				pad(t.Year()%100, 2)
			default:
				pad(t.Year(), tk.n)
			}
		case 'M':
			switch tk.n {
			case 1, 2:
				pad(int(t.Month()), tk.n)
			case 3:
				b.WriteString(monthNames[t.Month()-1][:3])
			default:
				b.WriteString(monthNames[t.Month()-1])
			}
		case 'd':
			switch tk.n {
			case 1, 2:
				pad(t.Day(), tk.n)
			case 3:
				b.WriteString(dayNames[t.Weekday()][:3])
			default:
				b.WriteString(dayNames[t.Weekday()])
			}
		case 'h':
			h := t.Hour() % 12
			if h == 0 {
				h = 12
			}
			pad(h, tk.n)
		case 'H':
			pad(t.Hour(), tk.n)
		case 'm':
			pad(t.Minute(), tk.n)
		case 's':
			pad(t.Second(), tk.n)
		case 'f', 'F':
			digits := fmt.Sprintf("%09d", t.Nanosecond())
			if tk.n < 9 {
				digits = digits[:tk.n]
			}
			if tk.spec == 'F' {
				digits = strings.TrimRight(digits, "0")
				if digits == "" {
					// .NET drops the separator before an empty F field.
					s := b.String()
					if strings.HasSuffix(s, ".") {
						b.Reset()
						b.WriteString(s[:len(s)-1])
					}
				}
			}
			b.WriteString(digits)
		case 't':
			ampm := "AM"
			if t.Hour() >= 12 {
				ampm = "PM"
			}
			b.WriteString(ampm[:tk.n])
		case 'z':
			_, off := t.Zone()
			sign := '+'
			if off < 0 {
				sign, off = '-', -off
			}
			b.WriteRune(sign)
			switch tk.n {
			case 1:
				b.WriteString(strconv.Itoa(off / 3600))
			case 2:
				pad(off/3600, 2)
			default:
				pad(off/3600, 2)
				b.WriteByte(':')
				pad(off%3600/60, 2)
			}
		case 'K':
			if !zoned {
				continue
			}
			_, off := t.Zone()
			if off == 0 {
				b.WriteByte('Z')
				continue
			}
			sign := '+'
			if off < 0 {
				sign, off = '-', -off
			}
			b.WriteRune(sign)
			pad(off/3600, 2)
			b.WriteByte(':')
			pad(off%3600/60, 2)
		}
	}
	return b.String()
}

// parseDotNet parses s with a .NET custom format (as ParseExact does).
// Fields the format lacks default to 0001-01-01 00:00:00; without an
// offset the time is UTC. zoned reports whether s carried an offset.
func parseDotNet(s string, toks []dnToken) (t time.Time, zoned bool, err error) {
	year, month, day := 1, 1, 1
	hour, minute, sec, nsec := 0, 0, 0, 0
	pm, hasAMPM := false, false
	off := 0
	p := 0
	bad := func(what string) error {
		return fmt.Errorf("the value does not match the format at position %d (expected %s)", p+1, what)
	}
	num := func(minDigits, maxDigits int) (int, error) {
		j := p
		for j < len(s) && j-p < maxDigits && s[j] >= '0' && s[j] <= '9' {
			j++
		}
		if j-p < minDigits {
			return 0, errDate
		}
		v, _ := strconv.Atoi(s[p:j])
		p = j
		return v, nil
	}
	name := func(names []string, abbrev bool) (int, bool) {
		for i, n := range names {
			if abbrev {
				n = n[:3]
			}
			if len(s)-p >= len(n) && strings.EqualFold(s[p:p+len(n)], n) {
				p += len(n)
				return i, true
			}
		}
		return 0, false
	}
	for _, tk := range toks {
		var err error
		switch tk.spec {
		case 0:
			if !strings.HasPrefix(s[p:], tk.lit) {
				return t, false, bad(strconv.Quote(tk.lit))
			}
			p += len(tk.lit)
		case 'y':
			switch tk.n {
			case 1, 2:
				var y int
				if y, err = num(tk.n, 2); err == nil {
					// .NET's two-digit year window ends in 2049.
					year = 2000 + y
					if y >= 50 {
						year = 1900 + y
					}
				}
			default:
				year, err = num(tk.n, tk.n)
			}
		case 'M':
			switch tk.n {
			case 1, 2:
				month, err = num(tk.n, 2)
			default:
				i, ok := name(monthNames[:], tk.n == 3)
				if !ok {
					return t, false, bad("a month name")
				}
				month = i + 1
			}
		case 'd':
			switch tk.n {
			case 1, 2:
				day, err = num(tk.n, 2)
			default:
				if _, ok := name(dayNames[:], tk.n == 3); !ok {
					return t, false, bad("a day name")
				}
			}
		case 'h', 'H':
			hour, err = num(tk.n, 2)
		case 'm':
			minute, err = num(tk.n, 2)
		case 's':
			sec, err = num(tk.n, 2)
		case 'f', 'F':
			start := p
			minD := tk.n
			if tk.spec == 'F' {
				minD = 0
			}
			if _, err = num(minD, tk.n); err == nil {
				digits := s[start:p] + strings.Repeat("0", 9-(p-start))
				nsec, _ = strconv.Atoi(digits[:9])
			}
		case 't':
			hasAMPM = true
			switch {
			case len(s)-p >= tk.n && strings.EqualFold(s[p:p+tk.n], "AM"[:tk.n]):
			case len(s)-p >= tk.n && strings.EqualFold(s[p:p+tk.n], "PM"[:tk.n]):
				pm = true
			default:
				return t, false, bad("AM or PM")
			}
			p += tk.n
		case 'z', 'K':
			if tk.spec == 'K' && strings.HasPrefix(s[p:], "Z") {
				p++
				zoned = true
				continue
			}
			if p >= len(s) || (s[p] != '+' && s[p] != '-') {
				if tk.spec == 'K' {
					continue // K also matches nothing
				}
				return t, false, bad("an offset such as +02:00")
			}
			sign := 1
			if s[p] == '-' {
				sign = -1
			}
			p++
			var h, m int
			if h, err = num(1, 2); err == nil && (tk.n == 3 || tk.spec == 'K') {
				if !strings.HasPrefix(s[p:], ":") {
					return t, false, bad(`":" in the offset`)
				}
				p++
				m, err = num(2, 2)
			}
			off = sign * (h*3600 + m*60)
			zoned = true
		}
		if err != nil {
			return t, false, bad(fmt.Sprintf("%d digits for %s", tk.n, strings.Repeat(string(tk.spec), tk.n)))
		}
	}
	if p != len(s) {
		return t, false, fmt.Errorf("the value has extra text at position %d", p+1)
	}
	if hasAMPM {
		if hour < 1 || hour > 12 {
			return t, false, errors.New("the hour is out of range for AM/PM")
		}
		hour %= 12
		if pm {
			hour += 12
		}
	}
	if month < 1 || month > 12 || day < 1 || day > daysIn(year, time.Month(month)) ||
		hour > 23 || minute > 59 || sec > 59 {
		return t, false, errors.New("the value is not a valid date and time")
	}
	loc := time.UTC
	if zoned && off != 0 {
		loc = time.FixedZone("", off)
	}
	return time.Date(year, time.Month(month), day, hour, minute, sec, nsec, loc), zoned, nil
}

// dnStyles is the subset of .NET DateTimeStyles that means something here
// (no local zone, so AssumeLocal is AssumeUniversal).
type dnStyles struct {
	toUTC bool // AdjustToUniversal
}

func parseStyles(s string) (dnStyles, error) {
	var st dnStyles
	for _, f := range strings.Split(s, ",") {
		switch strings.TrimSpace(f) {
		case "", "None", "RoundtripKind", "AssumeLocal", "AssumeUniversal",
			"AllowLeadingWhite", "AllowTrailingWhite", "AllowInnerWhite", "AllowWhiteSpaces",
			"NoCurrentDateDefault":
		case "AdjustToUniversal":
			st.toUTC = true
		default:
			return st, fmt.Errorf("unknown DateTimeStyles value %q", strings.TrimSpace(f))
		}
	}
	return st, nil
}
