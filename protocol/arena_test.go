package protocol

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The arena decodes exactly like DecodeFrameBody, hands every frame its own value (never one it gave
// out before, even across blocks), and allocates once per arenaBlock transfers.
func TestFrameArenaDecodesLikeDecodeFrameBody(t *testing.T) {
	var buf []byte
	for _, p := range performatives() {
		var err error
		buf, err = AppendFrame(buf, 0, p)
		require.NoError(t, err)
	}
	var a FrameArena
	for _, f := range readFrames(t, buf) {
		want, _, err := DecodeFrameBody(f.Body)
		require.NoError(t, err)
		got, payload, err := a.DecodeFrameBody(f.Body)
		require.NoError(t, err)
		assert.Empty(t, payload)
		assert.Equal(t, want, got)
	}

	const n = 3*arenaBlock + 5
	var frames []byte
	for i := range n {
		tr := &Transfer{Handle: uint32(i), DeliveryID: Some(uint32(i)), DeliveryTag: []byte{byte(i)}}
		var err error
		frames, err = AppendTransferFrame(frames, 0, tr, AppendDataSection(nil, []byte{byte(i)}))
		require.NoError(t, err)
	}
	seen := map[*Transfer]bool{}
	var got []*Transfer
	decoded := readFrames(t, frames)
	for i, f := range decoded {
		p, payload, err := a.DecodeFrameBody(f.Body)
		require.NoError(t, err)
		tr := p.(*Transfer)
		require.False(t, seen[tr], "frame %d got a value handed out before", i)
		seen[tr] = true
		got = append(got, tr)
		assert.Equal(t, AppendDataSection(nil, []byte{byte(i)}), payload)
	}
	for i, tr := range got { // later decodes left earlier values alone
		assert.Equal(t, uint32(i), tr.Handle)
		assert.Equal(t, Some(uint32(i)), tr.DeliveryID)
	}

	body := decoded[0].Body
	var fresh FrameArena
	allocs := testing.AllocsPerRun(10*arenaBlock, func() { _, _, _ = fresh.DecodeFrameBody(body) })
	assert.LessOrEqual(t, allocs, 1.0/arenaBlock+0.01)
}
