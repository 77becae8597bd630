package policy

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"regexp/syntax"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf16"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/uuid"
)

// The Entra attribute-mapping functions as CEL functions. Names, argument
// order and semantics follow Microsoft's "Reference for writing
// expressions for attribute mappings"; where that page is silent the
// choice is documented here and in the package documentation. Errors name
// the function and the argument, never the value.

// function is one library function.
type function struct {
	name    string
	arities []int
	result  *cel.Type
	impl    func(args []ref.Val) ref.Val
}

// library holds what the functions need from outside: a clock for Now
// and a random source for RandomString and Guid.
type library struct {
	now  func() time.Time
	rand *randSource
	re   regexCache
}

// maxVarArgs bounds the sources of Join and Coalesce and the key/value
// pairs of Switch.
const maxVarArgs = 64

func span(lo, hi int) []int {
	out := make([]int, 0, hi-lo+1)
	for i := lo; i <= hi; i++ {
		out = append(out, i)
	}
	return out
}

// volatileFunctions give a new value at every evaluation.
var volatileFunctions = map[string]bool{"RandomString": true, "Guid": true}

// sensitiveFunctions make a mapping's value secret (see Secret).
var sensitiveFunctions = map[string]bool{"RandomString": true, "Redact": true}

// unsupportedFunctions are Entra functions this gateway cannot offer, with why.
var unsupportedFunctions = map[string]string{
	"SelectUniqueValue": "it needs uniqueness lookups in the target, which the policy layer cannot make",
	"DefaultDomain":     "the gateway has no tenant; write the domain as a constant",
}

func (lib *library) functions() []function {
	pairs := []int{}
	for n := 1; n <= maxVarArgs; n++ {
		pairs = append(pairs, 2+2*n)
	}
	return []function{
		{"Append", []int{2}, cel.DynType, fnAppend},
		{"AppRoleAssignmentsComplex", []int{1}, cel.DynType, fnAppRoleAssignmentsComplex},
		{"BitAnd", []int{2}, cel.DynType, fnBitAnd},
		{"CBool", []int{1}, cel.BoolType, fnCBool},
		{"CDate", []int{1}, cel.DynType, fnCDate},
		{"Coalesce", span(1, maxVarArgs), cel.DynType, fnCoalesce},
		{"ConvertToBase64", []int{1}, cel.DynType, fnConvertToBase64},
		{"ConvertToUTF8Hex", []int{1}, cel.DynType, fnConvertToUTF8Hex},
		{"Count", []int{1}, cel.IntType, fnCount},
		{"CStr", []int{1}, cel.DynType, fnCStr},
		{"DateAdd", []int{3}, cel.DynType, fnDateAdd},
		{"DateDiff", []int{3}, cel.DynType, fnDateDiff},
		{"DateFromNum", []int{1}, cel.DynType, fnDateFromNum},
		{"FormatDateTime", []int{3, 4}, cel.DynType, fnFormatDateTime},
		{"Guid", []int{0}, cel.StringType, lib.fnGuid},
		{"IgnoreFlowIfNullOrEmpty", []int{1}, cel.DynType, fnIdentity},
		{"IIF", []int{3}, cel.DynType, fnIIF},
		{"InStr", []int{2, 3, 4}, cel.DynType, fnInStr},
		{"IsNull", []int{1}, cel.BoolType, fnIsNull},
		{"IsNullOrEmpty", []int{1}, cel.BoolType, fnIsNullOrEmpty},
		{"IsPresent", []int{1}, cel.BoolType, fnIsPresent},
		{"IsString", []int{1}, cel.BoolType, fnIsString},
		{"Item", []int{2}, cel.DynType, fnItem},
		{"Join", span(2, maxVarArgs+1), cel.StringType, fnJoin},
		{"Left", []int{2}, cel.StringType, fnLeft},
		{"Len", []int{1}, cel.DynType, fnLen},
		{"Mid", []int{3}, cel.DynType, fnMid},
		{"NormalizeDiacritics", []int{1}, cel.DynType, fnNormalizeDiacritics},
		{"Not", []int{1}, cel.BoolType, fnNot},
		{"Now", []int{0}, cel.TimestampType, lib.fnNow},
		{"NumFromDate", []int{1}, cel.DynType, fnNumFromDate},
		{"PCase", []int{1, 2}, cel.DynType, fnPCase},
		{"RandomString", []int{5, 6}, cel.StringType, lib.fnRandomString},
		{"Redact", []int{1}, cel.DynType, fnIdentity},
		{"RemoveDuplicates", []int{1}, cel.DynType, fnRemoveDuplicates},
		{"Replace", []int{3, 7}, cel.DynType, lib.fnReplace},
		{"SingleAppRoleAssignment", []int{1}, cel.DynType, fnSingleAppRoleAssignment},
		{"Split", []int{2}, cel.DynType, fnSplit},
		{"StripSpaces", []int{1}, cel.DynType, fnStripSpaces},
		{"Switch", pairs, cel.DynType, fnSwitch},
		{"ToLower", []int{1, 2}, cel.DynType, fnToLower},
		{"ToUpper", []int{1, 2}, cel.DynType, fnToUpper},
		{"Trim", []int{1}, cel.DynType, fnTrim},
		{"Word", []int{3}, cel.StringType, fnWord},
	}
}

