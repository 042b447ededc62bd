package evmdev_test

import (
	"fmt"
	"math/big"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"

	"github.com/h402/settlement/pkg/evmdev"
)

// TestTransferWithAuthorizationSettles: a payer's signed authorization,
// submitted by a facilitator over JSON-RPC, moves the tokens, marks the nonce
// used and logs AuthorizationUsed and Transfer; both signature forms, on the
// default chain id and on 84532.
func TestTransferWithAuthorizationSettles(t *testing.T) {
	for _, chainID := range []uint64{1337, 84532} {
		chain := startChain(t, evmdev.Config{ChainID: chainID})
		payer, facilitator := chain.Payers()[0], chain.Facilitators()[0]
		payTo := common.HexToAddress("0x5e11e7000000000000000000000000000000beef")
		for _, form := range []string{"v,r,s", "bytes"} {
			t.Run(fmt.Sprintf("chain %d %s", chainID, form), func(t *testing.T) {
				auth := newAuth(t, chain, payer, payTo, 10_000) // 0.01 USDC
				sig := sign(t, chain, payer, auth)
				data := transferCall(auth, sig)
				if form == "bytes" {
					data = usdc.PackTransferWithAuthorizationBytes(auth.From, auth.To, auth.Value, auth.ValidAfter, auth.ValidBefore, auth.Nonce, sig.packed())
				}
				payerBefore, payToBefore := balanceOf(t, chain, auth.From), balanceOf(t, chain, payTo)

				receipt := mine(t, chain, facilitator, chain.Token(), data)
				if receipt.Status != types.ReceiptStatusSuccessful {
					t.Fatalf("receipt status: got %d, want success", receipt.Status)
				}
				if got, want := balanceOf(t, chain, payTo), new(big.Int).Add(payToBefore, auth.Value); got.Cmp(want) != 0 {
					t.Errorf("payTo balance: got %s, want %s", got, want)
				}
				if got, want := balanceOf(t, chain, auth.From), new(big.Int).Sub(payerBefore, auth.Value); got.Cmp(want) != 0 {
					t.Errorf("payer balance: got %s, want %s", got, want)
				}
				if !authorizationUsed(t, chain, auth) {
					t.Errorf("authorizationState(%s, %x): got false, want true", auth.From, auth.Nonce)
				}
				used, transfers := settledIn(t, receipt)
				if _, ok := used[key(auth.From, auth.Nonce)]; !ok || len(used) != 1 {
					t.Errorf("AuthorizationUsed logs: got %v, want exactly (%s, %x)", used, auth.From, auth.Nonce)
				}
				if len(transfers) != 1 || transfers[0].From != auth.From || transfers[0].To != payTo || transfers[0].Value.Cmp(auth.Value) != 0 {
					t.Errorf("Transfer logs: got %+v, want one %s -> %s of %s", transfers, auth.From, payTo, auth.Value)
				}
			})
		}
	}
}

