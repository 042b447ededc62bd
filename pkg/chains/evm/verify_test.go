package evm

import (
	"math/big"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"

	"github.com/h402/settlement/pkg/chains"
	"github.com/h402/settlement/pkg/config"
	"github.com/h402/settlement/pkg/h402"
)

func TestVerifyAccepts(t *testing.T) {
	f := newFixture(t)
	txHash := common.HexToHash("0x9a4e2b6c1d3f5a7b9c0d1e2f3a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d")
	type want struct {
		typ    h402.PayloadType
		amount *big.Int
		settle bool
		nonce  string // "" to skip
		txHash bool
	}
	cases := []struct {
		name   string
		tok    config.Token
		build  func(t *testing.T, req *h402.PaymentRequirements) *h402.PaymentPayload
		policy func(*config.Verify)
		want   want
	}{
		{
			name: "authorization",
			tok:  f.usdc,
			build: func(t *testing.T, req *h402.PaymentRequirements) *h402.PaymentPayload {
				return f.authorization(t, f.payer, req, f.usdc, AuthorizationOptions{})
			},
			want: want{typ: h402.TypeAuthorization, amount: testAmount, settle: true},
		},
		{
			name: "authorization with v in {0,1}",
			tok:  f.usdc,
			build: func(t *testing.T, req *h402.PaymentRequirements) *h402.PaymentPayload {
				p := f.authorization(t, f.payer, req, f.usdc, AuthorizationOptions{})
				a := authPayload(t, p)
				a.Signature = setSigByte(a.Signature, 64, common.FromHex(a.Signature)[64]-27)
				return p
			},
			want: want{typ: h402.TypeAuthorization, amount: testAmount, settle: true},
		},
		{
			name: "authorization with matching extra and version",
			tok:  f.usdc,
			build: func(t *testing.T, req *h402.PaymentRequirements) *h402.PaymentPayload {
				req.Extra = []byte(`{"name":"USD Coin","version":"2"}`)
				return f.authorization(t, f.payer, req, f.usdc, AuthorizationOptions{})
			},
			want: want{typ: h402.TypeAuthorization, amount: testAmount, settle: true},
		},
		{
			name: "authorization overpaying with AllowOverpay",
			tok:  f.usdc,
			build: func(t *testing.T, req *h402.PaymentRequirements) *h402.PaymentPayload {
				return f.authorization(t, f.payer, req, f.usdc, AuthorizationOptions{Value: big.NewInt(10_001)})
			},
			policy: func(v *config.Verify) { v.AllowOverpay = true },
			want:   want{typ: h402.TypeAuthorization, amount: big.NewInt(10_001), settle: true},
		},
		{
			name: "authorization with explicit nonce and window",
			tok:  f.usdc,
			build: func(t *testing.T, req *h402.PaymentRequirements) *h402.PaymentPayload {
				nonce := [32]byte{1, 2, 3}
				return f.authorization(t, f.payer, req, f.usdc, AuthorizationOptions{
					Nonce: &nonce, ValidAfter: f.now.Add(-time.Minute), ValidBefore: f.now.Add(10 * time.Minute)})
			},
			want: want{typ: h402.TypeAuthorization, amount: testAmount, settle: true,
				nonce: "0x0102030000000000000000000000000000000000000000000000000000000000"},
		},
		{
			name: "signedTransaction native",
			tok:  f.native,
			build: func(t *testing.T, req *h402.PaymentRequirements) *h402.PaymentPayload {
				p, _, err := SignTransaction(req, f.payer, &f.native, TxOptions{Nonce: 3})
				if err != nil {
					t.Fatalf("SignTransaction: %v", err)
				}
				return p
			},
			want: want{typ: h402.TypeSignedTransaction, amount: testAmount, settle: true, nonce: "3", txHash: true},
		},
		{
			name: "signedTransaction erc20",
			tok:  f.plain,
			build: func(t *testing.T, req *h402.PaymentRequirements) *h402.PaymentPayload {
				p, _, err := SignTransaction(req, f.payer, &f.plain, TxOptions{Nonce: 12})
				if err != nil {
					t.Fatalf("SignTransaction: %v", err)
				}
				return p
			},
			want: want{typ: h402.TypeSignedTransaction, amount: testAmount, settle: true, nonce: "12", txHash: true},
		},
		{
			name: "signedTransaction transfer of an eip3009 token",
			tok:  f.usdc,
			build: func(t *testing.T, req *h402.PaymentRequirements) *h402.PaymentPayload {
				p, _, err := SignTransaction(req, f.payer, &f.usdc, TxOptions{Nonce: 0})
				if err != nil {
					t.Fatalf("SignTransaction: %v", err)
				}
				return p
			},
			want: want{typ: h402.TypeSignedTransaction, amount: testAmount, settle: true, nonce: "0", txHash: true},
		},
		{
			name: "signedTransaction legacy EIP-155",
			tok:  f.native,
			build: func(t *testing.T, req *h402.PaymentRequirements) *h402.PaymentPayload {
				return f.txPayload(t, req, &types.LegacyTx{Nonce: 4, GasPrice: big.NewInt(2e9), Gas: 21000, To: &f.payTo, Value: testAmount},
					big.NewInt(testChainID), f.payer, f.payer)
			},
			want: want{typ: h402.TypeSignedTransaction, amount: testAmount, settle: true, nonce: "4", txHash: true},
		},
		{
			name: "signedTransaction access list",
			tok:  f.plain,
			build: func(t *testing.T, req *h402.PaymentRequirements) *h402.PaymentPayload {
				to := common.HexToAddress(plainAddress)
				return f.txPayload(t, req, &types.AccessListTx{ChainID: big.NewInt(testChainID), Nonce: 5, GasPrice: big.NewInt(2e9), Gas: 60000,
					To: &to, Value: new(big.Int), Data: TransferCalldata(f.payTo, testAmount)}, big.NewInt(testChainID), f.payer, f.payer)
			},
			want: want{typ: h402.TypeSignedTransaction, amount: testAmount, settle: true, nonce: "5", txHash: true},
		},
		{
			name: "signAndSendTransaction",
			tok:  f.usdc,
			build: func(t *testing.T, req *h402.PaymentRequirements) *h402.PaymentPayload {
				p, _, err := SignAndSendPayload(req, f.payer, txHash)
				if err != nil {
					t.Fatalf("SignAndSendPayload: %v", err)
				}
				return p
			},
			want: want{typ: h402.TypeSignAndSendTransaction, amount: testAmount, settle: false, txHash: true},
		},
	}
	v := NewVerifier()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := f.requirements(tc.tok)
			built := tc.build(t, req)
			// Go through the wire: encode the header and decode it as ingest does.
			header, err := h402.EncodePaymentHeader(built)
			if err != nil {
				t.Fatalf("encode header: %v", err)
			}
			p, err := h402.DecodePaymentHeader(header)
			if err != nil {
				t.Fatalf("decode header: %v", err)
			}
			r := f.request(req, p, tc.tok)
			if tc.policy != nil {
				tc.policy(&r.Policy)
			}
			got, err := v.Verify(r)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			key, err := v.ReplayKey(r)
			if err != nil {
				t.Fatalf("ReplayKey: %v", err)
			}
			if got.ID != key {
				t.Errorf("Payment.ID = %q, want ReplayKey %q", got.ID, key)
			}
			if got.Namespace != h402.NamespaceEVM || got.NetworkID != "1337" || got.Type != tc.want.typ {
				t.Errorf("got namespace %s network %s type %s, want evm 1337 %s", got.Namespace, got.NetworkID, got.Type, tc.want.typ)
			}
			if got.Payer != lower(f.payerAddr) {
				t.Errorf("Payer = %s, want %s", got.Payer, lower(f.payerAddr))
			}
			if got.PayTo != lower(f.payTo) {
				t.Errorf("PayTo = %s, want %s", got.PayTo, lower(f.payTo))
			}
			if got.Token != strings.ToLower(tc.tok.Address) {
				t.Errorf("Token = %s, want %s", got.Token, strings.ToLower(tc.tok.Address))
			}
			if got.Amount.Cmp(tc.want.amount) != 0 {
				t.Errorf("Amount = %s, want %s", got.Amount, tc.want.amount)
			}
			if got.Settle != tc.want.settle {
				t.Errorf("Settle = %v, want %v", got.Settle, tc.want.settle)
			}
			if tc.want.nonce != "" && got.Nonce != tc.want.nonce {
				t.Errorf("Nonce = %s, want %s", got.Nonce, tc.want.nonce)
			}
			checkTxHash(t, p, got, tc.want.txHash)
			if tc.want.typ == h402.TypeAuthorization {
				a := authPayload(t, p)
				if got.Nonce != strings.ToLower(a.Authorization.Nonce) {
					t.Errorf("Nonce = %s, want the authorization's %s", got.Nonce, a.Authorization.Nonce)
				}
				if got.ValidAfter.Unix() != mustInt(t, a.Authorization.ValidAfter.Text) || got.ValidBefore.Unix() != mustInt(t, a.Authorization.ValidBefore.Text) {
					t.Errorf("window = [%d, %d], want [%s, %s]", got.ValidAfter.Unix(), got.ValidBefore.Unix(), a.Authorization.ValidAfter.Text, a.Authorization.ValidBefore.Text)
				}
			}
		})
	}
}