// envOptions declares the functions with dynamically typed arguments (an
// attribute may hold any type, or be null); each function checks its
// arguments at run time.
func (lib *library) envOptions() []cel.EnvOption {
	var opts []cel.EnvOption
	for _, f := range lib.functions() {
		var overloads []cel.FunctionOpt
		for _, n := range f.arities {
			args := make([]*cel.Type, n)
			for i := range args {
				args[i] = cel.DynType
			}
			impl := f.impl
			overloads = append(overloads, cel.Overload(fmt.Sprintf("%s_%d", f.name, n), args, f.result,
				cel.FunctionBinding(func(a ...ref.Val) ref.Val { return impl(a) })))
		}
		opts = append(opts, cel.Function(f.name, overloads...))
	}
	return opts
}

// ---- argument helpers ----

func fail(fn, format string, args ...any) ref.Val {
	return types.NewErr("%s: %s", fn, fmt.Sprintf(format, args...))
}

// argString reads a string argument; null reports isNull.
func argString(fn, arg string, v ref.Val) (s string, isNull bool, bad ref.Val) {
	s, isNull, err := toString(v)
	if err != nil {
		if e, ok := err.(*types.Err); ok {
			return "", false, e
		}
		return "", false, fail(fn, "%s: %v", arg, err)
	}
	return s, isNull, nil
}

// argInt reads an integer argument (a whole number or a numeric string).
func argInt(fn, arg string, v ref.Val) (n int64, isNull bool, bad ref.Val) {
	switch x := v.(type) {
	case types.Int:
		return int64(x), false, nil
	case types.Uint:
		if uint64(x) <= math.MaxInt64 {
			return int64(x), false, nil
		}
	case types.Double:
		if f := float64(x); f == math.Trunc(f) && math.Abs(f) < 1<<62 {
			return int64(f), false, nil
		}
	case types.String:
		if n, err := strconv.ParseInt(strings.TrimSpace(string(x)), 10, 64); err == nil {
			return n, false, nil
		}
		return 0, false, fail(fn, "%s: expected an integer, got a non-numeric string", arg)
	case *types.Err:
		return 0, false, x
	}
	if isNullish(v) {
		return 0, true, nil
	}
	return 0, false, fail(fn, "%s: expected an integer, got a %s", arg, typeName(v))
}

// argTime reads a date argument: a timestamp, or a string CDate accepts.
func argTime(fn, arg string, v ref.Val) (t time.Time, isNull bool, bad ref.Val) {
	switch x := v.(type) {
	case types.Timestamp:
		return x.Time, false, nil
	case types.String:
		t, err := parseDate(string(x))
		if err != nil {
			return t, false, fail(fn, "%s: %v (use FormatDateTime for other formats)", arg, err)
		}
		return t, false, nil
	case *types.Err:
		return t, false, x
	}
	if isNullish(v) {
		return t, true, nil
	}
	return t, false, fail(fn, "%s: expected a date, got a %s", arg, typeName(v))
}

// truth is CBool's reading of a value.
func truth(fn string, v ref.Val) (bool, ref.Val) {
	switch x := v.(type) {
	case types.Bool:
		return bool(x), nil
	case types.Int:
		return x != 0, nil
	case types.Uint:
		return x != 0, nil
	case types.Double:
		return x != 0, nil
	case types.String:
		s := strings.TrimSpace(string(x))
		switch {
		case strings.EqualFold(s, "true"):
			return true, nil
		case strings.EqualFold(s, "false"), s == "":
			return false, nil
		}
		if f, err := strconv.ParseFloat(s, 64); err == nil {
			return f != 0, nil
		}
		return false, fail(fn, `expected a boolean, a number or "True"/"False", got another string`)
	case *types.Err:
		return false, x
	}
	if isNullish(v) {
		return false, nil
	}
	return false, fail(fn, "expected a boolean, got a %s", typeName(v))
}

// mapString applies f to a string argument; null stays null.
func mapString(fn string, v ref.Val, f func(string) string) ref.Val {
	s, isNull, bad := argString(fn, "source", v)
	if bad != nil {
		return bad
	}
	if isNull {
		return types.NullValue
	}
	return types.String(f(s))
}

