package evm

import (
	"encoding/base64"
	"fmt"
	"math/big"
	"regexp"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common"

	"github.com/h402/settlement/pkg/h402"
)

// keyChars is what NATS subject tokens and JetStream KV keys accept, dots separating tokens.
var keyChars = regexp.MustCompile(`^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$`)

func TestReplayKeyAuthorizationIsCanonical(t *testing.T) {
	f := newFixture(t)
	req := f.requirements(f.usdc)
	orig := f.authorization(t, f.payer, req, f.usdc, AuthorizationOptions{})
	a := authPayload(t, orig)
	want := fmt.Sprintf("evm.1337.auth.%s.%s.%s", strings.ToLower(usdcAddress), lower(f.payerAddr), strings.ToLower(a.Authorization.Nonce))
	header, err := h402.EncodePaymentHeader(orig)
	if err != nil {
		t.Fatalf("encode header: %v", err)
	}
	upperHex := func(s string) string { return "0x" + strings.ToUpper(s[2:]) }

	cases := []struct {
		name       string
		header     string                     // decoded when set
		json       string                     // decoded when set
		mutate     func(*h402.PaymentPayload) // applied to a copy of orig otherwise
		upperToken bool
		verifyOK   bool
	}{
		{name: "original", verifyOK: true, mutate: func(*h402.PaymentPayload) {}},
		{name: "high-s twin", mutate: func(p *h402.PaymentPayload) {
			authPayload(t, p).Signature = highS(t, a.Signature)
		}},
		{name: "standard padded header", header: header, verifyOK: true},
		{name: "url-safe unpadded header", header: base64.RawURLEncoding.EncodeToString(mustDecode(t, header)), verifyOK: true},
		{name: "json with other key order and numbers", verifyOK: true, json: fmt.Sprintf(
			`{"payload":{"authorization":{"nonce":%q,"version":"2","validBefore":%s,"validAfter":%s,"value":%s,"to":%q,"from":%q},"signature":%q,"type":"authorization"},`+
				`"resource":%q,"networkId":"1337","namespace":"evm","scheme":"exact","h402Version":1}`,
			a.Authorization.Nonce, a.Authorization.ValidBefore.Text, a.Authorization.ValidAfter.Text, a.Authorization.Value.Text,
			a.Authorization.To, a.Authorization.From, a.Signature, testResource)},
		{name: "upper-case hex in from, to, nonce and signature", verifyOK: true, mutate: func(p *h402.PaymentPayload) {
			ap := authPayload(t, p)
			ap.Authorization.From = upperHex(ap.Authorization.From)
			ap.Authorization.To = upperHex(ap.Authorization.To)
			ap.Authorization.Nonce = upperHex(ap.Authorization.Nonce)
			ap.Signature = upperHex(ap.Signature)
		}},
		{name: "upper-case token address in requirements", upperToken: true, verifyOK: true, mutate: func(*h402.PaymentPayload) {}},
	}
	v := NewVerifier()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var p *h402.PaymentPayload
			switch {
			case tc.header != "":
				if p, err = h402.DecodePaymentHeader(tc.header); err != nil {
					t.Fatalf("decode header: %v", err)
				}
			case tc.json != "":
				if p, err = h402.DecodePayload([]byte(tc.json)); err != nil {
					t.Fatalf("decode json: %v", err)
				}
			default:
				p = clonePayload(t, orig)
				tc.mutate(p)
			}
			rq := *req
			if tc.upperToken {
				rq.TokenAddress = upperHex(rq.TokenAddress)
			}
			r := f.request(&rq, p, f.usdc)
			got, err := v.ReplayKey(r)
			if err != nil {
				t.Fatalf("ReplayKey: %v", err)
			}
			if got != want {
				t.Errorf("ReplayKey = %s, want %s", got, want)
			}
			pay, err := v.Verify(r)
			switch {
			case tc.verifyOK && err != nil:
				t.Errorf("Verify: %v, want accepted", err)
			case tc.verifyOK && pay.ID != want:
				t.Errorf("Payment.ID = %s, want %s", pay.ID, want)
			case !tc.verifyOK:
				wantReason(t, err, h402.ReasonEVMSignature)
			}
		})
	}

	t.Run("another nonce is another key", func(t *testing.T) {
		other, err := v.ReplayKey(f.request(req, f.authorization(t, f.payer, req, f.usdc, AuthorizationOptions{}), f.usdc))
		if err != nil {
			t.Fatalf("ReplayKey: %v", err)
		}
		if other == want {
			t.Errorf("two random nonces gave one key %s", want)
		}
	})
}

