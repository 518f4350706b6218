package protocol

import (
	"bytes"
	"testing"
)

func FuzzDecodeFrameBody(f *testing.F) {
	for _, p := range performatives() {
		b, err := p.Append(nil)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	tr, err := (&Transfer{Handle: 1, DeliveryID: Some[uint32](1), DeliveryTag: []byte{1}, Settled: Some(true)}).Append(nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(AppendDataSection(tr, []byte("payload")))
	f.Add(append(AppendSymbolDescriptor(nil, "amqp:open:list"), 0xc0, 0x04, 0x01, 0xa1, 0x01, 'c'))

	var arena FrameArena // one for the whole fuzz run: values taken before must not change
	var fromArena []Performative
	var fromArenaEnc [][]byte
	f.Fuzz(func(t *testing.T, body []byte) {
		p, payload, err := DecodeFrameBody(body)
		// A clone: decoded values alias their input, and the fuzzer reuses body's memory.
		ap, apayload, aerr := arena.DecodeFrameBody(bytes.Clone(body))
		if (err == nil) != (aerr == nil) || !bytes.Equal(payload, apayload) {
			t.Fatalf("the arena decodes differently: %v / %v", err, aerr)
		}
		if err != nil || p == nil {
			return
		}
		if len(fromArena) < 64 { // what the arena handed out earlier still encodes the same
			enc, err := ap.Append(nil)
			if err != nil {
				t.Fatal(err)
			}
			fromArena, fromArenaEnc = append(fromArena, ap), append(fromArenaEnc, enc)
		}
		for i, q := range fromArena {
			if enc, _ := q.Append(nil); !bytes.Equal(enc, fromArenaEnc[i]) {
				t.Fatalf("an earlier arena value changed: %x != %x", enc, fromArenaEnc[i])
			}
		}
		// Whatever decodes re-encodes, and re-encoding is stable after one
		// normalisation (defaults written explicitly in the input are omitted).
		b1, err := p.Append(nil)
		if err != nil {
			t.Fatalf("decoded %#v but cannot encode it: %v", p, err)
		}
		p2, payload2, err := DecodeFrameBody(append(bytes.Clone(b1), payload...))
		if err != nil {
			t.Fatalf("re-encoded %x does not decode: %v", b1, err)
		}
		if !bytes.Equal(payload, payload2) {
			t.Fatalf("payload changed: %x != %x", payload, payload2)
		}
		b2, err := p2.Append(nil)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b1, b2) {
			t.Fatalf("encoding not stable:\n%x\n%x", b1, b2)
		}
	})
}

func FuzzParseMessage(f *testing.F) {
	for i, s := range allSectionSets() {
		if i%5 == 0 {
			f.Add(buildMessage(f, s).raw)
		}
	}
	f.Add(append(AppendSymbolDescriptor(nil, "amqp:data:binary"), 0xa0, 0x01, 'x'))

	extra := Map{{Key: Symbol("x-exchange"), Value: "amq.topic"}, {Key: uint64(5), Value: "n"}}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var m Message
		if err := ParseMessage(raw, &m); err != nil {
			return
		}
		h := m.Header
		h.DeliveryCount++
		for _, tc := range []struct {
			h     *Header
			extra Map
		}{{nil, nil}, {&h, extra}} {
			out, err := AppendMessageForDelivery(nil, &m, tc.h, tc.extra)
			if err != nil {
				t.Fatalf("AppendMessageForDelivery: %v", err)
			}
			var m2 Message
			if err := ParseMessage(out, &m2); err != nil {
				t.Fatalf("re-parse of %x: %v", out, err)
			}
			if !bytes.Equal(m.BareMessage(), m2.BareMessage()) {
				t.Fatalf("bare message changed")
			}
			if !bytes.Equal(raw[m.FooterSpan.Start:m.FooterSpan.End], out[m2.FooterSpan.Start:m2.FooterSpan.End]) {
				t.Fatalf("footer changed")
			}
			if m2.DeliveryAnnotationsSpan.Present() {
				t.Fatalf("delivery-annotations kept")
			}
		}
	})
}
