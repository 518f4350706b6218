package protocol

import (
	"testing"
)

func benchMap4() Map {
	return Map{
		{Key: Symbol("x-opt-jms-dest"), Value: uint8(1)},
		{Key: Symbol("x-opt-to"), Value: "queue://orders"},
		{Key: Symbol("x-opt-delivery-count"), Value: uint32(3)},
		{Key: Symbol("x-opt-enqueued-time"), Value: int64(1311704463521)},
	}
}

func BenchmarkEncode(b *testing.B) {
	buf := make([]byte, 0, 1024)
	m := benchMap4()
	b.Run("ulong", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			buf = AppendUlong(buf[:0], 1<<40)
		}
	})
	b.Run("string", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			buf = AppendString(buf[:0], "queue://orders/eu-west")
		}
	})
	b.Run("symbol", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			buf = AppendSymbol(buf[:0], "amqp:accepted:list")
		}
	})
	b.Run("map4", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var err error
			if buf, err = AppendMap(buf[:0], m); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkDecode(b *testing.B) {
	ulong := AppendUlong(nil, 1<<40)
	str := AppendString(nil, "queue://orders/eu-west")
	sym := AppendSymbol(nil, "amqp:accepted:list")
	m, err := AppendMap(nil, benchMap4())
	if err != nil {
		b.Fatal(err)
	}
	var d Decoder
	b.Run("ulong", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			d.Reset(ulong)
			if _, err := d.ReadUlong(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("string", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			d.Reset(str)
			if _, err := d.ReadString(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("symbol", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			d.Reset(sym)
			if _, err := d.ReadSymbol(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("map4", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			d.Reset(m)
			if _, err := d.ReadMap(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("skip-map4", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			d.Reset(m)
			if err := d.Skip(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkReadFrame(b *testing.B) {
	const frameSize = 1024
	var stream []byte
	for range 64 {
		stream = testFrame{typ: FrameTypeAMQP, channel: 1, body: make([]byte, frameSize-frameHeaderSize)}.append(stream)
	}
	fr := NewFrameReader(&loopReader{data: stream, chunk: 16 << 10}, 1<<16)
	b.SetBytes(frameSize)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := fr.ReadFrame(); err != nil {
			b.Fatal(err)
		}
	}
}
