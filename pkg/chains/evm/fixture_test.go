package evm

import (
	"crypto/ecdsa"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/h402/settlement/pkg/chains"
	"github.com/h402/settlement/pkg/config"
	"github.com/h402/settlement/pkg/h402"
)

// Test constants: the dev chain id and a USDC-like token.
const (
	testChainID  = 1337
	testResource = "https://api.example.com/weather?city=Berlin"
	usdcAddress  = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
	plainAddress = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"
)

// testAmount is amountRequired 0.01 of a 6-decimal token.
var testAmount = big.NewInt(10_000)

// fixture holds keys generated for one test and the tokens they pay with.
type fixture struct {
	payer, other *ecdsa.PrivateKey
	payerAddr    common.Address
	payTo        common.Address
	now          time.Time
	usdc, plain  config.Token // eip3009 and erc20
	native       config.Token
	network      config.Network
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	f := &fixture{
		payer: mustKey(t),
		other: mustKey(t),
		now:   time.Unix(1_750_000_000, 250_000_000),
		usdc: config.Token{Symbol: "USDC", Address: usdcAddress, Decimals: 6, Kind: config.KindEIP3009,
			EIP712Name: "USD Coin", EIP712Version: "2"},
		plain:  config.Token{Symbol: "DAI", Address: plainAddress, Decimals: 6, Kind: config.KindERC20},
		native: config.Token{Symbol: "ETH", Address: h402.EVMNativeToken, Decimals: 18, Kind: config.KindNative},
	}
	f.payerAddr = crypto.PubkeyToAddress(f.payer.PublicKey)
	f.payTo = crypto.PubkeyToAddress(mustKey(t).PublicKey)
	f.network = config.Network{Namespace: h402.NamespaceEVM, NetworkID: "1337",
		Tokens: []config.Token{f.usdc, f.plain, f.native}}
	return f
}

func mustKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := crypto.GenerateKey()
	if err != nil {
		t.Fatalf("generate key: %v", err)
	}
	return k
}

// requirements returns a requirement paying testAmount of tok to f.payTo.
// Amounts are in smallest units so that one requirement works for every token.
func (f *fixture) requirements(tok config.Token) *h402.PaymentRequirements {
	amount := h402.NewDecimal(testAmount)
	return &h402.PaymentRequirements{
		Namespace:            h402.NamespaceEVM,
		Scheme:               h402.SchemeExact,
		NetworkID:            "1337",
		TokenAddress:         tok.Address,
		PayToAddress:         f.payTo.Hex(), // EIP-55 mixed case, as sellers write it
		AmountRequired:       &amount,
		AmountRequiredFormat: h402.FormatSmallestUnit,
		Resource:             testResource,
	}
}

// request assembles what the caller of Verify passes after its common checks.
func (f *fixture) request(req *h402.PaymentRequirements, p *h402.PaymentPayload, tok config.Token) *chains.Request {
	policy := config.DefaultVerify()
	return &chains.Request{
		Requirements: req,
		Payload:      p,
		Network:      &f.network,
		Token:        &tok,
		Amount:       new(big.Int).Set(testAmount),
		Policy:       policy,
		Now:          f.now,
	}
}

// authorization signs a valid authorization of f.usdc with opts.
func (f *fixture) authorization(t testing.TB, key *ecdsa.PrivateKey, req *h402.PaymentRequirements, tok config.Token, opts AuthorizationOptions) *h402.PaymentPayload {
	t.Helper()
	p, _, err := SignAuthorization(req, key, &tok, f.now, opts)
	if err != nil {
		t.Fatalf("SignAuthorization: %v", err)
	}
	return p
}

// txPayload signs txd with txKey (EIP-155/2718 signer for chainID, or the
// unprotected Homestead signer when chainID is nil) and wraps it with a
// signedMessage by msgKey.
func (f *fixture) txPayload(t testing.TB, req *h402.PaymentRequirements, txd types.TxData, chainID *big.Int, txKey, msgKey *ecdsa.PrivateKey) *h402.PaymentPayload {
	t.Helper()
	signer := types.LatestSignerForChainID(chainID)
	tx, err := types.SignNewTx(txKey, signer, txd)
	if err != nil {
		t.Fatalf("sign tx: %v", err)
	}
	p, _, err := SignedTransactionPayload(req, msgKey, tx)
	if err != nil {
		t.Fatalf("SignedTransactionPayload: %v", err)
	}
	return p
}

// dynTx is a valid dynamic-fee payment of amount to `to` with data.
func dynTx(to common.Address, value *big.Int, data []byte, gas uint64) *types.DynamicFeeTx {
	return &types.DynamicFeeTx{ChainID: big.NewInt(testChainID), Nonce: 7, GasTipCap: big.NewInt(1e9),
		GasFeeCap: big.NewInt(3e9), Gas: gas, To: &to, Value: value, Data: data}
}

// authPayload returns p's authorization variant.
func authPayload(t testing.TB, p *h402.PaymentPayload) *h402.EVMAuthorizationPayload {
	t.Helper()
	a, ok := p.Payload.(*h402.EVMAuthorizationPayload)
	if !ok {
		t.Fatalf("payload is %T, want *h402.EVMAuthorizationPayload", p.Payload)
	}
	return a
}

// highS returns the malleable twin of a valid 0x-hex signature: s' = n - s, v flipped.
func highS(t testing.TB, sigHex string) string {
	t.Helper()
	sig := common.FromHex(sigHex)
	if len(sig) != 65 {
		t.Fatalf("signature has %d bytes, want 65", len(sig))
	}
	n := crypto.S256().Params().N
	s := new(big.Int).SetBytes(sig[32:64])
	new(big.Int).Sub(n, s).FillBytes(sig[32:64])
	if sig[64] == 27 {
		sig[64] = 28
	} else {
		sig[64] = 27
	}
	return "0x" + common.Bytes2Hex(sig)
}

// setSigByte returns sigHex with byte i replaced by b.
func setSigByte(sigHex string, i int, b byte) string {
	sig := common.FromHex(sigHex)
	sig[i] = b
	return "0x" + common.Bytes2Hex(sig)
}

// wantReason fails unless err is an *h402.Error with reason want and a sentence.
func wantReason(t testing.TB, err error, want h402.Reason) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want reason %s", want)
	}
	var e *h402.Error
	if !errors.As(err, &e) {
		t.Fatalf("got error %T %v, want *h402.Error with reason %s", err, err, want)
	}
	if e.Reason != want {
		t.Fatalf("got reason %s (%s), want %s", e.Reason, e.Message, want)
	}
	if strings.TrimSpace(e.Message) == "" {
		t.Fatalf("reason %s has no human message", e.Reason)
	}
}

func lower(a common.Address) string { return strings.ToLower(a.Hex()) }
