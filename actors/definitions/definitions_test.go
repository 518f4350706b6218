package definitions

import (
	"bytes"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// captureLogger returns a logger whose output (text, one record a line) lands in the returned buffer.
func captureLogger() (*slog.Logger, *bytes.Buffer) {
	var buf bytes.Buffer
	return slog.New(slog.NewTextHandler(&buf, nil)), &buf
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func logLines(buf *bytes.Buffer) []string {
	s := strings.TrimSpace(buf.String())
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

func TestLoadRabbitMQExport(t *testing.T) {
	logger, logs := captureLogger()
	d, err := Load(filepath.Join("testdata", "rabbitmq-3.13.json"), logger)
	require.NoError(t, err)

	assert.Equal(t, "3.13.7", d.RabbitVersion)

	require.Len(t, d.Users, 3)
	assert.Equal(t, User{
		Name:             "guest",
		PasswordHash:     "kI3GCrswBLNZQzHJJ95QLoyfAVooYhnvf7jbqiW9BjOYUloe",
		HashingAlgorithm: "rabbit_password_hashing_sha256",
		Tags:             []string{"administrator"},
	}, d.Users[0])
	assert.Nil(t, d.Users[1].Tags, "an empty tag list")
	assert.Equal(t, []string{"monitoring", "policymaker"}, d.Users[2].Tags, "tags as a comma-separated string")
	assert.Equal(t, "rabbit_password_hashing_sha512", d.Users[2].HashingAlgorithm)

	assert.Equal(t, []Vhost{{Name: "/"}, {Name: "shop"}}, d.Vhosts)

	require.Len(t, d.Permissions, 4)
	assert.Equal(t, Permission{User: "orders-service", Vhost: "shop", Configure: `^(orders|orders\.dlq)$`,
		Write: "^orders.*", Read: "^orders$"}, d.Permissions[2])

	require.Len(t, d.Exchanges, 5)
	assert.Equal(t, Exchange{Name: "orders", Vhost: "shop", Type: "topic", Durable: true,
		Arguments: map[string]any{"alternate-exchange": "orders.unrouted"}}, d.Exchanges[0])
	assert.True(t, d.Exchanges[1].Internal)
	assert.Nil(t, d.Exchanges[1].Arguments, "empty arguments are nil")
	assert.Equal(t, "x-delayed-message", d.Exchanges[4].Type, "custom types are accepted")

	require.Len(t, d.Queues, 4)
	assert.Equal(t, Queue{Name: "orders", Vhost: "shop", Durable: true, Arguments: map[string]any{
		"x-queue-type":              "classic",
		"x-max-length":              int64(100000),
		"x-overflow":                "reject-publish",
		"x-dead-letter-exchange":    "orders.dlx",
		"x-dead-letter-routing-key": "orders.dead",
		"x-message-ttl":             int64(86400000),
	}}, d.Queues[0])
	assert.Equal(t, int64(1048576), d.Queues[1].Arguments["x-max-length-bytes"], "1.048576e6 is integral")
	assert.Equal(t, "quorum", d.Queues[1].Arguments["x-queue-type"])
	assert.Equal(t, 0.5, d.Queues[2].Arguments["x-custom-weight"], "unknown arguments are kept")
	assert.True(t, d.Queues[2].AutoDelete)
	assert.Equal(t, "/", d.Queues[3].Vhost)

	require.Len(t, d.Bindings, 4)
	assert.Equal(t, Binding{Source: "orders", Vhost: "shop", Destination: "events",
		DestinationType: DestinationExchange, RoutingKey: "*.created"}, d.Bindings[2])
	assert.Equal(t, map[string]any{"x-match": "any", "kind": "refund", "priority": int64(5)}, d.Bindings[3].Arguments)

	// Metadata and empty "limits" are quiet; the cluster id in global_parameters is not applied.
	lines := logLines(logs)
	require.Len(t, lines, 1, logs.String())
	assert.Contains(t, lines[0], "level=WARN")
	assert.Contains(t, lines[0], "field=global_parameters")
	assert.Contains(t, lines[0], `entry="top level"`)
}

func TestParseDefaults(t *testing.T) {
	d, err := Parse([]byte(`{
		"queues": [{"name": "q"}],
		"exchanges": [{"name": "x", "type": "fanout"}],
		"bindings": [{"source": "x", "destination": "q", "destination_type": "queue"}],
		"permissions": [{"user": "guest", "configure": ".*", "write": ".*", "read": ".*"}]
	}`), quietLogger())
	require.NoError(t, err)
	assert.Equal(t, []Queue{{Name: "q", Vhost: "/"}}, d.Queues)
	assert.Equal(t, []Exchange{{Name: "x", Vhost: "/", Type: "fanout"}}, d.Exchanges)
	assert.Equal(t, "/", d.Bindings[0].Vhost)
	assert.Equal(t, "/", d.Permissions[0].Vhost, "guest and the default vhost need not be listed")
	assert.Empty(t, d.Users)
	assert.Empty(t, d.Vhosts)
}

func TestParseEmptyObject(t *testing.T) {
	d, err := Parse([]byte(`{}`), quietLogger())
	require.NoError(t, err)
	assert.Equal(t, &Definitions{}, d)
}

func TestParseNilLoggerUsesDefault(t *testing.T) {
	logger, logs := captureLogger()
	old := slog.Default()
	slog.SetDefault(logger)
	defer slog.SetDefault(old)

	_, err := Parse([]byte(`{"policies": [{"name": "ha"}]}`), nil)
	require.NoError(t, err)
	assert.Contains(t, logs.String(), "field=policies")
}

func TestUnknownFieldsWarnOncePerField(t *testing.T) {
	logger, logs := captureLogger()
	d, err := Parse([]byte(`{
		"flavour": "vanilla",
		"queues": [
			{"name": "a", "colour": "red", "durable": true},
			{"name": "b", "colour": "blue"},
			{"name": "c", "colour": "green", "size": 3}
		],
		"users": [{"name": "u", "password": "p", "limits": {"max-connections": 10}}]
	}`), logger)
	require.NoError(t, err)
	require.Len(t, d.Queues, 3)
	assert.True(t, d.Queues[0].Durable, "known fields beside unknown ones still apply")

	lines := logLines(logs)
	require.Len(t, lines, 4, logs.String())
	assert.Contains(t, lines[0], "field=limits")
	assert.Contains(t, lines[0], `entry="users[0] \"u\""`)
	assert.Contains(t, lines[1], "field=colour")
	assert.Contains(t, lines[1], `entry="queues[0] \"a\""`)
	assert.Contains(t, lines[1], "entries=3")
	assert.Contains(t, lines[2], "field=size")
	assert.Contains(t, lines[2], `entry="queues[2] \"c\""`)
	assert.Contains(t, lines[2], "entries=1")
	assert.Contains(t, lines[3], "field=flavour")
	assert.Contains(t, lines[3], `entry="top level"`)
}

func TestEmptyUnknownFieldsAreQuiet(t *testing.T) {
	logger, logs := captureLogger()
	_, err := Parse([]byte(`{"policies": [], "parameters": null,
		"users": [{"name": "u", "limits": {}}], "vhosts": [{"name": "v", "limits": [], "note": ""}]}`), logger)
	require.NoError(t, err)
	assert.Empty(t, logs.String())
}

func TestReservedNamesAreSkippedWithAWarning(t *testing.T) {
	logger, logs := captureLogger()
	d, err := Parse([]byte(`{
		"exchanges": [
			{"name": "", "type": "direct"},
			{"name": "amq.topic", "type": "topic", "durable": true},
			{"name": "kept", "type": "direct"}
		],
		"queues": [{"name": "amq.gen-123"}, {"name": "kept"}]
	}`), logger)
	require.NoError(t, err)
	assert.Equal(t, []Exchange{{Name: "kept", Vhost: "/", Type: "direct"}}, d.Exchanges)
	assert.Equal(t, []Queue{{Name: "kept", Vhost: "/"}}, d.Queues)

	lines := logLines(logs)
	require.Len(t, lines, 3, logs.String())
	assert.Contains(t, lines[0], `exchanges[0] \"\"`)
	assert.Contains(t, lines[0], "default exchange")
	assert.Contains(t, lines[1], `exchanges[1] \"amq.topic\"`)
	assert.Contains(t, lines[2], `queues[0] \"amq.gen-123\"`)
}

func TestLoadErrorsNameTheFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "missing.json"), quietLogger())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "missing.json")

	path := filepath.Join(t.TempDir(), "bad.json")
	require.NoError(t, os.WriteFile(path, []byte(`{"queues": [{"name": ""}]}`), 0o600))
	_, err = Load(path, nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), path)
	assert.Contains(t, err.Error(), `queues[0] "": name must not be empty`)
}
