package actors

import (
	"errors"
	"testing"
	"time"

	"github.com/Azure/go-amqp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/warren-mq/warren/actors/definitions"
)

// utc normalises what go-amqp's decoder changes: timestamps (decoded in local time) become their
// instant in ms, and symbols (decoded as strings) become strings.
func utc(m map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		if tm, ok := v.(time.Time); ok {
			v = tm.UnixMilli()
		}
		if sym, ok := v.(amqp.Symbol); ok {
			v = string(sym)
		}
		out[k] = v
	}
	return out
}

func TestMessageFidelity(t *testing.T) {
	b := startBroker(t)
	s := newSess(t, dial(t, b, nil))
	now := time.UnixMilli(time.Now().UnixMilli()).UTC()
	to, subject, replyTo, ct, ce, group, rgroup := "/queues/fidelity", "subj", "/queues/replies", "application/json", "gzip", "g1", "rg"
	seq := uint32(7)
	props := &amqp.MessageProperties{
		MessageID: "id-1", UserID: []byte("guest"), To: &to, Subject: &subject, ReplyTo: &replyTo,
		CorrelationID: uint64(42), ContentType: &ct, ContentEncoding: &ce, AbsoluteExpiryTime: &now,
		CreationTime: &now, GroupID: &group, GroupSequence: &seq, ReplyToGroupID: &rgroup,
	}
	app := map[string]any{
		"string": "s", "bool": true, "int8": int8(-8), "int16": int16(-16), "int32": int32(-32), "int64": int64(-64),
		"uint8": uint8(8), "uint16": uint16(16), "uint32": uint32(32), "uint64": uint64(64),
		"float": float32(1.5), "double": 2.25, "binary": []byte{0, 1, 2}, "time": now,
		"uuid": amqp.UUID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}, "symbol": amqp.Symbol("sym"), "nil": nil,
	}
	msgs := []*amqp.Message{
		{Data: [][]byte{[]byte("one"), []byte("two")}},                       // several data sections
		{Value: map[string]any{"k": int64(1), "list": []any{"a", int32(2)}}}, // amqp-value
		{Sequence: [][]any{{"a", int64(1)}, {true}}},                         // amqp-sequence sections
	}
	snd := sender(t, s, "fidelity", nil)
	r := receiver(t, s, "fidelity", nil)
	for _, m := range msgs {
		m.Header = &amqp.MessageHeader{Durable: true, Priority: 9, TTL: time.Hour}
		m.DeliveryAnnotations = amqp.Annotations{"x-opt-hop": "dropped"}
		m.Annotations = amqp.Annotations{"x-opt-custom": "kept", int64(7): "numeric key"}
		m.Properties = props
		m.ApplicationProperties = app
		m.Footer = amqp.Annotations{"x-opt-footer": "f"}
		require.NoError(t, snd.Send(testCtx(t), m, nil))
		got := recv(t, r)
		require.NoError(t, r.AcceptMessage(testCtx(t), got))
		// The bare message and footer pass through unchanged. (Byte-for-byte pass-through is proven at
		// the codec level in protocol's AppendMessageForDelivery tests; go-amqp encodes Go maps in
		// random order, so here the decoded values are compared.)
		assert.Equal(t, m.Data, got.Data)
		assert.Equal(t, m.Value, got.Value)
		assert.Equal(t, m.Sequence, got.Sequence)
		assert.Equal(t, m.Footer, got.Footer)
		assert.Equal(t, props.MessageID, got.Properties.MessageID)
		assert.Equal(t, props.UserID, got.Properties.UserID)
		assert.Equal(t, *props.To, *got.Properties.To)
		assert.Equal(t, *props.Subject, *got.Properties.Subject)
		assert.Equal(t, *props.ReplyTo, *got.Properties.ReplyTo)
		assert.Equal(t, props.CorrelationID, got.Properties.CorrelationID)
		assert.Equal(t, *props.ContentType, *got.Properties.ContentType)
		assert.Equal(t, *props.ContentEncoding, *got.Properties.ContentEncoding)
		assert.True(t, now.Equal(*got.Properties.AbsoluteExpiryTime))
		assert.True(t, now.Equal(*got.Properties.CreationTime))
		assert.Equal(t, *props.GroupID, *got.Properties.GroupID)
		assert.Equal(t, *props.GroupSequence, *got.Properties.GroupSequence)
		assert.Equal(t, *props.ReplyToGroupID, *got.Properties.ReplyToGroupID)
		assert.True(t, got.Header.Durable)
		assert.Equal(t, uint8(9), got.Header.Priority)
		assert.Equal(t, time.Hour, got.Header.TTL)
		assert.Nil(t, got.DeliveryAnnotations, "delivery-annotations are hop-by-hop (spec 3.2.2)")
		assert.Equal(t, "kept", got.Annotations["x-opt-custom"])
		assert.Equal(t, "numeric key", got.Annotations[int64(7)])
		assert.Equal(t, "", got.Annotations["x-exchange"])
		assert.Equal(t, "fidelity", got.Annotations["x-routing-key"])
		assert.Equal(t, utc(app), utc(got.ApplicationProperties))
	}
}

