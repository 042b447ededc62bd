package settler_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/h402/settlement/pkg/chains"
	"github.com/h402/settlement/pkg/chains/evm"
	"github.com/h402/settlement/pkg/events"
	"github.com/h402/settlement/pkg/settler/settlertest"
)

func pausedRevert() error {
	typ, _ := abi.NewType("string", "", nil)
	args, _ := abi.Arguments{{Type: typ}}.Pack("Pausable: paused")
	return evm.RevertVerdict(append(crypto.Keccak256([]byte("Error(string)"))[:4], args...))
}

// TestUnknownErrorsGoToReview: one payment keeps failing with an error
// nobody classified, another with a paused token's revert. The first goes
// to the operator queue after settler.unknownMaxTries deliveries (with the
// alert metric) and is not failed; the second is retried past that and is
// never failed. The submitter is a fake: a real node cannot be made to
// answer an unclassifiable error, nor a paused token, on demand.
func TestUnknownErrorsGoToReview(t *testing.T) {
	h := newHarness(t)
	h.cfg.UnknownMaxTries = 3
	payer := h.sol.LN.Payers()[0]
	strange := h.sol.Accepted(t, settlertest.Pay{Payer: payer, Amount: 1001})
	paused := h.sol.Accepted(t, settlertest.Pay{Payer: payer, Amount: 1002})

	var (
		mu    sync.Mutex
		calls = map[string]int{}
	)
	pausedPast := make(chan struct{})
	h.start(t, func(s chains.Submitter) chains.Submitter {
		return submitterFunc{Submitter: s, fn: func(_ context.Context, batch []*events.PaymentAccepted, _ chains.Claims) ([]chains.Result, error) {
			mu.Lock()
			defer mu.Unlock()
			res := make([]chains.Result, len(batch))
			for i, e := range batch {
				calls[e.ID]++
				res[i].ID = e.ID
				switch e.ID {
				case strange.ID:
					res[i].Err = errors.New("the node answered something nobody expected")
				case paused.ID:
					res[i].Err = pausedRevert()
					if calls[e.ID] == 3+2 {
						close(pausedPast)
					}
				}
			}
			return res, nil
		}}
	})

	nc, _ := h.js.Connect(t)
	subj, err := events.PaymentReviewSubject(h.network.Namespace, h.network.NetworkID)
	if err != nil {
		t.Fatal(err)
	}
	sub, err := nc.SubscribeSync(subj)
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	settlertest.Publish(t, h.jsc, strange, paused)

	msg, err := sub.NextMsg(60 * time.Second)
	if err != nil {
		t.Fatalf("no review record on %s: %v", subj, err)
	}
	var dl events.DeadLetter
	if err := json.Unmarshal(msg.Data, &dl); err != nil {
		t.Fatal(err)
	}
	if dl.ID != strange.ID || dl.Failed || dl.Delivery != 3 || len(dl.Event) == 0 {
		t.Errorf("review record: got id %s failed %v delivery %d event %d bytes; want %s, not failed, delivery 3, the event",
			dl.ID, dl.Failed, dl.Delivery, len(dl.Event), strange.ID)
	}

	select {
	case <-pausedPast:
	case <-time.After(60 * time.Second):
		t.Fatal("the paused payment was not retried past unknownMaxTries")
	}
	// The loop is sequential: the batch that reviewed the first payment
	// (its 3rd delivery) ended before the paused one's 5th delivery began.
	if got := testutil.ToFloat64(h.metrics.Review().WithLabelValues("solana.localnet")); got != 1 {
		t.Errorf("h402_settler_review_total: got %v, want 1", got)
	}
	for _, e := range []*events.PaymentAccepted{strange, paused} {
		if tr := h.states.Latest(e.ID); tr != nil && tr.State == events.StateFailed {
			t.Errorf("payment %s: got failed (%s), want not failed", e.ID, tr.Message)
		}
	}
	if _, err := sub.NextMsg(10 * time.Millisecond); err == nil {
		t.Error("got a second review record, want only the unclassified payment's")
	}
}
