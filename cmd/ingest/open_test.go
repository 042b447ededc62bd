package main

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/h402/settlement/pkg/chains/solana"
	"github.com/h402/settlement/pkg/config"
	"github.com/h402/settlement/pkg/h402"
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

// TestSponsoredMinimum: payments whose network fee the facilitator pays (an
// EIP-3009 authorization, a Solana transaction with the facilitator as fee
// payer) below the token's minSponsoredAmount are refused
// amount_below_minimum; the same amount paid with the client's own fee is
// accepted, and so is a sponsored payment at the minimum.
func TestSponsoredMinimum(t *testing.T) {
	h := newHarness(t, true)
	h.cfg.Networks[0].Tokens[0].MinSponsoredAmount = "1000"
	h.cfg.Networks[1].Tokens[0].MinSponsoredAmount = "1000"
	_, url := h.ingest("a", nil)
	evmKey := h.freshKey(1_000_000)
	spl := &h.cfg.Networks[1].Tokens[0]
	bh := h.blockhash()
	solHeader := func(amount string, feePayer bool, payer int) (string, h402.PaymentRequirements) {
		t.Helper()
		req := h.solReq(spl.Address, amount, feePayer)
		header, err := solana.PaymentHeader(&req, spl, h.sol.Payers()[payer], bh, solana.PayOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return header, req
	}
	evmSmall, evmAtMin := h.evmReq(h.evm.Token().Hex(), "999"), h.evmReq(h.evm.Token().Hex(), "1000")
	solSponsored, solSponsoredReq := solHeader("999", true, 0)
	solOwnFee, solOwnFeeReq := solHeader("999", false, 1)
	tests := []struct {
		name   string
		header string
		req    h402.PaymentRequirements
		want   string // errorReason; "" accepted
	}{
		{"evm authorization below", h.authorize(evmSmall, evmKey), evmSmall, string(h402.ReasonAmountBelowMinimum)},
		{"evm authorization at minimum", h.authorize(evmAtMin, evmKey), evmAtMin, ""},
		{"solana fee payer below", solSponsored, solSponsoredReq, string(h402.ReasonAmountBelowMinimum)},
		{"solana client-paid below", solOwnFee, solOwnFeeReq, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := post(t, url+"/settle", body(tt.header, tt.req))
			if got := a.str("errorReason"); got != tt.want || (tt.want == "") != (a.Body["success"] == true) {
				t.Fatalf("settle: %d %v, want errorReason %q", a.Status, a.Body, tt.want)
			}
			if tt.want != "" && !strings.Contains(a.str("error"), "at least 1000") {
				t.Errorf("error %q does not name the minimum", a.str("error"))
			}
		})
	}
}
