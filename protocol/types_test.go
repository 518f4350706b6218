package protocol

import (
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// hexBytes decodes a hex string that may contain spaces, e.g. "c0 02 01 40".
func hexBytes(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	require.NoError(t, err)
	return b
}

func TestMapGetDistinguishesTypes(t *testing.T) {
	m := Map{
		{Key: Symbol("k"), Value: 1},
		{Key: "k", Value: 2},
		{Key: uint64(7), Value: 3},
		{Key: uint32(7), Value: 4},
		{Key: []byte("bin"), Value: 5},
		{Key: []any{1}, Value: 6}, // not comparable: must never panic
	}
	for _, tc := range []struct {
		key  any
		want any
	}{
		{Symbol("k"), 1},
		{"k", 2},
		{uint64(7), 3},
		{uint32(7), 4},
		{[]byte("bin"), 5},
	} {
		v, ok := m.Get(tc.key)
		require.True(t, ok, "%#v", tc.key)
		assert.Equal(t, tc.want, v, "%#v", tc.key)
	}
	_, ok := m.Get(int32(7))
	assert.False(t, ok)
	_, ok = m.Get([]any{1})
	assert.False(t, ok, "non-comparable keys are never found")
	_, ok = m.Get(nil)
	assert.False(t, ok)
}

func TestMapGetComparesValuesOfEveryType(t *testing.T) {
	ts := time.UnixMilli(1234).UTC()
	keys := []any{
		nil, true, uint8(1), uint16(1), uint32(1), uint64(1), int8(1), int16(1), int32(1), int64(1),
		float32(1), float64(1), Decimal32{1}, Decimal64{1}, Decimal128{1}, Char('x'), ts, UUID{1},
		[]byte{1}, "s", Symbol("s"), &Described{Descriptor: uint64(1), Value: "v"},
	}
	var m Map
	for i, k := range keys {
		m.Set(k, i)
	}
	require.Len(t, m, len(keys), "every key is distinct from every other")
	for i, k := range keys {
		v, ok := m.Get(k)
		require.True(t, ok, "%#v", k)
		assert.Equal(t, i, v, "%#v", k)
	}
	// Equal by value, not identity: a time in another zone, a different pointer.
	v, ok := m.Get(ts.In(time.FixedZone("x", 3600)))
	assert.True(t, ok)
	assert.Equal(t, 16, v)
	v, ok = m.Get(&Described{Descriptor: uint64(1), Value: "v"})
	assert.True(t, ok)
	assert.Equal(t, 21, v)
}

func TestMapSetReplacesOrAppends(t *testing.T) {
	var m Map
	m.Set(Symbol("a"), 1)
	m.Set(Symbol("b"), 2)
	m.Set(Symbol("a"), 3)
	assert.Equal(t, Map{{Key: Symbol("a"), Value: 3}, {Key: Symbol("b"), Value: 2}}, m)
}

func TestFixedWidthMatchesSpec(t *testing.T) {
	// Widths from types.bare.xml.
	want := map[byte]int{
		0x40: 0, 0x56: 1, 0x41: 0, 0x42: 0, 0x50: 1, 0x60: 2, 0x70: 4, 0x52: 1, 0x43: 0,
		0x80: 8, 0x53: 1, 0x44: 0, 0x51: 1, 0x61: 2, 0x71: 4, 0x54: 1, 0x81: 8, 0x55: 1,
		0x72: 4, 0x82: 8, 0x74: 4, 0x84: 8, 0x94: 16, 0x73: 4, 0x83: 8, 0x98: 16, 0x45: 0,
	}
	for code := 0; code < 256; code++ {
		w, ok := fixedWidth(byte(code))
		ww, fixed := want[byte(code)]
		require.Equal(t, fixed, ok, "code %#02x", code)
		assert.Equal(t, ww, w, "code %#02x", code)
	}
}

func TestErrorMessages(t *testing.T) {
	assert.Equal(t, "amqp: decode error at offset 3: bad", (&DecodeError{Offset: 3, Msg: "bad"}).Error())
	assert.Equal(t, "amqp: framing error: bad", (&FramingError{Msg: "bad"}).Error())
	assert.Equal(t, "amqp: encode error: bad", (&EncodeError{Msg: "bad"}).Error())
}
