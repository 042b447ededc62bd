package evm_test

import (
	"crypto/ecdsa"
	"fmt"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/h402/settlement/pkg/chains"
	"github.com/h402/settlement/pkg/chains/evm"
	"github.com/h402/settlement/pkg/config"
	"github.com/h402/settlement/pkg/events"
	"github.com/h402/settlement/pkg/evmdev"
	"github.com/h402/settlement/pkg/failover"
	"github.com/h402/settlement/pkg/h402"
)

// confirmDepth is the finality depth the Confirmer tests run with (the dev
// chain's JSON-RPC "finalized" is the last multiple of 32).
const confirmDepth = 3

// depthNetwork is the bench's network with depth finality.
func (b *bench) depthNetwork() *config.Network {
	n := b.network
	n.Finality = config.Finality{Commitment: "depth", Depth: confirmDepth}
	return &n
}

func (b *bench) confirmer(t *testing.T, rpcs ...string) *evm.Confirmer {
	t.Helper()
	c, err := evm.NewConfirmer(b.depthNetwork(), b.pool(t, rpcs...), evm.ConfirmerOptions{})
	if err != nil {
		t.Fatalf("new confirmer: %v", err)
	}
	return c
}

// confirm runs Confirm and fails on an error or a misordered answer.
func confirm(t *testing.T, c *evm.Confirmer, subs []chains.Submission) []chains.Confirmation {
	t.Helper()
	got, err := c.Confirm(t.Context(), subs)
	if err != nil {
		t.Fatalf("confirm: %v", err)
	}
	if len(got) != len(subs) {
		t.Fatalf("got %d confirmations for %d submissions", len(got), len(subs))
	}
	for i, c := range got {
		if c.ID != subs[i].Payment.ID {
			t.Fatalf("confirmation %d is for %s, want %s", i, c.ID, subs[i].Payment.ID)
		}
	}
	return got
}

// submissions pairs the payments with the transactions Submit returned.
func submissions(t *testing.T, batch []*events.PaymentAccepted, res []chains.Result) []chains.Submission {
	t.Helper()
	wantSubmitted(t, res)
	subs := make([]chains.Submission, len(batch))
	for i, e := range batch {
		subs[i] = chains.Submission{Payment: e, Tx: *res[i].Tx}
	}
	return subs
}

// commitN seals n blocks.
func (b *bench) commitN(n int) {
	for range n {
		b.chain.Commit()
	}
}

// wantStatus fails unless every confirmation has status want.
func wantStatus(t *testing.T, got []chains.Confirmation, want chains.Finality) {
	t.Helper()
	for _, c := range got {
		if c.Status != want {
			t.Fatalf("payment %s: got %s (%s: %s), want %s", c.ID, c.Status, c.Reason, c.Message, want)
		}
	}
}

// wantMined fails unless c names tx hash in its canonical block, with the
// receipt's gas, fee and the sender as fee payer.
func (b *bench) wantMined(t *testing.T, c chains.Confirmation, hash string, feePayer common.Address) {
	t.Helper()
	r := b.receipt(t, hash)
	if r == nil {
		t.Fatalf("payment %s: tx %s has no receipt", c.ID, hash)
	}
	h, err := b.chain.Client().HeaderByNumber(t.Context(), r.BlockNumber)
	if err != nil {
		t.Fatalf("header %d: %v", r.BlockNumber, err)
	}
	fee := new(big.Int).Mul(new(big.Int).SetUint64(r.GasUsed), r.EffectiveGasPrice).String()
	want := chains.Confirmation{ID: c.ID, Status: c.Status, TxHash: hash, Block: h.Number.Uint64(), BlockHash: strings.ToLower(h.Hash().Hex()),
		At: time.Unix(int64(h.Time), 0).UTC(), GasUsed: r.GasUsed, Fee: fee, FeePayer: strings.ToLower(feePayer.Hex())}
	if c.Reason != "" || c.Message != "" {
		want.Reason, want.Message = c.Reason, c.Message
	}
	if !c.At.Equal(want.At) {
		t.Fatalf("payment %s: got At %v, want %v", c.ID, c.At, want.At)
	}
	c.At = want.At
	if c != want {
		t.Fatalf("payment %s:\ngot  %+v\nwant %+v", c.ID, c, want)
	}
	if r.GasUsed == 0 || fee == "0" {
		t.Fatalf("payment %s: gas used %d fee %s, want both positive", c.ID, r.GasUsed, fee)
	}
}

