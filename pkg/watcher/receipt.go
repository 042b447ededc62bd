package watcher

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/h402/settlement/pkg/events"
)

// receipt publishes the receipt of a payment whose terminal transition m
// carries, then acks m. Whoever wrote the transition (this watcher, a
// settler that failed the payment, an operator), the receipt is published
// here, once: for a recent transition the stream's Nats-Msg-Id window
// catches a copy; for a transition older than half the window, the
// seller's subject is searched from the transition's time first.
func (w *Watcher) receipt(ctx context.Context, m jetstream.Msg, tr *events.Transition) {
	log := w.log.With("payment_id", tr.ID, "state", tr.State)
	ev, err := w.acceptedEvent(ctx, tr.ID)
	if errors.Is(err, jetstream.ErrMsgNotFound) || errors.Is(err, events.ErrMalformed) || errors.Is(err, events.ErrUnknownVersion) {
		// No readable accepted event (one a settler could not read and
		// failed, or none at all): nothing to say who paid whom. Left for
		// an operator.
		w.o.Metrics.errors.WithLabelValues(w.network, "receipt").Inc()
		log.Error("terminal payment without a readable accepted event: no receipt", "err", err)
		_ = m.Term()
		return
	}
	if err != nil {
		w.retryReceipt(m, log, err)
		return
	}
	r := events.Receipt{
		ID: tr.ID, State: tr.State, Namespace: ev.Namespace, NetworkID: ev.NetworkID,
		Payer: ev.Payer, PayTo: ev.PayTo, Token: ev.Token, Amount: ev.Amount,
		TxHash: tr.TxHash, Block: tr.Block, At: tr.At.UTC(), Resource: ev.Resource,
		Reason: tr.Reason, Message: tr.Message,
	}
	// Search first only when a receipt published earlier may have left the
	// Nats-Msg-Id window: the transition is older than half of it (a
	// watcher died between publish and ack long ago, a consumer was
	// recreated, a replica catches up). A receipt is published after its
	// transition is stored, so any earlier copy is younger than the
	// transition: within the window, the stream itself drops a repeat
	// (PublishReceipt returns the stored copy). Searching on every
	// redelivery instead made each retry scan the seller's subject.
	if meta, err := m.Metadata(); err == nil && time.Since(meta.Timestamp) > w.dedup/2 {
		found, err := w.findReceipt(ctx, &r, meta.Timestamp.Add(-2*time.Second))
		if err != nil {
			w.retryReceipt(m, log, err)
			return
		}
		if found {
			_ = m.Ack()
			return
		}
	}
	// One seller's receipts are numbered with compare-and-set on its
	// subject: publish them one at a time here, so that replicas race each
	// other, not this process's own workers.
	lock := &w.sellerLocks[sellerStripe(r.PayTo)]
	lock.Lock()
	stored, err := events.PublishReceipt(ctx, w.js, r)
	lock.Unlock()
	if err != nil {
		w.retryReceipt(m, log, err)
		return
	}
	if stored.ID == r.ID && stored.SellerSeq > 0 {
		w.o.Metrics.receipts.WithLabelValues(w.network, string(tr.State)).Inc()
	}
	if err := m.Ack(); err != nil {
		log.Warn("ack of a receipted transition failed; a redelivery finds the receipt", "err", err)
	}
}

func (w *Watcher) retryReceipt(m jetstream.Msg, log interface{ Warn(string, ...any) }, err error) {
	w.o.Metrics.errors.WithLabelValues(w.network, "receipt").Inc()
	log.Warn("receipt not published; will retry", "err", err)
	_ = m.NakWithDelay(time.Second)
}

// findReceipt reports whether the seller's subject holds r's receipt among
// the messages stored since since.
func (w *Watcher) findReceipt(ctx context.Context, r *events.Receipt, since time.Time) (bool, error) {
	subj, err := events.ReceiptSubject(r.PayTo, r.Namespace, r.NetworkID)
	if err != nil {
		return false, err
	}
	last, err := w.rstream.GetLastMsgForSubject(ctx, subj)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read %s: %w", subj, err)
	}
	if id, ok := receiptID(last.Data); ok && id == r.ID {
		return true, nil
	}
	if last.Time.Before(since) {
		return false, nil
	}
	found := false
	err = events.ScanSubject(ctx, w.js, events.StreamReceipts, subj, events.ScanFrom{Time: since}, last.Sequence, func(_ uint64, data []byte) bool {
		id, ok := receiptID(data)
		found = ok && id == r.ID
		return found
	})
	return found, err
}

func receiptID(b []byte) (string, bool) {
	r, err := events.DecodeReceipt(b)
	if err != nil {
		return "", false
	}
	return r.ID, true
}

// sellerStripe picks one of the watcher's seller locks (FNV-1a of payTo).
func sellerStripe(payTo string) int {
	h := uint32(2166136261)
	for i := 0; i < len(payTo); i++ {
		h ^= uint32(payTo[i] | 0x20) // case-insensitive: EVM addresses
		h *= 16777619
	}
	return int(h % sellerStripes)
}

// sellerStripes is the number of seller locks.
const sellerStripes = 64