// checkTxHash compares Payment.TxHash with the hash of the payload's transaction.
func checkTxHash(t *testing.T, p *h402.PaymentPayload, got *chains.Payment, want bool) {
	t.Helper()
	if !want {
		if got.TxHash != "" {
			t.Errorf("TxHash = %s, want none", got.TxHash)
		}
		return
	}
	var wantHash string
	switch pl := p.Payload.(type) {
	case *h402.EVMSignedTransactionPayload:
		tx := new(types.Transaction)
		if err := tx.UnmarshalBinary(common.FromHex(pl.SignedTransaction)); err != nil {
			t.Fatalf("decode tx: %v", err)
		}
		wantHash = strings.ToLower(tx.Hash().Hex())
	case *h402.EVMSignAndSendPayload:
		wantHash = strings.ToLower(pl.TransactionHash)
	}
	if got.TxHash != wantHash {
		t.Errorf("TxHash = %s, want %s", got.TxHash, wantHash)
	}
}

func mustInt(t *testing.T, s string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatalf("parse %q: %v", s, err)
	}
	return n
}

func TestVerifyPolicyEdges(t *testing.T) {
	f := newFixture(t)
	req := f.requirements(f.usdc)
	cases := []struct {
		name   string
		opts   AuthorizationOptions
		policy func(*config.Verify)
		want   h402.Reason // "" for accepted
	}{
		{"negative margin still rejects an expired authorization", AuthorizationOptions{ValidAfter: f.now.Add(-time.Minute), ValidBefore: f.now.Add(-time.Second)},
			func(v *config.Verify) { v.MinValidBeforeMargin = config.Duration(-time.Hour) }, h402.ReasonEVMValidBefore},
		{"zero MaxValidity falls back to the default hour", AuthorizationOptions{ValidBefore: f.now.Add(time.Hour + 2*time.Second)},
			func(v *config.Verify) { v.MaxValidity = 0 }, h402.ReasonValidityTooLong},
		{"validBefore exactly MaxValidity from now", AuthorizationOptions{ValidAfter: f.now.Add(-50 * time.Minute), ValidBefore: f.now.Add(time.Hour)},
			nil, ""},
		{"validBefore one second past MaxValidity from now", AuthorizationOptions{ValidBefore: f.now.Add(time.Hour + time.Second)},
			nil, h402.ReasonValidityTooLong},
		// Real x402 clients (@x402/evm) always sign validAfter 0: the window
		// is measured from now, never from validAfter.
		{"validAfter 0 as x402 clients sign it", AuthorizationOptions{ValidAfter: time.Unix(0, 0), ValidBefore: f.now.Add(30 * time.Second)},
			nil, ""},
		{"validAfter 0 with validBefore MaxValidity from now", AuthorizationOptions{ValidAfter: time.Unix(0, 0), ValidBefore: f.now.Add(time.Hour)},
			nil, ""},
		{"validBefore exactly at the margin, rounded up", AuthorizationOptions{ValidBefore: f.now.Add(6 * time.Second)},
			nil, h402.ReasonEVMValidBefore}, // now has 250 ms: now+6s needs validBefore >= second 7
		{"validBefore one second past the margin", AuthorizationOptions{ValidBefore: f.now.Add(7 * time.Second)},
			nil, ""},
		{"validAfter exactly now", AuthorizationOptions{ValidAfter: f.now}, nil, ""},
	}
	v := NewVerifier()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := f.request(req, f.authorization(t, f.payer, req, f.usdc, tc.opts), f.usdc)
			if tc.policy != nil {
				tc.policy(&r.Policy)
			}
			_, err := v.Verify(r)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Verify: %v, want accepted", err)
				}
				return
			}
			wantReason(t, err, tc.want)
		})
	}
}

func TestVerifyConcurrent(t *testing.T) {
	f := newFixture(t)
	v := NewVerifier()
	tokens := []config.Token{f.usdc, f.usdc, f.usdc}
	tokens[1].Address, tokens[2].EIP712Name = plainAddress, "Other Name" // distinct domains in the cache
	done := make(chan error, 24)
	for i := range 24 {
		tok := tokens[i%len(tokens)]
		req := f.requirements(tok)
		p := f.authorization(t, f.payer, req, tok, AuthorizationOptions{})
		go func() {
			_, err := v.Verify(f.request(req, p, tok))
			done <- err
		}()
	}
	for range 24 {
		if err := <-done; err != nil {
			t.Errorf("Verify: %v", err)
		}
	}
}
