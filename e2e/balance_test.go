package e2e

import (
	"context"
	"crypto/ecdsa"
	"math/big"
	"net/http"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/h402/settlement/pkg/chains/evm"
	"github.com/h402/settlement/pkg/contracts"
	"github.com/h402/settlement/pkg/events"
	"github.com/h402/settlement/pkg/h402"
)

// fundUSDC sends amount of the test USDC from a dev payer to a fresh key
// and waits until the transfer is mined.
func (p *pipeline) fundUSDC(t *testing.T, from *ecdsa.PrivateKey, to common.Address, amount *big.Int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	token := p.evm.Token()
	tx := types.NewTx(&types.DynamicFeeTx{
		ChainID: p.evm.ChainID(), Nonce: p.pendingNonce(t, from), To: &token, Gas: 100_000,
		Data:      contracts.NewTestUSDC().PackTransfer(to, amount),
		GasTipCap: big.NewInt(2_000_000_000), GasFeeCap: big.NewInt(100_000_000_000),
	})
	signed, err := types.SignTx(tx, types.LatestSignerForChainID(p.evm.ChainID()), from)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.evm.Client().SendTransaction(ctx, signed); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "funding mined", func() (bool, string) {
		return p.tokenBalance(t, to).Cmp(amount) == 0, "balance " + p.tokenBalance(t, to).String()
	})
}

// TestPayerSpendsWholeBalanceInRounds: a payer whose balance covers four
// payments pays in rounds, each finalized (and its exposure released)
// before the next (ingest's settleWait: finalized answers only then): all four are accepted and paid, and the fifth is refused
// insufficient_funds. Before the watcher, a settled amount counted twice
// (once on chain, once as exposure), and the third round was refused.
func TestPayerSpendsWholeBalanceInRounds(t *testing.T) {
	// /settle answers once the watcher (its own process) stored `finalized`.
	p := startPipelineWith(t, pipelineOptions{blockPeriod: time.Second, settleWait: "finalized"})
	p.startSettler(t)
	p.startWatcher(t, "watcher", t.TempDir()+"/ledger.db")
	key, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	payer := crypto.PubkeyToAddress(key.PublicKey)
	price := big.NewInt(1_000_000) // 1 USDC
	p.fundUSDC(t, p.evm.Payers()[7], payer, new(big.Int).Mul(price, big.NewInt(4)))
	seller := freshAddress()

	pay := func() answer {
		req := p.evmReq(seller, price)
		_, header, err := evm.SignAuthorization(&req, key, p.usdc(), time.Now(), evm.AuthorizationOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return p.post(t, "/settle", h402Body(t, header, req))
	}
	for round := 1; round <= 4; round++ {
		a := pay()
		if a.Status != http.StatusOK || a.Body["success"] != true {
			t.Fatalf("round %d refused: %s", round, a)
		}
		if a.str("state") != string(events.StateFinalized) || a.str("finalizedAt") == "" || a.str("transaction") == "" {
			t.Fatalf("round %d: /settle with settleWait finalized answered %s, want the finalized payment with its tx and time", round, a)
		}
	}
	if got := p.tokenBalance(t, seller); got.Cmp(new(big.Int).Mul(price, big.NewInt(4))) != 0 {
		t.Fatalf("seller holds %s after four rounds, want 4 USDC", got)
	}
	a := pay()
	if a.Status == http.StatusOK && a.Body["success"] == true {
		t.Fatalf("a fifth payment with an empty balance was accepted: %s", a)
	}
	if got := a.str("errorReason"); got != string(h402.ReasonInsufficientFunds) {
		t.Errorf("fifth payment refused with %s, want %s", a, h402.ReasonInsufficientFunds)
	}
}
