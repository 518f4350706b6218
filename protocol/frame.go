package protocol

import (
	"encoding/binary"
	"errors"
	"io"
	"strconv"
)

// Frame types and the minimum max-frame-size (spec 2.3.1, 2.7.1).
const (
	FrameTypeAMQP   = 0x00
	FrameTypeSASL   = 0x01
	MinMaxFrameSize = 512
)

// frameHeaderSize is the fixed frame header: size (4), doff (1), type (1),
// type-specific (2, the channel for AMQP frames). Spec 2.3.1.
const frameHeaderSize = 8

// defaultReadBufferSize is the FrameReader's initial buffer: large enough to
// take several typical frames with one read.
const defaultReadBufferSize = 64 << 10

// ProtoID is the protocol id byte of a protocol header (spec 2.2).
type ProtoID uint8

// Protocol ids: plain AMQP, TLS (5.2) and SASL (5.3).
const (
	ProtoAMQP ProtoID = 0
	ProtoTLS  ProtoID = 2
	ProtoSASL ProtoID = 3
)

// ProtoHeader is a parsed protocol header: "AMQP" id major minor revision.
type ProtoHeader struct {
	ID                     ProtoID
	Major, Minor, Revision uint8
}

// AppendProtoHeader appends the 8-byte protocol header for AMQP 1.0.0 with the
// given protocol id.
func AppendProtoHeader(b []byte, id ProtoID) []byte {
	return append(b, 'A', 'M', 'Q', 'P', byte(id), 1, 0, 0)
}

// ParseProtoHeader parses a protocol header. It fails only when the first four
// bytes are not "AMQP"; the caller checks the id and version it supports
// (spec 2.2: on a mismatch, answer with a supported header and close).
func ParseProtoHeader(b [8]byte) (ProtoHeader, error) {
	h := ProtoHeader{ID: ProtoID(b[4]), Major: b[5], Minor: b[6], Revision: b[7]}
	if b[0] != 'A' || b[1] != 'M' || b[2] != 'Q' || b[3] != 'P' {
		return h, &FramingError{Msg: "protocol header does not start with \"AMQP\""}
	}
	return h, nil
}

// Frame is one frame read by a FrameReader.
type Frame struct {
	Type    uint8
	Channel uint16
	// Body is the frame body after the extended header; empty means a
	// heartbeat (spec 2.4.5). It aliases the reader's buffer and is valid only
	// until the next ReadFrame or ReadProtoHeader call.
	Body []byte
}

// FrameReader reads protocol headers and frames from an io.Reader through its
// own buffer. It works with any read boundaries and checks each frame header
// before reading or allocating the body. In steady state ReadFrame does not
// allocate. A FrameReader is not safe for concurrent use.
type FrameReader struct {
	r          io.Reader
	buf        []byte
	start, end int // buffered bytes are buf[start:end]
	max        uint32
	err        error // sticky: a read error or a framing error
}

// NewFrameReader returns a reader enforcing maxFrameSize (raised to
// MinMaxFrameSize if smaller; 2.4.1: before open is negotiated the limit is 512).
func NewFrameReader(r io.Reader, maxFrameSize uint32) *FrameReader {
	fr := &FrameReader{r: r, buf: make([]byte, defaultReadBufferSize)}
	fr.SetMaxFrameSize(maxFrameSize)
	return fr
}

// SetMaxFrameSize changes the largest frame accepted (raised to MinMaxFrameSize
// if smaller), e.g. to the max-frame-size this peer announced in its open.
func (fr *FrameReader) SetMaxFrameSize(n uint32) {
	fr.max = max(n, MinMaxFrameSize)
}

// Buffered returns the number of bytes already read from the underlying reader
// and not yet returned: a caller can keep calling ReadFrame without blocking
// while a complete frame is buffered.
func (fr *FrameReader) Buffered() int { return fr.end - fr.start }

// ReadProtoHeader reads an 8-byte protocol header.
func (fr *FrameReader) ReadProtoHeader() (ProtoHeader, error) {
	if err := fr.failed(); err != nil {
		return ProtoHeader{}, err
	}
	if err := fr.fill(frameHeaderSize); err != nil {
		return ProtoHeader{}, err
	}
	var b [8]byte
	copy(b[:], fr.buf[fr.start:])
	fr.consume(frameHeaderSize)
	h, err := ParseProtoHeader(b)
	if err != nil {
		fr.err = err
	}
	return h, err
}

// ReadFrame reads the next frame. Malformed frame headers are a *FramingError
// (and the reader stays failed); end of input on a frame boundary is io.EOF,
// inside a frame io.ErrUnexpectedEOF.
func (fr *FrameReader) ReadFrame() (Frame, error) {
	if err := fr.failed(); err != nil {
		return Frame{}, err
	}
	if err := fr.fill(frameHeaderSize); err != nil {
		return Frame{}, err
	}
	f, size, doff, msg := fr.header()
	if msg != "" {
		return Frame{}, fr.fail(msg)
	}
	if err := fr.fill(int(size)); err != nil {
		return Frame{}, err
	}
	lo, hi := fr.start+doff*4, fr.start+int(size)
	f.Body = fr.buf[lo:hi:hi]
	fr.consume(int(size))
	return f, nil
}

