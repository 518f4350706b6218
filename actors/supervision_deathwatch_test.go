package actors

import (
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/Azure/go-amqp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/warren-mq/warren/supervision"
)

// Death watch (DESIGN.md §1, §4): a queue forgets the consumers of a connection or session that died
// without detaching — the actor crashed or the socket vanished — and returns their unsettled deliveries;
// exclusive, dynamic and auto-delete queues go with their owner.

// ownedQueues gives conn a consumer holding three unsettled deliveries of "watched" (of six), an
// exclusive queue, a dynamic queue and the only consumer of an auto-delete queue; it returns the dynamic
// queue's name.
func ownedQueues(t *testing.T, b *Broker, mc *mgmtClient, producer *amqp.Session, conn *amqp.Conn) string {
	t.Helper()
	snd := sender(t, producer, "watched", nil)
	for i := range 6 {
		send(t, snd, fmt.Sprint(i))
	}
	st, _ := mc.call("PUT", "/queues/leaves-with-last", map[string]any{"durable": false, "auto_delete": true})
	require.Equal(t, 2, st/100)

	s := newSess(t, conn)
	r := receiver(t, s, "watched", &amqp.ReceiverOptions{Credit: 3})
	for range 3 {
		recv(t, r) // never settled
	}
	st, _ = newMgmtClient(t, s).call("PUT", "/queues/owned", map[string]any{"exclusive": true, "durable": false})
	require.Equal(t, 201, st)
	dyn := receiver(t, s, "", &amqp.ReceiverOptions{DynamicAddress: true})
	receiver(t, s, "/queues/leaves-with-last", nil)
	name := dyn.Address()[len("/queues/"):]

	msgs, consumers, _ := queueDepth(t, b, "watched")
	require.Equal(t, 6, msgs)
	require.Equal(t, 1, consumers)
	for _, q := range []string{"owned", name, "leaves-with-last"} {
		_, _, ok := queueDepth(t, b, q)
		require.True(t, ok, q)
	}
	return name
}

// assertOwnerGone checks that the queues of ownedQueues went with their owner and that a new consumer
// gets all six messages of "watched", the three the dead consumer held among them.
func assertOwnerGone(t *testing.T, b *Broker, s *amqp.Session, dynamic string) {
	t.Helper()
	require.Eventually(t, func() bool { _, c, _ := queueDepth(t, b, "watched"); return c == 0 }, 10*time.Second, 10*time.Millisecond,
		"the queue forgot the dead consumer")
	for _, q := range []string{"owned", dynamic, "leaves-with-last"} {
		require.Eventually(t, func() bool { _, _, ok := queueDepth(t, b, q); return !ok }, 10*time.Second, 10*time.Millisecond,
			"queue %s went with its owner", q)
	}
	r := receiver(t, s, "watched", &amqp.ReceiverOptions{Credit: 10})
	got := map[string]int{}
	redelivered := 0
	for range 6 {
		m := recv(t, r)
		got[string(m.GetData())]++
		if m.Header != nil && !m.Header.FirstAcquirer {
			redelivered++
		}
		require.NoError(t, r.AcceptMessage(testCtx(t), m))
	}
	for i := range 6 {
		assert.Equal(t, 1, got[fmt.Sprint(i)], "message %d", i)
	}
	assert.Equal(t, 3, redelivered, "the dead consumer's deliveries came back")
}

func TestConnectionCrashQueueForgetsItsConsumersSupervision(t *testing.T) {
	f := supervision.NewFaults()
	b := startBroker(t, withFaults(f))
	main := newSess(t, dial(t, b, nil))
	mc := newMgmtClient(t, main)
	victim := dial(t, b, nil)
	dynamic := ownedQueues(t, b, mc, main, victim)

	f.Inject(supervision.Connection, "", "*actors.inFrames", 1) // every other connection is idle now
	_, err := victim.NewSession(testCtx(t), nil)
	var ce *amqp.ConnError
	require.True(t, errors.As(err, &ce), "the connection closes: %v", err)
	require.NotNil(t, ce.RemoteErr)
	assert.Equal(t, amqp.ErrCond("amqp:internal-error"), ce.RemoteErr.Condition)
	assertOwnerGone(t, b, main, dynamic)
}

func TestSocketVanishesQueueForgetsItsConsumersCrash(t *testing.T) {
	b := startBroker(t)
	main := newSess(t, dial(t, b, nil))
	mc := newMgmtClient(t, main)
	nc, err := net.Dial("tcp", b.Addr().String())
	require.NoError(t, err)
	victim, err := amqp.NewConn(testCtx(t), nc, nil)
	require.NoError(t, err)
	dynamic := ownedQueues(t, b, mc, main, victim)

	require.NoError(t, nc.Close()) // no detach, no end, no close: the socket is just gone
	assertOwnerGone(t, b, main, dynamic)
}

// A session panics while its consumer holds unsettled deliveries: the session ends, the queue forgets
// the consumer and the deliveries go to the next one.
func TestSessionPanicQueueForgetsItsConsumers(t *testing.T) {
	f := supervision.NewFaults()
	b := startBroker(t, withFaults(f))
	main := newSess(t, dial(t, b, nil))
	snd := sender(t, main, "sess-watched", nil)
	for i := range 4 {
		send(t, snd, fmt.Sprint(i))
	}
	c := dial(t, b, nil)
	newSess(t, c) // channel 0 stays idle
	s1 := newSess(t, c)
	r := receiver(t, s1, "sess-watched", &amqp.ReceiverOptions{Credit: 2})
	recv(t, r)
	recv(t, r)

	f.Inject(supervision.Session, "/s1-", "*actors.sessionFrames", 1) // only c has a session on channel 1
	_, err := s1.NewReceiver(testCtx(t), "sess-watched", nil)
	var se *amqp.SessionError
	require.True(t, errors.As(err, &se), "the session ends: %v", err)
	require.Eventually(t, func() bool { _, n, _ := queueDepth(t, b, "sess-watched"); return n == 0 }, 10*time.Second, 10*time.Millisecond,
		"the queue forgot the session's consumer")
	assertQueue(t, main, "sess-watched", "0", "1", "2", "3")
}

// A deleted queue detaches its consumers with amqp:resource-deleted.
func TestQueueDeletedDetachesConsumersSupervision(t *testing.T) {
	b := startBroker(t)
	s := newSess(t, dial(t, b, nil))
	send(t, sender(t, s, "to-delete", nil), "m")
	r1 := receiver(t, s, "/queues/to-delete", &amqp.ReceiverOptions{Credit: 1})
	recv(t, r1) // holds the message, unsettled
	r2 := receiver(t, newSess(t, dial(t, b, nil)), "/queues/to-delete", nil)
	st, _ := newMgmtClient(t, newSess(t, dial(t, b, nil))).call("DELETE", "/queues/to-delete", nil)
	require.Equal(t, 200, st)
	for _, r := range []*amqp.Receiver{r1, r2} {
		_, err := r.Receive(testCtx(t), nil)
		var le *amqp.LinkError
		require.True(t, errors.As(err, &le), "the consumer is detached: %v", err)
		require.NotNil(t, le.RemoteErr)
		assert.Equal(t, amqp.ErrCond("amqp:resource-deleted"), le.RemoteErr.Condition)
	}
}
