package main

import (
	"context"
	"encoding/json"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/crypto"
	solanago "github.com/gagliardetto/solana-go"
	"github.com/gagliardetto/solana-go/rpc"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/h402/settlement/pkg/chains/evm"
	"github.com/h402/settlement/pkg/chains/solana"
	"github.com/h402/settlement/pkg/config"
	"github.com/h402/settlement/pkg/contracts"
	"github.com/h402/settlement/pkg/events"
	"github.com/h402/settlement/pkg/exposure"
	"github.com/h402/settlement/pkg/h402"
)

// TestEVMPayloadsAccepted: every EVM payload type is accepted through
// /settle, lands on the PAYMENTS stream under its replay key, and is
// visible at GET /payments/{id}.
func TestEVMPayloadsAccepted(t *testing.T) {
	h := newHarness(t, false)
	_, url := h.ingest("a", nil)
	payer := h.evm.Payers()[1]
	usdc := h.evm.Token().Hex()
	ctx := context.Background()

	native := h.evmReq(h402.EVMNativeToken, "1000000000")
	nonce, _ := h.evm.Client().PendingNonceAt(ctx, crypto.PubkeyToAddress(payer.PublicKey))
	_, nativeTx, err := evm.SignTransaction(&native, payer, &h.cfg.Networks[0].Tokens[1], evm.TxOptions{Nonce: nonce, GasFeeCap: big.NewInt(1e11)})
	if err != nil {
		t.Fatal(err)
	}
	// A client-broadcast ERC-20 payment: sent and mined before it is posted.
	bcReq := h.evmReq(usdc, "4200")
	broadcast := h.sendTx(h.evm.Payers()[2], h.evm.Token(), nil, evm.TransferCalldata(common.HexToAddress(bcReq.PayToAddress), big.NewInt(4200)))
	_, bcHeader, err := evm.SignAndSendPayload(&bcReq, h.evm.Payers()[2], broadcast.Hash())
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name     string
		req      h402.PaymentRequirements
		header   string
		wantType string
		idPrefix string
	}{
		{"authorization", h.evmReq(usdc, "10000"), h.authorize(h.evmReq(usdc, "10000"), payer), h402.VerifyTypePayload, "evm.84532.auth."},
		{"native signedTransaction", native, nativeTx, h402.VerifyTypePayload, "evm.84532.tx."},
		{"client-broadcast signAndSendTransaction", bcReq, bcHeader, h402.VerifyTypeTransaction, "evm.84532.hash."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := post(t, url+"/verify", body(tt.header, tt.req))
			if v.Status != 200 || v.Body["isValid"] != true || v.str("type") != tt.wantType {
				t.Fatalf("/verify = %d %v; want 200 valid of type %s", v.Status, v.Body, tt.wantType)
			}
			s := post(t, url+"/settle", body(tt.header, tt.req))
			id := s.str("paymentId")
			if s.Status != 200 || s.Body["success"] != true || s.str("state") != "accepted" || !strings.HasPrefix(id, tt.idPrefix) {
				t.Fatalf("/settle = %d %v; want 200 accepted with an id starting %s", s.Status, s.Body, tt.idPrefix)
			}
			if s.Header.Get("X-PAYMENT-RESPONSE") == "" {
				t.Errorf("/settle set no X-PAYMENT-RESPONSE header")
			}
			ev := acceptedEvent(t, h, id)
			if ev.ID != id || ev.Settle != (tt.wantType == h402.VerifyTypePayload) || ev.Version != events.PaymentAcceptedVersion {
				t.Errorf("stored event = %+v; want id %s, settle %v, version %d", ev, id, tt.wantType == h402.VerifyTypePayload, events.PaymentAcceptedVersion)
			}
			if ev.Settle && ev.Authorization == nil && ev.SignedTransaction == "" && ev.Transaction == "" {
				t.Errorf("stored event %s carries no settlement data", id)
			}
			p := get(t, url+"/payments/"+id)
			if p.Status != 200 || p.str("state") != "accepted" {
				t.Errorf("GET /payments/%s = %d %v; want accepted", id, p.Status, p.Body)
			}
		})
	}
	if a := get(t, url+"/payments/evm.84532.auth.0xnope"); a.Status != 404 {
		t.Errorf("unknown payment: status %d, want 404", a.Status)
	}
}

