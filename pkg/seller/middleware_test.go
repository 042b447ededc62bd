package seller

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/h402/settlement/pkg/h402"
)

// The real facilitator (ingest) is exercised end to end in
// e2e/seller_test.go. These tests put a scripted facilitator behind the
// middleware for the faults ingest does not produce on demand: refusing a
// settle it verified, staying unreachable, answering garbage, a payment that
// never gets final.

const (
	testToken = "0x3Ac5318126Ba9e9F9Dc9bA8e9781b3bF568D1f06"
	testPayTo = "0x00000000000000000000000000000000000000aa"
	testPayer = "0x00000000000000000000000000000000000000bb"
)

func testOffer() Offer {
	return Offer{
		Namespace: h402.NamespaceEVM, NetworkID: "84532",
		Token: Token{Address: testToken, Decimals: 6, Symbol: "USDC", EIP712Name: "USD Coin", EIP712Version: "2"},
		PayTo: testPayTo, Amount: "10000",
	}
}

// facilitatorScript is a scripted facilitator: each route answers with its
// function and records the calls.
type facilitatorScript struct {
	verify, settle, status http.HandlerFunc

	mu    sync.Mutex
	calls []call
}

type call struct {
	path, key, apiKey string
	body              []byte
}

func (f *facilitatorScript) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.calls = append(f.calls, call{path: r.URL.Path, key: r.Header.Get(h402.HeaderIdempotencyKey), apiKey: r.Header.Get("X-API-Key"), body: b})
	f.mu.Unlock()
	h := map[string]http.HandlerFunc{"/verify": f.verify, "/settle": f.settle}[r.URL.Path]
	if strings.HasPrefix(r.URL.Path, "/payments/") {
		h = f.status
	}
	if h == nil {
		http.NotFound(w, r)
		return
	}
	h(w, r)
}

func (f *facilitatorScript) count(path string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.calls {
		if c.path == path {
			n++
		}
	}
	return n
}

func answerJSON(code int, v string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_, _ = io.WriteString(w, v)
	}
}

var (
	validVerify    = answerJSON(200, `{"isValid":true,"payer":"`+testPayer+`","type":"payload"}`)
	acceptedSettle = answerJSON(200, `{"success":true,"transaction":"","network":"eip155:84532","payer":"`+testPayer+`","paymentId":"evm.84532.auth.x","state":"accepted"}`)
)

// testShop is the middleware with a handler that counts its runs.
type testShop struct {
	srv  *httptest.Server
	fac  *facilitatorScript
	runs atomic.Int64
	reg  *prometheus.Registry
}

func newTestShop(t *testing.T, fac *facilitatorScript, change func(*Config), handler http.HandlerFunc) *testShop {
	t.Helper()
	s := &testShop{fac: fac, reg: prometheus.NewRegistry()}
	facURL := "http://127.0.0.1:1"
	if fac != nil {
		fs := httptest.NewServer(fac)
		t.Cleanup(fs.Close)
		facURL = fs.URL
	}
	cfg := Config{
		FacilitatorURL: facURL, APIKey: "seller-secret", Registry: s.reg,
		Routes: []Route{
			{Pattern: "GET /free/report", Offers: nil}, // replaced below
			{Pattern: "GET /reports/*", Description: "a report", MimeType: "text/plain", Offers: []Offer{testOffer()}},
		},
	}
	cfg.Routes = cfg.Routes[1:]
	if change != nil {
		change(&cfg)
	}
	mw, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if handler == nil {
		handler = func(w http.ResponseWriter, r *http.Request) {
			pay, _ := PaymentFrom(r.Context())
			payer := ""
			if pay != nil {
				payer = pay.Payer
			}
			fmt.Fprintf(w, "the report for %s", payer)
		}
	}
	s.srv = httptest.NewServer(mw.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.runs.Add(1)
		handler(w, r)
	})))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *testShop) get(t *testing.T, path string, headers ...string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, s.srv.URL+path, nil)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// v2Payment is a well-formed x402 v2 payment (not signed by anyone) for
