package main

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestHistogramBuckets(t *testing.T) {
	// Buckets are contiguous and ordered: every value lands in a bucket whose range holds it.
	prev := -1
	for _, v := range []uint64{0, 1, 63, 64, 127, 128, 129, 255, 256, 257, 1000, 1 << 20, 1<<20 + 12345, maxLatencyMicros} {
		b := bucketOf(v)
		require.Less(t, b, histogramBuckets, "value %d", v)
		require.GreaterOrEqual(t, b, prev, "value %d", v)
		prev = b
		mid := bucketValue(b)
		assert.InDelta(t, float64(v), float64(mid), float64(v)/64+1, "value %d in bucket %d (mid %d)", v, b, mid)
	}
	for i := 1; i < histogramBuckets; i++ {
		require.Greater(t, bucketValue(i), bucketValue(i-1), "bucket %d", i)
	}
	assert.Equal(t, histogramBuckets-1, bucketOf(maxLatencyMicros))
}

func TestHistogramQuantiles(t *testing.T) {
	var h histogram
	assert.Zero(t, h.quantile(0.5), "empty")
	r := rand.New(rand.NewPCG(1, 2))
	values := make([]uint64, 100_000)
	for i := range values {
		values[i] = uint64(r.ExpFloat64() * 2000) // µs, a long tail
		h.record(values[i])
	}
	slices.Sort(values)
	for _, q := range []float64{0.5, 0.95, 0.99, 0.999} {
		want := float64(values[int(q*float64(len(values)))-1])
		assert.InEpsilon(t, want, float64(h.quantile(q)), 0.02, "q=%v", q)
	}
	assert.Equal(t, values[len(values)-1], h.max)
	assert.Equal(t, values[len(values)-1], h.quantile(1))
	assert.Equal(t, values[0], h.min)

	var sum histogram
	var a, b histogram
	a.record(10)
	b.record(1_000_000)
	sum.merge(&a)
	sum.merge(&b)
	sum.merge(&histogram{})
	assert.Equal(t, uint64(2), sum.n)
	assert.Equal(t, uint64(10), sum.min)
	assert.Equal(t, uint64(1_000_000), sum.max)
	assert.InDelta(t, 500_005, sum.mean(), 0.1)
	assert.Equal(t, uint64(10), sum.quantile(0.5))
	sum.reset()
	assert.Zero(t, sum.n)
	h.record(1 << 50)
	assert.Equal(t, uint64(maxLatencyMicros), h.max, "clamped")
}
