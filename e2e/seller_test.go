package e2e

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/h402/settlement/pkg/chains/evm"
	"github.com/h402/settlement/pkg/events"
	"github.com/h402/settlement/pkg/h402"
	"github.com/h402/settlement/pkg/seller"
)

// shop is a Go seller under test: our middleware in front of a handler
// that counts its runs, served by httptest in the test process, with the
// pipeline's ingest as its facilitator.
type shop struct {
	srv  *httptest.Server
	runs atomic.Int64
	fail atomic.Bool // the handler answers 500
	paid chan *seller.Payment
	// stateAtPaid is the payment's state at ingest when OnPaid ran, that
	// is before the answer was written (set when checkAtPaid is).
	checkAtPaid atomic.Bool
	stateAtPaid atomic.Value
}

// sellerPrice is what every route of the shop costs, in smallest units.
var sellerPrice = big.NewInt(15_000)

func (p *pipeline) startShop(t *testing.T, payTo common.Address, mode seller.Mode) *shop {
	t.Helper()
	tok := p.usdc()
	offer := seller.Offer{
		Namespace: h402.NamespaceEVM, NetworkID: p.cfg.Networks[0].NetworkID,
		Token: seller.Token{Address: p.evm.Token().Hex(), Decimals: tok.Decimals, Symbol: tok.Symbol, EIP712Name: tok.EIP712Name, EIP712Version: tok.EIP712Version},
		PayTo: payTo.Hex(), Amount: sellerPrice.String(), MaxTimeoutSeconds: 300,
	}
	return p.startShopWith(t, offer, mode)
}

// startShopWith starts a shop whose reports cost offer.
func (p *pipeline) startShopWith(t *testing.T, offer seller.Offer, mode seller.Mode) *shop {
	t.Helper()
	s := &shop{paid: make(chan *seller.Payment, 16)}
	mw, err := seller.New(seller.Config{
		FacilitatorURL: p.url,
		Mode:           mode,
		WaitTimeout:    90 * time.Second,
		Routes: []seller.Route{
			{Pattern: "GET /reports/*", Description: "a report", MimeType: "application/json", Offers: []seller.Offer{offer}},
		},
		OnPaid: func(_ *http.Request, pay *seller.Payment) {
			if s.checkAtPaid.Load() {
				s.stateAtPaid.Store(ingestState(p.url, pay.ID))
			}
			s.paid <- pay
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	s.srv = httptest.NewServer(mw.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.runs.Add(1)
		if s.fail.Load() {
			http.Error(w, "report generator down", http.StatusInternalServerError)
			return
		}
		pay, ok := seller.PaymentFrom(r.Context())
		if !ok {
			http.Error(w, "handler reached without a payment", http.StatusTeapot)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{"report": r.URL.Path, "payer": pay.Payer, "paymentId": pay.ID})
	})))
	t.Cleanup(s.srv.Close)
	return s
}

// ingestState is the payment's state at ingest ("" when it cannot be read).
func ingestState(url, id string) string {
	resp, err := http.Get(url + "/payments/" + id)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	var st status
	_ = json.NewDecoder(resp.Body).Decode(&st)
	return string(st.State)
}

// get requests path from the shop with headers as name, value pairs.
func (s *shop) get(t *testing.T, path string, headers ...string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, s.srv.URL+path, nil)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// h402Payment asks the shop for path, decodes the 402 body as an h402
// client does and signs an EIP-3009 authorization for its first offer.
func (p *pipeline) h402Payment(t *testing.T, s *shop, path string, key *ecdsa.PrivateKey) (header, id string) {
	t.Helper()
	resp, body := s.get(t, path)
	if resp.StatusCode != http.StatusPaymentRequired {
		t.Fatalf("unpaid GET %s: status %d, want 402: %s", path, resp.StatusCode, body)
	}
	pr, err := h402.DecodePaymentRequired(body)
	if err != nil {
		t.Fatalf("402 body does not decode as h402: %v: %s", err, body)
	}
	req := pr.Accepts[0]
	pp, header, err := evm.SignAuthorization(&req, key, p.usdc(), time.Now(), evm.AuthorizationOptions{})
	if err != nil {
		t.Fatal(err)
	}
	a := pp.Payload.(*h402.EVMAuthorizationPayload).Authorization
	return header, evm.AuthorizationKey(p.evm.ChainID(), p.evm.Token(), common.HexToAddress(a.From), common.HexToHash(a.Nonce))
}

