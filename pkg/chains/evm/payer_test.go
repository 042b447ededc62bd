package evm

import (
	"bytes"
	"context"
	"math/big"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/accounts"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/math"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient/simulated"
	"github.com/ethereum/go-ethereum/signer/core/apitypes"

	"github.com/h402/settlement/pkg/h402"
)

// TestAuthorizationDigestMatchesGeth cross-checks the hand-rolled EIP-712
// hashing against go-ethereum's generic typed-data encoder.
func TestAuthorizationDigestMatchesGeth(t *testing.T) {
	from := common.HexToAddress("0x1111111111111111111111111111111111111111")
	to := common.HexToAddress("0x2222222222222222222222222222222222222222")
	maxU256 := new(big.Int).Set(h402.MaxUint256)
	cases := []struct {
		name   string
		domain Domain
		auth   Authorization
	}{
		{"usdc on base", Domain{Name: "USD Coin", Version: "2", ChainID: big.NewInt(8453), VerifyingContract: common.HexToAddress("0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913")},
			Authorization{From: from, To: to, Value: big.NewInt(10_000), ValidAfter: big.NewInt(1_750_000_000), ValidBefore: big.NewInt(1_750_000_030), Nonce: [32]byte{0xfe, 1}}},
		{"extreme values", Domain{Name: "Ünïcode Tøken", Version: "long version string with unicode ✓", ChainID: maxU256, VerifyingContract: common.Address{}},
			Authorization{From: to, To: from, Value: maxU256, ValidAfter: big.NewInt(0), ValidBefore: maxU256, Nonce: [32]byte{31: 0xff}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			td := apitypes.TypedData{
				Types: apitypes.Types{
					"EIP712Domain": {{Name: "name", Type: "string"}, {Name: "version", Type: "string"}, {Name: "chainId", Type: "uint256"}, {Name: "verifyingContract", Type: "address"}},
					"TransferWithAuthorization": {{Name: "from", Type: "address"}, {Name: "to", Type: "address"}, {Name: "value", Type: "uint256"},
						{Name: "validAfter", Type: "uint256"}, {Name: "validBefore", Type: "uint256"}, {Name: "nonce", Type: "bytes32"}},
				},
				PrimaryType: "TransferWithAuthorization",
				Domain: apitypes.TypedDataDomain{Name: tc.domain.Name, Version: tc.domain.Version,
					ChainId: (*math.HexOrDecimal256)(tc.domain.ChainID), VerifyingContract: tc.domain.VerifyingContract.Hex()},
				Message: apitypes.TypedDataMessage{
					"from": tc.auth.From.Hex(), "to": tc.auth.To.Hex(), "value": tc.auth.Value.String(),
					"validAfter": tc.auth.ValidAfter.String(), "validBefore": tc.auth.ValidBefore.String(), "nonce": tc.auth.Nonce[:],
				},
			}
			want, _, err := apitypes.TypedDataAndHash(td)
			if err != nil {
				t.Fatalf("geth typed data hash: %v", err)
			}
			got := tc.auth.Digest(tc.domain.Separator())
			if !bytes.Equal(got[:], want) {
				t.Errorf("digest = %x, want %x", got, want)
			}
		})
	}
}

func TestSignAuthorization(t *testing.T) {
	f := newFixture(t)
	req := f.requirements(f.usdc)
	ept := 120
	req.EstimatedProcessingTime = &ept
	cases := []struct {
		name                  string
		req                   *h402.PaymentRequirements
		opts                  AuthorizationOptions
		wantAfter, wantBefore int64
	}{
		{"defaults from estimatedProcessingTime", req, AuthorizationOptions{}, f.now.Unix() - 5, f.now.Unix() + 120},
		{"default lifetime", f.requirements(f.usdc), AuthorizationOptions{Skew: time.Second}, f.now.Unix() - 1, f.now.Unix() + 30},
		{"explicit window", req, AuthorizationOptions{ValidAfter: time.Unix(1_800_000_000, 0), ValidBefore: time.Unix(1_800_000_090, 0)}, 1_800_000_000, 1_800_000_090},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, header, err := SignAuthorization(tc.req, f.payer, &f.usdc, f.now, tc.opts)
			if err != nil {
				t.Fatalf("SignAuthorization: %v", err)
			}
			decoded, err := h402.DecodePaymentHeader(header)
			if err != nil {
				t.Fatalf("decode own header: %v", err)
			}
			a := authPayload(t, decoded).Authorization
			if got := mustInt(t, a.ValidAfter.Text); got != tc.wantAfter {
				t.Errorf("validAfter = %d, want %d", got, tc.wantAfter)
			}
			if got := mustInt(t, a.ValidBefore.Text); got != tc.wantBefore {
				t.Errorf("validBefore = %d, want %d", got, tc.wantBefore)
			}
			if a.From != lower(f.payerAddr) || a.Version != "2" || a.Value.Text != "10000" {
				t.Errorf("from %s version %s value %s, want %s 2 10000", a.From, a.Version, a.Value.Text, lower(f.payerAddr))
			}
			if p.H402Version != 1 || p.Scheme != "exact" || p.Namespace != h402.NamespaceEVM || p.NetworkID != "1337" || p.Resource != testResource {
				t.Errorf("envelope = %+v, want h402Version 1, exact, evm, 1337, %s", p, testResource)
			}
			checkLowS(t, authPayload(t, p).Signature)
		})
	}

	t.Run("random nonces differ", func(t *testing.T) {
		a := authPayload(t, f.authorization(t, f.payer, req, f.usdc, AuthorizationOptions{}))
		b := authPayload(t, f.authorization(t, f.payer, req, f.usdc, AuthorizationOptions{}))
		if a.Authorization.Nonce == b.Authorization.Nonce {
			t.Errorf("two authorizations share nonce %s", a.Authorization.Nonce)
		}
	})
	t.Run("domain from extra when token has none", func(t *testing.T) {
		r := f.requirements(f.usdc)
		r.Extra = []byte(`{"name":"USD Coin","version":"2"}`)
		bare := f.usdc
		bare.EIP712Name, bare.EIP712Version = "", ""
		p, _, err := SignAuthorization(r, f.payer, &bare, f.now, AuthorizationOptions{})
		if err != nil {
			t.Fatalf("SignAuthorization: %v", err)
		}
		if _, err := NewVerifier().Verify(f.request(r, p, f.usdc)); err != nil {
			t.Errorf("Verify: %v", err)
		}
	})
	t.Run("no domain anywhere", func(t *testing.T) {
		bare := f.usdc
		bare.EIP712Name = ""
		if _, _, err := SignAuthorization(f.requirements(f.usdc), f.payer, &bare, f.now, AuthorizationOptions{}); err == nil {
			t.Errorf("got no error, want one for a missing EIP-712 name")
		}
	})
}

