package protocol

// Encoders for the message sections that are not composites (spec 3.2), for
// clients and tests building messages. Header and Properties sections are
// written by (*Header).Append and (*Properties).Append. Sections must be
// appended in the order of spec 3.2 (see ParseMessage).

// AppendDeliveryAnnotations appends a delivery-annotations section (spec 3.2.2).
func AppendDeliveryAnnotations(b []byte, m Map) ([]byte, error) {
	return appendMapSection(b, DescriptorDeliveryAnnotations, m)
}

// AppendMessageAnnotations appends a message-annotations section (spec 3.2.3).
// Keys should be symbols (or ulongs); "x-opt-" prefixes are for
// non-standard annotations.
func AppendMessageAnnotations(b []byte, m Map) ([]byte, error) {
	return appendMapSection(b, DescriptorMessageAnnotations, m)
}

// AppendApplicationProperties appends an application-properties section
// (spec 3.2.5): string keys, values of simple types.
func AppendApplicationProperties(b []byte, m Map) ([]byte, error) {
	return appendMapSection(b, DescriptorApplicationProperties, m)
}

// AppendFooter appends a footer section (spec 3.2.10).
func AppendFooter(b []byte, m Map) ([]byte, error) {
	return appendMapSection(b, DescriptorFooter, m)
}

// AppendDataSection appends a data section: opaque binary application data
// (spec 3.2.6). A body may be several data sections in a row.
func AppendDataSection(b []byte, data []byte) []byte {
	return AppendBinary(AppendDescriptor(b, DescriptorData), data)
}

// AppendAmqpSequenceSection appends an amqp-sequence section: a list of AMQP
// values (spec 3.2.7). A body may be several amqp-sequence sections in a row.
func AppendAmqpSequenceSection(b []byte, l []any) ([]byte, error) {
	start := len(b)
	b, err := AppendList(AppendDescriptor(b, DescriptorAmqpSequence), l)
	if err != nil {
		return b[:start], err
	}
	return b, nil
}

// AppendAmqpValueSection appends an amqp-value section: a single AMQP value
// as the whole body (spec 3.2.8).
func AppendAmqpValueSection(b []byte, v any) ([]byte, error) {
	start := len(b)
	b, err := AppendAny(AppendDescriptor(b, DescriptorAmqpValue), v)
	if err != nil {
		return b[:start], err
	}
	return b, nil
}

func appendMapSection(b []byte, code uint64, m Map) ([]byte, error) {
	start := len(b)
	b, err := AppendMap(AppendDescriptor(b, code), m)
	if err != nil {
		return b[:start], err
	}
	return b, nil
}
