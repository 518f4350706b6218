package serial

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestLessAcrossWrap(t *testing.T) {
	s := Start
	assert.True(t, Less(s, s+1))
	assert.True(t, Less(1<<32-1, 0), "the last value precedes 0 after the wrap")
	assert.True(t, Less(1<<32-2, 3))
	assert.False(t, Less(3, 1<<32-2))
	assert.False(t, Less(7, 7))
	assert.False(t, Less(0, 1<<31), "2^31 apart is undefined: neither precedes")
	assert.False(t, Less(1<<31, 0))
	assert.True(t, LessEq(9, 9))
}

func TestDiffAndRange(t *testing.T) {
	s := Start
	assert.Equal(t, int64(5), Diff(s, s+5))
	assert.Equal(t, int64(-5), Diff(s+5, s))
	assert.Equal(t, int64(10), Diff(1<<32-5, 5))
	assert.True(t, InRange(0, 1<<32-2, 2))
	assert.True(t, InRange(1<<32-2, 1<<32-2, 2))
	assert.False(t, InRange(3, 1<<32-2, 2))
}
