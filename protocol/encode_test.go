package protocol

import (
	"bytes"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type encodingCase struct {
	name string
	v    any
	hex  string // expected encoding, worked out from types.bare.xml
}

func repeatHex(h string, n int) string { return strings.Repeat(h, n) }

func nulls(n int) []any { return make([]any, n) }

// encodingCases covers every primitive encoding and the width boundaries.
func encodingCases() []encodingCase {
	s255, s256 := strings.Repeat("x", 255), strings.Repeat("x", 256)
	return []encodingCase{
		{"null", nil, "40"},
		{"true", true, "41"},
		{"false", false, "42"},
		{"ubyte 0", uint8(0), "50 00"},
		{"ubyte max", uint8(255), "50 ff"},
		{"ushort 0", uint16(0), "60 0000"},
		{"ushort max", uint16(math.MaxUint16), "60 ffff"},
		{"uint 0 is uint0", uint32(0), "43"},
		{"uint 1 is smalluint", uint32(1), "52 01"},
		{"uint 255 is smalluint", uint32(255), "52 ff"},
		{"uint 256 is uint", uint32(256), "70 00000100"},
		{"uint max", uint32(math.MaxUint32), "70 ffffffff"},
		{"ulong 0 is ulong0", uint64(0), "44"},
		{"ulong 255 is smallulong", uint64(255), "53 ff"},
		{"ulong 256 is ulong", uint64(256), "80 0000000000000100"},
		{"ulong max", uint64(math.MaxUint64), "80 ffffffffffffffff"},
		{"uint as ulong", uint(3), "53 03"},
		{"byte min", int8(math.MinInt8), "51 80"},
		{"byte max", int8(math.MaxInt8), "51 7f"},
		{"short min", int16(math.MinInt16), "61 8000"},
		{"short -1", int16(-1), "61 ffff"},
		{"int 0 is smallint", int32(0), "54 00"},
		{"int -128 is smallint", int32(-128), "54 80"},
		{"int 127 is smallint", int32(127), "54 7f"},
		{"int 128 is int", int32(128), "71 00000080"},
		{"int -129 is int", int32(-129), "71 ffffff7f"},
		{"int min", int32(math.MinInt32), "71 80000000"},
		{"int max", int32(math.MaxInt32), "71 7fffffff"},
		{"long -1 is smalllong", int64(-1), "55 ff"},
		{"long 127 is smalllong", int64(127), "55 7f"},
		{"long 128 is long", int64(128), "81 0000000000000080"},
		{"long -129 is long", int64(-129), "81 ffffffffffffff7f"},
		{"long min", int64(math.MinInt64), "81 8000000000000000"},
		{"long max", int64(math.MaxInt64), "81 7fffffffffffffff"},
		{"int as long", 1000, "81 00000000000003e8"},
		{"float", float32(1.5), "72 3fc00000"},
		{"double", -2.25, "82 c002000000000000"},
		{"decimal32", Decimal32{1, 2, 3, 4}, "74 01020304"},
		{"decimal64", Decimal64{1, 2, 3, 4, 5, 6, 7, 8}, "84 0102030405060708"},
		{"decimal128", Decimal128{15: 9}, "94 00000000000000000000000000000009"},
		{"char ascii", Char('a'), "73 00000061"},
		{"char astral", Char(0x1f600), "73 0001f600"},
		{"timestamp epoch", time.UnixMilli(0), "83 0000000000000000"},
		{"timestamp before epoch", time.UnixMilli(-1), "83 ffffffffffffffff"},
		{"timestamp", time.UnixMilli(1311704463521), "83 0000013167adb8a1"},
		{"uuid", UUID{0: 0xde, 15: 0xad}, "98 de0000000000000000000000000000ad"},
		{"binary empty", []byte{}, "a0 00"},
		{"binary 255 is vbin8", bytes.Repeat([]byte{7}, 255), "a0 ff" + repeatHex("07", 255)},
		{"binary 256 is vbin32", bytes.Repeat([]byte{7}, 256), "b0 00000100" + repeatHex("07", 256)},
		{"string empty", "", "a1 00"},
		{"string utf8", "é", "a1 02 c3a9"},
		{"string 255 is str8", s255, "a1 ff" + repeatHex("78", 255)},
		{"string 256 is str32", s256, "b1 00000100" + repeatHex("78", 256)},
		{"symbol empty", Symbol(""), "a3 00"},
		{"symbol", Symbol("amqp"), "a3 04 616d7170"},
		{"symbol 255 is sym8", Symbol(s255), "a3 ff" + repeatHex("78", 255)},
		{"symbol 256 is sym32", Symbol(s256), "b3 00000100" + repeatHex("78", 256)},
		{"list empty is list0", []any{}, "45"},
		{"list nil is list0", []any(nil), "45"},
		{"list one", []any{nil}, "c0 02 01 40"},
		{"list 254 nulls is list8 (size 255)", nulls(254), "c0 ff fe" + repeatHex("40", 254)},
		{"list 255 nulls is list32 (size 256)", nulls(255), "d0 00000103 000000ff" + repeatHex("40", 255)},
		{"list 256 nulls is list32", nulls(256), "d0 00000104 00000100" + repeatHex("40", 256)},
		{"list nested", []any{[]any{}, uint32(1)}, "c0 04 02 45 52 01"},
		{"map empty", Map{}, "c1 01 00"},
		{"map", Map{{Key: Symbol("a"), Value: uint32(1)}}, "c1 06 02 a3 01 61 52 01"},
		{"map 127 entries is map8 (size 255)", nullMap(127), "c1 ff fe" + repeatHex("40", 254)},
		{"map 128 entries is map32", nullMap(128), "d1 00000104 00000100" + repeatHex("40", 256)},
		{"described numeric", &Described{Descriptor: uint64(0x10), Value: []any{}}, "00 53 10 45"},
		{"described by value", Described{Descriptor: uint64(0x1_0000_0000), Value: nil}, "00 80 0000000100000000 40"},
		{"described symbolic", &Described{Descriptor: Symbol("a:b"), Value: "x"}, "00 a3 03 613a62 a1 01 78"},
		{"array of symbol empty", []Symbol{}, "e0 02 00 a3"},
		{"array of symbol", []Symbol{"a", "bc"}, "e0 07 02 a3 01 61 02 6263"},
		{"array of long symbol is sym32", []Symbol{Symbol(s256)}, "f0 00000109 00000001 b3 00000100" + repeatHex("78", 256)},
		{"array of bool", []bool{true, false}, "e0 04 02 56 01 00"},
		{"array of bool 253 is array8 (size 255)", make([]bool, 253), "e0 ff fd 56" + repeatHex("00", 253)},
		{"array of bool 254 is array32", make([]bool, 254), "f0 00000103 000000fe 56" + repeatHex("00", 254)},
		{"array of ushort", []uint16{1}, "e0 04 01 60 0001"},
		{"array of small uint", []uint32{0, 255}, "e0 04 02 52 00 ff"},
		{"array of uint", []uint32{1, 256}, "e0 0a 02 70 00000001 00000100"},
		{"array of small ulong", []uint64{5}, "e0 03 01 53 05"},
		{"array of ulong", []uint64{256}, "e0 0a 01 80 0000000000000100"},
		{"array of byte", []int8{-1}, "e0 03 01 51 ff"},
		{"array of short", []int16{-2}, "e0 04 01 61 fffe"},
		{"array of small int", []int32{-1, 127}, "e0 04 02 54 ff 7f"},
		{"array of int", []int32{128}, "e0 06 01 71 00000080"},
		{"array of small long", []int64{-128}, "e0 03 01 55 80"},
		{"array of long", []int64{-129}, "e0 0a 01 81 ffffffffffffff7f"},
		{"array of float", []float32{1.5}, "e0 06 01 72 3fc00000"},
		{"array of double", []float64{-2.25}, "e0 0a 01 82 c002000000000000"},
		{"array of decimal32", []Decimal32{{1}}, "e0 06 01 74 01000000"},
		{"array of decimal64", []Decimal64{{1}}, "e0 0a 01 84 0100000000000000"},
		{"array of decimal128", []Decimal128{{1}}, "e0 12 01 94 01000000000000000000000000000000"},
		{"array of char", []Char{'a'}, "e0 06 01 73 00000061"},
		{"array of timestamp", []time.Time{time.UnixMilli(1)}, "e0 0a 01 83 0000000000000001"},
		{"array of uuid", []UUID{{1}}, "e0 12 01 98 01000000000000000000000000000000"},
		{"array of binary", [][]byte{{1}, {}}, "e0 05 02 a0 01 01 00"},
		{"array of long binary", [][]byte{make([]byte, 256)}, "f0 00000109 00000001 b0 00000100" + repeatHex("00", 256)},
		{"array of string", []string{"ab"}, "e0 05 01 a1 02 6162"},
		{"array of null", Array{Code: TypeNull, Elems: nulls(3)}, "e0 02 03 40"},
		{"array of ubyte", Array{Code: TypeUbyte, Elems: []any{uint8(1), uint8(2)}}, "e0 04 02 50 01 02"},
		{"array of list", Array{Code: TypeList0, Elems: []any{[]any{}, []any{true}}},
			"e0 13 02 d0 00000004 00000000 00000005 00000001 41"},
		{"array of map", Array{Code: TypeMap8, Elems: []any{Map{}}}, "e0 0a 01 d1 00000004 00000000"},
		{"array of array", Array{Code: TypeArray8, Elems: []any{[]Symbol{"a"}, Array{Code: TypeSym8, Elems: []any{}}}},
			"e0 16 02 f0 00000007 00000001 a3 01 61 00000005 00000000 a3"},
		{"array of described", Array{Code: TypeStr8, Descriptor: uint64(0x77), Elems: []any{"a"}},
			"e0 07 01 00 53 77 a1 01 61"},
		{"array of symbolically described", Array{Code: TypeUint, Descriptor: Symbol("d"), Elems: []any{uint32(1)}},
			"e0 07 01 00 a3 01 64 52 01"},
		{"generic array of bool", Array{Code: TypeBoolTrue, Elems: []any{true}}, "e0 03 01 56 01"},
	}
}

func nullMap(n int) Map {
	m := make(Map, n)
	return m
}

func TestAppendAnyEncodings(t *testing.T) {
	for _, tc := range encodingCases() {
		t.Run(tc.name, func(t *testing.T) {
			want := hexBytes(t, tc.hex)
			got, err := AppendAny(nil, tc.v)
			require.NoError(t, err)
			assert.Equal(t, want, got)
			// Appending after existing content writes the same bytes.
			prefixed, err := AppendAny([]byte{0xee}, tc.v)
			require.NoError(t, err)
			assert.Equal(t, append([]byte{0xee}, want...), prefixed)
		})
	}
}

func TestTypedAppendersMatchAppendAny(t *testing.T) {
	ts := time.UnixMilli(1311704463521)
	for _, tc := range []struct {
		got  []byte
		want any
	}{
		{AppendNull(nil), nil},
		{AppendBool(nil, true), true},
		{AppendUbyte(nil, 9), uint8(9)},
		{AppendUshort(nil, 9), uint16(9)},
		{AppendUint(nil, 300), uint32(300)},
		{AppendUlong(nil, 300), uint64(300)},
		{AppendByte(nil, -9), int8(-9)},
		{AppendShort(nil, -9), int16(-9)},
		{AppendInt(nil, -300), int32(-300)},
		{AppendLong(nil, -300), int64(-300)},
		{AppendFloat(nil, 2), float32(2)},
		{AppendDouble(nil, 2), float64(2)},
		{AppendDecimal32(nil, Decimal32{1}), Decimal32{1}},
		{AppendDecimal64(nil, Decimal64{1}), Decimal64{1}},
		{AppendDecimal128(nil, Decimal128{1}), Decimal128{1}},
		{AppendChar(nil, 'z'), Char('z')},
		{AppendTimestamp(nil, ts), ts},
		{AppendUUID(nil, UUID{3}), UUID{3}},
		{AppendBinary(nil, []byte{1}), []byte{1}},
		{AppendString(nil, "s"), "s"},
		{AppendSymbol(nil, "s"), Symbol("s")},
		{AppendSymbolArray(nil, []Symbol{"a"}), []Symbol{"a"}},
		{AppendSymbolArray(nil, nil), []Symbol{}},
	} {
		want, err := AppendAny(nil, tc.want)
		require.NoError(t, err)
		assert.Equal(t, want, tc.got, "%#v", tc.want)
	}
}

func TestAppendDescriptor(t *testing.T) {
	assert.Equal(t, hexBytes(t, "00 53 00"), AppendDescriptor(nil, 0))
	assert.Equal(t, hexBytes(t, "00 53 10"), AppendDescriptor(nil, 0x10))
	assert.Equal(t, hexBytes(t, "00 53 ff"), AppendDescriptor(nil, 0xff))
	assert.Equal(t, hexBytes(t, "00 80 0000000000000100"), AppendDescriptor(nil, 0x100))
	assert.Equal(t, hexBytes(t, "00 a3 0e 616d71703a6f70656e3a6c697374"), AppendSymbolDescriptor(nil, "amqp:open:list"))
}

func TestBeginEndList(t *testing.T) {
	b, mark := BeginList([]byte{0xee})
	assert.Equal(t, 1, mark)
	assert.Equal(t, hexBytes(t, "ee 45"), EndList(b, mark, 0))

	b, mark = BeginList(nil)
	b = AppendUint(b, 1)
	b = AppendNull(b)
	assert.Equal(t, hexBytes(t, "c0 04 02 52 01 40"), EndList(b, mark, 2))

	b, mark = BeginList(nil)
	b = AppendBinary(b, make([]byte, 252)) // 254 content bytes: size 255 still fits list8
	assert.Equal(t, hexBytes(t, "c0 ff 01 a0 fc"+repeatHex("00", 252)), EndList(b, mark, 1))

	b, mark = BeginList(nil)
	b = AppendBinary(b, make([]byte, 253)) // 255 content bytes: size 256 needs list32
	assert.Equal(t, hexBytes(t, "d0 00000103 00000001 a0 fd"+repeatHex("00", 253)), EndList(b, mark, 1))

	b, mark = BeginList(nil)
	for range 256 {
		b = AppendNull(b)
	}
	assert.Equal(t, hexBytes(t, "d0 00000104 00000100"+repeatHex("40", 256)), EndList(b, mark, 256))
}

func TestBeginEndMap(t *testing.T) {
	b, mark := BeginMap(nil)
	assert.Equal(t, hexBytes(t, "c1 01 00"), EndMap(b, mark, 0))

	b, mark = BeginMap([]byte{1, 2})
	b = AppendSymbol(b, "k")
	b = AppendBool(b, true)
	assert.Equal(t, hexBytes(t, "0102 c1 05 02 a3 01 6b 41"), EndMap(b, mark, 2))

	b, mark = BeginMap(nil)
	b = AppendString(b, strings.Repeat("v", 300))
	b = AppendNull(b)
	want := "d1 00000136 00000002 b1 0000012c" + repeatHex("76", 300) + "40"
	assert.Equal(t, hexBytes(t, want), EndMap(b, mark, 2))
}

func TestAppendListAndMap(t *testing.T) {
	b, err := AppendList([]byte{0xee}, []any{true, Symbol("s")})
	require.NoError(t, err)
	assert.Equal(t, hexBytes(t, "ee c0 05 02 41 a3 01 73"), b)

	b, err = AppendMap(nil, Map{{Key: "k", Value: []any{}}})
	require.NoError(t, err)
	assert.Equal(t, hexBytes(t, "c1 05 02 a1 01 6b 45"), b)

	orig := []byte{0xee}
	b, err = AppendList(orig, []any{struct{}{}})
	assertEncodeError(t, err)
	assert.Equal(t, orig, b, "input returned unchanged on error")
	b, err = AppendMap(orig, Map{{Key: "k", Value: make(chan int)}})
	assertEncodeError(t, err)
	assert.Equal(t, orig, b)
}

func assertEncodeError(t *testing.T, err error) {
	t.Helper()
	var ee *EncodeError
	require.True(t, errors.As(err, &ee), "want *EncodeError, got %v", err)
}

func nestedLists(depth int) any {
	var v any = []any{}
	for i := 1; i < depth; i++ {
		v = []any{v}
	}
	return v
}

func TestAppendAnyRejects(t *testing.T) {
	cyclic := []any{nil}
	cyclic[0] = cyclic
	for name, v := range map[string]any{
		"unsupported type":           struct{}{},
		"channel":                    make(chan int),
		"invalid UTF-8 string":       "\xff",
		"non-ASCII symbol":           Symbol("é"),
		"surrogate char":             Char(0xd800),
		"char past U+10FFFF":         Char(0x110000),
		"nil described":              (*Described)(nil),
		"bad descriptor type":        &Described{Descriptor: "string", Value: nil},
		"non-ASCII descriptor":       &Described{Descriptor: Symbol("é"), Value: nil},
		"too deep":                   nestedLists(MaxNestingDepth + 1),
		"cyclic list":                cyclic,
		"invalid string in list":     []any{"\xff"},
		"invalid string in map key":  Map{{Key: "\xff"}},
		"invalid string array":       []string{"ok", "\xff"},
		"invalid symbol array":       []Symbol{"é"},
		"invalid char array":         []Char{0xdfff},
		"array element type":         Array{Code: TypeUint, Elems: []any{uint64(1)}},
		"array of null with value":   Array{Code: TypeNull, Elems: []any{1}},
		"array of ubyte wrong type":  Array{Code: TypeUbyte, Elems: []any{"x"}},
		"array of list wrong type":   Array{Code: TypeList8, Elems: []any{Map{}}},
		"array of map wrong type":    Array{Code: TypeMap8, Elems: []any{[]any{}}},
		"array of array wrong type":  Array{Code: TypeArray8, Elems: []any{1}},
		"array invalid code":         Array{Code: 0x01},
		"array described code":       Array{Code: TypeDescribed},
		"array bad descriptor":       Array{Code: TypeNull, Descriptor: 1.5},
		"array too deep":             Array{Code: TypeList8, Elems: []any{nestedLists(MaxNestingDepth)}},
		"array in list too deep":     nestedArrays(MaxNestingDepth + 1),
		"described value too deep":   &Described{Descriptor: uint64(1), Value: nestedLists(MaxNestingDepth)},
		"array element list invalid": Array{Code: TypeList8, Elems: []any{[]any{"\xff"}}},
	} {
		t.Run(name, func(t *testing.T) {
			b, err := AppendAny([]byte{0xee}, v)
			assertEncodeError(t, err)
			assert.Equal(t, []byte{0xee}, b)
		})
	}
}

func nestedArrays(depth int) any {
	var v any = []uint32{1}
	for i := 1; i < depth; i++ {
		v = Array{Code: TypeArray8, Elems: []any{v}}
	}
	return v
}

func TestAppendAnyMaxDepthIsAccepted(t *testing.T) {
	b, err := AppendAny(nil, nestedLists(MaxNestingDepth))
	require.NoError(t, err)
	_, err = NewDecoder(b).ReadAny()
	require.NoError(t, err)
	b, err = AppendAny(nil, nestedArrays(MaxNestingDepth))
	require.NoError(t, err)
	_, err = NewDecoder(b).ReadAny()
	require.NoError(t, err)
}

type appenderValue struct{}

func (appenderValue) Append(b []byte) ([]byte, error) { return AppendDescriptor(b, 0x24), nil }

func TestAppendAnyUsesAppendMethod(t *testing.T) {
	b, err := AppendAny(nil, []any{appenderValue{}})
	require.NoError(t, err)
	assert.Equal(t, hexBytes(t, "c0 04 01 00 53 24"), b)
}

func TestEncodersDoNotAllocate(t *testing.T) {
	buf := make([]byte, 0, 4096)
	syms := []Symbol{"a", "b"}
	m := Map{{Key: Symbol("k"), Value: uint32(1)}, {Key: Symbol("t"), Value: true}}
	ts := time.UnixMilli(5)
	allocs := testing.AllocsPerRun(100, func() {
		b := AppendUlong(buf[:0], 1<<40)
		b = AppendUint(b, 7)
		b = AppendInt(b, -7)
		b = AppendLong(b, 1<<40)
		b = AppendDouble(b, 1.5)
		b = AppendTimestamp(b, ts)
		b = AppendString(b, "hello")
		b = AppendSymbol(b, "sym")
		b = AppendBinary(b, buf[:3])
		b = AppendSymbolArray(b, syms)
		b, mark := BeginList(b)
		b = AppendNull(b)
		b = EndList(b, mark, 1)
		b, _ = AppendMap(b, m)
		_ = b
	})
	assert.Zero(t, allocs)
}
