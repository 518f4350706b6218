package main

import (
	"math"
	"math/bits"
)

// histogram counts latencies in microseconds in log-linear buckets, as HdrHistogram does: values
// below 128 µs exactly, larger ones in 64 buckets per power of two, so a reported percentile is
// within 1/64 (1.6 %) of the true value. Values above maxLatencyMicros (about 12.7 days) are
// clamped. It is not safe for concurrent use.
type histogram struct {
	counts [histogramBuckets]uint64
	n      uint64
	sum    uint64
	min    uint64
	max    uint64
}

const (
	subBucketBits    = 6
	subBuckets       = 1 << subBucketBits // 64
	maxLatencyMicros = 1<<40 - 1
	histogramBuckets = (40-subBucketBits-1)*subBuckets + 2*subBuckets
)

// bucketOf maps a value to its bucket: [0, 128) one bucket per value, then for v with k significant
// bits (k ≥ 8) the top seven bits of v select one of 64 buckets of width 2^(k-7).
func bucketOf(v uint64) int {
	if v < 2*subBuckets {
		return int(v)
	}
	shift := bits.Len64(v) - subBucketBits - 1
	return shift*subBuckets + int(v>>shift)
}

// bucketValue is the middle of a bucket's range of values.
func bucketValue(i int) uint64 {
	if i < 2*subBuckets {
		return uint64(i)
	}
	shift := i/subBuckets - 1
	low := uint64(i-shift*subBuckets) << shift
	return low + (uint64(1)<<shift)/2
}

func (h *histogram) record(v uint64) {
	v = min(v, maxLatencyMicros)
	h.counts[bucketOf(v)]++
	if h.n == 0 || v < h.min {
		h.min = v
	}
	h.max = max(h.max, v)
	h.n++
	h.sum += v
}

func (h *histogram) merge(o *histogram) {
	if o.n == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	h.max = max(h.max, o.max)
	h.n += o.n
	h.sum += o.sum
}

func (h *histogram) reset() { *h = histogram{} }

// quantile returns the value at or below which a fraction q of the recorded values lie (0 when empty).
func (h *histogram) quantile(q float64) uint64 {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	rank = max(rank, 1)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return min(max(bucketValue(i), h.min), h.max)
		}
	}
	return h.max
}

func (h *histogram) mean() float64 {
	if h.n == 0 {
		return 0
	}
	return float64(h.sum) / float64(h.n)
}
