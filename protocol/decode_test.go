package protocol

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func requireDecodeError(t testing.TB, err error) *DecodeError {
	t.Helper()
	var de *DecodeError
	require.True(t, errors.As(err, &de), "want *DecodeError, got %v", err)
	return de
}

// decodedForm is what ReadAny returns for a value AppendAny accepted: the
// canonical Go representation.
func decodedForm(v any) any {
	switch x := v.(type) {
	case int:
		return int64(x)
	case uint:
		return uint64(x)
	case time.Time:
		return x.UTC()
	case []time.Time:
		out := make([]time.Time, len(x))
		for i, e := range x {
			out[i] = e.UTC()
		}
		return out
	case Described:
		return &Described{Descriptor: x.Descriptor, Value: decodedForm(x.Value)}
	case *Described:
		return &Described{Descriptor: x.Descriptor, Value: decodedForm(x.Value)}
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = decodedForm(e)
		}
		return out
	case Map:
		out := make(Map, len(x))
		for i, e := range x {
			out[i] = MapEntry{Key: decodedForm(e.Key), Value: decodedForm(e.Value)}
		}
		return out
	case Array:
		switch x.Code {
		case TypeBoolTrue:
			return []bool{true}
		case TypeUint:
			if x.Descriptor == nil {
				break
			}
			return Array{Code: TypeSmallUint, Descriptor: x.Descriptor, Elems: x.Elems}
		case TypeList0, TypeList8:
			x.Code = TypeList32
		case TypeMap8:
			x.Code = TypeMap32
		case TypeArray8:
			x.Code = TypeArray32
			elems := make([]any, len(x.Elems))
			for i, e := range x.Elems {
				elems[i] = decodedForm(e)
			}
			x.Elems = elems
		case TypeSym8:
			if x.Descriptor == nil {
				return []Symbol{}
			}
		}
		return x
	}
	return v
}

func TestReadAnyDecodesEncodings(t *testing.T) {
	for _, tc := range encodingCases() {
		t.Run(tc.name, func(t *testing.T) {
			in := hexBytes(t, tc.hex)
			d := NewDecoder(in)
			got, err := d.ReadAny()
			require.NoError(t, err)
			assert.Equal(t, decodedForm(tc.v), got)
			assert.Equal(t, len(in), d.Pos())
			assert.Zero(t, d.Len())

			d.Reset(in)
			require.NoError(t, d.Skip())
			assert.Equal(t, len(in), d.Pos(), "Skip consumes exactly one value")
		})
	}
}

func TestRoundTripEveryType(t *testing.T) {
	values := []any{
		nil, true, false, uint8(200), uint16(60000), uint32(0), uint32(70000), uint64(1 << 60),
		int8(-5), int16(-300), int32(-70000), int64(-1 << 60), float32(-0.5), math.Inf(1),
		Decimal32{9}, Decimal64{9}, Decimal128{9}, Char('€'), time.UnixMilli(-62135596800000).UTC(),
		UUID{1, 2, 3}, []byte("bin"), "str", Symbol("sym"),
		[]any{uint32(1), "two", []any{Symbol("three")}},
		Map{{Key: Symbol("k"), Value: Map{{Key: uint64(1), Value: nil}}}, {Key: "s", Value: []byte{}}},
		&Described{Descriptor: uint64(0x77), Value: "amqp-value"},
		&Described{Descriptor: Symbol("com.example:x"), Value: &Described{Descriptor: uint64(1), Value: nil}},
		[]bool{true}, []uint16{1}, []uint32{1 << 20}, []uint64{1}, []int8{1}, []int16{1}, []int32{-1 << 20},
		[]int64{1}, []float32{1}, []float64{1}, []Decimal32{{1}}, []Decimal64{{1}}, []Decimal128{{1}},
		[]Char{'x'}, []time.Time{time.UnixMilli(7).UTC()}, []UUID{{1}}, [][]byte{{1, 2}}, []string{"a", ""},
		[]Symbol{"a", "b"},
		Array{Code: TypeUbyte, Elems: []any{uint8(1)}},
		Array{Code: TypeNull, Elems: []any{nil, nil}},
		Array{Code: TypeList32, Elems: []any{[]any{uint32(5)}}},
		Array{Code: TypeMap32, Elems: []any{Map{{Key: "k", Value: "v"}}}},
		Array{Code: TypeArray32, Elems: []any{[]Symbol{"x"}, []Symbol{}}},
		Array{Code: TypeSym8, Descriptor: Symbol("d"), Elems: []any{Symbol("e")}},
		Array{Code: TypeVbin8, Descriptor: uint64(0x75), Elems: []any{[]byte("data")}},
		[]any{strings.Repeat("long", 100), bytes.Repeat([]byte{1}, 1000), make([]bool, 300)},
	}
	for _, v := range values {
		b, err := AppendAny(nil, v)
		require.NoError(t, err, "%#v", v)
		d := NewDecoder(b)
		got, err := d.ReadAny()
		require.NoError(t, err, "%#v", v)
		assert.Equal(t, v, got)
		assert.Zero(t, d.Len())
	}
}

