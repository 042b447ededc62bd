package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"math/big"
	"testing"
	"time"

	solanago "github.com/gagliardetto/solana-go"
	"github.com/gagliardetto/solana-go/rpc"

	"github.com/h402/settlement/pkg/chains/solana"
	"github.com/h402/settlement/pkg/h402"
)

// TestSolana pays the localnet with the h402 Solana payload types and with
// the published @x402/svm client, and checks each lands exactly once and
// its replays are refused.
func TestSolana(t *testing.T) {
	p := startPipeline(t, true)
	payers := p.sol.Payers()
	const amount = 30_000

	for _, tt := range []struct {
		name     string
		feePayer bool
		payer    solanago.PrivateKey
	}{
		{"signTransaction client pays the fee", false, payers[0]},
		{"signTransaction facilitator fee payer", true, payers[1]},
	} {
		t.Run(tt.name, func(t *testing.T) {
			seller := solanago.NewWallet().PublicKey()
			req := p.solReq(seller, amount, tt.feePayer)
			pp, err := solana.SignPayment(&req, p.solUSDC(), tt.payer, p.blockhash(t), solana.PayOptions{})
			if err != nil {
				t.Fatal(err)
			}
			header, err := h402.EncodePaymentHeader(pp)
			if err != nil {
				t.Fatal(err)
			}
			sp := pp.Payload.(*h402.SolanaSignTransactionPayload)
			p.run(t, payment{
				dialect: dialectH402, body: h402Body(t, header, req),
				id: solanaMessageKey(t, sp.Transaction),
				landed: func(t *testing.T, tx string) {
					if !tt.feePayer && tx != sp.Signature {
						t.Errorf("ingest reports tx %s, want the client's signature %s", tx, sp.Signature)
					}
					p.landsOnceSolana(t, seller, 0, amount, tx)
				},
			})
		})
	}

	t.Run("x402 v2 @x402/svm 2.27", func(t *testing.T) {
		// @x402/svm builds a transfer without CreateATA (the seller's
		// token account must exist: the localnet's seller has one) and only
		// talks to the three public Solana networks, so the localnet is
		// configured under the devnet's CAIP-2 id, its RPC given explicitly.
		seller := p.sol.Seller()
		before := p.splBalance(t, seller)
		req := map[string]any{
			"scheme": "exact", "network": h402.CAIP2SolanaDevnet, "amount": big.NewInt(amount).String(),
			"payTo": seller.String(), "maxTimeoutSeconds": 60, "asset": p.solUSDC().Address,
			"extra": map[string]any{"feePayer": p.solNetwork().FeePayers[0]},
		}
		body, pp := nodePay(t, map[string]any{
			"client": "@x402/svm", "x402Version": 2, "privateKey": keygenJSON(payers[2]),
			"paymentRequirements": req, "rpcUrl": p.sol.URL(),
		})
		payload, _ := pp["payload"].(map[string]any)
		txb64, _ := payload["transaction"].(string)
		p.run(t, payment{
			dialect: dialectX402, body: body, network: h402.CAIP2SolanaDevnet, viaNode: "@x402/core",
			id: solanaMessageKey(t, txb64),
			landed: func(t *testing.T, tx string) {
				p.landsOnceSolana(t, seller, before, amount, tx)
			},
		})
	})
}

// solReq asks for amount of the localnet's USDC paid to seller.
func (p *pipeline) solReq(seller solanago.PublicKey, amount int64, feePayer bool) h402.PaymentRequirements {
	d := h402.NewDecimal(big.NewInt(amount))
	r := h402.PaymentRequirements{
		Namespace: h402.NamespaceSolana, Scheme: h402.SchemeExact, NetworkID: p.solNetwork().NetworkID,
		TokenAddress: p.solUSDC().Address, PayToAddress: seller.String(),
		AmountRequired: &d, AmountRequiredFormat: h402.FormatSmallestUnit, Resource: "https://api.example/report",
	}
	if feePayer {
		r.Extra = json.RawMessage(`{"feePayer":"` + p.solNetwork().FeePayers[0] + `"}`)
	}
	return r
}

func (p *pipeline) blockhash(t *testing.T) solanago.Hash {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := p.sol.RPC().GetLatestBlockhash(ctx, rpc.CommitmentConfirmed)
	if err != nil {
		t.Fatalf("latest blockhash: %v", err)
	}
	return out.Value.Blockhash
}

// solanaMessageKey is the replay key (PROTOCOL.md §6) of a base64 wire
// transaction on the localnet: the hash of its message bytes, which follow
// the signature count (compact-u16) and the 64-byte signatures.
func solanaMessageKey(t *testing.T, txBase64 string) string {
	t.Helper()
	wire, err := base64.StdEncoding.DecodeString(txBase64)
	if err != nil || len(wire) == 0 {
		t.Fatalf("transaction is not base64: %v", err)
	}
	n, off := 0, 0
	for shift := 0; off < len(wire) && off < 3; shift += 7 {
		b := wire[off]
		off++
		n |= int(b&0x7f) << shift
		if b&0x80 == 0 {
			break
		}
	}
	off += 64 * n
	if off >= len(wire) {
		t.Fatalf("transaction of %d bytes holds no message after %d signatures", len(wire), n)
	}
	sum := sha256.Sum256(wire[off:])
	return "solana.localnet.msg." + hex.EncodeToString(sum[:])
}

// keygenJSON is a private key as solana-keygen writes it.
func keygenJSON(k solanago.PrivateKey) string {
	nums := make([]int, len(k))
	for i, b := range k {
		nums[i] = int(b)
	}
	out, _ := json.Marshal(nums)
	return string(out)
}
