package main

import (
	"bytes"
	"context"
	"encoding/json"
	"math/big"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/h402/settlement/pkg/config"
	"github.com/h402/settlement/pkg/events"
	"github.com/h402/settlement/pkg/exposure"
	"github.com/h402/settlement/pkg/guard"
	"github.com/h402/settlement/pkg/h402"
)

// TestPublishFailureLeavesNothing: when the event log refuses the accepted
// payment, the seller gets a retryable 503 and neither the replay key nor the
// exposure reservation stays behind; the same payment is accepted once the
// log takes writes again. Then, with NATS stopped, ingest answers 503 and
// /ready says so.
func TestPublishFailureLeavesNothing(t *testing.T) {
	h := newHarness(t, false)
	_, url := h.ingest("a", nil)
	ctx := context.Background()
	_, js := h.js.Connect(t)
	stream, err := js.Stream(ctx, events.StreamPayments)
	if err != nil {
		t.Fatal(err)
	}
	info, _ := stream.Info(ctx)
	full := info.Config
	full.MaxMsgs, full.Discard = int64(info.State.Msgs), jetstream.DiscardNew // a real refusal: the stream is full
	if full.MaxMsgs == 0 {
		full.MaxMsgs = 1
		if _, err := js.Publish(ctx, "payments.dead.evm.84532", []byte("{}")); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := js.UpdateStream(ctx, full); err != nil {
		t.Fatal(err)
	}

	key := h.freshKey(10_000)
	req := h.evmReq(h.evm.Token().Hex(), "10000")
	header := h.authorize(req, key)
	s := post(t, url+"/settle", body(header, req))
	if s.Status != 503 || s.str("reason") != "service_unavailable" || s.Header.Get("Retry-After") == "" {
		t.Fatalf("settle with the stream full: %d %v; want 503 service_unavailable with Retry-After", s.Status, s.Body)
	}
	v := post(t, url+"/verify", body(header, req))
	id := v.str("payer")
	if v.Status != 200 || id == "" {
		t.Fatalf("verify after the failed settle: %d %v; want still valid", v.Status, v.Body)
	}
	replay, _ := js.KeyValue(ctx, events.BucketReplay)
	expo, _ := js.KeyValue(ctx, events.BucketExposure)
	keys, _ := replay.ListKeys(ctx)
	for k := range keys.Keys() {
		if strings.Contains(k, strings.ToLower(id)) {
			t.Errorf("replay key %s left behind after a failed publish", k)
		}
	}
	pending, err := exposure.New(expo).Pending(ctx, exposure.Account{Namespace: h402.NamespaceEVM, NetworkID: "84532", Token: h.evm.Token().Hex(), Payer: id})
	if err != nil || pending.Sign() != 0 {
		t.Errorf("pending exposure after a failed publish = %v, %v; want 0", pending, err)
	}

	full.MaxMsgs, full.Discard = -1, jetstream.DiscardOld
	if _, err := js.UpdateStream(ctx, full); err != nil {
		t.Fatal(err)
	}
	s = post(t, url+"/settle", body(header, req))
	if s.Status != 200 || s.Body["success"] != true {
		t.Fatalf("retry after the stream was fixed: %d %v; want accepted", s.Status, s.Body)
	}
	held, err := guard.New(replay, nil).Lookup(ctx, s.str("paymentId"))
	if err != nil || held == nil {
		t.Errorf("accepted payment has no replay key: %v", err)
	}

	// NATS stopped: nothing can be made durable, so nothing is accepted.
	if r := get(t, url+"/ready"); r.Status != 200 {
		t.Fatalf("/ready before the stop = %d %v", r.Status, r.Body)
	}
	h.js.Server.Close()
	req2 := h.evmReq(h.evm.Token().Hex(), "10000")
	s = post(t, url+"/settle", body(h.authorize(req2, h.evm.Payers()[1]), req2))
	if s.Status != 503 {
		t.Errorf("settle with NATS stopped: %d %v; want 503", s.Status, s.Body)
	}
	if r := get(t, url+"/ready"); r.Status != 503 {
		t.Errorf("/ready with NATS stopped = %d %v; want 503", r.Status, r.Body)
	}
	if r := get(t, url+"/health"); r.Status != 200 || r.str("status") != "ok" {
		t.Errorf("/health = %d %v; want 200 ok (liveness does not depend on NATS)", r.Status, r.Body)
	}
}

func TestHTTPGuards(t *testing.T) {
	h := newHarness(t, false)
	apiKey := "seller-key-0123456789abcdef"
	_, url := h.ingest("a", func(c *config.Config) { c.Ingest.APIKeys = []string{apiKey} })
	req := h.evmReq(h.evm.Token().Hex(), "10000")
	b := body(h.authorize(req, h.evm.Payers()[1]), req)

	tests := []struct {
		name    string
		headers []string
		body    any
		want    int
	}{
		{"no key", nil, b, 401},
		{"wrong key", []string{"X-API-Key", apiKey + "x"}, b, 401},
		{"bearer key", []string{"Authorization", "Bearer " + apiKey}, b, 200},
		{"header key", []string{"X-API-Key", apiKey}, b, 200},
		{"body too large", []string{"X-API-Key", apiKey}, bytes.Repeat([]byte(" "), 70<<10), 413},
		{"not json", []string{"X-API-Key", apiKey}, []byte("{"), 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := post(t, url+"/verify", tt.body, tt.headers...)
			if a.Status != tt.want {
				t.Errorf("status %d %v; want %d", a.Status, a.Body, tt.want)
			}
			if a.Status == 401 && strings.Contains(a.str("error"), apiKey) {
				t.Errorf("401 answer echoes the key")
			}
		})
	}
	if r := get(t, url+"/supported"); r.Status != 200 {
		t.Errorf("/supported needs no key: %d", r.Status)
	}
}

