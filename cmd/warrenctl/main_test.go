package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/Azure/go-amqp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/warren-mq/warren/actors"
)

// startBroker runs an in-process broker with the HTTP API on free loopback ports.
func startBroker(t *testing.T) *actors.Broker {
	t.Helper()
	b, err := actors.NewBroker(actors.Options{AMQPAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(t, err)
	require.NoError(t, b.Start())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(t, b.Shutdown(ctx))
	})
	return b
}

// ctl runs warrenctl against the broker; it returns the exit code, stdout and stderr.
type ctl struct {
	t     *testing.T
	url   string
	stdin string
}

func (c *ctl) run(args ...string) (int, string, string) {
	c.t.Helper()
	var out, errOut bytes.Buffer
	code := runWith(append([]string{"--url", c.url}, args...), strings.NewReader(c.stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

// ok runs a command that must succeed and returns its stdout.
func (c *ctl) ok(args ...string) string {
	c.t.Helper()
	code, out, errOut := c.run(args...)
	require.Equal(c.t, 0, code, "warrenctl %v: %s%s", args, out, errOut)
	return out
}

// fails runs a command that must fail with code and returns its stderr.
func (c *ctl) fails(code int, args ...string) string {
	c.t.Helper()
	got, out, errOut := c.run(args...)
	require.Equal(c.t, code, got, "warrenctl %v: %s%s", args, out, errOut)
	require.NotEmpty(c.t, errOut)
	return errOut
}

// jsonList runs a command with --json and decodes its list.
func (c *ctl) jsonList(args ...string) []map[string]any {
	c.t.Helper()
	var list []map[string]any
	require.NoError(c.t, json.Unmarshal([]byte(c.ok(append(args, "--json")...)), &list))
	return list
}

func newCtl(t *testing.T, b *actors.Broker) *ctl {
	return &ctl{t: t, url: "http://" + b.HTTPAddr().String()}
}

func TestUsageErrors(t *testing.T) {
	c := &ctl{t: t, url: "http://127.0.0.1:1"}
	code, out, _ := c.run("help")
	assert.Equal(t, 0, code)
	assert.Contains(t, out, "usage: warrenctl")
	code, _, errOut := c.run()
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "usage: warrenctl")
	assert.Contains(t, c.fails(2, "frobnicate"), `unknown command "frobnicate"`)
	assert.Contains(t, c.fails(2, "list"), "list what?")
	assert.Contains(t, c.fails(2, "list", "widgets"), `cannot list "widgets"`)
	assert.Contains(t, c.fails(2, "declare", "queue"), "want declare queue NAME")
	assert.Contains(t, c.fails(2, "declare", "queue", "a", "b"), "want declare queue NAME")
	assert.Contains(t, c.fails(2, "declare", "exchange", "x"), "needs --type")
	assert.Contains(t, c.fails(2, "declare", "queue", "q", "--arg", "novalue"), "not key=value")
	assert.Contains(t, c.fails(2, "declare", "binding", "--source", "x"), "--source and --destination")
	assert.Contains(t, c.fails(2, "declare", "binding", "--source", "x", "--destination", "y", "--destination-type", "topic"), "queue or exchange")
	assert.Contains(t, c.fails(2, "list", "queues", "--bogus"), "bogus")
	assert.Contains(t, c.fails(2, "status", "extra"), `unexpected argument "extra"`)
	assert.Contains(t, c.fails(2, "--url", "ftp://x", "status"), "not an http")
	// A broker that is not there is an operation error.
	assert.Contains(t, c.fails(1, "status"), "cannot reach the broker")
}

func TestStatusAndAuth(t *testing.T) {
	b := startBroker(t)
	c := newCtl(t, b)
	out := c.ok("status")
	assert.Contains(t, out, "Warren "+actors.Version+" (as guest)")
	assert.Contains(t, out, "listening: amqp on "+b.Addr().String())
	assert.Contains(t, out, "queues:")
	assert.Contains(t, out, "publish:                 0 (0.0/s)", "message counts and rates")
	assert.Contains(t, out, "ack:                     0 (0.0/s)")
	var ov map[string]any
	require.NoError(t, json.Unmarshal([]byte(c.ok("status", "--json")), &ov))
	assert.Equal(t, "Warren", ov["product_name"])
	assert.Contains(t, ov, "message_stats")
	// Wrong credentials: exit 1 with the server's reason.
	assert.Contains(t, c.fails(1, "--password", "wrong", "status"), "HTTP 401")
}

func TestQueuesExchangesBindings(t *testing.T) {
	b := startBroker(t)
	c := newCtl(t, b)

	assert.Equal(t, "queue \"orders\" declared\n", c.ok("declare", "queue", "orders", "--arg", "x-max-length=100", "--arg", "x-overflow=reject-publish"))
	assert.Contains(t, c.ok("declare", "queue", "orders", "--arg", "x-max-length=100", "--arg", "x-overflow=reject-publish"), "already exists")
	assert.Contains(t, c.fails(1, "declare", "queue", "orders", "--durable=false"), "HTTP 409")
	assert.Contains(t, c.ok("declare", "queue", "--auto-delete", "temp", "--json"), `"result": "created"`)
	out := c.ok("list", "queues")
	assert.Contains(t, out, "NAME")
	assert.Contains(t, out, "x-max-length=100,x-overflow=reject-publish")
	q := c.jsonList("list", "queues")
	require.Len(t, q, 2)
	assert.Equal(t, "orders", q[0]["name"])
	assert.Equal(t, true, q[0]["durable"])
	assert.Equal(t, true, q[1]["auto_delete"])

	assert.Contains(t, c.ok("declare", "exchange", "events", "--type", "topic"), "declared")
	assert.Contains(t, c.fails(1, "declare", "exchange", "weird", "--type", "x-none"), "HTTP 400")
	out = c.ok("list", "exchanges")
	assert.Contains(t, out, "amq.default")
	assert.Contains(t, out, "events")

	assert.Contains(t, c.ok("declare", "binding", "--source", "events", "--destination", "orders", "--key", "order.*"), "declared")
	assert.Contains(t, c.ok("declare", "exchange", "fan", "--type", "fanout"), "declared")
	assert.Contains(t, c.ok("declare", "binding", "--source", "events", "--destination", "fan", "--destination-type", "exchange", "--key", "#"), "declared")
	assert.Contains(t, c.fails(1, "declare", "binding", "--source", "events", "--destination", "missing"), "HTTP 404")
	bs := c.jsonList("list", "bindings")
	assert.Len(t, bs, 4, "two default-exchange bindings and two declared")
	assert.Contains(t, c.ok("list", "bindings"), "order.*")

	// Publish through the binding, look, take.
	assert.Equal(t, "message published and routed\n", c.ok("publish", "--exchange", "events", "--routing-key", "order.new", "--body", "first",
		"--property", "content_type=text/plain", "--header", "tenant=acme"))
	assert.Equal(t, "message published but NOT routed\n", c.ok("publish", "--routing-key", "nowhere", "--body", "x"))
	assert.Contains(t, c.ok("publish", "--routing-key", "orders", "--body", "c2Vjb25k", "--base64", "--json"), `"routed": true`)
	assert.Contains(t, c.fails(1, "publish", "--exchange", "nope", "--body", "x"), "HTTP 404")
	out = c.ok("get", "orders", "--count", "5")
	assert.Contains(t, out, "first")
	assert.Contains(t, out, "second")
	msgs := c.jsonList("get", "orders", "--ackmode", "ack_requeue_false")
	require.Len(t, msgs, 1)
	assert.Equal(t, "first", msgs[0]["payload"])
	assert.Equal(t, map[string]any{"tenant": "acme"}, msgs[0]["properties"].(map[string]any)["headers"])
	assert.Contains(t, c.fails(1, "get", "orders", "--ackmode", "nope"), "HTTP 400")

	// Purge, then the deletes.
	assert.Equal(t, "queue \"orders\" purged: 1 message(s) removed\n", c.ok("purge", "queue", "orders"))
	assert.Contains(t, c.ok("get", "orders"), "no ready messages")
	assert.Contains(t, c.ok("delete", "binding", "--source", "events", "--destination", "orders", "--key", "order.*"), "1 binding(s) deleted")
	assert.Contains(t, c.fails(1, "delete", "binding", "--source", "events", "--destination", "orders", "--key", "order.*"), "no binding")
	assert.Contains(t, c.fails(1, "delete", "exchange", "fan", "--if-unused"), "in use")
	assert.Contains(t, c.ok("delete", "exchange", "fan"), "deleted")
	assert.Contains(t, c.fails(1, "delete", "exchange", "fan"), "HTTP 404")
	assert.Contains(t, c.fails(1, "delete", "exchange", "amq.direct"), "HTTP 403")
	assert.Contains(t, c.ok("delete", "queue", "orders", "--if-empty"), "deleted")
	assert.Contains(t, c.fails(1, "delete", "queue", "orders"), "HTTP 404")
	assert.Contains(t, c.fails(1, "purge", "queue", "orders"), "HTTP 404")
}

func TestConnectionsAndConsumers(t *testing.T) {
	b := startBroker(t)
	c := newCtl(t, b)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	conn, err := amqp.Dial(ctx, "amqp://"+b.Addr().String(), &amqp.ConnOptions{ContainerID: "ctl-test"})
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	s, err := conn.NewSession(ctx, nil)
	require.NoError(t, err)
	rcv, err := s.NewReceiver(ctx, "jobs", &amqp.ReceiverOptions{Name: "worker-1"})
	require.NoError(t, err)

	conns := c.jsonList("list", "connections")
	require.Len(t, conns, 1)
	name := conns[0]["name"].(string)
	out := c.ok("list", "connections")
	assert.Contains(t, out, name)
	assert.Contains(t, out, "ctl-test")
	out = c.ok("list", "consumers")
	assert.Contains(t, out, "worker-1")
	assert.Contains(t, out, "jobs")
	assert.Contains(t, c.ok("list", "vhosts"), "/")
	assert.Contains(t, c.ok("list", "users"), "administrator")

	assert.Equal(t, "connection \""+name+"\" closed\n", c.ok("close", "connection", name, "--reason", "maintenance"))
	_, err = rcv.Receive(ctx, nil)
	var connErr *amqp.ConnError
	require.ErrorAs(t, err, &connErr)
	require.NotNil(t, connErr.RemoteErr)
	assert.Equal(t, amqp.ErrCondConnectionForced, connErr.RemoteErr.Condition)
	assert.Equal(t, "maintenance", connErr.RemoteErr.Description)
	assert.Contains(t, c.fails(1, "close", "connection", "conn-999999"), "HTTP 404")
}

func TestExportImport(t *testing.T) {
	b := startBroker(t)
	c := newCtl(t, b)
	c.ok("declare", "exchange", "events", "--type", "topic")
	c.ok("declare", "queue", "audit", "--arg", "x-message-ttl=60000")
	c.ok("declare", "binding", "--source", "events", "--destination", "audit", "--key", "#")

	file := filepath.Join(t.TempDir(), "defs.json")
	assert.Contains(t, c.ok("export", file), "definitions written to "+file)
	data, err := os.ReadFile(file)
	require.NoError(t, err)
	// Standard output gets the same definitions (but for the salt of guest's password hash).
	var fromFile, fromStdout map[string]any
	require.NoError(t, json.Unmarshal(data, &fromFile))
	require.NoError(t, json.Unmarshal([]byte(c.ok("export", "-")), &fromStdout))
	delete(fromFile, "users")
	delete(fromStdout, "users")
	assert.Equal(t, fromFile, fromStdout)
	assert.Contains(t, string(data), `"x-message-ttl": 60000`)

	// Into a fresh broker, from a file and from standard input.
	c2 := newCtl(t, startBroker(t))
	assert.Equal(t, "imported 1 exchange(s), 1 queue(s), 1 binding(s)\n", c2.ok("import", file))
	c2.stdin = string(data)
	assert.Contains(t, c2.ok("import", "-", "--json"), `"queues": 1`)
	q := c2.jsonList("list", "queues")
	require.Len(t, q, 1)
	assert.Equal(t, map[string]any{"x-message-ttl": float64(60000)}, q[0]["arguments"])
	assert.Contains(t, c2.ok("list", "bindings"), "events")

	// Warnings go to stderr; a bad file is an operation error.
	c2.stdin = `{"users": [{"name": "new", "password": "x"}]}`
	code, out, errOut := c2.run("import", "-")
	assert.Equal(t, 0, code)
	assert.Contains(t, out, "imported 0 exchange(s)")
	assert.Contains(t, errOut, `warning: user "new" is not created`)
	c2.stdin = `{"queues": [{"name": "q", "arguments": {"x-max-length": "many"}}]}`
	assert.Contains(t, c2.fails(1, "import", "-"), "HTTP 400")
	assert.Contains(t, c2.fails(1, "import", filepath.Join(t.TempDir(), "missing.json")), "no such file")
	assert.Contains(t, c2.fails(2, "export"), "want export FILE")
}
