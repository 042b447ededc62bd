package evm_test

import (
	"errors"
	"math/big"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"

	"github.com/h402/settlement/pkg/chains"
	"github.com/h402/settlement/pkg/chains/evm"
	"github.com/h402/settlement/pkg/events"
	"github.com/h402/settlement/pkg/failover"
	"github.com/h402/settlement/pkg/h402"
)

func TestSubmitHundredInOneTransaction(t *testing.T) {
	b := newBench(t, 16)
	s := b.submitter(t, b.pool(t), 0, evm.SubmitterOptions{})
	claims := newClaims(t)

	const n, amount = 100, 10_000
	var batch []*events.PaymentAccepted
	for i := range n {
		batch = append(batch, b.authorization(t, b.chain.Payers()[i%16], amount, evm.AuthorizationOptions{}))
	}
	before := b.balance(t, b.payTo)
	res := submit(t, s, batch, claims)
	hashes := wantSubmitted(t, res)
	if len(hashes) != 1 {
		t.Fatalf("got %d transactions, want 1", len(hashes))
	}
	if got := b.rpc.count("eth_sendRawTransaction"); got != 1 {
		t.Fatalf("got %d broadcasts, want 1", got)
	}
	for _, p := range batch {
		rec, _ := claims.Lookup(t.Context(), p.ID)
		if rec == nil || rec.Hash != hashes[0] {
			t.Fatalf("claim of %s: got %v, want tx %s recorded", p.ID, rec, hashes[0])
		}
	}
	b.chain.Commit()

	r := b.receipt(t, hashes[0])
	if r == nil || r.Status != types.ReceiptStatusSuccessful {
		t.Fatalf("receipt of %s: got %v, want success", hashes[0], r)
	}
	if got := b.authorizationsUsed(r); got != n {
		t.Fatalf("got %d AuthorizationUsed events, want %d", got, n)
	}
	want := new(big.Int).Add(before, big.NewInt(n*amount))
	if got := b.balance(t, b.payTo); got.Cmp(want) != 0 {
		t.Fatalf("payTo balance: got %s, want %s", got, want)
	}
	t.Logf("batch of %d: gas used %d, %d gas per payment", n, r.GasUsed, r.GasUsed/n)
	if len(s.Tracked()) != 1 {
		t.Fatalf("got %d tracked txs before the next head, want 1", len(s.Tracked()))
	}
	if _, err := s.ReplaceStuck(t.Context(), b.chain.Head()); err != nil {
		t.Fatalf("ReplaceStuck: %v", err)
	}
	if got := s.Tracked(); len(got) != 0 {
		t.Fatalf("got %d tracked txs after mining, want 0", len(got))
	}
}

