package main

import (
	"context"
	"errors"
	"math/big"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/crypto"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/h402/settlement/pkg/chains/evm"
	"github.com/h402/settlement/pkg/config"
	"github.com/h402/settlement/pkg/events"
	"github.com/h402/settlement/pkg/h402"
)

// TestSignedTransactionThatCannotBeMined: a client transaction whose fee cap
// is below the chain's current base fee, or that offers no tip, is never
// included, so accepting it would serve the buyer while its funds never
// move (and nothing fails, so the payer is never blocked). Ingest refuses it.
func TestSignedTransactionThatCannotBeMined(t *testing.T) {
	h := newHarness(t, false)
	_, url := h.ingest("a", nil)
	ctx := context.Background()
	head, err := h.evm.Client().HeaderByNumber(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if head.BaseFee == nil || head.BaseFee.Cmp(big.NewInt(2)) < 0 {
		t.Fatalf("dev chain base fee %v; the test needs one of at least 2 wei", head.BaseFee)
	}
	native := h.evmReq(h402.EVMNativeToken, "1000")
	nativeToken := &h.cfg.Networks[0].Tokens[1]
	for i, tc := range []struct {
		name        string
		tip, feeCap *big.Int
	}{
		{"fee cap below the base fee", big.NewInt(1), new(big.Int).Rsh(head.BaseFee, 1)},
		{"no tip", big.NewInt(0), big.NewInt(1e11)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sender := h.evm.Payers()[3+i]
			nonce, err := h.evm.Client().NonceAt(ctx, crypto.PubkeyToAddress(sender.PublicKey), nil)
			if err != nil {
				t.Fatal(err)
			}
			_, header, err := evm.SignTransaction(&native, sender, nativeToken, evm.TxOptions{Nonce: nonce, GasTipCap: tc.tip, GasFeeCap: tc.feeCap})
			if err != nil {
				t.Fatal(err)
			}
			s := post(t, url+"/settle", body(header, native))
			if s.Status == 200 || s.Body["success"] == true || s.str("errorReason") != string(h402.ReasonEVMTransaction) {
				t.Errorf("/settle of an unmineable transaction = %d %v; want 400 %s", s.Status, s.Body, h402.ReasonEVMTransaction)
			}
		})
	}
}

// TestRetryFinishesAKeptClaimAtFullBalance: when a publish and its undo
// both fail, ingest keeps the claim and the reservation and the seller's
// identical retry must finish the job. The retry must not reserve the
// payment a second time: for a payer whose balance covers the payment once,
// that would refuse the retry with insufficient_funds and drop the claim
// while its reservation stays.
func TestRetryFinishesAKeptClaimAtFullBalance(t *testing.T) {
	h := newHarness(t, false)
	fault, url := h.ingestFaulty("a")
	usdc := h.evm.Token().Hex()
	req := h.evmReq(usdc, "10000")
	payer := h.freshKey(10000) // its balance covers this payment once
	p, header, err := evm.SignAuthorization(&req, payer, h.evmToken(), time.Now(), evm.AuthorizationOptions{})
	if err != nil {
		t.Fatal(err)
	}
	settleDuringBlip(t, fault, url, header, req)
	r := post(t, url+"/settle", body(header, req))
	if r.Status != 200 || r.Body["success"] != true || r.str("state") != "accepted" {
		t.Fatalf("identical retry = %d %v; want accepted (the claim and reservation kept for it)", r.Status, r.Body)
	}
	storedAccepted(t, h, p)
	if v := post(t, url+"/verify", body(header, req)); v.str("invalidReason") != string(h402.ReasonPaymentAlreadyUsed) {
		t.Errorf("/verify after = %d %v; want payment_already_used", v.Status, v.Body)
	}
}

// TestSignedTransactionClaimOutlivesItsTTL: a client's signed transaction
// never expires, so its replay key must not either. With the key in the
// TTL bucket, an accepted transaction that is not mined by the time the key
// expires (the settler down, or the transaction priced out of the pool) is
// accepted a second time for another request: two services, one payment.
func TestSignedTransactionClaimOutlivesItsTTL(t *testing.T) {
	const dedupWindow = 100 * time.Millisecond // the server's minimum
	h := newHarness(t, false)
	short := h.js.Streams
	short.ReplayTTL, short.Duplicates = 8*time.Second, dedupWindow
	h.js.Reconfigure(t, short) // ingest refuses to shrink them itself
	_, url := h.ingest("a", func(c *config.Config) {
		c.NATS.ReplayTTL = config.Duration(short.ReplayTTL)
		c.NATS.Duplicates = config.Duration(short.Duplicates)
		c.Verify.MaxValidity = config.Duration(7 * time.Second)
	})
	ctx := context.Background()
	native := h.evmReq(h402.EVMNativeToken, "1000")
	sender := h.evm.Payers()[3]
	nonce, err := h.evm.Client().NonceAt(ctx, crypto.PubkeyToAddress(sender.PublicKey), nil)
	if err != nil {
		t.Fatal(err)
	}
	_, header, err := evm.SignTransaction(&native, sender, &h.cfg.Networks[0].Tokens[1], evm.TxOptions{Nonce: nonce, GasFeeCap: big.NewInt(1e11)})
	if err != nil {
		t.Fatal(err)
	}
	first := post(t, url+"/settle", body(header, native), "Idempotency-Key", "first")
	published := time.Now() // the event was stored before the answer
	id := first.str("paymentId")
	if first.Status != 200 || first.Body["success"] != true {
		t.Fatalf("first /settle = %d %v", first.Status, first.Body)
	}
	// Wait past the replay TTL (the key would be gone from h402_replay by now).
	replay := h.js.KeyValue(t, events.BucketReplay)
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := replay.Get(ctx, id); errors.Is(err, jetstream.ErrKeyNotFound) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	// And past the Nats-Msg-Id window: the server forgets an id one window
	// after its publish, on a purge timer that fires at least every 50 ms.
	time.Sleep(time.Until(published.Add(dedupWindow + 100*time.Millisecond)))
	second := post(t, url+"/settle", body(header, native), "Idempotency-Key", "second")
	if second.Status == 200 || second.str("errorReason") != string(h402.ReasonPaymentAlreadyUsed) {
		t.Errorf("same transaction for another request after the replay TTL = %d %v; want payment_already_used", second.Status, second.Body)
	}
}
