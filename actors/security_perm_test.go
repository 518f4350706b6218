package actors

import (
	"errors"
	"testing"

	"github.com/Azure/go-amqp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/warren-mq/warren/actors/definitions"
)

// RabbitMQ's permission rules beyond TestPermissions: a queue address publishes through the default
// exchange (write on "amq.default"), auto-creating a bare-named queue needs configure, consuming needs
// read, permissions are per vhost, and the anonymous relay checks each message's `to`.
func TestPermissionsPerResourceAndVhost(t *testing.T) {
	b := startBroker(t, withTopology, func(o *Options) {
		o.Definitions.Vhosts = append(o.Definitions.Vhosts, definitions.Vhost{Name: "other"})
		o.Definitions.Users = []definitions.User{{Name: "app", Password: "pw"}, {Name: "q", Password: "pw"}}
		o.Definitions.Permissions = []definitions.Permission{
			{User: "app", Vhost: "/", Configure: "^app-.*", Write: "^work$", Read: "^(work-.*|app-.*)"},
			{User: "app", Vhost: "other", Configure: "", Write: "", Read: ""},
			{User: "q", Vhost: "/", Configure: "", Write: "^amq\\.default$", Read: ""},
		}
	})
	connect := func(user, vhost string) *amqp.Session {
		c, err := amqp.Dial(testCtx(t), "amqp://"+b.Addr().String(), &amqp.ConnOptions{
			SASLType: amqp.SASLTypePlain(user, "pw"), HostName: "vhost:" + vhost})
		require.NoError(t, err)
		t.Cleanup(func() { _ = c.Close() })
		return newSess(t, c)
	}
	denied := func(err error, want string) { t.Helper(); assertDenied(t, err, want) }

	s := connect("app", "/")
	_, err := s.NewSender(testCtx(t), "/queues/work-red", nil)
	denied(err, `write access to exchange "amq.default"`)
	_, err = s.NewSender(testCtx(t), "newq", nil)
	denied(err, `write access to exchange "amq.default"`)
	_, err = s.NewReceiver(testCtx(t), "newq", nil)
	denied(err, `read access to queue "newq"`)
	_, err = s.NewReceiver(testCtx(t), "app-missing-read", nil)
	require.NoError(t, err, "read and configure on app-*: the bare name is auto-created")
	_, err = s.NewReceiver(testCtx(t), "work-red", nil)
	require.NoError(t, err, "read on an existing queue needs no configure")
	_, err = s.NewReceiver(testCtx(t), "work-new", nil)
	denied(err, `configure access to queue "work-new"`)

	// The anonymous relay: each message's `to` is checked as its own attach would be.
	relay := sender(t, s, "", nil)
	for to, want := range map[string]string{
		"/exchanges/work/red":     "",
		"/exchanges/events/order": `write access to exchange "events"`,
		"/queues/work-red":        `write access to exchange "amq.default"`,
	} {
		st := sendMsg(t, relay, &amqp.Message{Data: [][]byte{[]byte(to)}, Properties: &amqp.MessageProperties{To: &to}})
		if want == "" {
			assert.Equal(t, &amqp.StateAccepted{}, st, to)
			continue
		}
		rej, ok := st.(*amqp.StateRejected)
		require.True(t, ok, "%s: got %T", to, st)
		require.NotNil(t, rej.Error, to)
		assert.Equal(t, amqp.ErrCond("amqp:unauthorized-access"), rej.Error.Condition, to)
		assert.Contains(t, rej.Error.Description, want, to)
	}

	// Write on the default exchange publishes to an existing queue; it does not create one.
	qs := connect("q", "/")
	send(t, sender(t, qs, "/queues/work-blue", nil), "via amq.default")
	_, err = qs.NewSender(testCtx(t), "brand-new", nil)
	denied(err, `configure access to queue "brand-new"`)

	// Empty expressions grant nothing: app may connect to "other" but touch nothing there.
	o := connect("app", "other")
	_, err = o.NewSender(testCtx(t), "anything", nil)
	denied(err, `in virtual host "other"`)
}

