package protocol

// TerminusDurability is what a terminus keeps across detach and
// reattach (spec 3.5.5).
type TerminusDurability uint32

const (
	DurabilityNone           TerminusDurability = 0 // no terminus state is durable (the default)
	DurabilityConfiguration  TerminusDurability = 1 // only the configuration is durable
	DurabilityUnsettledState TerminusDurability = 2 // configuration and unsettled state are durable
)

// TerminusExpiryPolicy says when the expiry timer of a terminus starts
// (spec 3.5.6). Source and Target hold it as a Symbol; the constants below are
// untyped so they fit either.
type TerminusExpiryPolicy Symbol

const (
	ExpiryPolicyLinkDetach      = "link-detach"
	ExpiryPolicySessionEnd      = "session-end" // the default
	ExpiryPolicyConnectionClose = "connection-close"
	ExpiryPolicyNever           = "never"
)

// Standard distribution modes of a source (spec 3.5.7, std-dist-mode).
const (
	DistributionMove Symbol = "move" // messages are consumed: each goes to one link
	DistributionCopy Symbol = "copy" // messages are browsed: they stay available to others
)

// readAttachTarget decodes the target field of an attach, which is a Target
// or, for a link to a transaction coordinator, a Coordinator (spec 4.5.1; the
// coordinator provides the "target" archetype).
func readAttachTarget(d *Decoder) (*Target, *Coordinator, error) {
	code, err := peekDescriptorCode(d)
	if err != nil {
		return nil, nil, err
	}
	if code == DescriptorCoordinator {
		c := new(Coordinator)
		if err := c.Decode(d); err != nil {
			return nil, nil, err
		}
		return nil, c, nil
	}
	t := new(Target)
	if err := t.Decode(d); err != nil {
		return nil, nil, err
	}
	return t, nil, nil
}

// appendAttachTarget encodes the target field of an attach: the Target, or
// the Coordinator. Setting both is an error.
func appendAttachTarget(b []byte, t *Target, c *Coordinator) ([]byte, error) {
	switch {
	case t != nil && c != nil:
		return b, &EncodeError{Msg: "attach: both Target and Coordinator are set"}
	case c != nil:
		return c.Append(b)
	default:
		return t.Append(b)
	}
}
