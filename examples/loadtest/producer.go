package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/Azure/go-amqp"
)

// producer sends messages on one link. Each body starts with the send time (Unix nanoseconds, big
// endian), from which consumers compute the end-to-end latency.
type producer struct {
	id       int
	snd      *amqp.Sender
	cfg      *config
	st       *stats
	quota    int64     // messages to send; 0 = until the deadline
	deadline time.Time // zero = none
}

func (p *producer) run(ctx context.Context) {
	if p.cfg.presettled {
		p.sendPresettled(ctx)
		return
	}
	p.sendConfirmed(ctx)
}

// pacer spaces a producer's messages to --rate.
type pacer struct {
	interval time.Duration // 0 = unlimited
	due      time.Time
	timer    *time.Timer
}

func newPacer(rate float64) *pacer {
	p := &pacer{due: time.Now()}
	if rate > 0 {
		p.interval = time.Duration(float64(time.Second) / rate)
	}
	return p
}

// wait sleeps until the next message is due. When the producer has fallen more than a second
// behind, the schedule restarts from now instead of sending a burst to catch up.
func (p *pacer) wait(ctx context.Context) error {
	if p.interval == 0 {
		return ctx.Err()
	}
	now := time.Now()
	if now.Sub(p.due) > time.Second {
		p.due = now
	}
	d := p.due.Sub(now)
	p.due = p.due.Add(p.interval)
	if d <= 0 {
		return ctx.Err()
	}
	if p.timer == nil {
		p.timer = time.NewTimer(d)
	} else {
		p.timer.Reset(d)
	}
	select {
	case <-p.timer.C:
		return nil
	case <-ctx.Done():
		p.timer.Stop()
		return ctx.Err()
	}
}

// message returns a reusable message: go-amqp encodes it inside Send, so it may be changed afterwards.
func (p *producer) message() (*amqp.Message, []byte) {
	body := make([]byte, p.cfg.size)
	msg := amqp.NewMessage(body)
	if p.cfg.durable {
		msg.Header = &amqp.MessageHeader{Durable: true}
	}
	return msg, body
}

func (p *producer) more(n int64, now time.Time) bool {
	if p.quota > 0 && n >= p.quota {
		return false
	}
	return p.deadline.IsZero() || now.Before(p.deadline)
}

func (p *producer) sendPresettled(ctx context.Context) {
	msg, body := p.message()
	pace := newPacer(p.cfg.rate)
	for n := int64(0); ; n++ {
		if pace.wait(ctx) != nil {
			return
		}
		now := time.Now()
		if !p.more(n, now) {
			return
		}
		binary.BigEndian.PutUint64(body, uint64(now.UnixNano()))
		if err := p.snd.Send(ctx, msg, nil); err != nil {
			if ctx.Err() == nil {
				p.st.failf("producer %d: send: %w", p.id, err)
			}
			return
		}
		p.st.sent.Add(1)
	}
}

// sendConfirmed keeps up to --inflight unconfirmed messages: a slot is taken before each send and
// given back when the broker settles the message. A second goroutine waits for the receipts in
// order; every message must be settled accepted (AMQP 1.0 §3.4.2).
func (p *producer) sendConfirmed(parent context.Context) {
	// The confirming goroutine stops the producer (cancels ctx) when the link fails.
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	window := make(chan struct{}, p.cfg.inflight)
	receipts := make(chan amqp.SendReceipt, p.cfg.inflight)
	confirmed := make(chan struct{})
	go func() {
		defer close(confirmed)
		p.confirm(ctx, cancel, receipts, window)
	}()
	defer func() {
		close(receipts)
		<-confirmed
	}()

	msg, body := p.message()
	pace := newPacer(p.cfg.rate)
	for n := int64(0); ; n++ {
		if pace.wait(ctx) != nil {
			return
		}
		select {
		case window <- struct{}{}:
		case <-ctx.Done():
			return
		}
		now := time.Now()
		if !p.more(n, now) {
			return
		}
		binary.BigEndian.PutUint64(body, uint64(now.UnixNano()))
		r, err := p.snd.SendWithReceipt(ctx, msg, nil)
		if err != nil {
			if ctx.Err() == nil {
				p.st.failf("producer %d: send: %w", p.id, err)
			}
			return
		}
		p.st.sent.Add(1)
		receipts <- r
	}
}

func (p *producer) confirm(ctx context.Context, stop context.CancelFunc, receipts <-chan amqp.SendReceipt, window <-chan struct{}) {
	failed := false // the link is gone: only drain what the producer sent meanwhile
	for r := range receipts {
		if !failed {
			state, err := r.Wait(ctx)
			switch {
			case err != nil:
				if ctx.Err() == nil {
					p.st.failf("producer %d: waiting for a confirmation: %w", p.id, err)
				}
				failed = true
				stop()
			case isAccepted(state):
				p.st.confirmed.Add(1)
				p.st.lastConfirm.Store(p.st.since(time.Now()))
			default:
				p.st.fail(fmt.Errorf("producer %d: message settled %s, not accepted", p.id, outcome(state)))
			}
		}
		<-window // the message is settled: a new one may go
	}
}

func isAccepted(s amqp.DeliveryState) bool {
	_, ok := s.(*amqp.StateAccepted)
	return ok
}

// outcome names a delivery state for an error message.
func outcome(s amqp.DeliveryState) string {
	switch s := s.(type) {
	case *amqp.StateReleased:
		return "released (the message routed to no queue)"
	case *amqp.StateRejected:
		if s.Error != nil {
			return "rejected: " + s.Error.Error()
		}
		return "rejected"
	case *amqp.StateModified:
		return "modified"
	case nil:
		return "without an outcome"
	}
	return fmt.Sprintf("%T", s)
}
