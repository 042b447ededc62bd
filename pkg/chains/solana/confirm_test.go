package solana_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	solanago "github.com/gagliardetto/solana-go"
	"github.com/gagliardetto/solana-go/rpc"

	"github.com/h402/settlement/pkg/chains"
	"github.com/h402/settlement/pkg/chains/solana"
	"github.com/h402/settlement/pkg/config"
	"github.com/h402/settlement/pkg/events"
	"github.com/h402/settlement/pkg/failover"
	"github.com/h402/settlement/pkg/h402"
	"github.com/h402/settlement/pkg/settler/settlertest"
)

// confirmEnv is a submitEnv (localnet behind a counting proxy, the real
// Submitter) with a Confirmer and an Auditor reading through the proxy.
type confirmEnv struct {
	*submitEnv
	pool *solana.Pool
	conf *solana.Confirmer
}

func newConfirmEnv(t *testing.T) *confirmEnv {
	t.Helper()
	env := &confirmEnv{submitEnv: newSubmitEnv(t)}
	var err error
	env.pool, err = solana.Dial(&env.network, failover.Settings{OpenFor: 20 * time.Millisecond, CallTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if env.conf, err = solana.NewConfirmer(&env.network, env.pool, solana.ConfirmOptions{}); err != nil {
		t.Fatal(err)
	}
	return env
}

func (env *confirmEnv) advance(t *testing.T, slots uint64) {
	t.Helper()
	if _, err := env.sol.LN.AdvanceSlots(context.Background(), slots); err != nil {
		t.Fatal(err)
	}
}

// submitted submits the batch with the real Submitter and returns the
// submissions the watcher would hold.
func (env *confirmEnv) submitted(t *testing.T, batch ...*events.PaymentAccepted) []chains.Submission {
	t.Helper()
	res := env.submit(t, batch...)
	subs := make([]chains.Submission, len(batch))
	for i := range res {
		subs[i] = chains.Submission{Payment: batch[i], Tx: *wantSubmitted(t, res[i])}
	}
	return subs
}

func (env *confirmEnv) confirm(t *testing.T, c *solana.Confirmer, subs []chains.Submission) []chains.Confirmation {
	t.Helper()
	got, err := c.Confirm(context.Background(), subs)
	if err != nil {
		t.Fatalf("Confirm: %v", err)
	}
	if len(got) != len(subs) {
		t.Fatalf("Confirm: %d confirmations for %d submissions", len(got), len(subs))
	}
	for i := range got {
		if got[i].ID != subs[i].Payment.ID {
			t.Fatalf("confirmation %d: id %s, want %s", i, got[i].ID, subs[i].Payment.ID)
		}
	}
	return got
}

func wantStatus(t *testing.T, c chains.Confirmation, want chains.Finality, reason h402.Reason) {
	t.Helper()
	if c.Status != want || c.Reason != reason {
		t.Fatalf("payment %s: got %s %q (%s), want %s %q", c.ID, c.Status, c.Reason, c.Message, want, reason)
	}
	if (want == chains.Pending || want == chains.Failed || want == chains.Dropped) && c.Message == "" {
		t.Fatalf("payment %s: %s without a message", c.ID, c.Status)
	}
}

// TestConfirmFollowsPaymentsToFinality: 300 payments submitted by the real
// Submitter (co-signed and client-paid) are pending in their slot,
// confirmed one slot later and finalized after the finality depth, with
// the slot, block time, fee, compute units and fee payer of their own
// transaction; statuses are asked at most 256 signatures at a time.
func TestConfirmFollowsPaymentsToFinality(t *testing.T) {
	t.Parallel()
	env := newConfirmEnv(t)
	ctx := context.Background()
	const n = 300
	batch := make([]*events.PaymentAccepted, n)
	for i := range batch {
		batch[i] = env.sol.Accepted(t, settlertest.Pay{Amount: uint64(1000 + i), FeePayer: i%2 == 0})
	}
	subs := env.submitted(t, batch...)

	for _, c := range env.confirm(t, env.conf, subs) {
		wantStatus(t, c, chains.Pending, "")
	}

	env.advance(t, 1)
	before := len(env.proxy.Calls("getSignatureStatuses"))
	confirmed := env.confirm(t, env.conf, subs)
	calls := env.proxy.Calls("getSignatureStatuses")[before:]
	total := 0
	for _, size := range calls {
		if size > solana.MaxStatusBatch {
			t.Errorf("getSignatureStatuses asked for %d signatures, more than %d", size, solana.MaxStatusBatch)
		}
		total += size
	}
	if len(calls) != 2 || total != n {
		t.Errorf("getSignatureStatuses calls %v, want 2 covering the %d signatures", calls, n)
	}
	feePayer := env.sol.LN.FeePayers()[0].PublicKey().String()
	payer := env.sol.LN.Payers()[0].PublicKey().String()
	for i, c := range confirmed {
		wantStatus(t, c, chains.Confirmed, "")
		if c.TxHash != subs[i].Tx.Hash {
			t.Fatalf("payment %d: tx %s, want %s", i, c.TxHash, subs[i].Tx.Hash)
		}
		wantPayer := payer
		if i%2 == 0 {
			wantPayer = feePayer
		}
		if c.FeePayer != wantPayer {
			t.Errorf("payment %d: fee payer %s, want %s", i, c.FeePayer, wantPayer)
		}
	}
	// Each confirmation carries its own transaction's facts, as the chain serves them.
	for _, i := range []int{0, 1, n - 1} {
		c := confirmed[i]
		sig := solanago.MustSignatureFromBase58(c.TxHash)
		v0 := uint64(0)
		tx, err := env.sol.LN.RPC().GetTransaction(ctx, sig, &rpc.GetTransactionOpts{Commitment: rpc.CommitmentConfirmed, MaxSupportedTransactionVersion: &v0})
		if err != nil {
			t.Fatal(err)
		}
		parsed, err := tx.Transaction.GetTransaction()
		if err != nil {
			t.Fatal(err)
		}
		wantFee := strconv.FormatUint(tx.Meta.Fee, 10)
		if c.Block != tx.Slot || !c.At.Equal(tx.BlockTime.Time()) || c.Fee != wantFee || c.GasUsed != *tx.Meta.ComputeUnitsConsumed ||
			c.BlockHash != parsed.Message.RecentBlockhash.String() {
			t.Errorf("payment %d: got slot %d at %s fee %s CU %d blockhash %s; want %d, %s, %s, %d, %s", i, c.Block, c.At, c.Fee, c.GasUsed, c.BlockHash,
				tx.Slot, tx.BlockTime.Time(), wantFee, *tx.Meta.ComputeUnitsConsumed, parsed.Message.RecentBlockhash)
		}
		if c.GasUsed == 0 || c.Fee == "0" || c.At.IsZero() {
			t.Errorf("payment %d: CU %d fee %s at %s, want all set", i, c.GasUsed, c.Fee, c.At)
		}
	}

	// A network final at confirmed commitment counts them final now.
	atConfirmed := env.network
	atConfirmed.Finality.Commitment = "confirmed"
	early, err := solana.NewConfirmer(&atConfirmed, env.pool, solana.ConfirmOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range env.confirm(t, early, subs[:3]) {
		wantStatus(t, c, chains.Finalized, "")
	}

	env.advance(t, uint64(env.sol.LN.Manifest.FinalityDepthSlots)-2)
	for _, c := range env.confirm(t, env.conf, subs[:3]) {
		wantStatus(t, c, chains.Confirmed, "")
	}
	env.advance(t, 1)
	for i, c := range env.confirm(t, env.conf, subs) {
		wantStatus(t, c, chains.Finalized, "")
		if c.Block != confirmed[i].Block || c.Fee != confirmed[i].Fee || c.FeePayer != confirmed[i].FeePayer {
			t.Fatalf("payment %d: finalized %+v differs from confirmed %+v", i, c, confirmed[i])
		}
	}
}

// coSigned is the transaction the Submitter would record for a fee-payer
// payment, never sent.
func (env *confirmEnv) coSigned(t *testing.T, e *events.PaymentAccepted) chains.Submission {
	t.Helper()
	fp := env.sol.LN.FeePayers()[0]
	raw, sig, err := solana.CoSign(e.Transaction, fp)
	if err != nil {
		t.Fatal(err)
	}
	return chains.Submission{Payment: e, Tx: chains.Tx{Hash: sig.String(), Signer: fp.PublicKey().String(), Raw: raw}}
}

// TestConfirmDroppedWhenBlockhashExpires: a payment whose transaction never
// landed is pending while its blockhash is valid and dropped once it
// expired; one that landed with the same blockhash is not.
func TestConfirmDroppedWhenBlockhashExpires(t *testing.T) {
	t.Parallel()
	env := newConfirmEnv(t)
	bh := env.sol.Blockhash(t)
	landed := env.submitted(t, env.sol.Accepted(t, settlertest.Pay{FeePayer: true, Blockhash: bh}))[0]
	never := env.coSigned(t, env.sol.Accepted(t, settlertest.Pay{FeePayer: true, Blockhash: bh}))
	clientOnly := env.sol.Accepted(t, settlertest.Pay{Blockhash: bh})
	neverClient := chains.Submission{Payment: clientOnly, Tx: chains.Tx{Hash: clientOnly.TxHash}} // no recorded bytes: the event's transaction tells the blockhash
	subs := []chains.Submission{landed, never, neverClient}

	expiry := uint64(env.sol.LN.Manifest.BlockhashExpirySlots)
	env.advance(t, expiry)
	got := env.confirm(t, env.conf, subs)
	wantStatus(t, got[0], chains.Finalized, "")
	wantStatus(t, got[1], chains.Pending, "")
	wantStatus(t, got[2], chains.Pending, "")

	env.advance(t, 1) // the blockhash's last valid slot is behind
	got = env.confirm(t, env.conf, subs)
	wantStatus(t, got[0], chains.Finalized, "")
	for _, c := range got[1:] {
		wantStatus(t, c, chains.Dropped, h402.ReasonInvalidTransactionState)
		if !strings.Contains(c.Message, "expired") || !strings.Contains(c.Message, bh.String()) {
			t.Errorf("dropped message %q: want it to say the blockhash %s expired", c.Message, bh)
		}
	}
}

// sendUnchecked sends a payment's own transaction without preflight, so
// that a failing one lands (and pays its fee) as on Solana.
func (env *confirmEnv) sendUnchecked(t *testing.T, e *events.PaymentAccepted) chains.Submission {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(e.Transaction)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := env.sol.LN.RPC().SendRawTransactionWithOpts(context.Background(), raw, rpc.TransactionOpts{SkipPreflight: true})
	if err != nil {
		t.Fatalf("send without preflight: %v", err)
	}
	return chains.Submission{Payment: e, Tx: chains.Tx{Hash: sig.String(), Raw: raw}}
}

// TestConfirmFailedOnChain: a transaction that failed on chain (the payer
// lacks the tokens) is pending until final, then failed with
// insufficient_funds; its fee is still reported.
func TestConfirmFailedOnChain(t *testing.T) {
	t.Parallel()
	env := newConfirmEnv(t)
	sub := env.sendUnchecked(t, env.sol.Accepted(t, settlertest.Pay{Amount: 2_000_000_000_000})) // payers hold 1,000,000 tokens

	env.advance(t, 1)
	c := env.confirm(t, env.conf, []chains.Submission{sub})[0]
	wantStatus(t, c, chains.Pending, "")
	if c.TxHash != sub.Tx.Hash || !strings.Contains(c.Message, "not final") {
		t.Errorf("before finality: got tx %s message %q, want %s and why it waits", c.TxHash, c.Message, sub.Tx.Hash)
	}

	env.advance(t, uint64(env.sol.LN.Manifest.FinalityDepthSlots))
	c = env.confirm(t, env.conf, []chains.Submission{sub})[0]
	wantStatus(t, c, chains.Failed, h402.ReasonInsufficientFunds)
	if c.TxHash != sub.Tx.Hash || c.Fee == "" || c.Fee == "0" || c.FeePayer != sub.Payment.Payer {
		t.Errorf("failed: tx %s fee %q fee payer %s; want %s, a fee, the payer %s", c.TxHash, c.Fee, c.FeePayer, sub.Tx.Hash, sub.Payment.Payer)
	}
}

// TestConfirmJudgesThePaymentsOwnEffects: a final, successful transaction
// counts only for the payment whose transfer it made: to payTo, of the
// amount, from the payer.
func TestConfirmJudgesThePaymentsOwnEffects(t *testing.T) {
	t.Parallel()
	env := newConfirmEnv(t)
	subs := env.submitted(t,
		env.sol.Accepted(t, settlertest.Pay{Amount: 1000, FeePayer: true}),
		env.sol.Accepted(t, settlertest.Pay{Amount: 2000}))
	changed := func(i int, edit func(e *events.PaymentAccepted)) chains.Submission {
		e := *subs[i].Payment
		edit(&e)
		return chains.Submission{Payment: &e, Tx: subs[i].Tx}
	}
	elsewhere := solanago.NewWallet().PublicKey().String()
	cases := []struct {
		name   string
		sub    chains.Submission
		status chains.Finality
		reason h402.Reason
	}{
		{"paid as required", subs[0], chains.Finalized, ""},
		{"the transfer went elsewhere", changed(0, func(e *events.PaymentAccepted) { e.PayTo = elsewhere }), chains.Failed, h402.ReasonSolanaRecipientMismatch},
		{"wrong amount", changed(0, func(e *events.PaymentAccepted) { e.Amount = "1001" }), chains.Failed, h402.ReasonSolanaValue},
		{"another payment's transaction", chains.Submission{Payment: subs[0].Payment, Tx: subs[1].Tx}, chains.Failed, h402.ReasonSolanaValue},
		{"another payer", changed(1, func(e *events.PaymentAccepted) { e.Payer = elsewhere }), chains.Failed, h402.ReasonSolanaValue},
		{"another token", changed(1, func(e *events.PaymentAccepted) { e.Token = env.network.Tokens[1].Address }), chains.Failed, h402.ReasonSolanaRecipientMismatch},
	}
	all := make([]chains.Submission, len(cases))
	for i, tc := range cases {
		all[i] = tc.sub
	}

	env.advance(t, 1)
	early := env.confirm(t, env.conf, all)
	env.advance(t, uint64(env.sol.LN.Manifest.FinalityDepthSlots))
	final := env.confirm(t, env.conf, all)
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			want := chains.Confirmed
			if tc.status != chains.Finalized {
				want = chains.Pending // not counted, but not failed before it is final
			}
			wantStatus(t, early[i], want, "")
			wantStatus(t, final[i], tc.status, tc.reason)
			if final[i].TxHash != tc.sub.Tx.Hash {
				t.Errorf("tx %s, want %s", final[i].TxHash, tc.sub.Tx.Hash)
			}
		})
	}
}

