package seller

import (
	"errors"
	"strings"
	"testing"

	"github.com/h402/settlement/pkg/h402"
)

// FuzzDecodePayment feeds payment headers as clients send them: every
// input is decoded or refused with an *h402.Error, never a panic.
func FuzzDecodePayment(f *testing.F) {
	f.Add(true, h402.EncodeBase64([]byte(`{"x402Version":2,"accepted":{"scheme":"exact","network":"eip155:84532","amount":"1","asset":"0x1","payTo":"0x2","maxTimeoutSeconds":60},"payload":{"signature":"0x00","authorization":{"from":"0x1","to":"0x2","value":"1","validAfter":"0","validBefore":"9","nonce":"0x00"}}}`)))
	f.Add(false, h402.EncodeBase64([]byte(`{"x402Version":1,"scheme":"exact","network":"base-sepolia","payload":{"transaction":"AA=="}}`)))
	f.Add(false, h402.EncodeBase64([]byte(`{"h402Version":1,"scheme":"exact","namespace":"evm","networkId":"1","payload":{"type":"authorization"}}`)))
	f.Add(false, "e30")
	f.Add(true, "%%%")
	f.Fuzz(func(t *testing.T, v2 bool, value string) {
		name := h402.HeaderPayment
		if v2 {
			name = h402.HeaderPaymentSig
		}
		cp, d, err := decodePayment(name, value)
		if err != nil {
			var he *h402.Error
			if !errors.As(err, &he) || he.Reason == "" || he.Message == "" {
				t.Fatalf("error without reason and sentence: %v", err)
			}
			if d == "" {
				t.Fatal("no dialect to answer in")
			}
			return
		}
		n := 0
		for _, set := range []bool{cp.H402 != nil, cp.V1 != nil, cp.V2 != nil} {
			if set {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("%d decodings, want 1: %+v", n, cp)
		}
		if cp.Dialect != d {
			t.Fatalf("dialect %s, told %s", cp.Dialect, d)
		}
		_ = cp.match([]*offer{mustOffer(t)})
	})
}

func mustOffer(t *testing.T) *offer {
	o, err := compileOffer(testOffer())
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// FuzzDecodeFacilitatorAnswers feeds facilitator answers to every decoder.
func FuzzDecodeFacilitatorAnswers(f *testing.F) {
	f.Add(200, []byte(`{"isValid":true,"payer":"0x1"}`))
	f.Add(400, []byte(`{"isValid":false,"invalidReason":"insufficient_funds","errorMessage":"no"}`))
	f.Add(200, []byte(`{"success":true,"transaction":"","network":"eip155:1","paymentId":"x","state":"accepted"}`))
	f.Add(413, []byte(`{"reason":"payload_too_large","error":"big"}`))
	f.Add(200, []byte(`{"id":"x","state":"finalized","finalizedAt":"2026-01-01T00:00:00Z"}`))
	f.Add(200, []byte(`[]`))
	f.Add(200, []byte(`{"kinds":[{"x402Version":2,"scheme":"exact","network":"solana:x","extra":{"feePayer":"F"}}],"h402":[{"namespace":"evm","networkId":"1","tokens":["0x1"]}]}`))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		if v, err := DecodeVerify(status, body); err == nil {
			if v.IsValid == nil || (!*v.IsValid && v.InvalidReason == "") || (*v.IsValid && status != 200) {
				t.Fatalf("verdict without validity or reason: %+v", v)
			}
		} else if !isUnavailable(err) {
			t.Fatalf("verify: %v is not an *UnavailableError", err)
		}
		if s, err := DecodeSettle(status, body); err == nil {
			if s.Success == nil || (!*s.Success && s.ErrorReason == "") || (*s.Success && status != 200) {
				t.Fatalf("settlement without success or reason: %+v", s)
			}
		} else if !isUnavailable(err) {
			t.Fatalf("settle: %v is not an *UnavailableError", err)
		}
		if st, err := DecodeStatus(status, body); err == nil {
			if st.State == "" {
				t.Fatalf("status without state: %+v", st)
			}
		} else if !isUnavailable(err) {
			t.Fatalf("status: %v is not an *UnavailableError", err)
		}
		if sup, err := DecodeSupported(status, body); err == nil {
			_ = sup.serves(&Offer{Namespace: h402.NamespaceEVM, NetworkID: "1", Token: Token{Address: "0x1"}})
		} else if !isUnavailable(err) {
			t.Fatalf("supported: %v is not an *UnavailableError", err)
		}
		_ = withStatus(body, &Status{State: "finalized", TxHash: "0x1", Block: 1})
	})
}

func isUnavailable(err error) bool {
	var ue *UnavailableError
	return errors.As(err, &ue) && !strings.Contains(err.Error(), "seller-secret")
}
