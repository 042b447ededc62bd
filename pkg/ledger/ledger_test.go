package ledger_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/h402/settlement/pkg/events"
	"github.com/h402/settlement/pkg/ledger"
)

func totalsOf(t *testing.T, l *ledger.Ledger, payTo string) map[string]ledger.Totals {
	t.Helper()
	ts, err := l.SellerTotals(payTo)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]ledger.Totals{}
	for _, st := range ts {
		out[st.Network+"/"+st.Token] = st.Totals
	}
	return out
}

const tokenKey = "evm.8453/" + token

func wantTotals(t *testing.T, l *ledger.Ledger, payTo string, settled, pending, failed string) {
	t.Helper()
	got := totalsOf(t, l, payTo)[tokenKey]
	if got.Settled != settled || got.Pending != pending || got.Failed != failed {
		t.Errorf("totals of %s: got settled %s pending %s failed %s, want %s %s %s",
			payTo, got.Settled, got.Pending, got.Failed, settled, pending, failed)
	}
}

func wantState(t *testing.T, l *ledger.Ledger, id string, want events.State, tx string) {
	t.Helper()
	p, _, err := l.Payment(id)
	if err != nil {
		t.Fatalf("payment %s: %v", id, err)
	}
	if p.State != want || p.TxHash != tx {
		t.Errorf("payment %s: got %s tx %q, want %s tx %q", id, p.State, p.TxHash, want, tx)
	}
}

// TestLiveEqualsRebuild follows the streams while a mixed history is
// written, then rebuilds from scratch (and once more with the streams
// applied one after another instead of interleaved): the dumps are equal.
func TestLiveEqualsRebuild(t *testing.T) {
	w := newWorld(t)
	live := tempLedger(t)
	w.follow(live)
	m := w.mixedHistory()
	w.waitAll(live)

	wantTotals(t, live, sellerA, "307", "50", "0")
	wantTotals(t, live, sellerB, "0", "0", "300")
	wantState(t, live, m.p1.ID, events.StateFinalized, txHash(1))
	wantState(t, live, m.p2.ID, events.StateFinalized, txHash(2))
	wantState(t, live, m.p3.ID, events.StateFailed, "")
	wantState(t, live, m.p4.ID, events.StateAccepted, "")
	wantState(t, live, m.v1ID, events.StateFinalized, txHash(5))
	_, hist, _ := live.Payment(m.p2.ID)
	var states []events.State
	for _, tr := range hist {
		states = append(states, tr.State)
	}
	wantHist := []events.State{"batched", "submitted", "accepted", "batched", "submitted", "confirmed", "finalized"}
	if !slices.Equal(states, wantHist) {
		t.Errorf("history of p2: got %v, want %v", states, wantHist)
	}
	gas, err := live.Gas()
	if err != nil {
		t.Fatal(err)
	}
	if len(gas) != 1 || gas[0].Facilitator.Txs != 2 || gas[0].Facilitator.Fee != "3000000" || gas[0].Facilitator.GasUsed != "150000" ||
		gas[0].Client.Txs != 1 || gas[0].Client.Fee != "420000" {
		t.Errorf("gas: got %+v, want 2 facilitator txs (fee 3000000, gas 150000) and 1 client tx (fee 420000)", gas)
	}
	for stream, want := range map[string]uint64{events.StreamPayments: 1, events.StreamSettlements: 0, events.StreamReceipts: 0} {
		if got, _ := live.Skipped(stream); got != want {
			t.Errorf("skipped %s: got %d, want %d", stream, got, want)
		}
	}

	want := dump(t, live)
	// Ignored: the send-back's republished accepted event, the dead
	// letter; the second final record of tx1.
	for _, line := range []string{`meta "ignored/PAYMENTS" 2`, `meta "ignored/SETTLEMENTS" 1`} {
		if !strings.Contains(want, line+"\n") {
			t.Errorf("dump lacks %s", line)
		}
	}
	diffDumps(t, dump(t, w.rebuild()), want)

	// Another interleaving: receipts first, then settlements, then payments.
	other := tempLedger(t)
	for _, s := range []string{events.StreamReceipts, events.StreamSettlements, events.StreamPayments} {
		for _, m := range w.messages(s) {
			if err := other.Apply(m.stream, m.seq, m.subject, m.data); err != nil {
				t.Fatal(err)
			}
		}
	}
	diffDumps(t, dump(t, other), want)
}

// TestApplyIdempotent applies every message twice.
func TestApplyIdempotent(t *testing.T) {
	w := newWorld(t)
	w.mixedHistory()
	want := dump(t, w.rebuild())
	l := tempLedger(t)
	for round := 0; round < 2; round++ {
		for _, s := range ledger.Streams {
			for _, m := range w.messages(s) {
				if err := l.Apply(m.stream, m.seq, m.subject, m.data); err != nil {
					t.Fatal(err)
				}
			}
		}
		diffDumps(t, dump(t, l), want)
	}
}

