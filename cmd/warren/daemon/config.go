package daemon

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"github.com/warren-mq/warren/actors"
	"github.com/warren-mq/warren/actors/definitions"
	"github.com/warren-mq/warren/telemetry"
)

// config is the daemon's configuration once defaults, the config file, the environment and the flags
// are merged, in that order: flag > env > config file > default (DESIGN.md §2). The yaml names are
// the config file's keys.
type config struct {
	AMQPAddr    string       `yaml:"amqp_addr"`
	AMQPSAddr   string       `yaml:"amqps_addr"`
	TLSCert     string       `yaml:"tls_cert"`
	TLSKey      string       `yaml:"tls_key"`
	TLSCA       string       `yaml:"tls_ca"`
	TLSUpgrade  bool         `yaml:"tls_upgrade"`
	UnixSocket  string       `yaml:"unix_socket"`
	HTTPAddr    string       `yaml:"http_addr"`
	DataDir     string       `yaml:"data_dir"`
	Definitions string       `yaml:"definitions"`
	LogLevel    string       `yaml:"log_level"`
	LogFormat   string       `yaml:"log_format"`
	Pprof       bool         `yaml:"pprof"`
	Limits      limitsConfig `yaml:"limits"`
	Auth        authConfig   `yaml:"auth"`

	configFile  string    // the file the config layer came from; "" = none
	showVersion bool      // --version: print the version and exit
	logOutput   io.Writer // where logs go; nil = os.Stderr
}

// limitsConfig mirrors actors.Limits with the defaults filled in, so --help shows them.
type limitsConfig struct {
	MaxFrameSize     uint32   `yaml:"max_frame_size"`
	ChannelMax       uint16   `yaml:"channel_max"`
	HandleMax        uint32   `yaml:"handle_max"`
	MaxMessageSize   uint64   `yaml:"max_message_size"`
	IdleTimeout      duration `yaml:"idle_timeout"` // 0 = no idle time-out
	HandshakeTimeout duration `yaml:"handshake_timeout"`
	MaxConnections   int      `yaml:"max_connections"` // 0 = unlimited
	MaxConnsPerUser  int      `yaml:"max_connections_per_user"`
	MaxQueues        int      `yaml:"max_queues_per_vhost"`
	MemoryHighWater  uint64   `yaml:"memory_high_watermark"` // bytes; 0 = 40 % of RAM
	QueueMemory      int      `yaml:"queue_memory_messages"`
	SessionWindow    uint32   `yaml:"session_window"`
	LinkCredit       uint32   `yaml:"link_credit"`
}

// authConfig mirrors actors.Auth.
type authConfig struct {
	DisableAnonymous bool   `yaml:"disable_anonymous"`
	GuestAnywhere    bool   `yaml:"guest_anywhere"`
	AnonymousUser    string `yaml:"anonymous_user"`
	FailedLoginLimit int    `yaml:"failed_login_limit"`
}

// off is the value that switches an optional listener off.
const off = "off"

func defaultConfig() *config {
	d := actors.DefaultLimits
	return &config{
		AMQPAddr:  ":5672",
		HTTPAddr:  "127.0.0.1:15672",
		DataDir:   "./warren-data",
		LogLevel:  "info",
		LogFormat: "text",
		Limits: limitsConfig{
			MaxFrameSize:     d.MaxFrameSize,
			ChannelMax:       d.ChannelMax,
			HandleMax:        d.HandleMax,
			MaxMessageSize:   d.MaxMessageSize,
			IdleTimeout:      duration(d.IdleTimeout),
			HandshakeTimeout: duration(d.HandshakeTimeout),
			MaxConnections:   d.MaxConnections,
			SessionWindow:    d.SessionWindow,
			LinkCredit:       d.LinkCredit,
		},
		Auth: authConfig{AnonymousUser: "guest"},
	}
}

