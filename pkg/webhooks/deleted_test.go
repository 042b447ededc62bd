package webhooks_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/h402/settlement/pkg/events"
	"github.com/h402/settlement/pkg/testenv"
	"github.com/h402/settlement/pkg/webhooks"
)

// TestConsumerDeletedRecovers: an endpoint's consumer deleted under a
// running dispatcher (an operator's `nats consumer rm`, a restored
// server) is created again, without a watcher restart, from just after the
// last receipt delivered: receipts stored while it was missing and after
// are delivered, the one delivered before is not sent again. Before the
// fix the runner ended silently and the endpoint received nothing more
// until a restart, which then skipped everything stored meanwhile.
func TestConsumerDeletedRecovers(t *testing.T) {
	env := testenv.StartJetStream(t)
	e := newEndpoint(t, func(n int, w http.ResponseWriter) { w.WriteHeader(http.StatusOK) })
	_, js := run(t, env, webhooks.Config{Endpoints: []webhooks.Endpoint{ep("shop", e.srv.URL, seller)}})
	id1 := publish(t, js, seller)
	if got := e.next(t, 10*time.Second); got.id != id1 {
		t.Fatalf("got %s, want %s", got.id, id1)
	}
	ctx := context.Background()
	name := events.WebhookConsumerName("shop")
	if err := js.DeleteConsumer(ctx, events.StreamReceipts, name); err != nil {
		t.Fatal(err)
	}
	// Stored while the consumer is missing: it must not be skipped.
	id2 := publish(t, js, seller)
	// Wait until the dispatcher made the consumer again.
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := js.Consumer(ctx, events.StreamReceipts, name); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the deleted consumer was not created again within 30s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	id3 := publish(t, js, seller)
	want := map[string]bool{id2: true, id3: true}
	for len(want) > 0 {
		got := e.next(t, 20*time.Second)
		if !want[got.id] {
			t.Fatalf("got %s, want %v once each (%s was delivered before)", got.id, want, id1)
		}
		delete(want, got.id)
	}
	e.none(t, 300*time.Millisecond)
}
