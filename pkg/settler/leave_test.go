package settler_test

import (
	"context"
	"encoding/json"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/h402/settlement/pkg/chains"
	"github.com/h402/settlement/pkg/config"
	"github.com/h402/settlement/pkg/events"
	"github.com/h402/settlement/pkg/exposure"
	"github.com/h402/settlement/pkg/h402"
	"github.com/h402/settlement/pkg/settler"
	"github.com/h402/settlement/pkg/settler/settlertest"
)

// runReleaser runs a Releaser on its own connection until the returned
// stop is called.
func (h *harness) runReleaser(t testing.TB) (stop func()) {
	t.Helper()
	_, js := h.js.Connect(t)
	rel, err := settler.NewReleaser(context.Background(), js, h.exposure, settler.ReleaserOptions{MaxWait: 50 * time.Millisecond, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rel.Run(ctx) }()
	return func() { cancel(); <-done }
}

// releaseDrained reports whether the release consumer delivered at least
// minDelivered transitions and has none pending or unacked.
func (h *harness) releaseDrained(minDelivered uint64) func() bool {
	return func() bool {
		c, err := h.jsc.Consumer(context.Background(), events.StreamPayments, events.ReleaseConsumerName)
		if err != nil {
			return false
		}
		info, err := c.Info(context.Background())
		return err == nil && info.Delivered.Consumer >= minDelivered && info.NumPending == 0 && info.NumAckPending == 0
	}
}

// eventually checks cond every few milliseconds until it holds, failing
// the test after timeout (for outcomes that publish no event to wait on).
func eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s did not happen", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// readsV1Only stands for a settler built before version 2 of the accepted
// event: it reads version 1 only.
func readsV1Only(b []byte) (*events.PaymentAccepted, error) {
	var probe struct {
		Version int `json:"v"`
	}
	if err := json.Unmarshal(b, &probe); err == nil && probe.Version > 1 {
		return nil, events.ErrUnknownVersion
	}
	return events.DecodePaymentAccepted(b)
}

func (h *harness) reserve(t testing.TB, id string, e *events.PaymentAccepted, amount int64) {
	t.Helper()
	if err := h.exposure.Reserve(context.Background(), account(e), id, big.NewInt(amount), new(big.Int).Lsh(big.NewInt(1), 64), time.Now()); err != nil {
		t.Fatal(err)
	}
}

func account(e *events.PaymentAccepted) exposure.Account {
	return exposure.Account{Namespace: e.Namespace, NetworkID: e.NetworkID, Token: e.Token, Payer: e.Payer}
}

func (h *harness) pending(t testing.TB, e *events.PaymentAccepted) int64 {
	t.Helper()
	p, err := h.exposure.Pending(context.Background(), account(e))
	if err != nil {
		t.Fatal(err)
	}
	return p.Int64()
}

func (h *harness) deadLetters(t testing.TB) []*events.DeadLetter {
	t.Helper()
	var out []*events.DeadLetter
	for _, b := range settlertest.Messages(t, h.jsc, events.StreamPayments, "payments.dead.solana.localnet") {
		dl, err := events.DecodeDeadLetter(b)
		if err != nil {
			t.Fatalf("dead letter: %v", err)
		}
		out = append(out, dl)
	}
	return out
}

// A rolling upgrade: an accepted event of a version a settler cannot read
// waits (NakWithDelay) instead of being dead-lettered, and the settler
// that reads it settles it. Before, the old settler dead-lettered and
// terminated it, and the payment was lost.
func TestUnknownVersionWaitsForASettlerThatReadsIt(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.cfg.UnknownVersionDelay = config.Duration(50 * time.Millisecond)
	es, _ := h.payments(t, 1)
	e := es[0]
	old := h.startOpts(t, nil, func(o *settler.Options) { o.Decode = readsV1Only })
	settlertest.Publish(t, h.jsc, e)
	eventually(t, 30*time.Second, "the old settler naks the event twice", func() bool {
		return h.result(settler.OutcomeUnknownVersion, "") >= 2
	})
	old.stop(t)
	if tr := h.states.Latest(e.ID); tr != nil {
		t.Fatalf("the old settler stored %+v, want nothing", tr)
	}
	if n := old.sub.Calls()[e.ID]; n != 0 {
		t.Fatalf("the old settler submitted it %d times", n)
	}

	h.start(t, nil) // the upgraded settler
	h.states.Wait(t, []string{e.ID}, 30*time.Second, events.StateSubmitted)
	h.checkSubmittedOnce(t, es)
	if dls := h.deadLetters(t); len(dls) != 0 {
		t.Errorf("dead letters: got %+v, want none", dls)
	}
}

// An accepted event that cannot be read (garbage on the payment's subject,
// or over the size limit) ends its payment: a `failed` transition, the
// exposure released, a dead letter naming the payment, the alert counter.
// Before, it was dead-lettered with no failed state and kept its
// reservation for ever.
func TestUnreadableEventFailsItsPayment(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	es, _ := h.payments(t, 2)
	garbled, oversize := es[0], es[1]
	h.reserve(t, garbled.ID, garbled, 1000)
	h.reserve(t, oversize.ID, oversize, 1001)
	ctx := context.Background()
	subj, _ := events.PaymentAcceptedSubject(garbled.Namespace, garbled.NetworkID, garbled.ID)
	if _, err := h.jsc.Publish(ctx, subj, []byte("\x00 not an event")); err != nil {
		t.Fatal(err)
	}
	big, _ := json.Marshal(oversize)
	big = append(big[:len(big)-1], []byte(`,"pad":"`+strings.Repeat("x", events.MaxEventLen)+`"}`)...)
	// On the version 1 subject, which names no payment: the id comes from the body.
	if _, err := h.jsc.Publish(ctx, "payments.accepted.solana.localnet", big); err != nil {
		t.Fatal(err)
	}
	r := h.start(t, nil)
	h.states.Wait(t, []string{garbled.ID, oversize.ID}, 30*time.Second, events.StateFailed)
	r.stop(t)
	for _, e := range es {
		if tr := h.states.Latest(e.ID); tr.Reason != h402.ReasonInvalidPayload || tr.Seq != 1 {
			t.Errorf("%s: transition %+v, want failed seq 1 with invalid_payload", e.ID, tr)
		}
	}
	eventually(t, 10*time.Second, "exposure released", func() bool {
		return h.pending(t, garbled) == 0 && h.pending(t, oversize) == 0
	})
	dls := h.deadLetters(t)
	failed := map[string]bool{}
	for _, dl := range dls {
		failed[dl.ID] = dl.Failed
	}
	if len(dls) != 2 || !failed[garbled.ID] || !failed[oversize.ID] {
		t.Errorf("dead letters: got %+v, want one per payment, failed", dls)
	}
	if got := testutil.ToFloat64(h.metrics.DeadLetters().WithLabelValues("solana.localnet", string(h402.ReasonInvalidPayload))); got != 2 {
		t.Errorf("h402_settler_dead_letters_total: got %v, want 2", got)
	}
	if info := h.consumerInfo(t); info.NumAckPending != 0 || info.NumPending != 0 {
		t.Errorf("consumer: ack pending %d, pending %d; want 0", info.NumAckPending, info.NumPending)
	}
}

// Another writer (a second settler, the watcher) ends the payment while
// this settler is submitting it: the settler's `submitted` transition is
// refused by the compare-and-set append, no second transition with the
// same Seq is stored, and the payment is acked. Before, both wrote Seq 1
// and a submitted transition followed a terminal one.
func TestTransitionOfAnotherWriterWins(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	es, _ := h.payments(t, 1)
	e := es[0]
	_, js := h.js.Connect(t)
	other, err := events.OpenStateLog(context.Background(), js)
	if err != nil {
		t.Fatal(err)
	}
	r := h.start(t, func(s chains.Submitter) chains.Submitter {
		return submitterFunc{Submitter: s, fn: func(ctx context.Context, batch []*events.PaymentAccepted, claims chains.Claims) ([]chains.Result, error) {
			res, err := s.Submit(ctx, batch, claims)
			for _, p := range batch {
				if _, aerr := other.Append(ctx, p.Namespace, p.NetworkID, events.Transition{ID: p.ID, State: events.StateFailed,
					Reason: h402.ReasonInvalidTransactionState, Message: "ended by another writer"}); aerr != nil {
					t.Errorf("other writer: %v", aerr)
				}
			}
			return res, err
		}}
	})
	settlertest.Publish(t, h.jsc, e)
	h.states.Wait(t, []string{e.ID}, 30*time.Second, events.StateFailed)
	eventually(t, 30*time.Second, "the payment acked", func() bool {
		info := h.consumerInfo(t)
		return info.NumAckPending == 0 && info.NumPending == 0
	})
	r.stop(t)
	if got := h.stateCounts(t, es)[e.ID]; got != 1 {
		t.Errorf("stored transitions: got %d (%+v), want 1 (the other writer's failed)", got, h.states.All(e.ID))
	}
	if tr := h.states.Latest(e.ID); tr.State != events.StateFailed || tr.Seq != 1 {
		t.Errorf("latest: got %+v, want failed seq 1", tr)
	}
}

// A settler stops after the `failed` transition and before releasing the
// payer's exposure; the Releaser, following the transition, releases it,
// and releases it once even when it reads the transition again.
func TestReleaseFollowsTheTerminalTransition(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	stale := h.sol.Accepted(t, settlertest.Pay{FeePayer: true})
	if _, err := h.sol.LN.AdvanceSlots(context.Background(), uint64(h.sol.LN.Manifest.BlockhashExpirySlots)+1); err != nil {
		t.Fatal(err)
	}
	amount, _ := stale.AmountInt()
	h.reserve(t, stale.ID, stale, amount.Int64())
	h.reserve(t, stale.ID+".other", stale, 5) // another payment of the payer, still pending
	// A settler that stops between the transition and the release never
	// releases: it runs without the exposure book.
	r := h.startOpts(t, nil, func(o *settler.Options) { o.Exposure = nil })
	settlertest.Publish(t, h.jsc, stale)
	h.states.Wait(t, []string{stale.ID}, 30*time.Second, events.StateFailed)
	r.stop(t)
	if got := h.pending(t, stale); got != amount.Int64()+5 {
		t.Fatalf("pending before the releaser: got %d, want %d", got, amount.Int64()+5)
	}

	drained := h.releaseDrained(0)
	stop := h.runReleaser(t)
	eventually(t, 30*time.Second, "release", func() bool { return h.pending(t, stale) == 5 })
	eventually(t, 30*time.Second, "the release consumer drained", drained)
	stop()

	// Read every transition again (a new consumer from the start): nothing
	// is released twice.
	if err := h.jsc.DeleteConsumer(context.Background(), events.StreamPayments, events.ReleaseConsumerName); err != nil {
		t.Fatal(err)
	}
	stop = h.runReleaser(t)
	eventually(t, 30*time.Second, "the release consumer drained again", drained)
	stop()
	if got := h.pending(t, stale); got != 5 {
		t.Errorf("pending after reading the transition again: got %d, want 5 (released once)", got)
	}
}

// A payer-caused failure with payer blocking keeps its amount held: the
// Releaser does not give it back.
func TestReleaserKeepsAPayerBlock(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	poor := h.sol.Accepted(t, settlertest.Pay{Amount: 2_000_000_000_000, FeePayer: true})
	h.reserve(t, poor.ID, poor, 2_000_000_000_000)
	defer h.runReleaser(t)()
	r := h.startOpts(t, nil, func(o *settler.Options) { o.PayerBlock = time.Hour })
	settlertest.Publish(t, h.jsc, poor)
	h.states.Wait(t, []string{poor.ID}, 30*time.Second, events.StateFailed)
	r.stop(t)
	eventually(t, 30*time.Second, "the releaser read the failed transition", h.releaseDrained(1))
	if got := h.pending(t, poor); got != 2_000_000_000_000 {
		t.Errorf("pending of a blocked payer: got %d, want the held 2000000000000", got)
	}
	if tr := h.states.Latest(poor.ID); tr.Reason != h402.ReasonInsufficientFunds {
		t.Errorf("transition: got %+v, want insufficient_funds", tr)
	}
}

// The watcher's send-back (events.StateLog.SendBack), called twice as a
// restarted watcher would, gets the payment settled again exactly once.
func TestSentBackPaymentIsSettledOnce(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	es, _ := h.payments(t, 1)
	e := es[0]
	r := h.start(t, nil)
	settlertest.Publish(t, h.jsc, e)
	h.states.Wait(t, []string{e.ID}, 30*time.Second, events.StateSubmitted)
	first := h.states.Latest(e.ID)

	_, js := h.js.Connect(t)
	log, err := events.OpenStateLog(context.Background(), js)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if _, err := log.SendBack(context.Background(), e, "dropped from the chain"); err != nil && !errors.Is(err, events.ErrIllegalMove) {
			t.Fatalf("send back #%d: %v", i+1, err)
		}
	}
	h.states.WaitUntil(t, 30*time.Second, "submitted again", func() bool {
		tr := h.states.Latest(e.ID)
		return tr != nil && tr.Seq == first.Seq+2 && tr.State == events.StateSubmitted
	})
	eventually(t, 30*time.Second, "the settlers' consumer drained", func() bool {
		info := h.consumerInfo(t)
		return info.NumAckPending == 0 && info.NumPending == 0
	})
	r.stop(t)
	all := h.states.All(e.ID)
	if got := h.stateCounts(t, es)[e.ID]; got != 3 {
		t.Errorf("stored transitions: got %d (%+v), want 3 (submitted, accepted, submitted)", got, all)
	}
	if got := r.sub.Calls()[e.ID]; got != 2 {
		t.Errorf("submitted %d times, want 2 (first delivery, one send-back)", got)
	}
	if got := h.proxy.Sends()[first.TxHash]; got != 1 {
		t.Errorf("broadcasts: got %d, want 1 (the claim shows it landed)", got)
	}
}

