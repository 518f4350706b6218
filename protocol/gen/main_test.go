package main

import (
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestGeneratedFileUpToDate fails when composites_gen.go was edited by hand or
// the generator changed without `go generate ./protocol`.
func TestGeneratedFileUpToDate(t *testing.T) {
	want, err := generate("spec") // a copy of the normative XML (OASIS), kept in the repo so tests need nothing beside it
	require.NoError(t, err)
	got, err := os.ReadFile("../composites_gen.go")
	require.NoError(t, err)
	assert.Equal(t, string(want), string(got), "run go generate ./protocol")
}

func TestGoName(t *testing.T) {
	assert.Equal(t, "ContainerID", goName("container-id"))
	assert.Equal(t, "SASLMechanisms", goName("sasl-mechanisms"))
	assert.Equal(t, "ReplyToGroupID", goName("reply-to-group-id"))
	assert.Equal(t, "TTL", goName("ttl"))
}

func TestParseCode(t *testing.T) {
	c, err := parseCode("0x00000000:0x00000010")
	require.NoError(t, err)
	assert.Equal(t, uint64(0x10), c)
	c, err = parseCode("0x00000468:0x00000001")
	require.NoError(t, err)
	assert.Equal(t, uint64(0x468_0000_0001), c)
	_, err = parseCode("0x10")
	require.Error(t, err)
}