func TestSubmitBadItems(t *testing.T) {
	b := newBench(t, 10)
	s := b.submitter(t, b.pool(t), 0, evm.SubmitterOptions{})
	claims := newClaims(t)
	payers := b.chain.Payers()
	now := b.headTime(t)

	// An authorization settled earlier, offered again under another id.
	used := b.authorization(t, payers[0], 1_000, evm.AuthorizationOptions{})
	wantSubmitted(t, submit(t, s, []*events.PaymentAccepted{used}, claims))
	b.chain.Commit()
	again := *used
	again.ID = "pay-used-again"

	huge := new(big.Int).Mul(big.NewInt(1_000_000_000_000), big.NewInt(10))
	bad := []struct {
		name  string
		event *events.PaymentAccepted
		want  h402.Reason
	}{
		{"expired", b.authorization(t, payers[1], 1_000, evm.AuthorizationOptions{ValidAfter: now.Add(-2 * time.Hour), ValidBefore: now.Add(-time.Hour)}), h402.ReasonEVMValidBefore},
		{"not yet valid (retryable: no reason)", b.authorization(t, payers[2], 1_000, evm.AuthorizationOptions{ValidAfter: now.Add(time.Hour), ValidBefore: now.Add(2 * time.Hour)}), ""},
		{"bad signature", tamper(t, b.authorization(t, payers[3], 1_000, evm.AuthorizationOptions{}), func(a *events.EVMAuthorization) {
			a.Value = "999999"
		}), h402.ReasonEVMSignature},
		{"nonce already used", &again, h402.ReasonNonceAlreadyUsed},
		{"balance too low", b.authorization(t, payers[4], 0, evm.AuthorizationOptions{Value: huge}), h402.ReasonInsufficientFunds},
		{"malformed signature", tamper(t, b.authorization(t, payers[5], 1_000, evm.AuthorizationOptions{}), func(a *events.EVMAuthorization) {
			a.Signature = "0x1234"
		}), h402.ReasonEVMSignature},
	}

	var batch []*events.PaymentAccepted
	badAt := map[int]int{} // batch index → bad case
	for i := range 97 {
		if i%16 == 3 && len(badAt) < len(bad) {
			badAt[len(batch)] = len(badAt)
			batch = append(batch, bad[len(badAt)-1].event)
		}
		batch = append(batch, b.authorization(t, payers[i%10], 1_000, evm.AuthorizationOptions{}))
	}
	before := b.balance(t, b.payTo)
	res := submit(t, s, batch, claims)

	var good []chains.Result
	for i, r := range res {
		if k, isBad := badAt[i]; isBad {
			t.Run(bad[k].name, func(t *testing.T) {
				if r.Tx != nil {
					t.Fatalf("got tx %s, want none", r.Tx.Hash)
				}
				if bad[k].want == "" {
					var he *h402.Error
					if r.Err == nil || errors.As(r.Err, &he) {
						t.Fatalf("got %v, want a retryable error (no *h402.Error: the payment must not fail)", r.Err)
					}
					return
				}
				wantReason(t, r.ID, r.Err, bad[k].want)
			})
			continue
		}
		good = append(good, r)
	}
	if len(good) != 97 {
		t.Fatalf("got %d good payments, want 97", len(good))
	}
	hashes := wantSubmitted(t, good)
	if len(hashes) != 1 {
		t.Fatalf("got %d transactions for the good payments, want 1", len(hashes))
	}
	b.chain.Commit()
	r := b.receipt(t, hashes[0])
	if r == nil || r.Status != types.ReceiptStatusSuccessful || b.authorizationsUsed(r) != 97 {
		t.Fatalf("receipt: got %+v, want success with 97 authorizations used", r)
	}
	want := new(big.Int).Add(before, big.NewInt(97*1_000))
	if got := b.balance(t, b.payTo); got.Cmp(want) != 0 {
		t.Fatalf("payTo balance: got %s, want %s", got, want)
	}
}

func TestSubmitSignedTransactions(t *testing.T) {
	b := newBench(t, 8)
	s := b.submitter(t, b.pool(t), 0, evm.SubmitterOptions{})
	claims := newClaims(t)

	var (
		batch  []*events.PaymentAccepted
		hashes []common.Hash
	)
	for i, payer := range b.chain.Payers() {
		e, h := b.signedTransaction(t, payer, int64(1_000+i), 0)
		batch = append(batch, e)
		hashes = append(hashes, h)
	}
	// One payer pays twice in a row: nonces n and n+1 in one batch.
	e, h := b.signedTransaction(t, b.chain.Payers()[0], 7, 1)
	batch, hashes = append(batch, e), append(hashes, h)

	before := b.balance(t, b.payTo)
	res := submit(t, s, batch, claims)
	wantSubmitted(t, res)
	for i, r := range res {
		if r.Tx.Hash != lowerHash(hashes[i]) || r.Tx.Signer != "" {
			t.Fatalf("payment %s: got tx %s signer %q, want the client's %s unsigned by us", r.ID, r.Tx.Hash, r.Tx.Signer, hashes[i].Hex())
		}
		if rec, _ := claims.Lookup(t.Context(), r.ID); rec == nil || rec.Hash != r.Tx.Hash || len(rec.Raw) == 0 {
			t.Fatalf("claim of %s: got %+v, want the tx with its raw bytes", r.ID, rec)
		}
	}
	if got := b.rpc.count("eth_sendRawTransaction"); got != len(batch) {
		t.Fatalf("got %d broadcasts, want %d", got, len(batch))
	}
	b.chain.Commit()
	sum := int64(7)
	for i := range b.chain.Payers() {
		sum += int64(1_000 + i)
	}
	for _, h := range hashes {
		if r := b.receipt(t, h.Hex()); r == nil || r.Status != types.ReceiptStatusSuccessful {
			t.Fatalf("receipt of %s: got %v, want success", h.Hex(), r)
		}
	}
	if got, want := b.balance(t, b.payTo), new(big.Int).Add(before, big.NewInt(sum)); got.Cmp(want) != 0 {
		t.Fatalf("payTo balance: got %s, want %s", got, want)
	}

	t.Run("redelivered after mining", func(t *testing.T) {
		sent := b.rpc.count("eth_sendRawTransaction")
		res := submit(t, s, batch[:3], claims)
		wantSubmitted(t, res)
		if got := b.rpc.count("eth_sendRawTransaction"); got != sent {
			t.Fatalf("got %d new broadcasts, want 0", got-sent)
		}
	})
	t.Run("nonce taken by another transaction", func(t *testing.T) {
		// A transaction signed for a nonce the payer has since used.
		payer := b.chain.Payers()[1]
		stale, _ := b.signedTransaction(t, payer, 5, 0)
		other, _ := b.signedTransaction(t, payer, 6, 0)
		wantSubmitted(t, submit(t, s, []*events.PaymentAccepted{other}, claims))
		b.chain.Commit()
		// Taken at the head, not yet at the finalized block: a reorg could
		// still free the nonce, so the payment is retried, not failed.
		res := submit(t, s, []*events.PaymentAccepted{stale}, claims)
		var retryable interface{ Retryable() bool }
		if !errors.As(res[0].Err, &retryable) || !retryable.Retryable() {
			t.Fatalf("before finality: got %v, want a retryable error", res[0].Err)
		}
		for range 64 { // the dev chain finalizes every 32 blocks
			b.chain.Commit()
		}
		res = submit(t, s, []*events.PaymentAccepted{stale}, claims)
		wantReason(t, res[0].ID, res[0].Err, h402.ReasonNonceAlreadyUsed)
	})
}

