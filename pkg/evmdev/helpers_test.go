package evmdev_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"errors"
	"math/big"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/common/math"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/rpc"
	"github.com/ethereum/go-ethereum/signer/core/apitypes"

	chainevm "github.com/h402/settlement/pkg/chains/evm"
	"github.com/h402/settlement/pkg/config"
	"github.com/h402/settlement/pkg/contracts"
	"github.com/h402/settlement/pkg/evmdev"
	"github.com/h402/settlement/pkg/h402"
)

var (
	usdc      = contracts.NewTestUSDC()
	multicall = contracts.NewMulticall3()
)

// startChain starts a dev chain closed at the end of the test.
func startChain(t *testing.T, cfg evmdev.Config) *evmdev.Chain {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	chain, err := evmdev.Start(ctx, cfg)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := chain.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return chain
}

// authorization is an EIP-3009 TransferWithAuthorization message.
type authorization struct {
	From, To                       common.Address
	Value, ValidAfter, ValidBefore *big.Int
	Nonce                          [32]byte
}

// signature is a (v, r, s) ECDSA signature with v in {27, 28}.
type signature struct {
	V    uint8
	R, S [32]byte
}

// signAuthorization signs auth as EIP-712 TransferWithAuthorization typed data
// for the token's domain (name, version, chainId, verifyingContract), with the
// EIP-712 encoder of go-ethereum's signer (independent of the contract's).
// This is the one test-only signer; pkg/chains/evm's payer signer replaces it.
func signAuthorization(t *testing.T, key *ecdsa.PrivateKey, chainID *big.Int, token common.Address, name, version string, auth authorization) signature {
	t.Helper()
	typed := apitypes.TypedData{
		Types: apitypes.Types{
			"EIP712Domain": {
				{Name: "name", Type: "string"}, {Name: "version", Type: "string"},
				{Name: "chainId", Type: "uint256"}, {Name: "verifyingContract", Type: "address"},
			},
			"TransferWithAuthorization": {
				{Name: "from", Type: "address"}, {Name: "to", Type: "address"}, {Name: "value", Type: "uint256"},
				{Name: "validAfter", Type: "uint256"}, {Name: "validBefore", Type: "uint256"}, {Name: "nonce", Type: "bytes32"},
			},
		},
		PrimaryType: "TransferWithAuthorization",
		Domain: apitypes.TypedDataDomain{
			Name: name, Version: version, ChainId: (*math.HexOrDecimal256)(chainID), VerifyingContract: token.Hex(),
		},
		Message: apitypes.TypedDataMessage{
			"from": auth.From.Hex(), "to": auth.To.Hex(), "value": auth.Value.String(),
			"validAfter": auth.ValidAfter.String(), "validBefore": auth.ValidBefore.String(),
			"nonce": hexutil.Encode(auth.Nonce[:]),
		},
	}
	digest, _, err := apitypes.TypedDataAndHash(typed)
	if err != nil {
		t.Fatalf("EIP-712 hash: %v", err)
	}
	sig, err := crypto.Sign(digest, key)
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	var out signature
	copy(out.R[:], sig[:32])
	copy(out.S[:], sig[32:64])
	out.V = sig[64] + 27
	return out
}

// packed is the 65-byte r || s || v encoding.
func (s signature) packed() []byte {
	return append(append(append([]byte{}, s.R[:]...), s.S[:]...), s.V)
}

// highSTwin is the other valid signature of the same digest: s' = n - s and
// the parity flipped. Plain ecrecover accepts it; FiatToken must not.
func (s signature) highSTwin() signature {
	n := crypto.S256().Params().N
	twin := s
	new(big.Int).Sub(n, new(big.Int).SetBytes(s.S[:])).FillBytes(twin.S[:])
	twin.V = 55 - s.V // 27 <-> 28
	return twin
}

// transferCall packs transferWithAuthorization (v, r, s form).
func transferCall(a authorization, s signature) []byte {
	return usdc.PackTransferWithAuthorization(a.From, a.To, a.Value, a.ValidAfter, a.ValidBefore, a.Nonce, s.V, s.R, s.S)
}

func randomNonce(t *testing.T) [32]byte {
	t.Helper()
	var n [32]byte
	if _, err := rand.Read(n[:]); err != nil {
		t.Fatalf("random nonce: %v", err)
	}
	return n
}

// window returns validAfter/validBefore around the head block's time (block
// time runs ahead of the wall clock under fast commits).
func window(t *testing.T, chain *evmdev.Chain) (after, before *big.Int) {
	t.Helper()
	head, err := chain.Client().HeaderByNumber(context.Background(), nil)
	if err != nil {
		t.Fatalf("head: %v", err)
	}
	return big.NewInt(int64(head.Time) - 1), big.NewInt(int64(head.Time) + 3600)
}

// newAuth builds a fresh authorization of value from payer to payTo.
func newAuth(t *testing.T, chain *evmdev.Chain, payer *ecdsa.PrivateKey, payTo common.Address, value int64) authorization {
	t.Helper()
	after, before := window(t, chain)
	return authorization{From: evmdev.Address(payer), To: payTo, Value: big.NewInt(value),
		ValidAfter: after, ValidBefore: before, Nonce: randomNonce(t)}
}