// loadConfig merges defaults, the config file (--config or WARREN_CONFIG), the WARREN_* environment and
// the flags in args. flag.ErrHelp means -h/--help was asked for; any other error is a usage error.
// An empty environment variable counts as unset.
func loadConfig(args []string, getenv func(string) string) (*config, error) {
	fs, cl := newFlagSet()
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q (all options are flags)", fs.Arg(0))
	}
	c := defaultConfig()
	if cl.version {
		c.showVersion = true
		return c, nil
	}

	path := getenv(configEnv)
	if cl.configSet {
		path = cl.config
	}
	if path != "" {
		if err := c.readFile(path); err != nil {
			return nil, err
		}
		c.configFile = path
	}
	for _, s := range settings {
		if v := getenv(s.env()); v != "" {
			if err := s.set(c, v); err != nil {
				return nil, fmt.Errorf("invalid value %q for %s: %w", v, s.env(), err)
			}
		}
	}
	for _, f := range cl.flags { // command-line order, so a repeated flag's last value wins
		if err := f.s.set(c, f.value); err != nil {
			return nil, fmt.Errorf("invalid value %q for flag --%s: %w", f.value, f.s.name, err)
		}
	}
	if err := c.validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// validate checks what a single value cannot: ranges, and settings that only make sense together.
// Every value must reach the broker as given, so nothing here is silently replaced by a default.
func (c *config) validate() error {
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	if err := checkListen(c.AMQPAddr, "-"); err != nil {
		fail("--amqp-addr %q: %v", c.AMQPAddr, err)
	}
	if err := checkListen(c.HTTPAddr, ""); err != nil {
		fail("--http-addr %q: %v", c.HTTPAddr, err)
	}
	tls := c.AMQPSAddr != "" && c.AMQPSAddr != off
	if tls {
		if err := checkListen(c.AMQPSAddr, ""); err != nil {
			fail("--amqps-addr %q: %v", c.AMQPSAddr, err)
		}
		if c.TLSCert == "" || c.TLSKey == "" {
			fail("--amqps-addr needs --tls-cert and --tls-key")
		}
	} else if (c.TLSCert != "" || c.TLSKey != "" || c.TLSCA != "") && !c.TLSUpgrade {
		fail("--tls-cert, --tls-key and --tls-ca configure --amqps-addr, which is not set")
	}
	if c.DataDir == "" {
		fail("--data-dir must not be empty")
	}
	if _, err := parseLevel(c.LogLevel); err != nil {
		fail("--log-level: %v", err)
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		fail("--log-format %q: want text or json", c.LogFormat)
	}

	l := c.Limits
	if l.MaxFrameSize < 512 {
		fail("--max-frame-size %d is below the AMQP minimum of 512", l.MaxFrameSize)
	}
	positive := []struct {
		name string
		v    uint64
	}{
		{"--channel-max", uint64(l.ChannelMax)}, {"--handle-max", uint64(l.HandleMax)},
		{"--max-message-size", l.MaxMessageSize}, {"--session-window", uint64(l.SessionWindow)},
		{"--link-credit", uint64(l.LinkCredit)},
	}
	for _, p := range positive {
		if p.v == 0 {
			fail("%s must be at least 1", p.name)
		}
	}
	if l.IdleTimeout < 0 || l.IdleTimeout > 0 && l.IdleTimeout < duration(time.Millisecond) {
		fail("--idle-timeout %s: want 0 (off) or at least 1ms", l.IdleTimeout)
	}
	if l.HandshakeTimeout <= 0 {
		fail("--handshake-timeout %s must be positive", l.HandshakeTimeout)
	}
	if l.MaxConnections < 0 {
		fail("--max-connections %d: want 0 (unlimited) or more", l.MaxConnections)
	}
	if c.Auth.AnonymousUser == "" {
		fail("--anonymous-user must not be empty")
	}
	return errors.Join(errs...)
}

// checkListen accepts host:port, "off", and (when it is not "") the broker's own spelling of off.
func checkListen(addr, brokerOff string) error {
	if addr == off || (brokerOff != "" && addr == brokerOff) {
		return nil
	}
	if addr == "" {
		return errors.New(`want host:port, or "off"`)
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return err
	}
	return nil
}

