package daemon

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/warren-mq/warren/actors"
)

// runForTest runs the daemon with args and no environment, and returns its exit code and output.
// Only paths that end before the broker starts listening are exercised here.
func runForTest(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	old := slog.Default()
	t.Cleanup(func() { slog.SetDefault(old) }) // run installs its logger as the default
	var out, errOut bytes.Buffer
	code = Run(args, noEnv, &out, &errOut, make(chan os.Signal, 1), nil)
	return code, out.String(), errOut.String()
}

func TestRunVersion(t *testing.T) {
	code, stdout, stderr := runForTest(t, "--version")
	assert.Equal(t, 0, code)
	assert.Equal(t, "warren "+Version+"\n", stdout)
	assert.Empty(t, stderr)
}

func TestRunHelp(t *testing.T) {
	code, stdout, _ := runForTest(t, "--help")
	assert.Equal(t, 0, code)
	assert.Contains(t, stdout, "Usage: warren [flags]")
}

func TestRunBadFlagExits2(t *testing.T) {
	code, stdout, stderr := runForTest(t, "--max-frame-size", "tiny")
	assert.Equal(t, 2, code)
	assert.Empty(t, stdout)
	assert.Contains(t, stderr, `warren: invalid value "tiny" for flag -max-frame-size`)
	assert.Contains(t, stderr, "warren --help")
}

func TestRunInvalidDefinitionsExits1(t *testing.T) {
	defs := writeFile(t, "definitions.json", `{"bindings": [{"source": "x", "destination": "q", "destination_type": "queue", "vhost": "nowhere"}]}`)
	code, _, stderr := runForTest(t, "--definitions", defs, "--amqp-addr", "127.0.0.1:0", "--http-addr", "off")
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, `bindings[0] "x" -> queue "q": vhost "nowhere" is not listed in vhosts`)
}

// TLS material that cannot be loaded stops the start with a message naming it, never ignored.
func TestRunTLSWithMissingFilesFailsLoudly(t *testing.T) {
	code, _, stderr := runForTest(t, "--amqps-addr", "127.0.0.1:0", "--tls-cert", "c.pem", "--tls-key", "k.pem",
		"--amqp-addr", "127.0.0.1:0", "--http-addr", "off")
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "warren: ")
	assert.Contains(t, stderr, "TLS")
}

// A daemon of your own is Main/Run with a customize function: it sees the options the configuration
// made and adds its actors, here a custom exchange type that the definitions file then declares.
func TestRunCustomizeAddsActors(t *testing.T) {
	defs := filepath.Join(t.TempDir(), "defs.json")
	require.NoError(t, os.WriteFile(defs, []byte(`{"exchanges":[{"name":"later","vhost":"/","type":"x-later","durable":true}]}`), 0o600))
	args := []string{"--amqp-addr", "127.0.0.1:0", "--http-addr", "off", "--definitions", defs}

	// Without the type the definitions file is refused: the daemon does not start.
	code, _, stderr := runForTest(t, append(args, "--data-dir", t.TempDir())...)
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "x-later")

	var seen string
	d := startCustomDaemon(t, noEnv, func(o *actors.Options) {
		seen = o.AMQPAddr
		o.ExchangeTypes = append(o.ExchangeTypes, actors.ExchangeType{Name: "x-later", New: func(env *actors.ExchangeEnv) actor.Actor {
			return actor.ReceiveFunc(func(ctx actor.Context) {
				if b, ok := ctx.Message().(*actors.PublishBatch); ok {
					env.Forward(ctx, b.Items...)
				}
			})
		}})
	}, args...)
	d.waitLog(t, regexp.MustCompile(`msg=listening amqp=(\S+)`))
	assert.Equal(t, "127.0.0.1:0", seen, "customize sees the configured options")
	assert.Equal(t, 0, d.stop(t))
}