// elemValue is the value of an element of a multi-valued attribute: its
// "value" when it is complex and has one, else the element.
func elemValue(v ref.Val) ref.Val {
	if o, ok := v.(*object); ok {
		if val := o.lookup("value"); val != types.NullValue {
			return val
		}
	}
	return v
}

// ---- the functions ----

func fnIdentity(a []ref.Val) ref.Val { return a[0] }

// fnAppend: Append(source, suffix). A null source gives null; a null
// suffix appends nothing.
func fnAppend(a []ref.Val) ref.Val {
	s, null, bad := argString("Append", "source", a[0])
	if bad != nil {
		return bad
	}
	if null {
		return types.NullValue
	}
	suffix, _, bad := argString("Append", "suffix", a[1])
	if bad != nil {
		return bad
	}
	return types.String(s + suffix)
}

// fnAppRoleAssignmentsComplex gives every role as {value, display, type,
// primary: false}, as Entra provisions them.
func fnAppRoleAssignmentsComplex(a []ref.Val) ref.Val {
	var out []any
	for _, e := range elements(a[0]) {
		r := map[string]any{"primary": false}
		switch x := e.(type) {
		case *object:
			for _, k := range []string{"value", "display", "type"} {
				if v, ok := x.m[k].(string); ok && v != "" {
					r[k] = v
				}
			}
		default:
			s, null, bad := argString("AppRoleAssignmentsComplex", "roles", e)
			if bad != nil {
				return bad
			}
			if null {
				continue
			}
			r["value"] = s
		}
		if r["value"] == nil {
			continue
		}
		out = append(out, r)
	}
	return types.DefaultTypeAdapter.NativeToValue(out)
}

func fnBitAnd(a []ref.Val) ref.Val {
	x, n1, bad := argInt("BitAnd", "value1", a[0])
	if bad != nil {
		return bad
	}
	y, n2, bad := argInt("BitAnd", "value2", a[1])
	if bad != nil {
		return bad
	}
	if n1 || n2 {
		return types.NullValue
	}
	return types.Int(x & y)
}

func fnCBool(a []ref.Val) ref.Val {
	b, bad := truth("CBool", a[0])
	if bad != nil {
		return bad
	}
	return types.Bool(b)
}

func fnCDate(a []ref.Val) ref.Val {
	t, null, bad := argTime("CDate", "expression", a[0])
	if bad != nil {
		return bad
	}
	if null {
		return types.NullValue
	}
	return types.Timestamp{Time: t.UTC()}
}

func fnCoalesce(a []ref.Val) ref.Val {
	for _, v := range a {
		if types.IsError(v) {
			return v
		}
		if !isNullish(v) {
			return v
		}
	}
	return types.NullValue
}

// fnConvertToBase64 encodes the UTF-16LE bytes of the string, as .NET's
// "Unicode" encoding does.
func fnConvertToBase64(a []ref.Val) ref.Val {
	return mapString("ConvertToBase64", a[0], func(s string) string {
		units := utf16.Encode([]rune(s))
		b := make([]byte, 2*len(units))
		for i, u := range units {
			binary.LittleEndian.PutUint16(b[2*i:], u)
		}
		return base64.StdEncoding.EncodeToString(b)
	})
}

func fnConvertToUTF8Hex(a []ref.Val) ref.Val {
	return mapString("ConvertToUTF8Hex", a[0], func(s string) string {
		return strings.ToUpper(hex.EncodeToString([]byte(s)))
	})
}

func fnCount(a []ref.Val) ref.Val {
	if types.IsError(a[0]) {
		return a[0]
	}
	return types.Int(len(elements(a[0])))
}

func fnCStr(a []ref.Val) ref.Val {
	s, null, bad := argString("CStr", "value", a[0])
	if bad != nil {
		return bad
	}
	if null {
		return types.NullValue
	}
	return types.String(s)
}

func fnDateAdd(a []ref.Val) ref.Val {
	interval, _, bad := argString("DateAdd", "interval", a[0])
	if bad != nil {
		return bad
	}
	n, nNull, bad := argInt("DateAdd", "value", a[1])
	if bad != nil {
		return bad
	}
	t, tNull, bad := argTime("DateAdd", "dateTime", a[2])
	if bad != nil {
		return bad
	}
	if nNull || tNull {
		return types.NullValue
	}
	r, err := addInterval(interval, n, t)
	if err != nil {
		return fail("DateAdd", "%v", err)
	}
	return types.Timestamp{Time: r.UTC()}
}

