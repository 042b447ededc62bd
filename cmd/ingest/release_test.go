package main

import (
	"context"
	"crypto/ecdsa"
	"math/big"
	"strconv"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/crypto"
	solanago "github.com/gagliardetto/solana-go"

	"github.com/h402/settlement/pkg/chains/solana"
	"github.com/h402/settlement/pkg/config"
	"github.com/h402/settlement/pkg/contracts"
	"github.com/h402/settlement/pkg/events"
	"github.com/h402/settlement/pkg/exposure"
	"github.com/h402/settlement/pkg/h402"
	"github.com/h402/settlement/pkg/settler/settlertest"
)

// staleCache starts an ingest replica whose cached balances never expire
// and are never refreshed on new heads within a test: a payer's balance
// stays the one loaded by its first payment unless something forces a load.
func (h *harness) staleCache(name string) (*Main, string) {
	h.t.Helper()
	return h.ingest(name, func(c *config.Config) {
		c.Ingest.StateCacheTTL = config.Duration(time.Hour)
		nets := append([]config.Network(nil), c.Networks...)
		for i := range nets {
			nets[i].Finality.PollInterval = config.Duration(time.Hour)
		}
		c.Networks = nets
	})
}

// paid is a payment ingest accepted.
type paid struct {
	id      string
	payload *h402.PaymentPayload
}

// payRound pays n payments of amount from key through /settle; each must be
// accepted.
func (h *harness) payRound(url string, key *ecdsa.PrivateKey, n int, amount string) []paid {
	h.t.Helper()
	var out []paid
	for i := range n {
		req := h.evmReq(h.evm.Token().Hex(), amount)
		header := h.authorize(req, key)
		s := post(h.t, url+"/settle", body(header, req))
		if s.Status != 200 || s.Body["success"] != true || s.str("state") != "accepted" {
			h.t.Fatalf("payment %d of the round: %d %v; want accepted", i, s.Status, s.Body)
		}
		p, err := h402.DecodePaymentHeader(header)
		if err != nil {
			h.t.Fatal(err)
		}
		out = append(out, paid{s.str("paymentId"), p})
	}
	return out
}

// settleAndRelease lands each payment on chain (as a settler would) and
// then releases its exposure by calling exposure.Book.Release directly, as
// the settler's Releaser does on the payment's `finalized` transition.
func (h *harness) settleAndRelease(book *exposure.Book, pays []paid) {
	h.t.Helper()
	for _, p := range pays {
		h.land(p.payload)
		if ok, err := book.Reserved(context.Background(), p.id); err != nil || !ok {
			h.t.Fatalf("payment %s holds no reservation to release (%v)", p.id, err)
		}
		if err := book.Release(context.Background(), p.id); err != nil {
			h.t.Fatalf("release %s: %v", p.id, err)
		}
	}
}

func (h *harness) book() *exposure.Book {
	h.t.Helper()
	_, js := h.js.Connect(h.t)
	kv, err := js.KeyValue(context.Background(), events.BucketExposure)
	if err != nil {
		h.t.Fatal(err)
	}
	return exposure.New(kv)
}