func parseLevel(s string) (slog.Level, error) {
	switch strings.ToLower(s) {
	case "debug":
		return slog.LevelDebug, nil
	case "info":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("%q: want debug, info, warn or error", s)
}

// newLogger builds the slog logger --log-level and --log-format ask for, writing to w. Records logged
// with a context that holds a span (slog's *Context methods inside a traced operation) get trace_id
// and span_id attributes, so logs and traces can be joined (DESIGN.md §7).
func (c *config) newLogger(w io.Writer) (*slog.Logger, error) {
	level, err := parseLevel(c.LogLevel)
	if err != nil {
		return nil, err
	}
	ho := &slog.HandlerOptions{Level: level}
	var h slog.Handler
	switch c.LogFormat {
	case "text":
		h = slog.NewTextHandler(w, ho)
	case "json":
		h = slog.NewJSONHandler(w, ho)
	default:
		return nil, fmt.Errorf("log format %q: want text or json", c.LogFormat)
	}
	return slog.New(telemetry.NewLogHandler(h)), nil
}

// brokerOptions turns the configuration into the broker's Options: builds the logger and loads the
// definitions file (whose warnings go to that logger).
func (c *config) brokerOptions() (actors.Options, error) {
	w := c.logOutput
	if w == nil {
		w = os.Stderr
	}
	logger, err := c.newLogger(w)
	if err != nil {
		return actors.Options{}, err
	}
	l := c.Limits
	opts := actors.Options{
		AMQPAddr:   c.AMQPAddr,
		AMQPSAddr:  offToEmpty(c.AMQPSAddr),
		TLSCert:    c.TLSCert,
		TLSKey:     c.TLSKey,
		TLSCA:      c.TLSCA,
		TLSUpgrade: c.TLSUpgrade,
		UnixSocket: offToEmpty(c.UnixSocket),
		HTTPAddr:   offToEmpty(c.HTTPAddr),
		DataDir:    c.DataDir,
		Logger:     logger,
		Profiling:  c.Pprof,
		TuneGC:     true, // the daemon's process is the broker (actors/gctune.go)
		TuneProcs:  true, // and so its Ps are the broker's (actors/proctune.go)
		Limits: actors.Limits{
			MaxFrameSize:          l.MaxFrameSize,
			ChannelMax:            l.ChannelMax,
			HandleMax:             l.HandleMax,
			MaxMessageSize:        l.MaxMessageSize,
			IdleTimeout:           time.Duration(l.IdleTimeout),
			HandshakeTimeout:      time.Duration(l.HandshakeTimeout),
			MaxConnections:        l.MaxConnections,
			SessionWindow:         l.SessionWindow,
			LinkCredit:            l.LinkCredit,
			MaxConnectionsPerUser: l.MaxConnsPerUser,
			MaxQueuesPerVhost:     l.MaxQueues,
			MemoryHighWatermark:   l.MemoryHighWater,
			QueueMemoryMessages:   l.QueueMemory,
		},
		Auth: actors.Auth{
			DisableAnonymous: c.Auth.DisableAnonymous,
			GuestAnywhere:    c.Auth.GuestAnywhere,
			AnonymousUser:    c.Auth.AnonymousUser,
			FailedLoginLimit: c.Auth.FailedLoginLimit,
		},
	}
	if opts.AMQPAddr == off {
		opts.AMQPAddr = "-" // the broker's spelling of "no TCP listener"
	}
	if l.IdleTimeout == 0 {
		opts.Limits.IdleTimeout = -1 // Options: zero means the default, negative means none
	}
	if c.Definitions != "" {
		d, err := definitions.Load(c.Definitions, logger)
		if err != nil {
			return actors.Options{}, err
		}
		opts.Definitions = d
	}
	return opts, nil
}

func offToEmpty(s string) string {
	if s == off {
		return ""
	}
	return s
}
