package actors

import (
	"net"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/warren-mq/warren/protocol"
)

// settledGoroutines waits until the goroutine count drops back to at most base (plus slack for the
// runtime's own), failing the test when it does not: the broker left nothing running behind. base
// comes from liveGoroutines too.
func settledGoroutines(t *testing.T, b *Broker, base int) {
	t.Helper()
	require.Eventually(t, func() bool { return liveGoroutines(b) <= base+5 }, 10*time.Second, 20*time.Millisecond,
		"goroutines did not return to %d (now %d)", base, liveGoroutines(b))
}

// liveGoroutines counts goroutines other than the dispatcher's parked workers: those wait for actor
// work, are bounded by the dispatcher's maxParked (TestWarmDispatcherBoundsParkedWorkers) and are not
// a leak.
func liveGoroutines(b *Broker) int { return runtime.NumGoroutine() - int(b.disp.parked.Load()) }

// A performative nested 100,000 lists deep is a decode error, answered without exhausting the stack.
func TestRawDeeplyNestedList(t *testing.T) {
	b := startBroker(t)
	c, _ := rawOpen(t, b, nil)
	c.begin(0)
	out := rawDeepList(100_000) // an attach whose first field is a list nested 100,000 deep
	require.Less(t, len(out), 1<<20, "fits the default max-frame-size")
	c.write(out)
	c.expectClose(protocol.ErrDecodeError)
	assertBrokerServes(t, b)
}

// 300 connections opened and dropped at every stage of the handshake leave nothing behind.
func TestRawManyConnectionsDropped(t *testing.T) {
	b := startBroker(t)
	assertBrokerServes(t, b) // warm up the broker's own goroutines
	runtime.GC()
	base := liveGoroutines(b)
	var wg sync.WaitGroup
	for i := range 300 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			nc, err := net.Dial("tcp", b.Addr().String())
			if !assert.NoError(t, err) {
				return
			}
			defer nc.Close()
			switch i % 3 {
			case 0: // never sends a byte
			case 1: // a header, then gone
				_, _ = nc.Write(protocol.AppendProtoHeader(nil, protocol.ProtoSASL))
			case 2: // a full AMQP open, then gone without close
				_, _ = nc.Write(protocol.AppendProtoHeader(nil, protocol.ProtoAMQP))
				out, _ := protocol.AppendFrame(nil, 0, &protocol.Open{ContainerID: "dropper", ChannelMax: 10})
				_, _ = nc.Write(out)
				var hdr [8]byte
				_, _ = readFull(nc, hdr[:])
			}
		}()
	}
	wg.Wait()
	settledGoroutines(t, b, base)
	assertBrokerServes(t, b)
}

// FuzzConnection feeds arbitrary bytes to a connection after a valid handshake, over net.Pipe: the
// broker must never panic (no goroutine crash, no supervised actor failure), and must leave no
// goroutine or actor behind once the peer is gone.
func FuzzConnection(f *testing.F) {
	seed := func(ps ...protocol.Performative) []byte {
		var out []byte
		for _, p := range ps {
			out, _ = protocol.AppendFrame(out, 0, p)
		}
		return out
	}
	f.Add(seed(&protocol.Begin{IncomingWindow: 10, OutgoingWindow: 10, HandleMax: 10}))
	f.Add(seed(&protocol.Begin{IncomingWindow: 10, OutgoingWindow: 10, HandleMax: 10},
		&protocol.Attach{Name: "x", Handle: 0, Role: protocol.RoleSender, Target: &protocol.Target{Address: protocol.Some("q")}},
		&protocol.Transfer{Handle: 0, DeliveryID: protocol.Some(uint32(0)), DeliveryTag: []byte{1}, MessageFormat: protocol.Some(uint32(0))},
		&protocol.Detach{Handle: 0, Closed: true}, &protocol.End{}, &protocol.Close{}))
	f.Add([]byte{0, 0, 0, 8, 2, 0, 0, 0})
	f.Add([]byte("garbage after the handshake"))

	b, err := NewBroker(Options{AMQPAddr: "-", Logger: testLogger()})
	require.NoError(f, err)
	f.Cleanup(func() { _ = b.system.Root.StopFuture(b.root).Wait() })
	base, baseActors := liveGoroutines(b), liveActors(b)

	f.Fuzz(func(t *testing.T, data []byte) {
		client, server := net.Pipe()
		done := make(chan struct{})
		go func() {
			defer close(done)
			b.handleConn(server)
		}()
		_ = client.SetDeadline(time.Now().Add(5 * time.Second))
		go func() { // drain whatever the broker writes, so its writer never blocks
			buf := make([]byte, 4096)
			for {
				if _, err := client.Read(buf); err != nil {
					return
				}
			}
		}()
		_, _ = client.Write(protocol.AppendProtoHeader(nil, protocol.ProtoAMQP))
		open, _ := protocol.AppendFrame(nil, 0, &protocol.Open{ContainerID: "fuzz", ChannelMax: 10})
		_, _ = client.Write(open)
		_, _ = client.Write(data)
		_ = client.Close()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("the connection's goroutine did not end after the peer closed")
		}
		require.Eventually(t, func() bool { return liveGoroutines(b) <= base+10 }, 10*time.Second, 5*time.Millisecond,
			"goroutines leaked: %d, started with %d", liveGoroutines(b), base)
		// An actor that panics is stopped by its supervisor and the broker lives on, so a panic shows as
		// a supervised failure, and a connection's actors that outlive it as live actors.
		require.Zero(t, b.restarts.Load(), "an actor panicked on this input")
		require.Eventually(t, func() bool { return liveActors(b) <= baseActors }, 10*time.Second, 5*time.Millisecond,
			"actors leaked: %d, started with %d", liveActors(b), baseActors)
	})
}