// TestAuthorizationRejections: the token refuses what USDC's FiatToken
// refuses, each with its own revert reason (read through eth_call), and a
// refused call leaves the nonce unused.
func TestAuthorizationRejections(t *testing.T) {
	chain := startChain(t, evmdev.Config{})
	payer, other, facilitator := chain.Payers()[0], chain.Payers()[1], chain.Facilitators()[0]
	payTo := common.HexToAddress("0x5e11e7000000000000000000000000000000beef")

	used := newAuth(t, chain, payer, payTo, 1)
	if r := mine(t, chain, facilitator, chain.Token(), transferCall(used, sign(t, chain, payer, used))); r.Status != types.ReceiptStatusSuccessful {
		t.Fatalf("settling the authorization to reuse: status %d", r.Status)
	}
	head := headTime(t, chain)

	tests := []struct {
		name string
		data func() ([]byte, authorization)
		want string
	}{
		{"high-s twin", func() ([]byte, authorization) {
			a := newAuth(t, chain, payer, payTo, 1)
			return transferCall(a, sign(t, chain, payer, a).highSTwin()), a
		}, "ECRecover: invalid signature 's' value"},
		{"v = 29", func() ([]byte, authorization) {
			a := newAuth(t, chain, payer, payTo, 1)
			s := sign(t, chain, payer, a)
			s.V = 29
			return transferCall(a, s), a
		}, "ECRecover: invalid signature 'v' value"},
		{"v = 0", func() ([]byte, authorization) {
			a := newAuth(t, chain, payer, payTo, 1)
			s := sign(t, chain, payer, a)
			s.V -= 27
			return transferCall(a, s), a
		}, "ECRecover: invalid signature 'v' value"},
		{"signed by another key", func() ([]byte, authorization) {
			a := newAuth(t, chain, payer, payTo, 1)
			return transferCall(a, sign(t, chain, other, a)), a
		}, "FiatTokenV2: invalid signature"},
		{"value changed after signing", func() ([]byte, authorization) {
			a := newAuth(t, chain, payer, payTo, 1)
			s := sign(t, chain, payer, a)
			a.Value = big.NewInt(2)
			return transferCall(a, s), a
		}, "FiatTokenV2: invalid signature"},
		{"expired", func() ([]byte, authorization) {
			a := newAuth(t, chain, payer, payTo, 1)
			a.ValidBefore = big.NewInt(int64(head)) // the next block is later
			return transferCall(a, sign(t, chain, payer, a)), a
		}, "FiatTokenV2: authorization is expired"},
		{"not yet valid", func() ([]byte, authorization) {
			a := newAuth(t, chain, payer, payTo, 1)
			a.ValidAfter = big.NewInt(int64(head) + 600)
			return transferCall(a, sign(t, chain, payer, a)), a
		}, "FiatTokenV2: authorization is not yet valid"},
		{"nonce already used", func() ([]byte, authorization) {
			return transferCall(used, sign(t, chain, payer, used)), authorization{}
		}, "FiatTokenV2: authorization is used or canceled"},
		{"exceeds balance", func() ([]byte, authorization) {
			a := newAuth(t, chain, payer, payTo, 0)
			a.Value = new(big.Int).Add(chain.Config().PayerUSDC, big.NewInt(1))
			return transferCall(a, sign(t, chain, payer, a)), a
		}, "ERC20: transfer amount exceeds balance"},
		{"bytes signature of 64 bytes", func() ([]byte, authorization) {
			a := newAuth(t, chain, payer, payTo, 1)
			sig := sign(t, chain, payer, a).packed()[:64]
			return usdc.PackTransferWithAuthorizationBytes(a.From, a.To, a.Value, a.ValidAfter, a.ValidBefore, a.Nonce, sig), a
		}, "ECRecover: invalid signature length"},
		{"bytes form, high-s twin", func() ([]byte, authorization) {
			a := newAuth(t, chain, payer, payTo, 1)
			sig := sign(t, chain, payer, a).highSTwin().packed()
			return usdc.PackTransferWithAuthorizationBytes(a.From, a.To, a.Value, a.ValidAfter, a.ValidBefore, a.Nonce, sig), a
		}, "ECRecover: invalid signature 's' value"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			data, auth := tc.data()
			_, reason := call(t, chain, evmdev.Address(facilitator), chain.Token(), data)
			if reason != tc.want {
				t.Errorf("revert reason: got %q, want %q", reason, tc.want)
			}
			if auth.From != (common.Address{}) && authorizationUsed(t, chain, auth) {
				t.Errorf("nonce %x: used after a refused call", auth.Nonce)
			}
		})
	}

	// The original of a refused high-s twin still settles: the twin did not
	// spend the nonce.
	t.Run("original after twin", func(t *testing.T) {
		a := newAuth(t, chain, payer, payTo, 1)
		sig := sign(t, chain, payer, a)
		if _, reason := call(t, chain, evmdev.Address(facilitator), chain.Token(), transferCall(a, sig.highSTwin())); reason == "" {
			t.Fatalf("twin: got success, want a revert")
		}
		if r := mine(t, chain, facilitator, chain.Token(), transferCall(a, sig)); r.Status != types.ReceiptStatusSuccessful {
			t.Errorf("original: got status %d, want success", r.Status)
		}
	})
}

func headTime(t *testing.T, chain *evmdev.Chain) uint64 {
	t.Helper()
	h, err := chain.Client().HeaderByNumber(t.Context(), nil)
	if err != nil {
		t.Fatalf("head: %v", err)
	}
	return h.Time
}

// transferLog is a decoded Transfer event.
type transferLog struct {
	From, To common.Address
	Value    *big.Int
}

func key(from common.Address, nonce [32]byte) string { return fmt.Sprintf("%s/%x", from, nonce) }

// settledIn decodes the token's AuthorizationUsed and Transfer logs of a
// receipt: which authorizations were used, and the transfers in order.
func settledIn(t *testing.T, receipt *types.Receipt) (used map[string]bool, transfers []transferLog) {
	t.Helper()
	used = map[string]bool{}
	for _, l := range receipt.Logs {
		if l.Address != evmdev.TokenAddress() || len(l.Topics) == 0 {
			continue
		}
		if ev, err := usdc.UnpackAuthorizationUsedEvent(l); err == nil {
			k := key(ev.Authorizer, ev.Nonce)
			if used[k] {
				t.Errorf("AuthorizationUsed %s logged twice", k)
			}
			used[k] = true
			continue
		}
		if ev, err := usdc.UnpackTransferEvent(l); err == nil {
			transfers = append(transfers, transferLog{ev.From, ev.To, ev.Value})
		}
	}
	return used, transfers
}

// TestPayerSignerMatchesTypedData: the foundation's payer signer and
// go-ethereum's general EIP-712 encoder sign the same authorization to the
// same bytes, so the token's acceptance above is not an accident of one
// implementation.
func TestPayerSignerMatchesTypedData(t *testing.T) {
	chain := startChain(t, evmdev.Config{})
	payer := chain.Payers()[0]
	auth := newAuth(t, chain, payer, common.HexToAddress("0x5e11e7000000000000000000000000000000beef"), 10_000)
	cfg := chain.Config()
	if got, want := sign(t, chain, payer, auth), signAuthorization(t, payer, chain.ChainID(), chain.Token(), cfg.TokenName, cfg.TokenVersion, auth); got != want {
		t.Errorf("payer signer: %+v, typed-data encoder: %+v", got, want)
	}
}
