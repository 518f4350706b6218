package protocol

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	bodyNone = iota
	bodyData
	bodySequence
	bodyValue
)

// sectionSet chooses which sections a test message has.
type sectionSet struct {
	header, deliveryAnnotations, messageAnnotations, properties, applicationProperties, footer bool
	body                                                                                       int
}

func (s sectionSet) String() string {
	return fmt.Sprintf("h%v-da%v-ma%v-p%v-ap%v-body%d-f%v", b2i(s.header), b2i(s.deliveryAnnotations),
		b2i(s.messageAnnotations), b2i(s.properties), b2i(s.applicationProperties), s.body, b2i(s.footer))
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

var (
	testHeader     = Header{Durable: true, Priority: 7, TTL: Some[uint32](60000), DeliveryCount: 2}
	testProperties = Properties{MessageID: "id-1", To: Some("/queues/q"), Subject: Some("key"),
		ContentType: "application/json", CreationTime: Some(time.UnixMilli(1_700_000_000_000).UTC())}
	testDA = Map{{Key: Symbol("x-opt-hop"), Value: "next"}}
	testMA = Map{{Key: Symbol("x-opt-a"), Value: int64(1)}, {Key: Symbol("x-exchange"), Value: "old"},
		{Key: uint64(5), Value: "n"}}
	testAP     = Map{{Key: "color", Value: "red"}, {Key: "n", Value: int32(3)}}
	testFooter = Map{{Key: Symbol("x-hash"), Value: []byte{1, 2}}}
)

// builtMessage is an encoded message with the expected span of each section.
type builtMessage struct {
	raw                                     []byte
	header, da, ma, props, ap, body, footer Span
}

func buildMessage(t testing.TB, s sectionSet) builtMessage {
	var m builtMessage
	var b []byte
	var err error
	add := func(sp *Span, f func() ([]byte, error)) {
		start := len(b)
		b, err = f()
		require.NoError(t, err)
		*sp = Span{Start: start, End: len(b)}
	}
	if s.header {
		add(&m.header, func() ([]byte, error) { return testHeader.Append(b) })
	}
	if s.deliveryAnnotations {
		add(&m.da, func() ([]byte, error) { return AppendDeliveryAnnotations(b, testDA) })
	}
	if s.messageAnnotations {
		add(&m.ma, func() ([]byte, error) { return AppendMessageAnnotations(b, testMA) })
	}
	if s.properties {
		add(&m.props, func() ([]byte, error) { return testProperties.Append(b) })
	}
	if s.applicationProperties {
		add(&m.ap, func() ([]byte, error) { return AppendApplicationProperties(b, testAP) })
	}
	switch s.body {
	case bodyData:
		add(&m.body, func() ([]byte, error) {
			return AppendDataSection(AppendDataSection(b, []byte("part one ")), bytes.Repeat([]byte{'x'}, 300)), nil
		})
	case bodySequence:
		add(&m.body, func() ([]byte, error) {
			b, err := AppendAmqpSequenceSection(b, []any{"a", int64(1)})
			if err != nil {
				return nil, err
			}
			return AppendAmqpSequenceSection(b, []any{true})
		})
	case bodyValue:
		add(&m.body, func() ([]byte, error) { return AppendAmqpValueSection(b, Map{{Key: "k", Value: "v"}}) })
	}
	if s.footer {
		add(&m.footer, func() ([]byte, error) { return AppendFooter(b, testFooter) })
	}
	m.raw = b
	return m
}

func allSectionSets() []sectionSet {
	var out []sectionSet
	for mask := range 1 << 6 {
		for body := bodyNone; body <= bodyValue; body++ {
			s := sectionSet{
				header: mask&1 != 0, deliveryAnnotations: mask&2 != 0, messageAnnotations: mask&4 != 0,
				properties: mask&8 != 0, applicationProperties: mask&16 != 0, footer: mask&32 != 0, body: body,
			}
			if mask&(8|16) == 0 && body == bodyNone {
				continue // no bare message: rejected, see TestParseMessageOrderErrors
			}
			out = append(out, s)
		}
	}
	return out
}

func spanBytes(raw []byte, s Span) []byte { return raw[s.Start:s.End] }

func TestParseMessageAllSectionCombinations(t *testing.T) {
	for _, s := range allSectionSets() {
		t.Run(s.String(), func(t *testing.T) {
			bm := buildMessage(t, s)
			var m Message
			require.NoError(t, ParseMessage(bm.raw, &m))
			assert.Equal(t, bm.header, m.HeaderSpan)
			assert.Equal(t, bm.da, m.DeliveryAnnotationsSpan)
			assert.Equal(t, bm.ma, m.MessageAnnotationsSpan)
			assert.Equal(t, bm.props, m.PropertiesSpan)
			assert.Equal(t, bm.ap, m.ApplicationPropertiesSpan)
			assert.Equal(t, bm.body, m.BodySpan)
			assert.Equal(t, bm.footer, m.FooterSpan)

			assert.Equal(t, s.header, m.HasHeader)
			if s.header {
				assert.Equal(t, testHeader, m.Header)
			} else {
				assert.Equal(t, Header{Priority: 4}, m.Header)
			}
			if s.properties {
				assert.Equal(t, testProperties, m.Properties)
			} else {
				assert.Equal(t, Properties{}, m.Properties)
			}
			if s.messageAnnotations {
				assert.Equal(t, testMA, m.MessageAnnotations)
			} else {
				assert.Nil(t, m.MessageAnnotations)
			}
			if s.applicationProperties {
				assert.Equal(t, testAP, m.ApplicationProperties)
			} else {
				assert.Nil(t, m.ApplicationProperties)
			}

			// The bare message: properties, application-properties and body, contiguous.
			var bare []byte
			for _, sp := range []Span{bm.props, bm.ap, bm.body} {
				bare = append(bare, spanBytes(bm.raw, sp)...)
			}
			assert.Equal(t, bare, m.BareMessage())

			// Delivered unchanged but for the delivery-annotations, which are dropped.
			out, err := AppendMessageForDelivery(nil, &m, nil, nil)
			require.NoError(t, err)
			var want []byte
			for _, sp := range []Span{bm.header, bm.ma, bm.props, bm.ap, bm.body, bm.footer} {
				want = append(want, spanBytes(bm.raw, sp)...)
			}
			assert.Equal(t, want, out)

			// With a new header and extra annotations: bare message and footer byte for byte.
			h := Header{Durable: true, Priority: 4, FirstAcquirer: true, DeliveryCount: 9}
			extra := Map{{Key: Symbol("x-exchange"), Value: "amq.topic"}, {Key: Symbol("x-routing-key"), Value: "a.b"}}
			out, err = AppendMessageForDelivery([]byte("prefix"), &m, &h, extra)
			require.NoError(t, err)
			require.Equal(t, []byte("prefix"), out[:6])
			var m2 Message
			require.NoError(t, ParseMessage(out[6:], &m2))
			assert.Equal(t, h, m2.Header)
			assert.True(t, m2.HasHeader)
			assert.False(t, m2.DeliveryAnnotationsSpan.Present())
			assert.Equal(t, m.BareMessage(), m2.BareMessage())
			assert.Equal(t, spanBytes(bm.raw, bm.footer), spanBytes(m2.Raw, m2.FooterSpan))
			v, ok := m2.MessageAnnotations.Get(Symbol("x-routing-key"))
			assert.True(t, ok)
			assert.Equal(t, "a.b", v)
			v, _ = m2.MessageAnnotations.Get(Symbol("x-exchange"))
			assert.Equal(t, "amq.topic", v)
		})
	}
}

func TestAppendMessageForDeliveryReplacesAnnotations(t *testing.T) {
	bm := buildMessage(t, sectionSet{header: true, deliveryAnnotations: true, messageAnnotations: true, properties: true, body: bodyData})
	var m Message
	require.NoError(t, ParseMessage(bm.raw, &m))

	extra := Map{
		{Key: Symbol("x-exchange"), Value: "new"},
		{Key: uint64(5), Value: "m"},
		{Key: Symbol("x-routing-key"), Value: "k"},
	}
	out, err := AppendMessageForDelivery(nil, &m, nil, extra)
	require.NoError(t, err)

	var m2 Message
	require.NoError(t, ParseMessage(out, &m2))
	// Unreplaced original entries first, in their order, then extra.
	assert.Equal(t, Map{
		{Key: Symbol("x-opt-a"), Value: int64(1)},
		{Key: Symbol("x-exchange"), Value: "new"},
		{Key: uint64(5), Value: "m"},
		{Key: Symbol("x-routing-key"), Value: "k"},
	}, m2.MessageAnnotations)
	assert.Equal(t, spanBytes(bm.raw, bm.header), spanBytes(out, m2.HeaderSpan), "original header kept")
	assert.Equal(t, m.BareMessage(), m2.BareMessage())
	assert.Equal(t, out[m2.PropertiesSpan.Start:], bm.raw[bm.props.Start:], "the rest is byte for byte")

	// Without annotations in the original, extra makes a new section.
	bm = buildMessage(t, sectionSet{properties: true, body: bodyValue})
	require.NoError(t, ParseMessage(bm.raw, &m))
	out, err = AppendMessageForDelivery(nil, &m, nil, extra)
	require.NoError(t, err)
	require.NoError(t, ParseMessage(out, &m2))
	assert.Equal(t, extra, m2.MessageAnnotations)
	assert.False(t, m2.HasHeader)
	assert.Equal(t, m.BareMessage(), m2.BareMessage())

	// An unsupported extra value is an error and leaves dst as it was.
	dst := []byte("keep")
	out, err = AppendMessageForDelivery(dst, &m, nil, Map{{Key: Symbol("k"), Value: struct{}{}}})
	require.Error(t, err)
	assert.Equal(t, []byte("keep"), out)
}

func TestAnnotationKeyEncodings(t *testing.T) {
	// Keys encoded in their wide forms (sym32, str32, ulong) still match extra.
	var ma []byte
	ma = AppendDescriptor(ma, DescriptorMessageAnnotations)
	ma, mark := BeginMap(ma)
	ma = append(ma, TypeSym32, 0, 0, 0, 1, 'a', TypeSmallUint, 1)
	ma = append(ma, TypeStr32, 0, 0, 0, 1, 'b', TypeSmallUint, 2)
	ma = append(ma, TypeUlong, 0, 0, 0, 0, 0, 0, 0, 7, TypeSmallUint, 3)
	ma = append(ma, TypeUlong0, TypeSmallUint, 4)
	ma = append(ma, TypeSym8, 1, 'z', TypeSmallUint, 5)
	ma = EndMap(ma, mark, 10)
	raw := AppendDataSection(ma, []byte("body"))

	var m Message
	require.NoError(t, ParseMessage(raw, &m))
	extra := Map{{Key: Symbol("a"), Value: "A"}, {Key: "b", Value: "B"}, {Key: uint64(7), Value: "7"}, {Key: uint64(0), Value: "0"}}
	out, err := AppendMessageForDelivery(nil, &m, nil, extra)
	require.NoError(t, err)
	var m2 Message
	require.NoError(t, ParseMessage(out, &m2))
	assert.Equal(t, append(Map{{Key: Symbol("z"), Value: uint32(5)}}, extra...), m2.MessageAnnotations)
}

func TestParseMessageOrderErrors(t *testing.T) {
	hdr, err := testHeader.Append(nil)
	require.NoError(t, err)
	props, err := testProperties.Append(nil)
	require.NoError(t, err)
	ma, err := AppendMessageAnnotations(nil, testMA)
	require.NoError(t, err)
	da, err := AppendDeliveryAnnotations(nil, testDA)
	require.NoError(t, err)
	ap, err := AppendApplicationProperties(nil, testAP)
	require.NoError(t, err)
	footer, err := AppendFooter(nil, testFooter)
	require.NoError(t, err)
	data := AppendDataSection(nil, []byte("d"))
	value, err := AppendAmqpValueSection(nil, "v")
	require.NoError(t, err)
	seq, err := AppendAmqpSequenceSection(nil, []any{"s"})
	require.NoError(t, err)
	open, err := (&Open{ContainerID: "c"}).Append(nil)
	require.NoError(t, err)
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

	cases := map[string][]byte{
		"empty":                  nil,
		"header only":            cat(hdr),
		"annotations only":       cat(hdr, da, ma, footer),
		"properties then header": cat(props, hdr),
		"header twice":           cat(hdr, hdr),
		"annotations twice":      cat(ma, ma, data),
		"ma before da":           cat(ma, da, data),
		"ap before properties":   cat(ap, props, data),
		"properties twice":       cat(props, props),
		"data then value":        cat(data, value),
		"value then data":        cat(value, data),
		"value twice":            cat(value, value),
		"data then sequence":     cat(data, seq),
		"footer then data":       cat(data, footer, data),
		"footer twice":           cat(data, footer, footer),
		"body then properties":   cat(data, props),
		"not a section":          cat(open),
		"not described":          {0x45},
		"trailing garbage":       cat(data, []byte{0x40}),
		"truncated":              data[:len(data)-1],
		"data not binary":        cat(AppendDescriptor(nil, DescriptorData), []byte{0xa1, 0x01, 'x'}),
		"sequence not list":      cat(AppendDescriptor(nil, DescriptorAmqpSequence), []byte{0x40}),
		"annotations not map":    cat(AppendDescriptor(nil, DescriptorMessageAnnotations), []byte{0x45}),
		"footer not map":         cat(data, AppendDescriptor(nil, DescriptorFooter), []byte{0x45}),
		"bad header":             cat(AppendDescriptor(nil, DescriptorHeader), []byte{0xc0, 0x02, 0x01, 0xa1}),
	}
	for name, raw := range cases {
		t.Run(name, func(t *testing.T) {
			var m Message
			err := ParseMessage(raw, &m)
			var de *DecodeError
			require.ErrorAs(t, err, &de, "got %v", err)
		})
	}
}

func TestParseMessageLenient(t *testing.T) {
	// A message of properties only (no body) is accepted and passes through.
	props, err := testProperties.Append(nil)
	require.NoError(t, err)
	var m Message
	require.NoError(t, ParseMessage(props, &m))
	assert.Equal(t, props, m.BareMessage())
	assert.False(t, m.BodySpan.Present())

	// Symbolic section descriptors and a null annotations map are accepted.
	raw := AppendSymbolDescriptor(nil, "amqp:message-annotations:map")
	raw = append(raw, TypeNull)
	raw = append(AppendSymbolDescriptor(raw, "amqp:data:binary"), 0xa0, 0x01, 'x')
	require.NoError(t, ParseMessage(raw, &m))
	assert.Nil(t, m.MessageAnnotations)
	assert.True(t, m.MessageAnnotationsSpan.Present())
	out, err := AppendMessageForDelivery(nil, &m, nil, Map{{Key: Symbol("k"), Value: "v"}})
	require.NoError(t, err)
	var m2 Message
	require.NoError(t, ParseMessage(out, &m2))
	assert.Equal(t, Map{{Key: Symbol("k"), Value: "v"}}, m2.MessageAnnotations)
	assert.Equal(t, m.BareMessage(), m2.BareMessage())
}

func TestAppendMessageForDeliveryAllocations(t *testing.T) {
	bm := buildMessage(t, sectionSet{header: true, deliveryAnnotations: true, messageAnnotations: true,
		properties: true, applicationProperties: true, body: bodyData})
	var m Message
	require.NoError(t, ParseMessage(bm.raw, &m))
	h := m.Header
	h.DeliveryCount++
	extra := Map{{Key: Symbol("x-exchange"), Value: "amq.topic"}, {Key: Symbol("x-routing-key"), Value: "a.b"}}
	dst := make([]byte, 0, 4096)
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := AppendMessageForDelivery(dst, &m, &h, extra); err != nil {
			t.Fatal(err)
		}
	})
	assert.Zero(t, allocs)
}
