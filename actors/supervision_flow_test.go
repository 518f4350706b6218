package actors

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/Azure/go-amqp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/warren-mq/warren/protocol"
)

// unackedOf is how many deliveries of a queue wait for their consumers' settlement.
func unackedOf(t *testing.T, b *Broker, name string) int {
	t.Helper()
	res, err := b.system.Root.RequestFuture(b.queuePID(t, name), &inspect{fn: func(a any) any { return len(a.(*queue).unacked) }}, 5*time.Second).Result()
	require.NoError(t, err)
	return res.(int)
}

// A slow consumer never slows other consumers or publishers to other queues. One peer never reads its
// socket (its consumer of "stuck" holds plenty of credit, so the broker's writes to it pile up and
// block) and has a second consumer, on "shared", that took one message and never grants more credit.
// Meanwhile a producer and a consumer of another queue move every message, the other consumer of
// "shared" gets all the rest, and producers to "stuck" itself are still accepted. Counts, not timings.
func TestSupervisionSlowConsumerDoesNotSlowOthers(t *testing.T) {
	b := startBroker(t)
	s := newSess(t, dial(t, b, nil))
	for _, q := range []string{"stuck", "shared", "fast"} {
		send(t, sender(t, s, q, nil), "declare "+q)
		assertQueue(t, s, q, "declare "+q)
	}

	raw, _ := rawOpen(t, b, &protocol.Open{ContainerID: "never-reads", ChannelMax: 1, MaxFrameSize: 1 << 20})
	require.NoError(t, raw.nc.(*net.TCPConn).SetReadBuffer(4096))
	raw.send(0, &protocol.Begin{NextOutgoingID: 0, IncomingWindow: 1 << 20, OutgoingWindow: 100, HandleMax: 8})
	expectFrame[*protocol.Begin](raw)
	for h, q := range []string{"stuck", "shared"} {
		raw.send(0, &protocol.Attach{Name: q, Handle: uint32(h), Role: protocol.RoleReceiver,
			Source: &protocol.Source{Address: protocol.Some("/queues/" + q)}, Target: &protocol.Target{}})
		expectFrame[*protocol.Attach](raw)
	}
	for h, credit := range []uint32{100000, 1} {
		raw.send(0, &protocol.Flow{IncomingWindow: 1 << 20, OutgoingWindow: 100, Handle: protocol.Some(uint32(h)),
			DeliveryCount: protocol.Some(uint32(0)), LinkCredit: protocol.Some(credit)})
	}
	// From here on the raw peer reads nothing.

	big := make([]byte, 64<<10)
	toStuck := sender(t, s, "/queues/stuck", nil)
	for range 200 {
		require.IsType(t, &amqp.StateAccepted{}, sendMsg(t, toStuck, amqp.NewMessage(big)), "a producer to the slow consumer's queue")
	}
	require.Eventually(t, func() bool { return unackedOf(t, b, "stuck") == 200 }, 10*time.Second, 10*time.Millisecond,
		"every message went to the consumer that does not read: 12.5 MiB its socket cannot take")

	const n = 2000
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { // more for the stuck queue while the others run
		defer wg.Done()
		for range 100 {
			if !assert.NoError(t, toStuck.Send(testCtx(t), amqp.NewMessage(big), nil)) {
				return
			}
		}
	}()
	go func() {
		defer wg.Done()
		snd := sender(t, newSess(t, dial(t, b, nil)), "/queues/fast", nil)
		for i := range n {
			if !assert.NoError(t, snd.Send(testCtx(t), amqp.NewMessage([]byte(fmt.Sprint(i))), nil)) {
				return
			}
		}
	}()
	go func() {
		defer wg.Done()
		snd := sender(t, newSess(t, dial(t, b, nil)), "/queues/shared", nil)
		for i := range 100 {
			if !assert.NoError(t, snd.Send(testCtx(t), amqp.NewMessage([]byte(fmt.Sprint(i))), nil)) {
				return
			}
		}
	}()
	fast := receiver(t, newSess(t, dial(t, b, nil)), "/queues/fast", &amqp.ReceiverOptions{Credit: 100})
	got := map[string]bool{}
	for len(got) < n {
		m := recv(t, fast)
		got[string(m.GetData())] = true
		require.NoError(t, fast.AcceptMessage(testCtx(t), m))
	}
	shared := receiver(t, newSess(t, dial(t, b, nil)), "/queues/shared", &amqp.ReceiverOptions{Credit: 10})
	gotShared := map[string]bool{}
	for len(gotShared) < 99 {
		m := recv(t, shared)
		gotShared[string(m.GetData())] = true
		require.NoError(t, shared.AcceptMessage(testCtx(t), m))
	}
	wg.Wait()
	assert.Len(t, got, n, "the other queue's consumer got every message")
	assert.Len(t, gotShared, 99, "the other consumer of the shared queue got all but the one the stuck consumer holds")
	require.Eventually(t, func() bool { msgs, consumers, _ := queueDepth(t, b, "shared"); return msgs == 1 && consumers == 2 },
		10*time.Second, 10*time.Millisecond, "only the stuck consumer's delivery is left, unsettled")
	msgs, _, _ := queueDepth(t, b, "stuck")
	assert.Equal(t, 300, msgs, "every message for the stuck consumer's queue was accepted")
}

