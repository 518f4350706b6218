package daemon

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/warren-mq/warren/actors"
)

// env turns a map into a getenv function.
func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

var noEnv = env(nil)

// writeFile writes content to a fresh file and returns its path.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
	return path
}

func TestDefaultsMatchDesign(t *testing.T) {
	c, err := loadConfig(nil, noEnv)
	require.NoError(t, err)
	assert.Equal(t, ":5672", c.AMQPAddr)
	assert.Equal(t, "127.0.0.1:15672", c.HTTPAddr)
	assert.Equal(t, "./warren-data", c.DataDir)
	assert.Equal(t, "info", c.LogLevel)
	assert.Equal(t, "text", c.LogFormat)
	assert.Empty(t, c.AMQPSAddr)
	assert.Empty(t, c.UnixSocket)
	assert.Empty(t, c.Definitions)
	assert.Empty(t, c.configFile)
	assert.False(t, c.showVersion)

	c.logOutput = &bytes.Buffer{}
	opts, err := c.brokerOptions()
	require.NoError(t, err)
	assert.Equal(t, actors.DefaultLimits, opts.Limits, "the daemon's defaults are the library's")
	assert.Equal(t, actors.Auth{AnonymousUser: "guest"}, opts.Auth)
	assert.Nil(t, opts.Definitions)
}

func TestPrecedenceFlagEnvFileDefault(t *testing.T) {
	file := writeFile(t, "warren.yaml", `
amqp_addr: "file:1"
http_addr: "file:2"
data_dir: /file
limits:
  idle_timeout: 11s
  max_connections: 11
auth:
  guest_anywhere: true
`)
	getenv := env(map[string]string{
		"WARREN_CONFIG":          file,
		"WARREN_AMQP_ADDR":       "env:1",
		"WARREN_HTTP_ADDR":       "env:2",
		"WARREN_IDLE_TIMEOUT":    "22s",
		"WARREN_MAX_CONNECTIONS": "", // empty counts as unset
		"WARREN_LOG_LEVEL":       "warn",
	})
	c, err := loadConfig([]string{"--amqp-addr", "flag:1", "--idle-timeout=33s", "--guest-anywhere=false"}, getenv)
	require.NoError(t, err)

	assert.Equal(t, "flag:1", c.AMQPAddr, "flag beats env and file")
	assert.Equal(t, "env:2", c.HTTPAddr, "env beats file")
	assert.Equal(t, "/file", c.DataDir, "file beats default")
	assert.Equal(t, "text", c.LogFormat, "default when nobody sets it")
	assert.Equal(t, "warn", c.LogLevel, "env beats default")
	assert.Equal(t, duration(33*time.Second), c.Limits.IdleTimeout, "flag beats env and file, nested")
	assert.Equal(t, 11, c.Limits.MaxConnections, "file, nested, when the env var is empty")
	assert.False(t, c.Auth.GuestAnywhere, "an explicit false flag beats the file's true")
	assert.Equal(t, file, c.configFile)
}

func TestConfigFlagBeatsConfigEnv(t *testing.T) {
	fromEnv := writeFile(t, "env.yaml", "data_dir: /from-env\n")
	fromFlag := writeFile(t, "flag.yaml", "data_dir: /from-flag\n")
	c, err := loadConfig([]string{"--config", fromFlag}, env(map[string]string{"WARREN_CONFIG": fromEnv}))
	require.NoError(t, err)
	assert.Equal(t, "/from-flag", c.DataDir)
	assert.Equal(t, fromFlag, c.configFile)
}

func TestRepeatedFlagLastWins(t *testing.T) {
	c, err := loadConfig([]string{"--channel-max", "10", "--channel-max", "20"}, noEnv)
	require.NoError(t, err)
	assert.Equal(t, uint16(20), c.Limits.ChannelMax)
}

