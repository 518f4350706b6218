package protocol

import "encoding/binary"

// HasFrame reports whether a whole frame is already buffered, so that ReadFrame returns it without
// reading from the socket. A caller batching "every frame of this read" stops when it is false, instead
// of blocking on a frame whose tail has not arrived yet.
func (fr *FrameReader) HasFrame() bool {
	if fr.err != nil || fr.end-fr.start < 8 {
		return false
	}
	size := binary.BigEndian.Uint32(fr.buf[fr.start:])
	return uint64(size) <= uint64(fr.end-fr.start)
}
