package actors

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/warren-mq/warren/actors/store"
	"github.com/warren-mq/warren/supervision"
	"github.com/warren-mq/warren/telemetry"
)

// Version is Warren's version, sent in the open frame's properties and shown by the daemon.
var Version = "0.1.0-dev"

// Broker is a running Warren broker: an actor system, its supervision tree and its listeners.
// It is a library first (the nats-server model): tests and embedding programs build one with NewBroker,
// Start it, read Addr, and Shutdown.
type Broker struct {
	opts   Options
	log    *slog.Logger
	system *actor.ActorSystem
	root   *actor.PID // the broker supervisor: parent of vhosts and connections
	vhosts map[string]*actor.PID
	auth   *authenticator
	faults *supervision.Faults // nil outside supervision tests
	tel    *telemetry.Telemetry
	met    *telemetry.Metrics

	mu        sync.Mutex
	listeners []net.Listener
	http      *http.Server
	conns     map[*connHandle]struct{}
	wg        sync.WaitGroup // every long-lived goroutine (accept loops, readers, writers)
	started   atomic.Bool
	stopping  atomic.Bool
	connCount atomic.Int64
	restarts  atomic.Int64 // supervised actor failures, every kind (the actor-restarts metric)
	memory    *memoryAlarm
	tls       *tlsState
	store     *store.Store // nil without a data directory: everything in memory
	// queueIndex: every live queue instance by (vhost, name), for the per-queue gauges read at scrape
	// time from the queues' atomic counters.
	queueIndex sync.Map
	userConns  map[string]int // connections per user, guarded by mu
	tlsAddr    net.Addr       // guarded by mu
	stop       chan struct{}  // closed by Shutdown: ends the broker's own background goroutines
	// slots counts the sockets the accept loops admitted whose handling has not ended: the
	// MaxConnections check reserves a slot before the connection's goroutine starts, so a burst of
	// accepts cannot all pass the check before any of them is counted (connCount counts only later).
	slots atomic.Int64
	disp  *warmDispatcher // runs every actor's mailbox (dispatch.go)
	// storeOps bounds the settlements' store updates not yet durable (storebacklog.go); nil without a store
	storeOps *storeBacklog
	// failed is closed when the broker stopped itself because its own supervisor failed (Failed).
	failed     chan struct{}
	failedOnce sync.Once
}

// NewBroker builds a broker from opts; nothing listens until Start.
func NewBroker(opts Options) (*Broker, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	auth, err := newAuthenticator(o)
	if err != nil {
		return nil, err
	}
	b := &Broker{opts: o, log: o.Logger, auth: auth, faults: o.Faults, tel: o.Telemetry, met: o.Telemetry.Metrics, vhosts: map[string]*actor.PID{},
		conns: map[*connHandle]struct{}{}, stop: make(chan struct{}), disp: newWarmDispatcher(300, 64), failed: make(chan struct{})}
	b.memory = newMemoryAlarm(b, o.Limits.MemoryHighWatermark)
	b.memory.tuneGC = o.TuneGC
	b.memory.tuneProcs = o.TuneProcs
	b.userConns = map[string]int{}
	b.met.SetHealth(b.health)
	b.met.SetQueueSnapshot(func(yield func(vhost, queue string, messages, consumers int64)) {
		b.queueIndex.Range(func(k, v any) bool {
			key, q := k.(queueKey), v.(*queue)
			yield(key.vhost, key.name, q.gaugeMessages.Load(), q.gaugeConsumers.Load())
			return true
		})
	})
	if b.tls, err = newTLSState(o); err != nil {
		return nil, err
	}
	if o.DataDir != "" {
		if b.store, err = store.Open(filepath.Join(o.DataDir, "store"), store.Options{Logger: o.Logger, FS: o.storeFS, BusyCommitInterval: busyCommitInterval}); err != nil {
			return nil, fmt.Errorf("data directory %s: %w", o.DataDir, err)
		}
		b.storeOps = newStoreBacklog(cmp.Or(o.storeBacklog, storeBacklogLimit))
	}
	quiet := slog.New(discardHandler{})
	b.system = actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return quiet }))
	compactRegistry(b.system)
	// DESIGN.md §1: the broker supervisor's own failure escalates to the root, which logs it and stops
	// the broker cleanly (a broker with a broken supervision root must not go on half alive).
	root := b.system.Root.Copy().WithGuardian(brokerEscalation{b: b})
	b.root, err = root.SpawnNamed(b.props(func() actor.Actor { return &brokerSupervisor{b: b} },
		actor.WithSupervisor(brokerChildStrategy(b.log, &b.restarts, b.met))), "warren")
	if err != nil {
		return nil, fmt.Errorf("spawn broker supervisor: %w", err)
	}
	if err := b.createVhosts(); err != nil {
		b.system.Root.StopFuture(b.root).Wait() //nolint:errcheck // best effort on a failed start
		b.disp.close()
		if b.store != nil {
			_ = b.store.Close()
		}
		return nil, err
	}
	return b, nil
}

