package protocol

import (
	"encoding/binary"
	"fmt"
	"math"
	"time"
	"unicode/utf8"
)

// Encoders append one AMQP-encoded value to b and return the extended slice.
// They always pick the narrowest encoding of the type (spec 1.2) and never
// allocate except to grow b. The typed Append* functions trust their input:
// AppendString expects valid UTF-8, AppendSymbol ASCII, AppendChar a valid code
// point and variable-width values shorter than 4 GiB; AppendAny checks all of it.

// AppendNull appends null (0x40).
func AppendNull(b []byte) []byte { return append(b, TypeNull) }

// AppendBool appends a boolean as 0x41 (true) or 0x42 (false).
func AppendBool(b []byte, v bool) []byte {
	if v {
		return append(b, TypeBoolTrue)
	}
	return append(b, TypeBoolFalse)
}

// AppendUbyte appends a ubyte (0x50).
func AppendUbyte(b []byte, v uint8) []byte { return append(b, TypeUbyte, v) }

// AppendUshort appends a ushort (0x60).
func AppendUshort(b []byte, v uint16) []byte {
	return binary.BigEndian.AppendUint16(append(b, TypeUshort), v)
}

// AppendUint appends a uint as uint0 (0x43), smalluint (0x52) or uint (0x70).
func AppendUint(b []byte, v uint32) []byte {
	switch {
	case v == 0:
		return append(b, TypeUint0)
	case v <= math.MaxUint8:
		return append(b, TypeSmallUint, byte(v))
	}
	return binary.BigEndian.AppendUint32(append(b, TypeUint), v)
}

// AppendUlong appends a ulong as ulong0 (0x44), smallulong (0x53) or ulong (0x80).
func AppendUlong(b []byte, v uint64) []byte {
	switch {
	case v == 0:
		return append(b, TypeUlong0)
	case v <= math.MaxUint8:
		return append(b, TypeSmallUlong, byte(v))
	}
	return binary.BigEndian.AppendUint64(append(b, TypeUlong), v)
}

// AppendByte appends a byte (signed, 0x51).
func AppendByte(b []byte, v int8) []byte { return append(b, TypeByte, byte(v)) }

// AppendShort appends a short (0x61).
func AppendShort(b []byte, v int16) []byte {
	return binary.BigEndian.AppendUint16(append(b, TypeShort), uint16(v))
}

// AppendInt appends an int as smallint (0x54) when it fits in a signed byte, else int (0x71).
func AppendInt(b []byte, v int32) []byte {
	if v >= math.MinInt8 && v <= math.MaxInt8 {
		return append(b, TypeSmallInt, byte(int8(v)))
	}
	return binary.BigEndian.AppendUint32(append(b, TypeInt), uint32(v))
}

// AppendLong appends a long as smalllong (0x55) when it fits in a signed byte, else long (0x81).
func AppendLong(b []byte, v int64) []byte {
	if v >= math.MinInt8 && v <= math.MaxInt8 {
		return append(b, TypeSmallLong, byte(int8(v)))
	}
	return binary.BigEndian.AppendUint64(append(b, TypeLong), uint64(v))
}

// AppendFloat appends an IEEE 754 binary32 float (0x72).
func AppendFloat(b []byte, v float32) []byte {
	return binary.BigEndian.AppendUint32(append(b, TypeFloat), math.Float32bits(v))
}

// AppendDouble appends an IEEE 754 binary64 double (0x82).
func AppendDouble(b []byte, v float64) []byte {
	return binary.BigEndian.AppendUint64(append(b, TypeDouble), math.Float64bits(v))
}

// AppendDecimal32 appends a decimal32 (0x74).
func AppendDecimal32(b []byte, v Decimal32) []byte { return append(append(b, TypeDecimal32), v[:]...) }

// AppendDecimal64 appends a decimal64 (0x84).
func AppendDecimal64(b []byte, v Decimal64) []byte { return append(append(b, TypeDecimal64), v[:]...) }

// AppendDecimal128 appends a decimal128 (0x94).
func AppendDecimal128(b []byte, v Decimal128) []byte {
	return append(append(b, TypeDecimal128), v[:]...)
}

