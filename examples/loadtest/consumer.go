package main

import (
	"context"
	"encoding/binary"
	"time"

	"github.com/Azure/go-amqp"
)

// consumer receives on one link until ctx ends. Pre-settled, it only counts; otherwise it accepts
// every message (rcv-settle-mode first: the disposition needs no answer, AMQP 1.0 §2.6.12).
type consumer struct {
	id  int
	rcv *amqp.Receiver
	cfg *config
	st  *stats
	lat *latencies
}

func (c *consumer) run(ctx context.Context) {
	for {
		msg, err := c.rcv.Receive(ctx, nil)
		if err != nil {
			if ctx.Err() == nil {
				c.st.failf("consumer %d: receive: %w", c.id, err)
			}
			return
		}
		now := time.Now()
		if data := msg.GetData(); len(data) >= minSize {
			sentAt := int64(binary.BigEndian.Uint64(data))
			c.lat.record(uint64(max(now.UnixNano()-sentAt, 0)) / 1000)
		}
		if !c.cfg.presettled {
			if err := c.rcv.AcceptMessage(ctx, msg); err != nil {
				if ctx.Err() == nil {
					c.st.failf("consumer %d: accept: %w", c.id, err)
				}
				return
			}
		}
		c.st.received.Add(1)
		c.st.lastReceive.Store(c.st.since(now))
	}
}