func TestEverySettingHasAnEnvVariable(t *testing.T) {
	// Set every variable to a valid non-default value and check each one landed.
	vars := map[string]string{
		"WARREN_AMQP_ADDR": "127.0.0.1:1", "WARREN_AMQPS_ADDR": "127.0.0.1:2", "WARREN_TLS_CERT": "c.pem",
		"WARREN_TLS_KEY": "k.pem", "WARREN_TLS_CA": "ca.pem", "WARREN_UNIX_SOCKET": "/tmp/w.sock",
		"WARREN_HTTP_ADDR": "127.0.0.1:3", "WARREN_DATA_DIR": "/data", "WARREN_DEFINITIONS": "/defs.json",
		"WARREN_LOG_LEVEL": "debug", "WARREN_LOG_FORMAT": "json", "WARREN_MAX_FRAME_SIZE": "4096",
		"WARREN_CHANNEL_MAX": "7", "WARREN_HANDLE_MAX": "8", "WARREN_MAX_MESSAGE_SIZE": "9",
		"WARREN_IDLE_TIMEOUT": "0", "WARREN_HANDSHAKE_TIMEOUT": "2s", "WARREN_MAX_CONNECTIONS": "10",
		"WARREN_SESSION_WINDOW": "11", "WARREN_LINK_CREDIT": "12", "WARREN_DISABLE_ANONYMOUS": "1",
		"WARREN_GUEST_ANYWHERE": "true", "WARREN_ANONYMOUS_USER": "anon", "WARREN_TLS_UPGRADE": "true",
		"WARREN_MAX_CONNECTIONS_PER_USER": "13", "WARREN_MAX_QUEUES_PER_VHOST": "14",
		"WARREN_MEMORY_HIGH_WATERMARK": "15", "WARREN_FAILED_LOGIN_LIMIT": "16", "WARREN_QUEUE_MEMORY_MESSAGES": "17",
		"WARREN_PPROF": "true",
	}
	require.Len(t, vars, len(settings))
	c, err := loadConfig(nil, env(vars))
	require.NoError(t, err)
	assert.Equal(t, &config{
		AMQPAddr: "127.0.0.1:1", AMQPSAddr: "127.0.0.1:2", TLSCert: "c.pem", TLSKey: "k.pem", TLSCA: "ca.pem",
		TLSUpgrade: true, UnixSocket: "/tmp/w.sock", HTTPAddr: "127.0.0.1:3", DataDir: "/data", Definitions: "/defs.json",
		LogLevel: "debug", LogFormat: "json", Pprof: true,
		Limits: limitsConfig{MaxFrameSize: 4096, ChannelMax: 7, HandleMax: 8, MaxMessageSize: 9, IdleTimeout: 0,
			HandshakeTimeout: duration(2 * time.Second), MaxConnections: 10, SessionWindow: 11, LinkCredit: 12,
			MaxConnsPerUser: 13, MaxQueues: 14, MemoryHighWater: 15, QueueMemory: 17},
		Auth: authConfig{DisableAnonymous: true, GuestAnywhere: true, AnonymousUser: "anon", FailedLoginLimit: 16},
	}, c)
}

func TestYAMLFile(t *testing.T) {
	file := writeFile(t, "warren.yaml", `# a complete config file
amqp_addr: 0.0.0.0:5673
unix_socket: /run/warren.sock
http_addr: "off"
data_dir: /var/lib/warren
definitions: /etc/warren/definitions.json
log_level: debug
log_format: json
limits:
  max_frame_size: 65536
  channel_max: 100
  handle_max: 50
  max_message_size: 10485760
  idle_timeout: 1m30s
  handshake_timeout: 500ms
  max_connections: 1000
  session_window: 2000
  link_credit: 200
auth:
  disable_anonymous: true
  guest_anywhere: false
  anonymous_user: visitor
`)
	c, err := loadConfig([]string{"--config", file}, noEnv)
	require.NoError(t, err)
	want := &config{
		AMQPAddr: "0.0.0.0:5673", UnixSocket: "/run/warren.sock", HTTPAddr: "off", DataDir: "/var/lib/warren",
		Definitions: "/etc/warren/definitions.json", LogLevel: "debug", LogFormat: "json",
		Limits: limitsConfig{MaxFrameSize: 65536, ChannelMax: 100, HandleMax: 50, MaxMessageSize: 10 << 20,
			IdleTimeout: duration(90 * time.Second), HandshakeTimeout: duration(500 * time.Millisecond),
			MaxConnections: 1000, SessionWindow: 2000, LinkCredit: 200},
		Auth:       authConfig{DisableAnonymous: true, AnonymousUser: "visitor"},
		configFile: file,
	}
	assert.Equal(t, want, c)
}

