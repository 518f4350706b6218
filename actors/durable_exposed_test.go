package actors

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/Azure/go-amqp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Durability at the edges: first-acquirer behind a recovered backlog, a failing store exposed (metrics,
// overview, the alarms health check), settlements applied on a graceful shutdown.

// Messages published after a restart into a queue whose recovered backlog is still paged out were
// never delivered, yet they come back with first-acquirer=false: refill marks every paged message
// acquired while q.pagedAcquired is set, and it stays set until the recovered backlog is read back
// (durable.go resets it then). The exact rule needs the highest recovered seq on the queue.
func TestDurableNewMessagesBehindRecoveredBacklogAreFirstAcquired(t *testing.T) {
	dir := t.TempDir()
	b, stop := startOnDiskWindow(t, dir, 5)
	s := newSess(t, dial(t, b, nil))
	snd := sender(t, s, "behind", nil)
	for i := range 12 {
		require.Equal(t, &amqp.StateAccepted{}, sendMsg(t, snd, durableMsg(fmt.Sprint("old-", i))))
	}
	stop()
	b, _ = startOnDiskWindow(t, dir, 5)
	s = newSess(t, dial(t, b, nil))
	snd = sender(t, s, "behind", nil)
	for i := range 12 {
		require.Equal(t, &amqp.StateAccepted{}, sendMsg(t, snd, durableMsg(fmt.Sprint("new-", i))))
	}
	r := receiver(t, s, "behind", &amqp.ReceiverOptions{Credit: 24})
	for range 24 {
		m := recv(t, r)
		body := string(m.GetData())
		assert.Equal(t, strings.HasPrefix(body, "new-"), m.Header.FirstAcquirer, "first-acquirer of %s", body)
		require.NoError(t, r.AcceptMessage(testCtx(t), m))
	}
}

// A failing store must be exposed, not only logged: a gauge on /metrics and the management overview.
func TestDurableStoreFailureIsExposed(t *testing.T) {
	disk := &failingDisk{errno: syscall.EIO}
	b := startBroker(t, func(o *Options) {
		o.DataDir = t.TempDir()
		o.storeFS = disk.fs()
		o.HTTPAddr = "127.0.0.1:0"
	})
	s := newSess(t, dial(t, b, nil))
	snd := sender(t, s, "exposed", nil)
	require.Equal(t, &amqp.StateAccepted{}, sendMsg(t, snd, durableMsg("ok")))
	get := func(path string) string {
		req, err := http.NewRequest("GET", "http://"+b.HTTPAddr().String()+path, nil)
		require.NoError(t, err)
		req.SetBasicAuth("guest", "guest")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return string(body)
	}
	metric := func(want string) {
		t.Helper()
		var store []string
		for _, l := range strings.Split(get("/metrics"), "\n") {
			if strings.HasPrefix(l, "warren_store") || strings.HasPrefix(l, "warren_alarms") {
				store = append(store, l)
			}
		}
		assert.Contains(t, store, want)
	}
	metric("warren_store_healthy 1")
	disk.on.Store(true)
	_, rejected := sendMsg(t, snd, durableMsg("refused")).(*amqp.StateRejected)
	require.True(t, rejected)
	metric("warren_store_healthy 0")
	assert.Contains(t, get("/api/overview"), `"store":{"error":"`)
	metric(`warren_alarms{kind="disk"} 1`)
	assert.Contains(t, get("/api/health/checks/alarms"), `"status":"failed"`)
	disk.on.Store(false)
	require.Eventually(t, func() bool {
		_, ok := sendMsg(t, snd, durableMsg("after")).(*amqp.StateAccepted)
		return ok
	}, 10*time.Second, 50*time.Millisecond)
	metric("warren_store_healthy 1")
	metric(`warren_alarms{kind="disk"} 0`)
	assert.Contains(t, get("/api/health/checks/alarms"), `"status":"ok"`)
}

// A graceful shutdown (SIGTERM, Broker.Shutdown) applies the settlements already waiting in a busy
// queue's mailbox before the queue stops, and the store commits their deletes before it closes: the
// accepted messages do not come back after the restart (DESIGN.md §2: flush the store). Today
// StopFuture(b.root) stops the queue with a system message, which overtakes the queued settleBatch
// messages (protoactor drops user messages once an actor has stopped): all 50 stay on disk.
func TestDurableShutdownAppliesQueuedSettlements(t *testing.T) {
	dir := t.TempDir()
	b, stop := startOnDiskWindow(t, dir, 1000)
	s := newSess(t, dial(t, b, nil))
	snd := sender(t, s, "drain", nil)
	for i := range 50 {
		require.Equal(t, &amqp.StateAccepted{}, sendMsg(t, snd, durableMsg(fmt.Sprint(i))))
	}
	r := receiver(t, s, "drain", &amqp.ReceiverOptions{Credit: -1})
	require.NoError(t, r.IssueCredit(50))
	var ms []*amqp.Message
	for range 50 {
		ms = append(ms, recv(t, r))
	}
	// The queue is busy until Shutdown has closed every connection and is stopping the actor tree.
	b.system.Root.Send(b.queuePID(t, "drain"), &inspect{fn: func(any) any {
		for !b.stopping.Load() || b.connCount.Load() > 0 {
			time.Sleep(5 * time.Millisecond)
		}
		time.Sleep(300 * time.Millisecond)
		return nil
	}})
	for _, m := range ms {
		require.NoError(t, r.AcceptMessage(testCtx(t), m))
	}
	require.NoError(t, r.Close(testCtx(t))) // the link has handed every settlement to the queue
	stop()

	b2, _ := startOnDiskWindow(t, dir, 1000)
	requireQueueEmpty(t, b2, "drain")
}
