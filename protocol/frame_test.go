package protocol

import (
	"bytes"
	"errors"
	"io"
	"runtime"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func requireFramingError(t testing.TB, err error) {
	t.Helper()
	var fe *FramingError
	require.True(t, errors.As(err, &fe), "want *FramingError, got %v", err)
}

func TestProtoHeader(t *testing.T) {
	assert.Equal(t, []byte("AMQP\x00\x01\x00\x00"), AppendProtoHeader(nil, ProtoAMQP))
	assert.Equal(t, []byte("AMQP\x02\x01\x00\x00"), AppendProtoHeader(nil, ProtoTLS))
	assert.Equal(t, []byte("AMQP\x03\x01\x00\x00"), AppendProtoHeader(nil, ProtoSASL))

	h, err := ParseProtoHeader([8]byte{'A', 'M', 'Q', 'P', 3, 1, 0, 0})
	require.NoError(t, err)
	assert.Equal(t, ProtoHeader{ID: ProtoSASL, Major: 1, Minor: 0, Revision: 0}, h)
	h, err = ParseProtoHeader([8]byte{'A', 'M', 'Q', 'P', 0, 0, 9, 1})
	require.NoError(t, err, "version checks are the caller's")
	assert.Equal(t, ProtoHeader{ID: ProtoAMQP, Major: 0, Minor: 9, Revision: 1}, h)
	_, err = ParseProtoHeader([8]byte{'H', 'T', 'T', 'P', '/', '1', '.', '1'})
	requireFramingError(t, err)
}

func TestFrameWriting(t *testing.T) {
	b, mark := BeginFrame([]byte{0xee}, FrameTypeAMQP, 0x0102)
	assert.Equal(t, 1, mark)
	b = AppendDescriptor(b, 0x18)
	b = append(b, TypeList0)
	assert.Equal(t, hexBytes(t, "ee 0000000c 02 00 0102 005318 45"), EndFrame(b, mark))

	b, mark = BeginFrame(nil, FrameTypeSASL, 0)
	assert.Equal(t, hexBytes(t, "00000008 02 01 0000"), EndFrame(b, mark))
	assert.Equal(t, hexBytes(t, "00000008 02 00 0000"), AppendEmptyFrame(nil))
}

// testFrame is a frame to put on the wire; ext is extended-header padding.
type testFrame struct {
	typ     uint8
	channel uint16
	ext     int // extended header bytes (multiple of 4)
	body    []byte
}

func (f testFrame) append(b []byte) []byte {
	size := frameHeaderSize + f.ext + len(f.body)
	b = append(b, byte(size>>24), byte(size>>16), byte(size>>8), byte(size),
		byte(2+f.ext/4), f.typ, byte(f.channel>>8), byte(f.channel))
	b = append(b, make([]byte, f.ext)...)
	return append(b, f.body...)
}

func sampleFrames() []testFrame {
	return []testFrame{
		{typ: FrameTypeSASL, body: []byte{0x00, 0x53, 0x40, 0x45}},
		{typ: FrameTypeAMQP}, // heartbeat
		{typ: FrameTypeAMQP, channel: 7, body: bytes.Repeat([]byte{1}, 300)},
		{typ: FrameTypeAMQP, channel: 0xffff, ext: 8, body: []byte("after an extended header")},
		{typ: FrameTypeAMQP, channel: 1, ext: 4}, // extended header, empty body
		{typ: FrameTypeAMQP, channel: 2, body: []byte{9}},
	}
}

func sampleStream() []byte {
	b := AppendProtoHeader(nil, ProtoSASL)
	for _, f := range sampleFrames() {
		b = f.append(b)
	}
	return b
}

// readAllFrames reads the protocol header and every frame, copying bodies.
func readAllFrames(t testing.TB, r io.Reader) []testFrame {
	t.Helper()
	fr := NewFrameReader(r, 1<<20)
	h, err := fr.ReadProtoHeader()
	require.NoError(t, err)
	require.Equal(t, ProtoHeader{ID: ProtoSASL, Major: 1}, h)
	var out []testFrame
	for {
		f, err := fr.ReadFrame()
		if errors.Is(err, io.EOF) {
			return out
		}
		require.NoError(t, err)
		out = append(out, testFrame{typ: f.Type, channel: f.Channel, body: append([]byte(nil), f.Body...)})
	}
}

func wantFrames() []testFrame {
	var out []testFrame
	for _, f := range sampleFrames() {
		f.ext = 0
		if len(f.body) == 0 {
			f.body = nil
		}
		out = append(out, f)
	}
	return out
}

func normalise(fs []testFrame) []testFrame {
	for i := range fs {
		if len(fs[i].body) == 0 {
			fs[i].body = nil
		}
	}
	return fs
}

func TestFrameReaderReadsStream(t *testing.T) {
	stream := sampleStream()
	for name, r := range map[string]io.Reader{
		"whole":       bytes.NewReader(stream),
		"one byte":    iotest.OneByteReader(bytes.NewReader(stream)),
		"half":        iotest.HalfReader(bytes.NewReader(stream)),
		"data + EOF":  iotest.DataErrReader(bytes.NewReader(stream)),
		"empty reads": &emptyReadsReader{data: stream},
	} {
		t.Run(name, func(t *testing.T) {
			assert.Equal(t, wantFrames(), normalise(readAllFrames(t, r)))
		})
	}
}

// splitReader returns its chunks one Read at a time.
type splitReader struct{ chunks [][]byte }

func (r *splitReader) Read(p []byte) (int, error) {
	for len(r.chunks) > 0 && len(r.chunks[0]) == 0 {
		r.chunks = r.chunks[1:]
	}
	if len(r.chunks) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.chunks[0])
	r.chunks[0] = r.chunks[0][n:]
	return n, nil
}

