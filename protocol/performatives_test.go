package protocol

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func performatives() []Performative {
	var out []Performative
	for _, c := range fullComposites() {
		if p, ok := c.(Performative); ok {
			out = append(out, p)
		}
	}
	return out
}

// readFrames reads every frame in b through a FrameReader.
func readFrames(t *testing.T, b []byte) []Frame {
	t.Helper()
	fr := NewFrameReader(bytes.NewReader(b), 1<<20)
	var out []Frame
	for len(b) > 0 {
		f, err := fr.ReadFrame()
		require.NoError(t, err)
		f.Body = bytes.Clone(f.Body)
		out = append(out, f)
		b = b[8+len(f.Body):]
	}
	return out
}

func TestAppendFrameDecodeFrameBody(t *testing.T) {
	ps := performatives()
	require.Len(t, ps, 10) // the nine performatives, attach twice
	var buf []byte
	for i, p := range ps {
		var err error
		buf, err = AppendFrame(buf, uint16(i), p)
		require.NoError(t, err)
	}
	frames := readFrames(t, buf)
	require.Len(t, frames, len(ps))
	for i, f := range frames {
		assert.Equal(t, uint8(FrameTypeAMQP), f.Type)
		assert.Equal(t, uint16(i), f.Channel)
		got, payload, err := DecodeFrameBody(f.Body)
		require.NoError(t, err)
		assert.Empty(t, payload)
		assert.Equal(t, ps[i], got)
	}
}

func TestDecodeFrameBodyTransferPayload(t *testing.T) {
	tr := &Transfer{Handle: 1, DeliveryID: Some[uint32](5), DeliveryTag: []byte{9}, MessageFormat: Some[uint32](0)}
	payload := AppendDataSection(nil, []byte("hello"))
	frame, err := AppendTransferFrame(nil, 2, tr, payload)
	require.NoError(t, err)
	f := readFrames(t, frame)[0]
	assert.Equal(t, uint16(2), f.Channel)

	p, got, err := DecodeFrameBody(f.Body)
	require.NoError(t, err)
	assert.Equal(t, tr, p)
	assert.Equal(t, payload, got)
	// The payload aliases the body.
	assert.Same(t, &f.Body[len(f.Body)-1], &got[len(got)-1])

	var t2 Transfer
	got, err = t2.DecodeBody(f.Body)
	require.NoError(t, err)
	assert.Equal(t, payload, got)
	assert.Equal(t, *tr, t2)
	// So does the delivery tag (vbin8 0xa0, length 1, value 9).
	tagAt := bytes.Index(f.Body, []byte{0xa0, 0x01, 9}) + 2
	assert.Same(t, &f.Body[tagAt], &t2.DeliveryTag[0])
	// DecodeBody resets t: fields from a previous transfer do not survive.
	t2.More, t2.Aborted = true, true
	_, err = t2.DecodeBody(f.Body)
	require.NoError(t, err)
	assert.False(t, t2.More)
	assert.False(t, t2.Aborted)
}

func TestDecodeFrameBodyErrors(t *testing.T) {
	p, payload, err := DecodeFrameBody(nil) // heartbeat
	require.NoError(t, err)
	assert.Nil(t, p)
	assert.Nil(t, payload)

	var de *DecodeError
	_, _, err = DecodeFrameBody([]byte{0x00, 0x53, 0x70, 0x45}) // a header section is no performative
	require.ErrorAs(t, err, &de)
	_, _, err = DecodeFrameBody([]byte{0x00, 0x53, 0x18, 0x45, 0x40}) // bytes after close
	require.ErrorAs(t, err, &de)
	_, _, err = DecodeFrameBody([]byte{0x00, 0x53, 0x14, 0x45}) // transfer without handle
	require.ErrorAs(t, err, &de)
	_, _, err = DecodeFrameBody([]byte{0x45})
	require.ErrorAs(t, err, &de)

	// Symbolic transfer descriptor through the zero-alloc path.
	b := AppendSymbolDescriptor(nil, "amqp:transfer:list")
	b = append(b, 0xc0, 0x02, 0x01, 0x43, 'x')
	var tr Transfer
	payload, err = tr.DecodeBody(b)
	require.NoError(t, err)
	assert.Equal(t, []byte("x"), payload)
}