// the shop's offer on path.
func (s *testShop) v2Payment(t *testing.T, path string) string {
	t.Helper()
	resp, _ := s.get(t, path)
	pr, err := h402.DecodePaymentRequiredHeader(resp.Header.Get(h402.HeaderPaymentRequired))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(map[string]any{
		"x402Version": 2, "resource": pr.Resource, "accepted": pr.Accepts[0],
		"payload": map[string]any{
			"signature": "0x" + strings.Repeat("11", 65),
			"authorization": map[string]any{
				"from": testPayer, "to": testPayTo, "value": "10000", "validAfter": "0",
				"validBefore": fmt.Sprint(time.Now().Add(time.Minute).Unix()), "nonce": "0x" + strings.Repeat("22", 32),
			},
		},
	})
	return h402.EncodeBase64(b)
}

func TestFirst402SpeaksEveryDialect(t *testing.T) {
	s := newTestShop(t, nil, nil, nil)
	resp, body := s.get(t, "/reports/q1?year=2026")
	if resp.StatusCode != http.StatusPaymentRequired {
		t.Fatalf("got %d %s, want 402", resp.StatusCode, body)
	}
	resource := s.srv.URL + "/reports/q1?year=2026"
	v2, err := h402.DecodePaymentRequiredHeader(resp.Header.Get(h402.HeaderPaymentRequired))
	if err != nil {
		t.Fatalf("PAYMENT-REQUIRED: %v", err)
	}
	if a := v2.Accepts; len(a) != 1 || a[0].Network != "eip155:84532" || a[0].Amount.Text != "10000" || a[0].Asset != testToken ||
		a[0].PayTo != testPayTo || a[0].MaxTimeoutSeconds != 60 || !strings.Contains(string(a[0].Extra), `"name":"USD Coin"`) || v2.Resource.URL != resource {
		t.Errorf("PAYMENT-REQUIRED: %+v", v2)
	}
	pr, err := h402.DecodePaymentRequired([]byte(body))
	if err != nil {
		t.Fatalf("body as h402: %v", err)
	}
	amount, err := pr.Accepts[0].Amount(0)
	if err != nil || amount.String() != "10000" || pr.Accepts[0].Resource != resource || pr.Accepts[0].NetworkID != "84532" {
		t.Errorf("body as h402: %+v (amount %v, err %v)", pr.Accepts[0], amount, err)
	}
	var v1 h402.X402V1PaymentRequired
	if err := json.Unmarshal([]byte(body), &v1); err != nil || v1.X402Version != 1 || v1.Accepts[0].Network != "base-sepolia" ||
		v1.Accepts[0].MaxAmountRequired.Text != "10000" || v1.Accepts[0].Resource != resource || v1.Accepts[0].Description != "a report" {
		t.Errorf("body as x402 v1: %+v (err %v)", v1, err)
	}
	if s.runs.Load() != 0 {
		t.Errorf("handler ran %d times, want 0", s.runs.Load())
	}
	// Unpriced routes pass through.
	if resp, body := s.get(t, "/about"); resp.StatusCode != http.StatusOK || s.runs.Load() != 1 {
		t.Errorf("unpriced route: %d %s", resp.StatusCode, body)
	}
}

func TestFirst402WithoutV1Network(t *testing.T) {
	s := newTestShop(t, nil, func(c *Config) {
		o := testOffer()
		o.NetworkID = "1337"
		c.Routes[0].Offers = []Offer{o}
	}, nil)
	resp, body := s.get(t, "/reports/q1")
	if strings.Contains(body, "x402Version") {
		t.Errorf("body offers x402 v1 a network v1 cannot name: %s", body)
	}
	if _, err := h402.DecodePaymentRequired([]byte(body)); err != nil {
		t.Errorf("body as h402: %v", err)
	}
	if v2, err := h402.DecodePaymentRequiredHeader(resp.Header.Get(h402.HeaderPaymentRequired)); err != nil || v2.Accepts[0].Network != "eip155:1337" {
		t.Errorf("PAYMENT-REQUIRED: %+v (err %v)", v2, err)
	}
}