func fnDateDiff(a []ref.Val) ref.Val {
	interval, _, bad := argString("DateDiff", "interval", a[0])
	if bad != nil {
		return bad
	}
	t1, null1, bad := argTime("DateDiff", "date1", a[1])
	if bad != nil {
		return bad
	}
	t2, null2, bad := argTime("DateDiff", "date2", a[2])
	if bad != nil {
		return bad
	}
	if null1 || null2 {
		return types.NullValue
	}
	d, err := diffInterval(interval, t1, t2)
	if err != nil {
		return fail("DateDiff", "%v", err)
	}
	return types.Int(d)
}

// fnDateFromNum converts an Active Directory date (100 ns ticks since
// 1601); 0 and the largest value mean "never" in AD and give null.
func fnDateFromNum(a []ref.Val) ref.Val {
	n, null, bad := argInt("DateFromNum", "value", a[0])
	if bad != nil {
		return bad
	}
	if null || n == 0 || n == math.MaxInt64 {
		return types.NullValue
	}
	if n < 0 {
		return fail("DateFromNum", "value: an AD date cannot be negative")
	}
	return types.Timestamp{Time: fromADTicks(n)}
}

// fnFormatDateTime: FormatDateTime(source, [dateTimeStyles,] inputFormat,
// outputFormat). A timestamp source needs no input format.
func fnFormatDateTime(a []ref.Val) ref.Val {
	const fn = "FormatDateTime"
	var styles dnStyles
	if len(a) == 4 {
		s, _, bad := argString(fn, "dateTimeStyles", a[1])
		if bad != nil {
			return bad
		}
		var err error
		if styles, err = parseStyles(s); err != nil {
			return fail(fn, "dateTimeStyles: %v", err)
		}
		a = []ref.Val{a[0], a[2], a[3]}
	}
	outFmt, _, bad := argString(fn, "outputFormat", a[2])
	if bad != nil {
		return bad
	}
	outToks, err := parseDotNetFormat(outFmt)
	if err != nil {
		return fail(fn, "outputFormat: %v", err)
	}
	var t time.Time
	zoned := true
	switch x := a[0].(type) {
	case types.Timestamp:
		t = x.Time
	default:
		src, null, bad := argString(fn, "source", a[0])
		if bad != nil {
			return bad
		}
		if null {
			return types.NullValue
		}
		inFmt, _, bad := argString(fn, "inputFormat", a[1])
		if bad != nil {
			return bad
		}
		inToks, err := parseDotNetFormat(inFmt)
		if err != nil {
			return fail(fn, "inputFormat: %v", err)
		}
		if t, zoned, err = parseDotNet(strings.TrimSpace(src), inToks); err != nil {
			return fail(fn, "source: %v", err)
		}
	}
	if styles.toUTC {
		t = t.UTC()
	}
	return types.String(formatDotNet(t, outToks, zoned))
}

func (lib *library) fnGuid([]ref.Val) ref.Val {
	u, err := uuid.NewRandomFromReader(lib.rand)
	if err != nil {
		return fail("Guid", "no randomness: %v", err)
	}
	return types.String(u.String())
}

// fnIIF: IIF(condition, valueIfTrue, valueIfFalse); the condition is read
// as CBool reads it (null is false).
func fnIIF(a []ref.Val) ref.Val {
	c, bad := truth("IIF", a[0])
	if bad != nil {
		return bad
	}
	if c {
		return a[1]
	}
	return a[2]
}

// fnInStr: InStr(value1, value2[, start[, compareType]]) is the 1-based
// position of value2 in value1 from start, 0 when absent. compareType is
// "vbBinaryCompare" (default) or "vbTextCompare" (ignore case).
func fnInStr(a []ref.Val) ref.Val {
	const fn = "InStr"
	s, n1, bad := argString(fn, "value1", a[0])
	if bad != nil {
		return bad
	}
	sub, n2, bad := argString(fn, "value2", a[1])
	if bad != nil {
		return bad
	}
	start := int64(1)
	if len(a) >= 3 {
		v, null, bad := argInt(fn, "start", a[2])
		if bad != nil {
			return bad
		}
		if !null {
			start = v
		}
		if start < 1 {
			return fail(fn, "start must be at least 1")
		}
	}
	fold := false
	if len(a) == 4 {
		ct, _, bad := argString(fn, "compareType", a[3])
		if bad != nil {
			return bad
		}
		switch ct {
		case "", "vbBinaryCompare":
		case "vbTextCompare":
			fold = true
		default:
			return fail(fn, `compareType must be "vbBinaryCompare" or "vbTextCompare"`)
		}
	}
	if n1 || n2 {
		return types.NullValue
	}
	rs, rsub := []rune(s), []rune(sub)
	if fold {
		rs, rsub = lowerRunes(rs), lowerRunes(rsub)
	}
	for i := int(start) - 1; i+len(rsub) <= len(rs); i++ {
		if string(rs[i:i+len(rsub)]) == string(rsub) {
			return types.Int(i + 1)
		}
	}
	return types.IntZero
}

