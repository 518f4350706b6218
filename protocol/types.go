package protocol

import (
	"bytes"
	"time"
)

// Go representation of the AMQP primitive types:
//
//	null→nil, boolean→bool, ubyte→uint8, ushort→uint16, uint→uint32, ulong→uint64,
//	byte→int8, short→int16, int→int32, long→int64, float→float32, double→float64,
//	decimal32/64/128→Decimal32/Decimal64/Decimal128 (raw bytes), char→Char,
//	timestamp→time.Time (UTC, millisecond precision), uuid→UUID, binary→[]byte,
//	string→string, symbol→Symbol, list→[]any, map→Map, described→*Described.
//
// Arrays decode to a typed slice when the element type has one ([]bool, []uint16,
// []uint32, []uint64, []int8, []int16, []int32, []int64, []float32, []float64,
// []Decimal32, []Decimal64, []Decimal128, []Char, []time.Time, []UUID, [][]byte,
// []string, []Symbol) and to Array otherwise (arrays of null, ubyte, list, map,
// array, and arrays of described types). All of those typed slices, and Array,
// encode as AMQP arrays.

// Symbol is an AMQP symbol: a string of ASCII characters (spec 1.6.21).
type Symbol string

// Char is an AMQP char: a single Unicode code point, UTF-32BE on the wire (spec 1.6.16).
type Char rune

// UUID is an AMQP uuid in RFC 4122 byte order (spec 1.6.18).
type UUID [16]byte

// Decimal32 holds the raw IEEE 754 decimal32 bytes, big-endian (spec 1.6.13).
type Decimal32 [4]byte

// Decimal64 holds the raw IEEE 754 decimal64 bytes, big-endian (spec 1.6.14).
type Decimal64 [8]byte

// Decimal128 holds the raw IEEE 754 decimal128 bytes, big-endian (spec 1.6.15).
type Decimal128 [16]byte

// Described is a described type (spec 1.2): a descriptor (uint64 or Symbol)
// followed by the described value.
type Described struct {
	Descriptor any // uint64 or Symbol
	Value      any
}

// MapEntry is one key/value pair of a Map.
type MapEntry struct {
	Key, Value any
}

// Map is an AMQP map (spec 1.6.23) as an order-preserving list of entries, so
// any AMQP value can be a key and re-encoding keeps the original order.
type Map []MapEntry

// Get returns the value stored under key. Keys are compared by AMQP type and
// value: Symbol("a") and "a" are different keys; []byte keys compare by content.
func (m Map) Get(key any) (any, bool) {
	for _, e := range m {
		if keyEqual(e.Key, key) {
			return e.Value, true
		}
	}
	return nil, false
}

// Set replaces the value stored under key, or appends a new entry.
func (m *Map) Set(key, value any) {
	for i := range *m {
		if keyEqual((*m)[i].Key, key) {
			(*m)[i].Value = value
			return
		}
	}
	*m = append(*m, MapEntry{Key: key, Value: value})
}

// Array is a decoded AMQP array (spec 1.6.24) whose element type has no typed
// Go slice: arrays of null, ubyte, list, map or array, and arrays of described
// types. Elements hold the Go representation of the element type (for arrays of
// described types, the underlying values without the descriptor).
type Array struct {
	Code       byte // element constructor code (after the descriptor, if described)
	Descriptor any  // non-nil for arrays of described types: uint64 or Symbol
	Elems      []any
}

