package settler_test

import (
	"context"
	"errors"
	"math/big"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/h402/settlement/pkg/chains"
	"github.com/h402/settlement/pkg/config"
	"github.com/h402/settlement/pkg/events"
	"github.com/h402/settlement/pkg/exposure"
	"github.com/h402/settlement/pkg/h402"
	"github.com/h402/settlement/pkg/settler"
	"github.com/h402/settlement/pkg/settler/settlertest"
)

// payments signs n payments over the localnet's payers, alternating the
// client-paid and fee-payer variants, with distinct amounts.
func (h *harness) payments(t testing.TB, n int) ([]*events.PaymentAccepted, uint64) {
	t.Helper()
	payers := h.sol.LN.Payers()
	bh := h.sol.Blockhash(t)
	var (
		out []*events.PaymentAccepted
		sum uint64
	)
	for i := 0; i < n; i++ {
		p := settlertest.Pay{Payer: payers[i%len(payers)], Amount: uint64(1000 + i), FeePayer: i%2 == 1, Blockhash: bh}
		out = append(out, h.sol.Accepted(t, p))
		sum += p.Amount
	}
	return out, sum
}

// checkSubmittedOnce checks that every payment has exactly one stored
// transition, `submitted` with Seq 1 and a transaction hash, and returns the hashes.
func (h *harness) checkSubmittedOnce(t testing.TB, es []*events.PaymentAccepted) []string {
	t.Helper()
	counts := h.stateCounts(t, es)
	var hashes []string
	for _, e := range es {
		if counts[e.ID] != 1 {
			t.Errorf("payment %s: %d stored transitions, want 1", e.ID, counts[e.ID])
		}
		tr := h.states.Latest(e.ID)
		if tr == nil || tr.State != events.StateSubmitted || tr.Seq != 1 || tr.TxHash == "" {
			t.Fatalf("payment %s: latest transition %+v, want submitted with seq 1 and a tx hash", e.ID, tr)
		}
		if e.TxHash != "" && tr.TxHash != e.TxHash {
			t.Errorf("payment %s: tx %s, want the client's signature %s", e.ID, tr.TxHash, e.TxHash)
		}
		hashes = append(hashes, tr.TxHash)
	}
	sorted := slices.Clone(hashes)
	slices.Sort(sorted)
	if len(slices.Compact(sorted)) != len(hashes) {
		t.Errorf("transaction hashes are not unique across payments")
	}
	return hashes
}