func TestYAMLFilePartialAndEmpty(t *testing.T) {
	c, err := loadConfig([]string{"--config", writeFile(t, "partial.yaml", "limits:\n  channel_max: 9\n")}, noEnv)
	require.NoError(t, err)
	assert.Equal(t, uint16(9), c.Limits.ChannelMax)
	assert.Equal(t, actors.DefaultLimits.HandleMax, c.Limits.HandleMax, "keys the file leaves out keep their defaults")

	for _, content := range []string{"", "# only a comment\n", "---\n"} {
		c, err := loadConfig([]string{"--config", writeFile(t, "empty.yaml", content)}, noEnv)
		require.NoError(t, err, "%q", content)
		assert.Equal(t, defaultConfig().Limits, c.Limits)
	}
}

func TestYAMLFileErrors(t *testing.T) {
	cases := []struct{ name, content, want string }{
		{"unknown top-level key", "amqp_adr: :5672\n", `line 1: unknown key "amqp_adr"`},
		{"unknown nested key", "limits:\n  channel_max: 5\n  max_frame: 4096\n", `line 3: unknown key "limits.max_frame"`},
		{"unknown auth key", "auth:\n  anonymous: false\n", `line 2: unknown key "auth.anonymous"`},
		{"config is not a setting of the file", "config: other.yaml\n", `unknown key "config"`},
		{"duration without unit", "limits:\n  idle_timeout: 30\n", `line 2: "30": want a duration such as 30s or 1m30s`},
		{"duration not a scalar", "limits:\n  idle_timeout: [1s]\n", `line 2: want a duration`},
		{"negative unsigned", "limits:\n  channel_max: -1\n", "line 2: cannot unmarshal !!int `-1` into uint16"},
		{"overflow", "limits:\n  channel_max: 65536\n", "cannot unmarshal !!int `65536` into uint16"},
		{"not a bool", "auth:\n  guest_anywhere: sometimes\n", "line 2: cannot unmarshal !!str `sometimes` into bool"},
		{"section not a mapping", "limits: 5\n", "line 1: cannot unmarshal !!int `5`"},
		{"not a mapping", "- amqp_addr\n", "cannot unmarshal !!seq"},
		{"two documents", "data_dir: a\n---\ndata_dir: b\n", "want a single YAML document"},
		{"syntax", "amqp_addr: [\n", "yaml:"},
		{"valid syntax, invalid value", "log_format: xml\n", `--log-format "xml": want text or json`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := writeFile(t, "warren.yaml", tc.content)
			_, err := loadConfig([]string{"--config", path}, noEnv)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}

	_, err := loadConfig([]string{"--config", filepath.Join(t.TempDir(), "missing.yaml")}, noEnv)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "missing.yaml")
}

