package evm_test

import (
	"crypto/ecdsa"
	"fmt"
	"math/big"
	"os"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/h402/settlement/pkg/chains/evm"
	"github.com/h402/settlement/pkg/events"
	"github.com/h402/settlement/pkg/evmdev"
)

// TestGasPerPayment prints gas per payment at batch sizes 1/10/50/100 on
// the dev chain (mainnet-like Osaka rules), each payment from a payer of its
// own to one seller who already holds USDC. A batch of one is the token
// call itself, as a one-transaction-per-payment facilitator sends it.
// Run with H402_GAS_TABLE=1.
func TestGasPerPayment(t *testing.T) {
	if os.Getenv("H402_GAS_TABLE") != "1" {
		t.Skip("set H402_GAS_TABLE=1 to print the gas table")
	}
	sizes := []int{1, 10, 50, 100}
	b := newBench(t, 1)
	s := b.submitter(t, b.pool(t), 0, evm.SubmitterOptions{})
	claims := newClaims(t)
	total := 1
	for _, n := range sizes {
		total += n
	}
	payers := fundPayers(t, b, total)

	// Warm-up: the seller's balance slot exists, as for any seller after its first sale.
	wantSubmitted(t, submit(t, s, []*events.PaymentAccepted{b.authorization(t, payers[0], 1, evm.AuthorizationOptions{})}, claims))
	b.chain.Commit()
	payers = payers[1:]

	var table strings.Builder
	fmt.Fprintf(&table, "\n| batch size | gas used | gas per payment | vs one tx per payment |\n|---:|---:|---:|---:|\n")
	var single uint64
	for _, n := range sizes {
		var batch []*events.PaymentAccepted
		for _, p := range payers[:n] {
			batch = append(batch, b.authorization(t, p, 10_000, evm.AuthorizationOptions{}))
		}
		payers = payers[n:]
		hashes := wantSubmitted(t, submit(t, s, batch, claims))
		if len(hashes) != 1 {
			t.Fatalf("batch of %d: got %d txs, want 1", n, len(hashes))
		}
		b.chain.Commit()
		r := b.receipt(t, hashes[0])
		if r == nil || r.Status != types.ReceiptStatusSuccessful || b.authorizationsUsed(r) != n {
			t.Fatalf("batch of %d: receipt %v, want success paying all", n, r)
		}
		per := r.GasUsed / uint64(n)
		if n == 1 {
			single = per
		}
		fmt.Fprintf(&table, "| %d | %d | %d | %.3f× |\n", n, r.GasUsed, per, float64(per)/float64(single))
	}
	t.Log(table.String())
	fmt.Print(table.String())
}

// fundPayers mints test USDC to n new payer keys (no ether: authorizations
// cost the payer nothing), a few mints per block.
func fundPayers(t *testing.T, b *bench, n int) []*ecdsa.PrivateKey {
	t.Helper()
	c := b.chain.Client()
	deployer := b.chain.Deployer()
	from := crypto.PubkeyToAddress(deployer.PublicKey)
	signer := types.LatestSignerForChainID(b.chain.ChainID())
	token := b.chain.Token()
	keys := make([]*ecdsa.PrivateKey, n)
	var last *types.Transaction
	for i := range keys {
		keys[i] = mustGenKey(t)
		nonce, err := c.PendingNonceAt(t.Context(), from)
		if err != nil {
			t.Fatalf("deployer nonce: %v", err)
		}
		last, err = types.SignNewTx(deployer, signer, &types.DynamicFeeTx{
			ChainID: b.chain.ChainID(), Nonce: nonce, GasTipCap: evmdev.MinTip, GasFeeCap: big.NewInt(100_000_000_000),
			Gas: 120_000, To: &token, Data: b.usdc.PackMint(crypto.PubkeyToAddress(keys[i].PublicKey), big.NewInt(1_000_000_000)),
		})
		if err != nil {
			t.Fatalf("sign mint: %v", err)
		}
		if err := c.SendTransaction(t.Context(), last); err != nil {
			t.Fatalf("send mint: %v", err)
		}
		if i%10 == 9 || i == n-1 {
			b.chain.Commit()
			if r := b.receipt(t, last.Hash().Hex()); r == nil || r.Status != types.ReceiptStatusSuccessful {
				t.Fatalf("mint %d: receipt %v", i, r)
			}
		}
	}
	return keys
}
