package watcher

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/h402/settlement/pkg/chains"
	"github.com/h402/settlement/pkg/events"
	"github.com/h402/settlement/pkg/exposure"
	"github.com/h402/settlement/pkg/h402"
	"github.com/h402/settlement/pkg/settler"
)

// errSuperseded: the payment moved on from the submission the watcher
// follows (sent back and submitted again, failed by another writer, ...).
var errSuperseded = errors.New("superseded")

// errNoop: the transition the watcher would write is already recorded.
var errNoop = errors.New("already recorded")

// errSentBack: the submission the watcher follows was sent back for
// settlement (an `accepted` transition after it): the settlers own the
// payment again.
var errSentBack = errors.New("sent back for settlement")

// pollLoop asks the chain about every followed payment each PollInterval.
func (w *Watcher) pollLoop(ctx context.Context) {
	t := time.NewTicker(w.o.PollInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		w.Poll(ctx)
	}
}

// Poll looks up every followed payment once and acts on what the chain
// says. Run calls it every PollInterval; tests call it directly.
func (w *Watcher) Poll(ctx context.Context) {
	entries := w.snapshot()
	// Oldest submissions first, so a backlog is worked in order.
	sort.Slice(entries, func(i, j int) bool { return entries[i].tr.At.Before(entries[j].tr.At) })
	for start := 0; start < len(entries) && ctx.Err() == nil; start += w.o.Config.ConfirmBatch {
		chunk := entries[start:min(start+w.o.Config.ConfirmBatch, len(entries))]
		w.pollChunk(ctx, chunk)
	}
}

func (w *Watcher) pollChunk(ctx context.Context, chunk []*entry) {
	ready := make([]bool, len(chunk))
	forEach(w.o.Config.Parallel, len(chunk), func(i int) {
		if err := w.prepare(ctx, chunk[i]); err != nil {
			w.o.Metrics.errors.WithLabelValues(w.network, "prepare").Inc()
			w.log.Warn("cannot follow payment yet", "payment_id", chunk[i].tr.ID, "err", err)
			return
		}
		ready[i] = true
	})
	var subs []chains.Submission
	var live []*entry
	for i, e := range chunk {
		if ready[i] {
			subs = append(subs, chains.Submission{Payment: e.event, Tx: e.tx})
			live = append(live, e)
		}
	}
	if len(subs) == 0 {
		return
	}
	confs, err := w.o.Confirmer.Confirm(ctx, subs)
	if err == nil && len(confs) != len(subs) {
		err = fmt.Errorf("confirmer returned %d confirmations for %d payments", len(confs), len(subs))
	}
	if err != nil {
		w.o.Metrics.errors.WithLabelValues(w.network, "confirm").Inc()
		w.log.Warn("chain look-up failed; will ask again", "payments", len(subs), "err", err)
		return
	}
	forEach(w.o.Config.Parallel, len(live), func(i int) {
		c := confs[i]
		if c.ID != "" && c.ID != live[i].tr.ID {
			w.log.Error("confirmer answered for another payment; ignored", "payment_id", live[i].tr.ID, "answer_for", c.ID)
			return
		}
		w.apply(ctx, live[i], c)
	})
}

// prepare loads what following a payment needs, once: its accepted event
// and the hashes of its transaction from the claims.
func (w *Watcher) prepare(ctx context.Context, e *entry) error {
	if e.event != nil {
		return nil
	}
	ev, err := w.acceptedEvent(ctx, e.tr.ID)
	if err != nil {
		return err
	}
	tx := chains.Tx{Hash: e.tr.TxHash}
	if w.o.Claims != nil && ev.Settle {
		claim, err := w.o.Claims.Lookup(ctx, e.tr.ID)
		if err != nil {
			return fmt.Errorf("read claim: %w", err)
		}
		if claim != nil {
			tx.Signer, tx.Nonce = claim.Signer, claim.Nonce
			for _, h := range append([]string{claim.Hash}, claim.Replaces...) {
				if h != "" && h != tx.Hash && !slices.Contains(tx.Replaces, h) {
					tx.Replaces = append(tx.Replaces, h)
				}
			}
		}
	}
	e.event, e.tx = ev, tx
	return nil
}