// TestConfirmRPCErrorIsNoVerdict: with the endpoint down, Confirm and the
// Auditor return an error, never a confirmation.
func TestConfirmRPCErrorIsNoVerdict(t *testing.T) {
	t.Parallel()
	env := newConfirmEnv(t)
	subs := env.submitted(t, env.sol.Accepted(t, settlertest.Pay{FeePayer: true}))
	aud, err := solana.NewAuditor(&env.network, env.pool, solana.AuditOptions{})
	if err != nil {
		t.Fatal(err)
	}
	env.advance(t, uint64(env.sol.LN.Manifest.FinalityDepthSlots))
	ctx := context.Background()

	env.proxy.Down(t)
	if got, err := env.conf.Confirm(ctx, subs); err == nil || got != nil {
		t.Fatalf("Confirm with the endpoint down: got %+v, %v; want only an error", got, err)
	}
	if got, err := aud.TransfersIn(ctx, subs[0].Tx.Hash); err == nil || got != nil {
		t.Fatalf("TransfersIn with the endpoint down: got %+v, %v; want only an error", got, err)
	}
	if got, err := aud.SentBy(ctx, env.network.FeePayers, time.Time{}, time.Now().Add(time.Hour)); err == nil || got != nil {
		t.Fatalf("SentBy with the endpoint down: got %+v, %v; want only an error", got, err)
	}

	env.proxy.Up(t)
	// The breaker opened for OpenFor; wait on the outcome, not a fixed time.
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, err := env.conf.Confirm(ctx, subs)
		if err == nil {
			wantStatus(t, got[0], chains.Finalized, "")
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Confirm after the endpoint came back: %v", err)
		}
	}
}