func TestTypedReadersAcceptEveryWidth(t *testing.T) {
	u32 := func(h string) (uint32, error) { return NewDecoder(hexBytes(t, h)).ReadUint() }
	for h, want := range map[string]uint32{"43": 0, "52 07": 7, "70 00010000": 65536} {
		v, err := u32(h)
		require.NoError(t, err)
		assert.Equal(t, want, v)
	}
	u64 := func(h string) (uint64, error) { return NewDecoder(hexBytes(t, h)).ReadUlong() }
	for h, want := range map[string]uint64{"44": 0, "53 07": 7, "80 0000000100000000": 1 << 32} {
		v, err := u64(h)
		require.NoError(t, err)
		assert.Equal(t, want, v)
	}
	i32 := func(h string) (int32, error) { return NewDecoder(hexBytes(t, h)).ReadInt() }
	for h, want := range map[string]int32{"54 ff": -1, "71 ffffff00": -256} {
		v, err := i32(h)
		require.NoError(t, err)
		assert.Equal(t, want, v)
	}
	i64 := func(h string) (int64, error) { return NewDecoder(hexBytes(t, h)).ReadLong() }
	for h, want := range map[string]int64{"55 80": -128, "81 8000000000000000": math.MinInt64} {
		v, err := i64(h)
		require.NoError(t, err)
		assert.Equal(t, want, v)
	}
	bl := func(h string) (bool, error) { return NewDecoder(hexBytes(t, h)).ReadBool() }
	for h, want := range map[string]bool{"41": true, "42": false, "56 01": true, "56 00": false} {
		v, err := bl(h)
		require.NoError(t, err)
		assert.Equal(t, want, v)
	}
	s, err := NewDecoder(hexBytes(t, "b1 00000002 6869")).ReadString()
	require.NoError(t, err)
	assert.Equal(t, "hi", s)
	sym, err := NewDecoder(hexBytes(t, "b3 00000002 6869")).ReadSymbol()
	require.NoError(t, err)
	assert.Equal(t, Symbol("hi"), sym)
	bin, err := NewDecoder(hexBytes(t, "b0 00000002 6869")).ReadBinary()
	require.NoError(t, err)
	assert.Equal(t, []byte("hi"), bin)

	// Strict to the type: a narrower type or null is a wrong constructor.
	_, err = u64("52 01")
	requireDecodeError(t, err)
	_, err = u32("53 01")
	requireDecodeError(t, err)
	_, err = i64("54 01")
	requireDecodeError(t, err)
	_, err = u32("40")
	requireDecodeError(t, err)
	_, err = NewDecoder([]byte{TypeNull}).ReadString()
	requireDecodeError(t, err)
}

