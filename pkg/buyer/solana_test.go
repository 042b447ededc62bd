package buyer

import (
	"encoding/json"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	solanago "github.com/gagliardetto/solana-go"

	"github.com/h402/settlement/pkg/h402"
	"github.com/h402/settlement/pkg/soldev"
	"github.com/h402/settlement/pkg/testenv"
)

// solanaSeller answers an h402 402 asking amount of mint paid to payTo on
// the localnet, and keeps the payment headers it receives.
type solanaSeller struct {
	mint, payTo string
	network     string // h402 networkId; "" means localnet
	mu          sync.Mutex
	headers     []string
}

func (s *solanaSeller) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if v := r.Header.Get(h402.HeaderPayment); v != "" {
		s.mu.Lock()
		s.headers = append(s.headers, v)
		s.mu.Unlock()
		_, _ = w.Write([]byte("report"))
		return
	}
	d := h402.NewDecimal(big.NewInt(10_000))
	network := s.network
	if network == "" {
		network = "localnet"
	}
	req := h402.PaymentRequirements{
		Namespace: h402.NamespaceSolana, Scheme: h402.SchemeExact, NetworkID: network,
		TokenAddress: s.mint, PayToAddress: s.payTo, AmountRequired: &d, AmountRequiredFormat: h402.FormatSmallestUnit,
		Resource: "http://" + r.Host + r.URL.Path,
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusPaymentRequired)
	_ = json.NewEncoder(w).Encode(map[string]any{"h402Version": 1, "accepts": []any{req}})
}

// createsATA reports whether the payment header's transaction creates an
// associated token account.
func createsATA(t *testing.T, header string) bool {
	t.Helper()
	p, err := h402.DecodePaymentHeader(header)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := solanago.TransactionFromBase64(p.Payload.(*h402.SolanaSignTransactionPayload).Transaction)
	if err != nil {
		t.Fatal(err)
	}
	for _, ix := range tx.Message.Instructions {
		if tx.Message.AccountKeys[ix.ProgramIDIndex] == solanago.SPLAssociatedTokenAccountProgramID {
			return true
		}
	}
	return false
}

// TestSellerTokenAccountRent: a seller naming a fresh payTo (no token
// account) must not make the buyer fund the account's rent (about 0.002
// SOL, which the seller takes back by closing it) outside every budget,
// unless the buyer opted in; and a payTo whose account exists needs no
// creation at all.
func TestSellerTokenAccountRent(t *testing.T) {
	ln := testenv.StartSolana(t, soldev.Config{})
	mint := ln.Manifest.Mints.USDC.Address.String()
	budget := Policy{Budgets: []Budget{{Token: mint, MaxPerRequest: big.NewInt(10_000)}}}
	newTr := func(fund bool) *Transport {
		tr, err := New(Config{Solana: &Solana{Key: ln.Payers()[0], RPC: ln.URL(), FundSellerAccount: fund}, Policy: budget})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(tr.Close)
		return tr
	}
	serve := func(payTo string) (*solanaSeller, string) {
		s := &solanaSeller{mint: mint, payTo: payTo}
		srv := httptest.NewServer(s)
		t.Cleanup(srv.Close)
		return s, srv.URL + "/report"
	}

	t.Run("fresh payTo refused by default", func(t *testing.T) {
		s, url := serve(solanago.NewWallet().PublicKey().String())
		_, err := newTr(false).Client().Get(url)
		var se *SignError
		if !errors.As(err, &se) || len(s.headers) != 0 {
			t.Fatalf("got err %v with %d payments sent, want a SignError and none sent", err, len(s.headers))
		}
	})
	t.Run("fresh payTo funded on opt-in", func(t *testing.T) {
		s, url := serve(solanago.NewWallet().PublicKey().String())
		resp, body := get(t, newTr(true).Client(), url)
		if resp.StatusCode != http.StatusOK || body != "report" || len(s.headers) != 1 || !createsATA(t, s.headers[0]) {
			t.Fatalf("got %d %q with %d payments, want 200 and one payment creating the account", resp.StatusCode, body, len(s.headers))
		}
	})
	t.Run("existing account not created again", func(t *testing.T) {
		s, url := serve(ln.Seller().String())
		resp, body := get(t, newTr(false).Client(), url)
		if resp.StatusCode != http.StatusOK || body != "report" || len(s.headers) != 1 || createsATA(t, s.headers[0]) {
			t.Fatalf("got %d %q with %d payments, want 200 and one payment creating no account", resp.StatusCode, body, len(s.headers))
		}
	})
}