// checkLanded advances a slot and checks every hash is confirmed without error.
func (h *harness) checkLanded(t testing.TB, hashes []string) {
	t.Helper()
	if _, err := h.sol.LN.AdvanceSlots(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	for i, st := range h.sol.Statuses(t, hashes) {
		if st == nil || st.Err != nil || st.ConfirmationStatus != "confirmed" {
			t.Fatalf("status of %s: got %+v, want confirmed without error", hashes[i], st)
		}
	}
}

// checkSettlements checks the settlement records name every payment once.
func (h *harness) checkSettlements(t testing.TB, es []*events.PaymentAccepted) {
	t.Helper()
	seen := map[string]int{}
	for _, b := range settlertest.Messages(t, h.jsc, events.StreamSettlements, "settlements.submitted.solana.localnet") {
		rec, err := events.DecodeSettlement(b)
		if err != nil {
			t.Fatalf("settlement record: %v", err)
		}
		for _, id := range rec.Payments {
			seen[id]++
		}
	}
	for _, e := range es {
		if seen[e.ID] != 1 {
			t.Errorf("payment %s is in %d settlement records, want 1", e.ID, seen[e.ID])
		}
	}
}

func TestSettleManyPayments(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	before := h.sol.SellerUSDC(t)
	es, sum := h.payments(t, 200)
	for i := 0; i < 4; i++ { // client-broadcast payments need no broadcast by us
		p := settlertest.Pay{Payer: h.sol.LN.Payers()[i], Amount: uint64(5000 + i)}
		es = append(es, h.sol.Broadcast(t, p))
		sum += p.Amount
	}
	r := h.start(t, nil)
	settlertest.Publish(t, h.jsc, es...)
	h.states.Wait(t, ids(es), 30*time.Second, events.StateSubmitted, events.StateFailed)
	r.stop(t)

	hashes := h.checkSubmittedOnce(t, es)
	h.checkLanded(t, hashes)
	h.checkSettlements(t, es)
	if got := h.sol.SellerUSDC(t) - before; got != sum {
		t.Errorf("seller received %d, want the sum of the payments %d", got, sum)
	}
	sends := h.proxy.Sends()
	for i, e := range es {
		want := 1
		if !e.Settle {
			want = 0
		}
		if sends[hashes[i]] != want {
			t.Errorf("payment %s (settle %v): sent %d times, want %d", e.ID, e.Settle, sends[hashes[i]], want)
		}
	}
	info := h.consumerInfo(t)
	if info.NumAckPending != 0 || info.NumPending != 0 || info.NumRedelivered != 0 {
		t.Errorf("consumer: ack pending %d, pending %d, redelivered %d; want all 0", info.NumAckPending, info.NumPending, info.NumRedelivered)
	}
	if got := h.result(settler.OutcomeSubmitted, ""); got != float64(len(es)) {
		t.Errorf("submitted results metric: got %v, want %d", got, len(es))
	}
}

func TestTwoReplicasSettleEachPaymentOnce(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	es, sum := h.payments(t, 200)
	before := h.sol.SellerUSDC(t)
	a, b := h.start(t, nil), h.start(t, nil)
	settlertest.Publish(t, h.jsc, es...)
	h.states.Wait(t, ids(es), 30*time.Second, events.StateSubmitted, events.StateFailed)
	a.stop(t)
	b.stop(t)

	hashes := h.checkSubmittedOnce(t, es)
	ra, rb := a.claims.Records(), b.claims.Records()
	ca, cb := a.sub.Calls(), b.sub.Calls()
	sends := h.proxy.Sends()
	for i, e := range es {
		if n := ra[e.ID] + rb[e.ID]; n != 1 {
			t.Errorf("payment %s recorded %d times across replicas, want 1", e.ID, n)
		}
		if n := ca[e.ID] + cb[e.ID]; n != 1 {
			t.Errorf("payment %s submitted %d times across replicas, want 1", e.ID, n)
		}
		if sends[hashes[i]] != 1 {
			t.Errorf("payment %s broadcast %d times, want 1", e.ID, sends[hashes[i]])
		}
	}
	t.Logf("replica a settled %d payments, replica b %d", len(ca), len(cb))
	h.checkLanded(t, hashes)
	if got := h.sol.SellerUSDC(t) - before; got != sum {
		t.Errorf("seller received %d, want %d", got, sum)
	}
}

func TestCrashBetweenRecordAndBroadcast(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	es, _ := h.payments(t, 6)
	r := h.start(t, nil)
	var (
		mu       sync.Mutex
		recorded = map[string]chains.Tx{}
	)
	// The first Record of each payment is stored, then the settler "dies"
	// before broadcasting: the message is not acked.
	r.claims.SetAfterRecord(func(ids []string, tx chains.Tx) error {
		mu.Lock()
		defer mu.Unlock()
		for _, id := range ids {
			recorded[id] = tx
		}
		return errors.New("simulated crash between record and broadcast")
	})
	settlertest.Publish(t, h.jsc, es...)
	crashed := map[string]bool{}
	for len(crashed) < len(es) {
		res := <-r.sub.results
		if res.Err == nil && !crashed[res.ID] {
			t.Fatalf("payment %s: first attempt succeeded, want the simulated crash", res.ID)
		}
		crashed[res.ID] = true
	}
	r.claims.SetAfterRecord(nil)
	h.states.Wait(t, ids(es), 30*time.Second, events.StateSubmitted, events.StateFailed)
	r.stop(t)

	hashes := h.checkSubmittedOnce(t, es)
	records, calls, sends := r.claims.Records(), r.sub.Calls(), h.proxy.Sends()
	for i, e := range es {
		if hashes[i] != recorded[e.ID].Hash {
			t.Errorf("payment %s: landed tx %s, want the recorded %s", e.ID, hashes[i], recorded[e.ID].Hash)
		}
		if records[e.ID] != 1 {
			t.Errorf("payment %s: recorded %d times, want 1 (the retry reuses the claim)", e.ID, records[e.ID])
		}
		if calls[e.ID] < 2 {
			t.Errorf("payment %s: submitted %d times, want a redelivery", e.ID, calls[e.ID])
		}
		if sends[hashes[i]] != 1 {
			t.Errorf("payment %s: broadcast %d times, want 1", e.ID, sends[hashes[i]])
		}
	}
	h.checkLanded(t, hashes)
}

func TestPaymentsThatCanNeverSettle(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	stale := h.sol.Accepted(t, settlertest.Pay{FeePayer: true})
	if _, err := h.sol.LN.AdvanceSlots(context.Background(), uint64(h.sol.LN.Manifest.BlockhashExpirySlots)+1); err != nil {
		t.Fatal(err)
	}
	poor := h.sol.Accepted(t, settlertest.Pay{Amount: 2_000_000_000_000, FeePayer: true})
	// Ingest reserved each payer's exposure when it accepted the payment.
	account := func(e *events.PaymentAccepted) exposure.Account {
		return exposure.Account{Namespace: e.Namespace, NetworkID: e.NetworkID, Token: e.Token, Payer: e.Payer}
	}
	for _, e := range []*events.PaymentAccepted{poor, stale} {
		amount, _ := e.AmountInt()
		if err := h.exposure.Reserve(context.Background(), account(e), e.ID, amount, new(big.Int).Lsh(big.NewInt(1), 64), time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	r := h.start(t, nil)
	// An accepted subject carrying something that is not an accepted event,
	// first in the stream: it is dead-lettered before (or in the same batch
	// as) the payments whose failures the test waits for.
	if _, err := h.jsc.Publish(context.Background(), "payments.accepted.solana.localnet", []byte("not an event")); err != nil {
		t.Fatal(err)
	}
	settlertest.Publish(t, h.jsc, poor, stale)
	h.states.Wait(t, []string{poor.ID, stale.ID}, 30*time.Second, events.StateFailed)
	r.stop(t)

	tests := []struct {
		name string
		e    *events.PaymentAccepted
		want h402.Reason
	}{
		{"payer lacks the funds", poor, h402.ReasonInsufficientFunds},
		{"blockhash expired", stale, h402.ReasonInvalidTransactionState},
	}
	dead := map[string]*events.DeadLetter{}
	var unreadable []*events.DeadLetter
	for _, b := range settlertest.Messages(t, h.jsc, events.StreamPayments, "payments.dead.solana.localnet") {
		dl, err := events.DecodeDeadLetter(b)
		if err != nil {
			t.Fatalf("dead letter: %v", err)
		}
		if dl.ID == "" {
			unreadable = append(unreadable, dl)
			continue
		}
		dead[dl.ID] = dl
	}
	counts := h.stateCounts(t, []*events.PaymentAccepted{poor, stale})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := h.states.Latest(tt.e.ID)
			if tr.State != events.StateFailed || tr.Reason != tt.want || tr.Message == "" || tr.Seq != 1 {
				t.Errorf("transition: got %+v, want failed seq 1 with reason %s and a message", tr, tt.want)
			}
			if counts[tt.e.ID] != 1 {
				t.Errorf("stored transitions: got %d, want 1", counts[tt.e.ID])
			}
			dl := dead[tt.e.ID]
			if dl == nil || dl.Reason != tt.want || !dl.Failed || len(dl.Event) == 0 {
				t.Fatalf("dead letter: got %+v, want one with reason %s, failed, and the event", dl, tt.want)
			}
			if e, err := events.DecodePaymentAccepted(dl.Event); err != nil || e.ID != tt.e.ID {
				t.Errorf("dead letter event: got %v (%v), want the accepted event", e, err)
			}
			if n := r.sub.Calls()[tt.e.ID]; n != 1 {
				t.Errorf("submitted %d times, want 1 (terminated, no redelivery)", n)
			}
			if pending, err := h.exposure.Pending(context.Background(), account(tt.e)); err != nil || pending.Sign() != 0 {
				t.Errorf("payer's pending exposure after the failure: %v, %v; want 0 (released)", pending, err)
			}
		})
	}
	t.Run("unreadable event", func(t *testing.T) {
		if len(unreadable) != 1 || unreadable[0].Reason != h402.ReasonInvalidPayload || unreadable[0].Failed || string(unreadable[0].Raw) != "not an event" {
			t.Errorf("got %+v, want one dead letter with reason invalid_payload and the raw bytes", unreadable)
		}
	})
	info := h.consumerInfo(t)
	if info.NumAckPending != 0 || info.NumPending != 0 || info.NumRedelivered != 0 {
		t.Errorf("consumer: ack pending %d, pending %d, redelivered %d; want all 0 (terminated)", info.NumAckPending, info.NumPending, info.NumRedelivered)
	}
	if got := h.result(settler.OutcomeFailed, string(h402.ReasonInsufficientFunds)); got != 1 {
		t.Errorf("failed results metric: got %v, want 1", got)
	}
}