// open.hostname picks the vhost: "vhost:NAME" (RabbitMQ 4), a plain vhost name, or anything else (a
// DNS name, an address) for the default "/". The user needs permissions on the vhost it picks.
func TestVhostChosenByHostname(t *testing.T) {
	b := startBroker(t, func(o *Options) {
		o.Definitions = &definitions.Definitions{Vhosts: []definitions.Vhost{{Name: "/"}, {Name: "tenant"}, {Name: "closed"}},
			Users:       []definitions.User{{Name: "ten", Password: "pw"}},
			Permissions: append(allOn("tenant", "guest", "ten"), allOn("/", "guest")...)}
	})
	vhostOf := func(hostname, user string) (string, error) {
		c, err := amqp.Dial(testCtx(t), "amqp://"+b.Addr().String(), &amqp.ConnOptions{HostName: hostname,
			SASLType: amqp.SASLTypePlain(user, map[string]string{"guest": "guest", "ten": "pw"}[user])})
		if err != nil {
			return "", err
		}
		defer c.Close()
		s, err := c.NewSession(testCtx(t), nil)
		if err != nil {
			return "", err
		}
		// The queue named after the hostname lands in the chosen vhost; find it there.
		q := "where-" + hostname
		send(t, sender(t, s, q, nil), "x")
		for name := range b.vhosts {
			if _, ok := b.queueIndex.Load(queueKey{name, q}); ok {
				return name, nil
			}
		}
		return "", errors.New("queue not found in any vhost")
	}
	for hostname, want := range map[string]string{
		"vhost:tenant":       "tenant",
		"tenant":             "tenant",
		"vhost:/":            "/",
		"broker.example.com": "/",
		"":                   "/",
	} {
		got, err := vhostOf(hostname, "guest")
		require.NoError(t, err, hostname)
		assert.Equal(t, want, got, "hostname %q", hostname)
	}
	got, err := vhostOf("tenant", "ten")
	require.NoError(t, err)
	assert.Equal(t, "tenant", got)
	for _, hostname := range []string{"/", "vhost:/", "vhost:closed"} {
		_, err = vhostOf(hostname, "ten")
		var ce *amqp.ConnError
		require.True(t, errors.As(err, &ce), "%s: %v", hostname, err)
		require.NotNil(t, ce.RemoteErr, hostname)
		assert.Equal(t, amqp.ErrCond("amqp:unauthorized-access"), ce.RemoteErr.Condition, hostname)
		assert.Contains(t, ce.RemoteErr.Description, "virtual host", hostname)
	}
}

// Permission expressions match as RabbitMQ's re:run does: anywhere in the name unless anchored, so the
// usual "^app-" from a RabbitMQ definitions file grants "app-q", an unanchored "app-" also grants
// "my-app-q", and "" grants nothing.
func TestPermissionsMatchUnanchoredAsRabbitMQ(t *testing.T) {
	b := startBroker(t, func(o *Options) {
		o.Definitions = &definitions.Definitions{
			Users:  []definitions.User{{Name: "ra", Password: "pw"}},
			Queues: []definitions.Queue{{Name: "my-app-q", Vhost: "/"}, {Name: "other-q", Vhost: "/"}},
			Permissions: append(allOn("/", "guest"), definitions.Permission{
				User: "ra", Vhost: "/", Configure: "^app-", Write: "", Read: "app-|^other"}),
		}
	})
	c, err := amqp.Dial(testCtx(t), "amqp://"+b.Addr().String(), &amqp.ConnOptions{SASLType: amqp.SASLTypePlain("ra", "pw")})
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	s := newSess(t, c)
	denied := func(err error, want string) { t.Helper(); assertDenied(t, err, want) }

	_, err = s.NewReceiver(testCtx(t), "app-q", nil)
	require.NoError(t, err, `configure "^app-" and read "app-" grant the new queue "app-q"`)
	_, err = s.NewReceiver(testCtx(t), "/queues/my-app-q", nil)
	require.NoError(t, err, `read "app-" matches inside "my-app-q"`)
	_, err = s.NewReceiver(testCtx(t), "/queues/other-q", nil)
	require.NoError(t, err, `read "^other" matches a prefix`)
	_, err = s.NewReceiver(testCtx(t), "my-app-new", nil)
	denied(err, `configure access to queue "my-app-new"`) // "^app-" is anchored at the start
	// "" grants nothing, not even the default exchange.
	_, err = s.NewSender(testCtx(t), "/queues/app-q", nil)
	denied(err, `write access to exchange "amq.default"`)
}
