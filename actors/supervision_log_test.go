package actors

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/Azure/go-amqp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/warren-mq/warren/supervision"
)

// syncBuffer is a bytes.Buffer safe for the broker's goroutines to log into.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// records returns the JSON log records with the given message.
func (s *syncBuffer) records(t *testing.T, msg string) []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	for _, line := range bytes.Split(s.b.Bytes(), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var r map[string]any
		require.NoError(t, json.Unmarshal(line, &r))
		if r["msg"] == msg {
			out = append(out, r)
		}
	}
	return out
}

// Every failure — of a queue, an exchange, a link, a session and a connection — is logged with the
// actor's path and counted in the actor-restarts metric under its kind (DESIGN.md §1).
func TestSupervisionEveryFailureLoggedWithPathAndCounted(t *testing.T) {
	logs := &syncBuffer{}
	f := supervision.NewFaults()
	b := startBroker(t, withFaults(f), func(o *Options) {
		o.Logger = slog.New(slog.NewJSONHandler(logs, nil))
		o.HTTPAddr = "127.0.0.1:0"
	})
	// Each fault is armed just before its trigger, while every other connection is idle (the connection's
	// before the link's and session's, whose detach and end the client answers).
	s := newSess(t, dial(t, b, nil))
	toQueue := sender(t, s, "logged", nil)
	send(t, toQueue, "declares the queue")
	toExchange := sender(t, s, "/exchanges/amq.direct/nowhere", nil)
	c := dial(t, b, nil)
	s0, s1 := newSess(t, c), newSess(t, c)
	sender(t, s0, "logged", nil) // handle 0
	onHandle1 := sender(t, s0, "logged", nil)
	victim := dial(t, b, nil)

	f.Inject(supervision.Queue, "q-logged", "*actors.enqueueBatch", 1)
	assert.IsType(t, &amqp.StateRejected{}, sendMsg(t, toQueue, amqp.NewMessage([]byte("q"))))
	f.Inject(supervision.Exchange, "x-amq.direct", "*actors.publishBatch", 1)
	assert.IsType(t, &amqp.StateReleased{}, sendMsg(t, toExchange, amqp.NewMessage([]byte("x"))))
	f.Inject(supervision.Connection, "", "*actors.inFrames", 1)
	_, err := victim.NewSession(testCtx(t), nil)
	var ce *amqp.ConnError
	require.True(t, errors.As(err, &ce), "%v", err)
	f.Inject(supervision.Link, "/l1-", "*actors.linkTransfers", 1)
	var le *amqp.LinkError
	err = onHandle1.Send(testCtx(t), amqp.NewMessage([]byte("l")), nil)
	require.True(t, errors.As(err, &le), "%v", err)
	f.Inject(supervision.Session, "/s1-", "*actors.sessionFrames", 1)
	_, err = s1.NewSender(testCtx(t), "logged", nil)
	var se *amqp.SessionError
	require.True(t, errors.As(err, &se), "%v", err)

	paths := map[supervision.Kind]*regexp.Regexp{
		supervision.Queue:      regexp.MustCompile(`^warren/vhost-%2F/q-logged-\d+$`),
		supervision.Exchange:   regexp.MustCompile(`^warren/vhost-%2F/x-amq\.direct-\d+$`),
		supervision.Link:       regexp.MustCompile(`^warren/conn-\d+/s0-\d+/l1-\d+$`),
		supervision.Session:    regexp.MustCompile(`^warren/conn-\d+/s1-\d+$`),
		supervision.Connection: regexp.MustCompile(`^warren/conn-\d+$`),
	}
	require.Eventually(t, func() bool { return len(logs.records(t, "actor failed")) == len(paths) }, 5*time.Second, 10*time.Millisecond)
	for _, r := range logs.records(t, "actor failed") {
		kind := supervision.Kind(fmt.Sprint(r["kind"]))
		re := paths[kind]
		require.NotNil(t, re, "unexpected failure of kind %q: %v", kind, r)
		assert.Regexp(t, re, r["actor"], "the %s's path", kind)
		assert.Contains(t, r["reason"], "injected fault", kind)
		assert.Equal(t, "ERROR", r["level"], kind)
		delete(paths, kind)
	}
	assert.Empty(t, paths, "a failure of each kind was logged")
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		text := scrapeMetrics(t, b)
		for _, k := range []string{"queue", "exchange", "link", "session", "connection"} {
			assert.Contains(c, text, fmt.Sprintf(`warren_actor_restarts_total{kind=%q} 1`, k))
		}
	}, 5*time.Second, 10*time.Millisecond)
	assert.Equal(t, int64(5), b.restarts.Load())
}
