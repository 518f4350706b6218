package daemon

import (
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// configEnv names the config file when --config is not given.
const configEnv = "WARREN_CONFIG"

// setting is one option that a flag, a WARREN_* variable and the config file can all set.
type setting struct {
	name  string // flag name; the variable is WARREN_ + NAME_IN_UPPER_SNAKE
	key   string // config file key, for --help
	kind  string // value kind shown in --help
	usage string
	set   func(c *config, v string) error
	get   func(c *config) string // the default shown in --help
}

func (s setting) env() string {
	return "WARREN_" + strings.ToUpper(strings.ReplaceAll(s.name, "-", "_"))
}

func (s setting) isBool() bool { return s.kind == "bool" }

func stringSetting(name, key, usage string, field func(*config) *string) setting {
	return setting{name: name, key: key, kind: "string", usage: usage,
		set: func(c *config, v string) error { *field(c) = v; return nil },
		get: func(c *config) string { return strconv.Quote(*field(c)) },
	}
}

func boolSetting(name, key, usage string, field func(*config) *bool) setting {
	return setting{name: name, key: key, kind: "bool", usage: usage,
		set: func(c *config, v string) error {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return fmt.Errorf("want true or false")
			}
			*field(c) = b
			return nil
		},
		get: func(c *config) string { return strconv.FormatBool(*field(c)) },
	}
}

// uintSetting sets an unsigned integer of the given bit size (16, 32 or 64).
func uintSetting[T uint16 | uint32 | uint64](name, key, usage string, bits int, field func(*config) *T) setting {
	return setting{name: name, key: key, kind: "uint", usage: usage,
		set: func(c *config, v string) error {
			n, err := strconv.ParseUint(v, 10, bits)
			if err != nil {
				return fmt.Errorf("want an integer from 0 to %d", uint64(1)<<bits-1)
			}
			*field(c) = T(n)
			return nil
		},
		get: func(c *config) string { return strconv.FormatUint(uint64(*field(c)), 10) },
	}
}

func intSetting(name, key, usage string, field func(*config) *int) setting {
	return setting{name: name, key: key, kind: "int", usage: usage,
		set: func(c *config, v string) error {
			n, err := strconv.Atoi(v)
			if err != nil {
				return fmt.Errorf("want an integer")
			}
			*field(c) = n
			return nil
		},
		get: func(c *config) string { return strconv.Itoa(*field(c)) },
	}
}

func durationSetting(name, key, usage string, field func(*config) *duration) setting {
	return setting{name: name, key: key, kind: "duration", usage: usage,
		set: func(c *config, v string) error {
			d, err := parseDuration(v)
			if err != nil {
				return err
			}
			*field(c) = d
			return nil
		},
		get: func(c *config) string { return field(c).String() },
	}
}

// duration is a time.Duration written as Go writes durations ("30s", "1m30s") everywhere: flags,
// environment and the config file (where a bare number would be ambiguous, so it is refused).
type duration time.Duration

func parseDuration(v string) (duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("want a duration such as 30s or 1m30s")
	}
	return duration(d), nil
}

func (d duration) String() string { return time.Duration(d).String() }

