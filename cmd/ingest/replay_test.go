package main

import (
	"context"
	"errors"
	"math/big"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/h402/settlement/pkg/chains/evm"
	"github.com/h402/settlement/pkg/contracts"
	"github.com/h402/settlement/pkg/events"
	"github.com/h402/settlement/pkg/h402"
)

// land puts an EIP-3009 authorization on chain as a settler would.
func (h *harness) land(p *h402.PaymentPayload) {
	h.t.Helper()
	auth := p.Payload.(*h402.EVMAuthorizationPayload)
	value, _ := auth.Authorization.Value.Uint()
	va, _ := auth.Authorization.ValidAfter.Uint()
	vb, _ := auth.Authorization.ValidBefore.Uint()
	h.sendTx(h.evm.Facilitators()[0], h.evm.Token(), nil, contracts.NewTestUSDC().PackTransferWithAuthorizationBytes(
		common.HexToAddress(auth.Authorization.From), common.HexToAddress(auth.Authorization.To), value, va, vb,
		[32]byte(hexutil.MustDecode(auth.Authorization.Nonce)), hexutil.MustDecode(auth.Signature)))
}

// x402V2Body is the body an x402 v2 resource server posts for an EVM
// authorization payload p paying req.
func x402V2Body(req h402.PaymentRequirements, p *h402.PaymentPayload, extensions map[string]any) map[string]any {
	auth := p.Payload.(*h402.EVMAuthorizationPayload)
	inner := map[string]any{"signature": auth.Signature, "authorization": map[string]any{
		"from": auth.Authorization.From, "to": auth.Authorization.To, "value": auth.Authorization.Value.Text,
		"validAfter": auth.Authorization.ValidAfter.Text, "validBefore": auth.Authorization.ValidBefore.Text, "nonce": auth.Authorization.Nonce,
	}}
	reqs := map[string]any{"scheme": "exact", "network": "eip155:84532", "amount": req.AmountRequired.Text, "payTo": req.PayToAddress,
		"maxTimeoutSeconds": 60, "asset": req.TokenAddress, "extra": map[string]any{"name": "USD Coin", "version": "2"}}
	payload := map[string]any{"x402Version": 2, "resource": map[string]any{"url": req.Resource}, "accepted": reqs, "payload": inner}
	if extensions != nil {
		payload["extensions"] = extensions
	}
	return map[string]any{"x402Version": 2, "paymentRequirements": reqs, "paymentPayload": payload}
}

