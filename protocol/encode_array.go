package protocol

import (
	"encoding/binary"
	"fmt"
	"math"
	"time"
	"unicode/utf8"
)

// Arrays (spec 1.6.24, 1.2): a size, a count, ONE element constructor (for
// arrays of described types: 0x00, the descriptor, then the element code) and
// the element payloads without constructors. All elements therefore share the
// widest encoding any of them needs; this encoder never uses the zero-width
// element codes (true/false, uint0, ulong0, list0) except for arrays of null.

func beginArray(b []byte) ([]byte, int) {
	mark := len(b)
	return append(b, TypeArray32, 0, 0, 0, 0, 0, 0, 0, 0), mark
}

// endArray patches the header written by beginArray, shrinking to array8 when
// size and count fit in a byte.
func endArray(b []byte, mark, count int) []byte {
	return endCompound(b, mark, count, TypeArray8, TypeArray32)
}

// appendArray encodes v when it is a typed slice or an Array; ok reports
// whether v is one of those. compact=false keeps the array32 form.
func appendArray(b []byte, v any, depth int, compact bool) (out []byte, ok bool, err error) {
	start := len(b)
	b, mark := beginArray(b)
	b, n, ok, err := appendArrayContent(b, v, nil, depth)
	if !ok {
		return b[:start], false, nil
	}
	if err == nil {
		err = checkDepth(depth)
	}
	if err == nil {
		err = checkLen(n)
	}
	if err != nil {
		return b[:start], true, err
	}
	if compact {
		return endArray(b, mark, n), true, nil
	}
	return endCompound32(b, mark, n, TypeArray32), true, nil
}

// appendArrayContent writes the element constructor (prefixed by desc when it
// is non-nil) and the element payloads of v; n is the element count.
func appendArrayContent(b []byte, v any, desc any, depth int) (out []byte, n int, ok bool, err error) {
	switch x := v.(type) {
	case []bool:
		b, err = appendElems(b, desc, TypeBool, x, putBool)
		return b, len(x), true, err
	case []uint16:
		b, err = appendElems(b, desc, TypeUshort, x, putU16)
		return b, len(x), true, err
	case []uint32:
		if fitsSmall(x, func(v uint32) bool { return v <= math.MaxUint8 }) {
			b, err = appendElems(b, desc, TypeSmallUint, x, putU32Small)
		} else {
			b, err = appendElems(b, desc, TypeUint, x, putU32)
		}
		return b, len(x), true, err
	case []uint64:
		if fitsSmall(x, func(v uint64) bool { return v <= math.MaxUint8 }) {
			b, err = appendElems(b, desc, TypeSmallUlong, x, putU64Small)
		} else {
			b, err = appendElems(b, desc, TypeUlong, x, putU64)
		}
		return b, len(x), true, err
	case []int8:
		b, err = appendElems(b, desc, TypeByte, x, putI8)
		return b, len(x), true, err
	case []int16:
		b, err = appendElems(b, desc, TypeShort, x, putI16)
		return b, len(x), true, err
	case []int32:
		if fitsSmall(x, func(v int32) bool { return v >= math.MinInt8 && v <= math.MaxInt8 }) {
			b, err = appendElems(b, desc, TypeSmallInt, x, putI32Small)
		} else {
			b, err = appendElems(b, desc, TypeInt, x, putI32)
		}
		return b, len(x), true, err
	case []int64:
		if fitsSmall(x, func(v int64) bool { return v >= math.MinInt8 && v <= math.MaxInt8 }) {
			b, err = appendElems(b, desc, TypeSmallLong, x, putI64Small)
		} else {
			b, err = appendElems(b, desc, TypeLong, x, putI64)
		}
		return b, len(x), true, err
	case []float32:
		b, err = appendElems(b, desc, TypeFloat, x, putF32)
		return b, len(x), true, err
	case []float64:
		b, err = appendElems(b, desc, TypeDouble, x, putF64)
		return b, len(x), true, err
	case []Decimal32:
		b, err = appendElems(b, desc, TypeDecimal32, x, putD32)
		return b, len(x), true, err
	case []Decimal64:
		b, err = appendElems(b, desc, TypeDecimal64, x, putD64)
		return b, len(x), true, err
	case []Decimal128:
		b, err = appendElems(b, desc, TypeDecimal128, x, putD128)
		return b, len(x), true, err
	case []Char:
		for _, c := range x {
			if !utf8.ValidRune(rune(c)) {
				return b, 0, true, &EncodeError{Msg: fmt.Sprintf("invalid char code point %#x", uint32(c))}
			}
		}
		b, err = appendElems(b, desc, TypeChar, x, putChar)
		return b, len(x), true, err
	case []time.Time:
		b, err = appendElems(b, desc, TypeTimestamp, x, putTime)
		return b, len(x), true, err
	case []UUID:
		b, err = appendElems(b, desc, TypeUUID, x, putUUID)
		return b, len(x), true, err
	case [][]byte:
		for _, e := range x {
			if err := checkLen(len(e)); err != nil {
				return b, 0, true, err
			}
		}
		if fitsSmall(x, func(v []byte) bool { return len(v) <= math.MaxUint8 }) {
			b, err = appendElems(b, desc, TypeVbin8, x, putVar8[[]byte])
		} else {
			b, err = appendElems(b, desc, TypeVbin32, x, putVar32[[]byte])
		}
		return b, len(x), true, err
	case []string:
		for _, e := range x {
			if err := checkString(e); err != nil {
				return b, 0, true, err
			}
		}
		if fitsSmall(x, func(v string) bool { return len(v) <= math.MaxUint8 }) {
			b, err = appendElems(b, desc, TypeStr8, x, putVar8[string])
		} else {
			b, err = appendElems(b, desc, TypeStr32, x, putVar32[string])
		}
		return b, len(x), true, err
	case []Symbol:
		for _, e := range x {
			if err := checkSymbol(e); err != nil {
				return b, 0, true, err
			}
		}
		if fitsSmall(x, func(v Symbol) bool { return len(v) <= math.MaxUint8 }) {
			b, err = appendElems(b, desc, TypeSym8, x, putVar8[Symbol])
		} else {
			b, err = appendElems(b, desc, TypeSym32, x, putVar32[Symbol])
		}
		return b, len(x), true, err
	case Array:
		if desc != nil {
			return b, 0, true, &EncodeError{Msg: "array element constructor with two descriptors"}
		}
		b, err = appendGenericArray(b, x, depth)
		return b, len(x.Elems), true, err
	}
	return b, 0, false, nil
}

