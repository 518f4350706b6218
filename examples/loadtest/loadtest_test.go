package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/warren-mq/warren/examples/internal/brokertest"
)

// runJSON runs the tool with --json and decodes its one JSON object.
func runJSON(t *testing.T, args ...string) (result, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := run(brokertest.Context(t, 60*time.Second), append(args, "--json"), &stdout, &stderr)
	require.NoError(t, err, "stderr:\n%s", stderr.String())
	var res result
	dec := json.NewDecoder(&stdout)
	dec.DisallowUnknownFields()
	require.NoError(t, dec.Decode(&res), "stdout: %s", stdout.String())
	assert.False(t, dec.More(), "exactly one JSON object on stdout")
	return res, stderr.String()
}

func TestLoadtestCount(t *testing.T) {
	url := brokertest.Start(t)
	for i, mode := range []string{"--presettled", "--presettled=false"} {
		t.Run(mode, func(t *testing.T) {
			res, _ := runJSON(t, "--url", url, "--producers", "2", "--consumers", "2", "--queues", "2",
				"--count", "2000", "--size", "64", "--declare", "--target", fmt.Sprintf("/queues/lt%d-%%d", i),
				"--source", fmt.Sprintf("/queues/lt%d-%%d", i), mode)
			assert.Equal(t, int64(2000), res.Sent)
			assert.Equal(t, int64(2000), res.Received)
			assert.Zero(t, res.Errors, res.FirstError)
			assert.Zero(t, res.Missing)
			assert.False(t, res.Interrupted)
			if res.Presettled {
				assert.Zero(t, res.Confirmed)
				assert.Zero(t, res.Inflight)
			} else {
				assert.Equal(t, int64(2000), res.Confirmed)
				assert.Positive(t, res.ConfirmRate)
				assert.Equal(t, 256, res.Inflight)
			}
			assert.Positive(t, res.SendRate)
			assert.Positive(t, res.ReceiveRate)
			assert.Positive(t, res.LatencyMaxMs)
			assert.LessOrEqual(t, res.LatencyP50Ms, res.LatencyP95Ms)
			assert.LessOrEqual(t, res.LatencyP95Ms, res.LatencyP99Ms)
			assert.LessOrEqual(t, res.LatencyP99Ms, res.LatencyMaxMs)
			assert.Equal(t, 2, res.Producers)
			assert.Equal(t, 2, res.Queues)
			assert.Equal(t, 64, res.Size)
		})
	}
}

// Bare-name addresses: Warren creates the queues on first use, nothing is declared. One progress
// line per second goes to stderr.
func TestLoadtestDurationAndRate(t *testing.T) {
	url := brokertest.Start(t)
	res, progress := runJSON(t, "--url", url, "--producers", "2", "--consumers", "1", "--queues", "1",
		"--target", "bare-%d", "--source", "bare-%d", "--duration", "1500ms", "--rate", "200", "--durable")
	assert.InDelta(t, 600, res.Sent, 120, "2 producers × 200 msg/s × 1.5 s")
	assert.Equal(t, res.Sent, res.Received)
	assert.Equal(t, res.Sent, res.Confirmed)
	assert.Zero(t, res.Errors, res.FirstError)
	assert.InDelta(t, 400, res.SendRate, 80)
	lines := strings.Split(strings.TrimSpace(progress), "\n")
	require.NotEmpty(t, lines, "progress lines")
	assert.Regexp(t, `^\s*1s  sent +\d+/s  confirmed +\d+/s  received +\d+/s  latency p50 \d+\.\d\d ms  p99 \d+\.\d\d ms$`, lines[0])
}

// With both --duration and --count, whichever comes first ends the run.
func TestLoadtestDurationOrCount(t *testing.T) {
	url := brokertest.Start(t)
	res, _ := runJSON(t, "--url", url, "--target", "either", "--source", "either", "--count", "1000000",
		"--duration", "500ms", "--rate", "100")
	assert.Positive(t, res.Sent)
	assert.Less(t, res.Sent, int64(200), "the duration ended it: 100 msg/s for 0.5 s")
	assert.Equal(t, res.Sent, res.Received)
	res, _ = runJSON(t, "--url", url, "--target", "either", "--source", "either", "--count", "20", "--duration", "1h")
	assert.Equal(t, int64(20), res.Sent, "the count ended it")
	assert.Equal(t, int64(20), res.Received)
	assert.Less(t, res.ElapsedS, 60.0)
}