// A payment given up after MaxDeliver retryable failures, for which no
// transaction was ever claimed, ends failed and its exposure is released;
// before, it was dead-lettered with no terminal state and kept its
// reservation for ever.
func TestGivenUpPaymentWithoutClaimFails(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.cfg.MaxDeliver = 2
	es, _ := h.payments(t, 1)
	e := es[0]
	h.reserve(t, e.ID, e, 1000)
	r := h.start(t, func(s chains.Submitter) chains.Submitter {
		return submitterFunc{Submitter: s, fn: func(ctx context.Context, batch []*events.PaymentAccepted, claims chains.Claims) ([]chains.Result, error) {
			return nil, errors.New("rpc unreachable")
		}}
	})
	settlertest.Publish(t, h.jsc, e)
	h.states.Wait(t, []string{e.ID}, 30*time.Second, events.StateFailed)
	r.stop(t)
	if tr := h.states.Latest(e.ID); tr.Reason != h402.ReasonUnexpectedSettleError || tr.Seq != 1 {
		t.Errorf("transition: got %+v, want failed seq 1 with unexpected_settle_error", tr)
	}
	eventually(t, 10*time.Second, "exposure released", func() bool { return h.pending(t, e) == 0 })
	dls := h.deadLetters(t)
	if len(dls) != 1 || dls[0].ID != e.ID || !dls[0].Failed {
		t.Errorf("dead letters: got %+v, want one for the payment, failed", dls)
	}
}

