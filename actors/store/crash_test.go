package store

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// crashChildEnv, when set to a directory, turns the test binary into the crash test's child: it
// opens a store there and publishes until it is killed (see TestMain).
const crashChildEnv = "WARREN_STORE_CRASH_CHILD"

const (
	crashQueues   = 4  // child goroutines, one queue each
	crashInFlight = 16 // unacknowledged puts per goroutine
)

func crashQueue(g int) string { return fmt.Sprintf("crash%d", g) }

func crashData(queue string, seq uint64) []byte { return seqData(queue, seq, 64+int(seq*37%3000)) }

// crashChild is the child process: several goroutines put messages with increasing seqs (continuing
// after whatever earlier children stored) and the child prints "ack QUEUE SEQ" on stdout as soon as
// a put's done(nil) fires. It runs until the parent kills it (SIGKILL), or gives up after 30 s.
func crashChild(dir string) int {
	s, err := Open(dir, Options{Logger: quietLogger()})
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		return 1
	}
	for g := range crashQueues {
		q := crashQueue(g)
		_, _, next := s.Stats(q)
		sem := make(chan struct{}, crashInFlight)
		go func() {
			for {
				next++
				seq := next
				sem <- struct{}{}
				s.Submit([]Op{{Kind: OpPut, Queue: q, Seq: seq, Data: crashData(q, seq)}}, func(err error) {
					if err == nil {
						// One write per line: atomic on a pipe, so the parent never sees half a line.
						_, _ = os.Stdout.WriteString(fmt.Sprintf("ack %s %d\n", q, seq))
					}
					<-sem
				})
			}
		}()
	}
	_, _ = os.Stdout.WriteString("ready\n")
	time.Sleep(30 * time.Second)
	return 2
}

// runPatternMentions reports whether the -test.run pattern contains word (e.g. "-run Long").
func runPatternMentions(word string) bool {
	f := flag.Lookup("test.run")
	return f != nil && strings.Contains(f.Value.String(), word)
}

// TestCrashLong kills a publishing child process with SIGKILL at a random moment, reopens the store
// and checks that every acknowledged put survived, with its data, and that the rebuilt statistics
// match what is stored. 3 cycles by default (~1–5 s); `go test -run Long ./actors/store/` runs 25
// (~2 min: the store grows with every cycle).
func TestCrashLong(t *testing.T) {
	cycles := 3
	if runPatternMentions("Long") {
		cycles = 25
	}
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	acked := map[string][]uint64{}
	for cycle := range cycles {
		n := crashCycle(t, dir, 100*time.Millisecond+time.Duration(rng.Int64N(int64(300*time.Millisecond))), acked)
		require.Positive(t, n, "cycle %d: the child acknowledged nothing before it was killed", cycle)
		verifyAcked(t, dir, acked)
	}
}

// crashCycle runs one child, kills it killAfter after it is ready, and adds what it acknowledged to
// acked. It returns how many puts the child acknowledged.
func crashCycle(t *testing.T, dir string, killAfter time.Duration, acked map[string][]uint64) int {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+dir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())

	lines := make(chan string, 1024)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	select {
	case l, ok := <-lines:
		if !ok || l != "ready" {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			t.Fatalf("child did not start: %q %s", l, stderr.String())
		}
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatalf("child did not start: %s", stderr.String())
	}
	kill := time.AfterFunc(killAfter, func() { _ = cmd.Process.Kill() })
	defer kill.Stop()
	n := 0
	for l := range lines {
		var q string
		var seq uint64
		_, err := fmt.Sscanf(l, "ack %s %d", &q, &seq)
		require.NoError(t, err, "child line %q", l)
		acked[q] = append(acked[q], seq)
		n++
	}
	err = cmd.Wait()
	require.Error(t, err, "the child must die by SIGKILL; stderr: %s", stderr.String())
	assert.Contains(t, err.Error(), "killed")
	t.Logf("killed after %v: %d puts acknowledged", killAfter, n)
	return n
}

// verifyAcked reopens dir and checks every acknowledged put and the rebuilt statistics.
func verifyAcked(t *testing.T, dir string, acked map[string][]uint64) {
	s := openTest(t, dir, Options{})
	defer func() { require.NoError(t, s.Close()) }()
	for g := range crashQueues {
		q := crashQueue(g)
		stored := map[uint64]bool{}
		var bytes int64
		var last uint64
		require.NoError(t, s.Scan(q, 0, 0, func(seq uint64, data []byte, dc uint32) bool {
			stored[seq] = true
			bytes += int64(len(data))
			last = seq
			assert.Equal(t, crashData(q, seq), data, "%s/%d", q, seq)
			assert.Zero(t, dc)
			return true
		}))
		missing := 0
		for _, seq := range acked[q] {
			if !stored[seq] {
				missing++
			}
		}
		require.Zero(t, missing, "%s: %d acknowledged puts lost (of %d)", q, missing, len(acked[q]))
		n, b, maxSeq := s.Stats(q)
		assert.Equal(t, len(stored), n, q)
		assert.Equal(t, bytes, b, q)
		assert.Equal(t, last, maxSeq, q)
	}
}