func TestTypedReaders(t *testing.T) {
	ts := time.UnixMilli(1311704463521)
	var b []byte
	b = AppendBool(b, true)
	b = AppendUbyte(b, 1)
	b = AppendUshort(b, 2)
	b = AppendUint(b, 3)
	b = AppendUlong(b, 4)
	b = AppendByte(b, -5)
	b = AppendShort(b, -6)
	b = AppendInt(b, -7)
	b = AppendLong(b, -8)
	b = AppendFloat(b, 9.5)
	b = AppendDouble(b, 10.5)
	b = AppendChar(b, 'c')
	b = AppendTimestamp(b, ts)
	b = AppendUUID(b, UUID{12})
	b = AppendString(b, "s")
	b = AppendSymbol(b, "y")
	b = AppendBinary(b, []byte{15})
	b = AppendBinary(b, []byte{16})
	b = AppendDecimal32(b, Decimal32{17})
	b = AppendDecimal64(b, Decimal64{18})
	b = AppendDecimal128(b, Decimal128{19})
	b = AppendNull(b)

	d := NewDecoder(b)
	vBool, err := d.ReadBool()
	require.NoError(t, err)
	assert.True(t, vBool)
	vUbyte, err := d.ReadUbyte()
	require.NoError(t, err)
	assert.Equal(t, uint8(1), vUbyte)
	vUshort, err := d.ReadUshort()
	require.NoError(t, err)
	assert.Equal(t, uint16(2), vUshort)
	vUint, err := d.ReadUint()
	require.NoError(t, err)
	assert.Equal(t, uint32(3), vUint)
	vUlong, err := d.ReadUlong()
	require.NoError(t, err)
	assert.Equal(t, uint64(4), vUlong)
	vByte, err := d.ReadSignedByte()
	require.NoError(t, err)
	assert.Equal(t, int8(-5), vByte)
	vShort, err := d.ReadShort()
	require.NoError(t, err)
	assert.Equal(t, int16(-6), vShort)
	vInt, err := d.ReadInt()
	require.NoError(t, err)
	assert.Equal(t, int32(-7), vInt)
	vLong, err := d.ReadLong()
	require.NoError(t, err)
	assert.Equal(t, int64(-8), vLong)
	vFloat, err := d.ReadFloat()
	require.NoError(t, err)
	assert.Equal(t, float32(9.5), vFloat)
	vDouble, err := d.ReadDouble()
	require.NoError(t, err)
	assert.Equal(t, 10.5, vDouble)
	vChar, err := d.ReadChar()
	require.NoError(t, err)
	assert.Equal(t, Char('c'), vChar)
	vTime, err := d.ReadTimestamp()
	require.NoError(t, err)
	assert.True(t, ts.Equal(vTime))
	assert.Equal(t, time.UTC, vTime.Location())
	vUUID, err := d.ReadUUID()
	require.NoError(t, err)
	assert.Equal(t, UUID{12}, vUUID)
	vString, err := d.ReadString()
	require.NoError(t, err)
	assert.Equal(t, "s", vString)
	vSymbol, err := d.ReadSymbol()
	require.NoError(t, err)
	assert.Equal(t, Symbol("y"), vSymbol)
	vBin, err := d.ReadBinary()
	require.NoError(t, err)
	assert.Equal(t, []byte{15}, vBin)
	vAlias, err := d.ReadBinaryAlias()
	require.NoError(t, err)
	assert.Equal(t, []byte{16}, vAlias)
	vD32, err := d.ReadDecimal32()
	require.NoError(t, err)
	assert.Equal(t, Decimal32{17}, vD32)
	vD64, err := d.ReadDecimal64()
	require.NoError(t, err)
	assert.Equal(t, Decimal64{18}, vD64)
	vD128, err := d.ReadDecimal128()
	require.NoError(t, err)
	assert.Equal(t, Decimal128{19}, vD128)
	isNull, err := d.ReadNull()
	require.NoError(t, err)
	assert.True(t, isNull)
	assert.Zero(t, d.Len())

	// Every typed reader rejects every other type's constructor.
	readers := map[string]func(*Decoder) error{
		"bool":       func(d *Decoder) error { _, err := d.ReadBool(); return err },
		"ubyte":      func(d *Decoder) error { _, err := d.ReadUbyte(); return err },
		"ushort":     func(d *Decoder) error { _, err := d.ReadUshort(); return err },
		"byte":       func(d *Decoder) error { _, err := d.ReadSignedByte(); return err },
		"short":      func(d *Decoder) error { _, err := d.ReadShort(); return err },
		"float":      func(d *Decoder) error { _, err := d.ReadFloat(); return err },
		"double":     func(d *Decoder) error { _, err := d.ReadDouble(); return err },
		"char":       func(d *Decoder) error { _, err := d.ReadChar(); return err },
		"timestamp":  func(d *Decoder) error { _, err := d.ReadTimestamp(); return err },
		"uuid":       func(d *Decoder) error { _, err := d.ReadUUID(); return err },
		"binary":     func(d *Decoder) error { _, err := d.ReadBinary(); return err },
		"alias":      func(d *Decoder) error { _, err := d.ReadBinaryAlias(); return err },
		"decimal32":  func(d *Decoder) error { _, err := d.ReadDecimal32(); return err },
		"decimal64":  func(d *Decoder) error { _, err := d.ReadDecimal64(); return err },
		"decimal128": func(d *Decoder) error { _, err := d.ReadDecimal128(); return err },
		"list":       func(d *Decoder) error { _, err := d.ReadList(); return err },
		"map":        func(d *Decoder) error { _, err := d.ReadMap(); return err },
	}
	for name, read := range readers {
		for _, h := range []string{"40", "a3 01 61", "c0 01 00"} {
			if name == "list" && h == "c0 01 00" {
				continue
			}
			requireDecodeError(t, read(NewDecoder(hexBytes(t, h))))
		}
		requireDecodeError(t, read(NewDecoder(nil)))
	}
}