func TestPaidAndServed(t *testing.T) {
	fac := &facilitatorScript{verify: validVerify, settle: acceptedSettle}
	s := newTestShop(t, fac, nil, nil)
	resp, body := s.get(t, "/reports/q1", h402.HeaderPaymentSig, s.v2Payment(t, "/reports/q1"))
	if resp.StatusCode != http.StatusOK || body != "the report for "+testPayer {
		t.Fatalf("got %d %q", resp.StatusCode, body)
	}
	b, err := h402.DecodeBase64(resp.Header.Get(h402.HeaderPaymentResp2))
	var sr h402.X402SettleResponse
	if err != nil || json.Unmarshal(b, &sr) != nil || !sr.Success || sr.Network != "eip155:84532" || sr.PaymentID == "" {
		t.Errorf("PAYMENT-RESPONSE: %s (err %v)", b, err)
	}
	fac.mu.Lock()
	calls := append([]call(nil), fac.calls...)
	fac.mu.Unlock()
	if len(calls) != 2 || calls[0].path != "/verify" || calls[1].path != "/settle" {
		t.Fatalf("facilitator calls: %+v", calls)
	}
	if calls[0].key == "" || calls[0].key != calls[1].key || calls[0].apiKey != "seller-secret" {
		t.Errorf("idempotency keys %q, %q (want one per request), API key %q", calls[0].key, calls[1].key, calls[0].apiKey)
	}
	if _, err := h402.DecodeRequest(calls[1].body, nil); err != nil {
		t.Errorf("settle body does not decode as a facilitator request: %v", err)
	}
	// Another request presenting a payment gets another key.
	s.get(t, "/reports/q1", h402.HeaderPaymentSig, s.v2Payment(t, "/reports/q1"))
	fac.mu.Lock()
	other := fac.calls[2].key
	fac.mu.Unlock()
	if other == calls[0].key {
		t.Errorf("two requests share the idempotency key %q", other)
	}
	if got := outcomes(t, s.reg, OutcomeServed); got != 2 {
		t.Errorf("served requests counted: %v, want 2", got)
	}
}