// settings are every option but --config and --version, in --help order.
var settings = []setting{
	stringSetting("amqp-addr", "amqp_addr", `AMQP listener host:port; port 0 picks a free port; "off" = none`,
		func(c *config) *string { return &c.AMQPAddr }),
	stringSetting("amqps-addr", "amqps_addr", "AMQP over TLS listener host:port (needs --tls-cert, --tls-key)",
		func(c *config) *string { return &c.AMQPSAddr }),
	stringSetting("tls-cert", "tls_cert", "TLS certificate file (PEM)", func(c *config) *string { return &c.TLSCert }),
	stringSetting("tls-key", "tls_key", "TLS private key file (PEM)", func(c *config) *string { return &c.TLSKey }),
	stringSetting("tls-ca", "tls_ca", "CA file (PEM) to verify client certificates (SASL EXTERNAL)",
		func(c *config) *string { return &c.TLSCA }),
	boolSetting("tls-upgrade", "tls_upgrade", "also offer the in-band TLS upgrade (AMQP 2 1 0 0) on --amqp-addr",
		func(c *config) *bool { return &c.TLSUpgrade }),
	stringSetting("unix-socket", "unix_socket", "AMQP over a Unix domain socket at this path",
		func(c *config) *string { return &c.UnixSocket }),
	stringSetting("http-addr", "http_addr", `management, /metrics, /healthz, /readyz host:port; "off" = none`,
		func(c *config) *string { return &c.HTTPAddr }),
	stringSetting("data-dir", "data_dir", "directory for durable state", func(c *config) *string { return &c.DataDir }),
	stringSetting("definitions", "definitions", "RabbitMQ definitions.json (users, vhosts, topology) applied at start",
		func(c *config) *string { return &c.Definitions }),
	stringSetting("log-level", "log_level", "debug, info, warn or error", func(c *config) *string { return &c.LogLevel }),
	stringSetting("log-format", "log_format", "text or json", func(c *config) *string { return &c.LogFormat }),
	boolSetting("pprof", "pprof", "serve Go's profiler at /debug/pprof/ on --http-addr (for performance work)",
		func(c *config) *bool { return &c.Pprof }),

	uintSetting("max-frame-size", "limits.max_frame_size", "largest AMQP frame, bytes (at least 512)", 32,
		func(c *config) *uint32 { return &c.Limits.MaxFrameSize }),
	uintSetting("channel-max", "limits.channel_max", "highest channel number: sessions per connection", 16,
		func(c *config) *uint16 { return &c.Limits.ChannelMax }),
	uintSetting("handle-max", "limits.handle_max", "highest link handle: links per session", 32,
		func(c *config) *uint32 { return &c.Limits.HandleMax }),
	uintSetting("max-message-size", "limits.max_message_size", "largest message, bytes", 64,
		func(c *config) *uint64 { return &c.Limits.MaxMessageSize }),
	durationSetting("idle-timeout", "limits.idle_timeout", "close connections silent for this long; 0 = never",
		func(c *config) *duration { return &c.Limits.IdleTimeout }),
	durationSetting("handshake-timeout", "limits.handshake_timeout", "protocol header, SASL and open must finish within this",
		func(c *config) *duration { return &c.Limits.HandshakeTimeout }),
	intSetting("max-connections", "limits.max_connections", "most connections at once; 0 = unlimited",
		func(c *config) *int { return &c.Limits.MaxConnections }),
	intSetting("max-connections-per-user", "limits.max_connections_per_user", "most connections per user; 0 = unlimited",
		func(c *config) *int { return &c.Limits.MaxConnsPerUser }),
	intSetting("max-queues-per-vhost", "limits.max_queues_per_vhost", "most queues per virtual host; 0 = unlimited",
		func(c *config) *int { return &c.Limits.MaxQueues }),
	intSetting("queue-memory-messages", "limits.queue_memory_messages", "ready messages a durable queue keeps in memory (the rest waits on disk); 0 = 20000",
		func(c *config) *int { return &c.Limits.QueueMemory }),
	uintSetting("memory-high-watermark", "limits.memory_high_watermark", "heap bytes past which producers get no credit; 0 = 40% of RAM", 64,
		func(c *config) *uint64 { return &c.Limits.MemoryHighWater }),
	uintSetting("session-window", "limits.session_window", "incoming window granted to each session, transfers", 32,
		func(c *config) *uint32 { return &c.Limits.SessionWindow }),
	uintSetting("link-credit", "limits.link_credit", "credit granted to each producer link, messages", 32,
		func(c *config) *uint32 { return &c.Limits.LinkCredit }),

	boolSetting("disable-anonymous", "auth.disable_anonymous", "refuse SASL ANONYMOUS and clients that skip SASL",
		func(c *config) *bool { return &c.Auth.DisableAnonymous }),
	boolSetting("guest-anywhere", "auth.guest_anywhere", "let guest (and anonymous clients) connect from non-loopback addresses",
		func(c *config) *bool { return &c.Auth.GuestAnywhere }),
	stringSetting("anonymous-user", "auth.anonymous_user", "the user anonymous clients act as",
		func(c *config) *string { return &c.Auth.AnonymousUser }),
	intSetting("failed-login-limit", "auth.failed_login_limit", "failed logins per address in 10 s before it is refused; 0 = 5, -1 = no limit",
		func(c *config) *int { return &c.Auth.FailedLoginLimit }),
}

// commandLine is what the flags said, kept apart from the config until the other layers are in.
type commandLine struct {
	flags     []flagValue // in command-line order
	config    string
	configSet bool
	version   bool
}

type flagValue struct {
	s     setting
	value string
}

// recorder is the flag.Value of a setting: it checks a value's syntax at parse time (so the flag
// package reports it) and records it for loadConfig to apply after the file and environment layers.
type recorder struct {
	s  setting
	cl *commandLine
}

func (r *recorder) String() string {
	if r == nil || r.s.get == nil {
		return ""
	}
	return r.s.get(defaultConfig())
}

func (r *recorder) Set(v string) error {
	if err := r.s.set(defaultConfig(), v); err != nil {
		return err
	}
	r.cl.flags = append(r.cl.flags, flagValue{s: r.s, value: v})
	return nil
}

var _ flag.Value = (*recorder)(nil)

// IsBoolFlag lets boolean switches stand alone: --guest-anywhere.
func (r *recorder) IsBoolFlag() bool { return r.s.isBool() }

// newFlagSet builds the command line's flags. Errors are returned, not printed: main reports them.
func newFlagSet() (*flag.FlagSet, *commandLine) {
	cl := &commandLine{}
	fs := flag.NewFlagSet("warren", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	for _, s := range settings {
		fs.Var(&recorder{s: s, cl: cl}, s.name, s.usage)
	}
	fs.Func("config", "YAML config file holding any of these settings", func(v string) error {
		cl.config, cl.configSet = v, true
		return nil
	})
	fs.BoolVar(&cl.version, "version", false, "print the version and exit")
	return fs, cl
}

// printUsage writes --help.
func printUsage(w io.Writer) {
	fmt.Fprint(w, `Usage: warren [flags]

Warren is an AMQP 1.0 message broker. Each setting comes from, in order of precedence: its flag, its
WARREN_* environment variable, the --config file (YAML; the key is shown), or the default.

`)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "  --config string\t%s (env %s)\n", "YAML config file", configEnv)
	fmt.Fprintf(tw, "  --version\t%s\n", "print the version and exit")
	def := defaultConfig()
	for _, s := range settings {
		kind := " " + s.kind
		if s.isBool() {
			kind = ""
		}
		fmt.Fprintf(tw, "  --%s%s\t%s\n", s.name, kind, s.usage)
		shown := s.get(def)
		if shown == `""` {
			shown = "none"
		}
		fmt.Fprintf(tw, "  \tenv %s, key %s, default %s\n", s.env(), s.key, shown)
	}
	tw.Flush() //nolint:errcheck // best effort on a terminal
}
