package webhooks_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/h402/settlement/pkg/events"
	"github.com/h402/settlement/pkg/testenv"
	"github.com/h402/settlement/pkg/webhooks"
)

// idReceiver counts, per webhook-id, the requests and the 2xx answers of an
// endpoint that answers 410 while gone is set and 200 otherwise.
type idReceiver struct {
	srv  *httptest.Server
	gone atomic.Bool
	mu   sync.Mutex
	reqs map[string]int
	oks  map[string]int
	hit  chan string
}

func newIDReceiver(t *testing.T) *idReceiver {
	t.Helper()
	r := &idReceiver{reqs: map[string]int{}, oks: map[string]int{}, hit: make(chan string, 100)}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		_, _ = io.Copy(io.Discard, req.Body)
		id := req.Header.Get("webhook-id")
		r.mu.Lock()
		r.reqs[id]++
		if !r.gone.Load() {
			r.oks[id]++
		}
		r.mu.Unlock()
		if r.gone.Load() {
			w.WriteHeader(http.StatusGone)
		} else {
			w.WriteHeader(http.StatusOK)
		}
		r.hit <- id
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *idReceiver) counts() (reqs, oks map[string]int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	reqs, oks = map[string]int{}, map[string]int{}
	for k, v := range r.reqs {
		reqs[k] = v
	}
	for k, v := range r.oks {
		oks[k] = v
	}
	return reqs, oks
}

// TestGoneKeepsReceipts: the receipts an endpoint answered 410 for (the
// one that disabled it, and the ones in flight beside it) are not dropped:
// once the endpoint is enabled again each of them is delivered, once.
// Before the fix they were terminated ("status 410") and lost for good.
func TestGoneKeepsReceipts(t *testing.T) {
	env := testenv.StartJetStream(t)
	rcv := newIDReceiver(t)
	rcv.gone.Store(true)
	d, js := run(t, env, webhooks.Config{Endpoints: []webhooks.Endpoint{ep("gone", rcv.srv.URL, seller)}})
	h := d.Handler()
	ids := []string{publish(t, js, seller), publish(t, js, seller), publish(t, js, seller)}
	select {
	case <-rcv.hit:
	case <-time.After(10 * time.Second):
		t.Fatal("no request to the endpoint")
	}
	waitState(t, h, "gone", true)
	// Every attempt the endpoint saw before it was disabled is logged.
	reqs, _ := rcv.counts()
	n := 0
	for _, c := range reqs {
		n += c
	}
	recs := waitLog(t, js, "gone", n)
	for _, r := range recs {
		if r.Status != http.StatusGone || r.Outcome != webhooks.OutcomeDisabled {
			t.Errorf("log %+v: want status 410, outcome %s", r, webhooks.OutcomeDisabled)
		}
	}

	rcv.gone.Store(false)
	if code, _, raw := call(t, h, "POST", "/webhooks/endpoints/gone/enable", ""); code != 200 {
		t.Fatalf("enable: %d %s", code, raw)
	}
	deadline := time.After(20 * time.Second)
	for {
		_, oks := rcv.counts()
		done := true
		for _, id := range ids {
			if oks[id] == 0 {
				done = false
			}
		}
		if done {
			break
		}
		select {
		case <-rcv.hit:
		case <-deadline:
			reqs, oks := rcv.counts()
			t.Fatalf("after enable: requests %v, 2xx %v; want a 2xx for each of %v", reqs, oks, ids)
		}
	}
	waitIdle(t, js, "gone")
	_, oks := rcv.counts()
	for _, id := range ids {
		if oks[id] != 1 {
			t.Errorf("%s answered 2xx %d times, want once", id, oks[id])
		}
	}
}

// waitIdle waits until the endpoint's consumer holds nothing in flight, in
// a retry or not yet delivered.
func waitIdle(t *testing.T, js jetstream.JetStream, endpointID string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := js.Consumer(context.Background(), events.StreamReceipts, events.WebhookConsumerName(endpointID))
		if err != nil {
			t.Fatal(err)
		}
		info := c.CachedInfo()
		if info.NumPending == 0 && info.NumAckPending == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("consumer of %s: pending %d, ack pending %d", endpointID, info.NumPending, info.NumAckPending)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
