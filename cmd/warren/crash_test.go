package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/Azure/go-amqp"
	"github.com/stretchr/testify/require"
)

// The crash tests (issue 4, "Prove it"):
//
//	go test ./cmd/warren/ -run Crash     the short variant, 3 kill -9 cycles (CI runs it)
//	go test ./cmd/warren/ -run Long      the long variant, 50 cycles (~2 min on a 2-core VM)
//
// -crash-cycles N overrides the number of cycles of whichever variant runs.
var crashCycles = flag.Int("crash-cycles", 0, "kill -9 cycles of the crash tests (0: 3 short, 50 long)")

const (
	shortCrashCycles = 3
	longCrashCycles  = 50
	crashProducers   = 4
)

var listening = regexp.MustCompile(`msg=listening amqp=(\S+)`)

// crashDaemon is a warren process on a data directory.
type crashDaemon struct {
	cmd  *exec.Cmd
	addr string
}

func startCrashDaemon(t *testing.T, bin, dir string) *crashDaemon {
	t.Helper()
	cmd := exec.Command(bin, "--amqp-addr", "127.0.0.1:0", "--http-addr", "off", "--data-dir", dir)
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := listening.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case addr <- m[1]:
				default:
				}
			}
		}
	}()
	select {
	case a := <-addr:
		return &crashDaemon{cmd: cmd, addr: a}
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("the daemon did not log its listening line")
		return nil
	}
}

// TestCrashRecoveryLosesNoAcceptedMessage is the short crash variant (CI).
func TestCrashRecoveryLosesNoAcceptedMessage(t *testing.T) {
	runCrashCycles(t, shortCrashCycles)
}

// TestCrashRecoveryLong is the long crash variant: 50 kill -9 cycles. It runs when -run names it
// (`-run Long`); a plain `go test ./...` (CI) skips it, as does -short.
func TestCrashRecoveryLong(t *testing.T) {
	if testing.Short() {
		t.Skip("the long crash variant does not run under -short")
	}
	if f := flag.Lookup("test.run"); f == nil || !strings.Contains(f.Value.String(), "Long") {
		t.Skip("the long crash variant runs with -run Long (the short variant runs in CI)")
	}
	runCrashCycles(t, longCrashCycles)
}

// crashTally counts what the cycles saw.
type crashTally struct {
	accepted    int // ids the broker settled accepted
	duplicates  int // deliveries of an id beyond its first
	unconfirmed int // ids published but not yet confirmed at the kill, delivered after the restart
}

// runCrashCycles is the crash test the issue asks for: durable messages are published unsettled by
// several producers while every id the broker accepted is recorded; the daemon is killed with SIGKILL
// at a random moment, restarted on the same data directory and drained to empty. Every accepted id
// must come back, each producer's ids in the order they were published; duplicates and ids that were
// stored but not yet confirmed when the broker died are allowed, counted and reported.
func runCrashCycles(t *testing.T, cycles int) {
	if *crashCycles > 0 {
		cycles = *crashCycles
	}
	bin := filepath.Join(t.TempDir(), "warren")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Stderr = os.Stderr
	require.NoError(t, build.Run(), "building the daemon")
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 4))
	var tally crashTally
	start := time.Now()
	for cycle := range cycles {
		d := startCrashDaemon(t, bin, dir)
		accepted, sent := publishUntilKilled(t, d, cycle, time.Duration(50+rng.IntN(750))*time.Millisecond)
		d = startCrashDaemon(t, bin, dir)
		got, order := drainIDs(t, d.addr, accepted)
		for id := range accepted {
			require.Positive(t, got[id], "cycle %d: accepted message %s was lost", cycle, id)
		}
		for id, n := range got {
			require.True(t, sent[id], "cycle %d: %s came back although an earlier cycle accepted it and stopped the daemon cleanly", cycle, id)
			tally.duplicates += n - 1
			if !accepted[id] {
				tally.unconfirmed++
			}
		}
		requirePublishOrder(t, cycle, order)
		tally.accepted += len(accepted)
		require.NoError(t, d.cmd.Process.Signal(syscall.SIGTERM))
		require.NoError(t, d.cmd.Wait(), "the daemon exits 0 on SIGTERM")
	}
	t.Logf("%d kill -9 cycles in %v: %d accepted messages, all recovered; %d duplicate deliveries; "+
		"%d unconfirmed messages also recovered", cycles, time.Since(start).Round(time.Second),
		tally.accepted, tally.duplicates, tally.unconfirmed)
}

