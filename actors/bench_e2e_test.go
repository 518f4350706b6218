package actors

import (
	"context"
	"errors"
	"fmt"
	"github.com/warren-mq/warren/telemetry"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/go-amqp"
	"github.com/stretchr/testify/require"
)

// e2eSendWindow is how many unconfirmed transfers the unsettled producer keeps in flight; when the
// window is full it waits for the oldest receipt.
const e2eSendWindow = 256

// e2eCredit is the link credit the consumer grants (go-amqp tops it up as messages are settled).
const e2eCredit = 1000

// e2eGuard bounds one sub-benchmark run: if the broker stalls, the run fails instead of hanging.
const e2eGuard = 2 * time.Minute

// e2eQueueSeq makes every run's queue name fresh.
var e2eQueueSeq atomic.Uint64

// BenchmarkE2E measures 1 producer → queue → 1 consumer through a real in-process broker over
// loopback TCP, with go-amqp as both clients (separate connections). One op is one message published
// and received.
//
//   - presettled: the producer sends settled (snd-settle-mode settled) and the consumer asks for settled
//     deliveries (AMQP 1.0 §2.7.3 attach snd-settle-mode); nobody waits for any disposition.
//     go-amqp fails the attach if the broker does not agree to the mode, so the mode is verified.
//   - unsettled: the producer keeps up to e2eSendWindow transfers in flight and requires each one to be
//     settled "accepted" (§3.4.2) by the broker; the consumer accepts every message (rcv-settle-mode
//     first, so the disposition is fire-and-forget, §2.6.12).
//
// allocs/op and B/op cover the whole process — broker and both clients — per message, not the
// broker alone. Run: go test -run '^$' -bench E2E -benchmem ./actors/
func BenchmarkE2E(b *testing.B) {
	for _, size := range []int{16, 1024} {
		for _, mode := range []string{"presettled", "unsettled"} {
			b.Run(fmt.Sprintf("size=%dB/%s", size, mode), func(b *testing.B) {
				benchE2E(b, size, mode == "presettled")
			})
		}
	}
}

func benchE2E(b *testing.B, size int, presettled bool, mutate ...func(*Options)) {
	checkNoGoroutineLeak(b)
	br := startBroker(b, mutate...)
	queue := fmt.Sprintf("bench-e2e-%d", e2eQueueSeq.Add(1))

	var sopts *amqp.SenderOptions
	ropts := &amqp.ReceiverOptions{Credit: e2eCredit}
	if presettled {
		sopts = &amqp.SenderOptions{SettlementMode: amqp.SenderSettleModeSettled.Ptr()}
		ropts.RequestedSenderSettleMode = amqp.SenderSettleModeSettled.Ptr()
	}
	// Attach the consumer first so the queue exists with a consumer before the first publish.
	rcv := receiver(b, newSess(b, dial(b, br, nil)), queue, ropts)
	snd := sender(b, newSess(b, dial(b, br, nil)), queue, sopts)
	body := make([]byte, size)

	guard, stopGuard := context.WithTimeoutCause(context.Background(), e2eGuard,
		fmt.Errorf("e2e benchmark guard: %d messages not through in %s", b.N, e2eGuard))
	defer stopGuard()
	ctx, abort := context.WithCancelCause(guard)
	defer abort(nil)

	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()

	consumed := make(chan error, 1)
	go func() {
		err := e2eConsume(ctx, rcv, b.N, size, presettled)
		if err != nil {
			abort(err) // unblock the producer
		}
		consumed <- err
	}()
	var perr error
	if presettled {
		perr = e2eProducePresettled(ctx, snd, b.N, body)
	} else {
		perr = e2eProduceUnsettled(ctx, snd, b.N, body)
	}
	if perr != nil {
		abort(perr) // unblock the consumer
	}
	cerr := <-consumed // the consumer goroutine never outlives the run
	b.StopTimer()

	require.NoError(b, e2eCause(ctx, perr), "producer")
	require.NoError(b, e2eCause(ctx, cerr), "consumer")
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msg/s")
}

