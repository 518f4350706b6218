package protocol

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"
)

// FuzzDecodeAny: decoding arbitrary bytes never panics and fails only with a
// *DecodeError; whatever decodes re-encodes, and the re-encoding is stable
// (decode → encode → decode → encode gives the same bytes). Skip agrees with
// ReadAny on where the value ends.
func FuzzDecodeAny(f *testing.F) {
	for _, tc := range encodingCases() {
		f.Add(hexBytes(f, tc.hex))
	}
	f.Add(deepList32(MaxNestingDepth + 1))
	f.Add(hexBytes(f, "f0 00000005 00000fa0 40"))
	f.Add(hexBytes(f, "e0 06 01 00 a3 01 64 52 01"))
	f.Fuzz(func(t *testing.T, data []byte) {
		d := NewDecoder(data)
		v, err := d.ReadAny()
		if err != nil {
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("error %v is not a *DecodeError", err)
			}
			return
		}
		end := d.Pos()
		s := NewDecoder(data)
		if err := s.Skip(); err != nil || s.Pos() != end {
			t.Fatalf("Skip ended at %d (%v), ReadAny at %d", s.Pos(), err, end)
		}
		b1, err := AppendAny(nil, v)
		if err != nil {
			t.Fatalf("re-encoding %#v: %v", v, err)
		}
		d2 := NewDecoder(b1)
		v2, err := d2.ReadAny()
		if err != nil {
			t.Fatalf("decoding re-encoded % x: %v", b1, err)
		}
		if d2.Len() != 0 {
			t.Fatalf("re-encoding % x has %d trailing bytes", b1, d2.Len())
		}
		b2, err := AppendAny(nil, v2)
		if err != nil {
			t.Fatalf("re-encoding %#v: %v", v2, err)
		}
		if !bytes.Equal(b1, b2) {
			t.Fatalf("unstable encoding:\n% x\n% x", b1, b2)
		}
	})
}

// FuzzFrameReader: reading frames from arbitrary bytes never panics, fails
// only with a *FramingError or an EOF, and gives the same frames whether the
// input arrives in one read or byte by byte.
func FuzzFrameReader(f *testing.F) {
	f.Add(sampleStream())
	f.Add(AppendEmptyFrame(nil))
	f.Add(hexBytes(f, "80000000 02 00 0000 00"))
	f.Add(hexBytes(f, "00000007 02 00 0000"))
	f.Add(hexBytes(f, "0000000c 03 00 0000 00000000"))
	f.Fuzz(func(t *testing.T, data []byte) {
		whole := readFramesForFuzz(t, bytes.NewReader(data), len(data))
		split := readFramesForFuzz(t, iotest.OneByteReader(bytes.NewReader(data)), len(data))
		if len(whole) != len(split) {
			t.Fatalf("%d frames in one read, %d byte by byte", len(whole), len(split))
		}
		for i := range whole {
			if !bytes.Equal(whole[i], split[i]) {
				t.Fatalf("frame %d differs", i)
			}
		}
	})
}

// readFramesForFuzz returns each frame as its header fields plus body, and
// the terminating error kind as a final element.
func readFramesForFuzz(t *testing.T, r io.Reader, inputLen int) [][]byte {
	fr := NewFrameReader(r, 4096)
	var out [][]byte
	total := 0
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			var fe *FramingError
			switch {
			case errors.As(err, &fe):
				return append(out, []byte("framing"))
			case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
				return append(out, []byte(err.Error()))
			}
			t.Fatalf("unexpected error %v", err)
		}
		total += frameHeaderSize + len(f.Body)
		if total > inputLen || len(f.Body) > 4096 {
			t.Fatalf("frame bodies exceed the input or the max frame size")
		}
		out = append(out, append([]byte{f.Type, byte(f.Channel >> 8), byte(f.Channel)}, f.Body...))
	}
}
