package evm_test

import (
	"context"
	"math/big"
	"slices"
	"testing"

	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/h402/settlement/pkg/chains"
	"github.com/h402/settlement/pkg/chains/evm"
	"github.com/h402/settlement/pkg/events"
	"github.com/h402/settlement/pkg/evmdev"
)

// TestRestartReplacesPredecessorsStuckTransaction: a settler broadcasts a
// batch with a tip the miner never takes, then a transaction it never
// recorded takes the next nonce, and the process dies. A restarted settler
// (same key, the real claims bucket) finds both through the nonce walk:
// the recorded one is replaced with the same payments at a price that
// mines, the unrecorded one by a zero-value self-transfer; the payments
// land once.
func TestRestartReplacesPredecessorsStuckTransaction(t *testing.T) {
	b := newBench(t, 4)
	js := testenvJetStream(t)
	lowTip := new(big.Int).Sub(evmdev.MinTip, big.NewInt(100_000))
	s1 := b.submitter(t, b.pool(t), 0, evm.SubmitterOptions{Fees: evm.FeePolicy{Tip: lowTip}})
	var batch []*events.PaymentAccepted
	for i := range 3 {
		batch = append(batch, b.authorization(t, b.chain.Payers()[i], 7_000, evm.AuthorizationOptions{}))
	}
	before := b.balance(t, b.payTo)
	res := submit(t, s1, batch, openClaims(t, js))
	stuck := *res[0].Tx
	wantSubmitted(t, res)

	// The predecessor also left an unrecorded transaction at the next nonce.
	key := b.chain.Facilitators()[0]
	self := crypto.PubkeyToAddress(key.PublicKey)
	unrecorded, err := types.SignNewTx(key, types.LatestSignerForChainID(b.chain.ChainID()), &types.DynamicFeeTx{
		ChainID: b.chain.ChainID(), Nonce: stuck.Nonce + 1, GasTipCap: lowTip, GasFeeCap: big.NewInt(50_000_000_000),
		Gas: 21_000, To: &self,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.chain.Client().SendTransaction(t.Context(), unrecorded); err != nil {
		t.Fatalf("send unrecorded: %v", err)
	}
	for range 3 {
		b.chain.Commit()
	}
	if b.receipt(t, stuck.Hash) != nil {
		t.Fatalf("tx with tip %s was mined, want it stuck", lowTip)
	}

	// The restarted settler: its in-memory tracker is empty, so ReplaceStuck
	// alone never replaces the predecessor's transactions.
	claims := openClaims(t, js)
	s2 := b.submitter(t, b.pool(t), 0, evm.SubmitterOptions{ReplaceAfter: 1})
	if reps, err := s2.ReplaceStuck(t.Context(), b.chain.Head()+10); err != nil || len(reps) != 0 {
		t.Fatalf("ReplaceStuck before adopting: got %d replacements (%v), want none", len(reps), err)
	}
	reps, err := s2.AdoptPending(t.Context(), claims)
	if err != nil {
		t.Fatalf("AdoptPending: %v", err)
	}
	if len(reps) != 2 {
		t.Fatalf("got %d replacements, want 2 (the recorded batch and the unrecorded nonce)", len(reps))
	}
	rep := reps[0]
	ids := slices.Clone(rep.PaymentIDs)
	slices.Sort(ids)
	if rep.Tx.Nonce != stuck.Nonce || !slices.Equal(rep.Tx.Replaces, []string{stuck.Hash}) || len(ids) != len(batch) {
		t.Fatalf("replacement: got %+v for %v, want nonce %d replacing %s for the %d payments", rep.Tx, ids, stuck.Nonce, stuck.Hash, len(batch))
	}
	if reps[1].Tx.Nonce != stuck.Nonce+1 || len(reps[1].PaymentIDs) != 0 {
		t.Fatalf("unblock: got %+v, want a self-transfer at nonce %d carrying nothing", reps[1], stuck.Nonce+1)
	}
	for _, p := range batch {
		if rec, _ := claims.Lookup(t.Context(), p.ID); rec == nil || rec.Hash != rep.Tx.Hash {
			t.Fatalf("claim of %s: got %+v, want the replacement %s", p.ID, rec, rep.Tx.Hash)
		}
	}

	b.chain.Commit()
	r := b.receipt(t, rep.Tx.Hash)
	if r == nil || r.Status != types.ReceiptStatusSuccessful || b.authorizationsUsed(r) != len(batch) {
		t.Fatalf("replacement receipt: got %v, want success paying %d", r, len(batch))
	}
	if b.receipt(t, stuck.Hash) != nil || b.receipt(t, unrecorded.Hash().Hex()) != nil {
		t.Fatal("a replaced transaction was mined too")
	}
	if b.receipt(t, reps[1].Tx.Hash) == nil {
		t.Fatalf("self-transfer %s not mined", reps[1].Tx.Hash)
	}
	// A redelivery finds the mined replacement: nothing signed anew.
	sent := b.rpc.count("eth_sendRawTransaction")
	if got := wantSubmitted(t, submit(t, s2, batch, claims)); len(got) != 1 || got[0] != rep.Tx.Hash {
		t.Fatalf("redelivery: got txs %v, want %s", got, rep.Tx.Hash)
	}
	if b.rpc.count("eth_sendRawTransaction") != sent {
		t.Fatal("redelivery broadcast something")
	}
	want := new(big.Int).Add(before, big.NewInt(int64(len(batch))*7_000))
	if got := b.balance(t, b.payTo); got.Cmp(want) != 0 {
		t.Fatalf("payTo balance: got %s, want %s (paid once)", got, want)
	}
}

// lateClaims is the real claims store whose first nonce look-up of one
// nonce answers "nothing recorded": it plays a batch that records that
// nonce right after the walk looked (an interleaving the real store cannot
// be made to produce on demand).
type lateClaims struct {
	*countedClaims
	nonce  uint64
	hidden bool
}

func (c *lateClaims) LookupNonce(ctx context.Context, signer string, nonce uint64) (*chains.Tx, []string, error) {
	if nonce == c.nonce && !c.hidden {
		c.hidden = true
		return nil, nil, nil
	}
	return c.countedClaims.LookupNonce(ctx, signer, nonce)
}

// TestAdoptNeverEvictsABatchRecordedMeanwhile: the nonce walk found nothing
// recorded at a nonce, but a batch recorded it before the walk took the
// send lock: no self-transfer is signed over it (attack review).
func TestAdoptNeverEvictsABatchRecordedMeanwhile(t *testing.T) {
	b := newBench(t, 2)
	js := testenvJetStream(t)
	lowTip := new(big.Int).Sub(evmdev.MinTip, big.NewInt(100_000))
	s1 := b.submitter(t, b.pool(t), 0, evm.SubmitterOptions{Fees: evm.FeePolicy{Tip: lowTip}})
	batch := []*events.PaymentAccepted{b.authorization(t, b.chain.Payers()[0], 7_000, evm.AuthorizationOptions{})}
	res := submit(t, s1, batch, openClaims(t, js))
	pending := *res[0].Tx
	wantSubmitted(t, res)

	s2 := b.submitter(t, b.pool(t), 0, evm.SubmitterOptions{Fees: evm.FeePolicy{Tip: lowTip}})
	sent := b.rpc.count("eth_sendRawTransaction")
	reps, err := s2.AdoptPending(t.Context(), &lateClaims{countedClaims: openClaims(t, js), nonce: pending.Nonce})
	if err != nil {
		t.Fatalf("AdoptPending: %v", err)
	}
	if len(reps) != 0 || b.rpc.count("eth_sendRawTransaction") != sent {
		t.Fatalf("got %d replacements and %d broadcasts; want none over the batch recorded at nonce %d", len(reps), b.rpc.count("eth_sendRawTransaction")-sent, pending.Nonce)
	}
}