func e2eProducePresettled(ctx context.Context, snd *amqp.Sender, n int, body []byte) error {
	for i := 0; i < n; i++ {
		if err := snd.Send(ctx, amqp.NewMessage(body), nil); err != nil {
			return fmt.Errorf("send %d/%d: %w", i, n, err)
		}
	}
	return nil
}

// e2eProduceUnsettled keeps a ring of e2eSendWindow receipts; before reusing a slot it waits for the
// receipt in it, which is always the oldest one outstanding.
func e2eProduceUnsettled(ctx context.Context, snd *amqp.Sender, n int, body []byte) error {
	ring := make([]amqp.SendReceipt, e2eSendWindow)
	for i := 0; i < n; i++ {
		slot := &ring[i%e2eSendWindow]
		if i >= e2eSendWindow {
			if err := e2eWaitAccepted(ctx, slot); err != nil {
				return fmt.Errorf("receipt %d/%d: %w", i-e2eSendWindow, n, err)
			}
		}
		r, err := snd.SendWithReceipt(ctx, amqp.NewMessage(body), nil)
		if err != nil {
			return fmt.Errorf("send %d/%d: %w", i, n, err)
		}
		*slot = r
	}
	for i := max(0, n-e2eSendWindow); i < n; i++ {
		if err := e2eWaitAccepted(ctx, &ring[i%e2eSendWindow]); err != nil {
			return fmt.Errorf("receipt %d/%d: %w", i, n, err)
		}
	}
	return nil
}

func e2eWaitAccepted(ctx context.Context, r *amqp.SendReceipt) error {
	state, err := r.Wait(ctx)
	if err != nil {
		return err
	}
	if _, ok := state.(*amqp.StateAccepted); !ok {
		return fmt.Errorf("settled with %T, want accepted", state)
	}
	return nil
}

func e2eConsume(ctx context.Context, rcv *amqp.Receiver, n, size int, presettled bool) error {
	for i := 0; i < n; i++ {
		m, err := rcv.Receive(ctx, nil)
		if err != nil {
			return fmt.Errorf("receive %d/%d: %w", i, n, err)
		}
		if got := len(m.GetData()); got != size {
			return fmt.Errorf("message %d: body of %d bytes, want %d", i, got, size)
		}
		if !presettled {
			if err := rcv.AcceptMessage(ctx, m); err != nil {
				return fmt.Errorf("accept %d/%d: %w", i, n, err)
			}
		}
	}
	return nil
}

// e2eCause reports why ctx ended instead of a bare "context canceled" when err came from it.
func e2eCause(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, err) {
			return fmt.Errorf("%w (cause: %w)", err, cause)
		}
	}
	return err
}

// checkNoGoroutineLeak fails the run if, once every later cleanup (clients closed, broker shut down)
// has run, more goroutines are alive than before it started. Registered first, it runs last.
func checkNoGoroutineLeak(b *testing.B) {
	before := runtime.NumGoroutine()
	b.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		after := runtime.NumGoroutine()
		for after > before && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
			after = runtime.NumGoroutine()
		}
		require.LessOrEqual(b, after, before, "goroutines still alive after the broker shut down")
	})
}

// BenchmarkE2ETracing runs the 1 KiB unsettled case with tracing off, at 1 % sampling and at 100 %
// (spans go through the SDK's batch processor to an exporter that discards them), side by side.
func BenchmarkE2ETracing(b *testing.B) {
	for _, c := range []struct {
		name  string
		ratio float64 // < 0: tracing off
	}{{"off", -1}, {"sampled=1%", 0.01}, {"sampled=100%", 1}} {
		b.Run(c.name, func(b *testing.B) {
			tel := telemetry.Nop()
			if c.ratio >= 0 {
				tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(c.ratio))),
					sdktrace.WithBatcher(discardExporter{}))
				b.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
				tel = telemetry.NewWithTracerProvider(tp)
			}
			benchE2E(b, 1024, false, func(o *Options) { o.Telemetry = tel })
		})
	}
}

type discardExporter struct{}

func (discardExporter) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (discardExporter) Shutdown(context.Context) error                             { return nil }
