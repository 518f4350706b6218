package actors

import (
	"encoding/binary"
	"fmt"
	"net"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/warren-mq/warren/actors/definitions"
	"github.com/warren-mq/warren/protocol"
)

// The "Prove it" list of issue 7: each hostile peer gets the right AMQP answer, and afterwards the broker
// still serves a normal client with its goroutines, actors and heap where they were.

// brokerFootprint is what a hostile peer could leave behind: goroutines, live actors (an idle actor
// has no goroutine, so a leaked one shows only here and in the heap), registered connections and heap.
type brokerFootprint struct {
	goroutines, actors, conns int
	heap, totalAlloc          uint64
}

func liveActors(b *Broker) int {
	n := 0
	for _, bucket := range b.system.ProcessRegistry.LocalPIDs.LocalPIDs {
		n += bucket.Count()
	}
	return n
}

func footprint(b *Broker) brokerFootprint {
	runtime.GC()
	runtime.GC() // the second cycle frees what the first one's finalizers released
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.mu.Lock()
	conns := len(b.conns)
	b.mu.Unlock()
	return brokerFootprint{goroutines: liveGoroutines(b), actors: liveActors(b), conns: conns,
		heap: ms.HeapAlloc, totalAlloc: ms.TotalAlloc}
}

// Tolerances: small against what a leak per hostile connection adds up to over the hundreds of
// connections a test opens (one goroutine each, one actor each, a 4 KiB read buffer each).
const (
	goroutineSlack = 5
	heapSlack      = 1 << 20
)

// assertFootprintSettled waits until b is back at base: every goroutine, actor and connection of the
// hostile peers gone, the heap within heapSlack of where it was.
func assertFootprintSettled(t *testing.T, b *Broker, base brokerFootprint) brokerFootprint {
	t.Helper()
	var now brokerFootprint
	settled := func() bool {
		now = footprint(b)
		return now.goroutines <= base.goroutines+goroutineSlack && now.actors <= base.actors && now.conns == 0 &&
			now.heap <= base.heap+heapSlack
	}
	if !assert.Eventually(t, settled, 10*time.Second, 50*time.Millisecond) {
		var stacks strings.Builder
		_ = pprof.Lookup("goroutine").WriteTo(&stacks, 1)
		t.Fatalf("the broker did not return to its footprint: goroutines %d → %d, actors %d → %d, connections %d, heap %d KiB → %d KiB\n%s",
			base.goroutines, now.goroutines, base.actors, now.actors, now.conns, base.heap>>10, now.heap>>10, stacks.String())
	}
	return now
}

// hostileCase is one peer from the list, with the answer it must get.
type hostileCase struct {
	name string
	run  func(t *testing.T, b *Broker)
}

// rawDeepList is an attach frame whose first field is a list nested depth lists deep: list32 headers
// from the outside in (code, size of what follows the size field, count 1), the innermost an empty
// list; level k holds the depth-k-1 levels below it plus the list0.
func rawDeepList(depth int) []byte {
	inner := make([]byte, 0, depth*9+1)
	for k := range depth {
		var lvl [9]byte
		lvl[0] = protocol.TypeList32
		binary.BigEndian.PutUint32(lvl[1:], uint32(4+(depth-k-1)*9+1))
		binary.BigEndian.PutUint32(lvl[5:], 1)
		inner = append(inner, lvl[:]...)
	}
	inner = append(inner, protocol.TypeList0)
	out, mark := protocol.BeginFrame(nil, protocol.FrameTypeAMQP, 0)
	out = protocol.AppendDescriptor(out, 0x12) // attach, its first field nested depth lists deep
	out = append(out, inner...)
	return protocol.EndFrame(out, mark)
}

// expectOnlyProtoHeader: the broker answers with exactly one AMQP 1.0 protocol header and hangs up (spec 2.2).
func expectOnlyProtoHeader(t *testing.T, c *rawClient) {
	t.Helper()
	got := c.readAll()
	require.Len(t, got, 8, "want exactly one protocol header, got %q", got)
	h, err := protocol.ParseProtoHeader([8]byte(got))
	require.NoError(t, err)
	assert.Equal(t, protocol.ProtoHeader{ID: h.ID, Major: 1}, h)
	assert.Contains(t, []protocol.ProtoID{protocol.ProtoAMQP, protocol.ProtoSASL}, h.ID)
}