// sign signs auth with key for chain's TestUSDC using the foundation's payer
// signer (pkg/chains/evm), the one clients and load generators use.
func sign(t *testing.T, chain *evmdev.Chain, key *ecdsa.PrivateKey, auth authorization) signature {
	t.Helper()
	cfg := chain.Config()
	amount := h402.Decimal{Text: auth.Value.String(), Quoted: true}
	req := &h402.PaymentRequirements{
		Namespace: h402.NamespaceEVM, Scheme: h402.SchemeExact, NetworkID: chain.ChainID().String(),
		TokenAddress: chain.Token().Hex(), PayToAddress: auth.To.Hex(),
		AmountRequired: &amount, AmountRequiredFormat: h402.FormatSmallestUnit,
	}
	token := &config.Token{Symbol: cfg.TokenSymbol, Address: chain.Token().Hex(), Decimals: 6, Kind: config.KindEIP3009, EIP712Name: cfg.TokenName, EIP712Version: cfg.TokenVersion}
	nonce := auth.Nonce
	p, _, err := chainevm.SignAuthorization(req, key, token, time.Unix(auth.ValidAfter.Int64(), 0), chainevm.AuthorizationOptions{
		Nonce: &nonce, ValidAfter: time.Unix(auth.ValidAfter.Int64(), 0), ValidBefore: time.Unix(auth.ValidBefore.Int64(), 0),
	})
	if err != nil {
		t.Fatalf("sign authorization: %v", err)
	}
	sig, err := chainevm.DecodeSignature(p.Payload.(*h402.EVMAuthorizationPayload).Signature)
	if err != nil {
		t.Fatalf("decode signature: %v", err)
	}
	return signature{V: sig.V, R: sig.R, S: sig.S}
}

// send signs and sends a dynamic-fee transaction calling to with data,
// estimating gas over JSON-RPC.
func send(t *testing.T, chain *evmdev.Chain, key *ecdsa.PrivateKey, to common.Address, data []byte) *types.Transaction {
	t.Helper()
	ctx := context.Background()
	client := chain.Client()
	from := evmdev.Address(key)
	nonce, err := client.PendingNonceAt(ctx, from)
	if err != nil {
		t.Fatalf("nonce of %s: %v", from, err)
	}
	gas, err := client.EstimateGas(ctx, ethereum.CallMsg{From: from, To: &to, Data: data})
	if err != nil {
		t.Fatalf("estimate gas: %v", err)
	}
	head, err := client.HeaderByNumber(ctx, nil)
	if err != nil {
		t.Fatalf("head: %v", err)
	}
	tip := big.NewInt(1_000_000_000)
	tx, err := types.SignNewTx(key, types.LatestSignerForChainID(chain.ChainID()), &types.DynamicFeeTx{
		ChainID: chain.ChainID(), Nonce: nonce, To: &to, Data: data, Gas: gas + gas/5,
		GasTipCap: tip, GasFeeCap: new(big.Int).Add(tip, new(big.Int).Mul(head.BaseFee, big.NewInt(2))),
	})
	if err != nil {
		t.Fatalf("sign tx: %v", err)
	}
	if err := client.SendTransaction(ctx, tx); err != nil {
		t.Fatalf("send tx: %v", err)
	}
	return tx
}

// mine sends a transaction, seals a block and returns the receipt.
func mine(t *testing.T, chain *evmdev.Chain, key *ecdsa.PrivateKey, to common.Address, data []byte) *types.Receipt {
	t.Helper()
	tx := send(t, chain, key, to, data)
	chain.Commit()
	receipt, err := chain.Client().TransactionReceipt(context.Background(), tx.Hash())
	if err != nil {
		t.Fatalf("receipt of %s: %v", tx.Hash(), err)
	}
	return receipt
}

// call runs an eth_call from key's address and returns the output, or the
// decoded Error(string) revert reason.
func call(t *testing.T, chain *evmdev.Chain, from, to common.Address, data []byte) (out []byte, reason string) {
	t.Helper()
	out, err := chain.Client().CallContract(context.Background(), ethereum.CallMsg{From: from, To: &to, Data: data}, nil)
	if err == nil {
		return out, ""
	}
	var de rpc.DataError
	if !errors.As(err, &de) {
		t.Fatalf("eth_call: %v (no revert data)", err)
	}
	hexData, ok := de.ErrorData().(string)
	if !ok {
		t.Fatalf("eth_call: revert data %T, want hex string", de.ErrorData())
	}
	reason, err = abi.UnpackRevert(common.FromHex(hexData))
	if err != nil {
		t.Fatalf("eth_call: decode revert %s: %v", hexData, err)
	}
	return nil, reason
}

func balanceOf(t *testing.T, chain *evmdev.Chain, who common.Address) *big.Int {
	t.Helper()
	out, reason := call(t, chain, who, chain.Token(), usdc.PackBalanceOf(who))
	if reason != "" {
		t.Fatalf("balanceOf reverted: %s", reason)
	}
	b, err := usdc.UnpackBalanceOf(out)
	if err != nil {
		t.Fatalf("unpack balanceOf: %v", err)
	}
	return b
}

func authorizationUsed(t *testing.T, chain *evmdev.Chain, a authorization) bool {
	t.Helper()
	out, reason := call(t, chain, a.From, chain.Token(), usdc.PackAuthorizationState(a.From, a.Nonce))
	if reason != "" {
		t.Fatalf("authorizationState reverted: %s", reason)
	}
	used, err := usdc.UnpackAuthorizationState(out)
	if err != nil {
		t.Fatalf("unpack authorizationState: %v", err)
	}
	return used
}

func splitURL(t *testing.T, raw string) (scheme string, port int, host string) {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("parse %s: %v", raw, err)
	}
	p, err := strconv.Atoi(u.Port())
	if err != nil {
		t.Fatalf("port of %s: %v", raw, err)
	}
	return u.Scheme, p, u.Hostname()
}
