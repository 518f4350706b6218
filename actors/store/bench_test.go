package store

import (
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/stretchr/testify/require"
)

// Benchmarks: go test -run '^$' -bench . -benchtime 2000x ./actors/store/ (results in bench_results.md).

// BenchmarkSubmit measures durable 1 KiB puts: each submitter waits for its done before the next
// put (as a producer waiting for its settlement would), so concurrent submitters share fsyncs.
// "inflight=256" is one submitter keeping 256 puts outstanding.
func BenchmarkSubmit(b *testing.B) {
	for _, n := range []int{1, 4, 16} {
		b.Run(fmt.Sprintf("submitters=%d", n), func(b *testing.B) { benchPebbleSubmit(b, n, 1) })
	}
	b.Run("inflight=256", func(b *testing.B) { benchPebbleSubmit(b, 1, 256) })
}

func benchPebbleSubmit(b *testing.B, submitters, window int) {
	var syncs walSyncCounter
	s := openTest(b, b.TempDir(), Options{FS: syncs.wrap(vfs.Default)})
	defer s.Close()
	benchSubmit(b, s, func() (uint64, uint64) { return uint64(syncs.n.Load()), s.Metrics().Commits }, submitters, window, false)
}

// benchQueue is the queue submitter g puts to.
func benchQueue(g int, oneQueue bool) string {
	if oneQueue {
		return "q"
	}
	return fmt.Sprintf("q%d", g)
}

// benchSubmit runs b.N 1 KiB puts from submitters goroutines, each keeping window puts outstanding,
// each on its own queue or all on one (oneQueue: seqs are then handed out in submission order, so
// every put is a fresh seq). counts reports the engine's fsyncs and group commits so far.
func benchSubmit(b *testing.B, e submitEngine, counts func() (fsyncs, commits uint64), submitters, window int, oneQueue bool) {
	data := benchData(1024)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	syncs0, commits0 := counts()
	b.ResetTimer()
	start := time.Now()
	var seqMu sync.Mutex
	var seq uint64
	var wg sync.WaitGroup
	for g := range submitters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			q := benchQueue(g, oneQueue)
			sem := make(chan struct{}, window)
			var inner sync.WaitGroup
			for i := g; i < b.N; i += submitters {
				sem <- struct{}{}
				inner.Add(1)
				done := func(err error) {
					if err != nil {
						b.Error(err)
					}
					<-sem
					inner.Done()
				}
				if oneQueue {
					seqMu.Lock()
					seq++
					e.Submit([]Op{{Kind: OpPut, Queue: q, Seq: seq, Data: data}}, done)
					seqMu.Unlock()
				} else {
					e.Submit([]Op{{Kind: OpPut, Queue: q, Seq: uint64(i + 1), Data: data}}, done)
				}
			}
			inner.Wait()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	syncs1, commits1 := counts()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "ops/s")
	b.ReportMetric(float64(syncs1-syncs0), "fsyncs")
	b.ReportMetric(float64(b.N)/float64(max(commits1-commits0, 1)), "ops/commit")
}

// benchData is a message body of n random printable bytes (fixed seed): neither all zeros, which
// compresses to nothing, nor incompressible.
func benchData(n int) []byte {
	rng := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(' ' + rng.IntN(64))
	}
	return b
}

// BenchmarkAck measures durable deletes (a consumer's accepted outcome) of stored 1 KiB messages,
// 256 outstanding: each delete reads the stored message's size for the statistics.
func BenchmarkAck(b *testing.B) {
	s := openTest(b, b.TempDir(), Options{})
	defer s.Close()
	data := benchData(1024)
	const chunk = 1000
	for i := 0; i < b.N; i += chunk {
		ops := make([]Op, 0, chunk)
		for j := i; j < min(i+chunk, b.N); j++ {
			ops = append(ops, Op{Kind: OpPut, Queue: "q", Seq: uint64(j + 1), Data: data})
		}
		require.NoError(b, submitWait(b, s, ops...))
	}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	sem := make(chan struct{}, 256)
	var wg sync.WaitGroup
	for i := range b.N {
		sem <- struct{}{}
		wg.Add(1)
		s.Submit([]Op{{Kind: OpDelete, Queue: "q", Seq: uint64(i + 1)}}, func(err error) {
			if err != nil {
				b.Error(err)
			}
			<-sem
			wg.Done()
		})
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "ops/s")
	b.StopTimer()
	if n, _, _ := s.Stats("q"); n != 0 {
		b.Fatalf("%d messages left", n)
	}
}

