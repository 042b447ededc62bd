package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/h402/settlement/pkg/h402"
)

// ReceiptVersion is the version of Receipt this code writes and reads.
const ReceiptVersion = 1

// Receipt is the one record a seller gets per terminal payment (finalized,
// or failed after acceptance), on receipts.<payTo>.<namespace>.<networkId>
// (ReceiptSubject) in stream RECEIPTS, with Nats-Msg-Id ReceiptMsgID.
type Receipt struct {
	Version   int            `json:"v"`
	ID        string         `json:"id"`
	State     State          `json:"state"`
	Namespace h402.Namespace `json:"namespace"`
	NetworkID string         `json:"networkId"`
	Payer     string         `json:"payer"`
	PayTo     string         `json:"payTo"`
	Token     string         `json:"token"`
	// Amount in smallest units, as a decimal string.
	Amount string `json:"amount"`
	// TxHash and Block (EVM block or Solana slot) carry the payment; empty
	// for a payment that failed before any transaction.
	TxHash string `json:"txHash,omitempty"`
	Block  uint64 `json:"block,omitempty"`
	// At is when the payment became final: the finality time of its block,
	// or when it failed.
	At       time.Time `json:"at"`
	Resource string    `json:"resource,omitempty"`
	// Reason and Message explain a failure.
	Reason  h402.Reason `json:"reason,omitempty"`
	Message string      `json:"message,omitempty"`
	// SellerSeq orders one seller's receipts on one network: 1, 2, 3, ...
	// on the receipt subject, assigned by PublishReceipt with
	// compare-and-set, so a receiver can order them and see gaps.
	SellerSeq uint64 `json:"sellerSeq"`
}

// ReceiptMsgID is the Nats-Msg-Id of a payment's receipt: <id>:receipt
// (one receipt per payment).
func ReceiptMsgID(id string) string { return id + ":receipt" }

// Check validates a receipt's shape.
func (r *Receipt) Check() error {
	if err := CheckPaymentID(r.ID); err != nil {
		return fmt.Errorf("%w: receipt: %v", ErrMalformed, err)
	}
	switch r.State {
	case StateFinalized:
		if r.TxHash == "" {
			return fmt.Errorf("%w: finalized receipt of %s without a transaction", ErrMalformed, r.ID)
		}
	case StateFailed:
		if r.Reason == "" {
			return fmt.Errorf("%w: failed receipt of %s without a reason", ErrMalformed, r.ID)
		}
	default:
		return fmt.Errorf("%w: receipt of %s in non-terminal state %q", ErrMalformed, r.ID, r.State)
	}
	if r.Namespace == "" || r.NetworkID == "" || r.PayTo == "" || r.Token == "" || !isUint256(r.Amount) || r.SellerSeq == 0 {
		return fmt.Errorf("%w: receipt of %s lacks namespace, networkId, payTo, token, an integer amount or sellerSeq", ErrMalformed, r.ID)
	}
	if _, err := ReceiptSubject(r.PayTo, r.Namespace, r.NetworkID); err != nil {
		return fmt.Errorf("%w: receipt of %s: %v", ErrMalformed, r.ID, err)
	}
	return nil
}

// DecodeReceipt decodes and checks a Receipt.
func DecodeReceipt(b []byte) (*Receipt, error) {
	var r Receipt
	if err := decode(b, &r); err != nil {
		return nil, err
	}
	if r.Version != ReceiptVersion {
		return nil, fmt.Errorf("%w: receipt version %d (this build reads %d)", ErrUnknownVersion, r.Version, ReceiptVersion)
	}
	if err := r.Check(); err != nil {
		return nil, err
	}
	return &r, nil
}

// PublishReceipt stores r on its seller's subject with the next SellerSeq:
// it reads the subject's last receipt, sets SellerSeq one above, and
// publishes expecting that last message still to be the last
// (ExpectLastSequencePerSubject), reading again when another writer won.
// When the subject's last receipt is r's payment, that receipt is returned
// and nothing is written (a writer repeating itself). Version is filled in.
func PublishReceipt(ctx context.Context, js jetstream.JetStream, r Receipt) (*Receipt, error) {
	subj, err := ReceiptSubject(r.PayTo, r.Namespace, r.NetworkID)
	if err != nil {
		return nil, err
	}
	st, err := js.Stream(ctx, StreamReceipts)
	if err != nil {
		return nil, fmt.Errorf("receipt of %s: stream %s: %w", r.ID, StreamReceipts, err)
	}
	r.Version = ReceiptVersion
	for attempt := 0; attempt < maxAppendAttempts; attempt++ {
		var last uint64
		r.SellerSeq = 1
		msg, err := st.GetLastMsgForSubject(ctx, subj)
		switch {
		case errors.Is(err, jetstream.ErrMsgNotFound):
		case err != nil:
			return nil, fmt.Errorf("receipt of %s: read %s: %w", r.ID, subj, err)
		default:
			prev, err := DecodeReceipt(msg.Data)
			if err != nil {
				return nil, fmt.Errorf("receipt of %s: last receipt on %s: %w", r.ID, subj, err)
			}
			if prev.ID == r.ID {
				return prev, nil
			}
			last, r.SellerSeq = msg.Sequence, prev.SellerSeq+1
		}
		if err := r.Check(); err != nil {
			return nil, err
		}
		b, err := json.Marshal(&r)
		if err != nil {
			return nil, err
		}
		ack, err := js.Publish(ctx, subj, b, jetstream.WithMsgID(ReceiptMsgID(r.ID)),
			jetstream.WithExpectStream(StreamReceipts), jetstream.WithExpectLastSequencePerSubject(last))
		if err == nil {
			if ack.Duplicate {
				// Stored before, under another SellerSeq: return what is stored.
				m, err := st.GetMsg(ctx, ack.Sequence)
				if err != nil {
					return nil, fmt.Errorf("receipt of %s: read stored copy: %w", r.ID, err)
				}
				return DecodeReceipt(m.Data)
			}
			return &r, nil
		}
		if !isWrongLastSequence(err) {
			return nil, fmt.Errorf("publish receipt of %s: %w", r.ID, err)
		}
	}
	return nil, fmt.Errorf("%w: receipt of %s lost %d races", ErrContended, r.ID, maxAppendAttempts)
}
