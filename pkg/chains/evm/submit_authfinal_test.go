package evm_test

import (
	"crypto/ecdsa"
	"errors"
	"math/big"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/rpc"

	"github.com/h402/settlement/pkg/chains/evm"
	"github.com/h402/settlement/pkg/events"
	"github.com/h402/settlement/pkg/h402"
	"github.com/h402/settlement/pkg/settler"
)

// TestAuthorizationUsedElsewhereFailsOnlyOnceFinal: two authorizations are
// used on chain by someone else's transaction before the settler gets to
// them, one on the fresh path (simulation reverts "used or canceled"), one
// on the recovery path (its recorded transaction lost its nonce, and the
// use is older than LogLookback). While the use is above the network's
// finality a reorg can still undo it: both are retried, not failed. Once
// the block is finalized both fail nonce_already_used (issue 9 item 8).
func TestAuthorizationUsedElsewhereFailsOnlyOnceFinal(t *testing.T) {
	b := newBench(t, 2)
	claims := newClaims(t)
	fresh := b.authorization(t, b.chain.Payers()[0], 5_000, evm.AuthorizationOptions{})
	recovered := b.authorization(t, b.chain.Payers()[1], 5_000, evm.AuthorizationOptions{})
	batch := []*events.PaymentAccepted{fresh, recovered}

	// A settler records a transaction for the second payment, then crashes.
	s1 := b.submitter(t, b.pool(t), 0, evm.SubmitterOptions{BeforeBroadcast: crashBeforeBroadcast})
	if _, err := s1.Submit(t.Context(), batch[1:], claims); err != nil {
		t.Fatalf("settler 1: %v", err)
	}
	rec, err := claims.Lookup(t.Context(), recovered.ID)
	if err != nil || rec == nil {
		t.Fatalf("claim of %s: got %v, %v; want the recorded tx", recovered.ID, rec, err)
	}

	// The recorded transaction's nonce goes to another transaction, and
	// another party uses both authorizations, in one block.
	self := crypto.PubkeyToAddress(b.chain.Facilitators()[0].PublicKey)
	sendAt(t, b, b.chain.Facilitators()[0], rec.Nonce, self, nil)
	other := b.chain.Facilitators()[1]
	otherNonce, err := b.chain.Client().PendingNonceAt(t.Context(), crypto.PubkeyToAddress(other.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	for k, e := range batch {
		call, _, _, err := evm.DecodeAuthorization(e)
		if err != nil {
			t.Fatal(err)
		}
		sendAt(t, b, other, otherNonce+uint64(k), b.chain.Token(), call)
	}
	b.chain.Commit()
	useBlock := b.chain.Head()
	b.chain.Commit()
	b.chain.Commit() // the use is now out of a LogLookback of 1

	s2 := b.submitter(t, b.pool(t), 0, evm.SubmitterOptions{LogLookback: 1})
	for _, r := range submit(t, s2, batch, claims) {
		if r.Err == nil || r.Tx != nil || settler.Classify(r.Err) != settler.ClassRetryable {
			t.Fatalf("use at block %d not final (finalized %d): payment %s got err %v (%s) tx %v, want retryable and no tx",
				useBlock, b.finalized(t), r.ID, r.Err, classOf(r.Err), r.Tx)
		}
	}

	for b.finalized(t) < useBlock {
		b.chain.Commit()
	}
	for _, r := range submit(t, s2, batch, claims) {
		if r.Tx != nil || settler.Classify(r.Err) != settler.ClassPermanent {
			t.Fatalf("use final: payment %s got err %v (%s) tx %v, want permanent", r.ID, r.Err, classOf(r.Err), r.Tx)
		}
		wantReason(t, r.ID, r.Err, h402.ReasonNonceAlreadyUsed)
		if r.ID == recovered.ID && !strings.Contains(r.Err.Error(), "not found in the last 1 blocks") {
			t.Fatalf("payment %s: got %v, want the recovery path's failure", r.ID, r.Err)
		}
	}
	if got := b.rpc.count("eth_sendRawTransaction"); got != 0 {
		t.Fatalf("got %d broadcasts by the settler, want 0", got)
	}
}

func classOf(err error) string {
	if err == nil {
		return "none"
	}
	return settler.Classify(err).String()
}

// finalized is the block number the node's "finalized" tag answers.
func (b *bench) finalized(t *testing.T) uint64 {
	t.Helper()
	h, err := b.chain.Client().HeaderByNumber(t.Context(), big.NewInt(int64(rpc.FinalizedBlockNumber)))
	if err != nil {
		if errors.Is(err, ethereum.NotFound) {
			return 0
		}
		t.Fatalf("finalized header: %v", err)
	}
	return h.Number.Uint64()
}

// sendAt sends a transaction signed by key with nonce to the dev chain
// without mining it, and returns its hash.
func sendAt(t *testing.T, b *bench, key *ecdsa.PrivateKey, nonce uint64, to common.Address, data []byte) common.Hash {
	t.Helper()
	tx := types.MustSignNewTx(key, types.LatestSignerForChainID(b.chain.ChainID()), &types.DynamicFeeTx{
		ChainID: b.chain.ChainID(), Nonce: nonce, To: &to, Data: data,
		Gas: 300_000, GasTipCap: big.NewInt(2e9), GasFeeCap: big.NewInt(2e11),
	})
	if err := b.chain.Client().SendTransaction(t.Context(), tx); err != nil {
		t.Fatalf("send tx with nonce %d: %v", nonce, err)
	}
	return tx.Hash()
}
