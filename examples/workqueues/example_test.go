package main

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/warren-mq/warren/examples/internal/brokertest"
)

func TestWorkqueues(t *testing.T) {
	url := brokertest.Start(t)
	var out strings.Builder
	require.NoError(t, run(brokertest.Context(t, 20*time.Second), url, &out))
	text := out.String()
	t.Log("\n" + text)

	failed := regexp.MustCompile(`(?m)^worker (\d): task 3 failed \(delivery-count 0\), handed back as modified\{delivery-failed\}$`).FindAllStringSubmatch(text, -1)
	require.Len(t, failed, 1, "task 3 fails exactly once")
	redone := regexp.MustCompile(`(?m)^worker (\d): task 3 done \(delivery-count 1, redelivered\)$`).FindAllStringSubmatch(text, -1)
	require.Len(t, redone, 1, "task 3 is redelivered with delivery-count 1 and done once")
	assert.NotEqual(t, failed[0][1], redone[0][1], "another worker redelivers the failed task")

	// Task 1 went to a worker that quit without settling it: unacknowledged, it came back (not
	// counted as a failed attempt) and a remaining worker did it.
	assert.Contains(t, text, "worker 3: took task 1 and quit without acknowledging it\n")
	assert.Regexp(t, `(?m)^worker [12]: task 1 done \(delivery-count 0, redelivered\)$`, text)

	for n := 2; n <= tasks; n++ {
		if n == flaky {
			continue
		}
		assert.Regexp(t, fmt.Sprintf(`(?m)^worker [12]: task %d done \(delivery-count 0\)$`, n), text, "first delivery")
	}
	assert.Equal(t, tasks, strings.Count(text, " done (delivery-count"), "each task is done exactly once")
	assert.Contains(t, text, "sending 6 tasks to /queues/task_queue\n")
	assert.True(t, strings.HasSuffix(text, "all 6 tasks done\n"))
}

// The queue is purged at each start, so runs repeat on one broker.
func TestWorkqueuesRepeatable(t *testing.T) {
	url := brokertest.Start(t)
	for range 3 {
		var out strings.Builder
		require.NoError(t, run(brokertest.Context(t, 20*time.Second), url, &out))
		assert.Equal(t, tasks, strings.Count(out.String(), " done (delivery-count"))
	}
}
