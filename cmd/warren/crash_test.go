package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/Azure/go-amqp"
	"github.com/stretchr/testify/require"
)

// The long variant: go test ./cmd/warren/ -run Crash -crash-cycles 50
var crashCycles = flag.Int("crash-cycles", 3, "kill -9 cycles of TestCrashRecoveryLosesNoAcceptedMessage")

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

// A crash test as the issue asks: durable messages are published unsettled by several producers while
// every id the broker accepted is recorded; the daemon is killed with SIGKILL at a random moment,
// restarted on the same data directory and drained. Every accepted id must come back (duplicates of
// unconfirmed publishes are allowed and counted).
func TestCrashRecoveryLosesNoAcceptedMessage(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "warren")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Stderr = os.Stderr
	require.NoError(t, build.Run(), "building the daemon")
	dir := t.TempDir()
	totalAccepted, totalDup := 0, 0
	for cycle := range *crashCycles {
		d := startCrashDaemon(t, bin, dir)
		var mu sync.Mutex
		accepted := map[string]bool{}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		var wg sync.WaitGroup
		for p := range 4 {
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
					id := fmt.Sprintf("c%d-p%d-%d", cycle, p, n)
					msg := &amqp.Message{Data: [][]byte{[]byte(id)}, Header: &amqp.MessageHeader{Durable: true}}
					if err := snd.Send(ctx, msg, nil); err != nil {
						return // the broker died under us
					}
					mu.Lock()
					accepted[id] = true
					mu.Unlock()
				}
			}()
		}
		time.Sleep(time.Duration(150+rand.IntN(350)) * time.Millisecond)
		require.NoError(t, d.cmd.Process.Signal(syscall.SIGKILL))
		_ = d.cmd.Wait()
		wg.Wait()
		cancel()

		d = startCrashDaemon(t, bin, dir)
		got := drainIDs(t, d.addr, accepted)
		for id := range accepted {
			require.True(t, got[id] > 0, "cycle %d: accepted message %s was lost", cycle, id)
			totalDup += got[id] - 1
		}
		totalAccepted += len(accepted)
		require.NoError(t, d.cmd.Process.Signal(syscall.SIGTERM))
		require.NoError(t, d.cmd.Wait(), "the daemon exits 0 on SIGTERM")
	}
	t.Logf("%d cycles: %d accepted messages, all recovered; %d duplicates", *crashCycles, totalAccepted, totalDup)
}

// drainIDs consumes the crash queue until every wanted id was seen (bounded), counting each id.
func drainIDs(t *testing.T, addr string, want map[string]bool) map[string]int {
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
	got := map[string]int{}
	missing := len(want)
	for missing > 0 {
		m, err := r.Receive(ctx, nil)
		require.NoError(t, err, "%d accepted messages still missing", missing)
		require.NoError(t, r.AcceptMessage(ctx, m))
		id := string(m.GetData())
		if got[id] == 0 && want[id] {
			missing--
		}
		got[id]++
	}
	return got
}
