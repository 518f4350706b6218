package protocol

import (
	"bytes"
	"testing"
)

// benchMessage is a ~1 KiB message as a broker sees it: header, message
// annotations, properties, application properties and a data body.
func benchMessage(b *testing.B) []byte {
	raw, err := (&Header{Durable: true, Priority: 4}).Append(nil)
	must(b, err)
	raw, err = AppendMessageAnnotations(raw, Map{
		{Key: Symbol("x-opt-partition-key"), Value: "p1"},
		{Key: Symbol("x-opt-sequence-number"), Value: int64(12345)},
		{Key: Symbol("traceparent"), Value: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
	})
	must(b, err)
	raw, err = testProperties.Append(raw)
	must(b, err)
	raw, err = AppendApplicationProperties(raw, Map{
		{Key: "color", Value: "red"}, {Key: "size", Value: int64(42)}, {Key: "region", Value: "eu-west-1"},
		{Key: "priority", Value: true}, {Key: "tenant", Value: "acme"},
	})
	must(b, err)
	return AppendDataSection(raw, bytes.Repeat([]byte{'x'}, 1024-len(raw)-5))
}

func must(b *testing.B, err error) {
	if err != nil {
		b.Fatal(err)
	}
}

func BenchmarkTransferDecodeBody(b *testing.B) {
	tr := &Transfer{Handle: 1, DeliveryID: Some[uint32](4294967290), DeliveryTag: []byte("12345678"),
		MessageFormat: Some[uint32](0), Settled: Some(false)}
	frame, err := AppendTransferFrame(nil, 1, tr, benchMessage(b))
	must(b, err)
	body := frame[8:]
	var t Transfer
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := t.DecodeBody(body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseMessage(b *testing.B) {
	raw := benchMessage(b)
	var m Message
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if err := ParseMessage(raw, &m); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendMessageForDelivery(b *testing.B) {
	raw := benchMessage(b)
	var m Message
	must(b, ParseMessage(raw, &m))
	h := m.Header
	h.DeliveryCount = 1
	extra := Map{{Key: Symbol("x-exchange"), Value: "amq.topic"}, {Key: Symbol("x-routing-key"), Value: "orders.eu"}}
	dst := make([]byte, 0, 2048)
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := AppendMessageForDelivery(dst, &m, &h, extra); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendFrame(b *testing.B) {
	payload := benchMessage(b)
	tr := &Transfer{Handle: 1, DeliveryID: Some[uint32](4294967290), DeliveryTag: []byte("12345678"),
		MessageFormat: Some[uint32](0), Settled: Some(false)}
	flow := &Flow{NextIncomingID: Some[uint32](1), IncomingWindow: 5000, NextOutgoingID: 1, OutgoingWindow: 5000,
		Handle: Some[uint32](0), DeliveryCount: Some[uint32](1), LinkCredit: Some[uint32](100)}
	disp := &Disposition{Role: RoleReceiver, First: 1, Last: Some[uint32](100), Settled: true, State: &Accepted{}}
	buf := make([]byte, 0, 2048)

	b.Run("transfer", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := AppendTransferFrame(buf, 1, tr, payload); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("flow", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := AppendFrame(buf, 1, flow); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("disposition", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := AppendFrame(buf, 1, disp); err != nil {
				b.Fatal(err)
			}
		}
	})
}