func hostileCases() []hostileCase {
	deep := rawDeepList(100_000)
	return []hostileCase{
		{"HTTP request", func(t *testing.T, b *Broker) {
			c := rawDial(t, b)
			c.write([]byte("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"))
			expectOnlyProtoHeader(t, c)
		}},
		{"wrong protocol header", func(t *testing.T, b *Broker) {
			c := rawDial(t, b)
			c.write([]byte{'A', 'M', 'Q', 'P', 0, 0, 9, 1})
			expectOnlyProtoHeader(t, c)
		}},
		{"garbage after the header", func(t *testing.T, b *Broker) {
			c := rawDial(t, b)
			c.write(protocol.AppendProtoHeader(nil, protocol.ProtoAMQP))
			c.readHeader()
			c.write([]byte("this is not an AMQP frame"))
			expectFrame[*protocol.Open](c) // spec 2.4.1: open before close
			c.expectClose(protocol.ErrFramingError)
		}},
		{"frame header claiming 2 GiB", func(t *testing.T, b *Broker) {
			c, _ := rawOpen(t, b, nil)
			c.write(frameHeader(2<<30, 2, protocol.FrameTypeAMQP, 0))
			c.expectClose(protocol.ErrFramingError)
		}},
		{"transfer on an unattached handle", func(t *testing.T, b *Broker) {
			c, _ := rawOpen(t, b, nil)
			c.begin(0)
			out, err := protocol.AppendTransferFrame(nil, 0, &protocol.Transfer{Handle: 7, DeliveryID: protocol.Some[uint32](0),
				DeliveryTag: []byte("t"), MessageFormat: protocol.Some[uint32](0)}, []byte{0x00, 0x53, 0x77, 0x40})
			require.NoError(t, err)
			c.write(out)
			end := expectFrame[*protocol.End](c)
			require.NotNil(t, end.Error)
			assert.Equal(t, protocol.ErrUnattachedHandle, end.Error.Condition)
			c.send(0, &protocol.Close{})
			assert.Nil(t, expectFrame[*protocol.Close](c).Error)
		}},
		{"100,000-deep nested list", func(t *testing.T, b *Broker) {
			c, _ := rawOpen(t, b, nil)
			c.begin(0)
			c.write(deep)
			c.expectClose(protocol.ErrDecodeError)
		}},
		{"connections that never send a byte", func(t *testing.T, b *Broker) {
			cs := make([]*rawClient, 5)
			for i := range cs {
				cs[i] = rawDial(t, b)
			}
			start := time.Now()
			for _, c := range cs {
				got := c.readAll() // nothing, or the header the broker wants, then the close
				assert.LessOrEqual(t, len(got), 8, "%q", got)
			}
			assert.GreaterOrEqual(t, time.Since(start), b.opts.Limits.HandshakeTimeout/2)
		}},
		{"SASL init with a wrong password", func(t *testing.T, b *Broker) {
			// bob has a RabbitMQ SHA-256 hash: checking it takes microseconds, also under -race, where a
			// bcrypt check can outlast the short handshake timeout of this test.
			c, out := rawSASL(t, b, &protocol.SASLInit{Mechanism: "PLAIN", InitialResponse: []byte("\x00bob\x00wrong")})
			assert.Equal(t, protocol.SASLAuth, out.Code)
			c.expectEOF()
		}},
		{"PLAIN response without NULs", func(t *testing.T, b *Broker) {
			c, out := rawSASL(t, b, &protocol.SASLInit{Mechanism: "PLAIN", InitialResponse: []byte("guestguest")})
			assert.Equal(t, protocol.SASLAuth, out.Code)
			c.expectEOF()
		}},
		{"300 connections opened and dropped", func(t *testing.T, b *Broker) {
			var wg sync.WaitGroup
			for i := range 300 {
				wg.Go(func() {
					nc, err := net.Dial("tcp", b.Addr().String())
					if !assert.NoError(t, err) {
						return
					}
					defer nc.Close()
					switch i % 3 {
					case 1:
						_, _ = nc.Write(protocol.AppendProtoHeader(nil, protocol.ProtoSASL))
					case 2:
						_, _ = nc.Write(protocol.AppendProtoHeader(nil, protocol.ProtoAMQP))
						out, _ := protocol.AppendFrame(nil, 0, &protocol.Open{ContainerID: fmt.Sprint("dropper-", i)})
						_, _ = nc.Write(out)
						var hdr [8]byte
						_ = nc.SetReadDeadline(time.Now().Add(rawIO))
						_, _ = readFull(nc, hdr[:])
					}
				})
			}
			wg.Wait()
		}},
	}
}