func TestEndpointDownRetriesThenSettles(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	es, _ := h.payments(t, 8)
	h.proxy.Down(t)
	r := h.start(t, nil)
	settlertest.Publish(t, h.jsc, es...)
	// Every payment fails retryably at least twice: naked, redelivered, naked.
	attempts := map[string]int{}
	for done := 0; done < len(es); {
		res := <-r.sub.results
		var herr *h402.Error
		if res.Err == nil || errors.As(res.Err, &herr) {
			t.Fatalf("payment %s while the endpoint is down: got %v, want a retryable error", res.ID, res.Err)
		}
		if attempts[res.ID]++; attempts[res.ID] == 2 {
			done++
		}
	}
	for _, e := range es {
		if tr := h.states.Latest(e.ID); tr != nil {
			t.Fatalf("payment %s got transition %+v while the endpoint was down, want none", e.ID, tr)
		}
	}
	h.proxy.Up(t)
	h.states.Wait(t, ids(es), 30*time.Second, events.StateSubmitted, events.StateFailed)
	r.stop(t)
	hashes := h.checkSubmittedOnce(t, es)
	records, sends := r.claims.Records(), h.proxy.Sends()
	for i, e := range es {
		if records[e.ID] != 1 || sends[hashes[i]] != 1 {
			t.Errorf("payment %s: recorded %d and sent %d times, want 1 and 1", e.ID, records[e.ID], sends[hashes[i]])
		}
	}
	h.checkLanded(t, hashes)
	if got := h.result(settler.OutcomeRetry, ""); got < float64(2*len(es)) {
		t.Errorf("retry results metric: got %v, want at least %d", got, 2*len(es))
	}
}