// bigStore is a store holding bigCount 1 KiB messages in bigQueues queues, built once per test
// binary run for BenchmarkScan and BenchmarkOpen (and removed by TestMain).
const (
	bigCount  = 1_000_000
	bigQueues = 10
	bigSize   = 1024
)

var (
	bigOnce sync.Once
	bigDir  string
	bigErr  error
)

func bigStore(b *testing.B) string {
	b.Helper()
	bigOnce.Do(func() {
		if bigDir, bigErr = os.MkdirTemp("", "warren-store-bench-"); bigErr != nil {
			return
		}
		start := time.Now()
		var s *Store
		if s, bigErr = Open(bigDir, Options{Logger: quietLogger()}); bigErr != nil {
			return
		}
		data := benchData(bigSize)
		const chunk = 2000
		var wg sync.WaitGroup
		for i := 0; i < bigCount; i += chunk {
			ops := make([]Op, 0, chunk)
			for j := i; j < min(i+chunk, bigCount); j++ {
				ops = append(ops, Op{Kind: OpPut, Queue: fmt.Sprintf("q%d", j%bigQueues), Seq: uint64(j + 1), Data: data})
			}
			wg.Add(1)
			s.Submit(ops, func(err error) {
				if err != nil && bigErr == nil {
					bigErr = err
				}
				wg.Done()
			})
			if i%(100*chunk) == 0 {
				wg.Wait() // bound memory
			}
		}
		wg.Wait()
		if err := s.Close(); bigErr == nil {
			bigErr = err
		}
		// Let one open/close flush the recovered WAL, as a restarted broker's store would be.
		if s, err := Open(bigDir, Options{Logger: quietLogger()}); err == nil {
			_ = s.Close()
		}
		b.Logf("built %d messages in %v", bigCount, time.Since(start))
	})
	require.NoError(b, bigErr)
	return bigDir
}

// removeBigStore deletes bigStore's directory, if a benchmark built it.
func removeBigStore() {
	if bigDir != "" {
		_ = os.RemoveAll(bigDir)
	}
}

// BenchmarkScan reads back all bigCount messages, queue by queue, as a recovering broker would.
// BenchmarkPutAck is a durable queue's life cycle: 1 KiB puts with 256 outstanding, and each message
// deleted (its consumer's accepted outcome) once its put is durable, as a broker with a consumer
// keeping up does it.
func BenchmarkPutAck(b *testing.B) {
	s := openTest(b, b.TempDir(), Options{})
	defer s.Close()
	data := benchData(1024)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	start, cpu0 := time.Now(), processCPU()
	sem := make(chan struct{}, 256)
	var wg sync.WaitGroup
	for i := range b.N {
		sem <- struct{}{}
		wg.Add(1)
		seq := uint64(i + 1)
		s.Submit([]Op{{Kind: OpPut, Queue: "q", Seq: seq, Data: data}}, func(err error) {
			if err != nil {
				b.Error(err)
			}
			<-sem
			s.Submit([]Op{{Kind: OpDelete, Queue: "q", Seq: seq}}, func(err error) {
				if err != nil {
					b.Error(err)
				}
				wg.Done()
			})
		})
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
	b.ReportMetric(float64((processCPU()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/msg")
	b.StopTimer()
	if n, _, _ := s.Stats("q"); n != 0 {
		b.Fatalf("%d messages left", n)
	}
}

// processCPU is the CPU time (user and system) the test process has used so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func BenchmarkScan(b *testing.B) {
	dir := bigStore(b)
	s := openTest(b, dir, Options{})
	defer s.Close()
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		n := 0
		for q := range bigQueues {
			require.NoError(b, s.Scan(fmt.Sprintf("q%d", q), 0, 0, func(uint64, []byte, uint32) bool { n++; return true }))
		}
		if n != bigCount {
			b.Fatalf("scanned %d messages, want %d", n, bigCount)
		}
	}
	perRecord := time.Since(start) / time.Duration(b.N*bigCount)
	b.ReportMetric(float64(perRecord.Nanoseconds()), "ns/record")
	b.ReportMetric(1e9/float64(perRecord.Nanoseconds()), "records/s")
}

// BenchmarkOpen opens a store of bigCount messages: WAL replay plus the statistics scan.
func BenchmarkOpen(b *testing.B) {
	dir := bigStore(b)
	b.ResetTimer()
	for range b.N {
		s := openTest(b, dir, Options{})
		b.StopTimer()
		n, _, _ := s.Stats("q0")
		require.Equal(b, bigCount/bigQueues, n)
		require.NoError(b, s.Close())
		b.StartTimer()
	}
}