// submittedBatch starts a dev chain with payers payers and has the real
// Submitter (facilitator 0, the real claims store) send one authorization
// of amount+i by each payer i, not mined yet.
func submittedBatch(t *testing.T, payers int, amount int64) (*bench, *evm.Submitter, []chains.Submission) {
	t.Helper()
	b := newBench(t, payers)
	claims := newClaims(t)
	s := b.submitter(t, b.pool(t), 0, evm.SubmitterOptions{})
	var batch []*events.PaymentAccepted
	for i, p := range b.chain.Payers() {
		batch = append(batch, b.authorization(t, p, amount+int64(i), evm.AuthorizationOptions{}))
	}
	return b, s, submissions(t, batch, submit(t, s, batch, claims))
}

// TestConfirmBatchConfirmedThenFinalized: a batch of authorizations sent by
// the real Submitter (claims in the real store) is Pending in the pool,
// Confirmed in its block, and Finalized exactly when the block is
// confirmDepth below the head, with the batch's block, gas, fee and payer.
func TestConfirmBatchConfirmedThenFinalized(t *testing.T) {
	b, s, subs := submittedBatch(t, 3, 1_000)
	c := b.confirmer(t)

	wantStatus(t, confirm(t, c, subs), chains.Pending)

	b.chain.Commit()
	mined := b.chain.Head()
	receipts, requests := b.rpc.count("eth_getTransactionReceipt"), b.rpc.requests()
	got := confirm(t, c, subs)
	wantStatus(t, got, chains.Confirmed)
	// Three payments of one transaction: one receipt look-up, and the
	// look-ups and block reads of a call go out as two batch requests.
	if n := b.rpc.count("eth_getTransactionReceipt") - receipts; n != 1 {
		t.Fatalf("got %d receipt look-ups for one transaction, want 1", n)
	}
	if n := b.rpc.requests() - requests; n != 2 {
		t.Fatalf("got %d HTTP requests for one Confirm, want 2", n)
	}
	for _, g := range got {
		b.wantMined(t, g, subs[0].Tx.Hash, s.Address())
		if g.Block != mined {
			t.Fatalf("payment %s: got block %d, want %d", g.ID, g.Block, mined)
		}
	}

	b.commitN(confirmDepth - 1)
	wantStatus(t, confirm(t, c, subs), chains.Confirmed)
	b.chain.Commit()
	got = confirm(t, c, subs)
	wantStatus(t, got, chains.Finalized)
	for _, g := range got {
		b.wantMined(t, g, subs[0].Tx.Hash, s.Address())
	}
}