// AppendChar appends a char as UTF-32BE (0x73).
func AppendChar(b []byte, v Char) []byte {
	return binary.BigEndian.AppendUint32(append(b, TypeChar), uint32(v))
}

// AppendTimestamp appends a timestamp: signed milliseconds since the Unix epoch (0x83, spec 1.6.17).
// Sub-millisecond precision is truncated.
func AppendTimestamp(b []byte, v time.Time) []byte {
	return binary.BigEndian.AppendUint64(append(b, TypeTimestamp), uint64(v.UnixMilli()))
}

// AppendUUID appends a uuid (0x98).
func AppendUUID(b []byte, v UUID) []byte { return append(append(b, TypeUUID), v[:]...) }

// AppendBinary appends binary data as vbin8 (0xa0) or vbin32 (0xb0).
func AppendBinary(b []byte, v []byte) []byte {
	if len(v) <= math.MaxUint8 {
		return append(append(b, TypeVbin8, byte(len(v))), v...)
	}
	b = binary.BigEndian.AppendUint32(append(b, TypeVbin32), uint32(len(v)))
	return append(b, v...)
}

// AppendString appends a UTF-8 string as str8 (0xa1) or str32 (0xb1).
func AppendString(b []byte, v string) []byte {
	if len(v) <= math.MaxUint8 {
		return append(append(b, TypeStr8, byte(len(v))), v...)
	}
	b = binary.BigEndian.AppendUint32(append(b, TypeStr32), uint32(len(v)))
	return append(b, v...)
}

// AppendSymbol appends an ASCII symbol as sym8 (0xa3) or sym32 (0xb3).
func AppendSymbol(b []byte, v Symbol) []byte {
	if len(v) <= math.MaxUint8 {
		return append(append(b, TypeSym8, byte(len(v))), v...)
	}
	b = binary.BigEndian.AppendUint32(append(b, TypeSym32), uint32(len(v)))
	return append(b, v...)
}

// AppendSymbolArray appends v as an array of symbols, always as an array (also
// for zero or one element), as used by multiple="true" symbol fields (spec 1.3).
func AppendSymbolArray(b []byte, v []Symbol) []byte {
	b, mark := beginArray(b)
	ctor := TypeSym8
	for _, s := range v {
		if len(s) > math.MaxUint8 {
			ctor = TypeSym32
			break
		}
	}
	b = append(b, ctor)
	for _, s := range v {
		if ctor == TypeSym8 {
			b = append(b, byte(len(s)))
		} else {
			b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
		}
		b = append(b, s...)
	}
	return endArray(b, mark, len(v))
}

// AppendDescriptor appends the descriptor constructor 0x00 followed by a numeric
// descriptor as smallulong (0x53) or ulong (0x80) (spec 1.2).
func AppendDescriptor(b []byte, code uint64) []byte {
	if code <= math.MaxUint8 {
		return append(b, TypeDescribed, TypeSmallUlong, byte(code))
	}
	return binary.BigEndian.AppendUint64(append(b, TypeDescribed, TypeUlong), code)
}

// AppendSymbolDescriptor appends the descriptor constructor 0x00 followed by a
// symbolic descriptor such as "amqp:open:list".
func AppendSymbolDescriptor(b []byte, name Symbol) []byte {
	return AppendSymbol(append(b, TypeDescribed), name)
}

// compoundHeader32 is the size of a list32/map32/array32 header:
// constructor, 4-byte size, 4-byte count.
const compoundHeader32 = 9

// BeginList appends a list32 header placeholder; mark is its position. Append
// exactly count values, then call EndList(b, mark, count).
func BeginList(b []byte) (out []byte, mark int) {
	mark = len(b)
	return append(b, TypeList32, 0, 0, 0, 0, 0, 0, 0, 0), mark
}

// EndList patches the list header written by BeginList for count elements. It
// shrinks the encoding to list0 when the list is empty and to list8 when size
// and count fit in one byte, moving the elements 6 bytes back.
func EndList(b []byte, mark int, count int) []byte {
	if count == 0 && len(b) == mark+compoundHeader32 {
		b[mark] = TypeList0
		return b[:mark+1]
	}
	return endCompound(b, mark, count, TypeList8, TypeList32)
}