func TestSASLFrames(t *testing.T) {
	bodies := []SASLFrameBody{
		&SASLMechanisms{Mechanisms: []Symbol{"PLAIN"}},
		&SASLInit{Mechanism: "PLAIN", InitialResponse: []byte("\x00u\x00p")},
		&SASLChallenge{Challenge: []byte("c")},
		&SASLResponse{Response: []byte("r")},
		&SASLOutcome{Code: SASLOk},
	}
	var buf []byte
	for _, s := range bodies {
		var err error
		buf, err = AppendSASLFrame(buf, s)
		require.NoError(t, err)
	}
	frames := readFrames(t, buf)
	require.Len(t, frames, len(bodies))
	for i, f := range frames {
		assert.Equal(t, uint8(FrameTypeSASL), f.Type)
		got, err := DecodeSASLFrameBody(f.Body)
		require.NoError(t, err)
		assert.Equal(t, bodies[i], got)
	}

	var de *DecodeError
	_, err := DecodeSASLFrameBody(nil)
	require.ErrorAs(t, err, &de)
	_, err = DecodeSASLFrameBody([]byte{0x00, 0x53, 0x10, 0xc0, 0x04, 0x01, 0xa1, 0x01, 'c'}) // open
	require.ErrorAs(t, err, &de)
	b, err := (&SASLOutcome{}).Append(nil)
	require.NoError(t, err)
	_, err = DecodeSASLFrameBody(append(b, 0x40))
	require.ErrorAs(t, err, &de)
}

func TestHotPathAllocations(t *testing.T) {
	tr := &Transfer{Handle: 1, DeliveryID: Some[uint32](4294967290), DeliveryTag: []byte("12345678"),
		MessageFormat: Some[uint32](0), Settled: Some(false)}
	payload := bytes.Repeat([]byte{'x'}, 1024)
	buf := make([]byte, 0, 4096)
	frame, err := AppendTransferFrame(buf, 1, tr, payload)
	require.NoError(t, err)
	body := frame[8:]

	var dec Transfer
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := dec.DecodeBody(body); err != nil {
			t.Fatal(err)
		}
	})
	assert.Zero(t, allocs, "Transfer.DecodeBody")

	allocs = testing.AllocsPerRun(100, func() {
		if _, err := AppendTransferFrame(buf[:0], 1, tr, payload); err != nil {
			t.Fatal(err)
		}
	})
	assert.Zero(t, allocs, "AppendTransferFrame")

	flow := &Flow{NextIncomingID: Some[uint32](1), IncomingWindow: 5000, NextOutgoingID: 1, OutgoingWindow: 5000,
		Handle: Some[uint32](0), DeliveryCount: Some[uint32](1), LinkCredit: Some[uint32](100)}
	disp := &Disposition{Role: RoleReceiver, First: 1, Last: Some[uint32](100), Settled: true, State: &Accepted{}}
	allocs = testing.AllocsPerRun(100, func() {
		b, _ := AppendFrame(buf[:0], 0, flow)
		_, _ = AppendFrame(b, 0, disp)
	})
	assert.Zero(t, allocs, "AppendFrame(flow, disposition)")

	// A disposition carrying accepted decodes without allocating the state.
	db, err := disp.Append(nil)
	require.NoError(t, err)
	var got Disposition
	allocs = testing.AllocsPerRun(100, func() {
		var d Decoder
		d.Reset(db)
		if err := got.Decode(&d); err != nil {
			t.Fatal(err)
		}
	})
	assert.Zero(t, allocs, "Disposition.Decode with accepted")

	// Through DecodeFrameBody each frame costs exactly its performative: the Decoder stays on the stack.
	trFrame, err := AppendTransferFrame(nil, 1, tr, payload)
	require.NoError(t, err)
	for name, fr := range map[string][]byte{"transfer": trFrame[8:], "flow": mustFrameBody(t, flow), "disposition": mustFrameBody(t, disp)} {
		allocs = testing.AllocsPerRun(100, func() {
			if _, _, err := DecodeFrameBody(fr); err != nil {
				t.Fatal(err)
			}
		})
		assert.Equal(t, 1.0, allocs, "DecodeFrameBody(%s)", name)
	}
}

func mustFrameBody(t *testing.T, p Performative) []byte {
	t.Helper()
	f, err := AppendFrame(nil, 0, p)
	require.NoError(t, err)
	return f[8:]
}
