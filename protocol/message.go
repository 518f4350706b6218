package protocol

import "encoding/binary"

// The message format (spec 3.2), read the way a broker needs it: the sections
// are located by offset, the routing-relevant ones decoded, and the body never
// decoded or copied, so a message crosses the broker without re-encoding.
//
//	header? delivery-annotations? message-annotations? properties?
//	application-properties? (data+ | amqp-sequence+ | amqp-value)? footer?
//
// The bare message (properties, application-properties and body) is immutable
// (spec 3.2); header, delivery-annotations, message-annotations and footer form
// the annotated message around it.

// Span is the byte range [Start, End) of a section in Message.Raw. A zero
// Span means the section is absent.
type Span struct {
	Start, End int
}

// Present reports whether the section exists (an encoded section is never empty).
func (s Span) Present() bool { return s.End > s.Start }

// Message is a parsed AMQP message. Raw holds every section; the spans locate
// them in Raw. ParseMessage aliases Raw and the decoded fields, so they share
// its lifetime; it never copies the body.
type Message struct {
	Raw []byte // the whole encoded message: all sections

	HeaderSpan                Span
	DeliveryAnnotationsSpan   Span
	MessageAnnotationsSpan    Span
	PropertiesSpan            Span
	ApplicationPropertiesSpan Span
	BodySpan                  Span // all body sections: data+, amqp-sequence+ or one amqp-value
	FooterSpan                Span

	Header                Header // the header's defaults when there is none (HasHeader false)
	HasHeader             bool
	Properties            Properties // zero when there is no properties section
	MessageAnnotations    Map        // keys are Symbol or uint64 (spec 3.2.10)
	ApplicationProperties Map        // keys are strings (spec 3.2.5)
}

// Section order ranks (spec 3.2). Body sections share a rank and may repeat.
const (
	rankHeader = iota
	rankDeliveryAnnotations
	rankMessageAnnotations
	rankProperties
	rankApplicationProperties
	rankBody
	rankFooter
)

func sectionRank(code uint64) (int, bool) {
	switch code {
	case DescriptorHeader:
		return rankHeader, true
	case DescriptorDeliveryAnnotations:
		return rankDeliveryAnnotations, true
	case DescriptorMessageAnnotations:
		return rankMessageAnnotations, true
	case DescriptorProperties:
		return rankProperties, true
	case DescriptorApplicationProperties:
		return rankApplicationProperties, true
	case DescriptorData, DescriptorAmqpSequence, DescriptorAmqpValue:
		return rankBody, true
	case DescriptorFooter:
		return rankFooter, true
	}
	return 0, false
}

// ParseMessage parses raw (the concatenated payload of a delivery's transfers)
// into m, reusing m. It checks the section order of spec 3.2: each section at
// most once and in order, and a body made of data sections only, of
// amqp-sequence sections only, or of a single amqp-value. Any violation is a
// *DecodeError.
//
// Header, properties, message-annotations and application-properties are
// decoded; delivery-annotations, the body and the footer are only checked for
// their outer type and skipped.
//
// A message without a body section is accepted although spec 3.2 requires
// one: some clients send a message made of properties only, and the broker
// passes it on unchanged. A message without any section of the bare message
// (no properties, application-properties or body) is rejected: there would be
// nothing to deliver.
func ParseMessage(raw []byte, m *Message) error {
	*m = Message{Raw: raw, Header: Header{Priority: 4}}
	var d Decoder
	d.Reset(raw)
	rank := -1
	var bodyCode uint64
	for d.Len() > 0 {
		start := d.Pos()
		code, err := peekDescriptorCode(&d)
		if err != nil {
			return err
		}
		r, ok := sectionRank(code)
		if !ok {
			return &DecodeError{Offset: start, Msg: descriptorName(code) + " is not a message section"}
		}
		switch {
		case r < rank || (r == rank && r != rankBody):
			return &DecodeError{Offset: start, Msg: descriptorName(code) + " is out of order or repeated"}
		case r == rankBody && bodyCode != 0 && (code != bodyCode || code == DescriptorAmqpValue):
			return &DecodeError{Offset: start, Msg: "body mixes " + descriptorName(bodyCode) + " with " + descriptorName(code)}
		}
		rank = r
		switch code {
		case DescriptorHeader:
			err = m.Header.Decode(&d)
			m.HasHeader = true
		case DescriptorProperties:
			err = m.Properties.Decode(&d)
		case DescriptorMessageAnnotations:
			m.MessageAnnotations, err = readMapSection(&d)
		case DescriptorApplicationProperties:
			m.ApplicationProperties, err = readMapSection(&d)
		case DescriptorDeliveryAnnotations, DescriptorFooter:
			err = skipSection(&d, TypeMap8, TypeMap32, TypeNull)
		case DescriptorData:
			err = skipSection(&d, TypeVbin8, TypeVbin32)
		case DescriptorAmqpSequence:
			err = skipSection(&d, TypeList0, TypeList8, TypeList32)
		case DescriptorAmqpValue:
			err = skipSection(&d)
		}
		if err != nil {
			return err
		}
		span := Span{Start: start, End: d.Pos()}
		switch r {
		case rankHeader:
			m.HeaderSpan = span
		case rankDeliveryAnnotations:
			m.DeliveryAnnotationsSpan = span
		case rankMessageAnnotations:
			m.MessageAnnotationsSpan = span
		case rankProperties:
			m.PropertiesSpan = span
		case rankApplicationProperties:
			m.ApplicationPropertiesSpan = span
		case rankBody:
			if bodyCode == 0 {
				m.BodySpan.Start = start
				bodyCode = code
			}
			m.BodySpan.End = span.End
		case rankFooter:
			m.FooterSpan = span
		}
	}
	if !m.PropertiesSpan.Present() && !m.ApplicationPropertiesSpan.Present() && !m.BodySpan.Present() {
		return &DecodeError{Offset: len(raw), Msg: "message has no properties, application-properties or body"}
	}
	return nil
}