// TestCrashResume stops a follower part way, closes the file (as a crash
// between two messages leaves it: every Update is whole), reopens it,
// replays some messages it already has (a consumer that starts early) and
// follows on: no double count.
func TestCrashResume(t *testing.T) {
	w := newWorld(t)
	w.mixedHistory()
	want := dump(t, w.rebuild())

	path := filepath.Join(t.TempDir(), "ledger.db")
	l, err := ledger.Open(path, ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	msgs := w.messages(events.StreamPayments)
	half := len(msgs) / 2
	ctx, cancel := context.WithCancel(w.ctx)
	done := make(chan error, 1)
	go func() { done <- ledger.Follow(ctx, w.js, l) }()
	if err := l.WaitFor(w.ctx, events.StreamPayments, uint64(half)); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	l = openLedger(t, path)
	if got := l.Applied(events.StreamPayments); got < uint64(half) {
		t.Fatalf("after reopen: applied %d, want at least %d", got, half)
	}
	for _, m := range msgs[:half] {
		if err := l.Apply(m.stream, m.seq, m.subject, m.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := ledger.CatchUp(w.ctx, w.js, l); err != nil {
		t.Fatal(err)
	}
	diffDumps(t, dump(t, l), want)
}

// TestTotalsMove checks a seller's totals after each step of a payment's
// life: pending through batching, submission and a send-back, then settled;
// another pending then failed.
func TestTotalsMove(t *testing.T) {
	w := newWorld(t)
	l := tempLedger(t)
	w.follow(l)
	step := func(name, settled, pending, failed string) {
		t.Helper()
		w.waitAll(l)
		t.Run(name, func(t *testing.T) { wantTotals(t, l, sellerA, settled, pending, failed) })
	}
	a, b := pay(1, payer1, sellerA, "1000"), pay(2, payer2, sellerA, "25")
	w.accept(a)
	step("accepted", "0", "1000", "0")
	w.move(a, events.Transition{State: events.StateBatched})
	w.move(a, events.Transition{State: events.StateSubmitted, TxHash: txHash(1)})
	step("submitted", "0", "1000", "0")
	if _, err := w.log.SendBack(w.ctx, a, "dropped"); err != nil {
		t.Fatal(err)
	}
	step("sent back and accepted again", "0", "1000", "0")
	w.accept(b)
	step("second accepted", "0", "1025", "0")
	w.settle(a, txHash(2), 7, t0.Add(time.Hour))
	step("first finalized", "1000", "25", "0")
	w.fail(b, "insufficient_funds", t0.Add(2*time.Hour))
	step("second failed", "1000", "0", "25")
	wantState(t, l, a.ID, events.StateFinalized, txHash(2))
}

// TestTransitionBeforeAccepted: a payment's transitions arrive before its
// accepted event; they are kept and folded in when it comes.
func TestTransitionBeforeAccepted(t *testing.T) {
	w := newWorld(t)
	e := pay(1, payer1, sellerA, "500")
	w.move(e, events.Transition{State: events.StateBatched, At: t0})
	w.move(e, events.Transition{State: events.StateSubmitted, TxHash: txHash(1), At: t0})
	l := w.rebuild()
	p, hist, err := l.Payment(e.ID)
	if err != nil {
		t.Fatal(err)
	}
	if p.Known || p.State != events.StateSubmitted || len(hist) != 2 {
		t.Errorf("before accepted: got known %v state %s history %d, want unknown, submitted, 2", p.Known, p.State, len(hist))
	}
	if ts := totalsOf(t, l, sellerA); len(ts) != 0 {
		t.Errorf("before accepted: got totals %v, want none", ts)
	}
	w.accept(e)
	w.move(e, events.Transition{State: events.StateConfirmed, TxHash: txHash(1), Block: 3, At: t0})
	w.move(e, events.Transition{State: events.StateFinalized, TxHash: txHash(1), Block: 3, At: t0})
	if err := ledger.CatchUp(w.ctx, w.js, l); err != nil {
		t.Fatal(err)
	}
	wantTotals(t, l, sellerA, "500", "0", "0")
	diffDumps(t, dump(t, l), dump(t, w.rebuild()))
}

// TestForget: a payment removed on purpose (a reconciliation drill) is
// gone from this copy with its history, indexes and share of the totals;
// the other payments stay; a rebuild from the streams brings it back.
func TestForget(t *testing.T) {
	w := newWorld(t)
	l := tempLedger(t)
	w.follow(l)
	a, b := pay(1, payer1, sellerA, "1000"), pay(2, payer2, sellerA, "25")
	w.accept(a)
	w.accept(b)
	w.settle(a, txHash(1), 7, t0.Add(time.Hour))
	w.settle(b, txHash(2), 8, t0.Add(time.Hour))
	w.waitAll(l)
	wantTotals(t, l, sellerA, "1025", "0", "0")
	if err := l.Forget(a.ID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := l.Payment(a.ID); !errors.Is(err, ledger.ErrNotFound) {
		t.Errorf("forgotten payment: got %v, want ErrNotFound", err)
	}
	wantTotals(t, l, sellerA, "25", "0", "0")
	wantState(t, l, b.ID, events.StateFinalized, txHash(2))
	ids, err := l.PaymentsByTx(txHash(1))
	if err != nil || len(ids) != 0 {
		t.Errorf("payments of the forgotten payment's tx: %v %v, want none", ids, err)
	}
	if err := l.Forget(a.ID); !errors.Is(err, ledger.ErrNotFound) {
		t.Errorf("forgetting twice: got %v, want ErrNotFound", err)
	}
	r := w.rebuild()
	wantTotals(t, r, sellerA, "1025", "0", "0")
	wantState(t, r, a.ID, events.StateFinalized, txHash(1))
}
