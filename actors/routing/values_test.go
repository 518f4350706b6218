package routing

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func mustNormalize(t *testing.T, v any) value {
	t.Helper()
	n, err := normalize(v)
	require.NoError(t, err, "%#v", v)
	return n
}

type point struct {
	X, Y   int
	hidden string
}

func TestValueEquality(t *testing.T) {
	five := 5
	cases := []struct {
		name  string
		a, b  any
		equal bool
	}{
		{"int32 int64", int32(5), int64(5), true},
		{"uint8 int", uint8(5), 5, true},
		{"float64 int", 5.0, int16(5), true},
		{"float32 uint64", float32(5), uint64(5), true},
		{"negative zero", math.Copysign(0, -1), 0, true},
		{"string number", "5", 5, false},
		{"different numbers", 5, 6, false},
		{"max uint64", uint64(math.MaxUint64), uint64(math.MaxUint64), true},
		{"max uint64 vs -1", uint64(math.MaxUint64), int64(-1), false},
		{"2^63 float vs uint", float64(1 << 63), uint64(1 << 63), true},
		{"-2^63 float vs int", float64(-1 << 63), int64(math.MinInt64), true},
		{"2^64 float is a float", float64(1 << 64), float64(1 << 64), true},
		{"NaN", math.NaN(), math.NaN(), false},
		{"+Inf", math.Inf(1), math.Inf(1), true},
		{"+Inf -Inf", math.Inf(1), math.Inf(-1), false},
		{"non-integral", 0.1, float32(0.1), false}, // float32(0.1) is a different number
		{"complex real", complex(3, 0), 3, true},
		{"complex", complex(3, 1), complex(3, 1), true},
		{"nil nil", nil, nil, true},
		{"nil pointer is void", (*int)(nil), nil, true},
		{"pointer is its value", &five, 5, true},
		{"nil string", nil, "", false},
		{"bytes", []byte{1, 2}, []byte{1, 2}, true},
		{"nil bytes empty bytes", []byte(nil), []byte{}, true},
		{"bytes string", []byte("a"), "a", false},
		{"array is a list", [2]int{1, 2}, []any{1.0, int8(2)}, true},
		{"list order", []any{1, 2}, []any{2, 1}, false},
		{"map", map[string]int{"a": 1, "b": 2}, map[string]any{"b": 2.0, "a": int64(1)}, true},
		{"map differs", map[string]int{"a": 1}, map[string]int{"a": 2}, false},
		{"struct exported fields", point{1, 2, "x"}, point{1, 2, "y"}, true},
		{"struct differs", point{1, 2, ""}, point{2, 1, ""}, false},
		{"time instant", time.Unix(1, 2).In(time.FixedZone("x", 3600)), time.Unix(1, 2).UTC(), true},
		{"time before 1678", time.Date(1000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(1000, 1, 1, 0, 0, 0, 0, time.UTC), true},
		{"time is not number", time.Unix(1, 0), 1, false},
		{"string escapes", "a\"b", "a\"b", true},
		{"list of strings vs joined", []any{"a", "b"}, []any{"a,s\"b\""}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := mustNormalize(t, c.a)
			b := mustNormalize(t, c.b)
			assert.Equal(t, c.equal, a.equal(b), "normalised")
			assert.Equal(t, c.equal, a.equalsHeader(c.b), "header fast path")
			assert.Equal(t, c.equal, b.equalsHeader(c.a), "header fast path, reversed")
			if c.equal {
				assert.Equal(t, string(a.appendCanonical(nil)), string(b.appendCanonical(nil)))
			}
		})
	}
}

func TestCanonicalArgs(t *testing.T) {
	a, err := canonicalArgs(map[string]any{"b": 1, "a": "x", "c": nil})
	require.NoError(t, err)
	b, err := canonicalArgs(map[string]any{"c": nil, "a": "x", "b": int8(1)})
	require.NoError(t, err)
	assert.Equal(t, a, b)

	empty, err := canonicalArgs(nil)
	require.NoError(t, err)
	assert.Empty(t, empty)

	// Keys and values cannot run into each other.
	x, err := canonicalArgs(map[string]any{"a": "b;\"c\"=s\"d\""})
	require.NoError(t, err)
	y, err := canonicalArgs(map[string]any{"a": "b", "c": "d"})
	require.NoError(t, err)
	assert.NotEqual(t, x, y)

	_, err = canonicalArgs(map[string]any{"ch": make(chan int)})
	assert.ErrorIs(t, err, ErrInvalidArgs)
}

func TestNormalizeLimits(t *testing.T) {
	var deep any = 1
	for range maxValueDepth + 2 {
		deep = []any{deep}
	}
	_, err := normalize(deep)
	assert.ErrorIs(t, err, ErrInvalidArgs)

	type self struct{ Next *self }
	loop := &self{}
	loop.Next = loop
	_, err = normalize(loop)
	assert.ErrorIs(t, err, ErrInvalidArgs)

	_, err = normalize(make([]any, maxValueNodes+1))
	assert.ErrorIs(t, err, ErrInvalidArgs)

	bad := value{}
	assert.False(t, bad.equal(bad), "an invalid value equals nothing")
	assert.False(t, bad.equalsHeader(1))
}