// Start binds the listeners and begins accepting connections. It logs one line containing "listening".
func (b *Broker) Start() error {
	if !b.started.CompareAndSwap(false, true) {
		return errors.New("broker already started")
	}
	b.goTracked(func() { b.memory.run(b.stop) })
	if b.opts.AMQPAddr != "-" {
		ln, err := net.Listen("tcp", b.opts.AMQPAddr)
		if err != nil {
			return fmt.Errorf("AMQP listener: %w", err)
		}
		b.serve(ln)
		b.log.Info("listening", "amqp", ln.Addr().String(), "version", Version)
	}
	if b.opts.AMQPSAddr != "" {
		ln, err := net.Listen("tcp", b.opts.AMQPSAddr)
		if err != nil {
			b.closeListeners()
			return fmt.Errorf("AMQPS listener: %w", err)
		}
		b.serve(tls.NewListener(ln, b.tls.cfg))
		b.mu.Lock()
		b.tlsAddr = ln.Addr()
		b.mu.Unlock()
		b.log.Info("listening", "amqps", ln.Addr().String())
	}
	if b.tls != nil {
		b.goTracked(b.watchCertificate)
	}
	if b.opts.UnixSocket != "" {
		_ = os.Remove(b.opts.UnixSocket) // a stale socket file from an earlier run
		ln, err := net.Listen("unix", b.opts.UnixSocket)
		if err != nil {
			b.closeListeners()
			return fmt.Errorf("unix socket listener: %w", err)
		}
		b.serve(ln)
		b.log.Info("listening", "unix", b.opts.UnixSocket)
	}
	if b.opts.HTTPAddr != "" {
		if err := b.startHTTP(); err != nil {
			b.closeListeners()
			return err
		}
	}
	return nil
}

// Addr is the bound AMQP TCP address (nil before Start or when TCP is disabled).
func (b *Broker) Addr() net.Addr {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, ln := range b.listeners {
		if ln.Addr().Network() == "tcp" {
			return ln.Addr()
		}
	}
	return nil
}

// TLSAddr is the bound AMQPS address (nil when off).
func (b *Broker) TLSAddr() net.Addr {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.tlsAddr
}

// admitUser counts a connection against its user's limit.
func (b *Broker) admitUser(name string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if max := b.opts.Limits.MaxConnectionsPerUser; max > 0 && b.userConns[name] >= max {
		return false
	}
	b.userConns[name]++
	return true
}

func (b *Broker) releaseUser(name string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.userConns[name]--; b.userConns[name] <= 0 {
		delete(b.userConns, name)
	}
}

// HTTPAddr is the bound HTTP address (nil when off).
func (b *Broker) HTTPAddr() net.Addr {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, ln := range b.listeners {
		if ln.Addr().Network() == "tcp" && b.http != nil && ln.Addr().String() == b.http.Addr {
			return ln.Addr()
		}
	}
	return nil
}

// Shutdown stops accepting, closes every connection with amqp:connection:forced, stops the actor tree
// and waits for every goroutine the broker started, or until ctx ends.
func (b *Broker) Shutdown(ctx context.Context) error {
	if !b.stopping.CompareAndSwap(false, true) {
		return nil
	}
	b.closeListeners()
	close(b.stop)
	b.mu.Lock()
	conns := make([]*connHandle, 0, len(b.conns))
	for c := range b.conns {
		conns = append(conns, c)
	}
	hs := b.http
	b.mu.Unlock()
	for _, c := range conns {
		c.forceClose("broker is shutting down")
	}
	if hs != nil {
		_ = hs.Shutdown(ctx)
	}
	done := make(chan struct{})
	go func() {
		b.wg.Wait()
		b.drainQueues()
		_ = b.system.Root.StopFuture(b.root).Wait()
		b.disp.close()
		if b.store != nil {
			if err := b.store.Close(); err != nil {
				b.log.Error("closing the store", "err", err)
			}
		}
		close(done)
	}()
	select {
	case <-done:
		b.log.Info("broker stopped")
		return nil
	case <-ctx.Done():
		for _, c := range conns {
			_ = c.conn.Close()
		}
		return ctx.Err()
	}
}