// mainnetRPC answers getGenesisHash with mainnet's, and every other call
// with an error: a real mainnet RPC is no test dependency, and the buyer
// must refuse before asking anything else.
func mainnetRPC(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			ID     json.RawMessage `json:"id"`
			Method string          `json:"method"`
		}
		_ = json.NewDecoder(r.Body).Decode(&req)
		resp := map[string]any{"jsonrpc": "2.0", "id": req.ID}
		if req.Method == "getGenesisHash" {
			resp["result"] = "5eykt4UsFv8P8NJdTREpY1vzqKqZKvdpKuqCCCxqMpQ"
		} else {
			t.Errorf("the buyer called %s on the mainnet RPC for an offer it must refuse", req.Method)
			resp["error"] = map[string]any{"code": -32601, "message": "not in this test"}
		}
		_ = json.NewEncoder(w).Encode(resp)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestSolanaOfferOnAnotherCluster: a Solana transaction is bound to no
// cluster but by its recent blockhash, which the buyer reads from its RPC.
// A seller labelling its offer with a test cluster while the buyer's RPC is
// mainnet's would be sent a transaction paying real funds, counted under a
// budget pinned to the label's network (Budget.Network): a play-money
// devnet budget spending on mainnet. Mainnet offers are paid through a
// mainnet RPC only, and a mainnet RPC pays mainnet offers only. Test
// clusters are not told apart: the localnet may be served under devnet's
// id (e2e does, for @x402/svm).
func TestSolanaOfferOnAnotherCluster(t *testing.T) {
	refused := func(t *testing.T, tr *Transport, s *solanaSeller) {
		t.Helper()
		srv := httptest.NewServer(s)
		t.Cleanup(srv.Close)
		_, err := tr.Client().Get(srv.URL + "/report")
		var se *SignError
		if !errors.As(err, &se) || len(s.headers) != 0 {
			t.Fatalf("got err %v with %d payments sent, want a SignError and none sent", err, len(s.headers))
		}
		if got := tr.Spent()[s.mint]; got != nil && got.Sign() != 0 {
			t.Errorf("spent %s after the refusal, want 0", got)
		}
	}
	t.Run("devnet offer, mainnet RPC", func(t *testing.T) {
		mint, payTo := solanago.NewWallet().PublicKey().String(), solanago.NewWallet().PublicKey().String()
		tr, err := New(Config{Solana: &Solana{Key: solanago.NewWallet().PrivateKey, RPC: mainnetRPC(t)}, Policy: Policy{Budgets: []Budget{
			{Token: mint, Network: "solana:mainnet", MaxPerRequest: big.NewInt(1), MaxTotal: big.NewInt(1)},
			{Token: mint, Network: "solana:devnet", MaxPerRequest: big.NewInt(1_000_000), MaxTotal: big.NewInt(1_000_000_000)},
		}}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(tr.Close)
		refused(t, tr, &solanaSeller{mint: mint, payTo: payTo, network: "devnet"})
	})

	ln := testenv.StartSolana(t, soldev.Config{})
	mint := ln.Manifest.Mints.USDC.Address.String()
	newTr := func(t *testing.T) *Transport {
		tr, err := New(Config{Solana: &Solana{Key: ln.Payers()[0], RPC: ln.URL()}, Policy: Policy{Budgets: []Budget{{Token: mint, MaxPerRequest: big.NewInt(10_000)}}}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(tr.Close)
		return tr
	}
	t.Run("mainnet offer, localnet RPC", func(t *testing.T) {
		refused(t, newTr(t), &solanaSeller{mint: mint, payTo: ln.Seller().String(), network: "mainnet"})
	})
	for _, label := range []string{"localnet", "devnet"} {
		t.Run(label+" offer, localnet RPC", func(t *testing.T) {
			s := &solanaSeller{mint: mint, payTo: ln.Seller().String(), network: label}
			srv := httptest.NewServer(s)
			t.Cleanup(srv.Close)
			resp, body := get(t, newTr(t).Client(), srv.URL+"/report")
			if resp.StatusCode != http.StatusOK || body != "report" || len(s.headers) != 1 {
				t.Fatalf("got %d %q with %d payments, want paid once", resp.StatusCode, body, len(s.headers))
			}
		})
	}
}