func TestSASLPlainAndDefinitionsUsers(t *testing.T) {
	b := startBroker(t, func(o *Options) {
		o.Definitions = &definitions.Definitions{Users: []definitions.User{
			{Name: "alice", Password: "wonderland"},
			// RabbitMQ's salted SHA-256 of "secret" with salt 0x908DC60A, as rabbitmqctl would export it.
			{Name: "bob", PasswordHash: "kI3GCqG+cq65rBQ9tiUUCREygKhmilKrZEWKSz+H0FJ1fk4/", HashingAlgorithm: "rabbit_password_hashing_sha256"},
		}, Permissions: []definitions.Permission{
			{User: "alice", Vhost: "/", Configure: ".*", Write: ".*", Read: ".*"},
			{User: "bob", Vhost: "/", Configure: ".*", Write: ".*", Read: ".*"},
		}}
	})
	ok := func(user, pass string) {
		c, err := amqp.Dial(testCtx(t), "amqp://"+b.Addr().String(), &amqp.ConnOptions{SASLType: amqp.SASLTypePlain(user, pass)})
		require.NoError(t, err, user)
		s := newSess(t, c)
		send(t, sender(t, s, "auth", nil), user)
		require.NoError(t, c.Close())
	}
	ok("guest", "guest")
	ok("alice", "wonderland")
	ok("bob", "secret")
	_, err := amqp.Dial(testCtx(t), "amqp://"+b.Addr().String(), &amqp.ConnOptions{SASLType: amqp.SASLTypePlain("alice", "wrong")})
	require.Error(t, err)
	_, err = amqp.Dial(testCtx(t), "amqp://"+b.Addr().String(), &amqp.ConnOptions{SASLType: amqp.SASLTypeAnonymous()})
	require.NoError(t, err, "ANONYMOUS logs in as guest from loopback")
}

func TestAnonymousCanBeDisabled(t *testing.T) {
	b := startBroker(t, func(o *Options) { o.Auth.DisableAnonymous = true })
	_, err := amqp.Dial(testCtx(t), "amqp://"+b.Addr().String(), nil)
	require.Error(t, err, "a client that skips SASL is refused")
	_, err = amqp.Dial(testCtx(t), "amqp://"+b.Addr().String(), &amqp.ConnOptions{SASLType: amqp.SASLTypeAnonymous()})
	require.Error(t, err)
	c, err := amqp.Dial(testCtx(t), "amqp://"+b.Addr().String(), &amqp.ConnOptions{SASLType: amqp.SASLTypePlain("guest", "guest")})
	require.NoError(t, err)
	require.NoError(t, c.Close())
}

func TestOpenCarriesProductAndVersion(t *testing.T) {
	b := startBroker(t)
	c := dial(t, b, nil)
	assert.Equal(t, "Warren", c.Properties()["product"])
	assert.Equal(t, Version, c.Properties()["version"])
}

func TestVhostSelection(t *testing.T) {
	b := startBroker(t, func(o *Options) {
		o.Definitions = &definitions.Definitions{Vhosts: []definitions.Vhost{{Name: "/"}, {Name: "tenant"}},
			Permissions: []definitions.Permission{{User: "guest", Vhost: "tenant", Configure: ".*", Write: ".*", Read: ".*"}}}
	})
	c, err := amqp.Dial(testCtx(t), "amqp://"+b.Addr().String(), &amqp.ConnOptions{HostName: "vhost:tenant"})
	require.NoError(t, err)
	s := newSess(t, c)
	send(t, sender(t, s, "per-tenant", nil), "t")
	// The queue exists in "tenant" only.
	d := dial(t, b, nil)
	_, err = newSess(t, d).NewReceiver(testCtx(t), "/queues/per-tenant", nil)
	var ae *amqp.Error
	require.True(t, errors.As(err, &ae), "%v", err)
	assert.Equal(t, amqp.ErrCond("amqp:not-found"), ae.Condition)
	assertQueue(t, s, "per-tenant", "t")
	// An unknown vhost is answered with open then close(amqp:not-found) (spec 2.4.1): the client sees
	// the error at its first use of the connection.
	bad, err := amqp.Dial(testCtx(t), "amqp://"+b.Addr().String(), &amqp.ConnOptions{HostName: "vhost:missing"})
	if err == nil {
		_, err = bad.NewSession(testCtx(t), nil)
	}
	require.Error(t, err)
	var ce *amqp.ConnError
	require.True(t, errors.As(err, &ce), "%v", err)
	require.NotNil(t, ce.RemoteErr)
	assert.Equal(t, amqp.ErrCond("amqp:not-found"), ce.RemoteErr.Condition)
}