func TestInProgressKeepsSlowBatchesFromRedelivery(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.cfg.AckWait = config.Duration(300 * time.Millisecond)
	h.cfg.InProgressEvery = config.Duration(80 * time.Millisecond)
	es, _ := h.payments(t, 3)
	started := make(chan struct{})
	var once sync.Once
	slow := func(s chains.Submitter) chains.Submitter {
		return submitterFunc{Submitter: s, fn: func(ctx context.Context, batch []*events.PaymentAccepted, claims chains.Claims) ([]chains.Result, error) {
			once.Do(func() { close(started) })
			time.Sleep(1200 * time.Millisecond) // a slow chain: four AckWaits
			return s.Submit(ctx, batch, claims)
		}}
	}
	a := h.start(t, slow)
	settlertest.Publish(t, h.jsc, es...)
	<-started
	// A second, idle replica would receive any payment whose AckWait ran out.
	b := h.start(t, nil)
	h.states.Wait(t, ids(es), 30*time.Second, events.StateSubmitted, events.StateFailed)
	a.stop(t)
	b.stop(t)
	h.checkSubmittedOnce(t, es)
	ca, cb := a.sub.Calls(), b.sub.Calls()
	for _, e := range es {
		if n := ca[e.ID] + cb[e.ID]; n != 1 {
			t.Errorf("payment %s submitted %d times (slow replica %d, idle replica %d), want 1: kept alive while in flight", e.ID, n, ca[e.ID], cb[e.ID])
		}
	}
}

func TestStopFinishesTheBatchInFlight(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	es, _ := h.payments(t, 4)
	started := make(chan struct{})
	release := make(chan struct{})
	var once sync.Once
	gated := func(s chains.Submitter) chains.Submitter {
		return submitterFunc{Submitter: s, fn: func(ctx context.Context, batch []*events.PaymentAccepted, claims chains.Claims) ([]chains.Result, error) {
			once.Do(func() { close(started) })
			<-release
			return s.Submit(ctx, batch, claims)
		}}
	}
	r := h.start(t, gated)
	settlertest.Publish(t, h.jsc, es...)
	<-started
	r.cancel() // stop fetching while a batch is in flight
	r.cancel = nil
	close(release)
	select {
	case err := <-r.done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("loop did not stop")
	}
	settled := 0
	for _, n := range h.stateCounts(t, es) {
		settled += int(n)
	}
	calls := r.sub.Calls()
	if settled == 0 || settled != len(calls) {
		t.Errorf("after stop: %d payments submitted, %d were in the batch in flight; want all of the batch and at least one", settled, len(calls))
	}
}

func TestStopAfterGraceLeavesPaymentsForRedelivery(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.cfg.ShutdownGrace = config.Duration(100 * time.Millisecond)
	es, _ := h.payments(t, 2)
	started := make(chan struct{})
	var once sync.Once
	stuck := func(s chains.Submitter) chains.Submitter {
		return submitterFunc{Submitter: s, fn: func(ctx context.Context, batch []*events.PaymentAccepted, claims chains.Claims) ([]chains.Result, error) {
			once.Do(func() { close(started) })
			<-ctx.Done() // a chain that never answers
			return nil, ctx.Err()
		}}
	}
	r := h.start(t, stuck)
	settlertest.Publish(t, h.jsc, es...)
	<-started
	r.stop(t)
	for id, n := range h.stateCounts(t, es) {
		if n != 0 {
			t.Fatalf("payment %s: %d stored transitions, want none", id, n)
		}
	}
	// A fresh replica settles them.
	h.start(t, nil)
	h.states.Wait(t, ids(es), 30*time.Second, events.StateSubmitted, events.StateFailed)
	h.checkSubmittedOnce(t, es)
}
