package actors

import (
	"cmp"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/warren-mq/warren/actors/definitions"
	"github.com/warren-mq/warren/actors/routing"
	"github.com/warren-mq/warren/actors/store"
	"github.com/warren-mq/warren/protocol"
)

// Durability (DESIGN.md §4, issue 4). With Options.DataDir set, the broker keeps in its store
// (actors/store, pebble with group commit):
//   - durable messages (header.durable) of durable queues: written when enqueued — the producer's
//     `accepted` waits for the fsync — deleted when they leave the queue for good (accepted,
//     dead-lettered, expired, dropped, purged), their delivery-count updated on modified{delivery-failed};
//   - durable exchanges, queues and bindings, as records, restored at start after the definitions file.
// Transient messages and transient topology stay in memory only.

// storedMessage is the value of a message in the store: the exchange and routing key it was published
// with (for x-exchange / x-routing-key on delivery), then the message bytes as received.
func encodeStored(m *message) []byte {
	b := make([]byte, 0, len(m.raw)+len(m.exchange)+len(m.routingKey)+4)
	b = binary.AppendUvarint(b, uint64(len(m.exchange)))
	b = append(b, m.exchange...)
	b = binary.AppendUvarint(b, uint64(len(m.routingKey)))
	b = append(b, m.routingKey...)
	return append(b, m.raw...)
}

func decodeStored(data []byte) (*message, error) {
	field := func() (string, error) {
		n, k := binary.Uvarint(data)
		if k <= 0 || uint64(len(data)-k) < n {
			return "", errors.New("corrupt stored message header")
		}
		s := string(data[k : k+int(n)])
		data = data[k+int(n):]
		return s, nil
	}
	exchange, err := field()
	if err != nil {
		return nil, err
	}
	key, err := field()
	if err != nil {
		return nil, err
	}
	raw := append([]byte(nil), data...) // Scan's data is valid only during the callback
	var pm protocol.Message
	if err := protocol.ParseMessage(raw, &pm); err != nil {
		return nil, err
	}
	return newMessage(raw, &pm, exchange, key, time.Now(), nil), nil
}

// storeFailure maps a failed write to what the producer is told: a full disk is
// amqp:resource-limit-exceeded, anything else amqp:internal-error.
func storeFailure(err error) *protocol.Error {
	if errors.Is(err, syscall.ENOSPC) {
		return &protocol.Error{Condition: protocol.ErrResourceLimitExceeded, Description: "the broker's disk is full: " + err.Error()}
	}
	return &protocol.Error{Condition: protocol.ErrInternal, Description: "the broker could not store the message: " + err.Error()}
}

// --- queues --------------------------------------------------------------------------------------------

// storedBatch reports to a queue that its durable publishes are on disk (or failed).
type storedBatch struct {
	confirms   map[*actor.PID][]confirm
	qids       []uint64 // the entries written: a failed write takes them out of the queue again
	paged      int      // how many of them were paged out (on disk only)
	pagedBytes int64    // and their size
	err        error
}

// unstore removes entries whose write failed from the ready list (their producers are told
// rejected; a message the producer was refused must not be delivered). Ones already delivered stay
// with their consumer: at-least-once. A failed write may still have reached the disk (a failed fsync
// after a successful write: the store's reopen replays it, actors/store doc.go), so the refused
// messages are deleted from the store too, or they would come back after a restart.
func (q *queue) unstore(qids []uint64, paged int, pagedBytes int64) {
	drop := make(map[uint64]bool, len(qids))
	for _, id := range qids {
		drop[id] = true
		q.ops = append(q.ops, store.Op{Kind: store.OpDelete, Queue: q.storeID(), Seq: id})
	}
	if paged > 0 { // never in memory: only the counts change
		q.paged -= paged
		q.readyBytes -= pagedBytes
	}
	kept := q.ready[:q.head]
	for _, e := range q.ready[q.head:] {
		if drop[e.qid] {
			q.readyBytes -= int64(e.msg.size())
			continue
		}
		kept = append(kept, e)
	}
	clear(q.ready[len(kept):])
	q.ready = kept
}

func (q *queue) storeID() string { return q.vname + "\x00" + q.spec.name }

// persistent: this queue keeps durable messages on disk.
func (q *queue) persistent() bool { return q.b.store != nil && q.spec.durable }

// forget records that a stored message left the queue for good; flushed at the end of the Receive.
func (q *queue) forget(e *qentry) {
	if e.stored {
		q.ops = append(q.ops, store.Op{Kind: store.OpDelete, Queue: q.storeID(), Seq: e.qid})
		e.stored = false
	}
}