func lowerRunes(rs []rune) []rune {
	out := make([]rune, len(rs))
	for i, r := range rs {
		out[i] = unicode.ToLower(r)
	}
	return out
}

func fnIsNull(a []ref.Val) ref.Val {
	if types.IsError(a[0]) {
		return a[0]
	}
	return types.Bool(isNullish(a[0]))
}

func fnIsNullOrEmpty(a []ref.Val) ref.Val {
	if types.IsError(a[0]) {
		return a[0]
	}
	return types.Bool(isNullish(a[0]) || a[0] == types.String(""))
}

func fnIsPresent(a []ref.Val) ref.Val {
	v := fnIsNullOrEmpty(a)
	if b, ok := v.(types.Bool); ok {
		return !b
	}
	return v
}

func fnIsString(a []ref.Val) ref.Val {
	if types.IsError(a[0]) {
		return a[0]
	}
	_, ok := a[0].(types.String)
	return types.Bool(ok)
}

// fnItem: Item(attribute, index), index from 1; null past the end.
func fnItem(a []ref.Val) ref.Val {
	i, null, bad := argInt("Item", "index", a[1])
	if bad != nil {
		return bad
	}
	if null || i < 1 {
		return fail("Item", "index must be at least 1 (the first item is 1)")
	}
	if types.IsError(a[0]) {
		return a[0]
	}
	els := elements(a[0])
	if int(i) > len(els) {
		return types.NullValue
	}
	return els[i-1]
}

// fnJoin joins the sources with the separator; a multi-valued source
// contributes each of its values; null and empty values are skipped (so
// Join(", ", "", surname, givenName) is "Doe, John", as in Entra's example).
func fnJoin(a []ref.Val) ref.Val {
	sep, _, bad := argString("Join", "separator", a[0])
	if bad != nil {
		return bad
	}
	var parts []string
	for i, src := range a[1:] {
		if types.IsError(src) {
			return src
		}
		for _, e := range elements(src) {
			s, null, bad := argString("Join", fmt.Sprintf("source%d", i+1), elemValue(e))
			if bad != nil {
				return bad
			}
			if !null && s != "" {
				parts = append(parts, s)
			}
		}
	}
	return types.String(strings.Join(parts, sep))
}

// fnLeft: Left(string, numChars) per Entra: null gives "", numChars < 0
// gives the whole string.
func fnLeft(a []ref.Val) ref.Val {
	s, _, bad := argString("Left", "string", a[0])
	if bad != nil {
		return bad
	}
	n, null, bad := argInt("Left", "numChars", a[1])
	if bad != nil {
		return bad
	}
	if null {
		return fail("Left", "numChars must be a number")
	}
	rs := []rune(s)
	if n < 0 || n >= int64(len(rs)) {
		return types.String(s)
	}
	return types.String(rs[:n])
}

func fnLen(a []ref.Val) ref.Val {
	s, null, bad := argString("Len", "source", a[0])
	if bad != nil {
		return bad
	}
	if null {
		return types.NullValue
	}
	return types.Int(len([]rune(s)))
}

// fnMid: Mid(source, start, length), start from 1; a length past the end
// stops at the end.
func fnMid(a []ref.Val) ref.Val {
	s, null, bad := argString("Mid", "source", a[0])
	if bad != nil {
		return bad
	}
	start, sNull, bad := argInt("Mid", "start", a[1])
	if bad != nil {
		return bad
	}
	length, lNull, bad := argInt("Mid", "length", a[2])
	if bad != nil {
		return bad
	}
	if sNull || start < 1 {
		return fail("Mid", "start must be at least 1 (the first character is 1)")
	}
	if lNull || length < 0 {
		return fail("Mid", "length must not be negative")
	}
	if null {
		return types.NullValue
	}
	rs := []rune(s)
	if start > int64(len(rs)) {
		return types.String("")
	}
	end := min(start-1+length, int64(len(rs)))
	return types.String(rs[start-1 : end])
}

func fnNormalizeDiacritics(a []ref.Val) ref.Val {
	return mapString("NormalizeDiacritics", a[0], normalizeDiacritics)
}

// fnNot negates a boolean read as CBool reads it: Not(null) is true, so
// Not(user.x) of an absent flag is true.
func fnNot(a []ref.Val) ref.Val {
	b, bad := truth("Not", a[0])
	if bad != nil {
		return bad
	}
	return types.Bool(!b)
}

func (lib *library) fnNow([]ref.Val) ref.Val {
	return types.Timestamp{Time: lib.now().UTC()}
}

