package solana

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"math/big"
	"testing"
	"time"

	solanago "github.com/gagliardetto/solana-go"
	computebudget "github.com/gagliardetto/solana-go/programs/compute-budget"
	"github.com/gagliardetto/solana-go/programs/system"

	"github.com/h402/settlement/pkg/chains"
	"github.com/h402/settlement/pkg/config"
	"github.com/h402/settlement/pkg/h402"
)

const testAmount = 10_000 // 0.01 of a 6-decimal token, in smallest units

// fixture holds real ed25519 keys made for one test.
type fixture struct {
	client    solanago.PrivateKey // the payer
	feePayer  solanago.PrivateKey // the facilitator's fee payer
	other     solanago.PrivateKey // a third party
	payTo     solanago.PublicKey
	mint      solanago.PublicKey
	blockhash solanago.Hash
	network   config.Network
}

func newKey(t testing.TB) solanago.PrivateKey {
	t.Helper()
	k, err := solanago.NewRandomPrivateKey()
	if err != nil {
		t.Fatalf("new key: %v", err)
	}
	return k
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	f := &fixture{
		client:   newKey(t),
		feePayer: newKey(t),
		other:    newKey(t),
		payTo:    newKey(t).PublicKey(),
		mint:     newKey(t).PublicKey(),
	}
	if _, err := rand.Read(f.blockhash[:]); err != nil {
		t.Fatal(err)
	}
	f.network = config.Network{
		Namespace: h402.NamespaceSolana,
		NetworkID: "localnet",
		FeePayers: []string{f.feePayer.PublicKey().String()},
	}
	return f
}

func (f *fixture) token(kind config.TokenKind) *config.Token {
	switch kind {
	case config.KindNative:
		return &config.Token{Symbol: "SOL", Address: h402.SolanaNativeToken, Decimals: 9, Kind: kind}
	default:
		return &config.Token{Symbol: "USDC", Address: f.mint.String(), Decimals: 6, Kind: kind}
	}
}

// requirements asks for testAmount smallest units; withFeePayer offers our fee payer.
func (f *fixture) requirements(kind config.TokenKind, withFeePayer bool) *h402.PaymentRequirements {
	amt := h402.NewDecimal(big.NewInt(testAmount))
	r := &h402.PaymentRequirements{
		Namespace:            h402.NamespaceSolana,
		Scheme:               h402.SchemeExact,
		NetworkID:            "localnet",
		TokenAddress:         f.token(kind).Address,
		PayToAddress:         f.payTo.String(),
		AmountRequired:       &amt,
		AmountRequiredFormat: h402.FormatSmallestUnit,
		Resource:             "https://seller.example/paid",
	}
	if withFeePayer {
		r.Extra = json.RawMessage(`{"feePayer":"` + f.feePayer.PublicKey().String() + `"}`)
	}
	return r
}

func (f *fixture) request(t testing.TB, req *h402.PaymentRequirements, kind config.TokenKind, p *h402.PaymentPayload) *chains.Request {
	t.Helper()
	tok := f.token(kind)
	amt, err := req.Amount(tok.Decimals)
	if err != nil {
		t.Fatalf("requirement amount: %v", err)
	}
	return &chains.Request{
		Requirements: req,
		Payload:      p,
		Network:      &f.network,
		Token:        tok,
		Amount:       amt,
		Policy:       config.DefaultVerify(),
		Now:          time.Now(),
	}
}

// signed is SignPayment that fails the test on error.
func (f *fixture) signed(t testing.TB, req *h402.PaymentRequirements, kind config.TokenKind, opts PayOptions) *h402.PaymentPayload {
	t.Helper()
	p, err := SignPayment(req, f.token(kind), f.client, f.blockhash, opts)
	if err != nil {
		t.Fatalf("sign payment: %v", err)
	}
	return p
}

