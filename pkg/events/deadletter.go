package events

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/h402/settlement/pkg/h402"
)

// DeadLetterVersion is the version of DeadLetter this code writes and reads.
const DeadLetterVersion = 1

// DeadLetter is published to payments.dead.<ns>.<net> (PaymentDeadSubject)
// before a payment's message is terminated, so that an operator can see and
// replay it. Every dead letter raises the settler's alert-grade
// h402_settler_dead_letters_total.
type DeadLetter struct {
	Version int `json:"v"`
	// ID is the payment id, when the event could be decoded (or its
	// subject names one).
	ID     string      `json:"id,omitempty"`
	Reason h402.Reason `json:"reason"`
	// Message is a human sentence saying why.
	Message string `json:"message"`
	// Failed is true when a `failed` transition records the end of the
	// payment (it can never settle; its exposure is released); false when
	// an operator must look: the settler gave up on a retryable error while
	// a transaction of the payment may still land, or no payment id could be
	// read.
	Failed bool `json:"failed"`
	// Event is the accepted event as it was in the stream (when it is JSON);
	// Raw holds the bytes otherwise.
	Event json.RawMessage `json:"event,omitempty"`
	Raw   []byte          `json:"raw,omitempty"`
	// StreamSeq and Delivery locate the message and its attempt.
	StreamSeq uint64    `json:"streamSeq"`
	Delivery  uint64    `json:"delivery"`
	At        time.Time `json:"at"`
	Replica   string    `json:"replica,omitempty"`
}

// Nats-Msg-Ids of dead letters:
//   - DeadMsgID, a payment that failed with its transition Seq: <id>:<seq>:dead;
//   - GaveUpMsgID, a payment given up after its deliveries: <id>:gave-up:<stream seq>;
//   - UnreadableMsgID, a message that is no readable event: dead:PAYMENTS:<stream seq>.
func DeadMsgID(id string, seq uint64) string { return id + ":" + strconv.FormatUint(seq, 10) + ":dead" }

// GaveUpMsgID: see DeadMsgID.
func GaveUpMsgID(id string, streamSeq uint64) string {
	return id + ":gave-up:" + strconv.FormatUint(streamSeq, 10)
}

// UnreadableMsgID: see DeadMsgID.
func UnreadableMsgID(streamSeq uint64) string {
	return "dead:" + StreamPayments + ":" + strconv.FormatUint(streamSeq, 10)
}

// DecodeDeadLetter decodes and checks a DeadLetter record.
func DecodeDeadLetter(b []byte) (*DeadLetter, error) {
	var d DeadLetter
	if err := decodeRecord(b, &d); err != nil {
		return nil, err
	}
	if d.Version != DeadLetterVersion {
		return nil, fmt.Errorf("%w: dead letter version %d (this build reads %d)", ErrUnknownVersion, d.Version, DeadLetterVersion)
	}
	// The content may be empty (an empty message is dead-lettered as it
	// is); the reason may not.
	if d.Reason == "" {
		return nil, fmt.Errorf("%w: dead letter lacks a reason", ErrMalformed)
	}
	return &d, nil
}
