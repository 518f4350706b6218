package protocol

import (
	"reflect"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// composite is what every generated type implements.
type composite interface {
	Append(b []byte) ([]byte, error)
	Decode(d *Decoder) error
}

var testError = &Error{Condition: ErrNotFound, Description: "no queue", Info: Map{{Key: Symbol("queue"), Value: "q1"}}}

// fullComposites holds one value of every composite type with every field set
// to a non-default value, so a round trip exercises every field.
func fullComposites() []composite {
	ts := time.UnixMilli(1_700_000_000_123).UTC()
	props := Map{{Key: Symbol("product"), Value: "Warren"}, {Key: Symbol("n"), Value: int64(-3)}}
	caps := []Symbol{"ANONYMOUS-RELAY", "cap2"}
	return []composite{
		&Open{ContainerID: "c1", Hostname: "h", MaxFrameSize: 65536, ChannelMax: 255, IdleTimeout: 30000,
			OutgoingLocales: []Symbol{"en-US"}, IncomingLocales: []Symbol{"fr"}, OfferedCapabilities: caps,
			DesiredCapabilities: []Symbol{"d"}, Properties: props},
		&Begin{RemoteChannel: Some[uint16](3), NextOutgoingID: 4294967291, IncomingWindow: 5000, OutgoingWindow: 6000,
			HandleMax: 1023, OfferedCapabilities: caps, DesiredCapabilities: caps, Properties: props},
		&Attach{Name: "link", Handle: 7, Role: RoleReceiver, SndSettleMode: SndSettled, RcvSettleMode: RcvSecond,
			Source: &Source{Address: Some("/queues/q"), Durable: DurabilityUnsettledState, ExpiryPolicy: ExpiryPolicyNever,
				Timeout: 60, Dynamic: true, DynamicNodeProperties: Map{{Key: Symbol("lifetime-policy"), Value: "x"}},
				DistributionMode: DistributionCopy, Filter: Map{{Key: Symbol("f"), Value: "s"}},
				DefaultOutcome: &Released{}, Outcomes: []Symbol{"amqp:accepted:list"}, Capabilities: caps},
			Target: &Target{Address: Some("/exchanges/x/k"), Durable: DurabilityConfiguration, ExpiryPolicy: ExpiryPolicyLinkDetach,
				Timeout: 5, Dynamic: true, DynamicNodeProperties: props, Capabilities: caps},
			Unsettled: Map{{Key: []byte{1}, Value: nil}}, IncompleteUnsettled: true, InitialDeliveryCount: Some[uint32](0),
			MaxMessageSize: 1 << 20, OfferedCapabilities: caps, DesiredCapabilities: caps, Properties: props},
		&Attach{Name: "txn", Handle: 1, Role: RoleSender, SndSettleMode: SndUnsettled,
			Coordinator: &Coordinator{Capabilities: []Symbol{"amqp:local-transactions"}}},
		&Flow{NextIncomingID: Some[uint32](1), IncomingWindow: 100, NextOutgoingID: 2, OutgoingWindow: 200, Handle: Some[uint32](0),
			DeliveryCount: Some[uint32](4294967295), LinkCredit: Some[uint32](0), Available: Some[uint32](9), Drain: true, Echo: true, Properties: props},
		&Transfer{Handle: 1, DeliveryID: Some[uint32](2), DeliveryTag: []byte("tag"), MessageFormat: Some[uint32](0),
			Settled: Some(false), More: true, RcvSettleMode: Some(RcvFirst), State: &Received{SectionNumber: 1, SectionOffset: 2},
			Resume: true, Aborted: true, Batchable: true},
		&Disposition{Role: RoleReceiver, First: 1, Last: Some[uint32](9), Settled: true, State: &Accepted{}, Batchable: true},
		&Detach{Handle: 3, Closed: true, Error: testError},
		&End{Error: testError},
		&Close{Error: testError},
		testError,
		&Header{Durable: true, Priority: 9, TTL: Some[uint32](1000), FirstAcquirer: true, DeliveryCount: 3},
		&Properties{MessageID: uint64(7), UserID: []byte("guest"), To: Some("/queues/q"), Subject: Some("s"),
			ReplyTo: Some("/queues/r"), CorrelationID: "corr", ContentType: "text/plain", ContentEncoding: "gzip",
			AbsoluteExpiryTime: Some(ts), CreationTime: Some(ts), GroupID: Some("g"), GroupSequence: Some[uint32](5),
			ReplyToGroupID: Some("rg")},
		&Received{SectionNumber: 3, SectionOffset: 1 << 40},
		&Accepted{},
		&Rejected{Error: testError},
		&Released{},
		&Modified{DeliveryFailed: true, UndeliverableHere: true, MessageAnnotations: props},
		&Source{Address: Some("q"), ExpiryPolicy: ExpiryPolicySessionEnd},
		&Target{Address: Some(""), ExpiryPolicy: ExpiryPolicySessionEnd},
		&SASLMechanisms{Mechanisms: []Symbol{"PLAIN", "ANONYMOUS"}},
		&SASLInit{Mechanism: "PLAIN", InitialResponse: []byte("\x00guest\x00guest"), Hostname: "localhost"},
		&SASLChallenge{Challenge: []byte("c")},
		&SASLResponse{Response: []byte("r")},
		&SASLOutcome{Code: SASLAuth, AdditionalData: []byte("a")},
		&Coordinator{Capabilities: []Symbol{"amqp:local-transactions"}},
		&Declare{GlobalID: []byte("g")},
		&Discharge{TxnID: []byte("t"), Fail: true},
		&Declared{TxnID: []byte("t")},
		&TransactionalState{TxnID: []byte("t"), Outcome: &Rejected{Error: testError}},
	}
}

func newLike(c composite) composite {
	return reflect.New(reflect.TypeOf(c).Elem()).Interface().(composite)
}

func TestCompositeRoundTrip(t *testing.T) {
	for _, c := range fullComposites() {
		t.Run(reflect.TypeOf(c).Elem().Name(), func(t *testing.T) {
			b, err := c.Append([]byte{0xff}) // appends after existing bytes
			require.NoError(t, err)
			require.Equal(t, byte(0xff), b[0])
			got := newLike(c)
			d := NewDecoder(b[1:])
			require.NoError(t, got.Decode(d))
			assert.Equal(t, c, got)
			assert.Zero(t, d.Len(), "decode consumed everything")
		})
	}
}

func TestCompositeRoundTripZeroValues(t *testing.T) {
	// Zero values round-trip to the decoded defaults of each type.
	want := map[string]composite{
		"Open":   &Open{MaxFrameSize: 4294967295},
		"Attach": &Attach{},
		"Header": &Header{Priority: 0},
		"Source": &Source{ExpiryPolicy: ExpiryPolicySessionEnd},
		"Target": &Target{ExpiryPolicy: ExpiryPolicySessionEnd},
	}
	for _, c := range fullComposites() {
		name := reflect.TypeOf(c).Elem().Name()
		t.Run(name, func(t *testing.T) {
			zero := newLike(c)
			b, err := zero.Append(nil)
			require.NoError(t, err)
			got := newLike(c)
			require.NoError(t, got.Decode(NewDecoder(b)))
			exp, ok := want[name]
			if !ok {
				exp = newLike(c)
			}
			// Mandatory nil slices encode as empty values and decode as empty.
			switch g := got.(type) {
			case *SASLMechanisms:
				assert.Empty(t, g.Mechanisms)
				return
			case *SASLChallenge:
				assert.Empty(t, g.Challenge)
				return
			case *SASLResponse:
				assert.Empty(t, g.Response)
				return
			case *Discharge, *Declared, *TransactionalState:
				return // txn-id is an empty binary
			}
			assert.Equal(t, exp, got)
		})
	}
}

func TestOpenDefaultsOmitted(t *testing.T) {
	want := []byte{0x00, 0x53, 0x10, 0xc0, 0x04, 0x01, 0xa1, 0x01, 'c'}
	for _, o := range []*Open{
		{ContainerID: "c", MaxFrameSize: 4294967295, ChannelMax: 65535},
		{ContainerID: "c", ChannelMax: 65535}, // max-frame-size 0 is not legal: encodes as the default
	} {
		b, err := o.Append(nil)
		require.NoError(t, err)
		assert.Equal(t, want, b)
	}

	var o Open
	require.NoError(t, o.Decode(NewDecoder(want)))
	assert.Equal(t, Open{ContainerID: "c", MaxFrameSize: 4294967295, ChannelMax: 65535}, o)

	// channel-max 0 is legal (one channel) and is encoded, not taken as the default.
	b, err := (&Open{ContainerID: "c"}).Append(nil)
	require.NoError(t, err)
	assert.Equal(t, []byte{0x00, 0x53, 0x10, 0xc0, 0x09, 0x04, 0xa1, 0x01, 'c', 0x40, 0x40, 0x60, 0x00, 0x00}, b)
}

func TestFlowEncoding(t *testing.T) {
	f := &Flow{NextIncomingID: Some[uint32](1), IncomingWindow: 100, NextOutgoingID: 1, OutgoingWindow: 100,
		Handle: Some[uint32](0), DeliveryCount: Some[uint32](0), LinkCredit: Some[uint32](10)}
	b, err := f.Append(nil)
	require.NoError(t, err)
	assert.Equal(t, []byte{
		0x00, 0x53, 0x13, 0xc0, 0x0d, 0x07,
		0x52, 0x01, // next-incoming-id: smalluint 1
		0x52, 0x64, // incoming-window: 100
		0x52, 0x01, // next-outgoing-id
		0x52, 0x64, // outgoing-window
		0x43,       // handle: uint0
		0x43,       // delivery-count
		0x52, 0x0a, // link-credit
	}, b)

	// A flow for the session only: handle absent, so the link fields are null.
	b, err = (&Flow{IncomingWindow: 1, NextOutgoingID: 2, OutgoingWindow: 3, Echo: true}).Append(nil)
	require.NoError(t, err)
	assert.Equal(t, []byte{0x00, 0x53, 0x13, 0xc0, 0x0e, 0x0a,
		0x40, 0x52, 0x01, 0x52, 0x02, 0x52, 0x03, 0x40, 0x40, 0x40, 0x40, 0x40, 0x41}, b)
}

func TestDefaultsAppliedOnDecode(t *testing.T) {
	// attach: name, handle, role only.
	b := []byte{0x00, 0x53, 0x12, 0xc0, 0x06, 0x03, 0xa1, 0x01, 'l', 0x43, 0x41}
	var a Attach
	require.NoError(t, a.Decode(NewDecoder(b)))
	assert.Equal(t, Attach{Name: "l", Role: RoleReceiver, SndSettleMode: SndMixed, RcvSettleMode: RcvFirst}, a)

	// Explicit nulls also take the defaults: begin with handle-max null.
	b = []byte{0x00, 0x53, 0x11, 0xc0, 0x06, 0x05, 0x40, 0x43, 0x43, 0x43, 0x40}
	var bg Begin
	require.NoError(t, bg.Decode(NewDecoder(b)))
	assert.Equal(t, Begin{HandleMax: 4294967295}, bg)

	// header: an empty list means priority 4.
	var h Header
	require.NoError(t, h.Decode(NewDecoder([]byte{0x00, 0x53, 0x70, 0x45})))
	assert.Equal(t, Header{Priority: 4}, h)
	hb, err := h.Append(nil)
	require.NoError(t, err)
	assert.Equal(t, []byte{0x00, 0x53, 0x70, 0x45}, hb)

	var s Source
	require.NoError(t, s.Decode(NewDecoder([]byte{0x00, 0x53, 0x28, 0x45})))
	assert.Equal(t, Source{ExpiryPolicy: ExpiryPolicySessionEnd}, s)
}

func TestSymbolicDescriptors(t *testing.T) {
	// open with a symbolic descriptor.
	b := AppendSymbolDescriptor(nil, "amqp:open:list")
	b = append(b, 0xc0, 0x04, 0x01, 0xa1, 0x01, 'c')
	var o Open
	require.NoError(t, o.Decode(NewDecoder(b)))
	assert.Equal(t, "c", o.ContainerID)

	code, err := PeekDescriptor(b)
	require.NoError(t, err)
	assert.Equal(t, DescriptorOpen, code)

	// disposition whose state is a symbolic accepted.
	b = AppendSymbolDescriptor(nil, "amqp:disposition:list")
	st := AppendSymbolDescriptor(nil, "amqp:accepted:list")
	st = append(st, 0x45)
	b = append(b, 0xc0, byte(1+4+len(st)), 0x05, 0x41, 0x43, 0x40, 0x41)
	b = append(b, st...)
	var disp Disposition
	require.NoError(t, disp.Decode(NewDecoder(b)))
	assert.Equal(t, Disposition{Role: RoleReceiver, Settled: true, State: &Accepted{}}, disp)

	// A ulong descriptor in its 8-byte form is accepted too.
	b = []byte{0x00, 0x80, 0, 0, 0, 0, 0, 0, 0, 0x18, 0x45}
	var c Close
	require.NoError(t, c.Decode(NewDecoder(b)))

	_, err = PeekDescriptor(AppendSymbolDescriptor(nil, "amqp:nonsense:list"))
	var de *DecodeError
	require.ErrorAs(t, err, &de)
}

func TestMandatoryFieldsRejected(t *testing.T) {
	cases := map[string]struct {
		in []byte
		c  composite
	}{
		"open list0":          {[]byte{0x00, 0x53, 0x10, 0x45}, &Open{}},
		"open null id":        {[]byte{0x00, 0x53, 0x10, 0xc0, 0x02, 0x01, 0x40}, &Open{}},
		"begin short":         {[]byte{0x00, 0x53, 0x11, 0xc0, 0x03, 0x02, 0x40, 0x43}, &Begin{}},
		"begin null window":   {[]byte{0x00, 0x53, 0x11, 0xc0, 0x05, 0x04, 0x40, 0x43, 0x40, 0x43}, &Begin{}},
		"attach no role":      {[]byte{0x00, 0x53, 0x12, 0xc0, 0x05, 0x02, 0xa1, 0x01, 'l', 0x43}, &Attach{}},
		"transfer no handle":  {[]byte{0x00, 0x53, 0x14, 0x45}, &Transfer{}},
		"disposition no role": {[]byte{0x00, 0x53, 0x15, 0xc0, 0x03, 0x02, 0x40, 0x43}, &Disposition{}},
		"detach no handle":    {[]byte{0x00, 0x53, 0x16, 0x45}, &Detach{}},
		"error no condition":  {[]byte{0x00, 0x53, 0x1d, 0x45}, &Error{}},
		"received short":      {[]byte{0x00, 0x53, 0x23, 0xc0, 0x02, 0x01, 0x43}, &Received{}},
		"mechanisms empty":    {[]byte{0x00, 0x53, 0x40, 0x45}, &SASLMechanisms{}},
		"outcome no code":     {[]byte{0x00, 0x53, 0x44, 0x45}, &SASLOutcome{}},
		"declared no txn-id":  {[]byte{0x00, 0x53, 0x33, 0x45}, &Declared{}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			err := tc.c.Decode(NewDecoder(tc.in))
			var de *DecodeError
			require.ErrorAs(t, err, &de)
			assert.Contains(t, de.Msg, "mandatory")
		})
	}
}