func TestReadNull(t *testing.T) {
	d := NewDecoder(hexBytes(t, "40 52 01"))
	isNull, err := d.ReadNull()
	require.NoError(t, err)
	assert.True(t, isNull)
	isNull, err = d.ReadNull()
	require.NoError(t, err)
	assert.False(t, isNull, "a non-null is not consumed")
	c, err := d.PeekCode()
	require.NoError(t, err)
	assert.Equal(t, TypeSmallUint, c)
	assert.Equal(t, 1, d.Pos())
	_, err = NewDecoder(nil).ReadNull()
	requireDecodeError(t, err)
	_, err = NewDecoder(nil).PeekCode()
	requireDecodeError(t, err)
}

func TestReadBinaryAliasAliasesInput(t *testing.T) {
	in := hexBytes(t, "a0 03 010203 40")
	var d Decoder // the zero value works after Reset
	d.Reset(in)
	b, err := d.ReadBinaryAlias()
	require.NoError(t, err)
	assert.Equal(t, []byte{1, 2, 3}, b)
	assert.Equal(t, 3, cap(b), "capacity capped so an append cannot clobber the input")
	in[2] = 9
	assert.Equal(t, byte(9), b[0], "aliases the input")
	allocs := testing.AllocsPerRun(100, func() {
		d.Reset(in)
		_, _ = d.ReadBinaryAlias()
	})
	assert.Zero(t, allocs)
}

func TestReadDescriptor(t *testing.T) {
	for h, want := range map[string]uint64{"00 53 10": 0x10, "00 44": 0, "00 80 0000000000000014": 0x14} {
		code, sym, err := NewDecoder(hexBytes(t, h)).ReadDescriptor()
		require.NoError(t, err)
		assert.Equal(t, want, code)
		assert.Empty(t, sym)
	}
	code, sym, err := NewDecoder(AppendSymbolDescriptor(nil, "amqp:open:list")).ReadDescriptor()
	require.NoError(t, err)
	assert.Zero(t, code)
	assert.Equal(t, Symbol("amqp:open:list"), sym)
	for _, h := range []string{"", "53 10", "00", "00 a1 01 61", "00 52 01", "00 53"} {
		_, _, err := NewDecoder(hexBytes(t, h)).ReadDescriptor()
		requireDecodeError(t, err)
	}
}

