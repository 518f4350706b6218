package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"time"
)

// errStalled ends a run in which nothing moved for --stall-timeout.
var errStalled = errors.New("stalled")

// reporter prints one progress line per second and watches for stalls.
type reporter struct {
	cfg  *config
	st   *stats
	lats []*latencies
	out  io.Writer

	prev     counts
	prevAt   time.Time
	idleFrom time.Time // when the counters last moved
	window   histogram
}

func newReporter(cfg *config, st *stats, lats []*latencies, out io.Writer) *reporter {
	return &reporter{cfg: cfg, st: st, lats: lats, out: out, prevAt: st.start, idleFrom: st.start}
}

// run ticks until stop is closed; it aborts the run when nothing moved for --stall-timeout.
func (r *reporter) run(stop <-chan struct{}, abort context.CancelCauseFunc) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case now := <-t.C:
			fmt.Fprintln(r.out, r.tick(now))
			if now.Sub(r.idleFrom) >= r.cfg.stallTimeout {
				abort(fmt.Errorf("%w: nothing sent, confirmed or received for %s", errStalled, r.cfg.stallTimeout))
			}
		}
	}
}

// tick returns the progress line for the second that ends at now.
func (r *reporter) tick(now time.Time) string {
	c := r.st.snapshot()
	secs := now.Sub(r.prevAt).Seconds()
	rate := func(cur, prev int64) float64 { return float64(cur-prev) / secs }
	if c != r.prev {
		r.idleFrom = now
	}
	r.window.reset()
	for _, l := range r.lats {
		l.takeInterval(&r.window)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%4.0fs  sent %8.0f/s", now.Sub(r.st.start).Seconds(), rate(c.sent, r.prev.sent))
	if !r.cfg.presettled {
		fmt.Fprintf(&b, "  confirmed %8.0f/s", rate(c.confirmed, r.prev.confirmed))
	}
	fmt.Fprintf(&b, "  received %8.0f/s", rate(c.received, r.prev.received))
	if r.window.n > 0 {
		fmt.Fprintf(&b, "  latency p50 %.2f ms  p99 %.2f ms", millis(r.window.quantile(0.5)), millis(r.window.quantile(0.99)))
	} else {
		b.WriteString("  latency -")
	}
	r.prev, r.prevAt = c, now
	return b.String()
}

func millis(micros uint64) float64 { return float64(micros) / 1000 }

// result is the run's outcome: the --json object, and the summary.
type result struct {
	Sent          int64   `json:"sent"`
	Confirmed     int64   `json:"confirmed"`
	Received      int64   `json:"received"`
	Missing       int64   `json:"missing"` // confirmed (or, pre-settled, sent) but never received
	Errors        int64   `json:"errors"`
	SendRate      float64 `json:"send_rate"`
	ConfirmRate   float64 `json:"confirm_rate"`
	ReceiveRate   float64 `json:"receive_rate"`
	LatencyP50Ms  float64 `json:"latency_p50_ms"`
	LatencyP95Ms  float64 `json:"latency_p95_ms"`
	LatencyP99Ms  float64 `json:"latency_p99_ms"`
	LatencyMaxMs  float64 `json:"latency_max_ms"`
	LatencyMeanMs float64 `json:"latency_mean_ms"`
	ElapsedS      float64 `json:"elapsed_s"`
	Interrupted   bool    `json:"interrupted"`
	FirstError    string  `json:"first_error,omitempty"`

	Producers  int     `json:"producers"`
	Consumers  int     `json:"consumers"`
	Queues     int     `json:"queues"`
	Size       int     `json:"size"`
	Presettled bool    `json:"presettled"`
	Inflight   int     `json:"inflight,omitempty"`
	Credit     int     `json:"credit"`
	Rate       float64 `json:"rate"`
	Durable    bool    `json:"durable"`

	setup string
}

func newResult(cfg *config, st *stats, lats []*latencies, sendTime time.Duration, expected int64, interrupted bool) *result {
	var h histogram
	for _, l := range lats {
		l.addTotal(&h)
	}
	c := st.snapshot()
	r := &result{
		Sent: c.sent, Confirmed: c.confirmed, Received: c.received, Errors: st.errors.Load(),
		SendRate:      perSecond(c.sent, sendTime),
		ConfirmRate:   perSecond(c.confirmed, time.Duration(st.lastConfirm.Load())),
		ReceiveRate:   perSecond(c.received, time.Duration(st.lastReceive.Load())),
		LatencyP50Ms:  round(millis(h.quantile(0.50))),
		LatencyP95Ms:  round(millis(h.quantile(0.95))),
		LatencyP99Ms:  round(millis(h.quantile(0.99))),
		LatencyMaxMs:  round(millis(h.max)),
		LatencyMeanMs: round(h.mean() / 1000),
		ElapsedS:      round(time.Since(st.start).Seconds()),
		Interrupted:   interrupted,
		Producers:     cfg.producers, Consumers: cfg.consumers, Queues: cfg.queues, Size: cfg.size,
		Presettled: cfg.presettled, Credit: cfg.credit, Rate: cfg.rate, Durable: cfg.durable,
		setup: cfg.describe(),
	}
	if !cfg.presettled {
		r.Inflight = cfg.inflight
	}
	if expected > c.received && !interrupted {
		r.Missing = expected - c.received
	}
	if err := st.firstError(); err != nil {
		r.FirstError = err.Error()
	}
	return r
}

func perSecond(n int64, d time.Duration) float64 {
	if n == 0 || d <= 0 {
		return 0
	}
	return round(float64(n) / d.Seconds())
}

func round(x float64) float64 { return math.Round(x*100) / 100 }

// err is the run's verdict: errors or lost messages fail it.
func (r *result) err() error {
	switch {
	case r.Errors > 0:
		return fmt.Errorf("%d errors; the first: %s", r.Errors, r.FirstError)
	case r.Missing > 0:
		return fmt.Errorf("%d messages never arrived", r.Missing)
	}
	return nil
}

func (r *result) print(w io.Writer) {
	fmt.Fprintf(w, "\n%s\n", r.setup)
	fmt.Fprintf(w, "sent       %10d  %10.0f msg/s\n", r.Sent, r.SendRate)
	if !r.Presettled {
		fmt.Fprintf(w, "confirmed  %10d  %10.0f msg/s\n", r.Confirmed, r.ConfirmRate)
	}
	fmt.Fprintf(w, "received   %10d  %10.0f msg/s\n", r.Received, r.ReceiveRate)
	fmt.Fprintf(w, "latency    p50 %.2f ms  p95 %.2f ms  p99 %.2f ms  max %.2f ms  mean %.2f ms\n",
		r.LatencyP50Ms, r.LatencyP95Ms, r.LatencyP99Ms, r.LatencyMaxMs, r.LatencyMeanMs)
	fmt.Fprintf(w, "errors     %10d\n", r.Errors)
	if r.Missing > 0 {
		fmt.Fprintf(w, "missing    %10d\n", r.Missing)
	}
	if r.FirstError != "" {
		fmt.Fprintf(w, "first error: %s\n", r.FirstError)
	}
	if r.Interrupted {
		fmt.Fprintln(w, "(interrupted)")
	}
}
