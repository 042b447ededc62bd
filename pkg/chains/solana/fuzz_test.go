package solana

import (
	"encoding/base64"
	"errors"
	"testing"

	"github.com/h402/settlement/pkg/chains"
	"github.com/h402/settlement/pkg/config"
	"github.com/h402/settlement/pkg/h402"
)

// FuzzVerifySolanaTransaction feeds arbitrary transaction bytes through the
// Solana transaction checker (Verify and ReplayKey, client-paid and
// fee-payer variants). It must never panic, must fail only with *h402.Error,
// and an accepted payment's id must equal its replay key.
func FuzzVerifySolanaTransaction(f *testing.F) {
	fx := newFixture(f)
	for _, kind := range []config.TokenKind{config.KindNative, config.KindSPL, config.KindToken2022} {
		for _, fp := range []bool{false, true} {
			p := fx.signed(f, fx.requirements(kind, fp), kind, PayOptions{Memo: "m"})
			b, err := base64.StdEncoding.DecodeString(txText(f, p))
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b, fp)
			f.Add(b[:len(b)/2], fp)
		}
	}
	f.Add([]byte{}, false)
	f.Add([]byte{1}, true)
	f.Add([]byte{0x80}, false)
	v := NewVerifier()
	f.Fuzz(func(t *testing.T, tx []byte, feePayer bool) {
		req := fx.requirements(config.KindSPL, feePayer)
		r := fx.request(t, req, config.KindSPL, payloadOf(base64.StdEncoding.EncodeToString(tx), ""))
		checkVerifyReplay(t, v, r)
	})
}

// FuzzVerifySignAndSend feeds arbitrary signature and signedMessage text
// through the client-broadcast checks (Verify, ReplayKey) and the binding
// decoder. It must never panic, must fail only with *h402.Error, and an
// accepted payment's id must equal its replay key.
func FuzzVerifySignAndSend(f *testing.F) {
	fx := newFixture(f)
	req := fx.requirements(config.KindSPL, false)
	sig, err := fx.client.Sign([]byte("a broadcast transaction"))
	if err != nil {
		f.Fatal(err)
	}
	bound, err := SignBinding(fx.client, req.Resource, sig)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(sig.String(), bound)
	f.Add(sig.String(), "")
	f.Add(sig.String(), bound[:len(bound)/2])
	f.Add("", bound)
	f.Add("1111", "0OIl")
	v := NewVerifier()
	f.Fuzz(func(t *testing.T, signature, signedMessage string) {
		p := &h402.PaymentPayload{H402Version: h402.Version, Scheme: h402.SchemeExact, Namespace: h402.NamespaceSolana, NetworkID: "localnet",
			Resource: req.Resource, Payload: &h402.SolanaSignAndSendPayload{Type: h402.TypeSignAndSendTransaction, Signature: signature, SignedMessage: signedMessage}}
		r := fx.request(t, req, config.KindSPL, p)
		checkVerifyReplay(t, v, r)
		var e *h402.Error
		if _, err := parseBinding(signedMessage); err != nil && !errors.As(err, &e) {
			t.Fatalf("parseBinding: got %T %v, want *h402.Error", err, err)
		}
	})
}

// checkVerifyReplay runs Verify and ReplayKey on r: each fails only with
// *h402.Error, and an accepted payment's id equals its replay key.
func checkVerifyReplay(t *testing.T, v *Verifier, r *chains.Request) {
	t.Helper()
	p, err := v.Verify(r)
	var e *h402.Error
	if err != nil && !errors.As(err, &e) {
		t.Fatalf("Verify: got %T %v, want *h402.Error", err, err)
	}
	key, kerr := v.ReplayKey(r)
	if kerr != nil && !errors.As(kerr, &e) {
		t.Fatalf("ReplayKey: got %T %v, want *h402.Error", kerr, kerr)
	}
	if err == nil && (kerr != nil || key != p.ID) {
		t.Fatalf("accepted payment id %s, ReplayKey %q, %v", p.ID, key, kerr)
	}
}