func TestReadListHeader(t *testing.T) {
	for _, tc := range []struct {
		hex         string
		count, end  int
		afterHeader int
	}{
		{"45", 0, 1, 1},
		{"45 40", 0, 1, 1},
		{"c0 03 02 40 40", 2, 5, 3},
		{"d0 00000006 00000002 40 40", 2, 11, 9},
	} {
		d := NewDecoder(hexBytes(t, tc.hex))
		count, end, err := d.ReadListHeader()
		require.NoError(t, err, tc.hex)
		assert.Equal(t, tc.count, count, tc.hex)
		assert.Equal(t, tc.end, end, tc.hex)
		assert.Equal(t, tc.afterHeader, d.Pos(), tc.hex)
	}
	for _, h := range []string{
		"", "40", "c1 01 00", "c0", "c0 02", "c0 00", "c0 05 01 40", // truncated or size beyond input
		"c0 02 02 40",             // count exceeds content bytes
		"d0 00000004 ffffffff",    // count 2^32-1 with no content
		"d0 ffffffff 00000001 40", // size beyond input
		"d0 00000003 000000",      // size smaller than the count field
	} {
		_, _, err := NewDecoder(hexBytes(t, h)).ReadListHeader()
		requireDecodeError(t, err)
	}
}

func TestReadSymbolArray(t *testing.T) {
	for h, want := range map[string][]Symbol{
		"a3 01 61":                            {"a"},
		"b3 00000001 61":                      {"a"},
		"e0 02 00 a3":                         {},
		"e0 07 02 a3 01 61 02 6263":           {"a", "bc"},
		"f0 0000000a 00000001 b3 00000001 61": {"a"},
	} {
		got, err := NewDecoder(hexBytes(t, h)).ReadSymbolArray()
		require.NoError(t, err, h)
		assert.Equal(t, want, got, h)
	}
	for _, h := range []string{
		"", "40", "a1 01 61", "e0 03 01 a1 61", // not symbols
		"e0 06 01 00 53 01 a3 00", // described array
		"e0 03 01 a3 80",          // symbol longer than the array
		"e0 04 01 a3 01 ff",       // not ASCII
		"e0 05 ff a3 01 61",       // count beyond the content
	} {
		_, err := NewDecoder(hexBytes(t, h)).ReadSymbolArray()
		requireDecodeError(t, err)
	}
}

func TestDecodeMalformed(t *testing.T) {
	for name, h := range map[string]string{
		"empty":                          "",
		"invalid constructor":            "01",
		"reserved constructor":           "ff",
		"bool octet 2":                   "56 02",
		"truncated uint":                 "70 0000",
		"truncated uuid":                 "98 00",
		"truncated str8":                 "a1 05 6162",
		"str32 length beyond input":      "b1 ffffffff 61",
		"invalid UTF-8 string":           "a1 02 c328",
		"surrogate in string":            "a1 03 eda080",
		"non-ASCII symbol":               "a3 01 80",
		"surrogate char":                 "73 0000d800",
		"char past U+10FFFF":             "73 00110000",
		"char negative":                  "73 ffffffff",
		"list count exceeds bytes":       "c0 02 05 40",
		"list32 huge count":              "d0 00000004 ffffffff",
		"list size beyond input":         "c0 09 01 40",
		"list size smaller than content": "c0 02 02 40 40",
		"list size larger than content":  "c0 03 01 40 40",
		"list size zero":                 "c0 00",
		"odd map count":                  "c1 04 03 40 40 40",
		"map huge count":                 "d1 00000004 fffffffe",
		"map size beyond input":          "d1 00000100 00000002 40 40",
		"map element invalid":            "c1 03 02 40 01",
		"array ulong count beyond bytes": "f0 00000005 7fffffff 80",
		"array huge count":               "f0 00000005 ffffffff 80",
		"array32 str32 count":            "f0 00000009 10000000 b1 00000000",
		"array invalid element ctor":     "e0 02 01 01",
		"array missing element ctor":     "e0 01 00",
		"array nested described ctor":    "e0 06 01 00 53 01 00 40",
		"array described bad descriptor": "e0 05 01 00 a1 00 40",
		"array element invalid":          "e0 03 01 56 07",
		"array element overrun":          "e0 04 01 a1 05 61",
		"array of list count":            "e0 03 05 c0 01",
		"array size larger than content": "e0 05 01 52 01 02 03",
		"described truncated":            "00 53",
		"described no value":             "00 53 10",
		"descriptor not ulong or symbol": "00 a1 01 61 40",
		"descriptor described":           "00 00 53 01 40 40",
		"zero-width array over budget":   "f0 00000005 00002000 40",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := NewDecoder(hexBytes(t, h)).ReadAny()
			requireDecodeError(t, err)
		})
	}
}

