package solana_test

import (
	"context"
	"testing"
	"time"

	solanago "github.com/gagliardetto/solana-go"
	"github.com/gagliardetto/solana-go/rpc"

	"github.com/h402/settlement/pkg/chains"
	"github.com/h402/settlement/pkg/chains/solana"
	"github.com/h402/settlement/pkg/config"
	"github.com/h402/settlement/pkg/failover"
	"github.com/h402/settlement/pkg/h402"
	"github.com/h402/settlement/pkg/soldev"
	"github.com/h402/settlement/pkg/testenv"
)

// TestClientBroadcastBoundAndRecent: a client-broadcast payment on the
// localnet is accepted only with a signedMessage by a signer of its
// transaction over the binding message (that signer is the payer), and only
// while the transaction is recent.
func TestClientBroadcastBoundAndRecent(t *testing.T) {
	ln := testenv.StartSolana(t, soldev.Config{})
	network := testenv.SolanaNetwork(ln)
	pool, err := solana.Dial(&network, failover.Settings{})
	if err != nil {
		t.Fatal(err)
	}
	checker := solana.NewStateChecker(&network, pool, solana.StateOptions{})
	ctx := context.Background()
	token := &network.Tokens[0]
	payer := ln.Payers()[0]
	amount := h402.Decimal{Text: "4321", Quoted: true}
	req := &h402.PaymentRequirements{
		Namespace: h402.NamespaceSolana, Scheme: h402.SchemeExact, NetworkID: "localnet",
		TokenAddress: token.Address, PayToAddress: ln.Seller().String(), AmountRequired: &amount,
		AmountRequiredFormat: h402.FormatSmallestUnit, Resource: "https://api.example/report",
	}

	// The payer sends its own transfer and lets it reach the checker's commitment.
	bh, err := ln.RPC().GetLatestBlockhash(ctx, rpc.CommitmentConfirmed)
	if err != nil {
		t.Fatal(err)
	}
	signed, err := solana.SignPayment(req, token, payer, bh.Value.Blockhash, solana.PayOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tx, err := solanago.TransactionFromBase64(signed.Payload.(*h402.SolanaSignTransactionPayload).Transaction)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := ln.RPC().SendTransaction(ctx, tx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ln.AdvanceSlots(ctx, 2); err != nil {
		t.Fatal(err)
	}
	got, err := ln.RPC().GetTransaction(ctx, sig, &rpc.GetTransactionOpts{Commitment: rpc.CommitmentConfirmed})
	if err != nil || got.BlockTime == nil {
		t.Fatalf("getTransaction: %+v, %v; want a blockTime", got, err)
	}
	landed := got.BlockTime.Time()

	observer := solanago.NewWallet().PrivateKey
	otherResource := *req
	otherResource.Resource = "https://api.example/other"
	bind := func(key solanago.PrivateKey, resource string) *h402.PaymentPayload {
		p, err := solana.SignAndSendPayment(req, key, sig)
		if err != nil {
			t.Fatal(err)
		}
		bound, err := solana.SignBinding(key, resource, sig)
		if err != nil {
			t.Fatal(err)
		}
		p.Payload.(*h402.SolanaSignAndSendPayload).SignedMessage = bound
		return p
	}
	unbound := bind(payer, req.Resource)
	unbound.Payload.(*h402.SolanaSignAndSendPayload).SignedMessage = ""

	maxAge := time.Duration(config.DefaultVerify().ClientBroadcastMaxAge)
	cases := []struct {
		name      string
		payload   *h402.PaymentPayload
		now       time.Time
		want      h402.Reason // "" accepted
		wantPayer string
	}{
		{"bound by the payer", bind(payer, req.Resource), landed, "", payer.PublicKey().String()},
		{"bound by the payer, at the end of the window", bind(payer, req.Resource), landed.Add(maxAge), "", payer.PublicKey().String()},
		{"claimed by an observer of the chain", bind(observer, req.Resource), landed, h402.ReasonPaymentNotBound, ""},
		{"bound to another resource", bind(payer, otherResource.Resource), landed, h402.ReasonPaymentNotBound, ""},
		{"not bound at all", unbound, landed, h402.ReasonPaymentNotBound, ""},
		{"too old", bind(payer, req.Resource), landed.Add(maxAge + 2*time.Second), h402.ReasonTransactionTooOld, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			amt, _ := req.Amount(token.Decimals)
			r := &chains.Request{Requirements: req, Payload: tc.payload, Network: &network, Token: token, Amount: amt,
				Policy: config.DefaultVerify(), Now: tc.now}
			p, err := solana.NewVerifier().Verify(r)
			if err == nil {
				_, err = checker.CheckState(ctx, r, p)
			}
			if tc.want != "" {
				if reason := h402.ReasonOf(err, ""); reason != tc.want {
					t.Fatalf("reason %q (err %v), want %q", reason, err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatalf("got %v, want accepted", err)
			}
			if p.Payer != tc.wantPayer {
				t.Errorf("payer %s, want %s", p.Payer, tc.wantPayer)
			}
		})
	}
}
