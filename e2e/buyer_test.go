package e2e

import (
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"errors"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	solanago "github.com/gagliardetto/solana-go"

	"github.com/h402/settlement/pkg/buyer"
	"github.com/h402/settlement/pkg/chains/evm"
	"github.com/h402/settlement/pkg/events"
	"github.com/h402/settlement/pkg/h402"
	"github.com/h402/settlement/pkg/seller"
)

// TestBuyerRoundTripper pays sellers with pkg/buyer's RoundTripper through
// the whole pipeline (ingest, settler and watcher processes): a minimal Go
// seller speaking h402 that settles through ingest (EVM, and Solana with
// the client or the facilitator paying the fee), one speaking x402 v1
// (EVM), and a seller built on
// the published @x402/express 2.27 paymentMiddleware with ingest as its
// facilitator (an EVM and a Solana route). Each payment serves the content,
// lands on chain exactly once and reaches finalized.
func TestBuyerRoundTripper(t *testing.T) {
	p := startPipelineWith(t, pipelineOptions{solana: true, blockPeriod: time.Second})
	p.startSettler(t)
	p.startWatcher(t, "watcher-buyer", filepath.Join(t.TempDir(), "ledger.db"))

	tap := &paymentTap{base: http.DefaultTransport}
	var (
		hookMu sync.Mutex
		hooked []*buyer.Payment
	)
	tr, err := buyer.New(buyer.Config{
		Base: tap,
		// No EIP-712 domain configured: h402 requirements carry none, so
		// the buyer reads name() and version() from the token over RPC.
		EVM: &buyer.EVM{Key: p.evm.Payers()[0], RPC: p.evm.URL()},
		// The sellers below are fresh wallets without a token account:
		// the buyer opts in to creating (and funding) it.
		Solana: &buyer.Solana{Key: p.sol.Payers()[0], RPC: p.sol.URL(), FundSellerAccount: true},
		Policy: buyer.Policy{Budgets: []buyer.Budget{
			{Token: p.evm.Token().Hex(), MaxPerRequest: big.NewInt(50_000), MaxTotal: big.NewInt(200_000)},
			{Token: p.solUSDC().Address, MaxPerRequest: big.NewInt(50_000), MaxTotal: big.NewInt(200_000)},
		}},
		OnPayment: func(pay *buyer.Payment) { hookMu.Lock(); hooked = append(hooked, pay); hookMu.Unlock() },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	client := tr.Client()

	// pay GETs url, checks the content was served and returns the payment.
	pay := func(t *testing.T, url, want string) *buyer.Payment {
		t.Helper()
		resp, err := client.Get(url)
		if err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		payment := buyer.PaymentOf(resp)
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), want) {
			t.Fatalf("GET %s: got %d %s (payment %+v), want 200 with %q", url, resp.StatusCode, body, payment, want)
		}
		if payment == nil || payment.Err != nil || payment.Settlement == nil || !payment.Settlement.Success {
			t.Fatalf("payment: got %+v, want a successful settlement", payment)
		}
		return payment
	}
	finalized := func(t *testing.T, id string) status {
		t.Helper()
		return p.waitStates(t, []string{id}, 90*time.Second, nil, events.StateFinalized)[id]
	}

	const amount = 20_000
	t.Run("h402 EVM", func(t *testing.T) {
		seller := freshAddress()
		req := p.evmReq(seller, big.NewInt(amount))
		srv := h402Seller(t, p, req)
		got := pay(t, srv+"/report", "report")
		if got.Offer.Dialect != buyer.DialectH402 || got.Amount.Int64() != amount || got.Payer != common.HexToAddress(got.Payer).Hex() {
			t.Errorf("payment: got %+v", got)
		}
		if got.Settlement.PaymentID != tap.lastID(t, p) {
			t.Errorf("X-PAYMENT-RESPONSE paymentId %q, want the payment's replay key %q", got.Settlement.PaymentID, tap.lastID(t, p))
		}
		st := finalized(t, got.Settlement.PaymentID)
		log := p.landsOnceEVM(t, seller, big.NewInt(amount))
		if !strings.EqualFold(log.TxHash.Hex(), st.TxHash) {
			t.Errorf("paid by tx %s, ingest reports %s", log.TxHash.Hex(), st.TxHash)
		}
	})
	t.Run("x402 v1 EVM", func(t *testing.T) {
		seller := freshAddress()
		tok := p.usdc()
		srv := x402V1Seller(t, p, h402.X402V1Requirements{
			Scheme: "exact", Network: "base-sepolia", MaxAmountRequired: h402.NewDecimal(big.NewInt(amount)),
			Resource: "https://seller.example/report", Description: "a report", MimeType: "text/plain",
			PayTo: seller.Hex(), MaxTimeoutSeconds: 120, Asset: p.evm.Token().Hex(),
			Extra: json.RawMessage(`{"name":"` + tok.EIP712Name + `","version":"` + tok.EIP712Version + `"}`),
		})
		got := pay(t, srv+"/report", "report")
		if got.Offer.Dialect != buyer.DialectX402V1 || got.Settlement.Network != "base-sepolia" {
			t.Errorf("payment: got dialect %s, settlement %+v", got.Offer.Dialect, got.Settlement)
		}
		id := tap.lastID(t, p)
		st := finalized(t, id)
		log := p.landsOnceEVM(t, seller, big.NewInt(amount))
		if !strings.EqualFold(log.TxHash.Hex(), st.TxHash) {
			t.Errorf("paid by tx %s, ingest reports %s", log.TxHash.Hex(), st.TxHash)
		}
	})
	for _, feePayer := range []bool{false, true} {
		name := "h402 Solana client pays the fee"
		if feePayer {
			name = "h402 Solana facilitator fee payer"
		}
		t.Run(name, func(t *testing.T) {
			seller := solanago.NewWallet().PublicKey()
			srv := h402Seller(t, p, p.solReq(seller, amount, feePayer))
			got := pay(t, srv+"/report", "report")
			if got.Payer != p.sol.Payers()[0].PublicKey().String() {
				t.Errorf("payer: got %s", got.Payer)
			}
			id := tap.lastID(t, p)
			if got.Settlement.PaymentID != id {
				t.Errorf("X-PAYMENT-RESPONSE paymentId %q, want the payment's replay key %q", got.Settlement.PaymentID, id)
			}
			st := finalized(t, id)
			p.landsOnceSolana(t, seller, 0, amount, st.TxHash)
		})
	}

	t.Run("x402 v2 @x402/express seller", func(t *testing.T) {
		evmSeller := freshAddress()
		solSeller := solanago.NewWallet().PublicKey()
		tok := p.usdc()
		url := startExpressSeller(t, map[string]any{
			"facilitatorUrl": p.url,
			"routes": []map[string]any{
				{"path": "/evm/report", "network": "eip155:84532", "asset": p.evm.Token().Hex(), "amount": "20000",
					"payTo": evmSeller.Hex(), "extra": map[string]string{"name": tok.EIP712Name, "version": tok.EIP712Version}},
				{"path": "/solana/report", "network": h402.CAIP2SolanaDevnet, "asset": p.solUSDC().Address, "amount": "20000",
					"payTo": solSeller.String()},
			},
		})
		t.Run("EVM route", func(t *testing.T) {
			got := pay(t, url+"/evm/report", `"paid":true`)
			if got.Offer.Dialect != buyer.DialectX402V2 || got.Offer.Network != "eip155:84532" {
				t.Errorf("payment: got dialect %s network %s, want x402v2 eip155:84532", got.Offer.Dialect, got.Offer.Network)
			}
			id := tap.lastID(t, p)
			finalized(t, id)
			p.landsOnceEVM(t, evmSeller, big.NewInt(amount))
		})
		t.Run("EVM route refuses a payer without funds", func(t *testing.T) {
			poor, err := buyer.New(buyer.Config{
				Base: http.DefaultTransport, EVM: &buyer.EVM{Key: newEVMKey(t), RPC: p.evm.URL()},
				Policy: buyer.Policy{Budgets: []buyer.Budget{{Token: p.evm.Token().Hex(), MaxPerRequest: big.NewInt(50_000)}}},
			})
			if err != nil {
				t.Fatal(err)
			}
			defer poor.Close()
			resp, err := poor.Client().Get(url + "/evm/report")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			got := buyer.PaymentOf(resp)
			var refused *buyer.RefusedError
			if resp.StatusCode != http.StatusPaymentRequired || got == nil || !errors.As(got.Err, &refused) {
				t.Fatalf("got %d, payment %+v; want the second 402 handed back with a RefusedError", resp.StatusCode, got)
			}
			if refused.SellerReason != "insufficient_funds" {
				t.Errorf("refusal: got %v, want the seller's reason insufficient_funds", refused)
			}
			if b := p.tokenBalance(t, evmSeller); b.Int64() != amount {
				t.Errorf("seller balance after the refused payment: got %s, want still %d", b, amount)
			}
		})
		t.Run("Solana route", func(t *testing.T) {
			got := pay(t, url+"/solana/report", `"paid":true`)
			if got.Offer.Network != h402.CAIP2SolanaDevnet {
				t.Errorf("payment network: got %s", got.Offer.Network)
			}
			id := tap.lastID(t, p)
			st := finalized(t, id)
			p.landsOnceSolana(t, solSeller, 0, amount, st.TxHash)
		})
	})

	// Our buyer pays our seller middleware (x402 v2 from its
	// PAYMENT-REQUIRED header), which waits for the payment to be
	// submitted before it serves: EVM, and Solana with the facilitator's
	// fee payer found by Discover.
	t.Run("pkg/seller middleware", func(t *testing.T) {
		evmSeller := freshAddress()
		s := p.startShop(t, evmSeller, seller.ModeSubmitted)
		got := pay(t, s.srv.URL+"/reports/go", `"report":"/reports/go"`)
		id := tap.lastID(t, p)
		if got.Offer.Dialect != buyer.DialectX402V2 || got.Settlement.PaymentID != id || got.Amount.Cmp(sellerPrice) != 0 {
			t.Errorf("payment: got dialect %s, settlement %+v, amount %s; want x402v2, payment %s of %s", got.Offer.Dialect, got.Settlement, got.Amount, id, sellerPrice)
		}
		if paid := <-s.paid; paid.ID != id || !strings.EqualFold(paid.Payer, got.Payer) {
			t.Errorf("the seller saw payment %+v, the buyer paid %s as %s", paid, id, got.Payer)
		}
		if st, ok := p.paymentStatus(t, id); !ok || st.TxHash == "" {
			t.Errorf("served before the payment was submitted: %+v", st)
		}
		st := finalized(t, id)
		log := p.landsOnceEVM(t, evmSeller, sellerPrice)
		if !strings.EqualFold(log.TxHash.Hex(), st.TxHash) {
			t.Errorf("paid by tx %s, ingest reports %s", log.TxHash.Hex(), st.TxHash)
		}

		solSeller := p.sol.Seller()
		before := p.splBalance(t, solSeller)
		tok := p.solUSDC()
		cfg := seller.Config{FacilitatorURL: p.url, Routes: []seller.Route{{Offers: []seller.Offer{{
			Namespace: h402.NamespaceSolana, NetworkID: p.solNetwork().NetworkID, CAIP2: h402.CAIP2SolanaDevnet,
			Token: seller.Token{Address: tok.Address, Decimals: tok.Decimals, Symbol: tok.Symbol},
			PayTo: solSeller.String(), Amount: sellerPrice.String(),
		}}}}}
		if err := seller.Discover(context.Background(), &cfg); err != nil {
			t.Fatal(err)
		}
		ss := p.startShopWith(t, cfg.Routes[0].Offers[0], seller.ModeSubmitted)
		pay(t, ss.srv.URL+"/reports/sol", `"report":"/reports/sol"`)
		id = tap.lastID(t, p)
		st = finalized(t, id)
		p.landsOnceSolana(t, solSeller, before, sellerPrice.Uint64(), st.TxHash)
	})

	hookMu.Lock()
	defer hookMu.Unlock()
	if len(hooked) != 8 {
		t.Errorf("OnPayment: got %d calls, want 8", len(hooked))
	}
	spent := tr.Spent()
	if got := spent[strings.ToLower(p.evm.Token().Hex())]; got == nil || got.Int64() != 3*amount+sellerPrice.Int64() {
		t.Errorf("EVM spent: got %v, want %d", got, 3*amount+sellerPrice.Int64())
	}
	if got := spent[p.solUSDC().Address]; got == nil || got.Int64() != 3*amount+sellerPrice.Int64() {
		t.Errorf("Solana spent: got %v, want %d", got, 3*amount+sellerPrice.Int64())
	}
}

