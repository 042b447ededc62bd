package webhooks_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/h402/settlement/pkg/config"
	"github.com/h402/settlement/pkg/events"
	"github.com/h402/settlement/pkg/h402"
	"github.com/h402/settlement/pkg/testenv"
	"github.com/h402/settlement/pkg/webhooks"
)

const testSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// hit is one request an endpoint received.
type hit struct {
	id, ts, sig string
	body        []byte
	at          time.Time
	verified    bool
}

// endpoint is an httptest receiver answering with answer(n) for its n-th
// request (1-based) and reporting each request on hits.
type endpoint struct {
	srv    *httptest.Server
	hits   chan hit
	mu     sync.Mutex
	n      int
	answer func(n int, w http.ResponseWriter)
}

func newEndpoint(t *testing.T, answer func(n int, w http.ResponseWriter)) *endpoint {
	t.Helper()
	e := &endpoint{hits: make(chan hit, 100), answer: answer}
	secret, _ := webhooks.ParseSecret(testSecret)
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h := hit{id: r.Header.Get("webhook-id"), ts: r.Header.Get("webhook-timestamp"), sig: r.Header.Get("webhook-signature"), body: body, at: time.Now()}
		_, err := webhooks.Verify([]webhooks.Secret{secret}, h.id, h.ts, body, h.sig, time.Now(), 5*time.Minute)
		h.verified = err == nil
		e.mu.Lock()
		e.n++
		n := e.n
		e.mu.Unlock()
		e.answer(n, w)
		e.hits <- h
	}))
	t.Cleanup(e.srv.Close)
	return e
}

func (e *endpoint) next(t *testing.T, timeout time.Duration) hit {
	t.Helper()
	select {
	case h := <-e.hits:
		if !h.verified {
			t.Errorf("request for %s did not verify", h.id)
		}
		return h
	case <-time.After(timeout):
		t.Fatalf("no request within %s", timeout)
	}
	return hit{}
}

func (e *endpoint) none(t *testing.T, within time.Duration) {
	t.Helper()
	select {
	case h := <-e.hits:
		t.Fatalf("unexpected request for %s", h.id)
	case <-time.After(within):
	}
}

func ep(id, url string, sellers ...string) webhooks.Endpoint {
	return webhooks.Endpoint{ID: id, URL: url, Sellers: sellers, Secrets: []webhooks.SecretSpec{{Secret: testSecret}}}
}

// run starts a dispatcher over endpoints with a millisecond schedule.
func run(t *testing.T, env *testenv.JetStream, cfg webhooks.Config) (*webhooks.Dispatcher, jetstream.JetStream) {
	t.Helper()
	if cfg.Schedule == nil {
		cfg.Schedule = []config.Duration{0, config.Duration(20 * time.Millisecond), config.Duration(40 * time.Millisecond)}
	}
	cfg.Timeout = config.Duration(2 * time.Second)
	cfg.Default()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	_, js := env.Connect(t)
	d, err := webhooks.New(context.Background(), js, webhooks.Options{Logger: testLogger(), Config: &cfg, Streams: env.Streams, Metrics: webhooks.NewMetrics(prometheus.NewRegistry())})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = d.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	wctx, wcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer wcancel()
	if err := d.WaitSynced(wctx); err != nil {
		t.Fatal(err)
	}
	return d, js
}

var receiptN int