// appendGenericArray writes the constructor and elements of an Array.
func appendGenericArray(b []byte, a Array, depth int) ([]byte, error) {
	var err error
	switch a.Code {
	case TypeNull:
		for i, e := range a.Elems {
			if e != nil {
				return b, elemTypeError(i, e, nil)
			}
		}
		return appendCtor(b, a.Descriptor, TypeNull)
	case TypeUbyte:
		elems, err := convertElems[uint8](a.Elems)
		if err != nil {
			return b, err
		}
		return appendElems(b, a.Descriptor, TypeUbyte, elems, putU8)
	case TypeList0, TypeList8, TypeList32, TypeMap8, TypeMap32, TypeArray8, TypeArray32:
		return appendCompoundElems(b, a, depth)
	}
	typed, err := typedElems(a.Code, a.Elems)
	if err != nil {
		return b, err
	}
	b, _, _, err = appendArrayContent(b, typed, a.Descriptor, depth)
	return b, err
}

// appendCompoundElems writes list, map or array elements of an Array, all in
// their 32-bit form (one constructor serves every element).
func appendCompoundElems(b []byte, a Array, depth int) ([]byte, error) {
	ctor := TypeArray32
	switch a.Code {
	case TypeList0, TypeList8, TypeList32:
		ctor = TypeList32
	case TypeMap8, TypeMap32:
		ctor = TypeMap32
	}
	b, err := appendCtor(b, a.Descriptor, ctor)
	if err != nil {
		return b, err
	}
	for i, e := range a.Elems {
		at := len(b)
		switch ctor {
		case TypeList32:
			l, ok := e.([]any)
			if !ok {
				return b, elemTypeError(i, e, l)
			}
			b, err = appendList(b, l, depth+1, false)
		case TypeMap32:
			m, ok := e.(Map)
			if !ok {
				return b, elemTypeError(i, e, m)
			}
			b, err = appendMap(b, m, depth+1, false)
		default:
			var isArray bool
			b, isArray, err = appendArray(b, e, depth+1, false)
			if !isArray {
				return b, elemTypeError(i, e, Array{})
			}
		}
		if err != nil {
			return b, err
		}
		// Drop the element's own constructor: the array's constructor covers it.
		copy(b[at:], b[at+1:])
		b = b[:len(b)-1]
	}
	return b, nil
}

