package settler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/h402/settlement/pkg/events"
	"github.com/h402/settlement/pkg/exposure"
	"github.com/h402/settlement/pkg/h402"
)

// Nats-Msg-Id schemes live in pkg/events (TransitionMsgID, SettlementMsgID,
// DeadMsgID, GaveUpMsgID, UnreadableMsgID).

// publish stores v on subject and waits for the PubAck (a duplicate counts
// as stored).
func (l *Loop) publish(ctx context.Context, subject, stream, msgID string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", subject, err)
	}
	if _, err := l.js.Publish(ctx, subject, b, jetstream.WithMsgID(msgID), jetstream.WithExpectStream(stream)); err != nil {
		return fmt.Errorf("publish %s: %w", subject, err)
	}
	return nil
}

// transition appends the payment's next state transition through the
// compare-and-set append (events.StateLog.Append). An error wrapping
// events.ErrIllegalMove means another writer moved the payment where this
// transition may not follow (see superseded).
func (l *Loop) transition(ctx context.Context, it *item, tr events.Transition) (*events.Transition, error) {
	tr.ID = it.event.ID
	return l.states.Append(ctx, l.o.Namespace, l.o.NetworkID, tr)
}

// submitted stores a settlement record per transaction and a `submitted`
// transition per payment, then acks each payment whose events are stored.
func (l *Loop) submitted(ctx context.Context, items []*item) {
	var order []string
	byTx := map[string][]*item{}
	for _, it := range items {
		h := it.result.Tx.Hash
		if _, ok := byTx[h]; !ok {
			order = append(order, h)
		}
		byTx[h] = append(byTx[h], it)
	}
	stored := make([]bool, len(order))
	forEach(l.cfg.Parallel, len(order), func(i int) {
		group := byTx[order[i]]
		tx := group[0].result.Tx
		ids := make([]string, len(group))
		for j, it := range group {
			ids[j] = it.event.ID
		}
		slices.Sort(ids)
		rec := events.Settlement{
			Version:         events.SettlementVersion,
			Namespace:       l.o.Namespace,
			NetworkID:       l.o.NetworkID,
			TxHash:          tx.Hash,
			Signer:          tx.Signer,
			Nonce:           tx.Nonce,
			Replaces:        tx.Replaces,
			ClientBroadcast: !group[0].event.Settle,
			Payments:        ids,
			SubmittedAt:     time.Now().UTC(),
			Replica:         l.cfg.Replica,
		}
		if err := l.publish(ctx, l.settled, events.StreamSettlements, events.SettlementMsgID(tx.Hash, ids), rec); err != nil {
			for _, it := range group {
				l.unstored(it, err)
			}
			return
		}
		stored[i] = true
	})
	var ready []*item
	for i, h := range order {
		if stored[i] {
			ready = append(ready, byTx[h]...)
		}
	}
	l.each(ready, func(it *item) {
		tx := it.result.Tx
		if _, err := l.transition(ctx, it, events.Transition{State: events.StateSubmitted, TxHash: tx.Hash}); err != nil {
			if errors.Is(err, events.ErrIllegalMove) {
				l.superseded(it, err)
				return
			}
			l.unstored(it, err)
			return
		}
		if err := it.msg.Ack(); err != nil {
			it.log.Warn("ack failed; the payment will be redelivered and found submitted", "tx_hash", tx.Hash, "err", err)
		}
		it.done.Store(true)
		l.o.Metrics.result(l.network, OutcomeSubmitted, "")
		it.log.Debug("payment submitted", "tx_hash", tx.Hash)
	})
}

