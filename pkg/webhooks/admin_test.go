package webhooks_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/h402/settlement/pkg/events"
	"github.com/h402/settlement/pkg/testenv"
	"github.com/h402/settlement/pkg/webhooks"
)

func call(t *testing.T, h http.Handler, method, path, body string) (int, map[string]any, string) {
	t.Helper()
	req := httptest.NewRequest(method, path, bytes.NewBufferString(body))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	raw, _ := io.ReadAll(rec.Body)
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	return rec.Code, m, string(raw)
}

// TestAdminAPI: an endpoint added through the API receives receipts, is
// listed with its secret redacted, can be disabled (no delivery) and
// enabled (the waiting receipt arrives), answers 410 and is disabled, and
// a redelivery re-sends a receipt with the same webhook-id.
func TestAdminAPI(t *testing.T) {
	env := testenv.StartJetStream(t)
	var gone atomic.Bool
	e := newEndpoint(t, func(n int, w http.ResponseWriter) {
		if gone.Load() {
			w.WriteHeader(http.StatusGone)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	d, js := run(t, env, webhooks.Config{})
	h := d.Handler()
	body := `{"id":"api-1","url":"` + e.srv.URL + `","sellers":["` + seller + `"],"secrets":[{"secret":"` + testSecret + `"}]}`
	if code, _, raw := call(t, h, "POST", "/webhooks/endpoints", body); code != http.StatusCreated {
		t.Fatalf("add: %d %s", code, raw)
	}
	if code, m, raw := call(t, h, "POST", "/webhooks/endpoints", body); code != http.StatusConflict || m["error"] != "endpoint_exists" {
		t.Errorf("add twice: %d %s, want 409 endpoint_exists", code, raw)
	}
	if code, m, raw := call(t, h, "POST", "/webhooks/endpoints", `{"id":"x","url":"ftp://a","sellers":["0x1"],"secrets":[{"secret":"whsec_c2VjcmV0c2VjcmV0c2VjcmV0"}]}`); code != 400 || m["error"] != "invalid_endpoint" {
		t.Errorf("bad url: %d %s", code, raw)
	}
	code, _, raw := call(t, h, "GET", "/webhooks/endpoints", "")
	if code != 200 || strings.Contains(raw, strings.TrimPrefix(testSecret, "whsec_")) || !strings.Contains(raw, "api-1") {
		t.Errorf("list: %d %s, want api-1 with its secret redacted", code, raw)
	}
	// The runner starts when the bucket change reaches the dispatcher; the
	// consumer exists already, so this receipt waits for it.
	id1 := publish(t, js, seller)
	if got := e.next(t, 10*time.Second); got.id != id1 {
		t.Fatalf("got %s, want %s", got.id, id1)
	}

	if code, _, raw := call(t, h, "POST", "/webhooks/endpoints/api-1/disable", ""); code != 200 {
		t.Fatalf("disable: %d %s", code, raw)
	}
	waitState(t, h, "api-1", true)
	id2 := publish(t, js, seller)
	e.none(t, 500*time.Millisecond)
	if code, _, raw := call(t, h, "POST", "/webhooks/endpoints/api-1/enable", ""); code != 200 {
		t.Fatalf("enable: %d %s", code, raw)
	}
	if got := e.next(t, 10*time.Second); got.id != id2 {
		t.Fatalf("after enable got %s, want %s", got.id, id2)
	}

	if code, m, raw := call(t, h, "POST", "/webhooks/endpoints/api-1/redeliver", `{"receiptId":"`+id1+`"}`); code != http.StatusAccepted || m["queued"] != float64(1) {
		t.Fatalf("redeliver: %d %s", code, raw)
	}
	if got := e.next(t, 10*time.Second); got.id != id1 {
		t.Fatalf("redelivered %s, want %s", got.id, id1)
	}
	if code, m, raw := call(t, h, "POST", "/webhooks/endpoints/api-1/redeliver", `{"receiptId":"evm.84532.nope"}`); code != 404 || m["error"] != "unknown_receipt" {
		t.Errorf("redeliver unknown: %d %s", code, raw)
	}
	waitLog(t, js, "api-1", 3) // the attempt is logged after its answer
	code, m, raw := call(t, h, "GET", "/webhooks/endpoints/api-1/log?limit=2", "")
	recs, _ := m["records"].([]any)
	if code != 200 || len(recs) != 2 || m["next"] == nil {
		t.Fatalf("log page: %d %s, want 2 records and a next cursor", code, raw)
	}
	_, m, raw = call(t, h, "GET", "/webhooks/endpoints/api-1/log?after="+m["next"].(string), "")
	recs, _ = m["records"].([]any)
	if len(recs) < 1 || recs[len(recs)-1].(map[string]any)["redelivery"] != true {
		t.Errorf("second log page %s: want the redelivery last", raw)
	}

	gone.Store(true)
	publish(t, js, seller)
	e.next(t, 10*time.Second)
	waitState(t, h, "api-1", true)
	gone.Store(false)
	enableAndDelete(t, h, js, "api-1")
}

// enableAndDelete enables an endpoint (its runner starts) and deletes it:
// its consumers are gone and its runner, which lost them, does not create
// them again.
func enableAndDelete(t *testing.T, h http.Handler, js jetstream.JetStream, id string) {
	t.Helper()
	if code, _, raw := call(t, h, "POST", "/webhooks/endpoints/"+id+"/enable", ""); code != 200 {
		t.Fatalf("enable: %d %s", code, raw)
	}
	waitState(t, h, id, false)
	if code, _, raw := call(t, h, "DELETE", "/webhooks/endpoints/"+id, ""); code != 200 {
		t.Errorf("delete: %d %s", code, raw)
	}
	waitGone := func() {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			_, err := js.Consumer(context.Background(), events.StreamReceipts, events.WebhookConsumerName(id))
			if errors.Is(err, jetstream.ErrConsumerNotFound) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("consumer of deleted endpoint %s: %v, want not found", id, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitGone()
	// The runner noticed its consumer gone; it must not bring it back.
	time.Sleep(500 * time.Millisecond) // a window for a wrong re-creation
	waitGone()
}

// waitState waits until the endpoint is listed disabled (or enabled).
func waitState(t *testing.T, h http.Handler, id string, disabled bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, m, raw := call(t, h, "GET", "/webhooks/endpoints", "")
		eps, _ := m["endpoints"].([]any)
		for _, x := range eps {
			v := x.(map[string]any)
			if v["id"] == id && (v["disabled"] != nil) == disabled {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("endpoint %s not disabled=%v: %s", id, disabled, raw)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