func TestSubmitEndpointsDown(t *testing.T) {
	b := newBench(t, 4)
	claims := newClaims(t)
	auth := b.authorization(t, b.chain.Payers()[0], 1_000, evm.AuthorizationOptions{})
	raw, _ := b.signedTransaction(t, b.chain.Payers()[1], 1_000, 0)
	batch := []*events.PaymentAccepted{auth, raw}

	t.Run("all down", func(t *testing.T) {
		s := b.submitter(t, b.pool(t, deadURL(t), deadURL(t)), 0, evm.SubmitterOptions{})
		for attempt := range 3 { // the breakers open after the first
			res, err := s.Submit(t.Context(), batch, claims)
			if err != nil {
				t.Fatalf("attempt %d: got batch error %v, want per-payment results", attempt, err)
			}
			for _, r := range res {
				var he *h402.Error
				var un *failover.Unavailable
				if r.Err == nil || errors.As(r.Err, &he) {
					t.Fatalf("attempt %d, payment %s: got %v, want a retryable error, not an h402 rejection", attempt, r.ID, r.Err)
				}
				if !errors.As(r.Err, &un) || !un.Retryable() {
					t.Fatalf("attempt %d, payment %s: got %v, want *failover.Unavailable", attempt, r.ID, r.Err)
				}
			}
		}
	})

	t.Run("one down, the other carries on", func(t *testing.T) {
		s := b.submitter(t, b.pool(t, deadURL(t), b.rpc.srv.URL), 0, evm.SubmitterOptions{})
		res := submit(t, s, batch, claims)
		wantSubmitted(t, res)
		b.chain.Commit()
		for _, r := range res {
			if rc := b.receipt(t, r.Tx.Hash); rc == nil || rc.Status != types.ReceiptStatusSuccessful {
				t.Fatalf("payment %s: receipt %v, want success", r.ID, rc)
			}
		}
	})
}

func TestSubmitRejectsOtherPayloads(t *testing.T) {
	b := newBench(t, 1)
	s := b.submitter(t, b.pool(t), 0, evm.SubmitterOptions{})
	e := b.authorization(t, b.chain.Payers()[0], 1, evm.AuthorizationOptions{})
	e.Type = h402.TypeSignAndSendTransaction
	res := submit(t, s, []*events.PaymentAccepted{e}, newClaims(t))
	wantReason(t, e.ID, res[0].Err, h402.ReasonUnsupportedPayloadType)
}

func TestSubmitLostLeaseStopsSigning(t *testing.T) {
	b := newBench(t, 1)
	errGone := errors.New("lease gone")
	s := b.submitter(t, b.pool(t), 0, evm.SubmitterOptions{CanSign: func() error { return errGone }})
	e := b.authorization(t, b.chain.Payers()[0], 1, evm.AuthorizationOptions{})
	res, err := s.Submit(t.Context(), []*events.PaymentAccepted{e}, newClaims(t))
	if !errors.Is(err, evm.ErrKeyLost) || !errors.Is(res[0].Err, evm.ErrKeyLost) {
		t.Fatalf("got batch error %v, result %v, want ErrKeyLost", err, res[0].Err)
	}
	if got := b.rpc.count("eth_sendRawTransaction"); got != 0 {
		t.Fatalf("got %d broadcasts, want 0", got)
	}
}

func lowerHash(h common.Hash) string { return "0x" + common.Bytes2Hex(h[:]) }