func TestNewConfirmerAndAuditorConfig(t *testing.T) {
	t.Parallel()
	pool, err := solana.Dial(&config.Network{CAIP2: "solana:x", RPC: []string{"http://127.0.0.1:1"}}, failover.Settings{})
	if err != nil {
		t.Fatal(err)
	}
	good := config.Network{Namespace: h402.NamespaceSolana, NetworkID: "localnet", Finality: config.Finality{Commitment: "finalized"}}
	bad := good
	bad.Finality.Commitment = "safe"
	evm := good
	evm.Namespace = h402.NamespaceEVM
	for _, tc := range []struct {
		name    string
		network *config.Network
		pool    *solana.Pool
		ok      bool
	}{
		{"finalized", &good, pool, true},
		{"an EVM commitment", &bad, pool, false},
		{"an EVM network", &evm, pool, false},
		{"no pool", &good, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, cerr := solana.NewConfirmer(tc.network, tc.pool, solana.ConfirmOptions{})
			_, aerr := solana.NewAuditor(tc.network, tc.pool, solana.AuditOptions{})
			if (cerr == nil) != tc.ok || (aerr == nil) != tc.ok {
				t.Fatalf("got confirmer error %v, auditor error %v; want ok %v", cerr, aerr, tc.ok)
			}
		})
	}
	if _, err := solana.NewAuditor(&good, pool, solana.AuditOptions{PageSize: solana.MaxSignaturesPage + 1}); err == nil {
		t.Fatal("PageSize above the maximum: got no error")
	}
}

