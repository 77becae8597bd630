package policy

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Scoping clauses compile to CEL over the same binding as expressions,
// using the library functions; the generated text is what Target.ScopeRule
// shows. Every operator but isNull is false when the attribute is null or
// empty (Entra: "Scoping filters will return false if the value is null /
// empty").

// clauseCEL validates clause c (at field) and returns its CEL.
func (k *kind) clauseCEL(c ClauseConfig, field string, p *problems) (string, bool) {
	if c.Attribute == "" {
		p.add(field+".attribute", "required: the SCIM attribute path the clause tests")
		return "", false
	}
	ref, err := k.resolvePath(c.Attribute)
	if err != nil {
		p.add(field+".attribute", "%v", err)
		return "", false
	}
	switch {
	case ref.list:
		p.add(field+".attribute", "%s is multi-valued; a clause tests one value (as in Entra): select one, as in emails[type eq \"work\"].value, or write an expression", c.Attribute)
		return "", false
	case ref.leaf.isComplex():
		p.add(field+".attribute", "%s is complex; name one of its sub-attributes (%s)", c.Attribute, strings.Join(ref.leaf.subNames(), ", "))
		return "", false
	}
	if !slices.Contains(Operators, c.Operator) {
		if c.Operator == "" {
			p.add(field+".operator", "required: one of %s", operatorList())
		} else {
			p.add(field+".operator", "unknown operator %q; use one of %s", c.Operator, operatorList())
		}
		return "", false
	}
	typ := ref.leaf.typ
	stringy := typ == "string" || typ == "reference" || typ == "binary"
	a := ref.cel
	op := c.Operator

	// Operand shape.
	unary := op == OpIsNull || op == OpIsNotNull || op == OpIsTrue || op == OpIsFalse
	list := op == OpIn || op == OpNotIn
	ok := true
	switch {
	case unary && (c.Value != nil || c.Values != nil):
		p.add(field, "operator %s takes no value", op)
		ok = false
	case list && c.Value != nil:
		p.add(field+".value", "operator %s takes values (a list), not value", op)
		ok = false
	case list && len(c.Values) == 0:
		p.add(field+".values", "operator %s needs a non-empty list of values", op)
		ok = false
	case !unary && !list && c.Values != nil:
		p.add(field+".values", "operator %s takes value, not values", op)
		ok = false
	case !unary && !list && c.Value == nil:
		p.add(field+".value", "operator %s needs a value", op)
		ok = false
	}
	if !ok {
		return "", false
	}

	// Which operators fit the attribute's type.
	stringOp := op == OpStartsWith || op == OpEndsWith || op == OpContains || op == OpRegexMatch || op == OpNotRegexMatch
	orderOp := op == OpGreaterThan || op == OpGreaterThanOrEquals || op == OpLessThan || op == OpLessThanOrEquals
	switch {
	case (op == OpIsTrue || op == OpIsFalse) && typ != "boolean":
		p.add(field+".operator", "%s needs a boolean attribute; %s is %s", op, c.Attribute, article(typ))
		return "", false
	case stringOp && !stringy && typ != "dateTime":
		p.add(field+".operator", "%s needs a string attribute; %s is %s", op, c.Attribute, article(typ))
		return "", false
	case orderOp && typ == "boolean":
		p.add(field+".operator", "%s needs a number, a date or a string holding a number; %s is a boolean", op, c.Attribute)
		return "", false
	case list && typ == "dateTime":
		p.add(field+".operator", "%s compares strings or numbers; for a date use greaterThan/lessThan or an expression", op)
		return "", false
	}
	if c.IgnoreCase && (unary || orderOp || !(stringy || stringOp)) {
		p.add(field+".ignoreCase", "ignoreCase applies to string comparisons only")
		return "", false
	}

	regexOp := op == OpRegexMatch || op == OpNotRegexMatch
	fold := func(s string) string { return s }
	if c.IgnoreCase && !regexOp {
		a = "ToLower(" + a + ")"
		fold = strings.ToLower
	}
	present := "IsPresent(" + ref.cel + ")"
	if !stringy && typ != "dateTime" {
		present = ref.cel + " != null"
	}

	// The operand as a CEL literal of the attribute's type.
	lit := func(v any, f string) (string, bool) {
		s, err := clauseLiteral(v, typ, stringOp, orderOp)
		if err != nil {
			p.add(f, "%v", err)
			return "", false
		}
		if strings.HasPrefix(s, `"`) {
			unq, _ := strconv.Unquote(s)
			s = strconv.Quote(fold(unq))
		}
		return s, true
	}

	switch op {
	case OpIsNull:
		if stringy || typ == "dateTime" {
			return "IsNullOrEmpty(" + ref.cel + ")", true
		}
		return ref.cel + " == null", true
	case OpIsNotNull:
		return present, true
	case OpIsTrue:
		return ref.cel + " == true", true
	case OpIsFalse:
		return ref.cel + " == false", true
	case OpIn, OpNotIn:
		vals := make([]string, len(c.Values))
		for i, v := range c.Values {
			s, ok := lit(v, fmt.Sprintf("%s.values[%d]", field, i))
			if !ok {
				return "", false
			}
			vals[i] = s
		}
		in := a + " in [" + strings.Join(vals, ", ") + "]"
		if op == OpIn {
			return in, true
		}
		return present + " && !(" + in + ")", true
	}

	v, ok := lit(c.Value, field+".value")
	if !ok {
		return "", false
	}
	if typ == "dateTime" && !stringOp {
		a = "CDate(" + ref.cel + ")"
	}
	switch op {
	case OpEquals:
		if typ == "dateTime" {
			return present + " && " + a + " == " + v, true
		}
		return a + " == " + v, true
	case OpNotEquals:
		return present + " && " + a + " != " + v, true
	case OpStartsWith:
		return present + " && " + a + ".startsWith(" + v + ")", true
	case OpEndsWith:
		return present + " && " + a + ".endsWith(" + v + ")", true
	case OpContains:
		return present + " && " + a + ".contains(" + v + ")", true
	case OpRegexMatch, OpNotRegexMatch:
		pattern, _ := strconv.Unquote(v)
		if c.IgnoreCase {
			pattern = "(?i)" + pattern
		}
		if _, err := regexp.Compile(pattern); err != nil {
			p.add(field+".value", "invalid regular expression (RE2 syntax): %v", err)
			return "", false
		}
		m := a + ".matches(" + strconv.Quote(pattern) + ")"
		if op == OpNotRegexMatch {
			m = "!" + m
		}
		return present + " && " + m, true
	}
	// Ordering.
	cmp := map[Operator]string{OpGreaterThan: ">", OpGreaterThanOrEquals: ">=", OpLessThan: "<", OpLessThanOrEquals: "<="}[op]
	if stringy {
		// A string holding a number (Entra: employeeId > 1000000).
		if strings.ContainsAny(v, ".eE") {
			return fmt.Sprintf(`%s && %s.matches("^[+-]?[0-9]+([.][0-9]+)?$") && double(%s) %s %s`, present, ref.cel, ref.cel, cmp, v), true
		}
		return fmt.Sprintf(`%s && %s.matches("^[+-]?[0-9]+$") && int(%s) %s %s`, present, ref.cel, ref.cel, cmp, v), true
	}
	return present + " && " + a + " " + cmp + " " + v, true
}

