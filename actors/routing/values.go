package routing

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"time"
)

// ErrInvalidArgs reports binding arguments that cannot be normalised (see the package
// documentation), or an invalid "x-match" value on a headers binding.
var ErrInvalidArgs = errors.New("routing: invalid binding arguments")

// maxValueDepth bounds the nesting of list, map, struct and pointer values, and maxValueNodes
// the number of values visited, so that neither a cyclic value nor a wide self-referencing one
// can make normalisation recurse without end.
const (
	maxValueDepth = 32
	maxValueNodes = 1 << 16
)

// valueKind is the normalised type of a header or argument value.
type valueKind uint8

const (
	valueInvalid valueKind = iota // could not be normalised; equals nothing
	valueVoid                     // nil (AMQP null, AMQP 0-9-1 void)
	valueBool
	valueInt    // an integral number within the int64 range, in i
	valueUint   // an integral number above math.MaxInt64, in u
	valueFloat  // a non-integral (or out of range, or NaN) number, in f
	valueString // s
	valueBinary // the bytes, in s
	valueOther  // composite values and timestamps: their canonical encoding, in s
)

// value is a normalised header or argument value; two values are equal when [value.equal] says so.
type value struct {
	kind valueKind
	b    bool
	i    int64
	u    uint64
	f    float64
	s    string
}

func (a value) equal(b value) bool {
	if a.kind != b.kind {
		return false
	}
	switch a.kind {
	case valueVoid:
		return true
	case valueBool:
		return a.b == b.b
	case valueInt:
		return a.i == b.i
	case valueUint:
		return a.u == b.u
	case valueFloat:
		return a.f == b.f // NaN != NaN
	case valueString, valueBinary, valueOther:
		return a.s == b.s
	default:
		return false
	}
}

func intValue(i int64) value { return value{kind: valueInt, i: i} }

func uintValue(u uint64) value {
	if u <= math.MaxInt64 {
		return value{kind: valueInt, i: int64(u)}
	}
	return value{kind: valueUint, u: u}
}

// floatValue normalises a float: integral values within the int64/uint64 ranges become integers,
// so that float64(5) equals int32(5).
func floatValue(f float64) value {
	if f == math.Trunc(f) {
		switch {
		case f >= -(1<<63) && f < 1<<63:
			return value{kind: valueInt, i: int64(f)}
		case f >= 0 && f < 1<<64:
			return value{kind: valueUint, u: uint64(f)}
		}
	}
	return value{kind: valueFloat, f: f}
}

// equalsHeader reports whether the normalised argument a equals the header value v. The common
// scalar types are compared without allocating.
func (a value) equalsHeader(v any) bool {
	switch x := v.(type) {
	case nil:
		return a.kind == valueVoid
	case string:
		return a.kind == valueString && a.s == x
	case []byte:
		return a.kind == valueBinary && a.s == string(x)
	case bool:
		return a.kind == valueBool && a.b == x
	case int:
		return a.kind == valueInt && a.i == int64(x)
	case int8:
		return a.kind == valueInt && a.i == int64(x)
	case int16:
		return a.kind == valueInt && a.i == int64(x)
	case int32:
		return a.kind == valueInt && a.i == int64(x)
	case int64:
		return a.kind == valueInt && a.i == x
	case uint:
		return a.equal(uintValue(uint64(x)))
	case uint8:
		return a.kind == valueInt && a.i == int64(x)
	case uint16:
		return a.kind == valueInt && a.i == int64(x)
	case uint32:
		return a.kind == valueInt && a.i == int64(x)
	case uint64:
		return a.equal(uintValue(x))
	case float32:
		return a.equal(floatValue(float64(x)))
	case float64:
		return a.equal(floatValue(x))
	}
	n, err := normalize(v)
	return err == nil && a.equal(n)
}

var timeType = reflect.TypeFor[time.Time]()

// normalize turns any value into its normalised form. It never panics; values it cannot
// represent (channels, functions, values too deep or too large) give an error.
func normalize(v any) (value, error) {
	n := normalizer{left: maxValueNodes}
	return n.value(reflect.ValueOf(v), 0)
}

// normalizer carries the node budget of one normalisation.
type normalizer struct{ left int }

