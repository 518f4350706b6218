package actors

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/warren-mq/warren/actors/definitions"
	"github.com/warren-mq/warren/supervision"
	"github.com/warren-mq/warren/telemetry"
)

// Options configure a Broker. The zero value of every field means "the default" (see DefaultOptions);
// NewBroker fills them in, so an embedding program sets only what it cares about.
type Options struct {
	// AMQPAddr is the plain AMQP listener, host:port. Port 0 picks a free port (read it back with Addr).
	// Empty means ":5672"; "-" disables the TCP listener (an embedding program may serve only a Unix socket).
	AMQPAddr string
	// AMQPSAddr is the AMQP-over-TLS listener; TLSCert and TLSKey (PEM files) are required for it, TLSCA
	// verifies client certificates (SASL EXTERNAL). TLSUpgrade also offers the in-band upgrade
	// (protocol header "AMQP 2 1 0 0", spec 5.2) on the plain listener. TLS 1.2 or later.
	AMQPSAddr  string
	TLSCert    string
	TLSKey     string
	TLSCA      string
	TLSUpgrade bool
	// UnixSocket is a path for AMQP over a Unix domain socket; empty = off.
	UnixSocket string
	// HTTPAddr serves /healthz and /readyz (and later metrics and management); empty = off.
	HTTPAddr string
	// Profiling also serves Go's profiler (net/http/pprof) at /debug/pprof/ on HTTPAddr.
	Profiling bool
	// DataDir holds durable state: durable messages of durable queues and the durable topology (in
	// DataDir/store). Empty = everything in memory (the default for embedding and tests).
	DataDir string
	// Definitions is topology and users applied at start (RabbitMQ's definitions.json), nil = none.
	Definitions *definitions.Definitions
	// Logger receives the broker's logs; nil = slog.Default().
	Logger *slog.Logger

	Limits Limits
	Auth   Auth

	// Telemetry carries the tracer and the metrics (telemetry.Setup reads the OTEL_* environment);
	// nil = telemetry.Nop(): tracing off, metrics recorded and served at /metrics.
	Telemetry *telemetry.Telemetry

	// ExchangeTypes are custom exchange types and Interceptors actors put in front of exchanges
	// (extension.go: the extension API).
	ExchangeTypes []ExchangeType
	Interceptors  []Interceptor
	// QueueInterceptors are actors put into the delivery path of queues (extension_queue.go).
	QueueInterceptors []QueueInterceptor

	// TuneGC lets the broker raise the garbage collector's GOGC while it is busy and set the memory
	// limit to the memory high-water mark (gctune.go). Both are process-wide, so it is for a process
	// that is the broker (the daemon sets it), not for one that embeds it among other work. GOGC and
	// GOMEMLIMIT in the environment still win. Everything is put back at Shutdown.
	TuneGC bool
	// TuneProcs runs the broker on as few Ps (GOMAXPROCS) as it keeps busy, one while that is enough,
	// up to the GOMAXPROCS the process started with (proctune.go). Process-wide like TuneGC, and for
	// the same kind of process; a GOMAXPROCS in the environment still wins. Put back at Shutdown.
	TuneProcs bool

	// storeFS replaces the store's filesystem: disk-error tests only.
	storeFS vfs.FS
	// storeBacklog replaces storeBacklogLimit when > 0: tests only.
	storeBacklog int64

	// Faults makes chosen actors panic on chosen messages: for supervision tests only. The daemon never
	// sets it; nil costs one nil check per actor message.
	Faults *supervision.Faults
}

