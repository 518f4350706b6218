package supervision

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The fault-injection hook is never active in a production build: a program (not a test binary) that
// arms a rule for every actor and message runs to its end.
func TestFaultsInertInProductionBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a program")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to build with")
	}
	out, err := exec.Command(goBin, "run", "./testdata/prodfaults").CombinedOutput()
	require.NoError(t, err, "the production build panicked:\n%s", out)
	assert.Equal(t, "inert", strings.TrimSpace(string(out)))
}