// A payment given up while a transaction is claimed for it may still land:
// it is dead-lettered for an operator, not failed, and keeps its exposure.
func TestGivenUpPaymentWithClaimIsLeftToAnOperator(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.cfg.MaxDeliver = 2
	es, _ := h.payments(t, 1)
	e := es[0]
	h.reserve(t, e.ID, e, 1000)
	r := h.start(t, func(s chains.Submitter) chains.Submitter {
		return submitterFunc{Submitter: s, fn: func(ctx context.Context, batch []*events.PaymentAccepted, claims chains.Claims) ([]chains.Result, error) {
			if err := claims.Record(ctx, ids(batch), chains.Tx{Hash: "claimed-before-the-outage"}); err != nil {
				t.Errorf("record: %v", err)
			}
			return nil, errors.New("rpc unreachable")
		}}
	})
	settlertest.Publish(t, h.jsc, e)
	eventually(t, 30*time.Second, "a dead letter", func() bool { return h.result(settler.OutcomeDead, string(h402.ReasonUnexpectedSettleError)) >= 1 })
	r.stop(t)
	if tr := h.states.Latest(e.ID); tr != nil {
		t.Errorf("transition: got %+v, want none", tr)
	}
	if dls := h.deadLetters(t); len(dls) != 1 || dls[0].ID != e.ID || dls[0].Failed {
		t.Errorf("dead letters: got %+v, want one for the payment, not failed", dls)
	}
	if got := h.pending(t, e); got != 1000 {
		t.Errorf("pending: got %d, want 1000 (kept)", got)
	}
}