// emptyReadsReader returns (0, nil) before every byte, which a reader must tolerate.
type emptyReadsReader struct {
	data  []byte
	empty bool
}

func (r *emptyReadsReader) Read(p []byte) (int, error) {
	if r.empty = !r.empty; r.empty {
		return 0, nil
	}
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	p[0] = r.data[0]
	r.data = r.data[1:]
	return 1, nil
}

func TestFrameReaderSplitAtEveryOffset(t *testing.T) {
	stream := sampleStream()
	want := wantFrames()
	for i := 0; i <= len(stream); i++ {
		for _, j := range []int{i, min(i+1, len(stream)), min(i+13, len(stream))} {
			r := &splitReader{chunks: [][]byte{stream[:i], stream[i:j], stream[j:]}}
			require.Equal(t, want, normalise(readAllFrames(t, r)), "split at %d and %d", i, j)
		}
	}
}

func TestFrameReaderBuffered(t *testing.T) {
	var stream []byte
	for range 3 {
		stream = AppendEmptyFrame(stream)
	}
	fr := NewFrameReader(bytes.NewReader(stream), MinMaxFrameSize)
	assert.Zero(t, fr.Buffered())
	assert.False(t, fr.FrameBuffered())
	f, err := fr.ReadFrame()
	require.NoError(t, err)
	assert.Empty(t, f.Body)
	assert.Equal(t, 16, fr.Buffered(), "both remaining frames came with the first read")
	assert.True(t, fr.FrameBuffered())
	_, err = fr.ReadFrame()
	require.NoError(t, err)
	assert.Equal(t, 8, fr.Buffered())
	assert.True(t, fr.FrameBuffered())
	_, err = fr.ReadFrame()
	require.NoError(t, err)
	assert.Zero(t, fr.Buffered())
	assert.False(t, fr.FrameBuffered())
	_, err = fr.ReadFrame()
	assert.ErrorIs(t, err, io.EOF)
	_, err = fr.ReadFrame()
	assert.ErrorIs(t, err, io.EOF, "EOF is sticky")
}