// txPayload builds a transaction from ixs with the given fee payer, signs it
// with signers (slots of other signers stay empty), and wraps it in a payload.
func (f *fixture) txPayload(t testing.TB, feePayer solanago.PublicKey, ixs []solanago.Instruction, signers ...solanago.PrivateKey) *h402.PaymentPayload {
	t.Helper()
	tx, err := solanago.NewTransaction(ixs, f.blockhash, solanago.TransactionPayer(feePayer))
	if err != nil {
		t.Fatalf("new transaction: %v", err)
	}
	return f.signTx(t, tx, signers...)
}

func (f *fixture) signTx(t testing.TB, tx *solanago.Transaction, signers ...solanago.PrivateKey) *h402.PaymentPayload {
	t.Helper()
	if _, err := tx.PartialSign(func(k solanago.PublicKey) *solanago.PrivateKey {
		for i := range signers {
			if signers[i].PublicKey() == k {
				return &signers[i]
			}
		}
		return nil
	}); err != nil {
		t.Fatalf("sign: %v", err)
	}
	b64, err := tx.ToBase64()
	if err != nil {
		t.Fatalf("encode: %v", err)
	}
	return payloadOf(b64, "")
}

func payloadOf(txBase64, sig string) *h402.PaymentPayload {
	return &h402.PaymentPayload{
		H402Version: h402.Version,
		Scheme:      h402.SchemeExact,
		Namespace:   h402.NamespaceSolana,
		NetworkID:   "localnet",
		Payload:     &h402.SolanaSignTransactionPayload{Type: h402.TypeSignTransaction, Transaction: txBase64, Signature: sig},
	}
}

func txText(t testing.TB, p *h402.PaymentPayload) string {
	t.Helper()
	sp, ok := p.Payload.(*h402.SolanaSignTransactionPayload)
	if !ok {
		t.Fatalf("payload is %T, want signTransaction", p.Payload)
	}
	return sp.Transaction
}

// Instruction helpers for hand-built transactions.

func cuLimit(n uint32) solanago.Instruction {
	return computebudget.NewSetComputeUnitLimitInstruction(n).Build()
}

func cuPrice(n uint64) solanago.Instruction {
	return computebudget.NewSetComputeUnitPriceInstruction(n).Build()
}

func sysTransfer(from, to solanago.PublicKey, lamports uint64) solanago.Instruction {
	return system.NewTransferInstruction(lamports, from, to).Build()
}

func ata(t testing.TB, owner, mint, program solanago.PublicKey) solanago.PublicKey {
	t.Helper()
	a, err := AssociatedTokenAddress(owner, mint, program)
	if err != nil {
		t.Fatalf("ata: %v", err)
	}
	return a
}

// createATAIx creates wallet's ATA of mint under program, funded by funder.
func createATAIx(t testing.TB, funder, wallet, mint, program solanago.PublicKey) solanago.Instruction {
	t.Helper()
	return createATAIdempotentInstruction(funder, ata(t, wallet, mint, program), wallet, mint, program)
}

// tokenTransfer moves amount from owner's ATA to destOwner's ATA, both under program.
func tokenTransfer(t testing.TB, program, owner, mint, destOwner solanago.PublicKey, amount uint64, decimals uint8) solanago.Instruction {
	t.Helper()
	return transferCheckedInstruction(program, ata(t, owner, mint, program), mint, ata(t, destOwner, mint, program), owner, amount, decimals)
}

func wantReason(t testing.TB, err error, want h402.Reason) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want reason %s", want)
	}
	var e *h402.Error
	if !errors.As(err, &e) {
		t.Fatalf("got error %T %v, want *h402.Error with reason %s", err, err, want)
	}
	if e.Reason != want {
		t.Fatalf("got reason %s (%s), want %s", e.Reason, e.Message, want)
	}
	if e.Message == "" {
		t.Fatalf("error with reason %s has no human sentence", e.Reason)
	}
}

// sendPayment is SignAndSendPayment bound by key, failing the test on error.
func sendPayment(t testing.TB, req *h402.PaymentRequirements, key solanago.PrivateKey, sig solanago.Signature) *h402.PaymentPayload {
	t.Helper()
	p, err := SignAndSendPayment(req, key, sig)
	if err != nil {
		t.Fatalf("SignAndSendPayment: %v", err)
	}
	return p
}