// readMapSection reads a section whose value is a map (annotations,
// application-properties); a null value reads as an empty map.
func readMapSection(d *Decoder) (Map, error) {
	if _, err := readDescriptorCode(d); err != nil {
		return nil, err
	}
	if null, err := d.ReadNull(); err != nil || null {
		return nil, err
	}
	return d.ReadMap()
}

// skipSection skips a section after checking its value's constructor is one
// of allowed (any constructor when allowed is empty). It does not allocate.
func skipSection(d *Decoder, allowed ...byte) error {
	if _, err := readDescriptorCode(d); err != nil {
		return err
	}
	if len(allowed) > 0 {
		start := d.Pos()
		c, err := d.PeekCode()
		if err != nil {
			return err
		}
		ok := false
		for _, a := range allowed {
			ok = ok || c == a
		}
		if !ok {
			return &DecodeError{Offset: start, Msg: "unexpected constructor in message section"}
		}
	}
	return d.Skip()
}

// BareMessage returns the bare message (spec 3.2): the bytes from the
// properties section to the end of the body, which no intermediary may
// change. It aliases Raw; it is empty when the message has none of these
// sections.
func (m *Message) BareMessage() []byte {
	start, end := -1, 0
	for _, s := range [...]Span{m.PropertiesSpan, m.ApplicationPropertiesSpan, m.BodySpan} {
		if s.Present() {
			if start < 0 {
				start = s.Start
			}
			end = s.End
		}
	}
	if start < 0 {
		return nil
	}
	return m.Raw[start:end]
}

// AppendMessageForDelivery appends m as the broker delivers it:
//
//   - the header h when h is not nil, else the original header bytes, if any;
//   - no delivery-annotations: they are addressed to the next hop only and are
//     consumed here (spec 3.2.2);
//   - the message-annotations with the entries of extra merged in: original
//     entries whose key is in extra are dropped, the others are copied as raw
//     bytes, then the entries of extra follow (without extra, the original
//     section's bytes are copied unchanged);
//   - the original bytes from the properties section (or whichever section
//     comes first after the annotations) to the end, byte for byte.
//
// The body is never decoded. It does not allocate when dst has the capacity.
// dst must not overlap m.Raw. Annotation keys are symbols or ulongs (spec
// 3.2.10); keys of extra of other types never match an original entry.
func AppendMessageForDelivery(dst []byte, m *Message, h *Header, extra Map) ([]byte, error) {
	start := len(dst)
	var err error
	switch {
	case h != nil:
		if dst, err = h.Append(dst); err != nil {
			return dst[:start], err
		}
	case m.HeaderSpan.Present():
		dst = append(dst, m.Raw[m.HeaderSpan.Start:m.HeaderSpan.End]...)
	}
	var annotations []byte
	if m.MessageAnnotationsSpan.Present() {
		annotations = m.Raw[m.MessageAnnotationsSpan.Start:m.MessageAnnotationsSpan.End]
	}
	if len(extra) == 0 {
		dst = append(dst, annotations...)
	} else if dst, err = appendMergedAnnotations(dst, annotations, extra); err != nil {
		return dst[:start], err
	}
	rest := len(m.Raw)
	for _, s := range [...]Span{m.PropertiesSpan, m.ApplicationPropertiesSpan, m.BodySpan, m.FooterSpan} {
		if s.Present() {
			rest = s.Start
			break
		}
	}
	return append(dst, m.Raw[rest:]...), nil
}