// flushOps submits the deletes and delivery-count updates of one Receive in one request, counted in
// the broker's store backlog until the store is done with them.
func (q *queue) flushOps(ctx actor.Context) {
	if len(q.ops) == 0 {
		return
	}
	ops := q.ops
	q.ops = nil
	backlog, sys := q.b.storeOps, ctx.ActorSystem()
	backlog.submitted(len(ops))
	q.b.store.Submit(ops, func(err error) {
		if err != nil {
			q.retryDeletes(ops, err) // from here on the retry's own bound (maxRetryDeletes) applies
		}
		backlog.done(len(ops), sys)
	})
}

// Deletes that failed (a full or failing disk) are retried until they are durable, so that a message
// a consumer accepted, or a publish that was refused, does not come back after the next restart.
// Each queue instance has at most one retry pending (deleteRetries), holding every delete that failed
// so far (up to maxRetryDeletes): the first retry after opsRetryMin, doubling up to opsRetryMax while
// the store keeps failing. Retrying stops when the store closes or the queue instance leaves the
// broker (deleted, or replaced by a restarted vhost, which reads its queues back from the store). A
// delete is idempotent and the queue instance never reuses a seq, so a late one is always right. A
// failed delivery-count update is not retried (a later one could already have succeeded): after a
// restart that message's count may be lower.
const (
	opsRetryMin     = 100 * time.Millisecond
	opsRetryMax     = 5 * time.Second
	maxRetryDeletes = 1 << 20
)

// deleteRetries holds each queue instance's pending retry, under retryMu.
var (
	retryMu       sync.Mutex
	deleteRetries = map[*queue]*deleteRetry{}
)

// deleteRetry is one queue instance's failed deletes, retried together (guarded by retryMu).
type deleteRetry struct {
	ops     []store.Op
	delay   time.Duration
	dropped int // deletes past maxRetryDeletes, given up
}

// retryDeletes runs on the store's committer goroutine (a done callback): it touches no queue state,
// only the queue's immutable fields.
func (q *queue) retryDeletes(ops []store.Op, err error) {
	var dels []store.Op
	for _, op := range ops {
		if op.Kind == store.OpDelete {
			dels = append(dels, op)
		}
	}
	q.log.Error("store: updating settled messages failed; the deletes will be retried", "deletes", len(dels),
		"delivery_count_updates_lost", len(ops)-len(dels), "err", err)
	if len(dels) == 0 {
		return
	}
	retryMu.Lock()
	defer retryMu.Unlock()
	r := deleteRetries[q]
	if r == nil { // the first failure: schedule the retry
		r = &deleteRetry{delay: opsRetryMin}
		deleteRetries[q] = r
		time.AfterFunc(r.delay, func() { q.retryNow(r) })
	}
	room := max(maxRetryDeletes-len(r.ops), 0)
	if len(dels) > room {
		r.dropped += len(dels) - room
		dels = dels[:room]
	}
	r.ops = append(r.ops, dels...)
}

// retryNow submits every pending delete of r as one request.
func (q *queue) retryNow(r *deleteRetry) {
	retryMu.Lock()
	if cur, ok := q.b.queueIndex.Load(queueKey{q.vname, q.spec.name}); !ok || cur != q {
		delete(deleteRetries, q)
		retryMu.Unlock()
		return
	}
	ops := r.ops
	r.ops = nil
	retryMu.Unlock()
	q.b.store.Submit(ops, func(err error) {
		retryMu.Lock()
		defer retryMu.Unlock()
		switch {
		case errors.Is(err, store.ErrClosed):
			delete(deleteRetries, q)
		case err != nil:
			r.ops = append(ops, r.ops...)
			r.delay = min(2*r.delay, opsRetryMax)
			time.AfterFunc(r.delay, func() { q.retryNow(r) })
		case len(r.ops) > 0: // more failed meanwhile
			time.AfterFunc(opsRetryMin, func() { q.retryNow(r) })
		default:
			delete(deleteRetries, q)
			q.log.Info("store: the failed deletes are durable now", "deletes", len(ops), "given_up", r.dropped)
		}
	})
}