// TestReplayAnswersBeforeAndAfterLanding: once a payment is accepted,
// /verify never calls it valid again (both dialects), and the identical
// /settle repeats its first answer, also after the payment is on chain
// (where verification alone would say "nonce used").
func TestReplayAnswersBeforeAndAfterLanding(t *testing.T) {
	h := newHarness(t, false)
	_, url := h.ingest("a", nil)
	usdc := h.evm.Token().Hex()

	t.Run("h402", func(t *testing.T) {
		req := h.evmReq(usdc, "10000")
		p, header, err := evm.SignAuthorization(&req, h.evm.Payers()[1], h.evmToken(), time.Now(), evm.AuthorizationOptions{})
		if err != nil {
			t.Fatal(err)
		}
		first := post(t, url+"/settle", body(header, req))
		id := first.str("paymentId")
		if first.Status != 200 || first.Body["success"] != true || id == "" {
			t.Fatalf("first /settle = %d %v", first.Status, first.Body)
		}
		for _, stage := range []string{"before landing", "after landing"} {
			if stage == "after landing" {
				h.land(p)
			}
			v := post(t, url+"/verify", body(header, req))
			if v.Status != 400 || v.str("invalidReason") != string(h402.ReasonPaymentAlreadyUsed) || v.str("paymentId") != id || v.str("state") != "accepted" || v.str("error") == "" {
				t.Errorf("%s: /verify = %d %v; want 400 payment_already_used with paymentId %s and state accepted", stage, v.Status, v.Body, id)
			}
			s := post(t, url+"/settle", body(header, req))
			if s.Status != 200 || s.Body["success"] != true || s.str("paymentId") != id || s.str("state") != "accepted" {
				t.Errorf("%s: identical /settle = %d %v; want the first answer again", stage, s.Status, s.Body)
			}
		}
	})

	t.Run("x402 v2", func(t *testing.T) {
		req := h.evmReq(usdc, "10000")
		p, _, err := evm.SignAuthorization(&req, h.evm.Payers()[2], h.evmToken(), time.Now(), evm.AuthorizationOptions{})
		if err != nil {
			t.Fatal(err)
		}
		b := x402V2Body(req, p, nil)
		first := post(t, url+"/settle", b)
		if first.Status != 200 || first.Body["success"] != true {
			t.Fatalf("first /settle = %d %v", first.Status, first.Body)
		}
		for _, stage := range []string{"before landing", "after landing"} {
			if stage == "after landing" {
				h.land(p)
			}
			v := post(t, url+"/verify", b)
			if v.Status != 200 || v.Body["isValid"] != false || v.str("invalidReason") != string(h402.ReasonPaymentAlreadyUsed) || v.str("paymentId") != first.str("paymentId") {
				t.Errorf("%s: /verify = %d %v; want 200 isValid false payment_already_used with paymentId %s", stage, v.Status, v.Body, first.str("paymentId"))
			}
			s := post(t, url+"/settle", b)
			if s.Status != 200 || s.Body["success"] != true || s.str("paymentId") != first.str("paymentId") {
				t.Errorf("%s: identical /settle = %d %v; want success again", stage, s.Status, s.Body)
			}
		}
	})

	t.Run("client broadcast is remembered for good", func(t *testing.T) {
		bcReq := h.evmReq(usdc, "4200")
		tx := h.sendTx(h.evm.Payers()[3], h.evm.Token(), nil, evm.TransferCalldata(common.HexToAddress(bcReq.PayToAddress), big.NewInt(4200)))
		_, header, err := evm.SignAndSendPayload(&bcReq, h.evm.Payers()[3], tx.Hash())
		if err != nil {
			t.Fatal(err)
		}
		s := post(t, url+"/settle", body(header, bcReq))
		id := s.str("paymentId")
		if s.Status != 200 || s.Body["success"] != true {
			t.Fatalf("/settle = %d %v", s.Status, s.Body)
		}
		if _, err := h.js.KeyValue(t, events.BucketUsed).Get(context.Background(), id); err != nil {
			t.Errorf("client-broadcast payment %s not in %s (the bucket without TTL): %v", id, events.BucketUsed, err)
		}
		v := post(t, url+"/verify", body(header, bcReq))
		if v.Status != 400 || v.str("invalidReason") != string(h402.ReasonPaymentAlreadyUsed) {
			t.Errorf("/verify of a used client transfer = %d %v; want payment_already_used", v.Status, v.Body)
		}
	})
}