// fail records a payment that can never settle: the `failed` transition,
// then a dead letter whose Failed says whether that transition was stored,
// then TermWithReason. When another writer ended the payment first (the
// transition is refused with events.ErrIllegalMove), the dead letter says
// Failed = false and the payment is acked as superseded.
func (l *Loop) fail(ctx context.Context, it *item) {
	reason := h402.ReasonOf(it.result.Err, h402.ReasonUnexpectedSettleError)
	message := h402.MessageOf(it.result.Err)
	// A failure of the payer's doing blocks the payer and keeps the
	// reservation (no free retries by failing on purpose); stored before the
	// transition, so that a redelivery after an error blocks again.
	blocked := l.o.Exposure != nil && l.o.PayerBlock > 0 && PayerCaused(reason)
	if blocked {
		// Not when the payment can no longer fail (another writer ended
		// it): the append below is refused, and the payer did nothing to
		// be blocked for. (A writer slipping in between this read and the
		// append is still possible; it only blocks on the safe side.)
		cur, err := l.latest(ctx, it.event.ID)
		if err != nil {
			l.unstored(it, err)
			return
		}
		blocked = cur == nil || events.CanMove(cur.State, events.StateFailed)
	}
	if blocked {
		until := time.Now().Add(l.o.PayerBlock).UTC().Truncate(time.Second)
		a := exposure.Account{Namespace: it.event.Namespace, NetworkID: it.event.NetworkID, Token: it.event.Token, Payer: it.event.Payer}
		if err := l.o.Exposure.Block(ctx, a, it.event.ID, until); err != nil {
			l.unstored(it, err)
			return
		}
		message += fmt.Sprintf("; the payer is blocked until %s", until.Format(time.RFC3339))
	}
	tr := events.Transition{State: events.StateFailed, Reason: reason, Message: message}
	if it.result.Tx != nil {
		tr.TxHash = it.result.Tx.Hash
	}
	dl := l.deadLetter(it, reason, message)
	dl.ID = it.event.ID
	stored, err := l.transition(ctx, it, tr)
	if err != nil {
		if !errors.Is(err, events.ErrIllegalMove) {
			l.unstored(it, err)
			return
		}
		// Another writer ended the payment: the dead letter records this
		// settler's verdict without claiming the failure.
		dl.Message += "; not failed: " + err.Error()
		if perr := l.publish(ctx, l.dead, events.StreamPayments, events.DeadMsgID(it.event.ID, it.lastSeq+1), dl); perr != nil {
			it.log.Error("dead letter of a superseded failure not stored", "reason", reason, "err", perr)
		}
		l.superseded(it, err)
		return
	}
	dl.Failed = true
	if err := l.publish(ctx, l.dead, events.StreamPayments, events.DeadMsgID(it.event.ID, stored.Seq), dl); err != nil {
		// The failure is stored (it is the payment's record, and the alert
		// counter is raised); a redelivery would find it failed and ack it,
		// so the dead letter is not retried that way.
		it.log.Error("dead letter of a failed payment not stored", "reason", reason, "err", err)
	}
	if l.o.Exposure != nil && !blocked {
		// Idempotent; on error the exposure stays overstated, the safe side.
		if err := l.o.Exposure.Release(ctx, it.event.ID); err != nil {
			it.log.Warn("release exposure of a failed payment", "err", err)
		}
	}
	if err := it.msg.TermWithReason(string(reason)); err != nil {
		it.log.Warn("term failed; the payment will be redelivered and found failed", "err", err)
	}
	it.done.Store(true)
	l.o.Metrics.result(l.network, OutcomeFailed, reason)
	it.log.Info("payment failed", "reason", reason, "message", message)
}

// PayerCaused reports whether a settlement failure with this reason is of
// the payer's doing after acceptance: funds moved away before settlement
// (insufficient_funds: EVM balance revert, Solana insufficient funds), or
// the authorization or transaction nonce used or canceled by the payer
// (nonce_already_used: EIP-3009 cancelAuthorization, a competing
// transaction). Settlers recognise a payment carried by someone else's
// transaction as settled, so these reasons only remain when nothing paid.
func PayerCaused(reason h402.Reason) bool {
	switch reason {
	case h402.ReasonInsufficientFunds, h402.ReasonNonceAlreadyUsed:
		return true
	}
	return false
}

