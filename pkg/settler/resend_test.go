package settler_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/h402/settlement/pkg/events"
	"github.com/h402/settlement/pkg/settler"
	"github.com/h402/settlement/pkg/settler/settlertest"
)

func TestPaymentSentBackIsSubmittedAgain(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	es, _ := h.payments(t, 1)
	e := es[0]
	r := h.start(t, nil)
	settlertest.Publish(t, h.jsc, e)
	h.states.Wait(t, []string{e.ID}, 30*time.Second, events.StateSubmitted)
	first := h.states.Latest(e.ID)

	// The watcher sends the payment back for settlement: an `accepted`
	// transition, and the accepted event once more.
	ctx := context.Background()
	subj, err := events.StateSubject(e.Namespace, e.NetworkID, e.ID)
	if err != nil {
		t.Fatal(err)
	}
	back, _ := json.Marshal(events.Transition{Version: 1, ID: e.ID, Seq: first.Seq + 1, State: events.StateAccepted, At: time.Now().UTC()})
	if _, err := h.jsc.Publish(ctx, subj, back); err != nil {
		t.Fatal(err)
	}
	again, _ := json.Marshal(e)
	if _, err := h.jsc.Publish(ctx, "payments.accepted.solana.localnet", again, jetstream.WithMsgID(e.ID+":again")); err != nil {
		t.Fatal(err)
	}
	h.states.WaitUntil(t, 30*time.Second, "a third transition", func() bool {
		tr := h.states.Latest(e.ID)
		return tr != nil && tr.Seq == first.Seq+2
	})
	if tr := h.states.Latest(e.ID); tr.State != events.StateSubmitted || tr.TxHash != first.TxHash {
		t.Fatalf("after sending back: got %+v, want submitted again with %s", tr, first.TxHash)
	}
	r.stop(t)
	if got := h.stateCounts(t, es)[e.ID]; got != 3 {
		t.Errorf("stored transitions: got %d, want 3 (submitted, accepted, submitted)", got)
	}
	if got := h.proxy.Sends()[first.TxHash]; got != 1 {
		t.Errorf("broadcasts: got %d, want 1 (the claim shows it landed)", got)
	}
}

func TestSamePaymentTwiceInOneBatch(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	es, _ := h.payments(t, 1)
	e := es[0]
	b, _ := json.Marshal(e)
	for _, id := range []string{e.ID, e.ID + ":copy"} {
		if _, err := h.jsc.Publish(context.Background(), "payments.accepted.solana.localnet", b, jetstream.WithMsgID(id)); err != nil {
			t.Fatal(err)
		}
	}
	r := h.start(t, nil) // both copies arrive in its first batch
	h.states.Wait(t, []string{e.ID}, 30*time.Second, events.StateSubmitted)
	r.stop(t)
	hashes := h.checkSubmittedOnce(t, es)
	if got := h.result(settler.OutcomeRetry, "") + h.result(settler.OutcomeDuplicate, ""); got < 1 {
		t.Errorf("the copy was neither deferred nor acked as a duplicate")
	}
	if got := r.sub.Calls()[e.ID]; got != 1 {
		t.Errorf("submitted %d times, want 1", got)
	}
	if got := h.proxy.Sends()[hashes[0]]; got != 1 {
		t.Errorf("broadcast %d times, want 1", got)
	}
}
