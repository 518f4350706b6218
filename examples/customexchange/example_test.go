package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/warren-mq/warren/actors"
	"github.com/warren-mq/warren/actors/definitions"
)

func TestCustomExchangeAndInterceptor(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out bytes.Buffer
	require.NoError(t, run(ctx, "127.0.0.1:0", slog.New(slog.NewTextHandler(io.Discard, nil)), &out))
	text := out.String()
	assert.Contains(t, text, "received \"stand up and stretch\"")
	after := regexp.MustCompile(`after at least (\d+) ms`).FindStringSubmatch(text)
	require.NotNil(t, after, text)
	ms, _ := strconv.Atoi(after[1])
	assert.GreaterOrEqual(t, ms, 300, "routed only once its delay had passed")
	assert.Contains(t, text, `orders-in got "order #1"`)
	assert.Contains(t, text, `audit got "order #1"`)
}

// The custom type is declarable from a definitions file by its name; a bad argument stops the start.
func TestCustomExchangeFromDefinitions(t *testing.T) {
	defs := func(typ string, args map[string]any) *definitions.Definitions {
		return &definitions.Definitions{Vhosts: []definitions.Vhost{{Name: "/"}},
			Exchanges: []definitions.Exchange{{Name: "later", Vhost: "/", Type: typ, Durable: true, Arguments: args}}}
	}
	opts := actors.Options{AMQPAddr: "127.0.0.1:0", Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		ExchangeTypes: []actors.ExchangeType{DelayedMessage}}
	opts.Definitions = defs("x-delayed-message", map[string]any{"x-delayed-type": "topic"})
	b, err := actors.NewBroker(opts)
	require.NoError(t, err)
	require.NoError(t, b.Shutdown(context.Background()))
	opts.Definitions = defs("x-delayed-message", map[string]any{"x-delayed-type": "nonsense"})
	_, err = actors.NewBroker(opts)
	require.ErrorContains(t, err, "x-delayed-type")
	opts.Definitions = defs("x-unknown", nil)
	_, err = actors.NewBroker(opts)
	require.ErrorContains(t, err, "not supported")
}