// outcomes reads h402_seller_requests_total{outcome}.
func outcomes(t *testing.T, reg *prometheus.Registry, outcome string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "h402_seller_requests_total" {
			continue
		}
		for _, m := range mf.Metric {
			for _, l := range m.Label {
				if l.GetName() == "outcome" && l.GetValue() == outcome {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

func TestRefusalsNeverServe(t *testing.T) {
	tests := []struct {
		name       string
		fac        *facilitatorScript // nil: unreachable
		change     func(*Config)
		handler    http.HandlerFunc
		wantStatus int
		wantReason string
		wantRuns   int64
		wantSettle int
	}{
		{name: "verify refuses", fac: &facilitatorScript{verify: answerJSON(200, `{"isValid":false,"invalidReason":"insufficient_funds","invalidMessage":"the payer holds 5"}`)},
			wantStatus: 402, wantReason: "insufficient_funds"},
		{name: "verify refuses with 413 (ingest's body limit)", fac: &facilitatorScript{verify: answerJSON(413, `{"isValid":false,"invalidReason":"payload_too_large","errorMessage":"request body is larger than 65536 bytes"}`)},
			wantStatus: 402, wantReason: "payload_too_large"},
		{name: "a 4xx claiming validity is no verdict", fac: &facilitatorScript{verify: answerJSON(400, `{"isValid":true}`)},
			wantStatus: 503, wantReason: string(ReasonFacilitatorUnavailable)},
		{name: "settle refuses: the buffered answer is discarded", fac: &facilitatorScript{verify: validVerify,
			settle: answerJSON(200, `{"success":false,"errorReason":"payment_already_used","errorMessage":"used by another request","transaction":"","network":"eip155:84532","paymentId":"evm.84532.auth.y","state":"accepted"}`)},
			wantStatus: 402, wantReason: "payment_already_used", wantRuns: 1, wantSettle: 1},
		{name: "facilitator unreachable", fac: nil, wantStatus: 503, wantReason: string(ReasonFacilitatorUnavailable)},
		{name: "facilitator 500", fac: &facilitatorScript{verify: answerJSON(500, `oops`)}, wantStatus: 503, wantReason: string(ReasonFacilitatorUnavailable)},
		{name: "facilitator garbage", fac: &facilitatorScript{verify: answerJSON(200, `{"ok":1}`)}, wantStatus: 503, wantReason: string(ReasonFacilitatorUnavailable)},
		{name: "API key refused", fac: &facilitatorScript{verify: answerJSON(401, `{"reason":"unauthorized","error":"a valid API key is required"}`)}, wantStatus: 503, wantReason: string(ReasonFacilitatorUnavailable)},
		{name: "settle unreachable after the handler", fac: &facilitatorScript{verify: validVerify, settle: answerJSON(503, `{}`)},
			wantStatus: 503, wantReason: string(ReasonFacilitatorUnavailable), wantRuns: 1, wantSettle: 3},
		{name: "handler fails: not settled", fac: &facilitatorScript{verify: validVerify, settle: acceptedSettle},
			handler: func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "the report for nobody", 500) }, wantStatus: 500, wantRuns: 1},
		{name: "answer too large: not settled", fac: &facilitatorScript{verify: validVerify, settle: acceptedSettle},
			change: func(c *Config) { c.MaxResponseBytes = 8 }, wantStatus: 500, wantReason: string(ReasonResponseTooLarge), wantRuns: 1},
		{name: "never final: 504", fac: &facilitatorScript{verify: validVerify, settle: acceptedSettle,
			status: answerJSON(200, `{"id":"evm.84532.auth.x","state":"submitted","txHash":"0x01"}`)},
			change: func(c *Config) {
				c.Mode, c.WaitTimeout, c.PollInterval = ModeFinalized, 300*time.Millisecond, 10*time.Millisecond
			},
			wantStatus: 504, wantReason: string(ReasonSettlementTimeout), wantRuns: 1, wantSettle: 1},
		{name: "failed on chain while waited for", fac: &facilitatorScript{verify: validVerify, settle: acceptedSettle,
			status: answerJSON(200, `{"id":"evm.84532.auth.x","state":"failed","reason":"insufficient_funds","message":"balance moved away"}`)},
			change:     func(c *Config) { c.Mode = ModeSubmitted },
			wantStatus: 402, wantReason: "insufficient_funds", wantRuns: 1, wantSettle: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newTestShop(t, tt.fac, tt.change, tt.handler)
			resp, body := s.get(t, "/reports/q1", h402.HeaderPaymentSig, s.v2Payment(t, "/reports/q1"))
			if resp.StatusCode != tt.wantStatus || !strings.Contains(body, tt.wantReason) {
				t.Errorf("got %d %s, want %d with %q", resp.StatusCode, body, tt.wantStatus, tt.wantReason)
			}
			if strings.Contains(body, "the report for "+testPayer) {
				t.Errorf("paid content written: %s", body)
			}
			if resp.Header.Get(h402.HeaderPaymentResp2) != "" {
				t.Errorf("PAYMENT-RESPONSE set on a refusal")
			}
			if got := s.runs.Load(); got != tt.wantRuns {
				t.Errorf("handler runs: got %d, want %d", got, tt.wantRuns)
			}
			if tt.fac != nil {
				if got := tt.fac.count("/settle"); got != tt.wantSettle {
					t.Errorf("settle calls: got %d, want %d", got, tt.wantSettle)
				}
			}
			if tt.wantStatus == 402 {
				if _, err := h402.DecodePaymentRequiredHeader(resp.Header.Get(h402.HeaderPaymentRequired)); err != nil {
					t.Errorf("x402 v2 refusal without a PAYMENT-REQUIRED header: %v", err)
				}
			}
		})
	}
}

func TestSettleRetriedWithTheSameKey(t *testing.T) {
	var settles atomic.Int64
	fac := &facilitatorScript{verify: validVerify, settle: func(w http.ResponseWriter, r *http.Request) {
		if settles.Add(1) == 1 {
			answerJSON(503, `{"reason":"service_unavailable","error":"retry shortly"}`)(w, r)
			return
		}
		acceptedSettle(w, r)
	}}
	s := newTestShop(t, fac, nil, nil)
	resp, body := s.get(t, "/reports/q1", h402.HeaderPaymentSig, s.v2Payment(t, "/reports/q1"))
	if resp.StatusCode != 200 || s.runs.Load() != 1 {
		t.Fatalf("got %d %s (runs %d), want 200 after a retried settle", resp.StatusCode, body, s.runs.Load())
	}
	fac.mu.Lock()
	defer fac.mu.Unlock()
	if len(fac.calls) != 3 || fac.calls[1].key != fac.calls[2].key || fac.calls[0].key != fac.calls[2].key {
		t.Errorf("calls %+v: want verify and two settles under one key", fac.calls)
	}
}

func TestFinalizedModeWaits(t *testing.T) {
	var looks atomic.Int64
	fac := &facilitatorScript{verify: validVerify, settle: acceptedSettle, status: func(w http.ResponseWriter, r *http.Request) {
		state := "submitted"
		if looks.Add(1) >= 3 {
			state = "finalized"
		}
		answerJSON(200, `{"id":"evm.84532.auth.x","state":"`+state+`","txHash":"0xabc","block":7,"finalizedAt":"2026-01-01T00:00:00Z"}`)(w, r)
	}}
	var paid *Payment
	s := newTestShop(t, fac, func(c *Config) {
		c.Mode, c.PollInterval = ModeFinalized, time.Millisecond
		c.OnPaid = func(_ *http.Request, p *Payment) { paid = p }
	}, nil)
	resp, body := s.get(t, "/reports/q1", h402.HeaderPaymentSig, s.v2Payment(t, "/reports/q1"))
	if resp.StatusCode != 200 || looks.Load() != 3 {
		t.Fatalf("got %d %s after %d looks, want 200 after 3", resp.StatusCode, body, looks.Load())
	}
	b, _ := h402.DecodeBase64(resp.Header.Get(h402.HeaderPaymentResp2))
	var sr h402.X402SettleResponse
	if json.Unmarshal(b, &sr) != nil || sr.State != "finalized" || sr.Transaction != "0xabc" || sr.Block != 7 || sr.FinalizedAt.IsZero() {
		t.Errorf("PAYMENT-RESPONSE: %s", b)
	}
	if paid == nil || paid.State != "finalized" || paid.Transaction != "0xabc" || paid.Amount.String() != "10000" {
		t.Errorf("OnPaid: %+v", paid)
	}
}

func TestBadPaymentHeaders(t *testing.T) {
	fac := &facilitatorScript{verify: validVerify, settle: acceptedSettle}
	s := newTestShop(t, fac, nil, nil)
	tests := []struct {
		name, header, value, want string
		v2                        bool
	}{
		{"not base64", h402.HeaderPayment, "%%%", `"reason":"invalid_encoding"`, false},
		{"not JSON", h402.HeaderPayment, h402.EncodeBase64([]byte("[1]")), `"reason":"invalid_payload"`, false},
		{"h402 on another network", h402.HeaderPayment, h402.EncodeBase64([]byte(`{"h402Version":1,"scheme":"exact","namespace":"evm","networkId":"1","payload":{"type":"signAndSendTransaction","transactionHash":"0x` + strings.Repeat("ab", 32) + `","signedMessage":"0x` + strings.Repeat("11", 65) + `"}}`)), `"reason":"no_matching_payment_requirements"`, false},
		{"x402 v3", h402.HeaderPayment, h402.EncodeBase64([]byte(`{"x402Version":3}`)), `"error":"invalid_x402_version"`, false},
		{"v2 without version", h402.HeaderPaymentSig, h402.EncodeBase64([]byte(`{"accepted":{}}`)), `"error":"invalid_x402_version"`, true},
		{"v2 unknown scheme", h402.HeaderPaymentSig, h402.EncodeBase64([]byte(`{"x402Version":2,"accepted":{"scheme":"upto"}}`)), `"error":"unsupported_scheme"`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := s.get(t, "/reports/q1", tt.header, tt.value)
			if resp.StatusCode != 402 || !strings.Contains(body, tt.want) {
				t.Errorf("got %d %s, want 402 with %s", resp.StatusCode, body, tt.want)
			}
			if got := resp.Header.Get(h402.HeaderPaymentRequired) != ""; got != tt.v2 {
				t.Errorf("PAYMENT-REQUIRED set: %v, want %v", got, tt.v2)
			}
		})
	}
	if s.runs.Load() != 0 || fac.count("/verify") != 0 {
		t.Errorf("handler runs %d, verify calls %d; want 0 and 0", s.runs.Load(), fac.count("/verify"))
	}
}