// acceptedEvent reads a payment's accepted event from its own subject.
func (w *Watcher) acceptedEvent(ctx context.Context, id string) (*events.PaymentAccepted, error) {
	subj, err := events.PaymentAcceptedSubject(w.o.Namespace, w.o.NetworkID, id)
	if err != nil {
		return nil, err
	}
	m, err := w.stream.GetLastMsgForSubject(ctx, subj)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		m, err = w.legacy.find(ctx, w.js, w.stream, id)
	}
	if err != nil {
		return nil, fmt.Errorf("read accepted event of %s: %w", id, err)
	}
	ev, err := events.DecodePaymentAccepted(m.Data)
	if err != nil {
		return nil, fmt.Errorf("accepted event of %s: %w", id, err)
	}
	if ev.ID != id {
		return nil, fmt.Errorf("%w: accepted event on the subject of %s names %s", events.ErrMalformed, id, ev.ID)
	}
	return ev, nil
}

// guard accepts writing after the latest transition when it is e's
// submission or one the watcher wrote for it (confirmed, then finalized,
// failed or a send-back); anything newer (batched or submitted again)
// means another submission carries the payment now.
func (e *entry) guard(next events.State) func(*events.Transition) error {
	return func(latest *events.Transition) error {
		if latest == nil || latest.Seq < e.tr.Seq || latest.Seq > e.tr.Seq+2 {
			return errSuperseded
		}
		if latest.Seq > e.tr.Seq && (latest.State == events.StateBatched || latest.State == events.StateSubmitted) {
			return errSuperseded
		}
		if latest.Seq == e.tr.Seq && (latest.State != events.StateSubmitted || latest.TxHash != e.tr.TxHash) {
			return errSuperseded
		}
		if latest.Seq > e.tr.Seq && latest.State == events.StateAccepted && next != events.StateAccepted {
			// Never written over: a `confirmed` over a send-back from
			// `confirmed` lands beyond the guard's reach, and nobody
			// followed the payment to a terminal state.
			return errSentBack
		}
		if next == events.StateConfirmed && latest.State == events.StateConfirmed {
			return errNoop // recorded in another block before a reorg moved it: finalized will say where
		}
		return nil
	}
}

// apply acts on what the chain says about one followed payment.
func (w *Watcher) apply(ctx context.Context, e *entry, c chains.Confirmation) {
	log := w.log.With("payment_id", e.tr.ID)
	if c.Status != chains.Dropped {
		e.droppedSince = time.Time{}
	}
	switch c.Status {
	case chains.Pending:
		if c.Message != "" {
			log.Debug("pending", "message", c.Message)
		}
	case chains.Confirmed:
		if e.confirmed == c.BlockHash {
			return
		}
		_, err := w.states.AppendIf(ctx, w.o.Namespace, w.o.NetworkID,
			events.Transition{ID: e.tr.ID, State: events.StateConfirmed, TxHash: c.TxHash, Block: c.Block},
			e.guard(events.StateConfirmed))
		if w.outcome(ctx, e, err, events.StateConfirmed) {
			e.confirmed = c.BlockHash
		}
	case chains.Finalized:
		if c.TxHash == "" {
			log.Error("finalized without a transaction hash; ignored")
			return
		}
		// The cost first: a crash after the transition leaves no payment
		// without its transaction's fee in the ledger.
		if err := w.publishFinal(ctx, e, c); err != nil {
			w.o.Metrics.errors.WithLabelValues(w.network, "store").Inc()
			log.Warn("final-settlement record not stored; will retry", "err", err)
			return
		}
		// Final when first seen (a watcher that took over late, a fast
		// chain): `confirmed` first, as the states go.
		if e.confirmed == "" {
			_, err := w.states.AppendIf(ctx, w.o.Namespace, w.o.NetworkID,
				events.Transition{ID: e.tr.ID, State: events.StateConfirmed, TxHash: c.TxHash, Block: c.Block},
				e.guard(events.StateConfirmed))
			if !w.outcome(ctx, e, err, events.StateConfirmed) {
				return
			}
			e.confirmed = c.BlockHash
		}
		// The payer's exposure goes before the transition is visible, so
		// that a payer told "finalized" can spend the rest of its balance at
		// once. Safe whatever happens next: the payment is final on chain,
		// so the balance already carries it (and the release makes ingest
		// re-read a balance it cached earlier). Idempotent; the Releaser
		// repeats it on the transition.
		if w.o.Exposure != nil {
			if err := w.o.Exposure.Release(ctx, e.tr.ID); err != nil {
				w.o.Metrics.errors.WithLabelValues(w.network, "store").Inc()
				log.Warn("exposure of a final payment not released; will retry", "err", err)
				return
			}
		}
		at := c.At.UTC()
		if at.IsZero() {
			at = w.o.Now().UTC()
		}
		_, err := w.states.AppendIf(ctx, w.o.Namespace, w.o.NetworkID,
			events.Transition{ID: e.tr.ID, State: events.StateFinalized, TxHash: c.TxHash, Block: c.Block, At: at},
			e.guard(events.StateFinalized))
		if w.outcome(ctx, e, err, events.StateFinalized) {
			w.o.Metrics.finality.WithLabelValues(w.network).Observe(w.o.Now().Sub(e.event.AcceptedAt).Seconds())
			w.done(e)
		}
	case chains.Failed:
		w.failPayment(ctx, e, c.Reason, c.Message, c.TxHash)
	case chains.Dropped:
		w.dropped(ctx, e, c)
	default:
		log.Error("confirmer answered an unknown status; ignored", "status", c.Status)
	}
}

