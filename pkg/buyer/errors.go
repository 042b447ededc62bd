package buyer

import (
	"errors"
	"fmt"
	"math/big"
	"strings"
)

// Machine reasons of the Transport's errors.
const (
	ReasonNoAcceptable       = "no_acceptable_requirement"
	ReasonOverLimit          = "over_limit"
	ReasonSignFailed         = "signing_failed"
	ReasonRefused            = "seller_refused"
	ReasonBadPaymentRequired = "invalid_payment_required"
	ReasonBodyNotReplayable  = "body_not_replayable"
)

// ErrBadPaymentRequired is wrapped by every error decoding a 402.
var ErrBadPaymentRequired = errors.New("buyer: the 402 answer carries no readable payment requirements")

// ErrBodyNotReplayable: the request body is larger than Config.MaxBodyBytes
// and has no GetBody, so it cannot be sent a second time with the payment.
var ErrBodyNotReplayable = errors.New("buyer: the request body cannot be sent again with a payment (larger than MaxBodyBytes and no GetBody)")

// NoAcceptableError: no offered requirement passes the Policy (or no key
// pays its chain). Reasons says, per offer, why it was not taken.
type NoAcceptableError struct {
	Reasons []string
}

func (e *NoAcceptableError) Error() string {
	return fmt.Sprintf("buyer: %s: none of the %d offered requirements is acceptable: %s", ReasonNoAcceptable, len(e.Reasons), strings.Join(e.Reasons, "; "))
}

// Reason is ReasonNoAcceptable.
func (e *NoAcceptableError) Reason() string { return ReasonNoAcceptable }

// LimitError: a requirement is within its price cap but would take the
// token's total spending past Policy's limit.
type LimitError struct {
	Token   string
	Network string   // the budget's network, empty for every network
	Amount  *big.Int // what the requirement asks
	Spent   *big.Int // counted so far
	Limit   *big.Int // the total limit
}

func (e *LimitError) Error() string {
	on := ""
	if e.Network != "" {
		on = " on " + e.Network
	}
	return fmt.Sprintf("buyer: %s: paying %s of token %s%s would spend %s, over the total limit %s",
		ReasonOverLimit, e.Amount, e.Token, on, new(big.Int).Add(e.Spent, e.Amount), e.Limit)
}

// Reason is ReasonOverLimit.
func (e *LimitError) Reason() string { return ReasonOverLimit }

// SignError: the chosen requirement could not be turned into a signed
// payment (RPC unreachable, malformed requirement, ...). Nothing was sent
// and the reservation was released.
type SignError struct {
	Offer *Offer
	Err   error
}

func (e *SignError) Error() string {
	return fmt.Sprintf("buyer: %s: paying %s on %s: %v", ReasonSignFailed, e.Offer.Token, e.Offer.Network, e.Err)
}

// Unwrap returns the cause.
func (e *SignError) Unwrap() error { return e.Err }

// Reason is ReasonSignFailed.
func (e *SignError) Reason() string { return ReasonSignFailed }

// RefusedError: the seller answered the paid request with 402 again (or a
// payment response saying it failed). SellerReason is the seller's machine
// reason when it gave one, Message its sentence.
type RefusedError struct {
	Status       int
	SellerReason string
	Message      string
}

func (e *RefusedError) Error() string {
	s := fmt.Sprintf("buyer: %s: the seller answered the paid request with %d", ReasonRefused, e.Status)
	if e.SellerReason != "" {
		s += " (" + e.SellerReason + ")"
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// Reason is ReasonRefused.
func (e *RefusedError) Reason() string { return ReasonRefused }
