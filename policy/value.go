package policy

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"time"

	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
)

var errIterator = errors.New("policy: an iterator has no native form")

// native converts a CEL value to the Go form of a canonical value: nil,
// string, bool, int64, float64, map[string]any or []any. Timestamps become
// xsd:dateTime strings in UTC. Empty lists and objects become nil (in
// canonical form they are absent).
func native(v ref.Val) (any, error) {
	switch x := v.(type) {
	case types.Null:
		return nil, nil
	case types.String:
		return string(x), nil
	case types.Bool:
		return bool(x), nil
	case types.Int:
		return int64(x), nil
	case types.Uint:
		if uint64(x) > math.MaxInt64 {
			return nil, errors.New("an unsigned integer is too large")
		}
		return int64(x), nil
	case types.Double:
		return float64(x), nil
	case types.Timestamp:
		return formatTimestamp(x.Time), nil
	case *types.Err:
		return nil, x
	case *object:
		if len(x.m) == 0 && x.groups == nil {
			return nil, nil
		}
		out := make(map[string]any, len(x.m)+1)
		for k, e := range x.m {
			if e != nil {
				out[k] = copyValue(e)
			}
		}
		if x.groups != nil && len(x.groups.of) > 0 {
			out["groups"] = copyValue(x.groups.value().items)
		}
		if len(out) == 0 {
			return nil, nil
		}
		return out, nil
	case *multi:
		if len(x.items) == 0 {
			return nil, nil
		}
		return copyValue(x.items), nil
	case traits.Lister:
		n := int(x.Size().(types.Int))
		if n == 0 {
			return nil, nil
		}
		out := make([]any, 0, n)
		for i := range n {
			e, err := native(x.Get(types.Int(i)))
			if err != nil {
				return nil, err
			}
			if e != nil {
				out = append(out, e)
			}
		}
		if len(out) == 0 {
			return nil, nil
		}
		return out, nil
	case traits.Mapper:
		out := map[string]any{}
		it := x.Iterator()
		for it.HasNext() == types.True {
			k := it.Next()
			ks, ok := k.(types.String)
			if !ok {
				return nil, fmt.Errorf("a map key is a %s, not a string", k.Type().TypeName())
			}
			e, err := native(x.Get(k))
			if err != nil {
				return nil, err
			}
			if e != nil {
				out[string(ks)] = e
			}
		}
		if len(out) == 0 {
			return nil, nil
		}
		return out, nil
	}
	return nil, fmt.Errorf("a %s value has no attribute form", v.Type().TypeName())
}

// copyValue deep-copies a canonical value so that results never share
// maps or slices with the input resource.
func copyValue(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = copyValue(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = copyValue(e)
		}
		return out
	case int:
		return int64(x)
	}
	return v
}

// convertNative implements ConvertToNative for the views.
func convertNative(v ref.Val, typeDesc reflect.Type) (any, error) {
	n, err := native(v)
	if err != nil {
		return nil, err
	}
	if typeDesc.Kind() == reflect.Interface || (n != nil && reflect.TypeOf(n) == typeDesc) {
		return n, nil
	}
	if n == nil && (typeDesc.Kind() == reflect.Map || typeDesc.Kind() == reflect.Slice) {
		return reflect.Zero(typeDesc).Interface(), nil
	}
	return nil, fmt.Errorf("cannot convert %s to %s", v.Type().TypeName(), typeDesc)
}

// equalNative compares two values by their native forms.
func equalNative(a, b ref.Val) ref.Val {
	if b == types.NullValue {
		return types.False
	}
	na, err := native(a)
	if err != nil {
		return types.False
	}
	nb, err := native(b)
	if err != nil {
		return types.False
	}
	return types.Bool(reflect.DeepEqual(na, nb))
}

// formatTimestamp renders t as an xsd:dateTime in UTC.
func formatTimestamp(t time.Time) string {
	return t.UTC().Format(time.RFC3339Nano)
}

// toString converts a scalar to the string Entra's CStr would give:
// numbers in invariant form, booleans "True"/"False", timestamps as
// xsd:dateTime. null reports isNull. Complex values are refused.
func toString(v ref.Val) (s string, isNull bool, err error) {
	switch x := v.(type) {
	case types.String:
		return string(x), false, nil
	case types.Int:
		return strconv.FormatInt(int64(x), 10), false, nil
	case types.Uint:
		return strconv.FormatUint(uint64(x), 10), false, nil
	case types.Double:
		return strconv.FormatFloat(float64(x), 'f', -1, 64), false, nil
	case types.Bool:
		if x {
			return "True", false, nil
		}
		return "False", false, nil
	case types.Timestamp:
		return formatTimestamp(x.Time), false, nil
	case *types.Err:
		return "", false, x
	}
	if isNullish(v) {
		return "", true, nil
	}
	return "", false, fmt.Errorf("expected a string, got a %s", typeName(v))
}

// typeName names the type of v for messages (never its value).
func typeName(v ref.Val) string {
	switch v.(type) {
	case *object:
		return "complex value"
	case *multi:
		return "multi-valued attribute"
	}
	return v.Type().TypeName()
}

// elements lists the values of a list or multi-valued attribute; a single
// value is a list of one, null an empty list.
func elements(v ref.Val) []ref.Val {
	switch x := v.(type) {
	case *multi:
		return x.values()
	case traits.Lister:
		n := int(x.Size().(types.Int))
		out := make([]ref.Val, n)
		for i := range n {
			out[i] = x.Get(types.Int(i))
		}
		return out
	}
	if isNullish(v) {
		return nil
	}
	return []ref.Val{v}
}