func TestReplayKeyTransactions(t *testing.T) {
	f := newFixture(t)
	v := NewVerifier()
	req := f.requirements(f.native)
	chain := big.NewInt(testChainID)
	txA := f.txPayload(t, req, dynTx(f.payTo, testAmount, nil, 21000), chain, f.payer, f.payer)
	other := dynTx(f.payTo, testAmount, nil, 21000)
	other.GasTipCap = big.NewInt(5e9) // same sender and nonce, another transaction
	other.GasFeeCap = big.NewInt(9e9)
	txB := f.txPayload(t, req, other, chain, f.payer, f.payer)
	txUpper := clonePayload(t, txA)
	st := txUpper.Payload.(*h402.EVMSignedTransactionPayload)
	st.SignedTransaction = "0x" + strings.ToUpper(st.SignedTransaction[2:])

	hash := common.HexToHash("0xabcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789")
	sendLower, _, err := SignAndSendPayload(req, f.payer, hash)
	if err != nil {
		t.Fatalf("SignAndSendPayload: %v", err)
	}
	sendUpper := clonePayload(t, sendLower)
	ss := sendUpper.Payload.(*h402.EVMSignAndSendPayload)
	ss.TransactionHash = "0x" + strings.ToUpper(ss.TransactionHash[2:])

	txKey := fmt.Sprintf("evm.1337.tx.%s.7", lower(f.payerAddr))
	hashKey := "evm.1337.hash.0xabcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789"
	cases := []struct {
		name string
		p    *h402.PaymentPayload
		want string
	}{
		{"signed tx", txA, txKey},
		{"other tx with the same nonce", txB, txKey},
		{"signed tx in upper-case hex", txUpper, txKey},
		{"sign-and-send lower-case hash", sendLower, hashKey},
		{"sign-and-send upper-case hash", sendUpper, hashKey},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := f.request(req, tc.p, f.native)
			got, err := v.ReplayKey(r)
			if err != nil {
				t.Fatalf("ReplayKey: %v", err)
			}
			if got != tc.want {
				t.Errorf("ReplayKey = %s, want %s", got, tc.want)
			}
			pay, err := v.Verify(r)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if pay.ID != tc.want {
				t.Errorf("Payment.ID = %s, want %s", pay.ID, tc.want)
			}
		})
	}
}

func TestReplayKeyCharset(t *testing.T) {
	f := newFixture(t)
	key, err := NewVerifier().ReplayKey(f.request(f.requirements(f.usdc), f.authorization(t, f.payer, f.requirements(f.usdc), f.usdc, AuthorizationOptions{}), f.usdc))
	if err != nil {
		t.Fatalf("ReplayKey: %v", err)
	}
	keys := []string{
		key,
		TransactionKey(big.NewInt(8453), f.payerAddr, 1<<63),
		TxHashKey(big.NewInt(56), common.HexToHash("0xFF")),
		AuthorizationKey(big.NewInt(84532), common.HexToAddress(usdcAddress), f.payerAddr, [32]byte{0xAB}),
	}
	for _, k := range keys {
		if !keyChars.MatchString(k) {
			t.Errorf("key %q has characters outside [A-Za-z0-9._-] or empty tokens", k)
		}
		if k != strings.ToLower(k) {
			t.Errorf("key %q is not lower-case", k)
		}
	}
}

func TestReplayKeyRejectsMalformed(t *testing.T) {
	f := newFixture(t)
	req := f.requirements(f.usdc)
	cases := []struct {
		name string
		p    h402.Payload
		want h402.Reason
	}{
		{"auth bad from", &h402.EVMAuthorizationPayload{Type: h402.TypeAuthorization, Authorization: h402.EVMAuthorization{From: "0x12", Nonce: "0x" + strings.Repeat("00", 32)}}, h402.ReasonInvalidPayload},
		{"auth bad nonce", &h402.EVMAuthorizationPayload{Type: h402.TypeAuthorization, Authorization: h402.EVMAuthorization{From: lower(f.payerAddr), Nonce: "0x00"}}, h402.ReasonInvalidPayload},
		{"tx garbage", &h402.EVMSignedTransactionPayload{Type: h402.TypeSignedTransaction, SignedTransaction: "0x02c0"}, h402.ReasonEVMTransaction},
		{"hash too long", &h402.EVMSignAndSendPayload{Type: h402.TypeSignAndSendTransaction, TransactionHash: "0x" + strings.Repeat("ab", 33)}, h402.ReasonInvalidPayload},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewVerifier().ReplayKey(f.request(req, envelope(req, tc.p), f.usdc))
			wantReason(t, err, tc.want)
		})
	}
}

// clonePayload deep-copies p through its wire form.
func clonePayload(t *testing.T, p *h402.PaymentPayload) *h402.PaymentPayload {
	t.Helper()
	h, err := h402.EncodePaymentHeader(p)
	if err != nil {
		t.Fatalf("encode: %v", err)
	}
	c, err := h402.DecodePaymentHeader(h)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	return c
}

func mustDecode(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatalf("base64: %v", err)
	}
	return b
}