// Constructor (format) codes, spec 1.6 (types.bare.xml).
const (
	TypeDescribed  byte = 0x00
	TypeNull       byte = 0x40
	TypeBoolTrue   byte = 0x41
	TypeBoolFalse  byte = 0x42
	TypeBool       byte = 0x56
	TypeUbyte      byte = 0x50
	TypeUshort     byte = 0x60
	TypeUint0      byte = 0x43
	TypeSmallUint  byte = 0x52
	TypeUint       byte = 0x70
	TypeUlong0     byte = 0x44
	TypeSmallUlong byte = 0x53
	TypeUlong      byte = 0x80
	TypeByte       byte = 0x51
	TypeShort      byte = 0x61
	TypeSmallInt   byte = 0x54
	TypeInt        byte = 0x71
	TypeSmallLong  byte = 0x55
	TypeLong       byte = 0x81
	TypeFloat      byte = 0x72
	TypeDouble     byte = 0x82
	TypeDecimal32  byte = 0x74
	TypeDecimal64  byte = 0x84
	TypeDecimal128 byte = 0x94
	TypeChar       byte = 0x73
	TypeTimestamp  byte = 0x83
	TypeUUID       byte = 0x98
	TypeVbin8      byte = 0xa0
	TypeVbin32     byte = 0xb0
	TypeStr8       byte = 0xa1
	TypeStr32      byte = 0xb1
	TypeSym8       byte = 0xa3
	TypeSym32      byte = 0xb3
	TypeList0      byte = 0x45
	TypeList8      byte = 0xc0
	TypeList32     byte = 0xd0
	TypeMap8       byte = 0xc1
	TypeMap32      byte = 0xd1
	TypeArray8     byte = 0xe0
	TypeArray32    byte = 0xf0
)

// fixedWidth returns the payload width of a fixed-width constructor and true,
// or 0 and false for variable, compound and array constructors and unknown codes.
func fixedWidth(code byte) (int, bool) {
	switch code {
	case TypeNull, TypeBoolTrue, TypeBoolFalse, TypeUint0, TypeUlong0, TypeList0:
		return 0, true
	case TypeBool, TypeUbyte, TypeByte, TypeSmallUint, TypeSmallUlong, TypeSmallInt, TypeSmallLong:
		return 1, true
	case TypeUshort, TypeShort:
		return 2, true
	case TypeUint, TypeInt, TypeFloat, TypeDecimal32, TypeChar:
		return 4, true
	case TypeUlong, TypeLong, TypeDouble, TypeDecimal64, TypeTimestamp:
		return 8, true
	case TypeDecimal128, TypeUUID:
		return 16, true
	}
	return 0, false
}

// keyEqual compares two map keys by AMQP type and value without ever
// comparing non-comparable dynamic types (which would panic).
func keyEqual(a, b any) bool {
	return keyEqualDepth(a, b, 0)
}

func keyEqualDepth(a, b any, depth int) bool {
	switch x := a.(type) {
	case nil:
		return b == nil
	case bool:
		y, ok := b.(bool)
		return ok && x == y
	case uint8:
		y, ok := b.(uint8)
		return ok && x == y
	case uint16:
		y, ok := b.(uint16)
		return ok && x == y
	case uint32:
		y, ok := b.(uint32)
		return ok && x == y
	case uint64:
		y, ok := b.(uint64)
		return ok && x == y
	case int8:
		y, ok := b.(int8)
		return ok && x == y
	case int16:
		y, ok := b.(int16)
		return ok && x == y
	case int32:
		y, ok := b.(int32)
		return ok && x == y
	case int64:
		y, ok := b.(int64)
		return ok && x == y
	case float32:
		y, ok := b.(float32)
		return ok && x == y
	case float64:
		y, ok := b.(float64)
		return ok && x == y
	case Decimal32:
		y, ok := b.(Decimal32)
		return ok && x == y
	case Decimal64:
		y, ok := b.(Decimal64)
		return ok && x == y
	case Decimal128:
		y, ok := b.(Decimal128)
		return ok && x == y
	case Char:
		y, ok := b.(Char)
		return ok && x == y
	case time.Time:
		y, ok := b.(time.Time)
		return ok && x.Equal(y)
	case UUID:
		y, ok := b.(UUID)
		return ok && x == y
	case []byte:
		y, ok := b.([]byte)
		return ok && bytes.Equal(x, y)
	case string:
		y, ok := b.(string)
		return ok && x == y
	case Symbol:
		y, ok := b.(Symbol)
		return ok && x == y
	case *Described:
		y, ok := b.(*Described)
		if !ok || x == nil || y == nil {
			return ok && x == y
		}
		return x == y || (depth < MaxNestingDepth &&
			keyEqualDepth(x.Descriptor, y.Descriptor, depth+1) && keyEqualDepth(x.Value, y.Value, depth+1))
	}
	return false
}
