package settlertest

import (
	"context"
	"encoding/json"
	"fmt"
	"math/big"
	"sync/atomic"
	"testing"
	"time"

	solanago "github.com/gagliardetto/solana-go"
	"github.com/gagliardetto/solana-go/rpc"

	"github.com/h402/settlement/pkg/chains"
	"github.com/h402/settlement/pkg/chains/solana"
	"github.com/h402/settlement/pkg/config"
	"github.com/h402/settlement/pkg/events"
	"github.com/h402/settlement/pkg/h402"
	"github.com/h402/settlement/pkg/soldev"
	"github.com/h402/settlement/pkg/testenv"
)

// Solana makes accepted-payment events on a running localnet, the way
// ingest does: signed with the payer signer, checked by the Solana verifier.
type Solana struct {
	LN      *soldev.Localnet
	Network config.Network
	memo    atomic.Uint64
}

// NewSolana serves the localnet's network config (its fee payers included).
func NewSolana(ln *soldev.Localnet) *Solana {
	return &Solana{LN: ln, Network: testenv.SolanaNetwork(ln)}
}

// Pay describes one payment.
type Pay struct {
	// Payer signs the transfer (default: the localnet's first payer).
	Payer solanago.PrivateKey
	// Amount in USDC smallest units (default 1000).
	Amount uint64
	// FeePayer asks the facilitator's first fee payer to pay the fee (the
	// fee-payer variant); otherwise the payer pays it.
	FeePayer bool
	// Blockhash to sign with (default: the latest).
	Blockhash solanago.Hash
}

// USDC is the network's SPL token.
func (s *Solana) USDC() *config.Token { return &s.Network.Tokens[0] }

// Blockhash is the chain's latest blockhash.
func (s *Solana) Blockhash(t testing.TB) solanago.Hash {
	t.Helper()
	out, err := s.LN.RPC().GetLatestBlockhash(context.Background(), rpc.CommitmentProcessed)
	if err != nil {
		t.Fatalf("getLatestBlockhash: %v", err)
	}
	return out.Value.Blockhash
}

func (s *Solana) requirements(p *Pay) *h402.PaymentRequirements {
	amt := h402.NewDecimal(new(big.Int).SetUint64(p.Amount))
	r := &h402.PaymentRequirements{
		Namespace:            h402.NamespaceSolana,
		Scheme:               h402.SchemeExact,
		NetworkID:            s.Network.NetworkID,
		TokenAddress:         s.USDC().Address,
		PayToAddress:         s.LN.Seller().String(),
		AmountRequired:       &amt,
		AmountRequiredFormat: h402.FormatSmallestUnit,
		Resource:             "https://seller.example/paid",
	}
	if p.FeePayer {
		r.Extra = json.RawMessage(`{"feePayer":"` + s.Network.FeePayers[0] + `"}`)
	}
	return r
}

func (s *Solana) defaults(t testing.TB, p Pay) Pay {
	t.Helper()
	if p.Payer == nil {
		p.Payer = s.LN.Payers()[0]
	}
	if p.Amount == 0 {
		p.Amount = 1000
	}
	if p.Blockhash.IsZero() {
		p.Blockhash = s.Blockhash(t)
	}
	return p
}

// Accepted signs a signTransaction payment and returns its accepted event.
// Each call adds a unique memo, so that equal payments differ.
func (s *Solana) Accepted(t testing.TB, p Pay) *events.PaymentAccepted {
	t.Helper()
	p = s.defaults(t, p)
	req := s.requirements(&p)
	payload, err := solana.SignPayment(req, s.USDC(), p.Payer, p.Blockhash, solana.PayOptions{
		Memo:          fmt.Sprintf("h402 settler test %d", s.memo.Add(1)),
		SkipCreateATA: true,
	})
	if err != nil {
		t.Fatalf("sign payment: %v", err)
	}
	return s.accept(t, req, payload)
}

