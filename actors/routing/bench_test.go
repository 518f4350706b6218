package routing

import (
	"fmt"
	"strconv"
	"testing"
)

// topicBenchTable binds n queues with a mix of literal, "*" and "#" keys.
func topicBenchTable(b *testing.B, n int) Table {
	tbl := newTable(b, Topic)
	for i := range n {
		var key string
		switch i % 4 {
		case 0:
			key = "stock.s" + strconv.Itoa(i) + ".nyse"
		case 1:
			key = "stock.*.x" + strconv.Itoa(i)
		case 2:
			key = "r" + strconv.Itoa(i) + ".#"
		default:
			key = "#.e" + strconv.Itoa(i)
		}
		mustAdd(b, tbl, Binding{Destination: q("q" + strconv.Itoa(i)), Key: key})
	}
	return tbl
}

func BenchmarkTopicMatch(b *testing.B) {
	for _, n := range []int{1, 100, 10_000} {
		b.Run(fmt.Sprintf("bindings=%d", n), func(b *testing.B) {
			tbl := topicBenchTable(b, n)
			dst := make([]Destination, 0, 64)
			b.ReportAllocs()
			for b.Loop() {
				dst = tbl.Match(dst[:0], "stock.s0.nyse", nil)
			}
			if len(dst) != 1 {
				b.Fatalf("matched %d destinations, want 1", len(dst))
			}
		})
	}
}

func BenchmarkTopicMatchHashHeavy(b *testing.B) {
	tbl := newTable(b, Topic)
	for i := range 100 {
		mustAdd(b, tbl, Binding{Destination: q("q" + strconv.Itoa(i)), Key: "#.a.#.b" + strconv.Itoa(i) + ".#"})
	}
	dst := make([]Destination, 0, 64)
	b.ReportAllocs()
	for b.Loop() {
		dst = tbl.Match(dst[:0], "x.a.y.a.b7.z.b9", nil)
	}
	if len(dst) != 2 {
		b.Fatalf("matched %d destinations, want 2", len(dst))
	}
}

func BenchmarkDirectMatch(b *testing.B) {
	for _, n := range []int{1, 10_000} {
		b.Run(fmt.Sprintf("bindings=%d", n), func(b *testing.B) {
			tbl := newTable(b, Direct)
			for i := range n {
				mustAdd(b, tbl, Binding{Destination: q("q" + strconv.Itoa(i)), Key: "key-" + strconv.Itoa(i)})
			}
			dst := make([]Destination, 0, 8)
			b.ReportAllocs()
			for b.Loop() {
				dst = tbl.Match(dst[:0], "key-0", nil)
			}
			if len(dst) != 1 {
				b.Fatalf("matched %d destinations, want 1", len(dst))
			}
		})
	}
}

func BenchmarkFanoutMatch(b *testing.B) {
	tbl := newTable(b, Fanout)
	for i := range 10 {
		mustAdd(b, tbl, Binding{Destination: q("q" + strconv.Itoa(i))})
	}
	dst := make([]Destination, 0, 16)
	b.ReportAllocs()
	for b.Loop() {
		dst = tbl.Match(dst[:0], "", nil)
	}
}

func BenchmarkHeadersMatch(b *testing.B) {
	tbl := newTable(b, Headers)
	for i := range 100 {
		args := map[string]any{"x-match": "all", "format": "pdf", "type": "t" + strconv.Itoa(i)}
		mustAdd(b, tbl, Binding{Destination: q("q" + strconv.Itoa(i)), Args: args})
	}
	lookup := headerMap(map[string]any{"format": "pdf", "type": "t7"})
	dst := make([]Destination, 0, 16)
	b.ReportAllocs()
	for b.Loop() {
		dst = tbl.Match(dst[:0], "", lookup)
	}
	if len(dst) != 1 {
		b.Fatalf("matched %d destinations, want 1", len(dst))
	}
}
