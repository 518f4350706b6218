package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// config is the command line.
type config struct {
	url          string
	producers    int
	consumers    int
	queues       int
	target       string // address template: "%d" is replaced by the queue index
	source       string
	size         int
	rate         float64 // per producer, msg/s; 0 = unlimited
	duration     time.Duration
	count        int64
	presettled   bool
	inflight     int
	durable      bool
	credit       int
	json         bool
	declare      bool
	stallTimeout time.Duration
}

// minSize is the smallest body: it starts with the send time, 8 bytes of Unix nanoseconds.
const minSize = 8

// defaultDuration applies when neither --duration nor --count is given.
const defaultDuration = 10 * time.Second

func parseConfig(args []string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("loadtest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: loadtest [flags]\n\nDrives producers and consumers against an AMQP 1.0 broker and reports throughput and end-to-end latency.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	fs.StringVar(&c.url, "url", "amqp://localhost:5672", "broker URL (amqp://user:password@host:port)")
	fs.IntVar(&c.producers, "producers", 1, "number of producers, each on its own connection")
	fs.IntVar(&c.consumers, "consumers", 1, "number of consumers, each on its own connection")
	fs.IntVar(&c.queues, "queues", 1, "number of queues; producers and consumers are spread over them round-robin")
	fs.StringVar(&c.target, "target", "/queues/loadtest-%d", `producers' target address template, "%d" = queue index (RabbitMQ 4: "/queues/NAME"; RabbitMQ 3.x: "/amq/queue/NAME" or "/queue/NAME")`)
	fs.StringVar(&c.source, "source", "/queues/loadtest-%d", `consumers' source address template, "%d" = queue index`)
	fs.IntVar(&c.size, "size", 16, "message body size in bytes (at least 8: the body starts with the send time)")
	fs.Float64Var(&c.rate, "rate", 0, "messages per second per producer; 0 = as fast as possible")
	fs.DurationVar(&c.duration, "duration", 0, "how long producers send (default 10s when --count is not given)")
	fs.Int64Var(&c.count, "count", 0, "total number of messages to send, spread over the producers (with no producers: to receive)")
	fs.BoolVar(&c.presettled, "presettled", false, "send and consume pre-settled (at most once); otherwise producers wait for each message to be accepted and consumers accept each message")
	fs.IntVar(&c.inflight, "inflight", 256, "unsettled producers: unconfirmed messages each producer keeps in flight")
	fs.BoolVar(&c.durable, "durable", false, "set header.durable on every message")
	fs.IntVar(&c.credit, "credit", 1000, "link credit each consumer grants")
	fs.BoolVar(&c.json, "json", false, "print one JSON object with the results on stdout (progress goes to stderr)")
	fs.BoolVar(&c.declare, "declare", false, "declare the queues first (durable) through the /management node (Warren, RabbitMQ 4; not RabbitMQ 3.x); needs /queues/NAME, /amq/queue/NAME, /queue/NAME or bare-name addresses")
	fs.DurationVar(&c.stallTimeout, "stall-timeout", 10*time.Second, "give up when no message is sent, confirmed or received for this long")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	if c.duration == 0 && c.count == 0 {
		c.duration = defaultDuration
	}
	return c, c.validate()
}

func (c *config) validate() error {
	var errs []error
	check := func(ok bool, format string, a ...any) {
		if !ok {
			errs = append(errs, fmt.Errorf(format, a...))
		}
	}
	u, err := url.Parse(c.url)
	check(err == nil && (u.Scheme == "amqp" || u.Scheme == "amqps") && u.Host != "", "--url %q: want amqp://host:port", c.url)
	check(c.producers >= 0 && c.consumers >= 0 && c.producers+c.consumers > 0, "--producers and --consumers: at least one of them, none negative")
	check(c.queues >= 1, "--queues %d: at least 1", c.queues)
	check(c.target != "" || c.producers == 0, "--target is empty")
	check(c.source != "" || c.consumers == 0, "--source is empty")
	check(c.size >= minSize, "--size %d: at least %d (the body starts with the send time)", c.size, minSize)
	check(c.rate >= 0 && !math.IsInf(c.rate, 0) && !math.IsNaN(c.rate), "--rate %v: 0 (unlimited) or more", c.rate)
	check(c.duration >= 0, "--duration %s: negative", c.duration)
	check(c.count >= 0, "--count %d: negative", c.count)
	check(c.inflight >= 1, "--inflight %d: at least 1", c.inflight)
	check(c.credit >= 1 && c.credit <= math.MaxInt32, "--credit %d: 1 to %d", c.credit, math.MaxInt32)
	check(c.stallTimeout > 0, "--stall-timeout %s: positive", c.stallTimeout)
	if c.declare {
		for i := range c.queues {
			if c.producers > 0 {
				_, err := queueName(address(c.target, i))
				check(err == nil, "--declare: %v", err)
			}
			if c.consumers > 0 {
				_, err := queueName(address(c.source, i))
				check(err == nil, "--declare: %v", err)
			}
		}
	}
	return errors.Join(errs...)
}

// address fills a template with a queue index.
func address(template string, queue int) string {
	return strings.ReplaceAll(template, "%d", strconv.Itoa(queue))
}

// queueName is the queue an address names: /queues/NAME (RabbitMQ 4 and Warren, percent-encoded),
// /amq/queue/NAME and /queue/NAME (RabbitMQ 3.x, RabbitMQ 4's deprecated v1 addresses) or a bare name.
func queueName(addr string) (string, error) {
	var rest string
	switch {
	case strings.HasPrefix(addr, "/queues/"):
		rest = strings.TrimPrefix(addr, "/queues/")
	case strings.HasPrefix(addr, "/amq/queue/"):
		rest = strings.TrimPrefix(addr, "/amq/queue/")
	case strings.HasPrefix(addr, "/queue/"):
		rest = strings.TrimPrefix(addr, "/queue/")
	case addr != "" && !strings.HasPrefix(addr, "/"):
		return addr, nil
	}
	if rest == "" || strings.Contains(rest, "/") {
		return "", fmt.Errorf("address %q does not name a queue (/queues/NAME, /amq/queue/NAME, /queue/NAME or a bare name)", addr)
	}
	name, err := url.PathUnescape(rest)
	if err != nil {
		return "", fmt.Errorf("address %q: %w", addr, err)
	}
	return name, nil
}

// describe is a one-line summary of the setup.
func (c *config) describe() string {
	mode := fmt.Sprintf("confirmed (%d in flight)", c.inflight)
	if c.presettled {
		mode = "pre-settled"
	}
	var limits []string
	if c.duration > 0 {
		limits = append(limits, c.duration.String())
	}
	if c.count > 0 {
		limits = append(limits, fmt.Sprintf("%d messages", c.count))
	}
	rate := "unlimited"
	if c.rate > 0 {
		rate = fmt.Sprintf("%g msg/s per producer", c.rate)
	}
	return fmt.Sprintf("%d producers → %d queues → %d consumers, %d B, %s, rate %s, credit %d, %s",
		c.producers, c.queues, c.consumers, c.size, mode, rate, c.credit, strings.Join(limits, " or "))
}
