package events

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/h402/settlement/pkg/h402"
)

// Decoding errors.
var (
	ErrMalformed      = errors.New("malformed event")
	ErrUnknownVersion = errors.New("unknown event version")
)

// State is where a payment stands.
type State string

// Payment states: accepted → batched → submitted → confirmed → finalized, and
// failed from any non-final state. submitted may return to accepted when a
// transaction is dropped or reorged out and the payment is still valid.
const (
	StateAccepted  State = "accepted"
	StateBatched   State = "batched"
	StateSubmitted State = "submitted"
	StateConfirmed State = "confirmed"
	StateFinalized State = "finalized"
	StateFailed    State = "failed"
)

// Terminal reports whether no transition leaves s.
func (s State) Terminal() bool { return s == StateFinalized || s == StateFailed }

var transitions = map[State][]State{
	StateAccepted:  {StateBatched, StateSubmitted, StateConfirmed, StateFailed},
	StateBatched:   {StateSubmitted, StateAccepted, StateFailed},
	StateSubmitted: {StateConfirmed, StateAccepted, StateSubmitted, StateFailed},
	StateConfirmed: {StateFinalized, StateAccepted, StateFailed},
}

// CanMove reports whether a payment may go from one state to another.
// submitted → submitted is a replacement transaction for the same payment.
func CanMove(from, to State) bool {
	for _, s := range transitions[from] {
		if s == to {
			return true
		}
	}
	return false
}

// TransitionVersion is the version of Transition this code writes and reads.
const TransitionVersion = 1

// Transition is one state change of one payment.
type Transition struct {
	Version int    `json:"v"`
	ID      string `json:"id"`
	// Seq orders the transitions of one payment; the accepted event is 0.
	Seq   uint64    `json:"seq"`
	State State     `json:"state"`
	At    time.Time `json:"at"`
	// TxHash is the transaction that carries the payment (submitted and later).
	TxHash string `json:"txHash,omitempty"`
	// Block is the block (EVM) or slot (Solana) that included it.
	Block uint64 `json:"block,omitempty"`
	// Reason and Message explain a failure.
	Reason  h402.Reason `json:"reason,omitempty"`
	Message string      `json:"message,omitempty"`
}

// DecodeTransition decodes and checks a Transition event.
func DecodeTransition(b []byte) (*Transition, error) {
	var e Transition
	if err := decode(b, &e); err != nil {
		return nil, err
	}
	if e.Version != TransitionVersion {
		return nil, fmt.Errorf("%w: transition version %d (this build reads %d)", ErrUnknownVersion, e.Version, TransitionVersion)
	}
	if e.ID == "" {
		return nil, fmt.Errorf("%w: transition without id", ErrMalformed)
	}
	switch e.State {
	case StateAccepted, StateBatched, StateSubmitted, StateConfirmed, StateFinalized:
	case StateFailed:
		if e.Reason == "" {
			return nil, fmt.Errorf("%w: failed transition of %s without a reason", ErrMalformed, e.ID)
		}
	default:
		return nil, fmt.Errorf("%w: transition of %s to unknown state %q", ErrMalformed, e.ID, e.State)
	}
	return &e, nil
}

func decode(b []byte, v any) error {
	if len(b) > MaxEventLen {
		return fmt.Errorf("%w: %d bytes, more than %d", ErrMalformed, len(b), MaxEventLen)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return nil
}