func TestFrameBufferedPartialFrame(t *testing.T) {
	frame := testFrame{typ: FrameTypeAMQP, body: []byte("body")}.append(nil)
	stream := append(AppendEmptyFrame(nil), frame...)
	fr := NewFrameReader(&splitReader{chunks: [][]byte{stream[:len(stream)-1], stream[len(stream)-1:]}}, MinMaxFrameSize)
	_, err := fr.ReadFrame()
	require.NoError(t, err)
	assert.Equal(t, len(frame)-1, fr.Buffered())
	assert.False(t, fr.FrameBuffered(), "the second frame misses its last byte")
	f, err := fr.ReadFrame()
	require.NoError(t, err)
	assert.Equal(t, []byte("body"), f.Body)

	// A malformed header fails at once, so it counts as buffered.
	stream = append(AppendEmptyFrame(nil), hexBytes(t, "00000001 02 00 0000")...)
	bad := NewFrameReader(bytes.NewReader(stream), MinMaxFrameSize)
	_, err = bad.ReadFrame()
	require.NoError(t, err)
	assert.True(t, bad.FrameBuffered())
	_, err = bad.ReadFrame()
	requireFramingError(t, err)
	assert.True(t, bad.FrameBuffered(), "a failed reader returns at once")
}

func TestFrameReaderRejectsBadHeaders(t *testing.T) {
	for name, h := range map[string]string{
		"size below header":       "00000007 02 00 0000",
		"size zero":               "00000000 02 00 0000",
		"doff below 2":            "00000008 01 00 0000",
		"doff zero":               "00000010 00 00 0000 0000000000000000",
		"doff past frame end":     "00000008 03 00 0000",
		"size above max":          "00000201 02 00 0000",
		"2 GiB above max":         "80000000 02 00 0000",
		"unknown frame type":      "00000008 02 05 0000",
		"doff past end, big doff": "0000000c ff 00 0000 00000000",
	} {
		t.Run(name, func(t *testing.T) {
			in := hexBytes(t, h)
			fr := NewFrameReader(bytes.NewReader(in), MinMaxFrameSize)
			_, err := fr.ReadFrame()
			requireFramingError(t, err)
			_, err = fr.ReadFrame()
			requireFramingError(t, err) // sticky
			_, err = fr.ReadProtoHeader()
			requireFramingError(t, err)
		})
	}
}

func TestFrameReaderProtoHeaderErrors(t *testing.T) {
	fr := NewFrameReader(bytes.NewReader([]byte("HTTP/1.1 200")), MinMaxFrameSize)
	_, err := fr.ReadProtoHeader()
	requireFramingError(t, err)
	_, err = fr.ReadFrame()
	requireFramingError(t, err)

	fr = NewFrameReader(bytes.NewReader([]byte("AMQ")), MinMaxFrameSize)
	_, err = fr.ReadProtoHeader()
	assert.ErrorIs(t, err, io.ErrUnexpectedEOF)
}

func TestFrameReaderTruncation(t *testing.T) {
	frame := testFrame{typ: FrameTypeAMQP, body: []byte("body")}.append(nil)
	for n := 1; n < len(frame); n++ {
		fr := NewFrameReader(bytes.NewReader(frame[:n]), MinMaxFrameSize)
		_, err := fr.ReadFrame()
		assert.ErrorIs(t, err, io.ErrUnexpectedEOF, "cut at %d", n)
	}
	_, err := NewFrameReader(bytes.NewReader(nil), MinMaxFrameSize).ReadFrame()
	assert.ErrorIs(t, err, io.EOF)

	readErr := errors.New("connection reset")
	fr := NewFrameReader(io.MultiReader(bytes.NewReader(frame[:5]), iotest.ErrReader(readErr)), MinMaxFrameSize)
	_, err = fr.ReadFrame()
	assert.ErrorIs(t, err, readErr)
}