// drainQueues waits until every queue has handled what its mailbox holds (the settlements and consumer
// removals of the connections just closed): stopping the actor tree overtakes user messages, and an
// accept dropped there would bring its message back after the restart. Their store updates are
// submitted by then, and the store's Close commits them (DESIGN.md §2: flush the store).
func (b *Broker) drainQueues() {
	for _, v := range b.vhosts {
		res, err := b.system.Root.RequestFuture(v, &inspect{fn: func(a any) any {
			vh := a.(*vhost)
			pids := make([]*actor.PID, 0, len(vh.queues))
			for _, q := range vh.queues {
				pids = append(pids, q.pid)
			}
			return pids
		}}, defaultAskTimeout).Result()
		pids, ok := res.([]*actor.PID)
		if err != nil || !ok {
			continue // a vhost that does not answer has no queue to drain either
		}
		futures := make([]*actor.Future, len(pids))
		for i, pid := range pids {
			futures[i] = b.system.Root.RequestFuture(pid, &inspect{fn: func(any) any { return nil }}, defaultAskTimeout)
		}
		for _, f := range futures {
			_ = f.Wait()
		}
	}
}

func (b *Broker) serve(ln net.Listener) {
	b.mu.Lock()
	b.listeners = append(b.listeners, ln)
	b.mu.Unlock()
	b.goTracked(func() {
		var backoff time.Duration
		for {
			nc, err := ln.Accept()
			if err != nil {
				if b.stopping.Load() || errors.Is(err, net.ErrClosed) {
					return
				}
				// EMFILE and friends: back off instead of spinning (as net/http does).
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				b.log.Warn("accept failed", "err", err, "retry_in", backoff)
				time.Sleep(backoff)
				continue
			}
			backoff = 0
			n := b.slots.Add(1) // reserved here, released when the connection's goroutine ends
			if max := b.opts.Limits.MaxConnections; max > 0 && n > int64(max) {
				b.slots.Add(-1)
				b.log.Warn("connection refused: limit reached", "peer", nc.RemoteAddr().String(), "max_connections", max)
				b.goTracked(func() { b.refuseConnection(nc, "connection limit reached") })
				continue
			}
			b.goTracked(func() {
				defer b.slots.Add(-1)
				b.handleConn(nc)
			})
		}
	})
}

func (b *Broker) closeListeners() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, ln := range b.listeners {
		_ = ln.Close()
	}
}

// goTracked starts a long-lived goroutine that Shutdown waits for (nats-server's startGoRoutine).
func (b *Broker) goTracked(f func()) {
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		f()
	}()
}

func (b *Broker) register(c *connHandle) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.stopping.Load() {
		return false
	}
	b.conns[c] = struct{}{}
	b.connCount.Add(1)
	return true
}

func (b *Broker) unregister(c *connHandle) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.conns[c]; ok {
		delete(b.conns, c)
		b.connCount.Add(-1)
	}
}

