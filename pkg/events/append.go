package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/h402/settlement/pkg/h402"
)

// ErrIllegalMove is returned by StateLog.Append when the payment's latest
// state does not allow the transition (events.CanMove, or the caller's
// list of states it may leave from).
var ErrIllegalMove = errors.New("illegal state transition")

// ErrContended is returned by StateLog.Append when other writers kept
// winning the race for the payment's next transition.
var ErrContended = errors.New("state transition contended")

// maxAppendAttempts bounds the re-reads after losing a race: each loss means
// another writer stored a transition, and a payment has only a few.
const maxAppendAttempts = 16

// beforePublish, when set (tests), runs between the read of the latest
// transition and the conditional publish.
var beforePublish func(id string)

// TransitionMsgID is the Nats-Msg-Id of a transition:
// <id>:<seq>:<state>, and <id>:<seq>:submitted:<txHash> for a submitted
// one. Derived from what it records and from its Seq, so that a writer
// storing the same outcome again is deduplicated, while a later, different
// transition (a payment sent back and submitted again with the same
// transaction) is not.
func TransitionMsgID(tr *Transition) string {
	id := tr.ID + ":" + strconv.FormatUint(tr.Seq, 10) + ":" + string(tr.State)
	if tr.State == StateSubmitted {
		id += ":" + tr.TxHash
	}
	return id
}

// StateLog reads and appends the state transitions of payments, stored in
// the PAYMENTS stream on StateSubject. Append is the only way a transition
// is written: every process (settler, watcher, operator tools) goes through
// it, so that no two writers store the same Seq and every move is allowed.
type StateLog struct {
	js     jetstream.JetStream
	stream jetstream.Stream
}

// OpenStateLog returns the state log over the PAYMENTS stream.
func OpenStateLog(ctx context.Context, js jetstream.JetStream) (*StateLog, error) {
	st, err := js.Stream(ctx, StreamPayments)
	if err != nil {
		return nil, fmt.Errorf("state log: stream %s: %w", StreamPayments, err)
	}
	return &StateLog{js: js, stream: st}, nil
}

// Latest returns the payment's latest transition and its stream sequence,
// or nil and 0 when the payment has none (it stands at accepted, Seq 0).
func (s *StateLog) Latest(ctx context.Context, ns h402.Namespace, networkID, id string) (*Transition, uint64, error) {
	subj, err := StateSubject(ns, networkID, id)
	if err != nil {
		return nil, 0, err
	}
	msg, err := s.stream.GetLastMsgForSubject(ctx, subj)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("read latest state of %s: %w", id, err)
	}
	tr, err := DecodeTransition(msg.Data)
	if err != nil {
		return nil, 0, fmt.Errorf("latest state of %s (stream seq %d): %w", id, msg.Sequence, err)
	}
	if tr.ID != id {
		return nil, 0, fmt.Errorf("%w: latest state on the subject of %s names payment %s", ErrMalformed, id, tr.ID)
	}
	return tr, msg.Sequence, nil
}

// Append stores next as the payment's next transition: it reads the latest
// one, checks the move with CanMove (and, when from is given, that the
// current state is one of from), and publishes with Seq = latest Seq + 1
// under the expectation that the latest message on the payment's state
// subject is still the one it read (ExpectLastSequencePerSubject). When
// another writer got there first it reads again and checks again.
//
// next needs State and, as the state requires, TxHash, Block, Reason and
// Message; Version, ID, Seq and At (when zero) are filled in. When the
// latest transition already records the same outcome (same state, tx,
// block and reason), it is returned and nothing is written: Append is
// idempotent for a writer that repeats itself. A move that is not allowed
// returns an error wrapping ErrIllegalMove that names the current state.
func (s *StateLog) Append(ctx context.Context, ns h402.Namespace, networkID string, next Transition, from ...State) (*Transition, error) {
	return s.AppendIf(ctx, ns, networkID, next, nil, from...)
}

// AppendIf is Append with a precondition: guard, when not nil, is called
// with the latest transition (nil when there is none) on every attempt,
// after the same-outcome check and before the move is checked, and an error
// from it is returned as is, with nothing written. Because the publish
// expects the latest message to be the one guard saw, guard's verdict
// holds when the transition is stored: a writer that acts on an older
// transition (a watcher following a transaction the payment no longer
// waits on) cannot write over a newer one.
func (s *StateLog) AppendIf(ctx context.Context, ns h402.Namespace, networkID string, next Transition, guard func(latest *Transition) error, from ...State) (*Transition, error) {
	subj, err := StateSubject(ns, networkID, next.ID)
	if err != nil {
		return nil, err
	}
	next.Version = TransitionVersion
	if next.At.IsZero() {
		next.At = time.Now().UTC()
	}
	for attempt := 0; attempt < maxAppendAttempts; attempt++ {
		last, lastSeq, err := s.Latest(ctx, ns, networkID, next.ID)
		if err != nil {
			return nil, err
		}
		cur, seq := StateAccepted, uint64(0)
		if last != nil {
			cur, seq = last.State, last.Seq
			if sameOutcome(last, &next) {
				return last, nil
			}
		}
		if guard != nil {
			if err := guard(last); err != nil {
				return nil, err
			}
		}
		if !CanMove(cur, next.State) || (len(from) > 0 && !slices.Contains(from, cur)) {
			return nil, fmt.Errorf("%w: payment %s is %s (seq %d), cannot move to %s", ErrIllegalMove, next.ID, cur, seq, next.State)
		}
		tr := next
		tr.Seq = seq + 1
		b, err := json.Marshal(&tr)
		if err != nil {
			return nil, fmt.Errorf("encode transition of %s: %w", tr.ID, err)
		}
		if _, err := DecodeTransition(b); err != nil {
			return nil, err
		}
		if beforePublish != nil {
			beforePublish(tr.ID)
		}
		_, err = s.js.Publish(ctx, subj, b,
			jetstream.WithMsgID(TransitionMsgID(&tr)),
			jetstream.WithExpectStream(StreamPayments),
			jetstream.WithExpectLastSequencePerSubject(lastSeq))
		if err == nil {
			return &tr, nil
		}
		if !isWrongLastSequence(err) {
			return nil, fmt.Errorf("append %s transition of %s: %w", tr.State, tr.ID, err)
		}
		// Another writer stored a transition since the read: read again.
	}
	return nil, fmt.Errorf("%w: %s transition of %s lost %d races", ErrContended, next.State, next.ID, maxAppendAttempts)
}

// sameOutcome reports whether last already records what next would.
func sameOutcome(last, next *Transition) bool {
	return last.State == next.State && last.TxHash == next.TxHash && last.Block == next.Block && last.Reason == next.Reason
}

// errCodeDuplicateInProcess is a clustered stream's answer to a publish
// whose Msg-Id another publish has in flight ("duplicate message id is in
// process"); nats.go names no constant for it.
const errCodeDuplicateInProcess jetstream.ErrorCode = 10158

// isWrongLastSequence reports a compare-and-set publish that lost to
// another writer, so the caller reads again: "wrong last sequence" (10071
// on a single server; 10164 on replicated streams when another publish on
// the subject is in flight), or, on replicated streams, the same Msg-Id
// in flight from another writer (10158).
func isWrongLastSequence(err error) bool {
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) {
		return false
	}
	switch apiErr.ErrorCode {
	case jetstream.JSErrCodeStreamWrongLastSequence, jetstream.JSErrCodeStreamWrongLastSequenceConstant, errCodeDuplicateInProcess:
		return true
	}
	return false
}