// refill reads paged messages back from disk into the window, in qid order, merging the transient
// messages that arrived behind them.
func (q *queue) refill() {
	var loaded []*qentry
	if q.paged > 0 {
		want := max(q.window-(len(q.ready)-q.head), 1)
		last := q.diskNext
		err := q.b.store.Scan(q.storeID(), q.diskNext, want, func(seq uint64, data []byte, deliveryCount uint32) bool {
			m, err := decodeStored(data)
			last = seq
			if err != nil {
				q.log.Error("store: skipping an unreadable message", "seq", seq, "err", err)
				return true
			}
			e := m.newEntry()
			*e = qentry{qid: seq, msg: m, deliveryCount: deliveryCount, stored: true, acquired: seq <= q.recoveredMax}
			loaded = append(loaded, e)
			return true
		})
		if err != nil {
			q.log.Error("store: reading paged messages", "err", err)
			return
		}
		if len(loaded) == 0 && q.pagedPending == 0 {
			q.log.Error("store: paged messages missing from disk; forgetting them", "count", q.paged)
			q.paged = 0
		}
		q.paged -= len(loaded)
		if len(loaded) > 0 {
			q.diskNext = last + 1
		}
	}
	// Transient messages that arrived behind paged ones join once the disk has caught up to them.
	i := 0
	for i < len(q.tail) && (q.paged == 0 || q.tail[i].qid < q.diskNext) {
		i++
	}
	if i > 0 {
		loaded = append(loaded, q.tail[:i]...)
		slices.SortFunc(loaded, func(a, b *qentry) int { return cmp.Compare(a.qid, b.qid) })
		q.tail = slices.Delete(q.tail, 0, i)
	}
	q.ready = append(q.ready, loaded...)
}

// purgePaged deletes the paged-out messages (and drops the tail) for a purge.
func (q *queue) purgePaged() {
	if q.paged > 0 {
		_ = q.b.store.Scan(q.storeID(), q.diskNext, 0, func(seq uint64, _ []byte, _ uint32) bool {
			q.ops = append(q.ops, store.Op{Kind: store.OpDelete, Queue: q.storeID(), Seq: seq})
			return true
		})
	}
	q.paged, q.tail = 0, nil
}

// recover loads the queue's stored messages, in their original order, on its first start. They count
// as delivered before (first-acquirer false), since the broker cannot know whether they were.
func (q *queue) recover() {
	if !q.persistent() || q.recovered {
		return
	}
	q.recovered = true
	start := time.Now()
	n := 0
	total, totalBytes, _ := q.b.store.Stats(q.storeID())
	err := q.b.store.Scan(q.storeID(), 0, q.window, func(seq uint64, data []byte, deliveryCount uint32) bool {
		m, err := decodeStored(data)
		if err != nil {
			q.log.Error("store: skipping an unreadable message", "seq", seq, "err", err)
			return true
		}
		e := m.newEntry()
		*e = qentry{qid: seq, msg: m, deliveryCount: deliveryCount, acquired: true, stored: true}
		q.ready = append(q.ready, e)
		q.readyBytes += int64(m.size())
		q.nextQID = max(q.nextQID, seq)
		n++
		return true
	})
	if err != nil {
		q.log.Error("store: recovering the queue failed", "err", err)
	}
	if total > n { // the rest stays on disk, read back as the window drains
		q.paged = total - n
		q.diskNext = q.nextQID + 1
		q.nextQID += uint64(q.paged) // an upper bound is enough: qids only need to grow
		q.readyBytes = totalBytes
		_, _, maxSeq := q.b.store.Stats(q.storeID())
		q.nextQID = max(q.nextQID, maxSeq)
	}
	// Every message stored before this start may have been delivered (first-acquirer false); the ones
	// published from now on, even when paged out behind the recovered backlog, were not.
	q.recoveredMax = q.nextQID
	if n > 0 {
		q.log.Info("queue recovered", "messages", n, "took", time.Since(start).Round(time.Millisecond))
	}
}

// --- topology ------------------------------------------------------------------------------------------

const (
	recExchange = "exchange"
	recQueue    = "queue"
	recBinding  = "binding"
)

func (v *vhost) persistRecord(kind, key string, value any) {
	if v.b.store == nil {
		return
	}
	data, err := json.Marshal(value)
	if err != nil {
		v.log.Error("store: encoding a record", "kind", kind, "err", err)
		return
	}
	log := v.log
	v.b.store.PutRecord(kind, v.name+"\x00"+key, data, func(err error) {
		if err != nil {
			log.Error("store: saving topology failed", "kind", kind, "key", key, "err", err)
		}
	})
}

func (v *vhost) deleteRecord(kind, key string) {
	if v.b.store == nil {
		return
	}
	v.b.store.DeleteRecord(kind, v.name+"\x00"+key, func(error) {})
}

