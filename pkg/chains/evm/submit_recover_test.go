package evm_test

import (
	"context"
	"errors"
	"math/big"
	"slices"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"

	"github.com/h402/settlement/pkg/chains"
	"github.com/h402/settlement/pkg/chains/evm"
	"github.com/h402/settlement/pkg/events"
)

// errCrash stands for the process dying between recording and broadcasting.
var errCrash = errors.New("crash before broadcast (test hook)")

func crashBeforeBroadcast(context.Context, chains.Tx) error { return errCrash }

// TestRedeliveryAfterCrashBeforeBroadcast: a settler dies between recording
// and broadcasting, another between broadcasting and acking, and a third
// gets the payments after they are mined: one broadcast in all, paid once.
func TestRedeliveryAfterCrashBeforeBroadcast(t *testing.T) {
	b := newBench(t, 4)
	claims := newClaims(t)
	var batch []*events.PaymentAccepted
	for i := range 3 {
		batch = append(batch, b.authorization(t, b.chain.Payers()[i], 5_000, evm.AuthorizationOptions{}))
	}
	before := b.balance(t, b.payTo)

	// Settler 1 records the transaction, then "crashes".
	s1 := b.submitter(t, b.pool(t), 0, evm.SubmitterOptions{BeforeBroadcast: crashBeforeBroadcast})
	res, err := s1.Submit(t.Context(), batch, claims)
	if err != nil {
		t.Fatalf("settler 1: %v", err)
	}
	for _, r := range res {
		if !errors.Is(r.Err, errCrash) || r.Tx != nil {
			t.Fatalf("settler 1, payment %s: got err %v tx %v, want the crash and no tx", r.ID, r.Err, r.Tx)
		}
	}
	recorded, _ := claims.Lookup(t.Context(), batch[0].ID)
	if recorded == nil || len(recorded.Raw) == 0 {
		t.Fatalf("got claim %v, want the signed tx recorded before the crash", recorded)
	}
	if got := b.rpc.count("eth_sendRawTransaction"); got != 0 {
		t.Fatalf("settler 1: got %d broadcasts, want 0", got)
	}
	records := claims.recordCount()

	// Settler 2 (same key after the lease moved, same claims) gets the redelivery.
	s2 := b.submitter(t, b.pool(t), 0, evm.SubmitterOptions{})
	res = submit(t, s2, batch, claims)
	hashes := wantSubmitted(t, res)
	if len(hashes) != 1 || hashes[0] != recorded.Hash {
		t.Fatalf("settler 2: got txs %v, want only the recorded %s", hashes, recorded.Hash)
	}
	if got := b.rpc.count("eth_sendRawTransaction"); got != 1 {
		t.Fatalf("settler 2: got %d broadcasts, want 1 (the recorded bytes)", got)
	}
	if claims.recordCount() != records {
		t.Fatalf("settler 2: got %d new claim records, want 0 (nothing signed anew)", claims.recordCount()-records)
	}
	tx, pending, err := b.chain.Client().TransactionByHash(t.Context(), common.HexToHash(recorded.Hash))
	if err != nil || !pending || tx.Nonce() != recorded.Nonce {
		t.Fatalf("node: got tx %v pending %v err %v, want the recorded nonce %d pending", tx, pending, err, recorded.Nonce)
	}

	// Settler 2 dies after its broadcast, before its ack: the payments come
	// again while the transaction is pending. Nothing is broadcast again.
	s2b := b.submitter(t, b.pool(t), 0, evm.SubmitterOptions{})
	res = submit(t, s2b, batch, claims)
	if hashes := wantSubmitted(t, res); len(hashes) != 1 || hashes[0] != recorded.Hash {
		t.Fatalf("redelivery while pending: got txs %v, want the recorded %s", hashes, recorded.Hash)
	}
	if got := b.rpc.count("eth_sendRawTransaction"); got != 1 {
		t.Fatalf("redelivery while pending: got %d broadcasts in all, want still 1", got)
	}

	b.chain.Commit()
	if r := b.receipt(t, recorded.Hash); r == nil || r.Status != types.ReceiptStatusSuccessful || b.authorizationsUsed(r) != 3 {
		t.Fatalf("receipt of %s: got %v, want success paying 3", recorded.Hash, r)
	}

	// Settler 3 gets yet another redelivery after mining: nothing to do.
	s3 := b.submitter(t, b.pool(t), 0, evm.SubmitterOptions{})
	res = submit(t, s3, batch, claims)
	if hashes := wantSubmitted(t, res); len(hashes) != 1 || hashes[0] != recorded.Hash {
		t.Fatalf("settler 3: got txs %v, want %s", hashes, recorded.Hash)
	}
	if got := b.rpc.count("eth_sendRawTransaction"); got != 1 {
		t.Fatalf("settler 3: got %d broadcasts in all, want still 1", got)
	}
	want := new(big.Int).Add(before, big.NewInt(3*5_000))
	if got := b.balance(t, b.payTo); got.Cmp(want) != 0 {
		t.Fatalf("payTo balance: got %s, want %s (paid exactly once)", got, want)
	}
}

