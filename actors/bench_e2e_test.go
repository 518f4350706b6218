package actors

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/Azure/go-amqp"
	"github.com/stretchr/testify/require"
)

// BenchmarkE2E measures 1 producer → queue → 1 consumer through a real broker over loopback TCP with
// go-amqp. One op is one message published and received. allocs/op count the whole process — broker
// and both clients — per message. Run: go test -run '^$' -bench E2E -benchmem ./actors/
func BenchmarkE2E(b *testing.B) {
	for _, size := range []int{16, 1024} {
		for _, mode := range []string{"presettled", "unsettled"} {
			b.Run(fmt.Sprintf("size=%dB/%s", size, mode), func(b *testing.B) { benchE2E(b, size, mode == "presettled") })
		}
	}
}

func benchE2E(b *testing.B, size int, presettled bool) {
	br := startBroker(b)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c := dial(b, br, nil)
	s := newSess(b, c)
	var sopts *amqp.SenderOptions
	ropts := &amqp.ReceiverOptions{Credit: 1000}
	if presettled {
		sopts = &amqp.SenderOptions{SettlementMode: amqp.SenderSettleModeSettled.Ptr()}
		ropts.RequestedSenderSettleMode = amqp.SenderSettleModeSettled.Ptr()
	}
	q := fmt.Sprintf("bench-%d-%t", size, presettled)
	snd := sender(b, s, q, sopts)
	rcv := receiver(b, newSess(b, c), q, ropts)
	body := make([]byte, size)

	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	done := make(chan error, 1)
	go func() {
		for i := 0; i < b.N; i++ {
			m, err := rcv.Receive(ctx, nil)
			if err != nil {
				done <- err
				return
			}
			if !presettled {
				if err := rcv.AcceptMessage(ctx, m); err != nil {
					done <- err
					return
				}
			}
		}
		done <- nil
	}()
	// Unsettled: keep a window of confirmations in flight, waiting on the oldest when it is full.
	const window = 256
	receipts := make([]amqp.SendReceipt, 0, window)
	for i := 0; i < b.N; i++ {
		if presettled {
			require.NoError(b, snd.Send(ctx, amqp.NewMessage(body), nil))
			continue
		}
		if len(receipts) == window {
			_, err := receipts[0].Wait(ctx)
			require.NoError(b, err)
			receipts = append(receipts[:0], receipts[1:]...)
		}
		r, err := snd.SendWithReceipt(ctx, amqp.NewMessage(body), nil)
		require.NoError(b, err)
		receipts = append(receipts, r)
	}
	for _, r := range receipts {
		_, err := r.Wait(ctx)
		require.NoError(b, err)
	}
	require.NoError(b, <-done)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msg/s")
}