// appendMergedAnnotations appends a message-annotations section holding the
// entries of the encoded section (nil for none) whose keys are not in extra,
// copied as raw bytes, followed by the entries of extra.
func appendMergedAnnotations(dst, section []byte, extra Map) ([]byte, error) {
	dst = AppendDescriptor(dst, DescriptorMessageAnnotations)
	dst, mark := BeginMap(dst)
	count := 0
	if len(section) > 0 {
		entries, n, err := mapEntries(section)
		if err != nil {
			return dst, err
		}
		var d Decoder
		d.Reset(entries)
		for range n / 2 {
			k := d.Pos()
			if err := d.Skip(); err != nil {
				return dst, err
			}
			v := d.Pos()
			if err := d.Skip(); err != nil {
				return dst, err
			}
			if !rawKeyIn(entries[k:v], extra) {
				dst = append(dst, entries[k:d.Pos()]...)
				count += 2
			}
		}
	}
	for _, e := range extra {
		var err error
		if dst, err = AppendAny(dst, e.Key); err != nil {
			return dst, err
		}
		if dst, err = AppendAny(dst, e.Value); err != nil {
			return dst, err
		}
		count += 2
	}
	return EndMap(dst, mark, count), nil
}

// mapEntries returns the encoded entries of the map held by an encoded
// section (descriptor + map or null) and the number of keys plus values.
func mapEntries(section []byte) (entries []byte, count int, err error) {
	var d Decoder
	d.Reset(section)
	if _, err := readDescriptorCode(&d); err != nil {
		return nil, 0, err
	}
	p := d.Pos()
	bad := func() error { return &DecodeError{Offset: p, Msg: "message-annotations: not a map"} }
	if p >= len(section) {
		return nil, 0, bad()
	}
	// Map encodings, spec 1.6.23: map8 = 0xc1 size:1 count:1, map32 = 0xd1 size:4 count:4.
	var size, hdr int
	switch section[p] {
	case TypeNull:
		return nil, 0, nil
	case TypeMap8:
		if p+3 > len(section) {
			return nil, 0, bad()
		}
		size, count, hdr = int(section[p+1]), int(section[p+2]), 3
		size--
	case TypeMap32:
		if p+9 > len(section) {
			return nil, 0, bad()
		}
		size = int(binary.BigEndian.Uint32(section[p+1:]))
		count = int(binary.BigEndian.Uint32(section[p+5:]))
		hdr = 9
		size -= 4
	default:
		return nil, 0, bad()
	}
	if size < 0 || size > len(section)-p-hdr || count%2 != 0 {
		return nil, 0, bad()
	}
	return section[p+hdr : p+hdr+size], count, nil
}

// rawKeyIn reports whether the encoded key raw equals one of the keys of m.
// It recognises symbol, string and ulong encodings without allocating.
func rawKeyIn(raw []byte, m Map) bool {
	for _, e := range m {
		if rawKeyEqual(raw, e.Key) {
			return true
		}
	}
	return false
}

func rawKeyEqual(raw []byte, key any) bool {
	switch k := key.(type) {
	case Symbol:
		b, ok := rawVariable(raw, TypeSym8, TypeSym32)
		return ok && string(b) == string(k)
	case string:
		b, ok := rawVariable(raw, TypeStr8, TypeStr32)
		return ok && string(b) == k
	case uint64:
		v, ok := rawUlong(raw)
		return ok && v == k
	}
	return false
}

// rawVariable returns the payload of a variable-width encoding (spec 1.6:
// one-byte or four-byte length prefix) with the given constructors.
func rawVariable(raw []byte, code8, code32 byte) ([]byte, bool) {
	switch {
	case len(raw) >= 2 && raw[0] == code8 && int(raw[1]) == len(raw)-2:
		return raw[2:], true
	case len(raw) >= 5 && raw[0] == code32 && int64(binary.BigEndian.Uint32(raw[1:])) == int64(len(raw)-5):
		return raw[5:], true
	}
	return nil, false
}

func rawUlong(raw []byte) (uint64, bool) {
	switch {
	case len(raw) == 1 && raw[0] == TypeUlong0:
		return 0, true
	case len(raw) == 2 && raw[0] == TypeSmallUlong:
		return uint64(raw[1]), true
	case len(raw) == 9 && raw[0] == TypeUlong:
		return binary.BigEndian.Uint64(raw[1:]), true
	}
	return 0, false
}