func TestCompositeDecodeErrors(t *testing.T) {
	cases := map[string]struct {
		in []byte
		c  composite
	}{
		"wrong descriptor":  {[]byte{0x00, 0x53, 0x11, 0x45}, &Open{}},
		"not described":     {[]byte{0x45}, &Close{}},
		"not a list":        {[]byte{0x00, 0x53, 0x18, 0x40}, &Close{}},
		"size too large":    {[]byte{0x00, 0x53, 0x18, 0xc0, 0x03, 0x01, 0x40, 0x40}, &Close{}},
		"wrong field type":  {[]byte{0x00, 0x53, 0x16, 0xc0, 0x02, 0x01, 0xa1}, &Detach{}},
		"truncated":         {[]byte{0x00, 0x53, 0x16, 0xc0, 0x05, 0x01, 0x70, 0, 0}, &Detach{}},
		"bad settle mode":   {[]byte{0x00, 0x53, 0x12, 0xc0, 0x08, 0x04, 0xa1, 0x01, 'l', 0x43, 0x41, 0x50, 0x07}, &Attach{}},
		"bad sasl code":     {[]byte{0x00, 0x53, 0x44, 0xc0, 0x03, 0x01, 0x50, 0x09}, &SASLOutcome{}},
		"unknown state":     {[]byte{0x00, 0x53, 0x15, 0xc0, 0x09, 0x05, 0x41, 0x43, 0x40, 0x41, 0x00, 0x53, 0x70, 0x45}, &Disposition{}},
		"bad durability":    {[]byte{0x00, 0x53, 0x29, 0xc0, 0x04, 0x02, 0x40, 0x52, 0x03}, &Target{}},
		"error not a list":  {[]byte{0x00, 0x53, 0x18, 0xc0, 0x04, 0x01, 0x00, 0x53, 0x1d}, &Close{}},
		"symbol descriptor": {append(AppendSymbolDescriptor(nil, "amqp:begin:list"), 0x45), &Open{}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			err := tc.c.Decode(NewDecoder(tc.in))
			var de *DecodeError
			require.ErrorAs(t, err, &de, "got %v", err)
		})
	}
}

