package protocol

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestConditionFor(t *testing.T) {
	assert.Equal(t, ErrDecodeError, ConditionFor(&DecodeError{Msg: "x"}))
	assert.Equal(t, ErrFramingError, ConditionFor(&FramingError{Msg: "x"}))
	assert.Equal(t, ErrNotFound, ConditionFor(NewError(ErrNotFound, "no queue")))
	assert.Equal(t, ErrStolen, ConditionFor(fmt.Errorf("link: %w", NewError(ErrStolen, ""))))
	assert.Equal(t, ErrDecodeError, ConditionFor(fmt.Errorf("attach: %w", &DecodeError{})))
	assert.Equal(t, ErrInternal, ConditionFor(errors.New("boom")))
	assert.Equal(t, ErrInternal, ConditionFor(&Error{})) // no condition: internal
	assert.Equal(t, Symbol(""), ConditionFor(nil))
}

func TestErrorIsAnError(t *testing.T) {
	var err error = NewError(ErrResourceLimitExceeded, "queue full")
	assert.EqualError(t, err, "amqp:resource-limit-exceeded: queue full")
	assert.EqualError(t, &Error{Condition: ErrConnectionForced}, "amqp:connection:forced")
	var nilErr *Error
	assert.Equal(t, "<nil>", nilErr.Error())
}

func TestConditionsMatchSpec(t *testing.T) {
	// Every condition is in its spec namespace (transport.bare.xml, transactions.bare.xml).
	for _, c := range []Symbol{ErrInternal, ErrNotFound, ErrUnauthorizedAccess, ErrDecodeError,
		ErrResourceLimitExceeded, ErrNotAllowed, ErrInvalidField, ErrNotImplemented, ErrResourceLocked,
		ErrPreconditionFailed, ErrResourceDeleted, ErrIllegalState, ErrFrameSizeTooSmall} {
		assert.Regexp(t, `^amqp:[a-z-]+$`, c)
	}
	for _, c := range []Symbol{ErrConnectionForced, ErrFramingError, ErrConnectionRedirect} {
		assert.Regexp(t, `^amqp:connection:[a-z-]+$`, c)
	}
	for _, c := range []Symbol{ErrWindowViolation, ErrErrantLink, ErrHandleInUse, ErrUnattachedHandle} {
		assert.Regexp(t, `^amqp:session:[a-z-]+$`, c)
	}
	for _, c := range []Symbol{ErrDetachForced, ErrTransferLimitExceeded, ErrMessageSizeExceeded, ErrLinkRedirect, ErrStolen} {
		assert.Regexp(t, `^amqp:link:[a-z-]+$`, c)
	}
	for _, c := range []Symbol{ErrTransactionUnknownID, ErrTransactionRollback, ErrTransactionTimeout} {
		assert.Regexp(t, `^amqp:transaction:[a-z-]+$`, c)
	}
}