// TestConfirmBatchPaymentUsedElsewhere: after the Submitter simulated and
// broadcast a batch, another party's transferWithAuthorization of one of
// its authorizations lands first in the same block (a higher tip). The
// batch succeeds (allowFailure) but does not pay that one: it is Pending
// while the block is not final, then Finalized as paid by the other
// transaction (its AuthorizationUsed: the token binds payee and value);
// the others are Finalized in the batch. (A cancel fails the payment:
// e2e TestWatcherBatchWithCanceledAuthorizationAndReorg.)
func TestConfirmBatchPaymentUsedElsewhere(t *testing.T) {
	b, s, subs := submittedBatch(t, 3, 2_000)
	batchHash := subs[0].Tx.Hash

	// Another facilitator front-runs payment 1 with a higher tip.
	other := b.chain.Facilitators()[1]
	call, _, _, err := evm.DecodeAuthorization(subs[1].Payment)
	if err != nil {
		t.Fatal(err)
	}
	otherNonce, err := b.chain.Client().PendingNonceAt(t.Context(), crypto.PubkeyToAddress(other.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	frontHash := sendAt(t, b, other, otherNonce, b.chain.Token(), call)
	b.chain.Commit()

	br, fr := b.receipt(t, batchHash), b.receipt(t, frontHash.Hex())
	if br == nil || fr == nil || br.BlockHash != fr.BlockHash || fr.TransactionIndex > br.TransactionIndex {
		t.Fatalf("want the front-runner before the batch in one block; got batch %+v, front %+v", br, fr)
	}
	if br.Status != types.ReceiptStatusSuccessful || b.authorizationsUsed(br) != 2 {
		t.Fatalf("batch receipt: status %d, %d authorizations used; want success and 2", br.Status, b.authorizationsUsed(br))
	}

	c := b.confirmer(t)
	got := confirm(t, c, subs)
	for i, g := range got {
		want := chains.Confirmed
		if i == 1 {
			want = chains.Pending
		}
		if g.Status != want {
			t.Fatalf("before finality: payment %d got %s (%s: %s), want %s", i, g.Status, g.Reason, g.Message, want)
		}
	}
	if !strings.Contains(got[1].Message, batchHash) || got[1].TxHash != "" {
		t.Fatalf("before finality: payment 1 got message %q tx %q; want the batch named in the message only", got[1].Message, got[1].TxHash)
	}

	b.commitN(confirmDepth)
	got = confirm(t, c, subs)
	for i, g := range got {
		if i == 1 {
			// EIP-3009 binds payee and value: the front-runner paid it.
			if g.Status != chains.Finalized || g.TxHash != strings.ToLower(frontHash.Hex()) || g.Reason != "" {
				t.Fatalf("final: payment 1 got %s %s %q tx %s; want finalized, paid by the front-runner %s", g.Status, g.Reason, g.Message, g.TxHash, frontHash.Hex())
			}
			continue
		}
		if g.Status != chains.Finalized {
			t.Fatalf("final: payment %d got %s (%s: %s), want finalized", i, g.Status, g.Reason, g.Message)
		}
		b.wantMined(t, g, batchHash, s.Address())
	}
}

// TestConfirmReorg: a confirmed batch whose block a reorg removes is
// Dropped when its transaction is gone, and found in its new block (same
// number, new hash) when the new branch includes it again.
func TestConfirmReorg(t *testing.T) {
	for _, reinclude := range []bool{false, true} {
		t.Run(fmt.Sprintf("reinclude=%t", reinclude), func(t *testing.T) {
			b, s, subs := submittedBatch(t, 2, 3_000)
			c := b.confirmer(t)
			b.chain.Commit()
			before := confirm(t, c, subs)
			wantStatus(t, before, chains.Confirmed)

			res, err := b.chain.Reorg(t.Context(), evmdev.ReorgOptions{Depth: 1, Reinclude: reinclude})
			if err != nil {
				t.Fatalf("reorg: %v", err)
			}
			got := confirm(t, c, subs)
			if !reinclude {
				for _, g := range got {
					if g.Status != chains.Dropped || g.Reason == "" || !strings.Contains(g.Message, subs[0].Tx.Hash) || g.TxHash != "" {
						t.Fatalf("payment %s: got %+v, want dropped with a reason naming %s", g.ID, g, subs[0].Tx.Hash)
					}
				}
				return
			}
			wantStatus(t, got, chains.Confirmed)
			for i, g := range got {
				b.wantMined(t, g, subs[0].Tx.Hash, s.Address())
				if g.Block != before[i].Block || g.BlockHash == before[i].BlockHash || g.Block != res.Ancestor+1 {
					t.Fatalf("payment %s: got block %d %s, want block %d with a hash other than %s", g.ID, g.Block, g.BlockHash, before[i].Block, before[i].BlockHash)
				}
			}
		})
	}
}

// TestConfirmFindsReplacedHash: the recorded transaction is a replacement
// that never reached the chain; the hash it replaced was mined and is the
// one reported. Without the earlier hash the submission is Dropped, and
// once the facilitator's nonce is final, for its nonce.
func TestConfirmFindsReplacedHash(t *testing.T) {
	b, s, subs := submittedBatch(t, 1, 4_000)
	batch := []*events.PaymentAccepted{subs[0].Payment}
	b.chain.Commit()

	first := subs[0].Tx
	old := new(types.Transaction)
	if err := old.UnmarshalBinary(first.Raw); err != nil {
		t.Fatal(err)
	}
	key := b.chain.Facilitators()[0]
	repl := types.MustSignNewTx(key, types.LatestSignerForChainID(b.chain.ChainID()), &types.DynamicFeeTx{
		ChainID: b.chain.ChainID(), Nonce: old.Nonce(), To: old.To(), Data: old.Data(), Gas: old.Gas(),
		GasTipCap: new(big.Int).Mul(old.GasTipCap(), big.NewInt(2)), GasFeeCap: new(big.Int).Mul(old.GasFeeCap(), big.NewInt(2)),
	})
	raw, _ := repl.MarshalBinary()
	replaced := chains.Tx{Hash: strings.ToLower(repl.Hash().Hex()), Signer: first.Signer, Nonce: first.Nonce, Raw: raw, Replaces: []string{first.Hash}}

	c := b.confirmer(t)
	got := confirm(t, c, []chains.Submission{{Payment: batch[0], Tx: replaced}})
	wantStatus(t, got, chains.Confirmed)
	b.wantMined(t, got[0], first.Hash, s.Address())

	alone := replaced
	alone.Replaces = nil
	got = confirm(t, c, []chains.Submission{{Payment: batch[0], Tx: alone}})
	if got[0].Status != chains.Dropped || got[0].Reason != h402.ReasonInvalidTransactionState {
		t.Fatalf("replacement alone, nonce not final: got %+v, want dropped invalid_transaction_state", got[0])
	}
	b.commitN(confirmDepth)
	got = confirm(t, c, []chains.Submission{{Payment: batch[0], Tx: alone}})
	if got[0].Status != chains.Dropped || got[0].Reason != h402.ReasonNonceAlreadyUsed {
		t.Fatalf("replacement alone, nonce final: got %+v, want dropped nonce_already_used", got[0])
	}
}

// TestConfirmClientTransactions: client transactions are decided from
// their own Transfer log: a signedTransaction broadcast by the Submitter
// and a transaction the client broadcast itself are Finalized with the
// client as fee payer; a signedTransaction that reverts is Pending until
// final, then Failed.
func TestConfirmClientTransactions(t *testing.T) {
	b := newBench(t, 3)
	claims := newClaims(t)
	s := b.submitter(t, b.pool(t), 0, evm.SubmitterOptions{})
	payers := b.chain.Payers()

	good, goodHash := b.signedTransaction(t, payers[0], 5_000, 0)
	huge := new(big.Int).Add(b.balance(t, crypto.PubkeyToAddress(payers[1].PublicKey)), big.NewInt(1))
	bad := b.signedTransactionOf(t, payers[1], huge, "evm."+b.network.NetworkID+".reverts")
	badHash := common.HexToHash(bad.TxHash)
	batch := []*events.PaymentAccepted{good, bad}
	subs := submissions(t, batch, submit(t, s, batch, claims))

	// The third payer broadcasts its own transfer.
	payer2 := crypto.PubkeyToAddress(payers[2].PublicKey)
	n, err := b.chain.Client().PendingNonceAt(t.Context(), payer2)
	if err != nil {
		t.Fatal(err)
	}
	ownHash := sendAt(t, b, payers[2], n, b.chain.Token(), evm.TransferCalldata(b.payTo, big.NewInt(6_000)))
	b.seq++
	own := &events.PaymentAccepted{Version: events.PaymentAcceptedVersion, ID: fmt.Sprintf("evm.%s.pay-%04d", b.network.NetworkID, b.seq),
		Namespace: h402.NamespaceEVM, NetworkID: b.network.NetworkID, Type: h402.TypeSignAndSendTransaction,
		Token: strings.ToLower(b.token.Address), Payer: strings.ToLower(payer2.Hex()), PayTo: strings.ToLower(b.payTo.Hex()),
		Amount: "6000", TxHash: strings.ToLower(ownHash.Hex()), AcceptedAt: time.Now()}
	subs = append(subs, chains.Submission{Payment: own})

	// The same transfer claimed for another payee is not paid by it.
	wrong := *own
	wrong.ID += "-wrong"
	wrong.PayTo = strings.ToLower(crypto.PubkeyToAddress(mustGenKey(t).PublicKey).Hex())
	subs = append(subs, chains.Submission{Payment: &wrong})

	b.chain.Commit()
	if r := b.receipt(t, badHash.Hex()); r == nil || r.Status != types.ReceiptStatusFailed {
		t.Fatalf("want the oversized transfer mined and reverted, got %+v", r)
	}
	c := b.confirmer(t)
	got := confirm(t, c, subs)
	want := []chains.Finality{chains.Confirmed, chains.Pending, chains.Confirmed, chains.Pending}
	for i, g := range got {
		if g.Status != want[i] {
			t.Fatalf("not final: payment %d got %s (%s: %s), want %s", i, g.Status, g.Reason, g.Message, want[i])
		}
	}

	b.commitN(confirmDepth)
	got = confirm(t, c, subs)
	if got[0].Status != chains.Finalized || got[2].Status != chains.Finalized {
		t.Fatalf("final: got %s and %s, want both finalized", got[0].Status, got[2].Status)
	}
	b.wantMined(t, got[0], strings.ToLower(goodHash.Hex()), crypto.PubkeyToAddress(payers[0].PublicKey))
	b.wantMined(t, got[2], strings.ToLower(ownHash.Hex()), payer2)
	if got[1].Status != chains.Failed || got[1].Reason != h402.ReasonInvalidTransactionState || !strings.Contains(got[1].Message, "reverted") {
		t.Fatalf("final: reverted payment got %+v, want failed invalid_transaction_state (reverted)", got[1])
	}
	b.wantMined(t, got[1], strings.ToLower(badHash.Hex()), crypto.PubkeyToAddress(payers[1].PublicKey))
	if got[3].Status != chains.Failed || got[3].Reason != h402.ReasonEVMRecipientMismatch {
		t.Fatalf("final: transfer claimed for another payee got %+v, want failed recipient mismatch", got[3])
	}
}

// signedTransactionOf is a token transfer of amount (any size) by payer at
// its next nonce, as an accepted signedTransaction payment with id.
func (b *bench) signedTransactionOf(t *testing.T, payer *ecdsa.PrivateKey, amount *big.Int, id string) *events.PaymentAccepted {
	t.Helper()
	from := crypto.PubkeyToAddress(payer.PublicKey)
	n, err := b.chain.Client().PendingNonceAt(t.Context(), from)
	if err != nil {
		t.Fatal(err)
	}
	p, _, err := evm.SignTransaction(b.requirements(amount), payer, &b.token, evm.TxOptions{Nonce: n, GasFeeCap: big.NewInt(50_000_000_000)})
	if err != nil {
		t.Fatalf("sign transaction: %v", err)
	}
	e := b.event(t, h402.TypeSignedTransaction, strings.ToLower(from.Hex()), p, 0, "")
	e.ID, e.Amount = id, amount.String()
	tx := new(types.Transaction)
	if err := tx.UnmarshalBinary(common.FromHex(e.SignedTransaction)); err != nil {
		t.Fatal(err)
	}
	e.TxHash = strings.ToLower(tx.Hash().Hex())
	return e
}

// TestConfirmRPCErrorIsNoVerdict: with no endpoint answering, Confirm
// returns an error and no confirmations, whether the endpoint never
// listened or the chain went away.
func TestConfirmRPCErrorIsNoVerdict(t *testing.T) {
	b, _, subs := submittedBatch(t, 1, 7_000)

	dead := b.confirmer(t, deadURL(t))
	if got, err := dead.Confirm(t.Context(), subs); err == nil || got != nil {
		t.Fatalf("bad URL: got %+v, %v; want an error and nothing", got, err)
	}
	c := b.confirmer(t, b.chain.URL())
	if err := b.chain.Close(); err != nil {
		t.Fatal(err)
	}
	if got, err := c.Confirm(t.Context(), subs); err == nil || got != nil {
		t.Fatalf("closed chain: got %+v, %v; want an error and nothing", got, err)
	}
	a, err := evm.NewAuditor(b.depthNetwork(), b.pool(t, b.chain.URL()), evm.AuditorOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := a.TransfersIn(t.Context(), subs[0].Tx.Hash); err == nil || got != nil {
		t.Fatalf("auditor, closed chain: got %+v, %v; want an error", got, err)
	}
}

// TestConfirmNativeTransaction: a client's native-coin payment is decided
// from the transaction itself (sender, recipient, value): Finalized for
// the payment it makes, Failed invalid value for a claim of another amount.
func TestConfirmNativeTransaction(t *testing.T) {
	b := newBench(t, 1)
	claims := newClaims(t)
	s := b.submitter(t, b.pool(t), 0, evm.SubmitterOptions{})
	payer := b.chain.Payers()[0]
	from := crypto.PubkeyToAddress(payer.PublicKey)
	native := b.network.Tokens[1]
	req := b.requirements(big.NewInt(777_000))
	req.TokenAddress = native.Address
	n, err := b.chain.Client().PendingNonceAt(t.Context(), from)
	if err != nil {
		t.Fatal(err)
	}
	p, _, err := evm.SignTransaction(req, payer, &native, evm.TxOptions{Nonce: n, GasFeeCap: big.NewInt(50_000_000_000)})
	if err != nil {
		t.Fatalf("sign native transaction: %v", err)
	}
	e := b.event(t, h402.TypeSignedTransaction, strings.ToLower(from.Hex()), p, 777_000, "")
	e.Token = native.Address
	subs := submissions(t, []*events.PaymentAccepted{e}, submit(t, s, []*events.PaymentAccepted{e}, claims))
	more := *e
	more.ID, more.Amount = e.ID+"-more", "778000"
	subs = append(subs, chains.Submission{Payment: &more, Tx: subs[0].Tx})

	b.commitN(1 + confirmDepth)
	got := confirm(t, b.confirmer(t), subs)
	if got[0].Status != chains.Finalized {
		t.Fatalf("native payment: got %+v, want finalized", got[0])
	}
	b.wantMined(t, got[0], subs[0].Tx.Hash, from)
	if got[1].Status != chains.Failed || got[1].Reason != h402.ReasonEVMValue {
		t.Fatalf("claim of another amount: got %+v, want failed %s", got[1], h402.ReasonEVMValue)
	}
}

// TestConfirmBound: more than MaxConfirm submissions in one call are
// refused before any RPC, and so are a Confirmer or Auditor for a network
// of another family.
func TestConfirmBound(t *testing.T) {
	n := config.Network{Namespace: h402.NamespaceEVM, NetworkID: "1337", CAIP2: "eip155:1337", RPC: []string{deadURL(t)},
		Finality: config.Finality{Commitment: "depth", Depth: 3}}
	pool, err := evm.Dial(t.Context(), &n, failover.Settings{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := evm.NewConfirmer(&n, pool, evm.ConfirmerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	subs := make([]chains.Submission, evm.MaxConfirm+1)
	for i := range subs {
		subs[i].Payment = &events.PaymentAccepted{ID: fmt.Sprint(i)}
	}
	if got, err := c.Confirm(t.Context(), subs); err == nil || got != nil || !strings.Contains(err.Error(), "more than the 512") {
		t.Fatalf("got %v, %v; want the bound's error", got, err)
	}
	sol := n
	sol.Namespace = h402.NamespaceSolana
	if _, err := evm.NewConfirmer(&sol, pool, evm.ConfirmerOptions{}); err == nil {
		t.Fatal("confirmer for a solana network: want an error")
	}
	if _, err := evm.NewAuditor(&sol, pool, evm.AuditorOptions{}); err == nil {
		t.Fatal("auditor for a solana network: want an error")
	}
}

// TestConfirmFinalityCommitments: the network's commitment decides when a
// mined payment is final: "confirmed" and "safe" (the dev chain's safe
// block is its head) at once, "finalized" when the node's finalized tag
// reaches the block (on the dev chain, the last multiple of 32).
func TestConfirmFinalityCommitments(t *testing.T) {
	b, _, subs := submittedBatch(t, 1, 9_000)
	b.chain.Commit()
	mined := b.chain.Head()
	confirmers := map[string]*evm.Confirmer{}
	for _, commitment := range []string{"confirmed", "safe", "finalized"} {
		n := b.network
		n.Finality = config.Finality{Commitment: commitment}
		c, err := evm.NewConfirmer(&n, b.pool(t), evm.ConfirmerOptions{})
		if err != nil {
			t.Fatal(err)
		}
		confirmers[commitment] = c
	}
	wantStatus(t, confirm(t, confirmers["confirmed"], subs), chains.Finalized)
	wantStatus(t, confirm(t, confirmers["safe"], subs), chains.Finalized)
	for b.finalized(t) < mined {
		wantStatus(t, confirm(t, confirmers["finalized"], subs), chains.Confirmed)
		b.chain.Commit()
	}
	wantStatus(t, confirm(t, confirmers["finalized"], subs), chains.Finalized)
	if b.chain.Head() < 32 {
		t.Fatalf("finalized at head %d: want the dev chain's finalized tag at 32", b.chain.Head())
	}
}