// TestIdempotencyKeys: the Idempotency-Key header and the x402 v2
// payment-identifier extension name the seller's request: the same key
// repeats the first answer; another key (or none) for the taken payment is
// refused with the payment's id and state.
func TestIdempotencyKeys(t *testing.T) {
	h := newHarness(t, false)
	_, url := h.ingest("a", nil)
	usdc := h.evm.Token().Hex()

	t.Run("header", func(t *testing.T) {
		req := h.evmReq(usdc, "10000")
		header := h.authorize(req, h.evm.Payers()[1])
		first := post(t, url+"/settle", body(header, req), "Idempotency-Key", "order-1")
		id := first.str("paymentId")
		if first.Status != 200 || first.Body["success"] != true {
			t.Fatalf("first /settle = %d %v", first.Status, first.Body)
		}
		again := post(t, url+"/settle", body(header, req), "Idempotency-Key", "order-1")
		if again.Status != 200 || again.str("paymentId") != id || again.Body["success"] != true {
			t.Errorf("same key: %d %v; want the first answer", again.Status, again.Body)
		}
		for name, hdr := range map[string][]string{"another key": {"Idempotency-Key", "order-2"}, "no key": nil} {
			r := post(t, url+"/settle", body(header, req), hdr...)
			if r.Status != 400 || r.str("errorReason") != string(h402.ReasonPaymentAlreadyUsed) || r.str("paymentId") != id || r.str("state") != "accepted" {
				t.Errorf("%s: %d %v; want 400 payment_already_used with paymentId %s and state accepted", name, r.Status, r.Body, id)
			}
		}
		bad := post(t, url+"/settle", body(header, req), "Idempotency-Key", "spaces are not allowed")
		if bad.Status != 400 || bad.str("errorReason") != string(h402.ReasonInvalidIdempotencyKey) || bad.str("error") == "" {
			t.Errorf("malformed key: %d %v; want 400 invalid_idempotency_key with a sentence", bad.Status, bad.Body)
		}
	})

	t.Run("x402 v2 payment-identifier", func(t *testing.T) {
		req := h.evmReq(usdc, "10000")
		p, _, err := evm.SignAuthorization(&req, h.evm.Payers()[2], h.evmToken(), time.Now(), evm.AuthorizationOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ext := func(id string) map[string]any {
			return map[string]any{"payment-identifier": map[string]any{"info": map[string]any{"id": id}}}
		}
		first := post(t, url+"/settle", x402V2Body(req, p, ext("pay_0123456789abcdef")))
		if first.Status != 200 || first.Body["success"] != true {
			t.Fatalf("first /settle = %d %v", first.Status, first.Body)
		}
		again := post(t, url+"/settle", x402V2Body(req, p, ext("pay_0123456789abcdef")))
		if again.Status != 200 || again.Body["success"] != true {
			t.Errorf("same payment identifier: %d %v; want success again", again.Status, again.Body)
		}
		other := post(t, url+"/settle", x402V2Body(req, p, ext("pay_fedcba9876543210")))
		if other.Status != 200 || other.Body["success"] != false || other.str("errorReason") != string(h402.ReasonPaymentAlreadyUsed) {
			t.Errorf("another payment identifier: %d %v; want success false payment_already_used", other.Status, other.Body)
		}
	})
}

// TestPaddingStaysAtTheEdge: a payer's padding in x402 v2 extensions does
// not reach the event log: the accepted event carries only what settlement
// needs.
func TestPaddingStaysAtTheEdge(t *testing.T) {
	h := newHarness(t, false)
	_, url := h.ingest("a", nil)
	for _, size := range []int{31 << 10, 50 << 10} {
		req := h.evmReq(h.evm.Token().Hex(), "10000")
		p, _, err := evm.SignAuthorization(&req, h.evm.Payers()[size>>15], h.evmToken(), time.Now(), evm.AuthorizationOptions{})
		if err != nil {
			t.Fatal(err)
		}
		b := x402V2Body(req, p, map[string]any{"padding": strings.Repeat("x", size)})
		s := post(t, url+"/settle", b)
		if s.Status != 200 || s.Body["success"] != true {
			t.Fatalf("padded %d: /settle = %d %v", size, s.Status, s.Body)
		}
		msg := storedAccepted(t, h, p)
		if len(msg) > 2048 {
			t.Errorf("padded %d: accepted event is %d bytes; want only the settlement data (< 2 KiB)", size, len(msg))
		}
		if strings.Contains(string(msg), "xxxxxxxx") {
			t.Errorf("padded %d: the padding reached the event", size)
		}
		if _, err := events.DecodePaymentAccepted(msg); err != nil {
			t.Errorf("padded %d: stored event does not decode: %v", size, err)
		}
	}
}

// storedAccepted reads the accepted event of authorization payload p.
func storedAccepted(t *testing.T, h *harness, p *h402.PaymentPayload) []byte {
	t.Helper()
	auth := p.Payload.(*h402.EVMAuthorizationPayload)
	id := "evm.84532.auth." + strings.ToLower(h.evm.Token().Hex()) + "." + strings.ToLower(auth.Authorization.From) + "." + strings.ToLower(auth.Authorization.Nonce)
	return lastAccepted(t, h, id)
}

func lastAccepted(t *testing.T, h *harness, id string) []byte {
	t.Helper()
	_, js := h.js.Connect(t)
	ctx := context.Background()
	st, err := js.Stream(ctx, events.StreamPayments)
	if err != nil {
		t.Fatal(err)
	}
	subj, err := events.PaymentAcceptedSubject(h402.NamespaceEVM, "84532", id)
	if err != nil {
		t.Fatal(err)
	}
	m, err := st.GetLastMsgForSubject(ctx, subj)
	if err != nil {
		t.Fatalf("accepted event of %s: %v", id, err)
	}
	return m.Data
}

// faultyJetStream injects faults the real server cannot produce on demand:
// a publish that times out after the server stored the message, and an
// event log that refuses publishes, stream reads and key deletes (a NATS
// blip during which the undo fails too). Everything else is the real
// embedded JetStream.
type faultyJetStream struct {
	jetstream.JetStream
	timeoutAfterStore  atomic.Bool
	timeoutBeforeStore atomic.Bool
	down               atomic.Bool
	publishes          atomic.Int32
}

// ingestFaulty starts a replica whose event log client is a faultyJetStream.
func (h *harness) ingestFaulty(name string) (*faultyJetStream, string) {
	h.t.Helper()
	fault := &faultyJetStream{}
	_, url := h.ingestWith(name, nil, func(js jetstream.JetStream) jetstream.JetStream {
		fault.JetStream = js
		return fault
	})
	return fault, url
}

// settleDuringBlip posts /settle while the event log is down (publish and
// undo both fail) and wants 503.
func settleDuringBlip(t *testing.T, fault *faultyJetStream, url, header string, req h402.PaymentRequirements) {
	t.Helper()
	fault.down.Store(true)
	s := post(t, url+"/settle", body(header, req))
	fault.down.Store(false)
	if s.Status != 503 {
		t.Fatalf("/settle during the blip = %d %v; want 503", s.Status, s.Body)
	}
}

var errBlip = errors.New("injected: event log unreachable")

func (f *faultyJetStream) Publish(ctx context.Context, subj string, data []byte, opts ...jetstream.PublishOpt) (*jetstream.PubAck, error) {
	f.publishes.Add(1)
	if f.down.Load() {
		return nil, errBlip
	}
	if f.timeoutBeforeStore.Load() {
		return nil, context.DeadlineExceeded
	}
	ack, err := f.JetStream.Publish(ctx, subj, data, opts...)
	if err == nil && f.timeoutAfterStore.Load() {
		return nil, context.DeadlineExceeded
	}
	return ack, err
}

func (f *faultyJetStream) Stream(ctx context.Context, name string) (jetstream.Stream, error) {
	if f.down.Load() {
		return nil, errBlip
	}
	return f.JetStream.Stream(ctx, name)
}

func (f *faultyJetStream) KeyValue(ctx context.Context, bucket string) (jetstream.KeyValue, error) {
	kv, err := f.JetStream.KeyValue(ctx, bucket)
	if err != nil {
		return nil, err
	}
	return &faultyKV{KeyValue: kv, f: f}, nil
}

type faultyKV struct {
	jetstream.KeyValue
	f *faultyJetStream
}

func (k *faultyKV) Delete(ctx context.Context, key string, opts ...jetstream.KVDeleteOpt) error {
	if k.f.down.Load() {
		return errBlip
	}
	return k.KeyValue.Delete(ctx, key, opts...)
}

// TestAcceptedOnlyWhenStored: "accepted" is answered only when the
// accepted event is in the stream, whatever fails in between.
func TestAcceptedOnlyWhenStored(t *testing.T) {
	h := newHarness(t, false)
	fault, url := h.ingestFaulty("a")
	usdc := h.evm.Token().Hex()

	t.Run("publish timed out after the server stored it", func(t *testing.T) {
		req := h.evmReq(usdc, "10000")
		p, header, err := evm.SignAuthorization(&req, h.evm.Payers()[1], h.evmToken(), time.Now(), evm.AuthorizationOptions{})
		if err != nil {
			t.Fatal(err)
		}
		fault.timeoutAfterStore.Store(true)
		s := post(t, url+"/settle", body(header, req))
		fault.timeoutAfterStore.Store(false)
		if s.Status != 200 || s.Body["success"] != true || s.str("state") != "accepted" {
			t.Fatalf("/settle = %d %v; want accepted (the event is stored, the payment will settle)", s.Status, s.Body)
		}
		storedAccepted(t, h, p)
		if v := post(t, url+"/verify", body(header, req)); v.str("invalidReason") != string(h402.ReasonPaymentAlreadyUsed) {
			t.Errorf("/verify after = %d %v; want payment_already_used (the key must stay claimed)", v.Status, v.Body)
		}
	})

	t.Run("publish timed out, nothing stored yet", func(t *testing.T) {
		// A timeout says nothing: the message may still be stored later (a
		// reconnect buffer, a clustered commit). The claim and reservation
		// stay, and the identical retry finishes the job.
		req := h.evmReq(usdc, "10000")
		p, header, err := evm.SignAuthorization(&req, h.evm.Payers()[3], h.evmToken(), time.Now(), evm.AuthorizationOptions{})
		if err != nil {
			t.Fatal(err)
		}
		fault.timeoutBeforeStore.Store(true)
		s := post(t, url+"/settle", body(header, req))
		fault.timeoutBeforeStore.Store(false)
		if s.Status != 503 {
			t.Fatalf("/settle = %d %v; want 503", s.Status, s.Body)
		}
		if v := post(t, url+"/verify", body(header, req)); v.str("invalidReason") != string(h402.ReasonPaymentAlreadyUsed) {
			t.Errorf("/verify after an unknown publish = %d %v; want payment_already_used (claim kept)", v.Status, v.Body)
		}
		r := post(t, url+"/settle", body(header, req))
		if r.Status != 200 || r.Body["success"] != true {
			t.Fatalf("retry = %d %v; want accepted", r.Status, r.Body)
		}
		storedAccepted(t, h, p)
	})

	t.Run("publish and undo both fail", func(t *testing.T) {
		req := h.evmReq(usdc, "10000")
		p, header, err := evm.SignAuthorization(&req, h.evm.Payers()[2], h.evmToken(), time.Now(), evm.AuthorizationOptions{})
		if err != nil {
			t.Fatal(err)
		}
		settleDuringBlip(t, fault, url, header, req)
		// The seller retries: it must be told "accepted" only with the
		// event in the stream.
		r := post(t, url+"/settle", body(header, req))
		if r.Status != 200 || r.Body["success"] != true {
			t.Fatalf("retry = %d %v; want accepted", r.Status, r.Body)
		}
		ev, err := events.DecodePaymentAccepted(storedAccepted(t, h, p))
		if err != nil || ev.ID != r.str("paymentId") {
			t.Fatalf("stored event %+v, %v; want payment %s", ev, err, r.str("paymentId"))
		}
		other := post(t, url+"/settle", body(header, req), "Idempotency-Key", "someone-else")
		if other.str("errorReason") != string(h402.ReasonPaymentAlreadyUsed) {
			t.Errorf("another request for it = %d %v; want payment_already_used", other.Status, other.Body)
		}
	})
}

// TestStoredForAnotherRequest: the stream holds a payment whose claim is
// gone (as a late commit after a released claim leaves it; here the key is
// deleted from the real bucket). Another request for it gets a Nats-Msg-Id
// duplicate: it is refused, and the claim is handed to the request the
// stored event belongs to, whose retry is answered.
func TestStoredForAnotherRequest(t *testing.T) {
	h := newHarness(t, false)
	_, url := h.ingest("a", nil)
	req := h.evmReq(h.evm.Token().Hex(), "10000")
	header := h.authorize(req, h.evm.Payers()[4])
	first := post(t, url+"/settle", body(header, req), "Idempotency-Key", "seller-a")
	id := first.str("paymentId")
	if first.Status != 200 || first.Body["success"] != true {
		t.Fatalf("first /settle = %d %v", first.Status, first.Body)
	}
	replay := h.js.KeyValue(t, events.BucketReplay)
	if err := replay.Delete(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	other := post(t, url+"/settle", body(header, req), "Idempotency-Key", "seller-b")
	if other.Status != 400 || other.str("errorReason") != string(h402.ReasonPaymentAlreadyUsed) || other.str("paymentId") != id {
		t.Fatalf("another request for the stored payment = %d %v; want 400 payment_already_used naming %s", other.Status, other.Body, id)
	}
	held, err := replay.Get(context.Background(), id)
	if err != nil || !strings.Contains(string(held.Value()), `"idem":"seller-a"`) {
		t.Fatalf("replay key after the hand-over: %v, %v; want the stored request's claim (seller-a)", held, err)
	}
	again := post(t, url+"/settle", body(header, req), "Idempotency-Key", "seller-a")
	if again.Status != 200 || again.Body["success"] != true || again.str("paymentId") != id {
		t.Errorf("the stored request's retry = %d %v; want its first answer", again.Status, again.Body)
	}
}
