// Workqueues spreads tasks over competing workers that acknowledge each task by hand. A task that
// fails is handed back with modified{delivery-failed}; another worker then gets it again, with the
// delivery-count raised by one. A task whose worker quits before acknowledging it goes back to the
// queue too.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/Azure/go-amqp"
	"github.com/warren-mq/warren/examples/internal/cli"
	"github.com/warren-mq/warren/examples/internal/mgmt"
)

const (
	queue   = "task_queue"
	tasks   = 6
	workers = 2
	flaky   = 3 // the task that fails on its first attempt
)

func main() { cli.Main("workqueues", run) }

func run(ctx context.Context, url string, out io.Writer) (err error) {
	conn, err := amqp.Dial(ctx, url, nil)
	if err != nil {
		return fmt.Errorf("connecting to %s: %w", url, err)
	}
	defer func() { err = errors.Join(err, conn.Close()) }()
	sess, err := conn.NewSession(ctx, nil)
	if err != nil {
		return err
	}
	m, err := mgmt.New(ctx, sess)
	if err != nil {
		return err
	}
	// Declare the queue and empty it, so that every run starts afresh.
	if _, err := m.DeclareQueue(ctx, queue, mgmt.QueueOptions{Durable: true}); err != nil {
		return err
	}
	if _, err := m.PurgeQueue(ctx, queue); err != nil {
		return err
	}

	log := &lineWriter{w: out}
	// A worker that will quit in the middle of its first task attaches first, so that it gets task 1.
	quitter, err := sess.NewReceiver(ctx, mgmt.QueueAddress(queue), &amqp.ReceiverOptions{Credit: -1})
	if err != nil {
		return err
	}
	if err := quitter.IssueCredit(1); err != nil {
		return err
	}

	snd, err := sess.NewSender(ctx, mgmt.QueueAddress(queue), nil)
	if err != nil {
		return err
	}
	log.printf("sending %d tasks to %s", tasks, snd.Address())
	for n := 1; n <= tasks; n++ {
		msg := amqp.NewMessage(fmt.Appendf(nil, "task %d", n))
		msg.ApplicationProperties = map[string]any{"task": int64(n)}
		if err := snd.Send(ctx, msg, nil); err != nil {
			return fmt.Errorf("sending task %d: %w", n, err)
		}
	}

	// The quitter takes a task and goes away without settling it: a task is acknowledged only by
	// accepting it, so the broker puts it back in the queue for the others (first-acquirer false).
	msg, err := quitter.Receive(ctx, nil)
	if err != nil {
		return err
	}
	if err := quitter.Close(ctx); err != nil {
		return err
	}
	log.printf("worker %d: took %s and quit without acknowledging it", workers+1, msg.GetData())

	b := newBoard(tasks)
	workCtx, stopWork := context.WithCancel(ctx)
	defer stopWork()
	errs := make(chan error, workers)
	for id := 1; id <= workers; id++ {
		// Each worker has its own receiver (its own link) on the same queue: competing consumers.
		// Credit -1 means we grant link credit ourselves: one task at a time, the AMQP 1.0 way of
		// saying "prefetch 1".
		rcv, err := sess.NewReceiver(ctx, mgmt.QueueAddress(queue), &amqp.ReceiverOptions{Credit: -1})
		if err != nil {
			return err
		}
		go func() { errs <- work(workCtx, id, rcv, b, log) }()
	}

	select {
	case <-b.allDone:
	case <-ctx.Done():
	}
	stopWork()
	for range workers {
		err = errors.Join(err, <-errs)
	}
	if err != nil {
		return err
	}
	if ctx.Err() != nil {
		return fmt.Errorf("%d of %d tasks done: %w", b.doneCount(), tasks, ctx.Err())
	}
	log.printf("all %d tasks done", tasks)
	return nil
}

// work takes one task at a time until ctx ends. A worker that fails a task takes no new work until a
// colleague has done that task: this demo always shows the hand-over (a real worker would back off).
func work(ctx context.Context, id int, rcv *amqp.Receiver, b *board, log *lineWriter) error {
	for {
		if err := rcv.IssueCredit(1); err != nil {
			return fmt.Errorf("worker %d: %w", id, err)
		}
		msg, err := rcv.Receive(ctx, nil)
		if err != nil {
			if ctx.Err() != nil {
				return nil // all tasks are done
			}
			return fmt.Errorf("worker %d: %w", id, err)
		}
		task, _ := msg.ApplicationProperties["task"].(int64)
		var count uint32
		again := ""
		if msg.Header != nil {
			count = msg.Header.DeliveryCount // how many earlier attempts failed
			if !msg.Header.FirstAcquirer {
				again = ", redelivered" // another worker had it before
			}
		}
		if task == flaky && count == 0 {
			// modified{delivery-failed}: the broker puts the task back at the head of the queue and
			// adds one to its delivery-count (AMQP 1.0 §3.4.5).
			if err := rcv.ModifyMessage(ctx, msg, &amqp.ModifyMessageOptions{DeliveryFailed: true}); err != nil {
				return fmt.Errorf("worker %d: %w", id, err)
			}
			log.printf("worker %d: %s failed (delivery-count %d), handed back as modified{delivery-failed}", id, msg.GetData(), count)
			select {
			case <-b.done(task):
			case <-ctx.Done():
				return nil
			}
			continue
		}
		// Accepting is the acknowledgement: only now does the broker forget the task.
		if err := rcv.AcceptMessage(ctx, msg); err != nil {
			return fmt.Errorf("worker %d: %w", id, err)
		}
		log.printf("worker %d: %s done (delivery-count %d%s)", id, msg.GetData(), count, again)
		b.finish(task)
	}
}

// board tracks which tasks are done.
type board struct {
	mu      sync.Mutex
	waiting map[int64]chan struct{} // closed when the task is done
	left    int
	allDone chan struct{}
}

func newBoard(n int) *board {
	b := &board{waiting: make(map[int64]chan struct{}), left: n, allDone: make(chan struct{})}
	for i := 1; i <= n; i++ {
		b.waiting[int64(i)] = make(chan struct{})
	}
	return b
}

func (b *board) done(task int64) <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.waiting[task]
}

func (b *board) finish(task int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	ch, ok := b.waiting[task]
	if !ok {
		return
	}
	select {
	case <-ch:
		return // done already
	default:
	}
	close(ch)
	if b.left--; b.left == 0 {
		close(b.allDone)
	}
}

func (b *board) doneCount() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.waiting) - b.left
}

// lineWriter writes whole lines from several goroutines.
type lineWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lineWriter) printf(format string, a ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w, format+"\n", a...)
}