func TestLoadtestHumanSummary(t *testing.T) {
	url := brokertest.Start(t)
	var stdout, stderr bytes.Buffer
	require.NoError(t, run(brokertest.Context(t, 30*time.Second),
		[]string{"--url", url, "--count", "300", "--target", "human", "--source", "human", "--presettled"}, &stdout, &stderr))
	out := stdout.String()
	assert.Contains(t, out, "1 producers → 1 queues → 1 consumers, 16 B, pre-settled, rate unlimited, credit 1000, 300 messages\n")
	assert.Regexp(t, `(?m)^sent +300 +\d+ msg/s$`, out)
	assert.Regexp(t, `(?m)^received +300 +\d+ msg/s$`, out)
	assert.Regexp(t, `(?m)^latency +p50 [\d.]+ ms  p95 [\d.]+ ms  p99 [\d.]+ ms  max [\d.]+ ms  mean [\d.]+ ms$`, out)
	assert.Regexp(t, `(?m)^errors +0$`, out)
	assert.NotContains(t, out, "confirmed")
	assert.Empty(t, stderr.String())
}

// Producers only, then consumers only: a second run drains what the first left behind. Latency is
// end to end, from the send time carried in each message: here at least the pause between the runs.
func TestLoadtestSplitRoles(t *testing.T) {
	url := brokertest.Start(t)
	res, _ := runJSON(t, "--url", url, "--producers", "2", "--consumers", "0", "--count", "500", "--declare")
	assert.Equal(t, int64(500), res.Sent)
	assert.Equal(t, int64(500), res.Confirmed)
	assert.Zero(t, res.Received)
	const pause = 300 * time.Millisecond
	time.Sleep(pause) // the messages wait in the queue
	res, _ = runJSON(t, "--url", url, "--producers", "0", "--consumers", "2", "--count", "500")
	assert.Equal(t, int64(500), res.Received)
	assert.Zero(t, res.Errors, res.FirstError)
	assert.GreaterOrEqual(t, res.LatencyP50Ms, float64(pause.Milliseconds())*0.98, "measured from the send time in the message (1.6 %% buckets)")
}

// A target that does not exist fails the attach, before anything is measured.
func TestLoadtestAttachFails(t *testing.T) {
	url := brokertest.Start(t)
	var stdout, stderr bytes.Buffer
	err := run(brokertest.Context(t, 30*time.Second),
		[]string{"--url", url, "--consumers", "0", "--target", "/exchanges/missing", "--count", "10"}, &stdout, &stderr)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `producer 0: attaching to "/exchanges/missing"`)
	assert.Empty(t, stdout.String())
}

// Messages the broker does not accept are errors: here they route nowhere and are released.
func TestLoadtestUnroutedIsAnError(t *testing.T) {
	url := brokertest.Start(t)
	var stdout, stderr bytes.Buffer
	err := run(brokertest.Context(t, 30*time.Second),
		[]string{"--url", url, "--consumers", "0", "--target", "/exchanges/amq.direct/nobody", "--count", "10", "--json"}, &stdout, &stderr)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "10 errors; the first: producer 0: message settled released")
	var res result
	require.NoError(t, json.Unmarshal(stdout.Bytes(), &res))
	assert.Equal(t, int64(10), res.Errors)
	assert.Equal(t, int64(10), res.Sent)
	assert.Zero(t, res.Confirmed)
}

func TestLoadtestNoBroker(t *testing.T) {
	var stdout, stderr bytes.Buffer
	err := run(brokertest.Context(t, 10*time.Second), []string{"--url", "amqp://127.0.0.1:1", "--count", "1"}, &stdout, &stderr)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "connecting to amqp://127.0.0.1:1")
}
