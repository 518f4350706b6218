package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/Azure/go-amqp"
	"github.com/warren-mq/warren/examples/internal/mgmt"
)

// run parses the command line, runs the load and reports it: progress lines and a summary on
// stdout, or with --json progress on stderr and one JSON object on stdout.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := parseConfig(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	progress := stdout
	if cfg.json {
		progress = stderr
	}
	res, err := loadtest(ctx, &cfg, progress)
	if err != nil {
		return err
	}
	if cfg.json {
		if err := json.NewEncoder(stdout).Encode(res); err != nil {
			return err
		}
	} else {
		res.print(stdout)
	}
	return res.err()
}

// loadtest attaches every link, runs producers and consumers, and collects the result. An error
// means the setup failed and nothing was measured.
func loadtest(parent context.Context, cfg *config, progress io.Writer) (*result, error) {
	ctx, abort := context.WithCancelCause(parent)
	defer abort(nil)
	if cfg.declare {
		if err := declare(ctx, cfg); err != nil {
			return nil, err
		}
	}

	var conns []*amqp.Conn
	defer func() {
		for _, c := range conns {
			_ = c.Close()
		}
	}()
	session := func(container string) (*amqp.Session, error) {
		c, err := amqp.Dial(ctx, cfg.url, &amqp.ConnOptions{ContainerID: container})
		if err != nil {
			return nil, fmt.Errorf("connecting to %s: %w", cfg.url, err)
		}
		conns = append(conns, c)
		return c.NewSession(ctx, nil)
	}

	// Consumers attach first, so that no queue fills up before anyone reads it.
	lats := make([]*latencies, cfg.consumers)
	consumers := make([]*consumer, cfg.consumers)
	for i := range consumers {
		s, err := session(fmt.Sprintf("loadtest-consumer-%d", i))
		if err != nil {
			return nil, err
		}
		opts := &amqp.ReceiverOptions{Credit: int32(cfg.credit)}
		if cfg.presettled {
			opts.RequestedSenderSettleMode = amqp.SenderSettleModeSettled.Ptr()
		}
		src := address(cfg.source, i%cfg.queues)
		rcv, err := s.NewReceiver(ctx, src, opts)
		if err != nil {
			return nil, fmt.Errorf("consumer %d: attaching to %q: %w", i, src, err)
		}
		lats[i] = &latencies{}
		consumers[i] = &consumer{id: i, rcv: rcv, cfg: cfg, lat: lats[i]}
	}
	producers := make([]*producer, cfg.producers)
	for i := range producers {
		s, err := session(fmt.Sprintf("loadtest-producer-%d", i))
		if err != nil {
			return nil, err
		}
		opts := &amqp.SenderOptions{SettlementMode: amqp.SenderSettleModeUnsettled.Ptr()}
		if cfg.presettled {
			opts.SettlementMode = amqp.SenderSettleModeSettled.Ptr()
		}
		dst := address(cfg.target, i%cfg.queues)
		snd, err := s.NewSender(ctx, dst, opts)
		if err != nil {
			return nil, fmt.Errorf("producer %d: attaching to %q: %w", i, dst, err)
		}
		producers[i] = &producer{id: i, snd: snd, cfg: cfg}
		if cfg.count > 0 {
			// spread --count: the first count%producers producers send one more
			producers[i].quota = cfg.count / int64(cfg.producers)
			if int64(i) < cfg.count%int64(cfg.producers) {
				producers[i].quota++
			}
		}
	}

	st := newStats()
	var deadline time.Time
	if cfg.duration > 0 {
		deadline = st.start.Add(cfg.duration)
	}
	rep := newReporter(cfg, st, lats, progress)
	stopReporter := make(chan struct{})
	var reporting sync.WaitGroup
	reporting.Go(func() { rep.run(stopReporter, abort) })

	consumeCtx, stopConsumers := context.WithCancel(ctx)
	defer stopConsumers()
	var consuming, producing sync.WaitGroup
	for _, c := range consumers {
		c.st = st
		consuming.Go(func() { c.run(consumeCtx) })
	}
	for _, p := range producers {
		if cfg.count > 0 && p.quota == 0 {
			continue // fewer messages than producers
		}
		p.st, p.deadline = st, deadline
		producing.Go(func() { p.run(ctx) })
	}
	producing.Wait()
	sendTime := time.Since(st.start)

	// Wait for the consumers to catch up (or, with no producers, for --count or the deadline).
	expected := func() int64 {
		switch {
		case cfg.consumers == 0:
			return 0
		case cfg.producers == 0:
			return cfg.count
		case cfg.presettled:
			return st.sent.Load()
		}
		return st.confirmed.Load()
	}
	waitFor(ctx, deadline, cfg.producers == 0, func() bool {
		want := expected()
		return (want > 0 || cfg.producers > 0) && st.received.Load() >= want
	})
	stopConsumers()
	consuming.Wait()
	close(stopReporter)
	reporting.Wait()

	interrupted := parent.Err() != nil
	if cause := context.Cause(ctx); errors.Is(cause, errStalled) {
		st.fail(cause)
	}
	return newResult(cfg, st, lats, sendTime, expected(), interrupted), nil
}

// waitFor polls done until it holds or ctx ends; when useDeadline is set, also until the deadline.
func waitFor(ctx context.Context, deadline time.Time, useDeadline bool, done func() bool) {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for !done() {
		if useDeadline && !deadline.IsZero() && time.Now().After(deadline) {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// declare creates the queues named by the address templates through the /management node of RabbitMQ
// 4 and Warren; a broker without one (RabbitMQ 3.x) gets a clear error.
func declare(ctx context.Context, cfg *config) (err error) {
	conn, err := amqp.Dial(ctx, cfg.url, &amqp.ConnOptions{ContainerID: "loadtest-declare"})
	if err != nil {
		return fmt.Errorf("connecting to %s: %w", cfg.url, err)
	}
	defer func() { err = errors.Join(err, conn.Close()) }()
	s, err := conn.NewSession(ctx, nil)
	if err != nil {
		return err
	}
	m, err := mgmt.New(ctx, s)
	if err != nil {
		var refused *amqp.Error
		if errors.As(err, &refused) {
			// RabbitMQ 3.x has no /management node (RabbitMQ 4 and Warren do).
			return fmt.Errorf("--declare: the broker refused the /management node (%s: %s), which RabbitMQ 3.x does not have: "+
				"declare the queues beforehand (examples/loadtest/README.md shows how) and run without --declare",
				refused.Condition, refused.Description)
		}
		return fmt.Errorf("--declare: %w", err)
	}
	seen := map[string]bool{}
	for i := range cfg.queues {
		for _, tmpl := range []string{cfg.target, cfg.source} {
			name, err := queueName(address(tmpl, i))
			if err != nil || seen[name] {
				continue // validated already; or declared
			}
			seen[name] = true
			if _, err := m.DeclareQueue(ctx, name, mgmt.QueueOptions{Durable: true}); err != nil {
				return fmt.Errorf("declaring queue %q: %w", name, err)
			}
		}
	}
	return m.Close(ctx)
}