// BeginMap appends a map32 header placeholder; mark is its position. Append
// keys and values alternately, then call EndMap(b, mark, count).
func BeginMap(b []byte) (out []byte, mark int) {
	mark = len(b)
	return append(b, TypeMap32, 0, 0, 0, 0, 0, 0, 0, 0), mark
}

// EndMap patches the map header written by BeginMap; count is the number of
// keys plus values (spec 1.6.23: always even). It shrinks to map8 when possible.
func EndMap(b []byte, mark int, count int) []byte {
	return endCompound(b, mark, count, TypeMap8, TypeMap32)
}

// endCompound patches a 9-byte list32/map32/array32 header at mark, or
// rewrites it as the 8-bit form (3-byte header) when size and count fit.
// The size field counts the bytes after itself: the count field plus content.
func endCompound(b []byte, mark, count int, code8, code32 byte) []byte {
	content := len(b) - mark - compoundHeader32
	if count <= math.MaxUint8 && content+1 <= math.MaxUint8 {
		b[mark] = code8
		b[mark+1] = byte(content + 1)
		b[mark+2] = byte(count)
		copy(b[mark+3:], b[mark+compoundHeader32:])
		return b[:len(b)-(compoundHeader32-3)]
	}
	return endCompound32(b, mark, count, code32)
}

// endCompound32 patches a 9-byte header at mark, keeping the 32-bit form.
func endCompound32(b []byte, mark, count int, code32 byte) []byte {
	content := len(b) - mark - compoundHeader32
	b[mark] = code32
	binary.BigEndian.PutUint32(b[mark+1:], uint32(content+4))
	binary.BigEndian.PutUint32(b[mark+5:], uint32(count))
	return b
}

// AppendList appends l as a list; see AppendAny for the accepted element types.
func AppendList(b []byte, l []any) ([]byte, error) {
	out, err := appendList(b, l, 1, true)
	if err != nil {
		return b, err
	}
	return out, nil
}

// AppendMap appends m as a map; see AppendAny for the accepted key and value types.
func AppendMap(b []byte, m Map) ([]byte, error) {
	out, err := appendMap(b, m, 1, true)
	if err != nil {
		return b, err
	}
	return out, nil
}

// AppendAny appends the Go value v using the mapping in the package
// documentation. It also accepts int (as long), uint (as ulong), Described by
// value, and any value with an Append([]byte) ([]byte, error) method (the
// composite types). Unsupported types, invalid UTF-8 strings, non-ASCII symbols,
// invalid chars and nesting deeper than MaxNestingDepth are an *EncodeError;
// on error b is returned unchanged.
func AppendAny(b []byte, v any) ([]byte, error) {
	out, err := appendAny(b, v, 0)
	if err != nil {
		return b, err
	}
	return out, nil
}

// appendAny encodes v; depth is the nesting depth of the enclosing compound.
func appendAny(b []byte, v any, depth int) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return AppendNull(b), nil
	case bool:
		return AppendBool(b, x), nil
	case uint8:
		return AppendUbyte(b, x), nil
	case uint16:
		return AppendUshort(b, x), nil
	case uint32:
		return AppendUint(b, x), nil
	case uint64:
		return AppendUlong(b, x), nil
	case uint:
		return AppendUlong(b, uint64(x)), nil
	case int8:
		return AppendByte(b, x), nil
	case int16:
		return AppendShort(b, x), nil
	case int32:
		return AppendInt(b, x), nil
	case int64:
		return AppendLong(b, x), nil
	case int:
		return AppendLong(b, int64(x)), nil
	case float32:
		return AppendFloat(b, x), nil
	case float64:
		return AppendDouble(b, x), nil
	case Decimal32:
		return AppendDecimal32(b, x), nil
	case Decimal64:
		return AppendDecimal64(b, x), nil
	case Decimal128:
		return AppendDecimal128(b, x), nil
	case Char:
		if !utf8.ValidRune(rune(x)) {
			return b, &EncodeError{Msg: fmt.Sprintf("invalid char code point %#x", uint32(x))}
		}
		return AppendChar(b, x), nil
	case time.Time:
		return AppendTimestamp(b, x), nil
	case UUID:
		return AppendUUID(b, x), nil
	case []byte:
		if err := checkLen(len(x)); err != nil {
			return b, err
		}
		return AppendBinary(b, x), nil
	case string:
		if err := checkString(x); err != nil {
			return b, err
		}
		return AppendString(b, x), nil
	case Symbol:
		if err := checkSymbol(x); err != nil {
			return b, err
		}
		return AppendSymbol(b, x), nil
	case []any:
		return appendList(b, x, depth+1, true)
	case Map:
		return appendMap(b, x, depth+1, true)
	case *Described:
		if x == nil {
			return b, &EncodeError{Msg: "nil *Described"}
		}
		return appendDescribed(b, x, depth+1)
	case Described:
		return appendDescribed(b, &x, depth+1)
	case interface{ Append([]byte) ([]byte, error) }:
		return x.Append(b)
	}
	if out, ok, err := appendArray(b, v, depth+1, true); ok {
		return out, err
	}
	return b, &EncodeError{Msg: fmt.Sprintf("unsupported Go type %T", v)}
}