func TestRequestBodyBounded(t *testing.T) {
	fac := &facilitatorScript{verify: validVerify, settle: acceptedSettle}
	s := newTestShop(t, fac, func(c *Config) {
		c.MaxRequestBytes = 16
		c.Routes[0].Pattern = "POST /reports/*"
	}, func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadAll(r.Body); err != nil {
			http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
			return
		}
		fmt.Fprint(w, "ok")
	})
	pay := func() string {
		// The 402 of the POST route, read by a GET-less client: ask with POST.
		req, _ := http.NewRequest(http.MethodPost, s.srv.URL+"/reports/q1", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		pr, err := h402.DecodePaymentRequiredHeader(resp.Header.Get(h402.HeaderPaymentRequired))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(map[string]any{"x402Version": 2, "resource": pr.Resource, "accepted": pr.Accepts[0], "payload": map[string]any{
			"signature": "0x" + strings.Repeat("11", 65), "authorization": map[string]any{"from": testPayer, "to": testPayTo, "value": "10000",
				"validAfter": "0", "validBefore": fmt.Sprint(time.Now().Add(time.Minute).Unix()), "nonce": "0x" + strings.Repeat("22", 32)}}})
		return h402.EncodeBase64(b)
	}
	for _, tt := range []struct {
		body   string
		status int
		settle int
	}{{"small", 200, 1}, {strings.Repeat("x", 64), 413, 1}} {
		req, _ := http.NewRequest(http.MethodPost, s.srv.URL+"/reports/q1", strings.NewReader(tt.body))
		req.Header.Set(h402.HeaderPaymentSig, pay())
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.status || fac.count("/settle") != tt.settle {
			t.Errorf("body of %d bytes: status %d, settles %d; want %d, %d", len(tt.body), resp.StatusCode, fac.count("/settle"), tt.status, tt.settle)
		}
	}
}

// closedPort is an address nothing listens on.
func closedPort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestFacilitatorDownOnClosedPort(t *testing.T) {
	s := newTestShop(t, nil, func(c *Config) { c.FacilitatorURL = "http://" + closedPort(t) }, nil)
	resp, body := s.get(t, "/reports/q1", h402.HeaderPaymentSig, s.v2Payment(t, "/reports/q1"))
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" || strings.Contains(body, "seller-secret") || s.runs.Load() != 0 {
		t.Errorf("got %d %s (Retry-After %q, runs %d), want 503 without the content or the API key", resp.StatusCode, body, resp.Header.Get("Retry-After"), s.runs.Load())
	}
}