// publish stores a finalized receipt for payTo and returns its id.
func publish(t *testing.T, js jetstream.JetStream, payTo string) string {
	t.Helper()
	receiptN++
	id := "evm.84532.r" + strconv.Itoa(receiptN) + "x" + strconv.FormatInt(time.Now().UnixNano(), 36)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := events.PublishReceipt(ctx, js, events.Receipt{ID: id, State: events.StateFinalized, Namespace: h402.NamespaceEVM,
		NetworkID: "84532", Payer: "0x1111111111111111111111111111111111111111", PayTo: payTo,
		Token: "0x2222222222222222222222222222222222222222", Amount: "1000", TxHash: "0xabc", Block: 7, At: time.Now().UTC()})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func readLog(t *testing.T, js jetstream.JetStream, endpointID string) []webhooks.LogRecord {
	t.Helper()
	recs, _, err := webhooks.ReadLog(context.Background(), js, endpointID, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// waitLog waits until the endpoint's log holds n records.
func waitLog(t *testing.T, js jetstream.JetStream, endpointID string, n int) []webhooks.LogRecord {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		recs := readLog(t, js, endpointID)
		if len(recs) >= n {
			return recs
		}
		if time.Now().After(deadline) {
			t.Fatalf("log of %s has %d records, want %d: %+v", endpointID, len(recs), n, recs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

const seller = "0xAbCdEf0000000000000000000000000000000001"

// TestRetryAfterHonoured: a 429 with Retry-After: 1 delays the next
// attempt by a second, not the schedule's 20 ms; a 503 with an HTTP-date
// Retry-After likewise; then 200 is delivered once.
func TestRetryAfterHonoured(t *testing.T) {
	env := testenv.StartJetStream(t)
	e := newEndpoint(t, func(n int, w http.ResponseWriter) {
		switch n {
		case 1:
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
		case 2:
			w.Header().Set("Retry-After", time.Now().Add(2*time.Second).UTC().Format(http.TimeFormat))
			w.WriteHeader(http.StatusServiceUnavailable)
		default:
			w.WriteHeader(http.StatusNoContent)
		}
	})
	_, js := run(t, env, webhooks.Config{Endpoints: []webhooks.Endpoint{ep("shop", e.srv.URL, seller)}})
	id := publish(t, js, seller)
	h1 := e.next(t, 10*time.Second)
	h2 := e.next(t, 10*time.Second)
	h3 := e.next(t, 10*time.Second)
	for _, h := range []hit{h1, h2, h3} {
		if h.id != id {
			t.Errorf("webhook-id %q, want %q on every attempt", h.id, id)
		}
		if string(h.body) != string(h1.body) {
			t.Errorf("body changed between attempts")
		}
	}
	if gap := h2.at.Sub(h1.at); gap < 900*time.Millisecond {
		t.Errorf("second attempt %s after a 429 with Retry-After: 1, want ≥ 1s", gap)
	}
	if gap := h3.at.Sub(h2.at); gap < 1*time.Second {
		t.Errorf("third attempt %s after a 503 with Retry-After in 2s, want ≥ ~1-2s", gap)
	}
	recs := waitLog(t, js, "shop", 3)
	want := []struct {
		outcome string
		status  int
	}{{webhooks.OutcomeRetry, 429}, {webhooks.OutcomeRetry, 503}, {webhooks.OutcomeDelivered, 204}}
	for i, w := range want {
		if recs[i].Outcome != w.outcome || recs[i].Status != w.status || recs[i].Attempt != i+1 || recs[i].ReceiptID != id {
			t.Errorf("log[%d] = %+v, want attempt %d %s %d", i, recs[i], i+1, w.outcome, w.status)
		}
	}
	if recs[0].NextDelayMs != 1000 {
		t.Errorf("log[0].nextDelayMs = %d, want 1000 (Retry-After)", recs[0].NextDelayMs)
	}
	var env2 webhooks.Envelope
	if err := json.Unmarshal(h3.body, &env2); err != nil || env2.Type != webhooks.TypeFinalized || env2.Data == nil || env2.Data.ID != id {
		t.Errorf("body %s: want a payment.finalized envelope of %s (%v)", h3.body, id, err)
	}
	e.none(t, 300*time.Millisecond)
}

// TestClientErrorNotRetried: a 400 is recorded failed after one attempt;
// the next receipt is delivered; an endpoint that always fails 500 is
// exhausted after the schedule's attempts.
func TestClientErrorNotRetried(t *testing.T) {
	env := testenv.StartJetStream(t)
	bad := newEndpoint(t, func(n int, w http.ResponseWriter) {
		if n == 1 {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	down := newEndpoint(t, func(n int, w http.ResponseWriter) { w.WriteHeader(http.StatusInternalServerError) })
	const seller2 = "0x0000000000000000000000000000000000000002"
	_, js := run(t, env, webhooks.Config{Endpoints: []webhooks.Endpoint{ep("bad", bad.srv.URL, seller), ep("down", down.srv.URL, seller2)}})
	first := publish(t, js, seller)
	if h := bad.next(t, 10*time.Second); h.id != first {
		t.Fatalf("first request for %s, want %s", h.id, first)
	}
	second := publish(t, js, seller)
	if h := bad.next(t, 10*time.Second); h.id != second {
		t.Fatalf("after a 400 the next request is for %s, want %s (a 400 is not retried)", h.id, second)
	}
	recs := waitLog(t, js, "bad", 2)
	if recs[0].Outcome != webhooks.OutcomeFailed || recs[0].Status != 400 || recs[1].Outcome != webhooks.OutcomeDelivered {
		t.Errorf("log = %+v, want failed 400 then delivered", recs)
	}

	lost := publish(t, js, seller2)
	for i := range 3 {
		if h := down.next(t, 10*time.Second); h.id != lost {
			t.Fatalf("attempt %d for %s, want %s", i+1, h.id, lost)
		}
	}
	down.none(t, 500*time.Millisecond)
	recs = waitLog(t, js, "down", 3)
	for i, r := range recs {
		want := webhooks.OutcomeRetry
		if i == 2 {
			want = webhooks.OutcomeExhausted
		}
		if r.Outcome != want || r.Attempt != i+1 || r.Status != 500 {
			t.Errorf("log[%d] = %+v, want attempt %d %s", i, r, i+1, want)
		}
	}
	bad.none(t, 100*time.Millisecond)
}