// h402Seller is a minimal seller: it answers 402 with req (h402), and a
// request carrying X-PAYMENT is settled through ingest's POST /settle and
// served with the settle answer in X-PAYMENT-RESPONSE.
func h402Seller(t *testing.T, p *pipeline, req h402.PaymentRequirements) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		header := r.Header.Get(h402.HeaderPayment)
		if header == "" {
			w.WriteHeader(http.StatusPaymentRequired)
			json.NewEncoder(w).Encode(h402.PaymentRequired{H402Version: 1, Error: "X-PAYMENT header is required", Accepts: []h402.PaymentRequirements{req}})
			return
		}
		body, _ := json.Marshal(h402.RequestBody{Payload: header, PaymentRequirements: req})
		a := p.postQuiet(body)
		if a.Status != http.StatusOK || a.Body["success"] != true {
			w.WriteHeader(http.StatusPaymentRequired)
			json.NewEncoder(w).Encode(map[string]any{"h402Version": 1, "error": a.str("errorReason"), "accepts": []h402.PaymentRequirements{req}})
			return
		}
		w.Header().Set(h402.HeaderPaymentResponse, h402.EncodeBase64(a.Raw))
		w.Write([]byte("the report"))
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// x402V1Seller is h402Seller in x402 v1: a 402 body {x402Version: 1,
// accepts}, and the X-PAYMENT settled through ingest in the x402 v1 body.
func x402V1Seller(t *testing.T, p *pipeline, req h402.X402V1Requirements) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		header := r.Header.Get(h402.HeaderPayment)
		refuse := func(reason string) {
			w.WriteHeader(http.StatusPaymentRequired)
			json.NewEncoder(w).Encode(map[string]any{"x402Version": 1, "error": reason, "accepts": []h402.X402V1Requirements{req}})
		}
		if header == "" {
			refuse("X-PAYMENT header is required")
			return
		}
		payload, err := h402.DecodeBase64(header)
		if err != nil {
			refuse("invalid_payload")
			return
		}
		body, _ := json.Marshal(map[string]any{"x402Version": 1, "paymentPayload": json.RawMessage(payload), "paymentRequirements": req})
		a := p.postQuiet(body)
		if a.Status != http.StatusOK || a.Body["success"] != true {
			refuse(a.str("errorReason"))
			return
		}
		w.Header().Set(h402.HeaderPaymentResponse, h402.EncodeBase64(a.Raw))
		w.Write([]byte("the report"))
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// startExpressSeller runs x402js/express-seller.mjs with cfg and returns its URL.
func startExpressSeller(t *testing.T, cfg map[string]any) string {
	t.Helper()
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s := startProc(t, "express-seller", "node", []string{"H402_SELLER_CONFIG=" + string(b)}, filepath.Join(x402jsDir, "express-seller.mjs"))
	m := s.waitLog(t, "seller listening", 60*time.Second)
	url, _ := m["url"].(string)
	if url == "" {
		t.Fatalf("express seller logged no url: %v", m)
	}
	return url
}