// retry naks a payment after a retryable error, with a delay growing with
// its deliveries; past MaxDeliver it gives up instead.
func (l *Loop) retry(ctx context.Context, it *item, err error) {
	if l.cfg.MaxDeliver > 0 && it.delivery >= uint64(l.cfg.MaxDeliver) {
		l.giveUp(ctx, it, err)
		return
	}
	delay := l.cfg.retryDelay(it.delivery)
	it.log.Warn("settlement will be retried", "err", err, "delay", delay)
	if nerr := it.msg.NakWithDelay(delay); nerr != nil {
		it.log.Warn("nak failed; the payment is redelivered after ackWait", "err", nerr)
	}
	it.done.Store(true)
	l.o.Metrics.result(l.network, OutcomeRetry, "")
}

// giveUp dead-letters a payment that still fails with a retryable error on
// its last allowed delivery. It is not marked failed: its transaction may
// still land, so an operator decides.
func (l *Loop) giveUp(ctx context.Context, it *item, cause error) {
	msg := fmt.Sprintf("settlement still failing after %d deliveries: %v", it.delivery, cause)
	dl := l.deadLetter(it, h402.ReasonUnexpectedSettleError, msg)
	dl.ID = it.event.ID
	// A payment no transaction was ever recorded for, and that cannot land
	// without us, ends failed (and its exposure is released); otherwise an
	// operator decides.
	failed := false
	if !mayLandWithoutUs(it.event) {
		var err error
		if failed, err = l.failUnclaimed(ctx, it.event.ID, h402.ReasonUnexpectedSettleError, msg); err != nil {
			l.unstored(it, err)
			return
		}
	}
	dl.Failed = failed
	if err := l.publish(ctx, l.dead, events.StreamPayments, events.GaveUpMsgID(it.event.ID, it.seq), dl); err != nil {
		l.unstored(it, err)
		return
	}
	_ = it.msg.TermWithReason("max deliveries")
	it.done.Store(true)
	l.o.Metrics.result(l.network, OutcomeDead, h402.ReasonUnexpectedSettleError)
	it.log.Error("gave up on a payment; see its dead letter", "err", cause)
}

func (l *Loop) deadLetter(it *item, reason h402.Reason, message string) events.DeadLetter {
	l.o.Metrics.deadLetter(l.network, reason) // s9c: every dead letter raises the alert-grade counter
	dl := events.DeadLetter{
		Version:   events.DeadLetterVersion,
		Reason:    reason,
		Message:   message,
		StreamSeq: it.seq,
		Delivery:  it.delivery,
		At:        time.Now().UTC(),
		Replica:   l.cfg.Replica,
	}
	if data := it.msg.Data(); json.Valid(data) {
		dl.Event = json.RawMessage(data)
	} else {
		dl.Raw = data
	}
	return dl
}

// duplicate acks a payment whose latest state shows it was handled.
func (l *Loop) duplicate(it *item, tr *events.Transition) {
	if err := it.msg.Ack(); err != nil {
		it.log.Warn("ack of an already handled payment failed", "err", err)
	}
	it.done.Store(true)
	l.o.Metrics.result(l.network, OutcomeDuplicate, "")
	it.log.Debug("payment already handled", "state", tr.State, "tx_hash", tr.TxHash)
}

// unstored naks a payment whose outcome could not be stored, so that a
// later delivery stores it (the Submitter finds its claim).
func (l *Loop) unstored(it *item, err error) {
	delay := l.cfg.retryDelay(it.delivery)
	it.log.Warn("outcome not stored; the payment will be redelivered", "err", err, "delay", delay)
	_ = it.msg.NakWithDelay(delay)
	it.done.Store(true)
	l.o.Metrics.result(l.network, OutcomeUnstored, "")
}

// forEach runs fn(0..n-1), at most parallel at once.
func forEach(parallel, n int, fn func(i int)) {
	if n == 0 {
		return
	}
	sem := make(chan struct{}, parallel)
	done := make(chan struct{}, n)
	for i := 0; i < n; i++ {
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; done <- struct{}{} }()
			fn(i)
		}()
	}
	for i := 0; i < n; i++ {
		<-done
	}
}

// mayLandWithoutUs reports whether a payment's client holds something that
// can still land on chain without the facilitator: an EVM client-signed
// transaction never expires, so failing it (and releasing its exposure)
// could be contradicted by the chain later.
func mayLandWithoutUs(e *events.PaymentAccepted) bool {
	return e.Type == h402.TypeSignedTransaction
}
