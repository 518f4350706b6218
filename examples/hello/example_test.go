package main

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/warren-mq/warren/examples/internal/brokertest"
)

func TestHello(t *testing.T) {
	url := brokertest.Start(t)
	var out strings.Builder
	require.NoError(t, run(brokertest.Context(t, 20*time.Second), url, &out))
	assert.Equal(t, "sent to /queues/hello: Hello, World!\n"+
		"received from /queues/hello: Hello, World! (exchange \"\", routing key \"hello\")\n", out.String())
}

func TestHelloNoBroker(t *testing.T) {
	err := run(brokertest.Context(t, 5*time.Second), "amqp://127.0.0.1:1", &strings.Builder{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "connecting to amqp://127.0.0.1:1")
}