// outcome handles the result of a guarded append: true when stored (or
// already recorded); a superseded payment is let go.
func (w *Watcher) outcome(ctx context.Context, e *entry, err error, state events.State) bool {
	switch {
	case err == nil:
		w.o.Metrics.transitions.WithLabelValues(w.network, string(state)).Inc()
		return true
	case errors.Is(err, errNoop):
		return true
	case errors.Is(err, errSentBack):
		// Its writer may have died before republishing the accepted event
		// (the redelivery of this submission is how that is finished):
		// republish it (SendBack is idempotent), then let go.
		if _, err := w.states.SendBackIf(ctx, e.event, "", e.guard(events.StateAccepted)); err != nil && !errors.Is(err, errSuperseded) && !errors.Is(err, events.ErrIllegalMove) {
			w.o.Metrics.errors.WithLabelValues(w.network, "store").Inc()
			w.log.Warn("republish of a sent-back payment failed; will retry", "payment_id", e.tr.ID, "err", err)
			return false
		}
		w.log.Info("payment was sent back for settlement; no longer followed here", "payment_id", e.tr.ID, "tx_hash", e.tr.TxHash)
		w.done(e)
		return false
	case errors.Is(err, errSuperseded), errors.Is(err, events.ErrIllegalMove):
		w.log.Info("payment moved on; no longer followed here", "payment_id", e.tr.ID, "tx_hash", e.tr.TxHash, "err", err)
		w.done(e)
		return false
	default:
		w.o.Metrics.errors.WithLabelValues(w.network, "store").Inc()
		w.log.Warn("transition not stored; will retry", "payment_id", e.tr.ID, "state", state, "err", err)
		return false
	}
}

func (w *Watcher) failPayment(ctx context.Context, e *entry, reason h402.Reason, message, txHash string) {
	if reason == "" {
		reason = h402.ReasonUnexpectedSettleError
	}
	if w.o.Exposure != nil && w.o.PayerBlock > 0 && settler.PayerCaused(reason) {
		// Only a payment this watcher may still fail blocks its payer: an
		// answer about a submission the payment has left (finalized or
		// sent back meanwhile; a lagging node's stale view) must not
		// block an honest payer nor take its reservation.
		if err := w.mayMove(ctx, e, events.StateFailed); err != nil {
			w.outcome(ctx, e, err, events.StateFailed)
			return
		}
		// Stored before the transition, so that a retry blocks again.
		until := w.o.Now().Add(w.o.PayerBlock).UTC().Truncate(time.Second)
		a := exposure.Account{Namespace: e.event.Namespace, NetworkID: e.event.NetworkID, Token: e.event.Token, Payer: e.event.Payer}
		if err := w.o.Exposure.Block(ctx, a, e.tr.ID, until); err != nil {
			w.o.Metrics.errors.WithLabelValues(w.network, "store").Inc()
			w.log.Warn("payer block not stored; will retry", "payment_id", e.tr.ID, "err", err)
			return
		}
		message += fmt.Sprintf("; the payer is blocked until %s", until.Format(time.RFC3339))
	}
	_, err := w.states.AppendIf(ctx, w.o.Namespace, w.o.NetworkID,
		events.Transition{ID: e.tr.ID, State: events.StateFailed, Reason: reason, Message: message, TxHash: txHash},
		e.guard(events.StateFailed))
	if w.outcome(ctx, e, err, events.StateFailed) {
		w.log.Info("payment failed on chain", "payment_id", e.tr.ID, "reason", reason, "message", message)
		w.done(e)
	}
}

