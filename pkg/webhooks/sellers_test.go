package webhooks_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/h402/settlement/pkg/config"
	"github.com/h402/settlement/pkg/events"
	"github.com/h402/settlement/pkg/h402"
	"github.com/h402/settlement/pkg/testenv"
	"github.com/h402/settlement/pkg/webhooks"
)

// TestOnlyOwnSellersDelivered: an endpoint receives only receipts of the
// sellers it lists now. A receipt of a seller removed from the endpoint
// (PUT) while it waited for a retry, and a redelivery request naming a
// receipt of a seller the endpoint does not list (a message injected on
// webhooks.redeliver.<id>, or one queued before the sellers changed), are
// not posted (a log record says so), while B's receipts published as the
// change spreads are delivered: seller A's receipt must not reach an
// endpoint that now belongs to seller B only.
func TestOnlyOwnSellersDelivered(t *testing.T) {
	env := testenv.StartJetStream(t)
	const sellerB = "0x00000000000000000000000000000000000000b2"
	e := newEndpoint(t, func(n int, w http.ResponseWriter) {
		if n == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	d, js := run(t, env, webhooks.Config{Schedule: []config.Duration{0, config.Duration(time.Second), config.Duration(time.Second)}})
	h := d.Handler()
	add := func(method, path string, sellers ...string) {
		t.Helper()
		b, _ := json.Marshal(webhooks.Endpoint{ID: "shop", URL: e.srv.URL, Sellers: sellers, Secrets: []webhooks.SecretSpec{{Secret: testSecret}}})
		if code, _, raw := call(t, h, method, path, string(b)); code != http.StatusCreated && code != http.StatusOK {
			t.Fatalf("%s %s: %d %s", method, path, code, raw)
		}
	}
	add("POST", "/webhooks/endpoints", seller)
	idA := publish(t, js, seller)
	if got := e.next(t, 10*time.Second); got.id != idA {
		t.Fatalf("first request for %s, want %s", got.id, idA)
	}
	// The 503 put A's receipt in a retry; the endpoint now serves B only.
	add("PUT", "/webhooks/endpoints/shop", sellerB)
	// Published at once: the consumer already has the new filter, a runner
	// may still have the old sellers; B's receipt must not be lost to that.
	idB0 := publish(t, js, sellerB)
	waitLogOutcome(t, js, "shop", idA, webhooks.OutcomeSkipped)
	if got := e.next(t, 20*time.Second); got.id != idB0 {
		t.Fatalf("request for %s, want %s (B's)", got.id, idB0)
	}

	// An injected redelivery request for a receipt of a seller the endpoint
	// does not list.
	subj, _ := events.WebhookRedeliverSubject("shop")
	rc := events.Receipt{Version: 1, ID: "evm.84532.injected1", State: events.StateFinalized, Namespace: h402.NamespaceEVM, NetworkID: "84532",
		Payer: "0x1111111111111111111111111111111111111111", PayTo: seller, Token: "0x2222222222222222222222222222222222222222",
		Amount: "1000000", TxHash: "0xabc", Block: 7, At: time.Now().UTC(), SellerSeq: 1}
	body, _ := json.Marshal(map[string]any{"receipt": rc, "requestedAt": time.Now().UTC()})
	if _, err := js.Publish(context.Background(), subj, body); err != nil {
		t.Fatal(err)
	}
	waitLogOutcome(t, js, "shop", rc.ID, webhooks.OutcomeSkipped)

	// B's receipts still arrive.
	idB := publish(t, js, sellerB)
	if got := e.next(t, 10*time.Second); got.id != idB {
		t.Fatalf("request for %s, want only %s (B's)", got.id, idB)
	}
	e.none(t, 300*time.Millisecond)
}

// waitLogOutcome waits for a log record of receipt id with outcome.
func waitLogOutcome(t *testing.T, js jetstream.JetStream, endpointID, id, outcome string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		recs := readLog(t, js, endpointID)
		for _, r := range recs {
			if r.ReceiptID == id && r.Outcome == outcome {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s record for %s in the log of %s: %+v", outcome, id, endpointID, recs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestRollingSellersChange: during a rolling config change one replica
// lists seller B for an endpoint and has already widened the shared
// consumer's filter, another still lists only A. B's receipts that the
// old replica pulls are not posted by it, and not dropped either: the
// updated replica delivers each of them.
func TestRollingSellersChange(t *testing.T) {
	env := testenv.StartJetStream(t)
	const sellerB = "0x00000000000000000000000000000000000000b3"
	e := newEndpoint(t, func(n int, w http.ResponseWriter) { w.WriteHeader(http.StatusOK) })
	sched := []config.Duration{0, config.Duration(200 * time.Millisecond), config.Duration(200 * time.Millisecond)}
	run(t, env, webhooks.Config{Schedule: sched, Endpoints: []webhooks.Endpoint{ep("shop", e.srv.URL, seller)}})
	run(t, env, webhooks.Config{Schedule: sched, Endpoints: []webhooks.Endpoint{ep("shop", e.srv.URL, seller, sellerB)}})
	// The second replica's start set the filter to A and B.
	c, err := js0(t, env).Consumer(context.Background(), events.StreamReceipts, events.WebhookConsumerName("shop"))
	if err != nil {
		t.Fatal(err)
	}
	if f := c.CachedInfo().Config.FilterSubjects; len(f) != 2 {
		t.Fatalf("filter %v, want A's and B's", f)
	}
	want := map[string]bool{}
	for range 6 {
		want[publish(t, js0(t, env), sellerB)] = true
	}
	deadline := time.After(30 * time.Second)
	for len(want) > 0 {
		select {
		case h := <-e.hits:
			delete(want, h.id)
		case <-deadline:
			t.Fatalf("receipts of B never delivered: %v (log %+v)", want, readLog(t, js0(t, env), "shop"))
		}
	}
}

func js0(t *testing.T, env *testenv.JetStream) jetstream.JetStream {
	t.Helper()
	_, js := env.Connect(t)
	return js
}