// acceptedEvent reads the PaymentAccepted stored under a payment id.
func acceptedEvent(t *testing.T, h *harness, id string) *events.PaymentAccepted {
	t.Helper()
	_, js := h.js.Connect(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := js.OrderedConsumer(ctx, events.StreamPayments, jetstream.OrderedConsumerConfig{FilterSubjects: []string{"payments.accepted.>"}})
	if err != nil {
		t.Fatal(err)
	}
	for {
		m, err := c.Next(jetstream.FetchMaxWait(2 * time.Second))
		if err != nil {
			t.Fatalf("payment %s not found on the stream: %v", id, err)
		}
		if m.Headers().Get(jetstream.MsgIDHeader) != id {
			continue
		}
		ev, err := events.DecodePaymentAccepted(m.Data())
		if err != nil {
			t.Fatal(err)
		}
		return ev
	}
}

// TestReplayAcrossReplicas: one payment is accepted once across two ingest
// replicas sharing one JetStream; the same request repeated, in any
// encoding, is answered the same (idempotent); /verify of it is refused.
func TestReplayAcrossReplicas(t *testing.T) {
	h := newHarness(t, false)
	_, a := h.ingest("a", nil)
	_, b := h.ingest("b", nil)
	req := h.evmReq(h.evm.Token().Hex(), "10000")
	header := h.authorize(req, h.evm.Payers()[3])

	first := post(t, a+"/settle", body(header, req))
	if first.Status != 200 || first.Body["success"] != true {
		t.Fatalf("first settle on a: %d %v", first.Status, first.Body)
	}
	again := post(t, b+"/settle", body(header, req))
	if again.Status != 200 || again.str("paymentId") != first.str("paymentId") || again.Body["success"] != true {
		t.Errorf("same request on b: %d %v; want the same accepted answer", again.Status, again.Body)
	}
	// The same payment in another encoding (URL-safe, unpadded) is the same
	// payment: /settle repeats its answer, /verify refuses it as used.
	urlSafe := strings.NewReplacer("+", "-", "/", "_").Replace(strings.TrimRight(header, "="))
	for _, url := range []string{a, b} {
		r := post(t, url+"/settle", body(urlSafe, req))
		if r.Status != 200 || r.Body["success"] != true || r.str("paymentId") != first.str("paymentId") {
			t.Errorf("re-encoded repeat on %s: %d %v; want the first answer", url, r.Status, r.Body)
		}
		v := post(t, url+"/verify", body(urlSafe, req))
		if v.Status != 400 || v.str("invalidReason") != string(h402.ReasonPaymentAlreadyUsed) || v.str("error") == "" || v.str("paymentId") != first.str("paymentId") {
			t.Errorf("re-encoded replay /verify on %s: %d %v; want 400 payment_already_used with error and paymentId", url, v.Status, v.Body)
		}
	}
	// The same payment for other requirements (another resource) is a replay.
	other2 := req
	other2.Description = "another description, same payment"
	r := post(t, a+"/settle", body(header, other2))
	if r.Status != 400 || r.str("errorReason") != string(h402.ReasonPaymentAlreadyUsed) || r.str("paymentId") != first.str("paymentId") || r.str("state") != "accepted" {
		t.Errorf("same payment, other requirements: %d %v; want 400 payment_already_used with the paymentId and state", r.Status, r.Body)
	}
}

// TestChainStateRejections: each chain-state rule of PROTOCOL.md §5 is
// reachable through HTTP with its own reason.
func TestChainStateRejections(t *testing.T) {
	h := newHarness(t, true)
	_, url := h.ingest("a", nil)
	ctx := context.Background()
	usdc := h.evm.Token().Hex()

	// A payer with ether but no tokens.
	broke := h.freshKey(0)
	// An authorization already used on chain (submitted directly by someone else).
	usedReq := h.evmReq(usdc, "10000")
	usedPayload, usedHeader, err := evm.SignAuthorization(&usedReq, h.evm.Payers()[4], h.evmToken(), time.Now(), evm.AuthorizationOptions{})
	if err != nil {
		t.Fatal(err)
	}
	auth := usedPayload.Payload.(*h402.EVMAuthorizationPayload)
	sig := hexutil.MustDecode(auth.Signature)
	nonce := [32]byte(hexutil.MustDecode(auth.Authorization.Nonce))
	va, _ := auth.Authorization.ValidAfter.Uint()
	vb, _ := auth.Authorization.ValidBefore.Uint()
	h.sendTx(h.evm.Facilitators()[0], h.evm.Token(), nil, contracts.NewTestUSDC().PackTransferWithAuthorizationBytes(
		common.HexToAddress(auth.Authorization.From), common.HexToAddress(auth.Authorization.To), big.NewInt(10000), va, vb, nonce, sig))

	// signedTransaction nonces: one already used, one leaving a gap.
	native := h.evmReq(h402.EVMNativeToken, "1000")
	nativeToken := &h.cfg.Networks[0].Tokens[1]
	sender := h.evm.Payers()[5]
	next, _ := h.evm.Client().PendingNonceAt(ctx, crypto.PubkeyToAddress(sender.PublicKey))
	h.sendTx(sender, common.HexToAddress(native.PayToAddress), big.NewInt(1), nil) // uses `next`
	_, usedNonceTx, _ := evm.SignTransaction(&native, sender, nativeToken, evm.TxOptions{Nonce: next, GasFeeCap: big.NewInt(1e11)})
	_, gapTx, _ := evm.SignTransaction(&native, sender, nativeToken, evm.TxOptions{Nonce: next + 5, GasFeeCap: big.NewInt(1e11)})

	// A client-broadcast hash that was never mined.
	bcReq := h.evmReq(usdc, "5")
	_, unminedHeader, _ := evm.SignAndSendPayload(&bcReq, sender, common.HexToHash("0x"+strings.Repeat("ab", 32)))

	// A client-broadcast ERC-20 transfer of 4200, claimed by someone else,
	// and claimed by its sender against a requirement of 5000.
	bcPaid := h.evmReq(usdc, "4200")
	paidTx := h.sendTx(h.evm.Payers()[6], h.evm.Token(), nil, evm.TransferCalldata(common.HexToAddress(bcPaid.PayToAddress), big.NewInt(4200)))
	_, notSenderHeader, _ := evm.SignAndSendPayload(&bcPaid, h.evm.Payers()[7], paidTx.Hash())
	bcMore := h.evmReq(usdc, "5000")
	_, wrongAmountHeader, _ := evm.SignAndSendPayload(&bcMore, h.evm.Payers()[6], paidTx.Hash())

	// Solana: an expired blockhash, and a payer without the tokens.
	solToken := &h.cfg.Networks[1].Tokens[0]
	solReq := h.solReq(solToken.Address, "5000", false)
	oldHash := h.blockhash()
	expiredHeader, err := solana.PaymentHeader(&solReq, solToken, h.sol.Payers()[0], oldHash, solana.PayOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.sol.AdvanceSlots(ctx, uint64(h.sol.Manifest.BlockhashExpirySlots)+1); err != nil {
		t.Fatal(err)
	}
	poor := solanago.NewWallet().PrivateKey
	if _, err := h.sol.RPC().RequestAirdrop(ctx, poor.PublicKey(), 1e9, rpc.CommitmentConfirmed); err != nil {
		t.Fatal(err)
	}
	if _, err := h.sol.AdvanceSlots(ctx, 1); err != nil {
		t.Fatal(err)
	}
	poorHeader, err := solana.PaymentHeader(&solReq, solToken, poor, h.blockhash(), solana.PayOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// A Solana client-broadcast payment of 5000 claimed against a requirement of 6000.
	sentPayload, err := solana.SignPayment(&solReq, solToken, h.sol.Payers()[1], h.blockhash(), solana.PayOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sentTx, _ := solanago.TransactionFromBase64(sentPayload.Payload.(*h402.SolanaSignTransactionPayload).Transaction)
	sentSig, err := h.sol.RPC().SendTransaction(ctx, sentTx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.sol.AdvanceSlots(ctx, uint64(h.sol.Manifest.FinalityDepthSlots)+1); err != nil {
		t.Fatal(err)
	}
	solMore := h.solReq(solToken.Address, "6000", false)
	solShortPayload, _ := solana.SignAndSendPayment(&solMore, h.sol.Payers()[1], sentSig)
	solShortHeader, _ := h402.EncodePaymentHeader(solShortPayload)
	// The same landed transfer, claimed by someone who only saw it on chain.
	observerPayload, _ := solana.SignAndSendPayment(&solReq, solanago.NewWallet().PrivateKey, sentSig)
	observerHeader, _ := h402.EncodePaymentHeader(observerPayload)

	tests := []struct {
		name   string
		header string
		req    h402.PaymentRequirements
		want   h402.Reason
	}{
		{"evm balance zero", h.authorize(h.evmReq(usdc, "10000"), broke), h.evmReq(usdc, "10000"), h402.ReasonInsufficientFunds},
		{"evm authorization nonce used on chain", usedHeader, usedReq, h402.ReasonNonceAlreadyUsed},
		{"evm tx nonce already used", usedNonceTx, native, h402.ReasonNonceAlreadyUsed},
		{"evm tx nonce gap", gapTx, native, h402.ReasonNonceGap},
		{"evm broadcast not mined", unminedHeader, bcReq, h402.ReasonInvalidTransactionState},
		{"evm broadcast claimed by another key", notSenderHeader, bcPaid, h402.ReasonEVMSignedMessage},
		{"evm broadcast pays less than required", wrongAmountHeader, bcMore, h402.ReasonEVMValue},
		{"solana broadcast pays less than required", solShortHeader, solMore, h402.ReasonSolanaValue},
		{"solana broadcast claimed by an observer", observerHeader, solReq, h402.ReasonPaymentNotBound},
		{"solana blockhash expired", expiredHeader, solReq, h402.ReasonInvalidTransactionState},
		{"solana payer without tokens", poorHeader, solReq, h402.ReasonInvalidTransactionState},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, route := range []string{"/verify", "/settle"} {
				a := post(t, url+route, body(tt.header, tt.req))
				reason := a.str("invalidReason") + a.str("errorReason")
				if a.Status != 400 || reason != string(tt.want) {
					t.Errorf("%s = %d %v; want 400 %s", route, a.Status, a.Body, tt.want)
				}
			}
		})
	}
}

// TestExposure: a payer's pending payments never exceed its balance; a
// released reservation makes room again.
func TestExposure(t *testing.T) {
	h := newHarness(t, false)
	_, a := h.ingest("a", nil)
	_, b := h.ingest("b", nil)
	key := h.freshKey(25_000) // covers two payments of 10,000, not three
	usdc := h.evm.Token().Hex()
	var ids []string
	for i, url := range []string{a, b, a} {
		req := h.evmReq(usdc, "10000")
		s := post(t, url+"/settle", body(h.authorize(req, key), req))
		switch i {
		case 0, 1:
			if s.Status != 200 {
				t.Fatalf("payment %d: %d %v; want accepted", i, s.Status, s.Body)
			}
			ids = append(ids, s.str("paymentId"))
		case 2:
			if s.Status != 400 || s.str("errorReason") != string(h402.ReasonInsufficientFunds) {
				t.Fatalf("third payment: %d %v; want 400 insufficient_funds", s.Status, s.Body)
			}
		}
	}
	// The watcher's release (final or failed) makes room again.
	_, js := h.js.Connect(t)
	kv, _ := js.KeyValue(context.Background(), events.BucketExposure)
	if err := exposure.New(kv).Release(context.Background(), ids[0]); err != nil {
		t.Fatal(err)
	}
	req := h.evmReq(usdc, "10000")
	if s := post(t, b+"/settle", body(h.authorize(req, key), req)); s.Status != 200 {
		t.Errorf("after a release: %d %v; want accepted", s.Status, s.Body)
	}
}

// TestSignedTransactionExposure: native signedTransactions with consecutive
// nonces are accepted one after another (the replay guard vouches for the
// nonce before each), and each reserves its value plus its gas (gas limit ×
// max fee) against the sender's balance.
func TestSignedTransactionExposure(t *testing.T) {
	h := newHarness(t, false)
	_, url := h.ingest("a", nil)
	key := h.freshKey(0) // 1 ether
	nonce, err := h.evm.Client().NonceAt(context.Background(), crypto.PubkeyToAddress(key.PublicKey), nil)
	if err != nil {
		t.Fatal(err)
	}
	// Each payment: 0.332 ether + 21,000 gas × 100 gwei = 0.3341 ether; two
	// fit in 1 ether, three do not (three values alone would).
	req := h.evmReq(h402.EVMNativeToken, "332000000000000000")
	for i := range 3 {
		_, header, err := evm.SignTransaction(&req, key, &h.cfg.Networks[0].Tokens[1], evm.TxOptions{Nonce: nonce + uint64(i), GasFeeCap: big.NewInt(1e11)})
		if err != nil {
			t.Fatal(err)
		}
		s := post(t, url+"/settle", body(header, req))
		if i < 2 && s.Status != 200 {
			t.Fatalf("payment %d: %d %v; want accepted", i, s.Status, s.Body)
		}
		if i == 2 && (s.Status != 400 || s.str("errorReason") != string(h402.ReasonInsufficientFunds)) {
			t.Fatalf("payment %d: %d %v; want 400 insufficient_funds (its gas is not covered)", i, s.Status, s.Body)
		}
	}
}

// TestSolanaPayloadsAccepted: client-signed, fee-payer and client-broadcast
// Solana payments are accepted.
func TestSolanaPayloadsAccepted(t *testing.T) {
	h := newHarness(t, true)
	_, url := h.ingest("a", nil)
	ctx := context.Background()
	spl, t22, sol := &h.cfg.Networks[1].Tokens[0], &h.cfg.Networks[1].Tokens[1], &h.cfg.Networks[1].Tokens[2]
	bh := h.blockhash()
	sign := func(tok *config.Token, amount string, feePayer bool, payer int) (string, h402.PaymentRequirements) {
		req := h.solReq(tok.Address, amount, feePayer)
		header, err := solana.PaymentHeader(&req, tok, h.sol.Payers()[payer], bh, solana.PayOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return header, req
	}
	// Client-broadcast: sent and finalized before it is posted.
	bcReq := h.solReq(spl.Address, "777", false)
	bcPayload, err := solana.SignPayment(&bcReq, spl, h.sol.Payers()[3], bh, solana.PayOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tx, _ := solanago.TransactionFromBase64(bcPayload.Payload.(*h402.SolanaSignTransactionPayload).Transaction)
	sig, err := h.sol.RPC().SendTransaction(ctx, tx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.sol.AdvanceSlots(ctx, uint64(h.sol.Manifest.FinalityDepthSlots)+1); err != nil {
		t.Fatal(err)
	}
	bound, err := solana.SignAndSendPayment(&bcReq, h.sol.Payers()[3], sig)
	if err != nil {
		t.Fatal(err)
	}
	bcHeader, _ := h402.EncodePaymentHeader(bound)

	cases := []struct {
		name   string
		header string
		req    h402.PaymentRequirements
		prefix string
	}{}
	for _, c := range []struct {
		name     string
		tok      *config.Token
		feePayer bool
		payer    int
	}{{"spl", spl, false, 0}, {"token-2022", t22, false, 1}, {"native sol", sol, false, 2}, {"spl with facilitator fee payer", spl, true, 1}} {
		header, req := sign(c.tok, "5000", c.feePayer, c.payer)
		cases = append(cases, struct {
			name   string
			header string
			req    h402.PaymentRequirements
			prefix string
		}{c.name, header, req, "solana.localnet.msg."})
	}
	cases = append(cases, struct {
		name   string
		header string
		req    h402.PaymentRequirements
		prefix string
	}{"client-broadcast", bcHeader, bcReq, "solana.localnet.sig."})
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			s := post(t, url+"/settle", body(tt.header, tt.req))
			if s.Status != 200 || s.Body["success"] != true || !strings.HasPrefix(s.str("paymentId"), tt.prefix) {
				t.Fatalf("/settle = %d %v; want accepted with id %s…", s.Status, s.Body, tt.prefix)
			}
		})
	}
}

// TestX402Dialects: an x402 v1 and an x402 v2 request are verified and
// accepted, and answered in their own shapes.
func TestX402Dialects(t *testing.T) {
	h := newHarness(t, false)
	_, url := h.ingest("a", nil)
	usdc := h.evm.Token().Hex()
	for _, version := range []int{1, 2} {
		req := h.evmReq(usdc, "10000")
		// As @x402/evm signs it: validAfter 0, validBefore now + maxTimeoutSeconds.
		p, _, err := evm.SignAuthorization(&req, h.evm.Payers()[6], h.evmToken(), time.Now(),
			evm.AuthorizationOptions{ValidAfter: time.Unix(0, 0), ValidBefore: time.Now().Add(60 * time.Second)})
		if err != nil {
			t.Fatal(err)
		}
		auth := p.Payload.(*h402.EVMAuthorizationPayload)
		inner := map[string]any{"signature": auth.Signature, "authorization": map[string]any{
			"from": auth.Authorization.From, "to": auth.Authorization.To, "value": auth.Authorization.Value.Text,
			"validAfter": auth.Authorization.ValidAfter.Text, "validBefore": auth.Authorization.ValidBefore.Text, "nonce": auth.Authorization.Nonce,
		}}
		extra := map[string]any{"name": "USD Coin", "version": "2"}
		var b map[string]any
		if version == 1 {
			reqs := map[string]any{"scheme": "exact", "network": "base-sepolia", "maxAmountRequired": "10000", "resource": req.Resource,
				"description": "", "mimeType": "application/json", "payTo": req.PayToAddress, "maxTimeoutSeconds": 60, "asset": usdc, "extra": extra}
			b = map[string]any{"x402Version": 1, "paymentRequirements": reqs,
				"paymentPayload": map[string]any{"x402Version": 1, "scheme": "exact", "network": "base-sepolia", "payload": inner}}
		} else {
			reqs := map[string]any{"scheme": "exact", "network": "eip155:84532", "amount": "10000", "payTo": req.PayToAddress,
				"maxTimeoutSeconds": 60, "asset": usdc, "extra": extra}
			b = map[string]any{"x402Version": 2, "paymentRequirements": reqs,
				"paymentPayload": map[string]any{"x402Version": 2, "resource": map[string]any{"url": req.Resource}, "accepted": reqs, "payload": inner}}
		}
		v := post(t, url+"/verify", b)
		if v.Status != 200 || v.Body["isValid"] != true || !strings.EqualFold(v.str("payer"), auth.Authorization.From) {
			t.Fatalf("x402 v%d /verify = %d %v; want valid with payer", version, v.Status, v.Body)
		}
		s := post(t, url+"/settle", b)
		if s.Status != 200 || s.Body["success"] != true {
			t.Fatalf("x402 v%d /settle = %d %v", version, s.Status, s.Body)
		}
		if _, ok := s.Body["network"]; !ok {
			t.Errorf("x402 v%d settle answer has no network: %v", version, s.Body)
		}
		if _, ok := s.Body["transaction"]; !ok {
			t.Errorf("x402 v%d settle answer has no transaction: %v", version, s.Body)
		}
		// x402 answers an invalid payment with 200 and isValid false; a
		// verify of a payment already taken is never valid.
		bad := post(t, url+"/verify", b)
		if bad.Status != 200 || bad.Body["isValid"] != false || bad.str("invalidReason") != string(h402.ReasonPaymentAlreadyUsed) {
			t.Errorf("x402 v%d /verify of a settled payment = %d %v; want 200 isValid false payment_already_used", version, bad.Status, bad.Body)
		}
		inner["signature"] = "0x" + strings.Repeat("11", 65)
		inv := post(t, url+"/verify", b)
		if inv.Status != 200 || inv.Body["isValid"] != false || inv.str("invalidReason") == "" {
			t.Errorf("x402 v%d invalid /verify = %d %v; want 200 isValid false with a reason", version, inv.Status, inv.Body)
		}
	}
	sup := get(t, url+"/supported")
	kinds, _ := json.Marshal(sup.Body["kinds"])
	for _, want := range []string{`"network":"eip155:84532"`, `"network":"base-sepolia"`} {
		if !strings.Contains(string(kinds), want) {
			t.Errorf("/supported kinds %s lack %s", kinds, want)
		}
	}
}
