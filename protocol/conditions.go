package protocol

import "errors"

// Standard error conditions (spec 2.8.15–2.8.18, transport.bare.xml; 4.5.8
// for transactions). They fill Error.Condition.
const (
	// amqp-error (2.8.15)
	ErrInternal              Symbol = "amqp:internal-error"
	ErrNotFound              Symbol = "amqp:not-found"
	ErrUnauthorizedAccess    Symbol = "amqp:unauthorized-access"
	ErrDecodeError           Symbol = "amqp:decode-error"
	ErrResourceLimitExceeded Symbol = "amqp:resource-limit-exceeded"
	ErrNotAllowed            Symbol = "amqp:not-allowed"
	ErrInvalidField          Symbol = "amqp:invalid-field"
	ErrNotImplemented        Symbol = "amqp:not-implemented"
	ErrResourceLocked        Symbol = "amqp:resource-locked"
	ErrPreconditionFailed    Symbol = "amqp:precondition-failed"
	ErrResourceDeleted       Symbol = "amqp:resource-deleted"
	ErrIllegalState          Symbol = "amqp:illegal-state"
	ErrFrameSizeTooSmall     Symbol = "amqp:frame-size-too-small"

	// connection-error (2.8.16)
	ErrConnectionForced   Symbol = "amqp:connection:forced"
	ErrFramingError       Symbol = "amqp:connection:framing-error"
	ErrConnectionRedirect Symbol = "amqp:connection:redirect"

	// session-error (2.8.17)
	ErrWindowViolation  Symbol = "amqp:session:window-violation"
	ErrErrantLink       Symbol = "amqp:session:errant-link"
	ErrHandleInUse      Symbol = "amqp:session:handle-in-use"
	ErrUnattachedHandle Symbol = "amqp:session:unattached-handle"

	// link-error (2.8.18)
	ErrDetachForced          Symbol = "amqp:link:detach-forced"
	ErrTransferLimitExceeded Symbol = "amqp:link:transfer-limit-exceeded"
	ErrMessageSizeExceeded   Symbol = "amqp:link:message-size-exceeded"
	ErrLinkRedirect          Symbol = "amqp:link:redirect"
	ErrStolen                Symbol = "amqp:link:stolen"

	// transaction-error (4.5.8)
	ErrTransactionUnknownID Symbol = "amqp:transaction:unknown-id"
	ErrTransactionRollback  Symbol = "amqp:transaction:rollback"
	ErrTransactionTimeout   Symbol = "amqp:transaction:timeout"
)

// NewError returns an *Error with the given condition and description.
func NewError(condition Symbol, description string) *Error {
	return &Error{Condition: condition, Description: description}
}

// Error makes *Error a Go error: "condition: description".
func (x *Error) Error() string {
	if x == nil {
		return "<nil>"
	}
	if x.Description == "" {
		return string(x.Condition)
	}
	return string(x.Condition) + ": " + x.Description
}

// ConditionFor returns the AMQP error condition to report for err: a
// *DecodeError is amqp:decode-error, a *FramingError is
// amqp:connection:framing-error, an *Error (anywhere in the chain) carries its
// own condition, anything else is amqp:internal-error. A nil err has no
// condition ("").
func ConditionFor(err error) Symbol {
	if err == nil {
		return ""
	}
	var ae *Error
	if errors.As(err, &ae) && ae != nil && ae.Condition != "" {
		return ae.Condition
	}
	var de *DecodeError
	if errors.As(err, &de) {
		return ErrDecodeError
	}
	var fe *FramingError
	if errors.As(err, &fe) {
		return ErrFramingError
	}
	return ErrInternal
}
