package main

import (
	"bytes"
	"flag"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestConfigDefaults(t *testing.T) {
	c, err := parseConfig(nil, &bytes.Buffer{})
	require.NoError(t, err)
	assert.Equal(t, "amqp://localhost:5672", c.url)
	assert.Equal(t, 10*time.Second, c.duration, "neither --duration nor --count: 10 s")
	assert.Equal(t, 256, c.inflight)
	assert.Equal(t, 1000, c.credit)
	assert.Equal(t, "/queues/loadtest-%d", c.target)

	c, err = parseConfig([]string{"--count", "5"}, &bytes.Buffer{})
	require.NoError(t, err)
	assert.Zero(t, c.duration, "--count alone has no time limit")
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--url", "http://x"}, `--url "http://x"`},
		{[]string{"--producers", "0", "--consumers", "0"}, "at least one of them"},
		{[]string{"--queues", "0"}, "--queues 0"},
		{[]string{"--size", "4"}, "--size 4: at least 8"},
		{[]string{"--rate", "-1"}, "--rate -1"},
		{[]string{"--inflight", "0"}, "--inflight 0"},
		{[]string{"--credit", "0"}, "--credit 0"},
		{[]string{"--count", "-3"}, "--count -3"},
		{[]string{"--declare", "--target", "/exchanges/x"}, `--declare: address "/exchanges/x" does not name a queue`},
		{[]string{"extra"}, "unexpected arguments: extra"},
		{[]string{"--nope"}, "flag provided but not defined: -nope"},
	} {
		_, err := parseConfig(tc.args, &bytes.Buffer{})
		require.Error(t, err, "%v", tc.args)
		assert.Contains(t, err.Error(), tc.want, "%v", tc.args)
	}
	_, err := parseConfig([]string{"--help"}, &bytes.Buffer{})
	assert.ErrorIs(t, err, flag.ErrHelp)
}

func TestAddresses(t *testing.T) {
	assert.Equal(t, "/queues/loadtest-3", address("/queues/loadtest-%d", 3))
	assert.Equal(t, "/amq/queue/q-0-0", address("/amq/queue/q-%d-%d", 0))
	assert.Equal(t, "fixed", address("fixed", 7))
	for addr, want := range map[string]string{
		"/queues/a%20b":  "a b",
		"/amq/queue/q-1": "q-1",
		"/queue/q-2":     "q-2",
		"orders":         "orders",
	} {
		got, err := queueName(addr)
		require.NoError(t, err, addr)
		assert.Equal(t, want, got)
	}
	for _, bad := range []string{"", "/queues/", "/queues/a/b", "/exchanges/x", "/amq/queue/", "/queue/", "/queue/a/b", "/queues/%zz"} {
		_, err := queueName(bad)
		assert.Error(t, err, bad)
	}
}