// TestSettleWait: with settleWait, /settle answers settlement_pending (a
// success, never a failure) when the wait runs out, and the transaction hash
// when the payment reaches the state in time.
func TestSettleWait(t *testing.T) {
	h := newHarness(t, false)
	_, url := h.ingest("a", func(c *config.Config) {
		c.Ingest.SettleWait = "submitted"
		c.Ingest.SettleWaitTimeout = config.Duration(300 * time.Millisecond)
	})
	usdc := h.evm.Token().Hex()
	req := h.evmReq(usdc, "10000")
	s := post(t, url+"/settle", body(h.authorize(req, h.evm.Payers()[1]), req))
	if s.Status != 200 || s.Body["success"] != true || s.str("errorReason") != "settlement_pending" || s.str("paymentId") == "" {
		t.Fatalf("settle with nobody settling: %d %v; want success with settlement_pending and the id", s.Status, s.Body)
	}

	// A settler reports the submission while a second request waits on it.
	_, js := h.js.Connect(t)
	req2 := h.evmReq(usdc, "10001")
	header2 := h.authorize(req2, h.evm.Payers()[2])
	done := make(chan answer, 1)
	_, slow := h.ingest("b", func(c *config.Config) {
		c.Ingest.SettleWait = "submitted"
		c.Ingest.SettleWaitTimeout = config.Duration(20 * time.Second)
	})
	go func() { done <- post(t, slow+"/settle", body(header2, req2)) }()
	id := waitForAccepted(t, js, big.NewInt(10001))
	subj, _ := events.StateSubject(h402.NamespaceEVM, "84532", id)
	tx := "0x" + strings.Repeat("cd", 32)
	tr, _ := json.Marshal(events.Transition{Version: 1, ID: id, Seq: 1, State: events.StateSubmitted, At: time.Now().UTC(), TxHash: tx})
	if _, err := js.Publish(context.Background(), subj, tr); err != nil {
		t.Fatal(err)
	}
	a := <-done
	if a.Status != 200 || a.Body["success"] != true || a.str("transaction") != tx || a.str("state") != "submitted" {
		t.Errorf("settle waiting for submitted: %d %v; want success with transaction %s", a.Status, a.Body, tx)
	}
	if p := get(t, url+"/payments/"+id); p.str("state") != "submitted" || p.str("txHash") != tx {
		t.Errorf("GET /payments after submission = %v", p.Body)
	}
}

// waitForAccepted returns the id of the accepted payment of amount, waiting
// on the stream (not on time).
func waitForAccepted(t *testing.T, js jetstream.JetStream, amount *big.Int) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := js.OrderedConsumer(ctx, events.StreamPayments, jetstream.OrderedConsumerConfig{FilterSubjects: []string{"payments.accepted.>"}})
	if err != nil {
		t.Fatal(err)
	}
	for {
		m, err := c.Next(jetstream.FetchContext(ctx))
		if err != nil {
			t.Fatalf("no accepted payment of %s: %v", amount, err)
		}
		ev, err := events.DecodePaymentAccepted(m.Data())
		if err == nil && ev.Amount == amount.String() {
			return ev.ID
		}
	}
}

// TestGracefulShutdown: Close lets an in-flight /settle finish with its
// answer, and refuses new connections.
func TestGracefulShutdown(t *testing.T) {
	h := newHarness(t, false)
	m, url := h.ingest("a", func(c *config.Config) {
		c.Ingest.SettleWait = "submitted"
		c.Ingest.SettleWaitTimeout = config.Duration(time.Second)
	})
	_, js := h.js.Connect(t)
	req := h.evmReq(h.evm.Token().Hex(), "10002")
	done := make(chan answer, 1)
	go func() { done <- post(t, url+"/settle", body(h.authorize(req, h.evm.Payers()[1]), req)) }()
	waitForAccepted(t, js, big.NewInt(10002)) // the request is now in flight, waiting
	closed := make(chan error, 1)
	go func() { closed <- m.Close() }()
	a := <-done
	if a.Status != 200 || a.Body["success"] != true || a.str("errorReason") != "settlement_pending" {
		t.Errorf("in-flight settle during shutdown: %d %v; want its settlement_pending answer", a.Status, a.Body)
	}
	if err := <-closed; err != nil {
		t.Errorf("Close: %v", err)
	}
	if _, err := http.Get(url + "/health"); err == nil {
		t.Errorf("a request after Close was served")
	}
}
