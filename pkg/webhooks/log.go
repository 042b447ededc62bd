package webhooks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/h402/settlement/pkg/events"
)

// Outcomes of an attempt.
const (
	OutcomeDelivered = "delivered" // 2xx
	OutcomeRetry     = "retry"     // timeout, connection error, 5xx or 429; tried again later
	OutcomeFailed    = "failed"    // other 4xx (410 is OutcomeDisabled); not retried
	OutcomeExhausted = "exhausted" // a retryable failure on the last attempt
	// OutcomeDisabled: 410 Gone; the endpoint is disabled and the receipt
	// waits in its consumer until the endpoint is enabled again.
	OutcomeDisabled = "disabled"
	// OutcomeSkipped: the receipt's payTo is not one of the endpoint's
	// sellers (any more); it is not posted.
	OutcomeSkipped = "skipped"
)

// LogRecord is one delivery attempt in the delivery log (never a secret or
// signature). Seq is the stream sequence, filled in when read.
type LogRecord struct {
	Seq        uint64    `json:"seq,omitempty"`
	ReceiptID  string    `json:"receiptId"`
	Endpoint   string    `json:"endpoint"`
	Attempt    int       `json:"attempt"`
	Redelivery bool      `json:"redelivery,omitempty"`
	Status     int       `json:"status,omitempty"`
	Error      string    `json:"error,omitempty"`
	LatencyMs  float64   `json:"latencyMs"`
	At         time.Time `json:"at"`
	Outcome    string    `json:"outcome"`
	// NextDelayMs is the delay before the next attempt (retry only).
	NextDelayMs int64 `json:"nextDelayMs,omitempty"`
}

// DecodeLogRecord decodes and checks a stored record.
func DecodeLogRecord(b []byte) (*LogRecord, error) {
	var r LogRecord
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%w: log record: %v", events.ErrMalformed, redactJSONError(err))
	}
	if err := events.CheckPaymentID(r.ReceiptID); err != nil {
		return nil, fmt.Errorf("%w: log record: %v", events.ErrMalformed, err)
	}
	if err := events.CheckEndpointID(r.Endpoint); err != nil {
		return nil, fmt.Errorf("%w: log record: %v", events.ErrMalformed, err)
	}
	switch r.Outcome {
	case OutcomeDelivered, OutcomeRetry, OutcomeFailed, OutcomeExhausted, OutcomeDisabled, OutcomeSkipped:
	default:
		return nil, fmt.Errorf("%w: log record outcome %q", events.ErrMalformed, truncate(r.Outcome, 20))
	}
	if r.Attempt < 1 {
		return nil, fmt.Errorf("%w: log record attempt %d", events.ErrMalformed, r.Attempt)
	}
	return &r, nil
}

// appendLog stores one record.
func appendLog(ctx context.Context, js jetstream.JetStream, r LogRecord) error {
	subj, err := events.WebhookLogSubject(r.Endpoint)
	if err != nil {
		return err
	}
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	if _, err := js.Publish(ctx, subj, b, jetstream.WithExpectStream(events.StreamWebhooks)); err != nil {
		return fmt.Errorf("delivery log of %s: %w", r.Endpoint, err)
	}
	return nil
}

// ReadLog returns up to limit records of an endpoint with a stream
// sequence above after, oldest first, and the cursor of the next page (0
// when none remain).
func ReadLog(ctx context.Context, js jetstream.JetStream, endpointID string, after uint64, limit int) ([]LogRecord, uint64, error) {
	subj, err := events.WebhookLogSubject(endpointID)
	if err != nil {
		return nil, 0, err
	}
	st, err := js.Stream(ctx, events.StreamWebhooks)
	if err != nil {
		return nil, 0, fmt.Errorf("delivery log: %w", err)
	}
	out := []LogRecord{}
	seq := after + 1
	for len(out) < limit {
		// Direct reads of the next message on the subject: no consumer to
		// create or clean up per page.
		m, err := st.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(subj))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return out, 0, nil
		}
		if err != nil {
			return nil, 0, fmt.Errorf("delivery log of %s: %w", endpointID, err)
		}
		seq = m.Sequence + 1
		r, err := DecodeLogRecord(m.Data)
		if err != nil {
			continue
		}
		r.Seq = m.Sequence
		out = append(out, *r)
	}
	return out, out[len(out)-1].Seq, nil
}
