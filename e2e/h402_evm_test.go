package e2e

import (
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/h402/settlement/pkg/chains/evm"
	"github.com/h402/settlement/pkg/h402"
)

// TestH402EVM pays with every EVM payload type of the h402 dialect and
// checks each lands exactly once and its replays are refused.
func TestH402EVM(t *testing.T) {
	p := startPipeline(t, false)
	payers := p.evm.Payers()
	amount := big.NewInt(20_000)
	chainID := p.evm.ChainID()

	t.Run("authorization", func(t *testing.T) {
		seller, key := freshAddress(), payers[4]
		req := p.evmReq(seller, amount)
		pp, header, err := evm.SignAuthorization(&req, key, p.usdc(), time.Now(), evm.AuthorizationOptions{})
		if err != nil {
			t.Fatal(err)
		}
		a := pp.Payload.(*h402.EVMAuthorizationPayload).Authorization
		from, nonce := common.HexToAddress(a.From), common.HexToHash(a.Nonce)
		id := evm.AuthorizationKey(chainID, p.evm.Token(), from, nonce)
		body := h402Body(t, header, req)
		p.run(t, payment{
			dialect: dialectH402, body: body, id: id,
			// The seller names its request; another request presenting
			// the same payment is refused and told the payment id.
			headers: []string{"Idempotency-Key", "e2e-request-1"},
			replays: func(t *testing.T) {
				p.settleRefused(t, dialectH402, body, id, "Idempotency-Key", "e2e-request-2")
			},
			landed: p.authorizationLanded(seller, amount, from, nonce),
		})
	})

	t.Run("signedTransaction", func(t *testing.T) {
		seller, key := freshAddress(), payers[5]
		req := p.evmReq(seller, amount)
		nonce := p.pendingNonce(t, key)
		pp, header, err := evm.SignTransaction(&req, key, p.usdc(), evm.TxOptions{Nonce: nonce})
		if err != nil {
			t.Fatal(err)
		}
		var tx types.Transaction
		if err := tx.UnmarshalBinary(common.FromHex(pp.Payload.(*h402.EVMSignedTransactionPayload).SignedTransaction)); err != nil {
			t.Fatal(err)
		}
		sender := crypto.PubkeyToAddress(key.PublicKey)
		p.run(t, payment{
			dialect: dialectH402, body: h402Body(t, header, req),
			id: evm.TransactionKey(chainID, sender, nonce),
			landed: func(t *testing.T, reported string) {
				if !strings.EqualFold(reported, tx.Hash().Hex()) {
					t.Errorf("ingest reports tx %s, want the client's signed tx %s", reported, tx.Hash().Hex())
				}
				if r := p.receipt(t, tx.Hash()); r.Status != types.ReceiptStatusSuccessful {
					t.Errorf("signed transaction %s reverted", tx.Hash().Hex())
				}
				p.landsOnceEVM(t, seller, amount)
				if got := p.pendingNonce(t, key); got != nonce+1 {
					t.Errorf("sender nonce after settlement: got %d, want %d (the payment's nonce used once)", got, nonce+1)
				}
			},
		})
	})

	t.Run("signAndSendTransaction", func(t *testing.T) {
		seller, key := freshAddress(), payers[6]
		req := p.evmReq(seller, amount)
		// The client broadcasts its transfer itself, then reports it.
		tx := types.MustSignNewTx(key, types.LatestSignerForChainID(chainID), &types.DynamicFeeTx{
			ChainID: chainID, Nonce: p.pendingNonce(t, key), To: ptr(p.evm.Token()), Data: evm.TransferCalldata(seller, amount),
			Gas: 100_000, GasTipCap: big.NewInt(1e9), GasFeeCap: big.NewInt(1e11),
		})
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := p.evm.Client().SendTransaction(ctx, tx); err != nil {
			t.Fatalf("client broadcast: %v", err)
		}
		if r := p.receipt(t, tx.Hash()); r.Status != types.ReceiptStatusSuccessful {
			t.Fatalf("client transfer %s reverted", tx.Hash().Hex())
		}
		_, header, err := evm.SignAndSendPayload(&req, key, tx.Hash())
		if err != nil {
			t.Fatal(err)
		}
		p.run(t, payment{
			dialect: dialectH402, body: h402Body(t, header, req),
			id: evm.TxHashKey(chainID, tx.Hash()),
			landed: func(t *testing.T, reported string) {
				if !strings.EqualFold(reported, tx.Hash().Hex()) {
					t.Errorf("ingest reports tx %s, want the client's %s", reported, tx.Hash().Hex())
				}
				p.landsOnceEVM(t, seller, amount)
			},
		})
	})
}

// evmReq asks for amount of the dev chain's test USDC paid to seller.
func (p *pipeline) evmReq(seller common.Address, amount *big.Int) h402.PaymentRequirements {
	d := h402.NewDecimal(amount)
	lifetime := 300
	return h402.PaymentRequirements{
		Namespace: h402.NamespaceEVM, Scheme: h402.SchemeExact, NetworkID: p.cfg.Networks[0].NetworkID,
		TokenAddress: strings.ToLower(p.evm.Token().Hex()), PayToAddress: strings.ToLower(seller.Hex()),
		AmountRequired: &d, AmountRequiredFormat: h402.FormatSmallestUnit,
		Resource: "https://api.example/report", EstimatedProcessingTime: &lifetime,
	}
}

func (p *pipeline) pendingNonce(t *testing.T, key *ecdsa.PrivateKey) uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	n, err := p.evm.Client().PendingNonceAt(ctx, crypto.PubkeyToAddress(key.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// h402Body is the h402 /verify and /settle body.
func h402Body(t *testing.T, header string, req h402.PaymentRequirements) []byte {
	t.Helper()
	b, err := json.Marshal(h402.RequestBody{Payload: header, PaymentRequirements: req})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func ptr[T any](v T) *T { return &v }