// mayMove reports (nil) whether e's guard and the payment's latest state
// allow the watcher to write next now; else errSuperseded, errNoop or an
// error wrapping events.ErrIllegalMove, as AppendIf would return. A side
// effect that must precede the write (a payer block) checks it first.
func (w *Watcher) mayMove(ctx context.Context, e *entry, next events.State) error {
	latest, _, err := w.states.Latest(ctx, w.o.Namespace, w.o.NetworkID, e.tr.ID)
	if err != nil {
		return err
	}
	if err := e.guard(next)(latest); err != nil {
		return err
	}
	if latest != nil && !events.CanMove(latest.State, next) {
		return fmt.Errorf("%w: payment %s is %s (seq %d), cannot move to %s", events.ErrIllegalMove, e.tr.ID, latest.State, latest.Seq, next)
	}
	return nil
}

// dropped handles a payment whose transaction left the chain or can no
// longer land: sent back when it can still settle, else failed.
func (w *Watcher) dropped(ctx context.Context, e *entry, c chains.Confirmation) {
	if ok, why := w.canResettle(e.event, c); !ok {
		if wait := w.mayStillLand(e, c); wait != "" {
			w.log.Info("transaction not found, but it may still land; waiting", "payment_id", e.tr.ID, "tx_hash", e.tr.TxHash, "until", wait, "message", c.Message)
			return
		}
		msg := c.Message
		if msg == "" {
			msg = "the payment's transaction left the chain"
		}
		w.failPayment(ctx, e, c.Reason, msg+"; "+why, e.tr.TxHash) // an empty reason becomes unexpected_settle_error
		return
	}
	msg := "transaction " + e.tr.TxHash + " left the chain"
	if c.Message != "" {
		msg += ": " + c.Message
	}
	_, err := w.states.SendBackIf(ctx, e.event, msg, e.guard(events.StateAccepted))
	if w.outcome(ctx, e, err, events.StateAccepted) {
		w.o.Metrics.sendBacks.WithLabelValues(w.network).Inc()
		w.log.Info("payment sent back for settlement", "payment_id", e.tr.ID, "tx_hash", e.tr.TxHash, "why", msg)
		w.done(e)
	}
}

// expirySlack is how long after an authorization's validBefore (wall
// clock) no block can still include a transaction using it: block
// timestamps do not run far behind the wall clock.
const expirySlack = time.Minute

// dropGrace is how long a client's EVM transaction must stay unknown to the
// chain, with its nonce unused, before its payment is failed: a node that
// lags or lost it from its pool says "unknown" of a transaction that is
// mined or still lands.
const dropGrace = 10 * time.Minute

// mayStillLand says until when a payment that cannot be settled again must
// be waited on although the chain answered Dropped, or "" when the answer
// proves its transaction can never land: another transaction took its
// nonce, a Solana blockhash expired (the confirmer says Dropped only then),
// an authorization expired. Before, one "not found" answer (a lagging or
// failed-over node) failed a payment whose transaction was then mined:
// paid on chain, failed for the seller.
func (w *Watcher) mayStillLand(e *entry, c chains.Confirmation) string {
	ev := e.event
	if c.Reason == h402.ReasonNonceAlreadyUsed || ev.Namespace != h402.NamespaceEVM {
		return ""
	}
	now := w.o.Now()
	if ev.Type == h402.TypeAuthorization {
		if end := time.Unix(ev.ValidBefore, 0).Add(expirySlack); ev.ValidBefore > 0 && now.Before(end) {
			return "the authorization expires, " + end.UTC().Format(time.RFC3339)
		}
		return ""
	}
	if e.droppedSince.IsZero() {
		e.droppedSince = now
	}
	if end := e.droppedSince.Add(dropGrace); now.Before(end) {
		return "its nonce is used or " + end.UTC().Format(time.RFC3339)
	}
	return ""
}

