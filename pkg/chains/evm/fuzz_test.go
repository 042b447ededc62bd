package evm

import (
	"encoding/hex"
	"errors"
	"math/big"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"

	"github.com/h402/settlement/pkg/chains"
	"github.com/h402/settlement/pkg/config"
	"github.com/h402/settlement/pkg/h402"
)

// FuzzVerifyEVM feeds arbitrary transaction bytes, signatures and text into
// every EVM payload type and the header decoder. Verify and ReplayKey must
// never panic, must fail only with *h402.Error, and an accepted payment's id
// must be its replay key.
func FuzzVerifyEVM(f *testing.F) {
	fx := newFixture(f)
	reqNative := fx.requirements(fx.native)
	reqUSDC := fx.requirements(fx.usdc)
	reqPlain := fx.requirements(fx.plain)
	chain := big.NewInt(testChainID)

	seedTx, err := types.SignNewTx(fx.payer, types.LatestSignerForChainID(chain), dynTx(fx.payTo, testAmount, nil, 21000))
	if err != nil {
		f.Fatal(err)
	}
	rawDyn, _ := seedTx.MarshalBinary()
	legacy, err := types.SignNewTx(fx.payer, types.LatestSignerForChainID(chain), &types.LegacyTx{Gas: 21000, GasPrice: big.NewInt(1e9), To: &fx.payTo, Value: testAmount})
	if err != nil {
		f.Fatal(err)
	}
	rawLegacy, _ := legacy.MarshalBinary()
	msg, err := SignResource(fx.payer, testResource)
	if err != nil {
		f.Fatal(err)
	}
	template := fx.authorization(f, fx.payer, reqUSDC, fx.usdc, AuthorizationOptions{})
	header, err := h402.EncodePaymentHeader(template)
	if err != nil {
		f.Fatal(err)
	}
	tmpl := authPayload(f, template)

	f.Add(rawDyn, common.FromHex(msg), tmpl.Authorization.Nonce)
	f.Add(rawLegacy, common.FromHex(tmpl.Signature), header)
	f.Add([]byte{0x02}, []byte{}, "0x")
	f.Add([]byte{0x03, 0xc0}, make([]byte, 65), "")
	f.Add([]byte{0xf8, 0xff}, common.FromHex(highS(f, tmpl.Signature)), "99999999999999999999999999999999999999999999999999999999999999999999999999999")

	v := NewVerifier()
	f.Fuzz(func(t *testing.T, txBytes, sig []byte, text string) {
		sigHex := "0x" + hex.EncodeToString(sig)
		payloads := []struct {
			req *h402.PaymentRequirements
			tok config.Token
			p   h402.Payload
		}{
			{reqNative, fx.native, &h402.EVMSignedTransactionPayload{Type: h402.TypeSignedTransaction, SignedTransaction: "0x" + hex.EncodeToString(txBytes), SignedMessage: sigHex}},
			{reqPlain, fx.plain, &h402.EVMSignedTransactionPayload{Type: h402.TypeSignedTransaction, SignedTransaction: hex.EncodeToString(txBytes), SignedMessage: sigHex}},
			{reqUSDC, fx.usdc, &h402.EVMSignAndSendPayload{Type: h402.TypeSignAndSendTransaction, TransactionHash: text, SignedMessage: sigHex}},
			{reqUSDC, fx.usdc, &h402.EVMAuthorizationPayload{Type: h402.TypeAuthorization, Signature: sigHex, Authorization: tmpl.Authorization}},
			{reqUSDC, fx.usdc, &h402.EVMAuthorizationPayload{Type: h402.TypeAuthorization, Signature: tmpl.Signature, Authorization: h402.EVMAuthorization{
				From: text, To: tmpl.Authorization.To, Value: h402.Decimal{Text: text}, ValidAfter: h402.Decimal{Text: text},
				ValidBefore: h402.Decimal{Text: text}, Nonce: text, Version: text}}},
		}
		for _, pl := range payloads {
			checkNoPanic(t, v, fx.request(pl.req, envelope(pl.req, pl.p), pl.tok))
		}
		if p, err := h402.DecodePaymentHeader(text); err == nil {
			checkNoPanic(t, v, fx.request(reqUSDC, p, fx.usdc))
		}
	})
}

func checkNoPanic(t *testing.T, v *Verifier, r *chains.Request) {
	t.Helper()
	pay, err := v.Verify(r)
	var e *h402.Error
	if err != nil && (!errors.As(err, &e) || e.Reason == "" || e.Message == "") {
		t.Fatalf("Verify error %T %v, want *h402.Error with reason and message", err, err)
	}
	key, kerr := v.ReplayKey(r)
	if kerr != nil && !errors.As(kerr, &e) {
		t.Fatalf("ReplayKey error %T %v, want *h402.Error", kerr, kerr)
	}
	if err == nil {
		if kerr != nil {
			t.Fatalf("Verify accepted but ReplayKey failed: %v", kerr)
		}
		if pay.ID != key {
			t.Fatalf("Payment.ID %q != ReplayKey %q", pay.ID, key)
		}
		if !keyChars.MatchString(key) {
			t.Fatalf("key %q has characters outside [A-Za-z0-9._-]", key)
		}
	}
}