func checkLen(n int) error {
	if uint64(n) > math.MaxUint32 {
		return &EncodeError{Msg: "value longer than 4 GiB"}
	}
	return nil
}

func checkString(s string) error {
	if !utf8.ValidString(s) {
		return &EncodeError{Msg: "string is not valid UTF-8"}
	}
	return checkLen(len(s))
}

func checkSymbol(s Symbol) error {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return &EncodeError{Msg: "symbol is not ASCII"}
		}
	}
	return checkLen(len(s))
}

func checkDepth(depth int) error {
	if depth > MaxNestingDepth {
		return &EncodeError{Msg: "value nested deeper than MaxNestingDepth"}
	}
	return nil
}

// appendList encodes l at the given depth; compact=false keeps the list32 form
// (needed for array elements, which share one constructor).
func appendList(b []byte, l []any, depth int, compact bool) ([]byte, error) {
	if err := checkDepth(depth); err != nil {
		return b, err
	}
	if err := checkLen(len(l)); err != nil {
		return b, err
	}
	b, mark := BeginList(b)
	var err error
	for _, e := range l {
		if b, err = appendAny(b, e, depth); err != nil {
			return b[:mark], err
		}
	}
	if !compact {
		return endCompound32(b, mark, len(l), TypeList32), nil
	}
	return EndList(b, mark, len(l)), nil
}

// appendMap encodes m at the given depth; compact=false keeps the map32 form.
func appendMap(b []byte, m Map, depth int, compact bool) ([]byte, error) {
	if err := checkDepth(depth); err != nil {
		return b, err
	}
	if err := checkLen(2 * len(m)); err != nil {
		return b, err
	}
	b, mark := BeginMap(b)
	var err error
	for _, e := range m {
		if b, err = appendAny(b, e.Key, depth); err != nil {
			return b[:mark], err
		}
		if b, err = appendAny(b, e.Value, depth); err != nil {
			return b[:mark], err
		}
	}
	if !compact {
		return endCompound32(b, mark, 2*len(m), TypeMap32), nil
	}
	return EndMap(b, mark, 2*len(m)), nil
}

// appendDescribed encodes a described value (spec 1.2): 0x00, descriptor, value.
func appendDescribed(b []byte, d *Described, depth int) ([]byte, error) {
	if err := checkDepth(depth); err != nil {
		return b, err
	}
	start := len(b)
	b, err := appendDescriptorValue(b, d.Descriptor)
	if err != nil {
		return b[:start], err
	}
	if b, err = appendAny(b, d.Value, depth); err != nil {
		return b[:start], err
	}
	return b, nil
}

// appendDescriptorValue writes 0x00 and a descriptor, which must be a uint64
// code or a Symbol name (spec 1.5: the domain descriptors we support).
func appendDescriptorValue(b []byte, desc any) ([]byte, error) {
	switch x := desc.(type) {
	case uint64:
		return AppendDescriptor(b, x), nil
	case Symbol:
		if err := checkSymbol(x); err != nil {
			return b, err
		}
		return AppendSymbolDescriptor(b, x), nil
	}
	return b, &EncodeError{Msg: fmt.Sprintf("descriptor must be uint64 or Symbol, not %T", desc)}
}
