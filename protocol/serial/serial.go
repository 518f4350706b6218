// Package serial implements RFC 1982 serial-number arithmetic on 32-bit numbers, which AMQP 1.0 uses for
// transfer ids, delivery ids and delivery counts (spec 2.6.7, 2.7.4: "sequence-no ... RFC-1982").
//
// Warren starts every such counter near 2^32 (see Start), so every test exercises wrap-around.
package serial

// Start is where Warren's counters begin: four below the wrap, as RabbitMQ does, so that the first few
// deliveries of every link and session cross 2^32.
const Start uint32 = 1<<32 - 5

// Less reports whether a precedes b in serial order (RFC 1982 §3.2). For a and b exactly 2^31 apart the
// comparison is undefined by the RFC; we answer false, which keeps both Less(a, b) and Less(b, a) false.
func Less(a, b uint32) bool {
	return a != b && int32(a-b) < 0 && a-b != 1<<31
}

// LessEq reports a == b || Less(a, b).
func LessEq(a, b uint32) bool { return a == b || Less(a, b) }

// Diff returns b - a as a signed distance (how far b is ahead of a).
func Diff(a, b uint32) int64 { return int64(int32(b - a)) }

// InRange reports whether x lies in the closed serial range [first, last].
func InRange(x, first, last uint32) bool { return LessEq(first, x) && LessEq(x, last) }