// TestConfirmSeesALandingBeforeTheExpiry: a transaction that lands between
// the status look-up and the blockhash check, just before its blockhash
// expires, is found by the second status look-up and not dropped.
func TestConfirmSeesALandingBeforeTheExpiry(t *testing.T) {
	t.Parallel()
	env := newConfirmEnv(t)
	sub := env.coSigned(t, env.sol.Accepted(t, settlertest.Pay{FeePayer: true}))
	env.advance(t, uint64(env.sol.LN.Manifest.BlockhashExpirySlots)) // the blockhash's last valid slot
	var ran atomic.Bool
	env.proxy.Once("isBlockhashValid", func() {
		ran.Store(true)
		ctx := context.Background()
		if _, err := env.sol.LN.RPC().SendRawTransaction(ctx, sub.Tx.Raw); err != nil {
			t.Errorf("land the transaction: %v", err)
		}
		if _, err := env.sol.LN.AdvanceSlots(ctx, 1); err != nil { // expires the blockhash, confirms the transaction
			t.Error(err)
		}
	})
	c := env.confirm(t, env.conf, []chains.Submission{sub})[0]
	if !ran.Load() {
		t.Fatal("Confirm never asked isBlockhashValid")
	}
	wantStatus(t, c, chains.Confirmed, "")
	if c.TxHash != sub.Tx.Hash {
		t.Errorf("tx %s, want %s", c.TxHash, sub.Tx.Hash)
	}
}

