//go:build interop

package actors

// Interop tests: real third-party AMQP 1.0 clients against a broker started in-process. They need
// Debian's python3-qpid-proton (/usr/bin/python3) and rhea installed in testdata/interop (npm ci);
// .ci/run installs both. Run: go test -tags interop -run Interop ./actors/

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/Azure/go-amqp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// interopPython is Debian's Python, the one that sees python3-qpid-proton (the python3 on PATH may be
// another installation).
const interopPython = "/usr/bin/python3"

// interopScriptTimeout bounds one client script; the scripts also stop themselves sooner.
const interopScriptTimeout = 2 * time.Minute

// interopBigSize matches BIG_SIZE in the scripts: larger than the broker's and the clients' max frame size.
const interopBigSize = 300 * 1024

// startInteropBroker starts a broker whose 64 KiB max-frame-size makes every large message multi-frame.
func startInteropBroker(t *testing.T) *Broker {
	t.Helper()
	return startBroker(t, func(o *Options) { o.Limits.MaxFrameSize = 64 << 10 })
}

// runInteropScript runs prog with args in testdata/interop with WARREN_ADDR set to the broker's address;
// it fails the test, showing the script's output, when the script fails or overruns.
func runInteropScript(t *testing.T, b *Broker, prog string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), interopScriptTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, prog, args...)
	cmd.Dir = filepath.Join("testdata", "interop")
	cmd.Env = append(os.Environ(), "WARREN_ADDR="+b.Addr().String())
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		require.Failf(t, "script timed out", "%s %v ran over %s:\n%s", prog, args, interopScriptTimeout, out)
	}
	require.NoErrorf(t, err, "%s %v failed:\n%s", prog, args, out)
	t.Logf("%s %v (%s):\n%s", filepath.Base(prog), args, time.Since(start).Round(time.Millisecond), out)
}

func requireProton(t *testing.T) {
	t.Helper()
	out, err := exec.Command(interopPython, "-c", "import proton").CombinedOutput()
	require.NoErrorf(t, err, "python3-qpid-proton is missing (apt-get install -y python3-qpid-proton): %s", out)
}

func requireRhea(t *testing.T) string {
	t.Helper()
	node, err := exec.LookPath("node")
	require.NoError(t, err, "node is not installed")
	_, err = os.Stat(filepath.Join("testdata", "interop", "node_modules", "rhea", "package.json"))
	require.NoError(t, err, "rhea is missing: run npm ci in actors/testdata/interop")
	return node
}

func TestInteropProton(t *testing.T) {
	requireProton(t)
	b := startInteropBroker(t)
	runInteropScript(t, b, interopPython, "proton_test.py", "all")
	assertBrokerServes(t, b)
}

func TestInteropRhea(t *testing.T) {
	node := requireRhea(t)
	b := startInteropBroker(t)
	runInteropScript(t, b, node, "rhea_test.js")
	assertBrokerServes(t, b)
}

// interopBigBody is the scripts' big_body()/bigBody(): a 300 KiB pattern that shows misplaced frames.
func interopBigBody() []byte {
	b := make([]byte, interopBigSize)
	for i := range b {
		b[i] = byte((i*7 + i/1024) % 251)
	}
	return b
}

func strPtr(s string) *string { return &s }

// interopDial connects go-amqp with a 16 KiB max-frame-size, so the broker splits large deliveries.
func interopDial(t *testing.T, b *Broker) *amqp.Conn {
	t.Helper()
	return dial(t, b, &amqp.ConnOptions{MaxFrameSize: 16 << 10})
}

// go-amqp → proton: the values mirror go_expected() in proton_test.py.
func TestInteropGoAmqpToProton(t *testing.T) {
	requireProton(t)
	b := startInteropBroker(t)
	q := fmt.Sprintf("interop-go-to-proton-%d", time.Now().UnixNano())
	c := interopDial(t, b)
	s := newSess(t, c)
	snd := sender(t, s, q, nil) // a bare name declares the queue
	msgs := []*amqp.Message{
		{
			Properties: &amqp.MessageProperties{MessageID: "go-1", CorrelationID: "go-corr-1", Subject: strPtr("go.subject"),
				ContentType: strPtr("text/plain"), ReplyTo: strPtr("/queues/go-replies")},
			ApplicationProperties: map[string]any{"str": "from go", "int": int64(42), "int32": int32(-7), "bool": true, "double": 2.5},
			Data:                  [][]byte{[]byte("hello from go-amqp")},
		},
		{
			Properties: &amqp.MessageProperties{MessageID: "go-2"},
			Value:      map[string]any{"k": "v", "n": int64(1), "list": []any{int64(1), "a", false}},
		},
		{
			Properties: &amqp.MessageProperties{MessageID: "go-big"},
			Data:       [][]byte{interopBigBody()},
		},
	}
	for _, m := range msgs {
		require.NoError(t, snd.Send(testCtx(t), m, nil))
	}
	runInteropScript(t, b, interopPython, "proton_test.py", "recv-from-go", q)
	assertBrokerServes(t, b)
}

// proton → go-amqp: the values mirror send_to_go() in proton_test.py.
func TestInteropProtonToGoAmqp(t *testing.T) {
	requireProton(t)
	b := startInteropBroker(t)
	q := fmt.Sprintf("interop-proton-to-go-%d", time.Now().UnixNano())
	c := interopDial(t, b)
	s := newSess(t, c)
	r := receiver(t, s, q, nil) // a bare name declares the queue
	runInteropScript(t, b, interopPython, "proton_test.py", "send-to-go", q)

	m := recv(t, r)
	require.NotNil(t, m.Properties)
	assert.Equal(t, "py-1", m.Properties.MessageID)
	assert.Equal(t, "py-corr-1", m.Properties.CorrelationID)
	assert.Equal(t, strPtr("py.subject"), m.Properties.Subject)
	assert.Equal(t, strPtr("application/json"), m.Properties.ContentType)
	assert.Equal(t, strPtr("/queues/py-replies"), m.Properties.ReplyTo)
	assert.Equal(t, map[string]any{"str": "from proton", "int": int64(42), "int32": int32(-7), "bool": true, "double": 1.25},
		m.ApplicationProperties)
	assert.Equal(t, [][]byte{[]byte("hello from proton")}, m.Data)
	assert.Equal(t, "", m.Annotations["x-exchange"])
	assert.Equal(t, q, m.Annotations["x-routing-key"])
	require.NoError(t, r.AcceptMessage(testCtx(t), m))

	m = recv(t, r)
	require.NotNil(t, m.Properties)
	assert.Equal(t, "py-2", m.Properties.MessageID)
	assert.Equal(t, map[string]any{"a": []any{int64(1), "x", true}, "b": 2.5}, m.Value)
	require.NoError(t, r.AcceptMessage(testCtx(t), m))

	m = recv(t, r)
	require.NotNil(t, m.Properties)
	assert.Equal(t, "py-big", m.Properties.MessageID)
	require.Len(t, m.Data, 1)
	assert.True(t, bytesEqual(interopBigBody(), m.Data[0]), "the 300 KiB body differs")
	require.NoError(t, r.AcceptMessage(testCtx(t), m))
	assertBrokerServes(t, b)
}

// bytesEqual compares without testify's diff of two 300 KiB slices.
func bytesEqual(a, b []byte) bool { return string(a) == string(b) }
