package settler_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/h402/settlement/pkg/chains"
	"github.com/h402/settlement/pkg/events"
	"github.com/h402/settlement/pkg/exposure"
	"github.com/h402/settlement/pkg/h402"
	"github.com/h402/settlement/pkg/settler"
	"github.com/h402/settlement/pkg/settler/settlertest"
)

// The settler's verdict is permanent, but another writer (the watcher, a
// second settler) ends the payment first: the settler's `failed`
// transition is refused, and its dead letter must not claim the failure
// (Failed = false); the other writer's transition stands alone. Before,
// the dead letter was written first with Failed = true whatever the
// transition did. A payment failed by this settler itself still gets a
// dead letter with Failed = true.
func TestDeadLetterSaysWhetherTheFailureWasStored(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ended, mine := endedByAnotherWriter(t, h, h402.ReasonInvalidTransactionState, nil)
	es := []*events.PaymentAccepted{ended, mine}

	if got := h.stateCounts(t, es)[ended.ID]; got != 2 {
		t.Errorf("%s: stored transitions: got %d (%+v), want 2 (the other writer's)", ended.ID, got, h.states.All(ended.ID))
	}
	if tr := h.states.Latest(mine.ID); tr.State != events.StateFailed || tr.Reason != h402.ReasonInvalidTransactionState {
		t.Errorf("%s: latest %+v, want failed by this settler", mine.ID, tr)
	}
	got := map[string]string{}
	for _, dl := range h.deadLetters(t) {
		got[dl.ID] += fmt.Sprintf("[failed=%v]", dl.Failed)
	}
	want := map[string]string{ended.ID: "[failed=false]", mine.ID: "[failed=true]"}
	for id, w := range want {
		if got[id] != w {
			t.Errorf("dead letters of %s: got %q, want %q", id, got[id], w)
		}
	}
}

// TestNoPayerBlockWhenAnotherWriterEndedThePayment: the settler's verdict
// is payer-caused (insufficient_funds), but another writer finalized the
// payment first: the settler's `failed` is refused, so the payer must not
// be blocked (and keeps nothing reserved for it); a payer-caused failure
// this settler does store still blocks its payer.
func TestNoPayerBlockWhenAnotherWriterEndedThePayment(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ended, mine := endedByAnotherWriter(t, h, h402.ReasonInsufficientFunds, func(o *settler.Options) { o.PayerBlock = time.Hour })
	if ended.Payer == mine.Payer {
		t.Fatal("the test needs two payers")
	}

	ctx := context.Background()
	account := func(e *events.PaymentAccepted) exposure.Account {
		return exposure.Account{Namespace: e.Namespace, NetworkID: e.NetworkID, Token: e.Token, Payer: e.Payer}
	}
	if until, err := h.exposure.BlockedUntil(ctx, account(ended)); err != nil || !until.IsZero() {
		t.Errorf("payer of the payment another writer finalized: blocked until %v (%v), want not blocked", until, err)
	}
	if until, err := h.exposure.BlockedUntil(ctx, account(mine)); err != nil || until.IsZero() {
		t.Errorf("payer of the payment this settler failed: blocked until %v (%v), want blocked", until, err)
	}
}

// endedByAnotherWriter runs a settler (options edited by edit) whose chain
// gives a final verdict with reason for two payments while another writer
// finalizes the first of them first (a fault a real chain gives only by
// chance), and returns the two payments once both are done.
func endedByAnotherWriter(t *testing.T, h *harness, reason h402.Reason, edit func(*settler.Options)) (ended, mine *events.PaymentAccepted) {
	t.Helper()
	es, _ := h.payments(t, 2)
	ended, mine = es[0], es[1]
	_, js := h.js.Connect(t)
	other, err := events.OpenStateLog(context.Background(), js)
	if err != nil {
		t.Fatal(err)
	}
	r := h.startOpts(t, func(s chains.Submitter) chains.Submitter {
		return submitterFunc{Submitter: s, fn: func(ctx context.Context, batch []*events.PaymentAccepted, claims chains.Claims) ([]chains.Result, error) {
			res := make([]chains.Result, len(batch))
			for i, p := range batch {
				res[i] = chains.Result{ID: p.ID, Err: h402.Errorf(reason, "the chain refused %s", p.ID)}
				if p.ID != ended.ID {
					continue
				}
				for _, st := range []events.State{events.StateConfirmed, events.StateFinalized} {
					if _, aerr := other.Append(ctx, p.Namespace, p.NetworkID, events.Transition{ID: p.ID, State: st,
						TxHash: "carried-by-another-writer", Block: 7}); aerr != nil {
						t.Errorf("other writer: %v", aerr)
					}
				}
			}
			return res, nil
		}}
	}, edit)
	settlertest.Publish(t, h.jsc, ended)
	settlertest.Publish(t, h.jsc, mine)
	h.states.Wait(t, []string{ended.ID, mine.ID}, 30*time.Second, events.StateFinalized, events.StateFailed)
	eventually(t, 30*time.Second, "both payments acked or termed", func() bool {
		info := h.consumerInfo(t)
		return info.NumAckPending == 0 && info.NumPending == 0
	})
	r.stop(t)
	return ended, mine
}