// typedElems converts the elements of a generic Array to the typed slice of
// its element type family.
func typedElems(code byte, elems []any) (any, error) {
	switch code {
	case TypeBool, TypeBoolTrue, TypeBoolFalse:
		return convertElems[bool](elems)
	case TypeUshort:
		return convertElems[uint16](elems)
	case TypeUint0, TypeSmallUint, TypeUint:
		return convertElems[uint32](elems)
	case TypeUlong0, TypeSmallUlong, TypeUlong:
		return convertElems[uint64](elems)
	case TypeByte:
		return convertElems[int8](elems)
	case TypeShort:
		return convertElems[int16](elems)
	case TypeSmallInt, TypeInt:
		return convertElems[int32](elems)
	case TypeSmallLong, TypeLong:
		return convertElems[int64](elems)
	case TypeFloat:
		return convertElems[float32](elems)
	case TypeDouble:
		return convertElems[float64](elems)
	case TypeDecimal32:
		return convertElems[Decimal32](elems)
	case TypeDecimal64:
		return convertElems[Decimal64](elems)
	case TypeDecimal128:
		return convertElems[Decimal128](elems)
	case TypeChar:
		return convertElems[Char](elems)
	case TypeTimestamp:
		return convertElems[time.Time](elems)
	case TypeUUID:
		return convertElems[UUID](elems)
	case TypeVbin8, TypeVbin32:
		return convertElems[[]byte](elems)
	case TypeStr8, TypeStr32:
		return convertElems[string](elems)
	case TypeSym8, TypeSym32:
		return convertElems[Symbol](elems)
	}
	return nil, &EncodeError{Msg: fmt.Sprintf("invalid array element constructor %#02x", code)}
}

func convertElems[T any](elems []any) ([]T, error) {
	out := make([]T, len(elems))
	for i, e := range elems {
		v, ok := e.(T)
		if !ok {
			var want T
			return nil, elemTypeError(i, e, want)
		}
		out[i] = v
	}
	return out, nil
}

func elemTypeError(i int, got, want any) error {
	return &EncodeError{Msg: fmt.Sprintf("array element %d is %T, want %T", i, got, want)}
}

func fitsSmall[T any](elems []T, small func(T) bool) bool {
	for _, e := range elems {
		if !small(e) {
			return false
		}
	}
	return true
}

// appendCtor writes an array's element constructor, with its descriptor first
// when desc is non-nil.
func appendCtor(b []byte, desc any, code byte) ([]byte, error) {
	if desc != nil {
		var err error
		if b, err = appendDescriptorValue(b, desc); err != nil {
			return b, err
		}
	}
	return append(b, code), nil
}

func appendElems[T any](b []byte, desc any, code byte, elems []T, put func([]byte, T) []byte) ([]byte, error) {
	b, err := appendCtor(b, desc, code)
	if err != nil {
		return b, err
	}
	for _, e := range elems {
		b = put(b, e)
	}
	return b, nil
}

// Element payload writers (no constructor).

func putBool(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}
func putU8(b []byte, v uint8) []byte        { return append(b, v) }
func putU16(b []byte, v uint16) []byte      { return binary.BigEndian.AppendUint16(b, v) }
func putU32(b []byte, v uint32) []byte      { return binary.BigEndian.AppendUint32(b, v) }
func putU32Small(b []byte, v uint32) []byte { return append(b, byte(v)) }
func putU64(b []byte, v uint64) []byte      { return binary.BigEndian.AppendUint64(b, v) }
func putU64Small(b []byte, v uint64) []byte { return append(b, byte(v)) }
func putI8(b []byte, v int8) []byte         { return append(b, byte(v)) }
func putI16(b []byte, v int16) []byte       { return binary.BigEndian.AppendUint16(b, uint16(v)) }
func putI32(b []byte, v int32) []byte       { return binary.BigEndian.AppendUint32(b, uint32(v)) }
func putI32Small(b []byte, v int32) []byte  { return append(b, byte(int8(v))) }
func putI64(b []byte, v int64) []byte       { return binary.BigEndian.AppendUint64(b, uint64(v)) }
func putI64Small(b []byte, v int64) []byte  { return append(b, byte(int8(v))) }
func putF32(b []byte, v float32) []byte     { return binary.BigEndian.AppendUint32(b, math.Float32bits(v)) }
func putF64(b []byte, v float64) []byte     { return binary.BigEndian.AppendUint64(b, math.Float64bits(v)) }
func putD32(b []byte, v Decimal32) []byte   { return append(b, v[:]...) }
func putD64(b []byte, v Decimal64) []byte   { return append(b, v[:]...) }
func putD128(b []byte, v Decimal128) []byte { return append(b, v[:]...) }
func putChar(b []byte, v Char) []byte       { return binary.BigEndian.AppendUint32(b, uint32(v)) }
func putTime(b []byte, v time.Time) []byte {
	return binary.BigEndian.AppendUint64(b, uint64(v.UnixMilli()))
}
func putUUID(b []byte, v UUID) []byte { return append(b, v[:]...) }

func putVar8[T ~string | ~[]byte](b []byte, v T) []byte {
	return append(append(b, byte(len(v))), v...)
}

func putVar32[T ~string | ~[]byte](b []byte, v T) []byte {
	return append(binary.BigEndian.AppendUint32(b, uint32(len(v))), v...)
}