// Limits bound what one peer may use. Zero fields take the defaults of DefaultLimits.
type Limits struct {
	MaxFrameSize     uint32        // our open.max-frame-size (default 1 MiB; at least 512)
	ChannelMax       uint16        // our open.channel-max (default 2047: sessions per connection)
	HandleMax        uint32        // our begin.handle-max (default 1023: links per session)
	MaxMessageSize   uint64        // our attach.max-message-size (default 128 MiB)
	IdleTimeout      time.Duration // our open.idle-time-out (default 60 s; negative = none)
	HandshakeTimeout time.Duration // protocol header + SASL + open must finish in this (default 10 s)
	MaxConnections   int           // total (default 0 = unlimited)
	// MaxConnectionsPerUser and MaxQueuesPerVhost: 0 = unlimited.
	MaxConnectionsPerUser int
	MaxQueuesPerVhost     int
	SessionWindow         uint32 // incoming-window we grant each session, in transfers (default 5000)
	LinkCredit            uint32 // credit we grant each producer link (default 1000)
	// QueueMemoryMessages bounds the ready messages a durable queue keeps in memory; further durable
	// messages wait on disk and are read back as consumers drain the queue (default 20,000).
	QueueMemoryMessages int
	// MemoryHighWatermark: past this many bytes of live heap, producers get no more credit until it
	// falls (default 40 % of the machine's memory).
	MemoryHighWatermark uint64
}

// Auth chooses who may log in. The defaults follow RabbitMQ (DESIGN.md §6).
type Auth struct {
	// DisableAnonymous refuses SASL ANONYMOUS and clients that skip SASL (default: allowed, as guest).
	DisableAnonymous bool
	// GuestAnywhere lets guest (and anonymous clients) connect from non-loopback addresses (default: loopback only).
	GuestAnywhere bool
	// AnonymousUser is the user anonymous clients act as (default "guest").
	AnonymousUser string
	// FailedLoginLimit: past this many failed PLAIN/EXTERNAL logins from one address within 10 s, that
	// address is refused for the rest of the window (default 5; -1 = no limit).
	FailedLoginLimit int
}

// DefaultLimits are the limits a broker uses for every zero field of Options.Limits.
var DefaultLimits = Limits{
	MaxFrameSize:     1 << 20,
	ChannelMax:       2047,
	HandleMax:        1023,
	MaxMessageSize:   128 << 20,
	IdleTimeout:      60 * time.Second,
	HandshakeTimeout: 10 * time.Second,
	SessionWindow:    5000,
	LinkCredit:       1000,
}

// withDefaults returns o with every zero field set to its default, or an error for what cannot work.
func (o Options) withDefaults() (Options, error) {
	if o.AMQPAddr == "" {
		o.AMQPAddr = ":5672"
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	// A line logged inside a traced operation carries its trace_id and span_id (telemetry.NewLogHandler;
	// a handler that has it already is kept as it is).
	o.Logger = slog.New(telemetry.NewLogHandler(o.Logger.Handler()))
	if o.Telemetry == nil {
		o.Telemetry = telemetry.Nop()
	}
	l, d := &o.Limits, DefaultLimits
	if l.MaxFrameSize == 0 {
		l.MaxFrameSize = d.MaxFrameSize
	}
	if l.MaxFrameSize < 512 {
		return o, fmt.Errorf("max frame size %d is below the AMQP minimum of 512", l.MaxFrameSize)
	}
	if l.ChannelMax == 0 {
		l.ChannelMax = d.ChannelMax
	}
	if l.HandleMax == 0 {
		l.HandleMax = d.HandleMax
	}
	if l.MaxMessageSize == 0 {
		l.MaxMessageSize = d.MaxMessageSize
	}
	if l.IdleTimeout == 0 {
		l.IdleTimeout = d.IdleTimeout
	}
	if l.HandshakeTimeout == 0 {
		l.HandshakeTimeout = d.HandshakeTimeout
	}
	if l.SessionWindow == 0 {
		l.SessionWindow = d.SessionWindow
	}
	if l.QueueMemoryMessages == 0 {
		l.QueueMemoryMessages = 20000
	}
	if l.LinkCredit == 0 {
		l.LinkCredit = d.LinkCredit
	}
	if o.Auth.FailedLoginLimit == 0 {
		o.Auth.FailedLoginLimit = 5
	}
	if o.Auth.AnonymousUser == "" {
		o.Auth.AnonymousUser = "guest"
	}
	return o, nil
}