func TestSignResourceIsEIP191(t *testing.T) {
	f := newFixture(t)
	sig, err := SignResource(f.payer, testResource)
	if err != nil {
		t.Fatalf("SignResource: %v", err)
	}
	checkLowS(t, sig)
	raw := common.FromHex(sig)
	raw[64] -= 27
	pub, err := crypto.SigToPub(accounts.TextHash([]byte(testResource)), raw)
	if err != nil {
		t.Fatalf("recover with geth's TextHash: %v", err)
	}
	if got := crypto.PubkeyToAddress(*pub); got != f.payerAddr {
		t.Errorf("signer = %s, want %s", got, f.payerAddr)
	}
	if _, err := SignResource(f.payer, ""); err == nil {
		t.Errorf("got no error signing an empty resource, want one")
	}
}

// TestSignTransactionMinesOnSimulatedChain sends a verified native payment to
// an in-process geth node and checks that it lands as the verifier said.
func TestSignTransactionMinesOnSimulatedChain(t *testing.T) {
	f := newFixture(t)
	funds := new(big.Int).Mul(big.NewInt(1e18), big.NewInt(10))
	sim := simulated.NewBackend(types.GenesisAlloc{f.payerAddr: {Balance: funds}})
	t.Cleanup(func() { _ = sim.Close() })
	client := sim.Client()
	ctx := context.Background()

	chainID, err := client.ChainID(ctx)
	if err != nil {
		t.Fatalf("chain id: %v", err)
	}
	if chainID.Int64() != testChainID {
		t.Fatalf("simulated chain id = %s, want %d", chainID, testChainID)
	}
	nonce, err := client.PendingNonceAt(ctx, f.payerAddr)
	if err != nil {
		t.Fatalf("nonce: %v", err)
	}
	req := f.requirements(f.native)
	p, header, err := SignTransaction(req, f.payer, &f.native, TxOptions{Nonce: nonce})
	if err != nil {
		t.Fatalf("SignTransaction: %v", err)
	}
	decoded, err := h402.DecodePaymentHeader(header)
	if err != nil {
		t.Fatalf("decode header: %v", err)
	}
	pay, err := NewVerifier().Verify(f.request(req, decoded, f.native))
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}

	tx := new(types.Transaction)
	if err := tx.UnmarshalBinary(common.FromHex(p.Payload.(*h402.EVMSignedTransactionPayload).SignedTransaction)); err != nil {
		t.Fatalf("decode tx: %v", err)
	}
	if err := client.SendTransaction(ctx, tx); err != nil {
		t.Fatalf("send: %v", err)
	}
	sim.Commit()
	rcpt, err := client.TransactionReceipt(ctx, common.HexToHash(pay.TxHash))
	if err != nil {
		t.Fatalf("receipt of Payment.TxHash %s: %v", pay.TxHash, err)
	}
	if rcpt.Status != types.ReceiptStatusSuccessful {
		t.Fatalf("receipt status = %d, want success", rcpt.Status)
	}
	bal, err := client.BalanceAt(ctx, f.payTo, nil)
	if err != nil {
		t.Fatalf("balance: %v", err)
	}
	if bal.Cmp(pay.Amount) != 0 {
		t.Errorf("payTo balance = %s, want the verified amount %s", bal, pay.Amount)
	}
}

// checkLowS fails unless sigHex is 65 bytes with v in {27,28} and s <= n/2.
func checkLowS(t *testing.T, sigHex string) {
	t.Helper()
	sig := common.FromHex(sigHex)
	if len(sig) != 65 {
		t.Fatalf("signature has %d bytes, want 65", len(sig))
	}
	if sig[64] != 27 && sig[64] != 28 {
		t.Errorf("v = %d, want 27 or 28", sig[64])
	}
	half := new(big.Int).Rsh(crypto.S256().Params().N, 1)
	if s := new(big.Int).SetBytes(sig[32:64]); s.Cmp(half) > 0 {
		t.Errorf("s = %x is high, want <= n/2", s)
	}
}
