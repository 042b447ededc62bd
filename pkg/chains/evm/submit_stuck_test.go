package evm_test

import (
	"math/big"
	"slices"
	"testing"

	"github.com/ethereum/go-ethereum/core/types"

	"github.com/h402/settlement/pkg/chains/evm"
	"github.com/h402/settlement/pkg/events"
	"github.com/h402/settlement/pkg/evmdev"
)

func TestStuckTransactionIsReplaced(t *testing.T) {
	b := newBench(t, 4)
	claims := newClaims(t)
	// A tip just below the miner's minimum: the transaction is accepted by
	// the pool and never mined (as when miners raise their price).
	lowTip := new(big.Int).Sub(evmdev.MinTip, big.NewInt(100_000))
	s := b.submitter(t, b.pool(t), 0, evm.SubmitterOptions{ReplaceAfter: 2, Fees: evm.FeePolicy{Tip: lowTip}})

	var batch []*events.PaymentAccepted
	for i := range 4 {
		batch = append(batch, b.authorization(t, b.chain.Payers()[i], 3_000, evm.AuthorizationOptions{}))
	}
	before := b.balance(t, b.payTo)
	res := submit(t, s, batch, claims)
	hashes := wantSubmitted(t, res)
	old := *res[0].Tx

	b.chain.Commit()
	if r := b.receipt(t, old.Hash); r != nil {
		t.Fatalf("tx with tip %s was mined, want it stuck", lowTip)
	}
	if reps, err := s.ReplaceStuck(t.Context(), b.chain.Head()); err != nil || len(reps) != 0 {
		t.Fatalf("one block after: got %d replacements (err %v), want none yet", len(reps), err)
	}
	b.chain.Commit()
	reps, err := s.ReplaceStuck(t.Context(), b.chain.Head())
	if err != nil {
		t.Fatalf("ReplaceStuck: %v", err)
	}
	if len(reps) != 1 {
		t.Fatalf("got %d replacements, want 1", len(reps))
	}
	rep := reps[0]
	if rep.Tx.Nonce != old.Nonce || rep.Tx.Hash == old.Hash || !slices.Equal(rep.Tx.Replaces, []string{old.Hash}) {
		t.Fatalf("got replacement %+v, want nonce %d, a new hash and Replaces [%s]", rep.Tx, old.Nonce, old.Hash)
	}
	slices.Sort(rep.PaymentIDs)
	if len(rep.PaymentIDs) != len(batch) {
		t.Fatalf("got payments %v, want the %d of the batch", rep.PaymentIDs, len(batch))
	}
	for _, p := range batch {
		rec, _ := claims.Lookup(t.Context(), p.ID)
		if rec == nil || rec.Hash != rep.Tx.Hash || !slices.Equal(rec.Replaces, []string{old.Hash}) {
			t.Fatalf("claim of %s: got %+v, want the replacement with the old hash kept", p.ID, rec)
		}
	}
	tx, _, err := b.chain.Client().TransactionByHash(t.Context(), hashOf(rep.Tx.Hash))
	if err != nil {
		t.Fatalf("replacement not at the node: %v", err)
	}
	if want := bumpedTip(lowTip); tx.GasTipCap().Cmp(want) < 0 {
		t.Fatalf("replacement tip: got %s, want at least %s (+12.5%%)", tx.GasTipCap(), want)
	}

	b.chain.Commit()
	r := b.receipt(t, rep.Tx.Hash)
	if r == nil || r.Status != types.ReceiptStatusSuccessful || b.authorizationsUsed(r) != len(batch) {
		t.Fatalf("replacement receipt: got %v, want success paying %d", r, len(batch))
	}
	if b.receipt(t, old.Hash) != nil {
		t.Fatalf("the replaced tx %s has a receipt too", old.Hash)
	}
	if got := s.Tracked(); len(got) != 1 {
		t.Fatalf("got %d tracked before the next head, want 1", len(got))
	}
	if _, err := s.ReplaceStuck(t.Context(), b.chain.Head()); err != nil {
		t.Fatalf("ReplaceStuck after mining: %v", err)
	}
	if got := s.Tracked(); len(got) != 0 {
		t.Fatalf("got %d tracked after mining, want 0", len(got))
	}
	want := new(big.Int).Add(before, big.NewInt(int64(len(batch))*3_000))
	if got := b.balance(t, b.payTo); got.Cmp(want) != 0 {
		t.Fatalf("payTo balance: got %s, want %s", got, want)
	}

	// A redelivery finds the mined replacement through the claim.
	res = submit(t, b.submitter(t, b.pool(t), 0, evm.SubmitterOptions{}), batch[:1], claims)
	if got := wantSubmitted(t, res); got[0] != rep.Tx.Hash {
		t.Fatalf("redelivery: got tx %s, want the mined replacement %s (first tx was %s)", got[0], rep.Tx.Hash, hashes[0])
	}
}

func bumpedTip(x *big.Int) *big.Int {
	n := new(big.Int).Mul(x, big.NewInt(1125))
	return n.Quo(n, big.NewInt(1000))
}
