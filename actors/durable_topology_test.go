package actors

import (
	"path/filepath"
	"testing"

	"github.com/Azure/go-amqp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/warren-mq/warren/actors/store"
)

// editStore opens a stopped broker's store to change it behind the broker's back (as a crash between
// two of the broker's requests would leave it).
func editStore(t *testing.T, dir string, edit func(s *store.Store)) {
	t.Helper()
	s, err := store.Open(filepath.Join(dir, "store"), store.Options{Logger: testLogger()})
	require.NoError(t, err)
	edit(s)
	require.NoError(t, s.Close())
}

func records(t *testing.T, s *store.Store, kind string) []string {
	t.Helper()
	var keys []string
	require.NoError(t, s.Records(kind, func(key string, _ []byte) bool {
		keys = append(keys, key)
		return true
	}))
	return keys
}

// Deleting a queue or an exchange deletes its record and its bindings' records in separate store
// requests; kill -9 between them leaves bindings whose end is gone. The broker still starts: it drops
// those bindings (and their records), keeps the rest of the topology, and routes as before.
func TestDurableTopologyWithDanglingBindingsStarts(t *testing.T) {
	dir := t.TempDir()
	b, stop := startOnDisk(t, dir)
	c := dial(t, b, nil)
	mc := newMgmtClient(t, newSess(t, c))
	for _, x := range []string{"gone-x", "kept-x"} {
		st, _ := mc.call("PUT", "/exchanges/"+x, map[string]any{"type": "direct", "durable": true})
		require.Equal(t, 204, st)
	}
	for _, q := range []string{"gone-q", "kept-q"} {
		st, _ := mc.call("PUT", "/queues/"+q, map[string]any{"durable": true})
		require.Equal(t, 201, st)
	}
	for _, bd := range [][2]string{{"kept-x", "gone-q"}, {"gone-x", "kept-q"}, {"kept-x", "kept-q"}} {
		st, _ := mc.call("POST", "/bindings", map[string]any{"source": bd[0], "destination_queue": bd[1], "binding_key": "k"})
		require.Equal(t, 204, st)
	}
	require.NoError(t, c.Close())
	stop()
	editStore(t, dir, func(s *store.Store) {
		require.Len(t, records(t, s, recBinding), 3)
		done := make(chan error, 2)
		s.DeleteRecord(recQueue, "/\x00gone-q", func(err error) { done <- err })
		s.DeleteRecord(recExchange, "/\x00gone-x", func(err error) { done <- err })
		require.NoError(t, <-done)
		require.NoError(t, <-done)
	})

	b2, stop2 := startOnDisk(t, dir)
	s2 := newSess(t, dial(t, b2, nil))
	require.Equal(t, &amqp.StateAccepted{}, sendMsg(t, sender(t, s2, "/exchanges/kept-x/k", nil), durableMsg("routed")))
	assertQueue(t, s2, "kept-q", "routed")
	mc2 := newMgmtClient(t, s2)
	st, _ := mc2.call("GET", "/queues/gone-q", nil)
	assert.Equal(t, 404, st)
	_, err := s2.NewSender(testCtx(t), "/exchanges/gone-x", nil)
	var ae *amqp.Error
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, amqp.ErrCond("amqp:not-found"), ae.Condition)
	stop2()
	editStore(t, dir, func(s *store.Store) {
		assert.Len(t, records(t, s, recBinding), 1, "the dangling binding records are gone")
	})
}

// kill -9 after a queue's record was deleted but before its messages were: a queue declared later
// under the same name starts empty, the old messages do not come back.
func TestDurableDeletedQueueMessagesDoNotComeBack(t *testing.T) {
	dir := t.TempDir()
	b, stop := startOnDisk(t, dir)
	s := newSess(t, dial(t, b, nil))
	snd := sender(t, s, "reborn", nil)
	for _, body := range []string{"old-1", "old-2"} {
		require.Equal(t, &amqp.StateAccepted{}, sendMsg(t, snd, durableMsg(body)))
	}
	stop()
	editStore(t, dir, func(s *store.Store) {
		done := make(chan error, 1)
		s.DeleteRecord(recQueue, "/\x00reborn", func(err error) { done <- err })
		require.NoError(t, <-done)
		n, _, _ := s.Stats("/\x00reborn")
		require.Equal(t, 2, n, "the messages are still stored")
	})

	b2, stop2 := startOnDisk(t, dir)
	s2 := newSess(t, dial(t, b2, nil))
	require.Equal(t, &amqp.StateAccepted{}, sendMsg(t, sender(t, s2, "reborn", nil), durableMsg("new")))
	assertQueue(t, s2, "reborn", "new")
	stop2()
	editStore(t, dir, func(s *store.Store) {
		n, _, _ := s.Stats("/\x00reborn")
		assert.Zero(t, n, "nothing left of the deleted queue")
	})
}