// clauseLiteral renders a clause operand as a CEL literal for an
// attribute of SCIM type typ.
func clauseLiteral(v any, typ string, stringOp, orderOp bool) (string, error) {
	if t, ok := v.(time.Time); ok {
		v = t.Format(time.RFC3339Nano)
	}
	switch x := v.(type) {
	case map[string]any, []any, nil:
		return "", fmt.Errorf("expected a single value")
	case float64:
		if math.IsInf(x, 0) || math.IsNaN(x) {
			return "", fmt.Errorf("expected a finite number")
		}
	}
	switch {
	case typ == "dateTime" && !stringOp:
		s, ok := v.(string)
		if !ok {
			return "", fmt.Errorf("expected a date such as 2024-01-31T00:00:00Z")
		}
		t, err := parseDate(s)
		if err != nil {
			return "", fmt.Errorf("%q is not a date; use a form such as 2024-01-31T00:00:00Z", s)
		}
		return fmt.Sprintf("timestamp(%q)", t.Format(time.RFC3339Nano)), nil
	case stringOp || ((typ == "string" || typ == "reference" || typ == "binary") && !orderOp):
		switch x := v.(type) {
		case string:
			return strconv.Quote(x), nil
		case bool:
			return strconv.Quote(strconv.FormatBool(x)), nil
		case int:
			return strconv.Quote(strconv.Itoa(x)), nil
		case float64:
			return strconv.Quote(strconv.FormatFloat(x, 'f', -1, 64)), nil
		}
	case typ == "boolean":
		if b, ok := v.(bool); ok {
			return strconv.FormatBool(b), nil
		}
		return "", fmt.Errorf("expected true or false for a boolean attribute")
	case typ == "integer" || typ == "decimal" || orderOp:
		switch x := v.(type) {
		case int:
			return strconv.Itoa(x), nil
		case float64:
			if typ == "integer" && x != math.Trunc(x) {
				return "", fmt.Errorf("expected an integer")
			}
			s := strconv.FormatFloat(x, 'g', -1, 64)
			if !strings.ContainsAny(s, ".eE") {
				s += ".0"
			}
			return s, nil
		}
		return "", fmt.Errorf("expected a number")
	}
	return "", fmt.Errorf("unsupported value")
}

func operatorList() string {
	s := make([]string, len(Operators))
	for i, o := range Operators {
		s[i] = string(o)
	}
	return strings.Join(s, ", ")
}

func article(typ string) string {
	switch typ {
	case "integer":
		return "an integer"
	}
	return "a " + typ
}