func fnNumFromDate(a []ref.Val) ref.Val {
	t, null, bad := argTime("NumFromDate", "value", a[0])
	if bad != nil {
		return bad
	}
	if null {
		return types.NullValue
	}
	return types.Int(adTicks(t))
}

// fnPCase capitalises the first letter of each word and lower-cases the
// rest. Without wordSeparators any character that is not a letter, digit
// or mark separates words (as .NET's ToTitleCase); with them only those
// characters do.
func fnPCase(a []ref.Val) ref.Val {
	isSep := func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r) && !unicode.IsMark(r)
	}
	if len(a) == 2 {
		seps, null, bad := argString("PCase", "wordSeparators", a[1])
		if bad != nil {
			return bad
		}
		if !null {
			isSep = func(r rune) bool { return strings.ContainsRune(seps, r) }
		}
	}
	return mapString("PCase", a[0], func(s string) string {
		var b strings.Builder
		start := true
		for _, r := range s {
			switch {
			case isSep(r):
				b.WriteRune(r)
				start = true
			case start:
				b.WriteRune(unicode.ToUpper(r))
				start = false
			default:
				b.WriteRune(unicode.ToLower(r))
			}
		}
		return b.String()
	})
}

// Character classes of RandomString (Windows password complexity).
const (
	randDigits  = "0123456789"
	randSpecial = "~!@#$%^&*_-+=`|\\(){}[]:;\"'<>,.?/"
	randUpper   = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	randLower   = "abcdefghijklmnopqrstuvwxyz"
)

// fnRandomString: RandomString(length, minimumNumbers,
// minimumSpecialCharacters, minimumCapital, minimumLowerCase[,
// charactersToAvoid]). The minimums are met, the rest is drawn from all
// classes, and the result is shuffled.
func (lib *library) fnRandomString(a []ref.Val) ref.Val {
	const fn = "RandomString"
	names := []string{"length", "minimumNumbers", "minimumSpecialCharacters", "minimumCapital", "minimumLowerCase"}
	var n [5]int64
	for i := range n {
		v, null, bad := argInt(fn, names[i], a[i])
		if bad != nil {
			return bad
		}
		if null || v < 0 {
			return fail(fn, "%s must be a number at least 0", names[i])
		}
		n[i] = v
	}
	avoid := ""
	if len(a) == 6 {
		s, _, bad := argString(fn, "charactersToAvoid", a[5])
		if bad != nil {
			return bad
		}
		avoid = s
	}
	if n[0] < 1 || n[0] > 256 {
		return fail(fn, "length must be between 1 and 256")
	}
	if n[1]+n[2]+n[3]+n[4] > n[0] {
		return fail(fn, "length is less than the sum of the minimums")
	}
	classes := []string{randDigits, randSpecial, randUpper, randLower}
	var all string
	for i, c := range classes {
		c = strings.Map(func(r rune) rune {
			if strings.ContainsRune(avoid, r) {
				return -1
			}
			return r
		}, c)
		if c == "" && n[i+1] > 0 {
			return fail(fn, "charactersToAvoid leaves no character for %s", names[i+1])
		}
		classes[i] = c
		all += c
	}
	if all == "" {
		return fail(fn, "charactersToAvoid leaves no character")
	}
	out := make([]byte, 0, n[0])
	pick := func(set string) error {
		i, err := lib.rand.intn(len(set))
		if err != nil {
			return err
		}
		out = append(out, set[i])
		return nil
	}
	for i, c := range classes {
		for range n[i+1] {
			if err := pick(c); err != nil {
				return fail(fn, "no randomness: %v", err)
			}
		}
	}
	for int64(len(out)) < n[0] {
		if err := pick(all); err != nil {
			return fail(fn, "no randomness: %v", err)
		}
	}
	for i := len(out) - 1; i > 0; i-- {
		j, err := lib.rand.intn(i + 1)
		if err != nil {
			return fail(fn, "no randomness: %v", err)
		}
		out[i], out[j] = out[j], out[i]
	}
	return types.String(out)
}

func fnRemoveDuplicates(a []ref.Val) ref.Val {
	if types.IsError(a[0]) {
		return a[0]
	}
	var out []ref.Val
	for _, e := range elements(a[0]) {
		dup := false
		for _, o := range out {
			if types.Equal(o, e) == types.True {
				dup = true
				break
			}
		}
		if !dup {
			out = append(out, e)
		}
	}
	return types.NewRefValList(types.DefaultTypeAdapter, out)
}