func (n *normalizer) value(rv reflect.Value, depth int) (value, error) {
	if depth > maxValueDepth {
		return value{}, fmt.Errorf("%w: value nested deeper than %d", ErrInvalidArgs, maxValueDepth)
	}
	if n.left--; n.left < 0 {
		return value{}, fmt.Errorf("%w: value has more than %d elements", ErrInvalidArgs, maxValueNodes)
	}
	if !rv.IsValid() {
		return value{kind: valueVoid}, nil
	}
	if rv.Type() == timeType && rv.CanInterface() {
		t, _ := rv.Interface().(time.Time)
		s := "t" + strconv.FormatInt(t.Unix(), 10) + "." + strconv.Itoa(t.Nanosecond())
		return value{kind: valueOther, s: s}, nil
	}
	switch rv.Kind() {
	case reflect.Bool:
		return value{kind: valueBool, b: rv.Bool()}, nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return intValue(rv.Int()), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return uintValue(rv.Uint()), nil
	case reflect.Float32, reflect.Float64:
		return floatValue(rv.Float()), nil
	case reflect.Complex64, reflect.Complex128:
		c := rv.Complex()
		if imag(c) == 0 {
			return floatValue(real(c)), nil
		}
		return value{kind: valueOther, s: "c" + strconv.FormatComplex(c, 'g', -1, 128)}, nil
	case reflect.String:
		return value{kind: valueString, s: rv.String()}, nil
	case reflect.Pointer, reflect.Interface:
		if rv.IsNil() {
			return value{kind: valueVoid}, nil
		}
		return n.value(rv.Elem(), depth+1)
	case reflect.Slice:
		if rv.Type().Elem().Kind() == reflect.Uint8 {
			return value{kind: valueBinary, s: string(rv.Bytes())}, nil
		}
		return n.list(rv, depth)
	case reflect.Array:
		return n.list(rv, depth)
	case reflect.Map:
		return n.mapValue(rv, depth)
	case reflect.Struct:
		return n.structValue(rv, depth)
	default:
		return value{}, fmt.Errorf("%w: unsupported value type %s", ErrInvalidArgs, rv.Type())
	}
}

func (n *normalizer) list(rv reflect.Value, depth int) (value, error) {
	buf := []byte{'l', '['}
	for i := range rv.Len() {
		e, err := n.value(rv.Index(i), depth+1)
		if err != nil {
			return value{}, err
		}
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = e.appendCanonical(buf)
	}
	return value{kind: valueOther, s: string(append(buf, ']'))}, nil
}

func (n *normalizer) mapValue(rv reflect.Value, depth int) (value, error) {
	entries := make([]string, 0, rv.Len())
	it := rv.MapRange()
	for it.Next() {
		k, err := n.value(it.Key(), depth+1)
		if err != nil {
			return value{}, err
		}
		v, err := n.value(it.Value(), depth+1)
		if err != nil {
			return value{}, err
		}
		e := k.appendCanonical(nil)
		e = append(e, '=')
		entries = append(entries, string(v.appendCanonical(e)))
	}
	slices.Sort(entries)
	buf := []byte{'m', '{'}
	for i, e := range entries {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, e...)
	}
	return value{kind: valueOther, s: string(append(buf, '}'))}, nil
}

// structValue encodes the exported fields of a struct, in declaration order.
func (n *normalizer) structValue(rv reflect.Value, depth int) (value, error) {
	t := rv.Type()
	buf := []byte{'r', '{'}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		v, err := n.value(rv.Field(i), depth+1)
		if err != nil {
			return value{}, err
		}
		if len(buf) > 2 {
			buf = append(buf, ',')
		}
		buf = append(buf, f.Name...)
		buf = append(buf, '=')
		buf = v.appendCanonical(buf)
	}
	return value{kind: valueOther, s: string(append(buf, '}'))}, nil
}

// appendCanonical appends an unambiguous text form of v: equal values have equal forms.
func (a value) appendCanonical(buf []byte) []byte {
	switch a.kind {
	case valueVoid:
		return append(buf, 'v')
	case valueBool:
		return strconv.AppendBool(append(buf, 'b'), a.b)
	case valueInt:
		return strconv.AppendInt(append(buf, 'i'), a.i, 10)
	case valueUint:
		return strconv.AppendUint(append(buf, 'i'), a.u, 10)
	case valueFloat:
		return strconv.AppendFloat(append(buf, 'f'), a.f, 'g', -1, 64)
	case valueString:
		return strconv.AppendQuote(append(buf, 's'), a.s)
	case valueBinary:
		return strconv.AppendQuote(append(buf, 'x'), a.s)
	case valueOther:
		return append(append(buf, 'o'), a.s...)
	default:
		return append(buf, '?')
	}
}

// canonicalArgs returns the identity of a binding's arguments: the arguments sorted by key, each
// value normalised. Nil and empty arguments both give "".
func canonicalArgs(args map[string]any) (string, error) {
	if len(args) == 0 {
		return "", nil
	}
	keys := make([]string, 0, len(args))
	for k := range args {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var buf []byte
	for _, k := range keys {
		v, err := normalize(args[k])
		if err != nil {
			return "", fmt.Errorf("argument %q: %w", k, err)
		}
		buf = strconv.AppendQuote(buf, k)
		buf = append(buf, '=')
		buf = v.appendCanonical(buf)
		buf = append(buf, ';')
	}
	return string(buf), nil
}
