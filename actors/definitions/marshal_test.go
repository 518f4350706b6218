package definitions

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMarshalRoundTripsTheExport(t *testing.T) {
	d, err := Load(filepath.Join("testdata", "rabbitmq-3.13.json"), quietLogger())
	require.NoError(t, err)

	out, err := d.Marshal()
	require.NoError(t, err)

	logger, logs := captureLogger()
	again, err := Parse(out, logger)
	require.NoError(t, err)
	assert.Equal(t, d, again)
	assert.Empty(t, logs.String(), "Marshal writes no field Parse would ignore")
}

func TestMarshalShape(t *testing.T) {
	d := &Definitions{
		RabbitVersion: "3.13.7",
		Users:         []User{{Name: "dev", Password: "dev"}},
		Queues:        []Queue{{Name: "q", Durable: true}},
		Exchanges:     []Exchange{{Name: "x", Type: "direct", Arguments: map[string]any{"alternate-exchange": "ae"}}},
		Bindings:      []Binding{{Source: "x", Destination: "q", DestinationType: DestinationQueue, RoutingKey: "a<b"}},
	}
	out, err := d.Marshal()
	require.NoError(t, err)

	var got map[string]any
	require.NoError(t, json.Unmarshal(out, &got))
	assert.Equal(t, "3.13.7", got["rabbit_version"])
	assert.Equal(t, "3.13.7", got["rabbitmq_version"])
	assert.Equal(t, []any{}, got["vhosts"], "empty sections are lists, not null")
	assert.Equal(t, []any{}, got["permissions"])
	assert.Equal(t, []any{map[string]any{"name": "dev", "password": "dev", "tags": []any{}}}, got["users"])
	assert.Equal(t, []any{map[string]any{"name": "q", "vhost": "/", "durable": true, "auto_delete": false,
		"arguments": map[string]any{}}}, got["queues"], "vhost defaults to / and arguments to {}")
	assert.Contains(t, string(out), `"routing_key": "a<b"`, "no HTML escaping")

	again, err := Parse(out, quietLogger())
	require.NoError(t, err)
	assert.Equal(t, "/", again.Queues[0].Vhost)
	assert.Equal(t, d.Users, again.Users)
	assert.Equal(t, d.Exchanges[0].Arguments, again.Exchanges[0].Arguments)
}

func TestMarshalRejectsUnencodableArguments(t *testing.T) {
	d := &Definitions{Queues: []Queue{{Name: "q", Arguments: map[string]any{"bad": make(chan int)}}}}
	_, err := d.Marshal()
	require.Error(t, err)
}

// FuzzParse: Parse never panics, and whatever it accepts survives Marshal → Parse unchanged.
func FuzzParse(f *testing.F) {
	seed, err := os.ReadFile(filepath.Join("testdata", "rabbitmq-3.13.json"))
	require.NoError(f, err)
	f.Add(seed)
	f.Add([]byte(`{"queues": [{"name": "q", "arguments": {"x-message-ttl": 1e3, "l": [1, {"a": -0.0}]}}]}`))
	f.Add([]byte(`{"users": [{"name": "u", "tags": "a,,b "}], "exchanges": [{"name": "", "type": "direct"}]}`))
	f.Add([]byte(`{"bindings": [{"source": "x", "destination": "y", "destination_type": "exchange", "arguments": {"x-match": "all"}}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := Parse(data, quietLogger())
		if err != nil {
			return
		}
		out, err := d.Marshal()
		require.NoError(t, err)
		again, err := Parse(out, quietLogger())
		require.NoError(t, err, string(out))
		require.Equal(t, d, again)
	})
}
