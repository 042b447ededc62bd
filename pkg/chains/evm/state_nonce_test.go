package evm_test

import (
	"context"
	"crypto/ecdsa"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/h402/settlement/pkg/chains"
	"github.com/h402/settlement/pkg/chains/evm"
	"github.com/h402/settlement/pkg/config"
	"github.com/h402/settlement/pkg/evmdev"
	"github.com/h402/settlement/pkg/failover"
	"github.com/h402/settlement/pkg/h402"
	"github.com/h402/settlement/pkg/testenv"
)

// stateEnv is the EVM dev chain with a state checker over its RPC.
type stateEnv struct {
	t       *testing.T
	chain   *evmdev.Chain
	network config.Network
	checker *evm.StateChecker
	funder  *ecdsa.PrivateKey
}

func newStateEnv(t *testing.T) *stateEnv {
	t.Helper()
	chain := testenv.StartEVM(t, evmdev.Config{})
	network := testenv.EVMNetwork(chain)
	pool, err := evm.Dial(context.Background(), &network, failover.Settings{})
	if err != nil {
		t.Fatal(err)
	}
	e := &stateEnv{t: t, chain: chain, network: network, funder: chain.Payers()[0]}
	e.checker = evm.NewStateChecker(&e.network, pool, evm.StateOptions{})
	return e
}

// send signs and sends a transaction from key; mine commits a block after it.
func (e *stateEnv) send(key *ecdsa.PrivateKey, nonce uint64, to common.Address, value *big.Int, data []byte, tip *big.Int, mine bool) {
	e.t.Helper()
	ctx := context.Background()
	tx := types.MustSignNewTx(key, types.LatestSignerForChainID(e.chain.ChainID()), &types.DynamicFeeTx{
		ChainID: e.chain.ChainID(), Nonce: nonce, To: &to, Value: value, Data: data,
		Gas: 100_000, GasTipCap: tip, GasFeeCap: big.NewInt(1e11),
	})
	if err := e.chain.Client().SendTransaction(ctx, tx); err != nil {
		e.t.Fatalf("send: %v", err)
	}
	if !mine {
		return
	}
	e.chain.Commit()
	if r, err := e.chain.Client().TransactionReceipt(ctx, tx.Hash()); err != nil || r.Status != types.ReceiptStatusSuccessful {
		e.t.Fatalf("tx %s: receipt %+v, %v", tx.Hash(), r, err)
	}
}

// fund is a fresh key holding wei of ether and usdc token units.
func (e *stateEnv) fund(wei *big.Int, usdc int64) *ecdsa.PrivateKey {
	e.t.Helper()
	key, _ := crypto.GenerateKey()
	to := crypto.PubkeyToAddress(key.PublicKey)
	from := crypto.PubkeyToAddress(e.funder.PublicKey)
	n, err := e.chain.Client().PendingNonceAt(context.Background(), from)
	if err != nil {
		e.t.Fatal(err)
	}
	e.send(e.funder, n, to, wei, nil, big.NewInt(1e9), true)
	if usdc > 0 {
		e.send(e.funder, n+1, e.chain.Token(), nil, evm.TransferCalldata(to, big.NewInt(usdc)), big.NewInt(1e9), true)
	}
	return key
}

