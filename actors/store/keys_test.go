package store

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMessageKeyRoundTrip(t *testing.T) {
	for _, q := range []string{"", "q", "/\x00orders", strings.Repeat("x", 300)} {
		for _, seq := range []uint64{0, 1, 255, 256, 1 << 40, ^uint64(0)} {
			key := appendMessageKey(nil, q, seq)
			prefix, queue, got, ok := splitMessageKey(key)
			require.True(t, ok)
			assert.Equal(t, q, string(queue))
			assert.Equal(t, seq, got)
			assert.Equal(t, appendQueuePrefix(nil, q), prefix)
		}
	}
}

func TestSplitMessageKeyRejectsMalformed(t *testing.T) {
	for _, key := range [][]byte{nil, {'m'}, {'r', 0, 0, 0, 0, 0, 0, 0, 0, 0}, {'m', 5, 'a', 0, 0, 0, 0, 0, 0, 0, 0},
		{'m', 0x80}, append(appendMessageKey(nil, "q", 1), 0)} {
		_, _, _, ok := splitMessageKey(key)
		assert.False(t, ok, "%q", key)
	}
}

func TestMessageKeysOrderBySeqWithinQueue(t *testing.T) {
	a := appendMessageKey(nil, "q", 255)
	b := appendMessageKey(nil, "q", 256)
	assert.Negative(t, bytes.Compare(a, b))
}

// A queue's key range must hold no other queue's keys, whatever their names: the length prefix
// keeps "a" and "a\x00..." apart.
func TestQueuePrefixesAreDisjoint(t *testing.T) {
	names := []string{"a", "ab", "a\x00", "a\xff", "b", "", "\xff\xff"}
	for _, p := range names {
		lo := appendQueuePrefix(nil, p)
		hi := prefixEnd(lo)
		for _, q := range names {
			if p == q {
				continue
			}
			for _, seq := range []uint64{0, 1 << 63, ^uint64(0)} {
				k := appendMessageKey(nil, q, seq)
				in := bytes.Compare(k, lo) >= 0 && (hi == nil || bytes.Compare(k, hi) < 0)
				assert.False(t, in, "key of %q/%d inside the range of %q", q, seq, p)
			}
		}
	}
}

func TestPrefixEnd(t *testing.T) {
	assert.Equal(t, []byte{'a', 'c'}, prefixEnd([]byte{'a', 'b'}))
	assert.Equal(t, []byte{'b'}, prefixEnd([]byte{'a', 0xff}))
	assert.Nil(t, prefixEnd([]byte{0xff, 0xff}))
}

func TestMessageValueRoundTrip(t *testing.T) {
	v := appendMessageValue(nil, 1<<31, []byte("body"))
	dc, data, err := decodeMessageValue(v)
	require.NoError(t, err)
	assert.Equal(t, uint32(1<<31), dc)
	assert.Equal(t, "body", string(data))

	_, _, err = decodeMessageValue(nil)
	assert.ErrorIs(t, err, errCorruptValue)
	_, _, err = decodeMessageValue([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0x01}) // > 2^32
	assert.ErrorIs(t, err, errCorruptValue)
}
