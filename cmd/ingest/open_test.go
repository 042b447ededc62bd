package main

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/h402/settlement/pkg/config"
	"github.com/h402/settlement/pkg/ingest"
)

// TestRefusesOpenListenWithoutKeys: ingest does not start on a non-loopback
// address without API keys; with a key it does.
func TestRefusesOpenListenWithoutKeys(t *testing.T) {
	h := newHarness(t, false)
	cc := *h.cfg
	c := &cc
	c.Ingest.AdminListen = "off"
	c.Ingest.Listen = "0.0.0.0:0"
	m := NewMain()
	m.Config = c
	err := m.Run(context.Background())
	m.Close()
	if err == nil || !strings.Contains(err.Error(), "ingest.listen: a non-loopback address without API keys") {
		t.Fatalf("Run on 0.0.0.0 without keys: err = %v, want the ingest.listen refusal", err)
	}
	c.Ingest.APIKeys = []string{"0123456789abcdef0123"}
	m = NewMain()
	m.Config = c
	if err := m.Run(context.Background()); err != nil {
		t.Fatalf("Run on 0.0.0.0 with a key: %v", err)
	}
	m.Close()
}

// TestUnknownPayersRateLimited: payments from payers whose chain state is not
// cached are charged to the caller's miss budget; past it the answer is 429
// rate_limited with Retry-After, while a payer already known still pays.
func TestUnknownPayersRateLimited(t *testing.T) {
	h := newHarness(t, false)
	_, url := h.ingest("a", func(c *config.Config) {
		rate := 0.01 // one token per 100 s: the test never sees a refill
		c.Ingest.MissBudgetPerSecond, c.Ingest.MissBudgetBurst = &rate, 1
	})
	known, unknown := h.freshKey(1_000_000), h.freshKey(1_000_000)
	req := h.evmReq(h.evm.Token().Hex(), "1000")
	if a := post(t, url+"/settle", body(h.authorize(req, known), req)); a.Status != http.StatusOK || a.Body["success"] != true {
		t.Fatalf("first unknown payer within the burst: %d %v", a.Status, a.Body)
	}
	a := post(t, url+"/settle", body(h.authorize(req, unknown), req))
	if a.Status != http.StatusTooManyRequests || a.str("reason") != string(ingest.ReasonRateLimited) || a.str("error") == "" {
		t.Fatalf("second unknown payer over budget: %d %v, want 429 rate_limited with a sentence", a.Status, a.Body)
	}
	if s, err := strconv.Atoi(a.Header.Get("Retry-After")); err != nil || s < 1 {
		t.Errorf("Retry-After = %q, want a positive number of seconds", a.Header.Get("Retry-After"))
	}
	for i := 0; i < 3; i++ {
		if a := post(t, url+"/verify", body(h.authorize(req, known), req)); a.Status != http.StatusOK {
			t.Fatalf("known payer over budget: %d %v, want 200 (known payers are never limited)", a.Status, a.Body)
		}
	}
}
