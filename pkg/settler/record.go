package settler

import "github.com/h402/settlement/pkg/events"

// The records a settler writes besides state transitions live in
// pkg/events, the shared vocabulary (versioned, frozen by goldens in
// pkg/events/testdata). These aliases keep existing callers compiling.

// Settlement is events.Settlement.
type Settlement = events.Settlement

// DeadLetter is events.DeadLetter.
type DeadLetter = events.DeadLetter

// Record versions (see pkg/events).
const (
	SettlementVersion = events.SettlementVersion
	DeadLetterVersion = events.DeadLetterVersion
)

// DecodeSettlement is events.DecodeSettlement.
func DecodeSettlement(b []byte) (*Settlement, error) { return events.DecodeSettlement(b) }

// DecodeDeadLetter is events.DecodeDeadLetter.
func DecodeDeadLetter(b []byte) (*DeadLetter, error) { return events.DecodeDeadLetter(b) }