// fetchSeller runs x402js/fetch-seller.mjs with job on stdin.
func fetchSeller(t *testing.T, job map[string]any) fetched {
	t.Helper()
	in, _ := json.Marshal(job)
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "fetch-seller.mjs")
	cmd.Dir = x402jsDir
	cmd.Stdin = bytes.NewReader(in)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("node fetch-seller.mjs: %v\njob: %s\n%s", err, in, stderr.String())
	}
	var out fetched
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatalf("fetch-seller.mjs printed no answer: %v: %s", err, stdout.String())
	}
	return out
}

// fetched is fetch-seller.mjs's answer.
type fetched struct {
	Status                int                      `json:"status"`
	Body                  string                   `json:"body"`
	PaymentResponse       *h402.X402SettleResponse `json:"paymentResponse"`
	PaymentResponseHeader string                   `json:"paymentResponseHeader"`
}

// TestSellerMiddleware runs our seller middleware against the real
// pipeline (ingest, settler, watcher as processes) and pays it with h402
// payloads, npm @x402/fetch 2.27 (x402 v2, EVM and Solana) and npm x402
// 1.2.0 (x402 v1).
func TestSellerMiddleware(t *testing.T) {
	p := startPipeline(t, true)
	p.startSettler(t)
	p.startWatcher(t, "seller-watcher", filepath.Join(t.TempDir(), "ledger.db"))
	payers := p.evm.Payers()

	t.Run("h402 payment served once, replay refused", func(t *testing.T) {
		payTo := freshAddress()
		s := p.startShop(t, payTo, seller.ModeAccepted)
		header, id := p.h402Payment(t, s, "/reports/q1", payers[0])
		resp, body := s.get(t, "/reports/q1", h402.HeaderPayment, header)
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"report":"/reports/q1"`) {
			t.Fatalf("paid GET: %d %s, want 200 with the report", resp.StatusCode, body)
		}
		if got := s.runs.Load(); got != 1 {
			t.Errorf("handler runs: got %d, want 1", got)
		}
		if !strings.Contains(string(body), `"paymentId":"`+id+`"`) {
			t.Errorf("the handler did not see payment id %s: %s", id, body)
		}
		b, err := h402.DecodeBase64(resp.Header.Get(h402.HeaderPaymentResponse))
		if err != nil {
			t.Fatalf("X-PAYMENT-RESPONSE: %v", err)
		}
		var sr h402.SettleResponse
		if err := json.Unmarshal(b, &sr); err != nil || !sr.Success || sr.PaymentID != id || sr.State != string(events.StateAccepted) {
			t.Fatalf("X-PAYMENT-RESPONSE: %s (err %v), want success for payment %s, accepted", b, err, id)
		}
		paid := <-s.paid
		if paid.ID != id || paid.Amount.Cmp(sellerPrice) != 0 || paid.Dialect != h402.DialectH402 {
			t.Errorf("OnPaid: got %+v, want payment %s of %s", paid, id, sellerPrice)
		}

		// The same X-PAYMENT on a new request: refused, the handler not run.
		resp, body = s.get(t, "/reports/q1", h402.HeaderPayment, header)
		var refused struct {
			Reason    h402.Reason `json:"reason"`
			Error     string      `json:"error"`
			PaymentID string      `json:"paymentId"`
		}
		_ = json.Unmarshal(body, &refused)
		if resp.StatusCode != http.StatusPaymentRequired || refused.Reason != h402.ReasonPaymentAlreadyUsed || refused.PaymentID != id || refused.Error == "" {
			t.Errorf("replayed payment: %d %s, want 402 payment_already_used naming %s", resp.StatusCode, body, id)
		}
		if got := s.runs.Load(); got != 1 {
			t.Errorf("handler runs after the replay: got %d, want 1", got)
		}
		p.landsOnceEVM(t, payTo, sellerPrice)
		p.waitStates(t, []string{id}, 60*time.Second, nil, events.StateFinalized)
	})

	t.Run("handler failure is not settled, the payment is used later", func(t *testing.T) {
		payTo := freshAddress()
		s := p.startShop(t, payTo, seller.ModeAccepted)
		header, id := p.h402Payment(t, s, "/reports/q2", payers[1])
		s.fail.Store(true)
		resp, body := s.get(t, "/reports/q2", h402.HeaderPayment, header)
		if resp.StatusCode != http.StatusInternalServerError || resp.Header.Get(h402.HeaderPaymentResponse) != "" {
			t.Fatalf("failing handler: %d %s (X-PAYMENT-RESPONSE %q), want its 500 passed through unsettled", resp.StatusCode, body, resp.Header.Get(h402.HeaderPaymentResponse))
		}
		if a := p.get(t, "/payments/"+id); a.Status != http.StatusNotFound {
			t.Fatalf("GET /payments/%s after the handler failed: %s, want 404 (never accepted)", id, a)
		}
		if b := p.tokenBalance(t, payTo); b.Sign() != 0 {
			t.Fatalf("seller balance after the failed request: %s, want 0", b)
		}
		// The buyer keeps its payment and spends it on the next request.
		s.fail.Store(false)
		resp, body = s.get(t, "/reports/q2", h402.HeaderPayment, header)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("same payment once the handler works: %d %s, want 200", resp.StatusCode, body)
		}
		if got := s.runs.Load(); got != 2 {
			t.Errorf("handler runs: got %d, want 2", got)
		}
		p.landsOnceEVM(t, payTo, sellerPrice)
		p.waitStates(t, []string{id}, 60*time.Second, nil, events.StateFinalized)
	})

	t.Run("one payment in two concurrent requests is served once", func(t *testing.T) {
		payTo := freshAddress()
		s := p.startShop(t, payTo, seller.ModeAccepted)
		header, id := p.h402Payment(t, s, "/reports/race", payers[5])
		codes := make(chan int, 2)
		for range 2 {
			go func() {
				req, _ := http.NewRequest(http.MethodGet, s.srv.URL+"/reports/race", nil)
				req.Header.Set(h402.HeaderPayment, header)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					codes <- 0
					return
				}
				resp.Body.Close()
				codes <- resp.StatusCode
			}()
		}
		got := map[int]int{}
		for range 2 {
			got[<-codes]++
		}
		if got[http.StatusOK] != 1 || got[http.StatusPaymentRequired] != 1 {
			t.Errorf("answers: %v, want one 200 and one 402", got)
		}
		p.landsOnceEVM(t, payTo, sellerPrice)
		p.waitStates(t, []string{id}, 60*time.Second, nil, events.StateFinalized)
	})

	t.Run("402 answers decode in every dialect", func(t *testing.T) {
		payTo := freshAddress()
		s := p.startShop(t, payTo, seller.ModeAccepted)
		resp, body := s.get(t, "/reports/q3")
		if resp.StatusCode != http.StatusPaymentRequired {
			t.Fatalf("unpaid: %d %s, want 402", resp.StatusCode, body)
		}
		v2, err := h402.DecodePaymentRequiredHeader(resp.Header.Get(h402.HeaderPaymentRequired))
		if err != nil {
			t.Fatalf("PAYMENT-REQUIRED: %v", err)
		}
		if len(v2.Accepts) != 1 || v2.Accepts[0].Network != "eip155:84532" || v2.Accepts[0].Amount.Text != sellerPrice.String() ||
			!strings.EqualFold(v2.Accepts[0].PayTo, payTo.Hex()) || v2.Resource == nil || v2.Resource.URL != s.srv.URL+"/reports/q3" {
			t.Errorf("PAYMENT-REQUIRED: %+v", v2)
		}
		var v1 h402.X402V1PaymentRequired
		if err := json.Unmarshal(body, &v1); err != nil || v1.X402Version != 1 || len(v1.Accepts) != 1 ||
			v1.Accepts[0].Network != "base-sepolia" || v1.Accepts[0].MaxAmountRequired.Text != sellerPrice.String() || v1.Accepts[0].Resource != s.srv.URL+"/reports/q3" {
			t.Errorf("402 body as x402 v1: %+v (err %v): %s", v1, err, body)
		}
		if _, err := h402.DecodePaymentRequired(body); err != nil {
			t.Errorf("402 body as h402: %v", err)
		}
		// A payment for another amount (x402 v2) and one without an
		// authorization (x402 v1): refused in their dialects, before the facilitator.
		bad := v2.Accepts[0]
		bad.Amount = h402.NewDecimal(big.NewInt(1))
		v2pay, _ := json.Marshal(map[string]any{"x402Version": 2, "accepted": bad, "payload": map[string]any{}})
		resp, body = s.get(t, "/reports/q3", h402.HeaderPaymentSig, h402.EncodeBase64(v2pay))
		if _, err := h402.DecodePaymentRequiredHeader(resp.Header.Get(h402.HeaderPaymentRequired)); resp.StatusCode != http.StatusPaymentRequired || err != nil ||
			!strings.Contains(string(body), string(seller.ReasonNoMatchingOffer)) {
			t.Errorf("x402 v2 payment for another amount: %d %s (PAYMENT-REQUIRED err %v)", resp.StatusCode, body, err)
		}
		v1pay, _ := json.Marshal(map[string]any{"x402Version": 1, "scheme": "exact", "network": "base-sepolia", "payload": map[string]any{"signature": "0x00"}})
		resp, body = s.get(t, "/reports/q3", h402.HeaderPayment, h402.EncodeBase64(v1pay))
		var v1r struct {
			X402Version int    `json:"x402Version"`
			Error       string `json:"error"`
			Message     string `json:"message"`
		}
		if err := json.Unmarshal(body, &v1r); err != nil || resp.StatusCode != http.StatusPaymentRequired || v1r.X402Version != 1 || v1r.Error != string(h402.ReasonUnsupportedPayloadType) || v1r.Message == "" {
			t.Errorf("malformed x402 v1 payment: %d %s, want 402 unsupported_payload_type in x402 v1", resp.StatusCode, body)
		}
		if got := s.runs.Load(); got != 0 {
			t.Errorf("handler runs: got %d, want 0", got)
		}
	})

	t.Run("npm @x402/fetch pays", func(t *testing.T) {
		payTo := freshAddress()
		s := p.startShop(t, payTo, seller.ModeAccepted)
		out := fetchSeller(t, map[string]any{"client": "@x402/fetch", "scheme": "@x402/evm", "network": "eip155:84532",
			"url": s.srv.URL + "/reports/fetch", "privateKey": keyHex(payers[2])})
		if out.Status != http.StatusOK || !strings.Contains(out.Body, `"report":"/reports/fetch"`) {
			t.Fatalf("@x402/fetch: %d %s, want 200 with the report", out.Status, out.Body)
		}
		pr := out.PaymentResponse
		if out.PaymentResponseHeader != h402.HeaderPaymentResp2 || pr == nil || !pr.Success || pr.Network != "eip155:84532" || pr.PaymentID == "" {
			t.Fatalf("PAYMENT-RESPONSE as @x402/fetch decoded it (%s): %+v", out.PaymentResponseHeader, pr)
		}
		if got := s.runs.Load(); got != 1 {
			t.Errorf("handler runs: got %d, want 1", got)
		}
		p.landsOnceEVM(t, payTo, sellerPrice)
		p.waitStates(t, []string{pr.PaymentID}, 60*time.Second, nil, events.StateFinalized)
	})

	t.Run("npm x402 1.2.0 pays from the 402 body", func(t *testing.T) {
		payTo := freshAddress()
		s := p.startShop(t, payTo, seller.ModeAccepted)
		out := fetchSeller(t, map[string]any{"client": "x402", "network": "base-sepolia",
			"url": s.srv.URL + "/reports/v1", "privateKey": keyHex(payers[3])})
		if out.Status != http.StatusOK || out.PaymentResponseHeader != h402.HeaderPaymentResponse || out.PaymentResponse == nil || !out.PaymentResponse.Success {
			t.Fatalf("x402 1.2.0: %d %s, X-PAYMENT-RESPONSE %+v", out.Status, out.Body, out.PaymentResponse)
		}
		if out.PaymentResponse.Network != "base-sepolia" {
			t.Errorf("X-PAYMENT-RESPONSE network %q, want base-sepolia (the client's)", out.PaymentResponse.Network)
		}
		p.landsOnceEVM(t, payTo, sellerPrice)
		p.waitStates(t, []string{out.PaymentResponse.PaymentID}, 60*time.Second, nil, events.StateFinalized)
	})

	t.Run("mode finalized answers once the payment is final", func(t *testing.T) {
		payTo := freshAddress()
		s := p.startShop(t, payTo, seller.ModeFinalized)
		s.checkAtPaid.Store(true)
		out := fetchSeller(t, map[string]any{"client": "@x402/fetch", "scheme": "@x402/evm", "network": "eip155:84532",
			"url": s.srv.URL + "/reports/final", "privateKey": keyHex(payers[4])})
		// Before the answer was written, the payment was already final.
		pr := out.PaymentResponse
		if out.Status != http.StatusOK || pr == nil || !pr.Success {
			t.Fatalf("@x402/fetch in mode finalized: %d %s %+v", out.Status, out.Body, pr)
		}
		st, ok := p.paymentStatus(t, pr.PaymentID)
		if !ok || st.State != events.StateFinalized {
			t.Fatalf("payment %s when the answer arrived: %+v, want finalized", pr.PaymentID, st)
		}
		if pr.State != string(events.StateFinalized) || !strings.EqualFold(pr.Transaction, st.TxHash) || pr.FinalizedAt.IsZero() {
			t.Errorf("PAYMENT-RESPONSE: %+v, want state finalized with tx %s and finalizedAt", pr, st.TxHash)
		}
		paid := <-s.paid
		if paid.State != string(events.StateFinalized) || paid.Transaction == "" {
			t.Errorf("OnPaid in mode finalized: %+v", paid)
		}
		if got, _ := s.stateAtPaid.Load().(string); got != string(events.StateFinalized) {
			t.Errorf("payment state at ingest before the answer was written: %q, want finalized", got)
		}
		p.landsOnceEVM(t, payTo, sellerPrice)
	})

	// npm @x402/fetch 2.27 with the @x402/svm exact client pays on the
	// Solana localnet (served under the devnet's CAIP-2 id, which @x402/svm
	// requires), the facilitator paying the fee (extra.feePayer, found by
	// Discover in GET /supported).
	t.Run("npm @x402/fetch with @x402/svm pays on Solana", func(t *testing.T) {
		const amount = 25_000
		payTo := p.sol.Seller() // @x402/svm creates no token account: the localnet's seller has one
		before := p.splBalance(t, payTo)
		tok := p.solUSDC()
		// The fee payer comes from the facilitator's GET /supported.
		cfg := seller.Config{FacilitatorURL: p.url, Routes: []seller.Route{{Offers: []seller.Offer{{
			Namespace: h402.NamespaceSolana, NetworkID: p.solNetwork().NetworkID, CAIP2: h402.CAIP2SolanaDevnet,
			Token: seller.Token{Address: tok.Address, Decimals: tok.Decimals, Symbol: tok.Symbol},
			PayTo: payTo.String(), Amount: fmt.Sprint(amount),
		}}}}}
		if err := seller.Discover(context.Background(), &cfg); err != nil {
			t.Fatal(err)
		}
		offer := cfg.Routes[0].Offers[0]
		if offer.FeePayer != p.solNetwork().FeePayers[0] {
			t.Fatalf("Discover: fee payer %q, want the facilitator's %q", offer.FeePayer, p.solNetwork().FeePayers[0])
		}
		bad := cfg
		bad.Routes = []seller.Route{{Offers: []seller.Offer{offer}}}
		bad.Routes[0].Offers[0].Token.Address = "So11111111111111111111111111111111111111112"
		if err := seller.Discover(context.Background(), &bad); err == nil || !strings.Contains(err.Error(), "does not serve token") {
			t.Errorf("Discover of a token the facilitator does not serve: %v", err)
		}
		s := p.startShopWith(t, offer, seller.ModeAccepted)
		out := fetchSeller(t, map[string]any{"client": "@x402/fetch", "scheme": "@x402/svm", "network": h402.CAIP2SolanaDevnet,
			"url": s.srv.URL + "/reports/sol", "privateKey": keygenJSON(p.sol.Payers()[0]), "rpcUrl": p.sol.URL()})
		pr := out.PaymentResponse
		if out.Status != http.StatusOK || !strings.Contains(out.Body, `"report":"/reports/sol"`) || pr == nil || !pr.Success || pr.Network != h402.CAIP2SolanaDevnet {
			t.Fatalf("@x402/fetch with @x402/svm: %d %s, PAYMENT-RESPONSE %+v", out.Status, out.Body, pr)
		}
		if got := s.runs.Load(); got != 1 {
			t.Errorf("handler runs: got %d, want 1", got)
		}
		st := p.waitStates(t, []string{pr.PaymentID}, 90*time.Second, nil, events.StateFinalized)[pr.PaymentID]
		p.landsOnceSolana(t, payTo, before, amount, st.TxHash)
	})
}