func TestExtraFieldsSkipped(t *testing.T) {
	// close with error=null followed by a field from a later specification version.
	b := []byte{0x00, 0x53, 0x18, 0xc0, 0x04, 0x02, 0x40, 0xa1, 0x00}
	var c Close
	require.NoError(t, c.Decode(NewDecoder(b)))
	assert.Nil(t, c.Error)
}

func TestAttachTargetCoordinator(t *testing.T) {
	a := &Attach{Name: "txn", Target: &Target{}, Coordinator: &Coordinator{}}
	_, err := a.Append(nil)
	var ee *EncodeError
	require.ErrorAs(t, err, &ee)

	a = &Attach{Name: "txn", Role: RoleSender, SndSettleMode: SndMixed, Coordinator: &Coordinator{}}
	b, err := a.Append(nil)
	require.NoError(t, err)
	var got Attach
	require.NoError(t, got.Decode(NewDecoder(b)))
	assert.Nil(t, got.Target)
	assert.Equal(t, &Coordinator{}, got.Coordinator)
}

func TestEncodeErrorsPropagate(t *testing.T) {
	bad := Map{{Key: Symbol("k"), Value: struct{}{}}}
	prefix := []byte{1, 2, 3}
	for _, c := range []composite{
		&Open{ContainerID: "c", Properties: bad},
		&Attach{Source: &Source{Filter: bad}},
		&Disposition{State: &Modified{MessageAnnotations: bad}},
		&Close{Error: &Error{Condition: ErrInternal, Info: bad}},
		&Properties{MessageID: struct{}{}},
	} {
		b, err := c.Append(prefix)
		require.Error(t, err, "%T", c)
		assert.Equal(t, prefix, b, "%T: output rolled back", c)
	}
}