// publishUntilKilled publishes durable messages from crashProducers producers until it kills the
// daemon, killAfter after it started. It returns the ids the broker accepted and every id sent.
func publishUntilKilled(t *testing.T, d *crashDaemon, cycle int, killAfter time.Duration) (accepted, sent map[string]bool) {
	t.Helper()
	var mu sync.Mutex
	accepted, sent = map[string]bool{}, map[string]bool{}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for p := range crashProducers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := amqp.Dial(ctx, "amqp://"+d.addr, nil)
			if err != nil {
				return
			}
			defer c.Close()
			s, err := c.NewSession(ctx, nil)
			if err != nil {
				return
			}
			snd, err := s.NewSender(ctx, "crash", nil)
			if err != nil {
				return
			}
			for n := 0; ; n++ {
				id := fmt.Sprintf("c%d-p%d-%06d", cycle, p, n)
				msg := &amqp.Message{Data: [][]byte{[]byte(id)}, Header: &amqp.MessageHeader{Durable: true}}
				mu.Lock()
				sent[id] = true
				mu.Unlock()
				if err := snd.Send(ctx, msg, nil); err != nil {
					return // the broker died under us
				}
				mu.Lock()
				accepted[id] = true
				mu.Unlock()
			}
		}()
	}
	time.Sleep(killAfter)
	require.NoError(t, d.cmd.Process.Signal(syscall.SIGKILL))
	err := d.cmd.Wait()
	var exit *exec.ExitError
	require.True(t, errors.As(err, &exit), "the daemon died by SIGKILL: %v", err)
	wg.Wait()
	require.NotEmpty(t, accepted, "cycle %d: nothing was accepted before the kill at %v", cycle, killAfter)
	return accepted, sent
}

// drainIDs consumes the crash queue until every wanted id was seen and then until it is empty,
// counting each id; order lists the ids in delivery order (first deliveries only).
func drainIDs(t *testing.T, addr string, want map[string]bool) (got map[string]int, order []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := amqp.Dial(ctx, "amqp://"+addr, nil)
	require.NoError(t, err)
	defer c.Close()
	s, err := c.NewSession(ctx, nil)
	require.NoError(t, err)
	r, err := s.NewReceiver(ctx, "/queues/crash", &amqp.ReceiverOptions{Credit: 500})
	require.NoError(t, err)
	got = map[string]int{}
	missing := len(want)
	for {
		rctx, stop := ctx, context.CancelFunc(func() {})
		if missing == 0 { // everything accepted is back: what follows must come promptly
			rctx, stop = context.WithTimeout(ctx, 300*time.Millisecond)
		}
		m, err := r.Receive(rctx, nil)
		stop()
		if missing == 0 && errors.Is(err, context.DeadlineExceeded) {
			return got, order
		}
		require.NoError(t, err, "%d accepted messages still missing", missing)
		require.NoError(t, r.AcceptMessage(ctx, m))
		id := string(m.GetData())
		if got[id] == 0 {
			order = append(order, id)
			if want[id] {
				missing--
			}
		}
		got[id]++
	}
}

// requirePublishOrder checks that each producer's ids came back in the order it published them (a
// producer sends one message at a time, so its ids reach the queue in that order).
func requirePublishOrder(t *testing.T, cycle int, order []string) {
	t.Helper()
	last := map[string]string{}
	for _, id := range order {
		producer := id[:strings.LastIndexByte(id, '-')]
		require.Less(t, last[producer], id, "cycle %d: %s delivered after %s", cycle, id, last[producer])
		last[producer] = id
	}
}