// header parses and checks the buffered frame header (at least 8 bytes must
// be buffered); msg is non-empty when it is malformed.
func (fr *FrameReader) header() (f Frame, size uint32, doff int, msg string) {
	h := fr.buf[fr.start : fr.start+frameHeaderSize]
	size = binary.BigEndian.Uint32(h[0:4])
	doff = int(h[4])
	f = Frame{Type: h[5], Channel: binary.BigEndian.Uint16(h[6:8])}
	// 2.3.1: size includes the header, doff counts 4-byte words and is at
	// least 2; both are checked before the body is read or space allocated.
	switch {
	case size < frameHeaderSize:
		msg = "frame size " + strconv.FormatUint(uint64(size), 10) + " is smaller than the header"
	case doff < 2:
		msg = "data offset " + strconv.Itoa(doff) + " is smaller than 2"
	case uint32(doff)*4 > size:
		msg = "data offset " + strconv.Itoa(doff) + " points past the frame end"
	case size > fr.max:
		msg = "frame size " + strconv.FormatUint(uint64(size), 10) +
			" exceeds the max frame size " + strconv.FormatUint(uint64(fr.max), 10)
	case f.Type != FrameTypeAMQP && f.Type != FrameTypeSASL:
		msg = "unknown frame type " + strconv.Itoa(int(f.Type))
	}
	return f, size, doff, msg
}

// FrameBuffered reports whether the next ReadFrame will return without
// reading from the underlying reader: a complete frame is buffered (or a
// malformed header, which fails at once). A connection reader uses it to
// handle every complete frame of one socket read before flushing replies.
func (fr *FrameReader) FrameBuffered() bool {
	if fr.failed() != nil {
		return true
	}
	n := fr.end - fr.start
	if n < frameHeaderSize {
		return false
	}
	_, size, _, msg := fr.header()
	return msg != "" || uint64(size) <= uint64(n)
}

// failed returns the sticky framing error, if any: after one the stream
// position is unknown, so nothing more can be read.
func (fr *FrameReader) failed() error {
	if fe, ok := fr.err.(*FramingError); ok {
		return fe
	}
	return nil
}

func (fr *FrameReader) fail(msg string) error {
	fr.err = &FramingError{Msg: msg}
	return fr.err
}

func (fr *FrameReader) consume(n int) {
	fr.start += n
	if fr.start == fr.end {
		fr.start, fr.end = 0, 0
	}
}

// maxEmptyReads bounds successive (0, nil) reads, like bufio.
const maxEmptyReads = 100

// fill reads until at least n bytes are buffered. The buffer grows only when
// it is full, at most doubling, so its size stays within twice the bytes
// actually received: a frame header claiming 2 GiB allocates nothing until
// that much data arrives.
func (fr *FrameReader) fill(n int) error {
	empty := 0
	for fr.end-fr.start < n {
		if fr.err != nil {
			if errors.Is(fr.err, io.EOF) && fr.end > fr.start {
				return io.ErrUnexpectedEOF
			}
			return fr.err
		}
		if len(fr.buf)-fr.start < n && fr.start > 0 {
			fr.end = copy(fr.buf, fr.buf[fr.start:fr.end])
			fr.start = 0
		}
		if fr.end == len(fr.buf) {
			grown := make([]byte, min(2*len(fr.buf), max(n, len(fr.buf)+1)))
			copy(grown, fr.buf[:fr.end])
			fr.buf = grown
		}
		m, err := fr.r.Read(fr.buf[fr.end:])
		if m < 0 || m > len(fr.buf)-fr.end {
			fr.err = errors.New("protocol: io.Reader returned an invalid count")
			continue
		}
		fr.end += m
		switch {
		case err != nil:
			fr.err = err
		case m > 0:
			empty = 0
		default:
			if empty++; empty >= maxEmptyReads {
				fr.err = io.ErrNoProgress
			}
		}
	}
	return nil
}

// BeginFrame appends a frame header with a placeholder size and doff=2 (no
// extended header); mark is its position. Append the body, then EndFrame.
func BeginFrame(b []byte, frameType uint8, channel uint16) (out []byte, mark int) {
	mark = len(b)
	b = append(b, 0, 0, 0, 0, 2, frameType)
	return binary.BigEndian.AppendUint16(b, channel), mark
}

// EndFrame patches the size of the frame started at mark.
func EndFrame(b []byte, mark int) []byte {
	binary.BigEndian.PutUint32(b[mark:], uint32(len(b)-mark))
	return b
}

// AppendEmptyFrame appends an empty AMQP frame on channel 0: a heartbeat (2.4.5).
func AppendEmptyFrame(b []byte) []byte {
	return append(b, 0, 0, 0, frameHeaderSize, 2, FrameTypeAMQP, 0, 0)
}