func bindingRecordKey(source string, b routing.Binding) string {
	return fmt.Sprintf("%s\x00%t\x00%s\x00%s\x00%s", source, b.Destination.Exchange, b.Destination.Name, b.Key, argsHash(b.Args))
}

// restoreTopology declares the vhost's stored durable exchanges, queues and bindings (after the
// definitions file, so a stored declaration wins where both have one), then cleans up after a crash
// in the middle of a deletion: deleting a queue or an exchange takes several store requests (its
// record, its bindings' records, the queue's messages), and kill -9 between them leaves bindings whose
// end is gone and messages no queue claims. Those are dropped, with a warning, instead of refusing to
// start or handing the old messages to a new queue of the same name.
func (v *vhost) restoreTopology(ctx actor.Context) error {
	if v.b.store == nil {
		return nil
	}
	prefix := v.name + "\x00"
	each := func(kind string, fn func(key string, data []byte) error) error {
		var ferr error
		err := v.b.store.Records(kind, func(key string, value []byte) bool {
			if len(key) <= len(prefix) || key[:len(prefix)] != prefix {
				return true
			}
			if err := fn(key, value); err != nil {
				ferr = fmt.Errorf("stored %s %q: %w", kind, key[len(prefix):], err)
				return false
			}
			return true
		})
		if err != nil {
			return err
		}
		return ferr
	}
	if err := each(recExchange, func(_ string, data []byte) error {
		var x definitions.Exchange
		if err := json.Unmarshal(data, &x); err != nil {
			return err
		}
		if perr := v.declareExchange(ctx, x.Name, x.Type, x.Durable, x.AutoDelete, x.Internal, x.Arguments); perr != nil {
			return perr
		}
		return nil
	}); err != nil {
		return err
	}
	if err := each(recQueue, func(_ string, data []byte) error {
		var q definitions.Queue
		if err := json.Unmarshal(data, &q); err != nil {
			return err
		}
		spec, perr := queueSpecFrom(q.Name, q.Durable, q.AutoDelete, q.Exclusive, normalizeArgs(q.Arguments))
		if perr == nil {
			_, perr = v.declareQueue(ctx, spec)
		}
		if perr != nil {
			return perr
		}
		return nil
	}); err != nil {
		return err
	}
	var dangling []string // binding records whose source or destination is gone
	if err := each(recBinding, func(key string, data []byte) error {
		var bd definitions.Binding
		if err := json.Unmarshal(data, &bd); err != nil {
			return err
		}
		dest := routing.Destination{Exchange: bd.DestinationType == definitions.DestinationExchange, Name: bd.Destination}
		if perr := v.bind(ctx, bd.Source, routing.Binding{Destination: dest, Key: bd.RoutingKey, Args: normalizeArgs(bd.Arguments)}); perr != nil {
			if perr.Condition != protocol.ErrNotFound {
				return perr
			}
			v.log.Warn("store: dropping a stored binding whose source or destination no longer exists",
				"source", bd.Source, "destination", bd.Destination, "routing_key", bd.RoutingKey, "why", perr.Description)
			dangling = append(dangling, key)
		}
		return nil
	}); err != nil {
		return err
	}
	for _, key := range dangling {
		v.b.store.DeleteRecord(recBinding, key, func(error) {})
	}
	// The drops are waited for: a queue declared right after the start under the same name must not
	// read the old messages back before they are gone.
	var drops []chan error
	for _, id := range v.b.store.Queues() {
		name, ok := strings.CutPrefix(id, prefix)
		if !ok {
			continue
		}
		if q := v.queues[name]; q != nil && q.spec.durable {
			continue // its actor recovers them
		}
		n, _, _ := v.b.store.Stats(id)
		v.log.Warn("store: dropping the stored messages of a queue that no longer exists", "queue", name, "messages", n)
		done := make(chan error, 1)
		v.b.store.DropQueue(id, func(err error) { done <- err })
		drops = append(drops, done)
	}
	for _, done := range drops {
		if err := <-done; err != nil {
			return fmt.Errorf("dropping the messages of a deleted queue: %w", err)
		}
	}
	return nil
}

// normalizeArgs turns JSON numbers back into integers where they are whole (queue arguments are
// integers; encoding/json decodes every number as float64).
func normalizeArgs(m map[string]any) map[string]any {
	if len(m) == 0 {
		return nil
	}
	for k, v := range m {
		if f, ok := v.(float64); ok && f == float64(int64(f)) {
			m[k] = int64(f)
		}
	}
	return m
}