func TestBadValues(t *testing.T) {
	cases := []struct {
		args []string
		env  map[string]string
		want string
	}{
		{args: []string{"--max-frame-size", "big"}, want: `invalid value "big" for flag -max-frame-size: want an integer from 0 to 4294967295`},
		{args: []string{"--channel-max", "65536"}, want: "want an integer from 0 to 65535"},
		{args: []string{"--max-connections", "many"}, want: "want an integer"},
		{args: []string{"--idle-timeout", "soon"}, want: "want a duration such as 30s"},
		{args: []string{"--guest-anywhere=maybe"}, want: "want true or false"},
		{args: []string{"--no-such-flag"}, want: "flag provided but not defined: -no-such-flag"},
		{args: []string{"serve"}, want: `unexpected argument "serve"`},
		{env: map[string]string{"WARREN_HANDLE_MAX": "-1"}, want: `invalid value "-1" for WARREN_HANDLE_MAX`},
		{env: map[string]string{"WARREN_DISABLE_ANONYMOUS": "yes"}, want: "WARREN_DISABLE_ANONYMOUS: want true or false"},
		{args: []string{"--max-frame-size", "511"}, want: "--max-frame-size 511 is below the AMQP minimum of 512"},
		{args: []string{"--channel-max", "0"}, want: "--channel-max must be at least 1"},
		{args: []string{"--max-message-size", "0"}, want: "--max-message-size must be at least 1"},
		{args: []string{"--link-credit", "0"}, want: "--link-credit must be at least 1"},
		{args: []string{"--idle-timeout", "-1s"}, want: "--idle-timeout -1s: want 0 (off) or at least 1ms"},
		{args: []string{"--idle-timeout", "10us"}, want: "want 0 (off) or at least 1ms"},
		{args: []string{"--handshake-timeout", "0s"}, want: "--handshake-timeout 0s must be positive"},
		{args: []string{"--max-connections", "-3"}, want: "--max-connections -3: want 0 (unlimited) or more"},
		{args: []string{"--log-level", "verbose"}, want: `--log-level: "verbose": want debug, info, warn or error`},
		{args: []string{"--log-format", "logfmt"}, want: `--log-format "logfmt": want text or json`},
		{args: []string{"--amqp-addr", ""}, want: `--amqp-addr "": want host:port, or "off"`},
		{args: []string{"--amqp-addr", "5672"}, want: `--amqp-addr "5672": address 5672: missing port in address`},
		{args: []string{"--http-addr", "localhost"}, want: `--http-addr "localhost"`},
		{args: []string{"--data-dir", ""}, want: "--data-dir must not be empty"},
		{args: []string{"--anonymous-user", ""}, want: "--anonymous-user must not be empty"},
		{args: []string{"--amqps-addr", ":5671"}, want: "--amqps-addr needs --tls-cert and --tls-key"},
		{args: []string{"--tls-cert", "c.pem"}, want: "--tls-cert, --tls-key and --tls-ca configure --amqps-addr, which is not set"},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " ")+fmtEnv(tc.env), func(t *testing.T) {
			_, err := loadConfig(tc.args, env(tc.env))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func fmtEnv(m map[string]string) string {
	var parts []string
	for k, v := range m {
		parts = append(parts, k+"="+v)
	}
	return strings.Join(parts, " ")
}

func TestSeveralErrorsAreReportedTogether(t *testing.T) {
	_, err := loadConfig([]string{"--max-frame-size", "1", "--log-format", "xml"}, noEnv)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "--max-frame-size")
	assert.Contains(t, err.Error(), "--log-format")
}

func TestHelpAndVersion(t *testing.T) {
	_, err := loadConfig([]string{"--help"}, noEnv)
	require.ErrorIs(t, err, flag.ErrHelp)
	_, err = loadConfig([]string{"-h"}, noEnv)
	require.ErrorIs(t, err, flag.ErrHelp)

	// --version wins even over a broken environment: it reads nothing else.
	c, err := loadConfig([]string{"--version"}, env(map[string]string{"WARREN_CONFIG": "/does/not/exist"}))
	require.NoError(t, err)
	assert.True(t, c.showVersion)

	var usage bytes.Buffer
	printUsage(&usage)
	for _, s := range settings {
		assert.Contains(t, usage.String(), "--"+s.name)
		assert.Contains(t, usage.String(), s.env())
		assert.Contains(t, usage.String(), s.key)
	}
	assert.Contains(t, usage.String(), "--config")
	assert.Contains(t, usage.String(), "WARREN_CONFIG")
}

func TestLoggerConstruction(t *testing.T) {
	cases := []struct {
		level, format         string
		debugShown, infoShown bool
	}{
		{"debug", "text", true, true},
		{"info", "text", false, true},
		{"warn", "json", false, false},
		{"WARNING", "json", false, false},
		{"error", "text", false, false},
	}
	for _, tc := range cases {
		t.Run(tc.level+"/"+tc.format, func(t *testing.T) {
			c := defaultConfig()
			c.LogLevel, c.LogFormat = tc.level, tc.format
			var buf bytes.Buffer
			logger, err := c.newLogger(&buf)
			require.NoError(t, err)
			logger.Debug("dbg")
			logger.Info("inf")
			logger.Error("err", "k", "v")
			out := buf.String()
			assert.Equal(t, tc.debugShown, strings.Contains(out, "dbg"))
			assert.Equal(t, tc.infoShown, strings.Contains(out, "inf"))
			lines := strings.Split(strings.TrimSpace(out), "\n")
			last := lines[len(lines)-1]
			if tc.format == "json" {
				var rec map[string]any
				require.NoError(t, json.Unmarshal([]byte(last), &rec))
				assert.Equal(t, "ERROR", rec["level"])
				assert.Equal(t, "v", rec["k"])
			} else {
				assert.Contains(t, last, "level=ERROR")
				assert.Contains(t, last, "k=v")
			}
		})
	}

	c := defaultConfig()
	c.LogFormat = "xml"
	_, err := c.newLogger(&bytes.Buffer{})
	require.Error(t, err)
}

func TestBrokerOptions(t *testing.T) {
	defs := writeFile(t, "definitions.json", `{
		"users": [{"name": "dev", "password": "dev", "tags": "administrator"}],
		"queues": [{"name": "orders", "durable": true, "colour": "red"}]
	}`)
	var logs bytes.Buffer
	c, err := loadConfig([]string{
		"--amqp-addr", "off", "--unix-socket", "/tmp/warren.sock", "--http-addr", "off",
		"--idle-timeout", "0", "--handshake-timeout", "3s", "--max-frame-size", "4096",
		"--disable-anonymous", "--guest-anywhere", "--definitions", defs, "--log-level", "debug",
	}, noEnv)
	require.NoError(t, err)
	c.logOutput = &logs

	opts, err := c.brokerOptions()
	require.NoError(t, err)
	assert.Equal(t, "-", opts.AMQPAddr, `"off" becomes the broker's "-"`)
	assert.Empty(t, opts.HTTPAddr, `"off" becomes empty`)
	assert.Equal(t, "/tmp/warren.sock", opts.UnixSocket)
	assert.Equal(t, "./warren-data", opts.DataDir)
	assert.Negative(t, opts.Limits.IdleTimeout, "0 (off) becomes negative: Options reads zero as the default")
	assert.Equal(t, 3*time.Second, opts.Limits.HandshakeTimeout)
	assert.Equal(t, uint32(4096), opts.Limits.MaxFrameSize)
	assert.Equal(t, actors.Auth{DisableAnonymous: true, GuestAnywhere: true, AnonymousUser: "guest"}, opts.Auth)
	require.NotNil(t, opts.Definitions)
	assert.Equal(t, "dev", opts.Definitions.Users[0].Name)
	assert.Equal(t, "orders", opts.Definitions.Queues[0].Name)
	require.NotNil(t, opts.Logger)
	assert.Contains(t, logs.String(), "field=colour", "definitions warnings go to the configured logger")
	assert.True(t, opts.Logger.Enabled(t.Context(), -4), "debug level is enabled")

	c.Definitions = writeFile(t, "bad.json", `{"queues": [{"name": "orders", "arguments": {"x-max-length": -1}}]}`)
	_, err = c.brokerOptions()
	require.Error(t, err)
	assert.Contains(t, err.Error(), `queues[0] "orders": x-max-length must be a non-negative integer`)
}

func TestBrokerOptionsPassesTLSThrough(t *testing.T) {
	c, err := loadConfig([]string{"--amqps-addr", ":5671", "--tls-cert", "c.pem", "--tls-key", "k.pem", "--tls-ca", "ca.pem"}, noEnv)
	require.NoError(t, err)
	c.logOutput = &bytes.Buffer{}
	opts, err := c.brokerOptions()
	require.NoError(t, err)
	assert.Equal(t, ":5671", opts.AMQPSAddr)
	assert.Equal(t, "c.pem", opts.TLSCert)
	assert.Equal(t, "k.pem", opts.TLSKey)
	assert.Equal(t, "ca.pem", opts.TLSCA)
}