func TestDecodeTruncatedPrefixes(t *testing.T) {
	for _, tc := range encodingCases() {
		full := hexBytes(t, tc.hex)
		for n := 0; n < len(full); n++ {
			_, err := NewDecoder(full[:n]).ReadAny()
			requireDecodeError(t, err)
			requireDecodeError(t, NewDecoder(full[:n]).Skip())
		}
	}
}

func TestZeroWidthArrayElements(t *testing.T) {
	v, err := NewDecoder(hexBytes(t, "e0 02 03 41")).ReadAny()
	require.NoError(t, err)
	assert.Equal(t, []bool{true, true, true}, v)
	v, err = NewDecoder(hexBytes(t, "e0 02 02 43")).ReadAny()
	require.NoError(t, err)
	assert.Equal(t, []uint32{0, 0}, v)
	v, err = NewDecoder(hexBytes(t, "e0 02 02 45")).ReadAny()
	require.NoError(t, err)
	assert.Equal(t, Array{Code: TypeList0, Elems: []any{[]any{}, []any{}}}, v)
	// The budget is per Decoder: two arrays of 4000 nulls exceed it.
	twice := hexBytes(t, "f0 00000005 00000fa0 40 f0 00000005 00000fa0 40")
	d := NewDecoder(twice)
	_, err = d.ReadAny()
	require.NoError(t, err)
	_, err = d.ReadAny()
	requireDecodeError(t, err)
	d.Reset(twice)
	_, err = d.ReadAny()
	require.NoError(t, err, "Reset restores the budget")
}

func deepList32(levels int) []byte {
	b := make([]byte, 0, levels*compoundHeader32)
	for i := range levels {
		rest := uint32((levels-i-1)*compoundHeader32 + 4)
		count := uint32(1)
		if i == levels-1 {
			count = 0
		}
		b = append(b, TypeList32)
		b = binary.BigEndian.AppendUint32(b, rest)
		b = binary.BigEndian.AppendUint32(b, count)
	}
	return b
}

func TestDeepNestingErrorsQuickly(t *testing.T) {
	const levels = 100_000
	inputs := map[string][]byte{
		"lists":     deepList32(levels),
		"lists8":    bytes.Repeat([]byte{TypeList8, 0xff, 1}, levels),
		"maps":      bytes.Repeat([]byte{TypeMap8, 0xff, 2, TypeNull}, levels),
		"arrays":    bytes.Repeat([]byte{TypeArray8, 0xff, 1, TypeArray8}, levels),
		"described": bytes.Repeat([]byte{TypeDescribed, TypeSmallUlong, 1}, levels),
	}
	for name, in := range inputs {
		t.Run(name, func(t *testing.T) {
			start := time.Now()
			_, err := NewDecoder(in).ReadAny()
			de := requireDecodeError(t, err)
			if name != "lists8" && name != "maps" && name != "arrays" {
				assert.Contains(t, de.Msg, "nested deeper")
			}
			_, err = NewDecoder(in).ReadList()
			assert.Error(t, err)
			assert.Less(t, time.Since(start), time.Second)
		})
	}
	// Skip jumps over compounds by size; described chains are depth-limited.
	requireDecodeError(t, NewDecoder(inputs["described"]).Skip())
	require.NoError(t, NewDecoder(inputs["lists"]).Skip())
}