// nativeAccepted is the accepted event of a SOL payment of amount lamports
// from the localnet's first payer to the seller, verified as ingest does.
func (env *confirmEnv) nativeAccepted(t *testing.T, amount int64, feePayer bool) *events.PaymentAccepted {
	t.Helper()
	sol := &env.network.Tokens[2]
	amt := h402.NewDecimal(big.NewInt(amount))
	req := &h402.PaymentRequirements{
		Namespace: h402.NamespaceSolana, Scheme: h402.SchemeExact, NetworkID: env.network.NetworkID,
		TokenAddress: sol.Address, PayToAddress: env.sol.LN.Seller().String(), AmountRequired: &amt,
		AmountRequiredFormat: h402.FormatSmallestUnit, Resource: "https://seller.example/sol",
	}
	if feePayer {
		req.Extra = json.RawMessage(`{"feePayer":"` + env.network.FeePayers[0] + `"}`)
	}
	payload, err := solana.SignPayment(req, sol, env.sol.LN.Payers()[0], env.sol.Blockhash(t), solana.PayOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pay, err := solana.NewVerifier().Verify(&chains.Request{Requirements: req, Payload: payload, Network: &env.network, Token: sol,
		Amount: big.NewInt(amount), Policy: config.DefaultVerify(), Now: time.Now()})
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	e, err := chains.AcceptedEvent(pay, payload, req.Resource, "", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// TestConfirmNativeAndClientBroadcast: SOL payments are judged by lamport
// changes without the fee (the payer paying its own fee included), and a
// client-broadcast payment is found by the client's signature.
func TestConfirmNativeAndClientBroadcast(t *testing.T) {
	t.Parallel()
	env := newConfirmEnv(t)
	subs := env.submitted(t, env.nativeAccepted(t, 12_345, false), env.nativeAccepted(t, 23_456, true))
	broadcast := env.sol.Broadcast(t, settlertest.Pay{Amount: 777})
	broadcast.Payer = env.sol.LN.Payers()[0].PublicKey().String() // ingest's state check sets it; the fixture only verifies
	subs = append(subs, chains.Submission{Payment: broadcast})
	short := *subs[0].Payment
	short.Amount = "12344"
	subs = append(subs, chains.Submission{Payment: &short, Tx: subs[0].Tx})
	env.advance(t, uint64(env.sol.LN.Manifest.FinalityDepthSlots))
	got := env.confirm(t, env.conf, subs)
	for i, c := range got[:3] {
		wantStatus(t, c, chains.Finalized, "")
		if c.TxHash == "" || (i < 2 && c.TxHash != subs[i].Tx.Hash) || (i == 2 && c.TxHash != broadcast.TxHash) {
			t.Errorf("payment %d: tx %q", i, c.TxHash)
		}
	}
	wantStatus(t, got[3], chains.Failed, h402.ReasonSolanaValue)
}