func (e *stateEnv) minedNonce(key *ecdsa.PrivateKey) uint64 {
	e.t.Helper()
	n, err := e.chain.Client().NonceAt(context.Background(), crypto.PubkeyToAddress(key.PublicKey), nil)
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

// check verifies a signedTransaction paying amount of token (native when
// tok is 1) with nonce, locally and against the chain.
func (e *stateEnv) check(key *ecdsa.PrivateKey, tok int, amount string, nonce uint64, taken func(context.Context, string) (bool, error)) (*chains.Payment, *chains.State, error) {
	e.t.Helper()
	token := &e.network.Tokens[tok]
	d := h402.Decimal{Text: amount, Quoted: true}
	req := &h402.PaymentRequirements{
		Namespace: h402.NamespaceEVM, Scheme: h402.SchemeExact, NetworkID: e.network.NetworkID,
		TokenAddress: strings.ToLower(token.Address), PayToAddress: strings.ToLower(evmdev.Address(evmdev.DevKey("seller")).Hex()),
		AmountRequired: &d, AmountRequiredFormat: h402.FormatSmallestUnit, Resource: "https://api.example/report",
	}
	if token.Kind == config.KindNative {
		req.TokenAddress = h402.EVMNativeToken
	}
	p, _, err := evm.SignTransaction(req, key, token, evm.TxOptions{Nonce: nonce, GasFeeCap: big.NewInt(1e11)})
	if err != nil {
		e.t.Fatal(err)
	}
	amt, _ := req.Amount(token.Decimals)
	r := &chains.Request{Requirements: req, Payload: p, Network: &e.network, Token: token, Amount: amt,
		Policy: config.DefaultVerify(), Now: time.Now(), Taken: taken}
	pay, err := evm.NewVerifier().Verify(r)
	if err != nil {
		e.t.Fatalf("local verify: %v", err)
	}
	st, err := e.checker.CheckState(context.Background(), r, pay)
	return pay, st, err
}

func takenKeys(keys ...string) func(context.Context, string) (bool, error) {
	return func(_ context.Context, k string) (bool, error) {
		for _, want := range keys {
			if k == want {
				return true, nil
			}
		}
		return false, nil
	}
}

// TestSignedTransactionNonce: a signedTransaction's nonce is the sender's
// next mined nonce, or follows an accepted payment; a transaction of the
// sender's own waiting in the pool never closes a gap (it may never be mined,
// and ours would then wait for ever behind it).
func TestSignedTransactionNonce(t *testing.T) {
	e := newStateEnv(t)
	chainID := e.chain.ChainID()
	const native = 1
	seller := evmdev.Address(evmdev.DevKey("seller"))

	t.Run("next mined nonce", func(t *testing.T) {
		key := e.fund(big.NewInt(1e18), 0)
		if _, _, err := e.check(key, native, "1000", e.minedNonce(key), nil); err != nil {
			t.Fatalf("CheckState: %v, want accepted", err)
		}
	})
	t.Run("mined nonce is used", func(t *testing.T) {
		key := e.fund(big.NewInt(1e18), 0)
		n := e.minedNonce(key)
		e.send(key, n, seller, big.NewInt(1), nil, big.NewInt(1e9), true)
		_, _, err := e.check(key, native, "1000", n, takenKeys())
		wantStateReason(t, err, h402.ReasonNonceAlreadyUsed)
	})
	t.Run("gap without an accepted predecessor", func(t *testing.T) {
		key := e.fund(big.NewInt(1e18), 0)
		_, _, err := e.check(key, native, "1000", e.minedNonce(key)+1, takenKeys())
		wantStateReason(t, err, h402.ReasonNonceGap)
	})
	t.Run("gap when the guard cannot be asked", func(t *testing.T) {
		key := e.fund(big.NewInt(1e18), 0)
		_, _, err := e.check(key, native, "1000", e.minedNonce(key)+1, nil)
		wantStateReason(t, err, h402.ReasonNonceGap)
	})
	t.Run("follows an accepted payment", func(t *testing.T) {
		key := e.fund(big.NewInt(1e18), 0)
		n := e.minedNonce(key)
		prev := evm.TransactionKey(chainID, crypto.PubkeyToAddress(key.PublicKey), n)
		if _, _, err := e.check(key, native, "1000", n+1, takenKeys(prev)); err != nil {
			t.Fatalf("CheckState: %v, want accepted", err)
		}
	})
	t.Run("the guard's error is not a bad payment", func(t *testing.T) {
		key := e.fund(big.NewInt(1e18), 0)
		boom := func(context.Context, string) (bool, error) { return false, context.DeadlineExceeded }
		_, _, err := e.check(key, native, "1000", e.minedNonce(key)+1, boom)
		if err == nil || h402.ReasonOf(err, "") != "" {
			t.Fatalf("CheckState: %v, want a retryable (non-h402) error", err)
		}
	})
	// The sender's own transaction in the pool, with a 1-wei tip the miner
	// never includes: the chain's pending nonce counts it, the mined one does not.
	t.Run("a pool transaction that is never mined does not close a gap", func(t *testing.T) {
		key := e.fund(big.NewInt(1e18), 0)
		n := e.minedNonce(key)
		e.send(key, n, seller, big.NewInt(1), nil, big.NewInt(1), false)
		e.chain.Commit()
		if got := e.minedNonce(key); got != n {
			t.Fatalf("the 1-wei-tip transaction was mined (nonce %d -> %d): this test needs it to stay in the pool", n, got)
		}
		pending, err := e.chain.Client().PendingNonceAt(context.Background(), crypto.PubkeyToAddress(key.PublicKey))
		if err != nil || pending != n+1 {
			t.Fatalf("pending nonce %d, %v; want %d (the pool holds nonce %d)", pending, err, n+1, n)
		}
		_, _, err = e.check(key, native, "1000", n+1, takenKeys())
		wantStateReason(t, err, h402.ReasonNonceGap)
		_, _, err = e.check(key, native, "1000", n, takenKeys())
		wantStateReason(t, err, h402.ReasonNonceAlreadyUsed)
	})
}

// TestSignedTransactionGasExposure: a native signedTransaction reserves its
// value plus its gas against the sender's whole balance; an ERC-20 one needs
// native coin for its gas and that of the sender's pending transactions.
func TestSignedTransactionGasExposure(t *testing.T) {
	e := newStateEnv(t)
	chainID := e.chain.ChainID()
	gasNative := new(big.Int).Mul(big.NewInt(evm.DefaultNativeGas), big.NewInt(1e11))
	gasToken := new(big.Int).Mul(big.NewInt(evm.DefaultTokenGas), big.NewInt(1e11))

	t.Run("native reserves value plus gas", func(t *testing.T) {
		key := e.fund(big.NewInt(1e18), 0)
		_, st, err := e.check(key, 1, "1000", e.minedNonce(key), nil)
		if err != nil {
			t.Fatal(err)
		}
		if want := big.NewInt(1e18); st.Balance.Cmp(want) != 0 {
			t.Errorf("balance %s, want the sender's whole balance %s", st.Balance, want)
		}
		want := new(big.Int).Add(big.NewInt(1000), gasNative)
		if got := st.Exposure(&chains.Payment{Amount: big.NewInt(1000)}); got.Cmp(want) != 0 {
			t.Errorf("exposure %s, want value + gas × max fee = %s", got, want)
		}
	})
	t.Run("erc20 gas of pending transactions", func(t *testing.T) {
		// Ether for one transaction's gas and a half.
		wei := new(big.Int).Add(gasToken, new(big.Int).Div(gasToken, big.NewInt(2)))
		key := e.fund(wei, 10_000)
		n := e.minedNonce(key)
		_, st, err := e.check(key, 0, "1000", n, nil)
		if err != nil {
			t.Fatalf("first transaction: %v", err)
		}
		if st.Reserve != nil {
			t.Errorf("an ERC-20 payment reserves %s, want its token amount (nil Reserve)", st.Reserve)
		}
		prev := evm.TransactionKey(chainID, crypto.PubkeyToAddress(key.PublicKey), n)
		_, _, err = e.check(key, 0, "1000", n+1, takenKeys(prev))
		wantStateReason(t, err, h402.ReasonInsufficientFunds)
	})
}

func wantStateReason(t *testing.T, err error, want h402.Reason) {
	t.Helper()
	if got := h402.ReasonOf(err, ""); got != want {
		t.Fatalf("reason %q (err %v), want %q", got, err, want)
	}
}

// TestClientBroadcastRecentAndBound: a client-broadcast transfer on the dev
// chain is accepted while recent and only with a signedMessage by its sender.
func TestClientBroadcastRecentAndBound(t *testing.T) {
	e := newStateEnv(t)
	ctx := context.Background()
	key := e.fund(big.NewInt(1e18), 10_000)
	seller := evmdev.Address(evmdev.DevKey("seller"))
	n := e.minedNonce(key)
	e.send(key, n, e.chain.Token(), nil, evm.TransferCalldata(seller, big.NewInt(4200)), big.NewInt(1e9), true)
	head, err := e.chain.Client().HeaderByNumber(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	mined := time.Unix(int64(head.Time), 0)
	block, err := e.chain.Client().BlockByNumber(ctx, head.Number)
	if err != nil || len(block.Transactions()) != 1 {
		t.Fatalf("head block: %v, %v; want the transfer alone", block, err)
	}
	hash := block.Transactions()[0].Hash()

	token := &e.network.Tokens[0]
	d := h402.Decimal{Text: "4200", Quoted: true}
	req := &h402.PaymentRequirements{
		Namespace: h402.NamespaceEVM, Scheme: h402.SchemeExact, NetworkID: e.network.NetworkID,
		TokenAddress: strings.ToLower(token.Address), PayToAddress: strings.ToLower(seller.Hex()),
		AmountRequired: &d, AmountRequiredFormat: h402.FormatSmallestUnit, Resource: "https://api.example/report",
	}
	maxAge := time.Duration(config.DefaultVerify().ClientBroadcastMaxAge)
	cases := []struct {
		name string
		by   *ecdsa.PrivateKey
		now  time.Time
		want h402.Reason
	}{
		{"sender, just mined", key, mined, ""},
		{"sender, at the end of the window", key, mined.Add(maxAge), ""},
		{"sender, too old", key, mined.Add(maxAge + time.Second), h402.ReasonTransactionTooOld},
		{"signedMessage by another key", e.funder, mined, h402.ReasonEVMSignedMessage},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, _, err := evm.SignAndSendPayload(req, tc.by, hash)
			if err != nil {
				t.Fatal(err)
			}
			r := &chains.Request{Requirements: req, Payload: p, Network: &e.network, Token: token, Amount: big.NewInt(4200),
				Policy: config.DefaultVerify(), Now: tc.now}
			pay, err := evm.NewVerifier().Verify(r)
			if err != nil {
				t.Fatalf("local verify: %v", err)
			}
			_, err = e.checker.CheckState(ctx, r, pay)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("CheckState: %v, want accepted", err)
				}
				return
			}
			wantStateReason(t, err, tc.want)
		})
	}
}
