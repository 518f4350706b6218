package main

import (
	"bytes"
	"log/slog"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
)

// runForTest runs the daemon with args and no environment, and returns its exit code and output.
// Only paths that end before the broker starts listening are exercised here.
func runForTest(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	old := slog.Default()
	t.Cleanup(func() { slog.SetDefault(old) }) // run installs its logger as the default
	var out, errOut bytes.Buffer
	code = run(args, noEnv, &out, &errOut, make(chan os.Signal, 1))
	return code, out.String(), errOut.String()
}

func TestRunVersion(t *testing.T) {
	code, stdout, stderr := runForTest(t, "--version")
	assert.Equal(t, 0, code)
	assert.Equal(t, "warren "+version+"\n", stdout)
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