// fnReplace is Replace(source, oldValue, newValue), or Entra's seven
// arguments Replace(source, oldValue, regexPattern, regexGroupName,
// replacementValue, replacementAttribute, template) with null for the
// ones not used (Entra leaves them empty). What a null argument means is
// decided by which arguments have values, as in Entra: oldValue with
// template or replacementValue; regexPattern with regexGroupName and
// replacementValue, with regexGroupName alone (the replacementAttribute
// form), or with replacementValue. The regex dialect is RE2: named groups
// are (?<name>...) and ${name} in the replacement, but there are no
// look-arounds or backreferences in the pattern.
func (lib *library) fnReplace(a []ref.Val) ref.Val {
	const fn = "Replace"
	if len(a) == 3 {
		return replace3(a)
	}
	names := []string{"source", "oldValue", "regexPattern", "regexGroupName", "replacementValue", "replacementAttribute", "template"}
	var s [7]string
	var set [7]bool
	for i := range s {
		v, null, bad := argString(fn, names[i], a[i])
		if bad != nil {
			return bad
		}
		s[i], set[i] = v, !null
	}
	source, old, pattern, group, repl, replAttr, template := s[0], s[1], s[2], s[3], s[4], s[5], s[6]
	hasSource, hasOld, hasPattern, hasGroup, hasRepl, hasReplAttr, hasTemplate := set[0], set[1], set[2], set[3], set[4], set[5], set[6]
	switch {
	case hasOld:
		if old == "" {
			return fail(fn, "oldValue must not be empty")
		}
		switch {
		case !hasSource:
			return types.NullValue
		case hasTemplate:
			return types.String(strings.ReplaceAll(template, old, source))
		case hasRepl:
			return types.String(strings.ReplaceAll(source, old, repl))
		}
		return types.NullValue
	case hasPattern:
		re, err := lib.re.compile(pattern)
		if err != nil {
			return fail(fn, "regexPattern: %v", err)
		}
		if !hasGroup {
			if !hasRepl {
				return fail(fn, "regexPattern needs replacementValue or regexGroupName")
			}
			if !hasSource {
				return types.NullValue
			}
			return types.String(re.ReplaceAllString(source, repl))
		}
		gi := re.SubexpIndex(group)
		if gi < 0 {
			return fail(fn, "regexGroupName names no group of regexPattern")
		}
		if !hasRepl {
			// The replacementAttribute form: the source when it has a
			// value, else the group's match in replacementAttribute.
			if hasSource && source != "" {
				return types.String(source)
			}
			if !hasReplAttr {
				return types.NullValue
			}
			m := re.FindStringSubmatch(replAttr)
			if m == nil {
				return types.NullValue
			}
			return types.String(m[gi])
		}
		if !hasSource {
			return types.NullValue
		}
		var b strings.Builder
		last := 0
		for _, m := range re.FindAllStringSubmatchIndex(source, -1) {
			if m[2*gi] < 0 {
				continue
			}
			b.WriteString(source[last:m[2*gi]])
			b.WriteString(repl)
			last = m[2*gi+1]
		}
		b.WriteString(source[last:])
		return types.String(b.String())
	}
	return fail(fn, "give oldValue or regexPattern")
}

// replace3 is Replace(source, oldValue, newValue): every occurrence of
// oldValue replaced; a null newValue removes them.
func replace3(a []ref.Val) ref.Val {
	const fn = "Replace"
	source, null, bad := argString(fn, "source", a[0])
	if bad != nil {
		return bad
	}
	old, _, bad := argString(fn, "oldValue", a[1])
	if bad != nil {
		return bad
	}
	repl, _, bad := argString(fn, "newValue", a[2])
	if bad != nil {
		return bad
	}
	if old == "" {
		return fail(fn, "oldValue must not be empty")
	}
	if null {
		return types.NullValue
	}
	return types.String(strings.ReplaceAll(source, old, repl))
}

// fnSingleAppRoleAssignment gives the value of the primary role, else of
// the first role; null without roles.
func fnSingleAppRoleAssignment(a []ref.Val) ref.Val {
	if types.IsError(a[0]) {
		return a[0]
	}
	els := elements(a[0])
	if len(els) == 0 {
		return types.NullValue
	}
	pick := els[0]
	for _, e := range els {
		if o, ok := e.(*object); ok && o.m["primary"] == true {
			pick = e
			break
		}
	}
	v := elemValue(pick)
	s, null, bad := argString("SingleAppRoleAssignment", "appRoleAssignments", v)
	if bad != nil {
		return bad
	}
	if null {
		return types.NullValue
	}
	return types.String(s)
}

