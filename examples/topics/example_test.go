package main

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/warren-mq/warren/examples/internal/brokertest"
)

func TestTopics(t *testing.T) {
	url := brokertest.Start(t)
	var out strings.Builder
	require.NoError(t, run(brokertest.Context(t, 20*time.Second), url, &out))
	assert.Equal(t, `Q1 is bound with *.orange.*
Q2 is bound with *.*.rabbit and lazy.#
quick.orange.rabbit      → Q1, Q2
lazy.orange.elephant     → Q1, Q2
quick.orange.fox         → Q1
lazy.brown.fox           → Q2
lazy.pink.rabbit         → Q2
quick.brown.fox          → nobody (released)
orange                   → nobody (released)
quick.orange.new.rabbit  → nobody (released)
lazy.orange.new.rabbit   → Q2
lazy                     → Q2
`, out.String())
}