func TestFrameReaderMaxFrameSize(t *testing.T) {
	big := testFrame{typ: FrameTypeAMQP, body: make([]byte, 1000)}.append(nil)
	fr := NewFrameReader(bytes.NewReader(big), 0)
	_, err := fr.ReadFrame()
	requireFramingError(t, err)

	fr = NewFrameReader(bytes.NewReader(append(AppendEmptyFrame(nil), big...)), 100)
	_, err = fr.ReadFrame()
	require.NoError(t, err, "a limit below 512 is raised to MinMaxFrameSize")
	fr.SetMaxFrameSize(1008)
	f, err := fr.ReadFrame()
	require.NoError(t, err)
	assert.Len(t, f.Body, 1000)
}

func TestFrameReaderGrowsForLargeFrames(t *testing.T) {
	body := make([]byte, 300<<10)
	for i := range body {
		body[i] = byte(i)
	}
	stream := testFrame{typ: FrameTypeAMQP, channel: 3, body: body}.append(nil)
	stream = AppendEmptyFrame(stream)
	for name, r := range map[string]io.Reader{
		"whole":    bytes.NewReader(stream),
		"one byte": iotest.OneByteReader(bytes.NewReader(stream)),
	} {
		fr := NewFrameReader(r, 1<<20)
		f, err := fr.ReadFrame()
		require.NoError(t, err, name)
		assert.Equal(t, body, f.Body, name)
		f, err = fr.ReadFrame()
		require.NoError(t, err, name)
		assert.Empty(t, f.Body, name)
	}
}

// TestFrameReaderHugeClaimDoesNotAllocate: a header claiming 2 GiB under a
// permissive limit, followed by a few bytes, must not allocate the claim.
func TestFrameReaderHugeClaimDoesNotAllocate(t *testing.T) {
	in := append(hexBytes(t, "80000000 02 00 0000"), make([]byte, 100)...)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	fr := NewFrameReader(bytes.NewReader(in), 0xffffffff)
	_, err := fr.ReadFrame()
	assert.ErrorIs(t, err, io.ErrUnexpectedEOF)
	runtime.ReadMemStats(&after)
	assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(1<<20))
	assert.Equal(t, defaultReadBufferSize, len(fr.buf), "the buffer grows only as data arrives")
}

// loopReader serves data cyclically forever, in reads of at most chunk bytes.
type loopReader struct {
	data  []byte
	pos   int
	chunk int
}

func (r *loopReader) Read(p []byte) (int, error) {
	if len(p) > r.chunk {
		p = p[:r.chunk]
	}
	n := 0
	for n < len(p) {
		c := copy(p[n:], r.data[r.pos:])
		n += c
		r.pos = (r.pos + c) % len(r.data)
	}
	return n, nil
}

func TestReadFrameDoesNotAllocate(t *testing.T) {
	var stream []byte
	for range 16 {
		stream = testFrame{typ: FrameTypeAMQP, channel: 1, body: make([]byte, 1000)}.append(stream)
		stream = AppendEmptyFrame(stream)
	}
	fr := NewFrameReader(&loopReader{data: stream, chunk: 7000}, 1<<16)
	allocs := testing.AllocsPerRun(1000, func() {
		if _, err := fr.ReadFrame(); err != nil {
			t.Fatal(err)
		}
	})
	assert.Zero(t, allocs)
}

type badCountReader struct{}

func (badCountReader) Read(p []byte) (int, error) { return len(p) + 1, nil }

func TestFrameReaderInvalidReadCount(t *testing.T) {
	_, err := NewFrameReader(badCountReader{}, MinMaxFrameSize).ReadFrame()
	assert.Error(t, err)
}

type stuckReader struct{}

func (stuckReader) Read([]byte) (int, error) { return 0, nil }

func TestFrameReaderNoProgress(t *testing.T) {
	_, err := NewFrameReader(stuckReader{}, MinMaxFrameSize).ReadFrame()
	assert.ErrorIs(t, err, io.ErrNoProgress)
}
