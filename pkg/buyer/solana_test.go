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

// TestSolanaOfferOnAnotherCluster: a Solana transaction is bound to no
// cluster but by its recent blockhash, which the buyer reads from its RPC.
// A seller labelling its offer with another cluster than the RPC's (here
// devnet or mainnet, the buyer's RPC being the localnet) would be sent a
// transaction valid on the RPC's cluster, counted under a budget pinned to
// the label's network (Budget.Network): with budgets per network, a
// play-money devnet budget paying real mainnet funds. The offer is refused
// before anything is signed.
func TestSolanaOfferOnAnotherCluster(t *testing.T) {
	ln := testenv.StartSolana(t, soldev.Config{})
	mint := ln.Manifest.Mints.USDC.Address.String()
	budget := func(network string) Budget {
		return Budget{Token: mint, Network: network, MaxPerRequest: big.NewInt(10_000), MaxTotal: big.NewInt(1_000_000)}
	}
	for _, tc := range []struct {
		network string // the seller's label
		budgets []Budget
		pays    bool
	}{
		{"devnet", []Budget{budget("solana:devnet")}, false},
		{"mainnet", []Budget{budget("")}, false},
		{"localnet", []Budget{budget("solana:localnet")}, true},
	} {
		t.Run(tc.network, func(t *testing.T) {
			tr, err := New(Config{Solana: &Solana{Key: ln.Payers()[0], RPC: ln.URL()}, Policy: Policy{Budgets: tc.budgets}})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(tr.Close)
			s := &solanaSeller{mint: mint, payTo: ln.Seller().String(), network: tc.network}
			srv := httptest.NewServer(s)
			t.Cleanup(srv.Close)
			resp, err := tr.Client().Get(srv.URL + "/report")
			if tc.pays {
				if err != nil || resp.StatusCode != http.StatusOK || len(s.headers) != 1 {
					t.Fatalf("got %v with %d payments, want paid once", err, len(s.headers))
				}
				resp.Body.Close()
				return
			}
			var se *SignError
			if !errors.As(err, &se) || len(s.headers) != 0 {
				t.Fatalf("got err %v with %d payments sent, want a SignError and none sent", err, len(s.headers))
			}
			if got := tr.Spent()[mint]; got != nil && got.Sign() != 0 {
				t.Errorf("spent %s after the refusal, want 0", got)
			}
		})
	}
}