// Injected returns an accepted event ingest never verified: the payment of
// p signed with opts, which may break the rules ingest applies (a huge
// compute-unit price), as a writer with access to the log could publish it.
func (s *Solana) Injected(t testing.TB, p Pay, opts solana.PayOptions) *events.PaymentAccepted {
	t.Helper()
	p = s.defaults(t, p)
	e := s.Accepted(t, p)
	opts.Memo = fmt.Sprintf("h402 settler test %d", s.memo.Add(1))
	opts.SkipCreateATA = true
	payload, err := solana.SignPayment(s.requirements(&p), s.USDC(), p.Payer, p.Blockhash, opts)
	if err != nil {
		t.Fatalf("sign payment: %v", err)
	}
	if err := e.SetPayload(payload); err != nil {
		t.Fatalf("injected event: %v", err)
	}
	return e
}

// Broadcast signs a payment the client sends itself, sends it, and returns
// the accepted event of its signAndSendTransaction payload (Settle false).
func (s *Solana) Broadcast(t testing.TB, p Pay) *events.PaymentAccepted {
	t.Helper()
	p = s.defaults(t, p)
	p.FeePayer = false
	req := s.requirements(&p)
	tx, err := solana.BuildPayment(req, s.USDC(), p.Payer.PublicKey(), p.Blockhash, solana.PayOptions{
		Memo:          fmt.Sprintf("h402 settler test %d", s.memo.Add(1)),
		SkipCreateATA: true,
	})
	if err != nil {
		t.Fatalf("build payment: %v", err)
	}
	if _, err := tx.Sign(func(k solanago.PublicKey) *solanago.PrivateKey {
		if k == p.Payer.PublicKey() {
			return &p.Payer
		}
		return nil
	}); err != nil {
		t.Fatalf("sign: %v", err)
	}
	sig, err := s.LN.RPC().SendTransaction(context.Background(), tx)
	if err != nil {
		t.Fatalf("client broadcast: %v", err)
	}
	payload, err := solana.SignAndSendPayment(req, p.Payer, sig)
	if err != nil {
		t.Fatalf("bind: %v", err)
	}
	return s.accept(t, req, payload)
}

// accept verifies the payload locally and builds the event ingest would publish.
func (s *Solana) accept(t testing.TB, req *h402.PaymentRequirements, payload *h402.PaymentPayload) *events.PaymentAccepted {
	t.Helper()
	tok := s.USDC()
	amount, err := req.Amount(tok.Decimals)
	if err != nil {
		t.Fatalf("requirement amount: %v", err)
	}
	pay, err := solana.NewVerifier().Verify(&chains.Request{
		Requirements: req,
		Payload:      payload,
		Network:      &s.Network,
		Token:        tok,
		Amount:       amount,
		Policy:       config.DefaultVerify(),
		Now:          time.Now(),
	})
	if err != nil {
		t.Fatalf("verify payment: %v", err)
	}
	e, err := chains.AcceptedEvent(pay, payload, req.Resource, "", time.Now())
	if err != nil {
		t.Fatalf("accepted event: %v", err)
	}
	return e
}

// SellerUSDC is the seller's USDC balance in smallest units.
func (s *Solana) SellerUSDC(t testing.TB) uint64 {
	t.Helper()
	ata, err := s.LN.Mints.USDC.ATA(s.LN.Seller())
	if err != nil {
		t.Fatal(err)
	}
	out, err := s.LN.RPC().GetTokenAccountBalance(context.Background(), ata, rpc.CommitmentProcessed)
	if err != nil {
		t.Fatalf("seller balance: %v", err)
	}
	v, ok := new(big.Int).SetString(out.Value.Amount, 10)
	if !ok {
		t.Fatalf("seller balance %q", out.Value.Amount)
	}
	return v.Uint64()
}

// Statuses returns the chain's status of each signature (nil: unknown).
func (s *Solana) Statuses(t testing.TB, hashes []string) []*rpc.SignatureStatusesResult {
	t.Helper()
	var out []*rpc.SignatureStatusesResult
	for start := 0; start < len(hashes); start += 200 {
		end := min(start+200, len(hashes))
		sigs := make([]solanago.Signature, 0, end-start)
		for _, h := range hashes[start:end] {
			sig, err := solanago.SignatureFromBase58(h)
			if err != nil {
				t.Fatalf("signature %q: %v", h, err)
			}
			sigs = append(sigs, sig)
		}
		res, err := s.LN.RPC().GetSignatureStatuses(context.Background(), true, sigs...)
		if err != nil {
			t.Fatalf("getSignatureStatuses: %v", err)
		}
		out = append(out, res.Value...)
	}
	return out
}