// paymentTap records the payment headers the buyer sends, so the test
// knows each payment's id (its replay key) whatever the seller answers.
type paymentTap struct {
	base http.RoundTripper
	mu   sync.Mutex
	sent []string // X-PAYMENT or PAYMENT-SIGNATURE values
}

func (p *paymentTap) RoundTrip(r *http.Request) (*http.Response, error) {
	for _, h := range []string{h402.HeaderPayment, h402.HeaderPaymentSig} {
		if v := r.Header.Get(h); v != "" {
			p.mu.Lock()
			p.sent = append(p.sent, v)
			p.mu.Unlock()
		}
	}
	return p.base.RoundTrip(r)
}

// lastID is the replay key of the last payment sent, in any dialect.
func (p *paymentTap) lastID(t *testing.T, pl *pipeline) string {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.sent) == 0 {
		t.Fatal("no payment was sent")
	}
	b, err := h402.DecodeBase64(p.sent[len(p.sent)-1])
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Payload struct {
			Transaction   string `json:"transaction"`
			Authorization *struct {
				From  string `json:"from"`
				Nonce string `json:"nonce"`
			} `json:"authorization"`
		} `json:"payload"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("payment header: %v: %s", err, b)
	}
	switch {
	case m.Payload.Authorization != nil:
		return evm.AuthorizationKey(pl.evm.ChainID(), pl.evm.Token(), common.HexToAddress(m.Payload.Authorization.From), common.HexToHash(m.Payload.Authorization.Nonce))
	case m.Payload.Transaction != "":
		return solanaMessageKey(t, m.Payload.Transaction)
	}
	t.Fatalf("payment header holds neither an authorization nor a transaction: %s", b)
	return ""
}

// newEVMKey is a fresh EVM key that holds nothing.
func newEVMKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}