// Every case of the list, first once to warm the broker up, then ten rounds: the broker must answer
// each one right every time, serve a normal client afterwards, and be back at its footprint.
func TestRawHostilePeersLeaveNoTrace(t *testing.T) {
	b := startBroker(t, func(o *Options) {
		o.Limits.HandshakeTimeout = 400 * time.Millisecond
		o.Auth.FailedLoginLimit = -1                                        // deliberate wrong passwords: the limiter has its own tests
		o.Definitions = &definitions.Definitions{Users: []definitions.User{ // "secret", as in TestSASLPlainAndDefinitionsUsers
			{Name: "bob", PasswordHash: "kI3GCqG+cq65rBQ9tiUUCREygKhmilKrZEWKSz+H0FJ1fk4/"}}}
	})
	cases := hostileCases()
	for _, hc := range cases {
		t.Run("warm-up/"+hc.name, func(t *testing.T) { hc.run(t, b) })
	}
	assertBrokerServes(t, b)
	base := assertFootprintSettled(t, b, footprint(b))

	const rounds = 10
	for round := range rounds {
		for _, hc := range cases {
			if !t.Run(fmt.Sprintf("%d/%s", round, hc.name), func(t *testing.T) { hc.run(t, b) }) {
				t.FailNow()
			}
		}
	}
	after := assertFootprintSettled(t, b, base)
	// The 2 GiB claim is refused from its header: the broker never allocates for it. Everything the
	// rounds allocated, on both sides of the sockets, stays far below one such frame.
	assert.Less(t, after.totalAlloc-base.totalAlloc, uint64(1<<30), "allocated during the rounds")
	assertBrokerServes(t, b)
}

// Garbage straight after the protocol header (spec 2.2, 2.3.1): the AMQP layer answers open then close
// with the reason; the SASL layer has no close, so after its mechanisms the socket just closes.
func TestRawGarbageAfterHeader(t *testing.T) {
	b := startBroker(t)
	amqpCases := map[string]struct {
		bytes []byte
		cond  protocol.Symbol
	}{
		"text":                 {[]byte("hello, broker, here is some garbage"), protocol.ErrFramingError},
		"zeros":                {make([]byte, 16), protocol.ErrFramingError},
		"second header":        {protocol.AppendProtoHeader(nil, protocol.ProtoAMQP), protocol.ErrFramingError},
		"well framed, no open": {rawFrame([]byte{0xde, 0xad, 0xbe, 0xef}), protocol.ErrDecodeError},
		"begin before open": {func() []byte {
			out, _ := protocol.AppendFrame(nil, 0, &protocol.Begin{IncomingWindow: 1, OutgoingWindow: 1})
			return out
		}(), protocol.ErrIllegalState},
	}
	for name, tc := range amqpCases {
		t.Run("AMQP/"+name, func(t *testing.T) {
			c := rawDial(t, b)
			c.write(protocol.AppendProtoHeader(nil, protocol.ProtoAMQP))
			require.Equal(t, protocol.ProtoAMQP, c.readHeader().ID)
			c.write(tc.bytes)
			expectFrame[*protocol.Open](c)
			c.expectClose(tc.cond)
		})
	}
	saslCases := map[string][]byte{
		"text":              []byte("hello, broker, here is some garbage"),
		"2 GiB frame":       frameHeader(2<<30, 2, protocol.FrameTypeSASL, 0),
		"AMQP frame":        rawFrame([]byte{0x00, 0x53, 0x10, 0x45}),
		"SASL frame, bogus": append(frameHeader(12, 2, protocol.FrameTypeSASL, 0), 0xde, 0xad, 0xbe, 0xef),
	}
	for name, garbage := range saslCases {
		t.Run("SASL/"+name, func(t *testing.T) {
			c := rawDial(t, b)
			c.write(protocol.AppendProtoHeader(nil, protocol.ProtoSASL))
			require.Equal(t, protocol.ProtoSASL, c.readHeader().ID)
			_, ok := c.nextSASL().(*protocol.SASLMechanisms)
			require.True(t, ok)
			c.write(garbage)
			assert.Empty(t, c.readAll(), "nothing after the mechanisms: the socket closes")
		})
	}
	assertBrokerServes(t, b)
}

// A peer that sends the header and then stalls gets open and close(amqp:resource-limit-exceeded) when
// the handshake timeout (10 s by default) runs out, not an internal error.
func TestRawHandshakeTimeoutAnswer(t *testing.T) {
	plain := startBroker(t)
	assert.Equal(t, 10*time.Second, plain.opts.Limits.HandshakeTimeout, "the default handshake timeout")

	b := startBroker(t, func(o *Options) { o.Limits.HandshakeTimeout = 300 * time.Millisecond })
	c := rawDial(t, b)
	c.write(protocol.AppendProtoHeader(nil, protocol.ProtoAMQP))
	c.readHeader()
	expectFrame[*protocol.Open](c)
	e := c.expectClose(protocol.ErrResourceLimitExceeded)
	assert.Contains(t, e.Description, "handshake")
	assertBrokerServes(t, b)
}