func TestNestingLimitBoundary(t *testing.T) {
	ok := deepList32(MaxNestingDepth)
	_, err := NewDecoder(ok).ReadAny()
	require.NoError(t, err)
	_, err = NewDecoder(deepList32(MaxNestingDepth + 1)).ReadAny()
	requireDecodeError(t, err)

	okDescribed := append(bytes.Repeat([]byte{TypeDescribed, TypeSmallUlong, 1}, MaxNestingDepth), TypeNull)
	_, err = NewDecoder(okDescribed).ReadAny()
	require.NoError(t, err)
	require.NoError(t, NewDecoder(okDescribed).Skip())
	tooDeep := append(bytes.Repeat([]byte{TypeDescribed, TypeSmallUlong, 1}, MaxNestingDepth+1), TypeNull)
	_, err = NewDecoder(tooDeep).ReadAny()
	requireDecodeError(t, err)
	requireDecodeError(t, NewDecoder(tooDeep).Skip())
}

// TestHostileCountsDoNotAllocate checks that declared sizes and counts far
// beyond the input are rejected before anything is allocated for them.
func TestHostileCountsDoNotAllocate(t *testing.T) {
	inputs := [][]byte{
		hexBytes(t, "d0 ffffffff ffffffff"),
		hexBytes(t, "d0 00000004 ffffffff"),
		hexBytes(t, "d1 00000004 fffffffe"),
		hexBytes(t, "f0 00000005 ffffffff 80"),
		hexBytes(t, "f0 00000005 ffffffff 40"),
		hexBytes(t, "f0 00000005 ffffffff 45"),
		hexBytes(t, "f0 00000009 ffffffff f0 00"),
		hexBytes(t, "b0 ffffffff"),
		hexBytes(t, "b1 7fffffff 61"),
		hexBytes(t, "e0 ff ff a3"),
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for _, in := range inputs {
		for range 10 {
			_, err := NewDecoder(in).ReadAny()
			requireDecodeError(t, err)
			// Skip checks sizes, and list and map counts, but not array
			// contents; it must not allocate either way.
			_ = NewDecoder(in).Skip()
		}
	}
	runtime.ReadMemStats(&after)
	assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(1<<20))
}

func TestSkipDoesNotAllocate(t *testing.T) {
	var b []byte
	for _, tc := range encodingCases() {
		b = append(b, hexBytes(t, tc.hex)...)
	}
	var d Decoder
	n := len(encodingCases())
	allocs := testing.AllocsPerRun(20, func() {
		d.Reset(b)
		for range n {
			if err := d.Skip(); err != nil {
				t.Fatal(err)
			}
		}
	})
	assert.Zero(t, allocs)
	assert.Zero(t, d.Len())
}

func TestCompoundReadsStayInsideTheirSize(t *testing.T) {
	// The list claims 2 bytes of content; its element would need 3.
	_, err := NewDecoder(hexBytes(t, "c0 02 01 a1 01 61")).ReadAny()
	requireDecodeError(t, err)
	// After a good compound value, reading continues right after it.
	d := NewDecoder(hexBytes(t, "c0 02 01 40 52 07"))
	_, err = d.ReadList()
	require.NoError(t, err)
	v, err := d.ReadUint()
	require.NoError(t, err)
	assert.Equal(t, uint32(7), v)
}

func TestTimestampExtremesRoundTrip(t *testing.T) {
	for _, ms := range []int64{math.MinInt64, math.MinInt64 + 1, -1, 0, 1, math.MaxInt64} {
		in := binary.BigEndian.AppendUint64([]byte{TypeTimestamp}, uint64(ms))
		v, err := NewDecoder(in).ReadTimestamp()
		require.NoError(t, err)
		assert.Equal(t, ms, v.UnixMilli())
		assert.Equal(t, in, AppendTimestamp(nil, v))
	}
}