func TestRedeliveryWhenRecordedNonceWentElsewhere(t *testing.T) {
	b := newBench(t, 4)
	claims := newClaims(t)
	first := []*events.PaymentAccepted{b.authorization(t, b.chain.Payers()[0], 1_000, evm.AuthorizationOptions{})}
	second := []*events.PaymentAccepted{b.authorization(t, b.chain.Payers()[1], 2_000, evm.AuthorizationOptions{})}

	s1 := b.submitter(t, b.pool(t), 0, evm.SubmitterOptions{BeforeBroadcast: crashBeforeBroadcast})
	if _, err := s1.Submit(t.Context(), first, claims); err != nil {
		t.Fatalf("settler 1: %v", err)
	}
	stale, _ := claims.Lookup(t.Context(), first[0].ID)

	// Settler 2 starts from the node's nonce, so its first batch takes the
	// nonce of the never-broadcast transaction.
	s2 := b.submitter(t, b.pool(t), 0, evm.SubmitterOptions{})
	res := submit(t, s2, second, claims)
	wantSubmitted(t, res)
	if res[0].Tx.Nonce != stale.Nonce {
		t.Fatalf("got nonce %d, want the stale record's %d reused", res[0].Tx.Nonce, stale.Nonce)
	}
	b.chain.Commit()

	// The redelivered payment's recorded tx can never land and its
	// authorization is unused: it is settled again in a new transaction.
	res = submit(t, s2, first, claims)
	hashes := wantSubmitted(t, res)
	if hashes[0] == stale.Hash {
		t.Fatalf("got the stale tx %s, want a new one", stale.Hash)
	}
	b.chain.Commit()
	if r := b.receipt(t, hashes[0]); r == nil || b.authorizationsUsed(r) != 1 {
		t.Fatalf("receipt of %s: got %v, want it to pay the authorization", hashes[0], r)
	}
}