func (h *harness) tokenBalance(key *ecdsa.PrivateKey) *big.Int {
	h.t.Helper()
	token := h.evm.Token()
	out, err := h.evm.Client().CallContract(context.Background(), ethereum.CallMsg{To: &token, Data: contracts.NewTestUSDC().PackBalanceOf(crypto.PubkeyToAddress(key.PublicKey))}, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	return new(big.Int).SetBytes(out)
}

// reloads reads h402_ingest_balance_reloads_total of replica m.
func reloads(t *testing.T, m *Main) float64 {
	t.Helper()
	mfs, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "h402_ingest_balance_reloads_total" {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatal("no h402_ingest_balance_reloads_total series")
	return 0
}

// TestReleaseAfterSettlementRereadsBalance (DESIGN.md invariant 4): a
// payer's balance covers exactly three payments; ingest caches that balance
// on the first one. All three are settled on chain and their exposure
// released (Book.Release called directly, as the Releaser does on
// `finalized`), while ingest's cache still holds the pre-payment balance.
// Against that stale balance and the emptied exposure the fourth payment
// would fit; it must be refused insufficient_funds, because the release
// makes ingest read the balance again.
func TestReleaseAfterSettlementRereadsBalance(t *testing.T) {
	h := newHarness(t, false)
	m, url := h.staleCache("a")
	book := h.book()
	key := h.freshKey(30_000)

	pays := h.payRound(url, key, 3, "10000")
	h.settleAndRelease(book, pays)
	if got := h.tokenBalance(key); got.Sign() != 0 {
		t.Fatalf("payer's balance on chain after settlement = %s, want 0", got)
	}
	before := reloads(t, m)

	req := h.evmReq(h.evm.Token().Hex(), "10000")
	s := post(t, url+"/settle", body(h.authorize(req, key), req))
	if s.Status != 400 || s.str("errorReason") != string(h402.ReasonInsufficientFunds) {
		t.Fatalf("fourth payment after three settled and released: %d %v; want 400 insufficient_funds", s.Status, s.Body)
	}
	if got := reloads(t, m); got != before+1 {
		t.Errorf("balance reloads = %v, want %v: the refusal must come from a fresh balance, not the cached one", got, before+1)
	}
	v := post(t, url+"/verify", body(h.authorize(req, key), req))
	if v.Status != 400 || v.str("invalidReason") != string(h402.ReasonInsufficientFunds) {
		t.Errorf("/verify of a fourth payment: %d %v; want 400 insufficient_funds", v.Status, v.Body)
	}
	if p, err := book.Pending(context.Background(), exposure.Account{Namespace: h402.NamespaceEVM, NetworkID: "84532", Token: h.evm.Token().Hex(), Payer: crypto.PubkeyToAddress(key.PublicKey).Hex()}); err != nil || p.Sign() != 0 {
		t.Errorf("pending after the refusal = %v, %v; want 0", p, err)
	}
}

// TestSpendWholeBalanceInRounds: a payer pays in rounds, each round settled
// on chain and released before the next; every round is accepted until the
// balance is spent, and the next payment is refused insufficient_funds.
func TestSpendWholeBalanceInRounds(t *testing.T) {
	h := newHarness(t, false)
	m, url := h.staleCache("a")
	book := h.book()
	key := h.freshKey(60_000)
	for round := range 3 { // 2 × 10,000 a round
		pays := h.payRound(url, key, 2, "10000")
		h.settleAndRelease(book, pays)
		if got, want := h.tokenBalance(key), int64(60_000-20_000*(round+1)); got.Int64() != want {
			t.Fatalf("balance after round %d = %s, want %d", round, got, want)
		}
	}
	req := h.evmReq(h.evm.Token().Hex(), "1")
	s := post(t, url+"/settle", body(h.authorize(req, key), req))
	if s.Status != 400 || s.str("errorReason") != string(h402.ReasonInsufficientFunds) {
		t.Fatalf("payment after the balance is spent: %d %v; want 400 insufficient_funds", s.Status, s.Body)
	}
	if got := reloads(t, m); got < 3 {
		t.Errorf("balance reloads = %v, want at least 3 (one after each release)", got)
	}
}

// TestSolanaReleaseRereadsBalance: the Solana state checker's cached
// balance is read again after a release. A payer's SPL balance B is cached
// by its first payment (B/2), which is sent, finalized on the localnet and
// released (Book.Release called directly, as the Releaser does). A second
// payment takes the rest (R = B - B/2): accepted against the fresh balance.
// A third of 1 would fit the cached B on top of R pending, and its own
// simulation passes (R ≥ 1 on chain); it must be refused insufficient_funds.
func TestSolanaReleaseRereadsBalance(t *testing.T) {
	h := newHarness(t, true)
	m, url := h.staleCache("a")
	book := h.book()
	ctx := context.Background()
	spl := &h.cfg.Networks[1].Tokens[0]
	key := h.sol.Payers()[0]
	mint := solanago.MustPublicKeyFromBase58(spl.Address)
	source, err := solana.AssociatedTokenAddress(key.PublicKey(), mint, solanago.TokenProgramID)
	if err != nil {
		t.Fatal(err)
	}
	splBalance := func() uint64 {
		t.Helper()
		out, err := h.sol.RPC().GetTokenAccountBalance(ctx, source, "confirmed")
		if err != nil {
			t.Fatal(err)
		}
		v, _ := strconv.ParseUint(out.Value.Amount, 10, 64)
		return v
	}
	b := splBalance()
	if b < 4 {
		t.Fatalf("payer's SPL balance %d is too small for this test", b)
	}
	pay := func(amount uint64) (answer, string) {
		t.Helper()
		req := h.solReq(spl.Address, strconv.FormatUint(amount, 10), false)
		header, err := solana.PaymentHeader(&req, spl, key, h.blockhash(), solana.PayOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return post(t, url+"/settle", body(header, req)), header
	}
	first, header := pay(b / 2)
	if first.Status != 200 || first.Body["success"] != true {
		t.Fatalf("first payment: %d %v; want accepted", first.Status, first.Body)
	}
	p, err := h402.DecodePaymentHeader(header)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := solanago.TransactionFromBase64(p.Payload.(*h402.SolanaSignTransactionPayload).Transaction)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.sol.RPC().SendTransaction(ctx, tx); err != nil {
		t.Fatal(err)
	}
	if _, err := h.sol.AdvanceSlots(ctx, uint64(h.sol.Manifest.FinalityDepthSlots)+1); err != nil {
		t.Fatal(err)
	}
	rest := b - b/2
	if got := splBalance(); got != rest {
		t.Fatalf("balance after the first payment landed = %d, want %d", got, rest)
	}
	if err := book.Release(ctx, first.str("paymentId")); err != nil {
		t.Fatal(err)
	}
	before := reloads(t, m)
	if s, _ := pay(rest); s.Status != 200 || s.Body["success"] != true {
		t.Fatalf("second payment (the rest of the balance): %d %v; want accepted", s.Status, s.Body)
	}
	if got := reloads(t, m); got != before+1 {
		t.Errorf("balance reloads = %v, want %v", got, before+1)
	}
	if s, _ := pay(1); s.Status != 400 || s.str("errorReason") != string(h402.ReasonInsufficientFunds) {
		t.Fatalf("third payment over the fresh balance: %d %v; want 400 insufficient_funds", s.Status, s.Body)
	}
}

// TestReleaseDuringReloadIsReadAgain: a busy payer's payments are released
// one after another as a batch finalizes, so the balance load ingest makes
// after one release can begin just before the next. Here the second of two
// settled payments is landed and released while ingest reloads the
// balance after the first release (its balanceOf call goes through a
// proxy that runs the release first). The third payment must be decided
// on a balance read after both releases, not answered 503 (it was, after a
// single reload: the e2e volume test met it as "balance loaded before the
// last release"). The fourth, over the balance, is refused.
func TestReleaseDuringReloadIsReadAgain(t *testing.T) {
	h := newHarness(t, false)
	proxy := settlertest.NewRPCProxy(t, h.evm.URL())
	proxy.Up(t)
	m, url := h.ingest("a", func(c *config.Config) {
		c.Ingest.StateCacheTTL = config.Duration(time.Hour)
		nets := append([]config.Network(nil), c.Networks...)
		for i := range nets {
			nets[i].Finality.PollInterval = config.Duration(time.Hour)
			nets[i].RPC = []string{proxy.URL()}
		}
		c.Networks = nets
	})
	book := h.book()
	key := h.freshKey(30_000)
	pays := h.payRound(url, key, 2, "10000")
	h.settleAndRelease(book, pays[:1])
	h.land(pays[1].payload)
	before := reloads(t, m)

	// The third payment's calls: authorizationState, then (stale after the
	// first release) authorizationState and balanceOf again: the second
	// release lands just before that balanceOf, after its load began.
	proxy.Once("eth_call", func() {
		proxy.Once("eth_call", func() {
			proxy.Once("eth_call", func() {
				if err := book.Release(context.Background(), pays[1].id); err != nil {
					t.Error(err)
				}
			})
		})
	})
	req := h.evmReq(h.evm.Token().Hex(), "10000")
	s := post(t, url+"/settle", body(h.authorize(req, key), req))
	if s.Status != 200 || s.str("state") != "accepted" {
		t.Fatalf("third payment, 10,000 left after two settled and released: %d %v; want accepted", s.Status, s.Body)
	}
	if got := reloads(t, m); got < before+2 {
		t.Errorf("balance reloads = %v, want at least %v (a release during the first reload)", got, before+2)
	}
	s = post(t, url+"/settle", body(h.authorize(req, key), req))
	if s.Status != 400 || s.str("errorReason") != string(h402.ReasonInsufficientFunds) {
		t.Fatalf("fourth payment over the balance: %d %v; want 400 insufficient_funds", s.Status, s.Body)
	}
}
