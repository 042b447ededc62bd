package settler_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/h402/settlement/pkg/events"
	"github.com/h402/settlement/pkg/h402"
)

// A terminal transition on one payment's state subject whose body names
// another payment (a buggy or injected writer: Append cannot produce it, so
// the test publishes it raw) must not release the other payment's
// exposure: that payment is still pending, and its payer's pending amount
// would be understated (invariant 4).
func TestReleaserIgnoresATransitionNamingAnotherPayment(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	es, _ := h.payments(t, 2)
	victim, carrier := es[0], es[1]
	h.reserve(t, victim.ID, victim, 7)
	_, js := h.js.Connect(t)
	subj, err := events.StateSubject(carrier.Namespace, carrier.NetworkID, carrier.ID)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(events.Transition{Version: events.TransitionVersion, ID: victim.ID, Seq: 1,
		State: events.StateFailed, Reason: h402.ReasonInvalidPayload, At: time.Now().UTC()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(context.Background(), subj, b); err != nil {
		t.Fatal(err)
	}
	defer h.runReleaser(t)()
	eventually(t, 30*time.Second, "the releaser read the transition", h.releaseDrained(1))
	if got := h.pending(t, victim); got != 7 {
		t.Errorf("pending of a payment whose id a transition on another subject named: got %d, want 7 (not released)", got)
	}
}