func TestDeliveryStates(t *testing.T) {
	for _, s := range []DeliveryState{
		&Received{SectionNumber: 1}, &Accepted{}, &Rejected{Error: testError}, &Released{},
		&Modified{DeliveryFailed: true}, &Declared{TxnID: []byte{1}},
		&TransactionalState{TxnID: []byte{2}, Outcome: &Accepted{}},
	} {
		b, err := s.Append(nil)
		require.NoError(t, err)
		got, err := DecodeDeliveryState(b)
		require.NoError(t, err)
		assert.Equal(t, s, got)
	}
	assert.True(t, IsTerminal(&Accepted{}))
	assert.True(t, IsTerminal(&Modified{}))
	assert.False(t, IsTerminal(&Received{}))
	assert.False(t, IsTerminal(&TransactionalState{}))

	_, err := DecodeDeliveryState([]byte{0x00, 0x53, 0x10, 0x45})
	var de *DecodeError
	require.ErrorAs(t, err, &de)
	assert.Contains(t, de.Msg, "not a delivery state")
}

func TestOpt(t *testing.T) {
	var o Opt[uint32]
	assert.Equal(t, uint32(7), o.Or(7))
	_, ok := o.Get()
	assert.False(t, ok)
	o = Some[uint32](3)
	v, ok := o.Get()
	assert.True(t, ok)
	assert.Equal(t, uint32(3), v)
	assert.Equal(t, uint32(3), o.Or(7))
	assert.Equal(t, "receiver", RoleReceiver.String())
	assert.Equal(t, "sender", RoleSender.String())
}