// canResettle reports whether a dropped payment can be settled again by a
// settler, and why not. Only what the facilitator itself broadcasts can be
// (an EIP-3009 authorization still valid for ResendMargin, or an EVM
// client-signed transaction whose nonce is not used: the settler
// re-broadcasts its very bytes). A Solana transaction's blockhash expired
// for good, and a client's own broadcast is the client's to repeat.
func (w *Watcher) canResettle(e *events.PaymentAccepted, c chains.Confirmation) (bool, string) {
	if !e.Settle {
		return false, "the client broadcast it, so only the client can send it again"
	}
	switch {
	case e.Type == h402.TypeAuthorization:
		left := time.Unix(e.ValidBefore, 0).Sub(w.o.Now())
		if e.ValidBefore == 0 || left > time.Duration(w.o.Config.ResendMargin) {
			return true, ""
		}
		return false, fmt.Sprintf("the authorization expires in %s, too soon to settle it again", left.Round(time.Second))
	case e.Namespace == h402.NamespaceEVM && e.Type == h402.TypeSignedTransaction:
		if c.Reason == h402.ReasonNonceAlreadyUsed {
			return false, "the client's transaction nonce went to another transaction"
		}
		return true, ""
	}
	return false, "its transaction can never land now"
}

// publishFinal records the cost of a final transaction (once per hash:
// the stream deduplicates recent copies, the ledger counts a hash once).
func (w *Watcher) publishFinal(ctx context.Context, e *entry, c chains.Confirmation) error {
	rec := events.SettlementFinal{
		Version: events.SettlementFinalVersion, Namespace: w.o.Namespace, NetworkID: w.o.NetworkID,
		TxHash: c.TxHash, Block: c.Block, BlockHash: c.BlockHash, At: c.At.UTC(),
		GasUsed: c.GasUsed, Fee: c.Fee, FeePayer: c.FeePayer, ClientBroadcast: !e.event.Settle,
	}
	b, err := json.Marshal(&rec)
	if err != nil {
		return err
	}
	if _, err := events.DecodeSettlementFinal(b); err != nil {
		return err
	}
	_, err = w.js.Publish(ctx, w.final, b, jetstream.WithMsgID(events.SettlementFinalMsgID(c.TxHash)), jetstream.WithExpectStream(events.StreamSettlements))
	return err
}

// legacyIndex finds version 1 accepted events, which earlier ingests
// published all on the network's subject (payments.accepted.<ns>.<net>,
// where settlers still read them): by payment id, their stream sequences,
// read once when a payment's own subject has none, and then only what was
// stored since. Without it, a payment accepted before the upgrade was
// settled but never followed (no terminal state) and got no receipt.
type legacyIndex struct {
	subject string
	mu      sync.Mutex
	next    uint64 // first stream sequence not read yet
	seqs    map[string]uint64
}

// find returns id's version 1 accepted event, or jetstream.ErrMsgNotFound.
func (l *legacyIndex) find(ctx context.Context, js jetstream.JetStream, st jetstream.Stream, id string) (*jetstream.RawStreamMsg, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	seq, ok := l.seqs[id]
	if !ok {
		last, err := st.GetLastMsgForSubject(ctx, l.subject)
		if err != nil {
			return nil, err // ErrMsgNotFound: no version 1 event at all
		}
		if last.Sequence >= l.next {
			if err := l.scan(ctx, js, last.Sequence); err != nil {
				return nil, err
			}
		}
		if seq, ok = l.seqs[id]; !ok {
			return nil, jetstream.ErrMsgNotFound
		}
	}
	return st.GetMsg(ctx, seq)
}

// scan indexes the subject's events from l.next up to stream sequence upTo.
func (l *legacyIndex) scan(ctx context.Context, js jetstream.JetStream, upTo uint64) error {
	if l.seqs == nil {
		l.seqs = map[string]uint64{}
	}
	return events.ScanSubject(ctx, js, events.StreamPayments, l.subject, events.ScanFrom{Seq: l.next}, upTo, func(seq uint64, data []byte) bool {
		// An unreadable one is the settlers' to dead-letter: skipped.
		if ev, err := events.DecodePaymentAccepted(data); err == nil {
			l.seqs[ev.ID] = seq
		}
		l.next = seq + 1
		return false
	})
}