// TestCrashBeforeBroadcastWithStaleClaimInChunk: payment A's recorded
// transaction loses its nonce to another one (it can never land); A then
// comes again in a chunk with two new payments, and that settler crashes
// between claim and broadcast. The next settler gets every payment of the
// chunk on chain exactly once, all on the real claims bucket.
func TestCrashBeforeBroadcastWithStaleClaimInChunk(t *testing.T) {
	b := newBench(t, 4)
	claims := newClaims(t)
	payers := b.chain.Payers()
	a := b.authorization(t, payers[0], 1_000, evm.AuthorizationOptions{})
	x := b.authorization(t, payers[1], 2_000, evm.AuthorizationOptions{})
	before := b.balance(t, b.payTo)

	// Settler 1 records A's transaction and crashes before broadcasting.
	s1 := b.submitter(t, b.pool(t), 0, evm.SubmitterOptions{BeforeBroadcast: crashBeforeBroadcast})
	if _, err := s1.Submit(t.Context(), []*events.PaymentAccepted{a}, claims); err != nil {
		t.Fatalf("settler 1: %v", err)
	}
	stale, _ := claims.Lookup(t.Context(), a.ID)
	if stale == nil {
		t.Fatal("settler 1 recorded no claim")
	}
	// Settler 2 starts from the node's nonce: X takes the stale nonce.
	s2 := b.submitter(t, b.pool(t), 0, evm.SubmitterOptions{})
	if res := submit(t, s2, []*events.PaymentAccepted{x}, claims); wantSubmitted(t, res) != nil && res[0].Tx.Nonce != stale.Nonce {
		t.Fatalf("X went out with nonce %d, want the stale %d", res[0].Tx.Nonce, stale.Nonce)
	}
	b.chain.Commit()

	// Settler 3 takes A again with two new payments, claims the chunk and crashes.
	chunk := []*events.PaymentAccepted{
		a,
		b.authorization(t, payers[2], 3_000, evm.AuthorizationOptions{}),
		b.authorization(t, payers[3], 4_000, evm.AuthorizationOptions{}),
	}
	s3 := b.submitter(t, b.pool(t), 0, evm.SubmitterOptions{BeforeBroadcast: crashBeforeBroadcast})
	res, err := s3.Submit(t.Context(), chunk, claims)
	if err != nil {
		t.Fatalf("settler 3: %v", err)
	}
	for _, r := range res {
		if !errors.Is(r.Err, errCrash) {
			t.Fatalf("settler 3, payment %s: got err %v, want the crash after the chunk was claimed", r.ID, r.Err)
		}
	}
	recorded, _ := claims.Lookup(t.Context(), a.ID)
	if recorded == nil || recorded.Hash == stale.Hash || !slices.Contains(recorded.Dead, stale.Hash) {
		t.Fatalf("claim of A: got %+v, want a new transaction with the stale %s kept as dead", recorded, stale.Hash)
	}
	for _, p := range chunk[1:] {
		if got, _ := claims.Lookup(t.Context(), p.ID); got == nil || got.Hash != recorded.Hash {
			t.Fatalf("claim of %s: got %+v, want the chunk's %s", p.ID, got, recorded.Hash)
		}
	}
	sent := b.rpc.count("eth_sendRawTransaction")

	// Settler 4 gets the redelivered chunk: the recorded bytes go out once.
	s4 := b.submitter(t, b.pool(t), 0, evm.SubmitterOptions{})
	hashes := wantSubmitted(t, submit(t, s4, chunk, claims))
	if len(hashes) != 1 || hashes[0] != recorded.Hash {
		t.Fatalf("settler 4: got txs %v, want only the recorded %s", hashes, recorded.Hash)
	}
	if got := b.rpc.count("eth_sendRawTransaction") - sent; got != 1 {
		t.Fatalf("settler 4: got %d broadcasts, want 1", got)
	}
	b.chain.Commit()
	if r := b.receipt(t, recorded.Hash); r == nil || r.Status != types.ReceiptStatusSuccessful || b.authorizationsUsed(r) != 3 {
		t.Fatalf("receipt of %s: got %v, want success paying 3", recorded.Hash, r)
	}
	// A redelivery after mining changes nothing.
	if hashes := wantSubmitted(t, submit(t, b.submitter(t, b.pool(t), 0, evm.SubmitterOptions{}), chunk, claims)); len(hashes) != 1 || hashes[0] != recorded.Hash {
		t.Fatalf("after mining: got txs %v, want %s", hashes, recorded.Hash)
	}
	want := new(big.Int).Add(before, big.NewInt(1_000+2_000+3_000+4_000))
	if got := b.balance(t, b.payTo); got.Cmp(want) != 0 {
		t.Fatalf("payTo balance: got %s, want %s (every payment exactly once)", got, want)
	}
}