func (b *Broker) startHTTP() error {
	ln, err := net.Listen("tcp", b.opts.HTTPAddr)
	if err != nil {
		return fmt.Errorf("HTTP listener: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !b.started.Load() || b.stopping.Load() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte("ready\n"))
	})
	mux.Handle("GET /metrics", b.tel.Handler)
	if b.opts.Profiling {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	b.registerManagementAPI(mux)
	hs := &http.Server{Addr: ln.Addr().String(), Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	b.mu.Lock()
	b.listeners = append(b.listeners, ln)
	b.http = hs
	b.mu.Unlock()
	b.goTracked(func() {
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
			b.log.Error("HTTP server failed", "err", err)
		}
	})
	b.log.Info("listening", "http", ln.Addr().String())
	return nil
}

// brokerSupervisor is the root of Warren's actor tree (DESIGN.md §1): vhosts and connections are its
// children. It holds no state of its own; the Broker struct owns the registry.
type brokerSupervisor struct{ b *Broker }

type spawnChild struct {
	props *actor.Props
	name  string
}

func (s *brokerSupervisor) Receive(ctx actor.Context) {
	s.b.faults.Check(ctx.Self().Id, ctx.Message())
	switch m := ctx.Message().(type) {
	case *spawnChild:
		pid, err := ctx.SpawnNamed(m.props, m.name)
		if err != nil {
			ctx.Respond(err)
			return
		}
		ctx.Respond(pid)
	}
}

// busyCommitInterval is how long a durable write may wait for others to share its fsync while the
// store is busy (store.Options.BusyCommitInterval; a quiet store commits at once, so the latency of
// a trickle of durable messages is unchanged). Measured under d16-1 (`perf stat -e
// syscalls:sys_enter_fdatasync,task-clock` on the daemon, 300,000 durable 16 B messages): fsyncs
// fell from 6,449 to 3,804 and the broker's CPU per message by a tenth; end-to-end latency at full
// load is milliseconds, so 0.5 ms more is not seen.
const busyCommitInterval = 500 * time.Microsecond

// props builds the Props of a Warren actor: its producer on the broker's warm dispatcher.
func (b *Broker) props(producer actor.Producer, opts ...actor.PropsOption) *actor.Props {
	return actor.PropsFromProducer(producer, append(opts, actor.WithDispatcher(b.disp))...)
}

// inlineDispatcher runs a mailbox turn on the goroutine that posted to the idle mailbox
// (protoactor's synchronized dispatcher); a post to a busy mailbox only queues the message, so
// every hop is still a mailbox exchange and an actor's Receive never runs on two goroutines at once.
// The connection, its sessions and its producer links use it: their posters are the connection's
// own reader goroutine and actors posting a bounded amount (link credit, session windows), so a
// frame from the socket reaches its receiver link with no goroutine wake-up in between. Shared actors
// (vhost, exchanges, queues) and consumer links stay on the warm dispatcher: a poster must never end up
// draining a mailbox that many others keep feeding.
var inlineDispatcher = actor.NewSynchronizedDispatcher(300)

// inlineProps builds the Props of a connection-scoped actor (see inlineDispatcher).
func inlineProps(producer actor.Producer) *actor.Props {
	return actor.PropsFromProducer(producer, actor.WithDispatcher(inlineDispatcher))
}

// brokerEscalation is the guardian of the broker supervisor: its failure is logged as an alarm, counted,
// and the broker shuts down (connections closed with amqp:connection:forced, the store flushed).
type brokerEscalation struct{ b *Broker }

func (e brokerEscalation) HandleFailure(_ *actor.ActorSystem, sup actor.Supervisor, child *actor.PID, _ *actor.RestartStatistics, reason, msg any) {
	b := e.b
	b.restarts.Add(1)
	b.met.ActorRestarts.Add(bg, 1, b.met.KindLabels("broker").Add...)
	logActorFailure(b.log, child, reason, msg, "escalate: stop the broker")
	if sender := actor.UnwrapEnvelopeSender(msg); sender != nil {
		// The request it dropped (a connection's spawn) is answered, so nobody waits for a timeout.
		b.system.Root.Send(sender, errors.New("the broker supervisor failed"))
	}
	b.log.Error("ALARM: the broker supervisor failed; the broker stops")
	b.failedOnce.Do(func() {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := b.Shutdown(ctx); err != nil {
				b.log.Error("shutdown after the supervisor failed", "err", err)
			}
			close(b.failed)
		}()
	})
	sup.StopChildren(child)
}

// Failed is closed when the broker stopped itself because its supervision root failed (a bug in
// Warren, never a peer's doing); the daemon exits non-zero then.
func (b *Broker) Failed() <-chan struct{} { return b.failed }

// spawnUnderRoot spawns a top-level child (vhost or connection) of the broker supervisor.
func (b *Broker) spawnUnderRoot(props *actor.Props, name string) (*actor.PID, error) {
	res, err := b.system.Root.RequestFuture(b.root, &spawnChild{props: props, name: name}, 10*time.Second).Result()
	if err != nil {
		return nil, err
	}
	switch r := res.(type) {
	case *actor.PID:
		return r, nil
	case error:
		return nil, r
	}
	return nil, fmt.Errorf("unexpected spawn reply %T", res)
}

// discardHandler is an slog.Handler that drops everything: protoactor's own chatter stays out of Warren's
// logs; Warren logs failures itself with the actor path.
type discardHandler struct{}

func (discardHandler) Enabled(context.Context, slog.Level) bool  { return false }
func (discardHandler) Handle(context.Context, slog.Record) error { return nil }
func (d discardHandler) WithAttrs([]slog.Attr) slog.Handler      { return d }
func (d discardHandler) WithGroup(string) slog.Handler           { return d }