// fnSplit splits on the delimiter and trims white space around each part
// (Entra's example turns "One, Two" into ["One", "Two"]); empty parts are
// dropped.
func fnSplit(a []ref.Val) ref.Val {
	s, null, bad := argString("Split", "source", a[0])
	if bad != nil {
		return bad
	}
	d, _, bad := argString("Split", "delimiter", a[1])
	if bad != nil {
		return bad
	}
	if d == "" {
		return fail("Split", "delimiter must not be empty")
	}
	if null {
		return types.NullValue
	}
	var out []string
	for _, p := range strings.Split(s, d) {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return types.NewStringList(types.DefaultTypeAdapter, out)
}

func fnStripSpaces(a []ref.Val) ref.Val {
	return mapString("StripSpaces", a[0], func(s string) string { return strings.ReplaceAll(s, " ", "") })
}

// fnSwitch: Switch(source, defaultValue, key1, value1, ...). Keys compare
// with the source as strings, case-sensitively; a null source matches
// the key "".
func fnSwitch(a []ref.Val) ref.Val {
	src, _, bad := argString("Switch", "source", a[0])
	if bad != nil {
		return bad
	}
	for i := 2; i+1 < len(a); i += 2 {
		k, _, bad := argString("Switch", fmt.Sprintf("key%d", i/2), a[i])
		if bad != nil {
			return bad
		}
		if k == src {
			return a[i+1]
		}
	}
	return a[1]
}

// caseFor returns the special casing of a culture ("tr-TR", "az"), nil
// for the invariant rules.
func caseFor(fn string, a []ref.Val) (unicode.SpecialCase, ref.Val) {
	if len(a) < 2 {
		return nil, nil
	}
	c, _, bad := argString(fn, "culture", a[1])
	if bad != nil {
		return nil, bad
	}
	lang, _, _ := strings.Cut(strings.ToLower(c), "-")
	switch lang {
	case "tr":
		return unicode.TurkishCase, nil
	case "az":
		return unicode.AzeriCase, nil
	}
	return nil, nil
}

func fnToLower(a []ref.Val) ref.Val {
	sc, bad := caseFor("ToLower", a)
	if bad != nil {
		return bad
	}
	return mapString("ToLower", a[0], func(s string) string {
		if sc != nil {
			return strings.ToLowerSpecial(sc, s)
		}
		return strings.ToLower(s)
	})
}

func fnToUpper(a []ref.Val) ref.Val {
	sc, bad := caseFor("ToUpper", a)
	if bad != nil {
		return bad
	}
	return mapString("ToUpper", a[0], func(s string) string {
		if sc != nil {
			return strings.ToUpperSpecial(sc, s)
		}
		return strings.ToUpper(s)
	})
}

func fnTrim(a []ref.Val) ref.Val {
	return mapString("Trim", a[0], strings.TrimSpace)
}

// fnWord: Word(string, wordNumber, delimiters) per Entra: words are the
// non-empty runs between delimiter characters; "" when there is no such
// word, wordNumber < 1 or the string is null.
func fnWord(a []ref.Val) ref.Val {
	s, _, bad := argString("Word", "string", a[0])
	if bad != nil {
		return bad
	}
	n, null, bad := argInt("Word", "wordNumber", a[1])
	if bad != nil {
		return bad
	}
	delims, _, bad := argString("Word", "delimiters", a[2])
	if bad != nil {
		return bad
	}
	if null || n < 1 {
		return types.String("")
	}
	words := strings.FieldsFunc(s, func(r rune) bool { return strings.ContainsRune(delims, r) })
	if n > int64(len(words)) {
		return types.String("")
	}
	return types.String(words[n-1])
}

// ---- randomness and regex cache ----

// randSource serialises reads of a random source that may not be safe
// for concurrent use (a seeded source in tests).
type randSource struct {
	mu sync.Mutex
	r  io.Reader
}

// Read implements io.Reader.
func (s *randSource) Read(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return io.ReadFull(s.r, p)
}

// intn returns a uniform random int in [0, n).
func (s *randSource) intn(n int) (int, error) {
	limit := math.MaxUint32 - math.MaxUint32%uint32(n)
	var b [4]byte
	for {
		if _, err := s.Read(b[:]); err != nil {
			return 0, err
		}
		if v := binary.LittleEndian.Uint32(b[:]); v < limit {
			return int(v % uint32(n)), nil
		}
	}
}

// regexCache keeps compiled patterns: Replace patterns are nearly always
// constants, compiled once. It stops growing at regexCacheMax entries.
type regexCache struct {
	m sync.Map // pattern → *regexp.Regexp
	n atomic.Int32
}

const regexCacheMax = 512

func (c *regexCache) compile(pattern string) (*regexp.Regexp, error) {
	if re, ok := c.m.Load(pattern); ok {
		return re.(*regexp.Regexp), nil
	}
	re, err := regexp.Compile(pattern)
	if err != nil {
		var se *syntax.Error
		if errors.As(err, &se) {
			return nil, fmt.Errorf("%s", se.Code)
		}
		return nil, errors.New("invalid pattern")
	}
	if c.n.Add(1) <= regexCacheMax {
		c.m.Store(pattern, re)
	}
	return re, nil
}
