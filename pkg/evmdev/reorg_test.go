package evmdev_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"

	"github.com/h402/settlement/pkg/evmdev"
)

// TestReorgRemovesMinedTransaction: a settled authorization is mined, two
// more blocks follow, then a reorg of depth 3 replaces those blocks with a
// longer branch. Over JSON-RPC the receipt and the transaction are gone, the
// payment is undone and its nonce is unused again.
func TestReorgRemovesMinedTransaction(t *testing.T) {
	ctx := context.Background()
	chain := startChain(t, evmdev.Config{})
	client := chain.Client()
	payer, facilitator := chain.Payers()[0], chain.Facilitators()[0]
	payTo := common.HexToAddress("0x5e11e7000000000000000000000000000000beef")

	auth := newAuth(t, chain, payer, payTo, 5_000)
	receipt := mine(t, chain, facilitator, chain.Token(), transferCall(auth, sign(t, chain, payer, auth)))
	if receipt.Status != types.ReceiptStatusSuccessful {
		t.Fatalf("settle: status %d", receipt.Status)
	}
	chain.Commit()
	chain.Commit()
	oldHead, err := client.HeaderByNumber(ctx, nil)
	if err != nil {
		t.Fatalf("head: %v", err)
	}

	res, err := chain.Reorg(ctx, evmdev.ReorgOptions{Depth: 3})
	if err != nil {
		t.Fatalf("Reorg: %v", err)
	}
	if !slices.Contains(res.Removed, receipt.TxHash) {
		t.Errorf("Removed: got %v, want it to hold %s", res.Removed, receipt.TxHash)
	}
	newHead, err := client.HeaderByNumber(ctx, nil)
	if err != nil {
		t.Fatalf("new head: %v", err)
	}
	if got, want := newHead.Number.Uint64(), oldHead.Number.Uint64()+1; got != want || res.NewHeadNumber != want {
		t.Errorf("new head number: got %d (result %d), want %d", got, res.NewHeadNumber, want)
	}
	if newHead.Hash() != res.NewHead || res.OldHead != oldHead.Hash() {
		t.Errorf("result heads: got old %s new %s, want old %s new %s", res.OldHead, res.NewHead, oldHead.Hash(), newHead.Hash())
	}
	if b, err := client.BlockByNumber(ctx, receipt.BlockNumber); err != nil || b.Hash() == receipt.BlockHash {
		t.Errorf("block %d: got hash %v (err %v), want a different block than %s", receipt.BlockNumber, b.Hash(), err, receipt.BlockHash)
	}
	if _, err := client.TransactionReceipt(ctx, receipt.TxHash); !errors.Is(err, ethereum.NotFound) {
		t.Errorf("receipt after reorg: got err %v, want not found", err)
	}
	if _, _, err := client.TransactionByHash(ctx, receipt.TxHash); !errors.Is(err, ethereum.NotFound) {
		t.Errorf("transaction after reorg: got err %v, want not found (neither mined nor pending)", err)
	}
	if authorizationUsed(t, chain, auth) {
		t.Errorf("authorizationState after reorg: got true, want false")
	}
	if got := balanceOf(t, chain, payTo); got.Sign() != 0 {
		t.Errorf("payTo balance after reorg: got %s, want 0", got)
	}
}

// TestReorgReinclude: with Reinclude the removed transaction is mined again,
// in another block of the new branch.
func TestReorgReinclude(t *testing.T) {
	ctx := context.Background()
	chain := startChain(t, evmdev.Config{})
	payer, facilitator := chain.Payers()[0], chain.Facilitators()[0]
	auth := newAuth(t, chain, payer, common.HexToAddress("0xbeef"), 5_000)
	receipt := mine(t, chain, facilitator, chain.Token(), transferCall(auth, sign(t, chain, payer, auth)))

	if _, err := chain.Reorg(ctx, evmdev.ReorgOptions{Depth: 1, Reinclude: true}); err != nil {
		t.Fatalf("Reorg: %v", err)
	}
	moved, err := chain.Client().TransactionReceipt(ctx, receipt.TxHash)
	if err != nil {
		t.Fatalf("receipt after reorg: %v", err)
	}
	if moved.BlockHash == receipt.BlockHash {
		t.Errorf("block of the re-mined tx: got %s, the removed block; want a block of the new branch", moved.BlockHash)
	}
	if moved.Status != types.ReceiptStatusSuccessful || !authorizationUsed(t, chain, auth) {
		t.Errorf("re-mined tx: status %d, nonce used %v; want success and used", moved.Status, authorizationUsed(t, chain, auth))
	}
}

// TestReorgRefusals: a reorg never removes a finalized block, and needs a
// depth of at least one.
func TestReorgRefusals(t *testing.T) {
	ctx := context.Background()
	chain := startChain(t, evmdev.Config{FinalityDepth: 2})
	for range 4 {
		chain.Commit()
	}
	head := chain.Head()
	tests := []struct {
		name  string
		depth uint64
	}{
		{"zero depth", 0},
		{"below Finalized", head - chain.Finalized() + 1},
		{"below genesis", head + 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := chain.Reorg(ctx, evmdev.ReorgOptions{Depth: tc.depth}); err == nil {
				t.Errorf("Reorg depth %d at head %d (finalized %d): got nil error, want a refusal", tc.depth, head, chain.Finalized())
			}
			if got := chain.Head(); got != head {
				t.Errorf("head after refused reorg: got %d, want %d", got, head)
			}
		})
	}
	// At the finality boundary itself the reorg goes through.
	if _, err := chain.Reorg(ctx, evmdev.ReorgOptions{Depth: head - chain.Finalized()}); err != nil {
		t.Errorf("Reorg to the finalized block: %v", err)
	}
}