// x-overflow reject-publish: a full queue answers each further publish with rejected and
// amqp:resource-limit-exceeded — the producer is not blocked — and accepts again once a consumer took
// a message.
func TestSupervisionRejectPublishAnswersResourceLimitExceeded(t *testing.T) {
	b := startBroker(t)
	s := newSess(t, dial(t, b, nil))
	mc := newMgmtClient(t, s)
	st, _ := mc.call("PUT", "/queues/capped-two", map[string]any{"durable": false,
		"arguments": map[string]any{"x-max-length": int64(2), "x-overflow": "reject-publish"}})
	require.Equal(t, 2, st/100)
	for _, target := range []string{"/queues/capped-two", "/exchanges/amq.direct/capped-two"} {
		if target != "/queues/capped-two" {
			st, _ := mc.call("POST", "/bindings", map[string]any{"source": "amq.direct", "destination_queue": "capped-two", "binding_key": "capped-two"})
			require.Equal(t, 2, st/100)
		}
		snd := sender(t, s, target, nil)
		for i := range 20 {
			switch st := sendMsg(t, snd, amqp.NewMessage([]byte(fmt.Sprint(i)))).(type) {
			case *amqp.StateAccepted:
				n, _, _ := queueDepth(t, b, "capped-two")
				assert.LessOrEqual(t, n, 2, target)
			case *amqp.StateRejected:
				require.NotNil(t, st.Error, target)
				assert.Equal(t, amqp.ErrCond("amqp:resource-limit-exceeded"), st.Error.Condition, target)
			default:
				t.Fatalf("%s: unexpected outcome %T", target, st)
			}
		}
		n, _, _ := queueDepth(t, b, "capped-two")
		require.Equal(t, 2, n, target)
		r := receiver(t, s, "/queues/capped-two", &amqp.ReceiverOptions{Credit: 1})
		require.NoError(t, r.AcceptMessage(testCtx(t), recv(t, r)))
		require.NoError(t, r.Close(testCtx(t)))
		assert.IsType(t, &amqp.StateAccepted{}, sendMsg(t, snd, amqp.NewMessage([]byte("room again"))), target)
		r = receiver(t, s, "/queues/capped-two", &amqp.ReceiverOptions{Credit: 2})
		for range 2 {
			require.NoError(t, r.AcceptMessage(testCtx(t), recv(t, r)))
		}
		require.NoError(t, r.Close(testCtx(t)))
	}
}

// The default high-water mark is a fraction of the memory the broker may really use: inside a
// container (a cgroup with a memory limit) that is the limit, not the host's RAM.
func TestSupervisionDefaultHighWaterFollowsCgroupLimit(t *testing.T) {
	write := func(root, name, content string) {
		p := filepath.Join(root, name)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
	}
	const host = "MemTotal:       67108864 kB\nMemFree:        1000 kB\n" // 64 GiB
	cases := []struct {
		name  string
		files map[string]string
		want  uint64
	}{
		{"no cgroup", map[string]string{}, 64 << 30},
		{"v2 at the mount's root", map[string]string{"sys/fs/cgroup/memory.max": "2147483648\n"}, 2 << 30},
		{"v2 unlimited", map[string]string{"sys/fs/cgroup/memory.max": "max\n"}, 64 << 30},
		{"v2 nested", map[string]string{"proc/self/cgroup": "0::/kubepods/pod1\n",
			"sys/fs/cgroup/memory.max": "max\n", "sys/fs/cgroup/kubepods/pod1/memory.max": "1073741824\n"}, 1 << 30},
		{"v1", map[string]string{"proc/self/cgroup": "5:cpu:/x\n4:memory:/docker/abc\n",
			"sys/fs/cgroup/memory/docker/abc/memory.limit_in_bytes": "536870912\n"}, 512 << 20},
		{"v1 unlimited", map[string]string{"sys/fs/cgroup/memory/memory.limit_in_bytes": "9223372036854771712\n"}, 64 << 30},
		{"limit above the host's RAM", map[string]string{"sys/fs/cgroup/memory.max": "137438953472\n"}, 64 << 30},
	}
	for _, c := range cases {
		root := t.TempDir()
		write(root, "proc/meminfo", host)
		for name, content := range c.files {
			write(root, name, content)
		}
		assert.Equal(t, c.want, availableMemory(root), c.name)
	}
	assert.Equal(t, uint64(5<<29), availableMemory(t.TempDir()), "no /proc: the fallback")
	hw := defaultHighWater()
	assert.Greater(t, hw, uint64(0))
	assert.LessOrEqual(t, hw, availableMemory("/"))
}
