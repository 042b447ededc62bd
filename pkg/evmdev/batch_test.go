package evmdev_test

import (
	"math/big"
	"testing"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"

	"github.com/h402/settlement/pkg/contracts"
	"github.com/h402/settlement/pkg/evmdev"
)

// TestBatchThroughMulticall: 100 authorizations, 3 of them bad (expired,
// signed by the wrong key, a reused nonce), go through Multicall3.aggregate3
// with allowFailure in ONE transaction: the 97 good ones settle, and the
// receipt's AuthorizationUsed / Transfer logs say exactly which.
func TestBatchThroughMulticall(t *testing.T) {
	chain := startChain(t, evmdev.Config{Payers: 10})
	payers, facilitator := chain.Payers(), chain.Facilitators()[0]
	payTo := common.HexToAddress("0x5e11e7000000000000000000000000000000beef")
	head := headTime(t, chain)

	const n = 100
	const expired, wrongKey, reused, reusedOf = 10, 50, 90, 20
	auths := make([]authorization, n)
	calls := make([]contracts.Multicall3Call3, n)
	for i := range n {
		payer := payers[i%len(payers)]
		auths[i] = newAuth(t, chain, payer, payTo, int64(1000+i)) // distinct values
		signer := payer
		switch i {
		case expired:
			auths[i].ValidBefore = big.NewInt(int64(head))
		case wrongKey:
			signer = payers[(i+1)%len(payers)]
		case reused:
			auths[i] = auths[reusedOf] // same payer (90 % 10 == 20 % 10), same nonce
		}
		calls[i] = contracts.Multicall3Call3{Target: chain.Token(), AllowFailure: true,
			CallData: transferCall(auths[i], sign(t, chain, signer, auths[i]))}
	}
	bad := map[int]string{
		expired:  "FiatTokenV2: authorization is expired",
		wrongKey: "FiatTokenV2: invalid signature",
		reused:   "FiatTokenV2: authorization is used or canceled",
	}
	data := multicall.PackAggregate3(calls)

	// A dry run (eth_call) returns each call's result, the revert reasons
	// of the bad ones included.
	out, reason := call(t, chain, evmdev.Address(facilitator), chain.Multicall(), data)
	if reason != "" {
		t.Fatalf("aggregate3 eth_call reverted: %s", reason)
	}
	results, err := multicall.UnpackAggregate3(out)
	if err != nil || len(results) != n {
		t.Fatalf("unpack aggregate3: got %d results (err %v), want %d", len(results), err, n)
	}
	for i, r := range results {
		want, isBad := bad[i]
		if r.Success == isBad {
			t.Errorf("dry run call %d: success %v, want %v", i, r.Success, !isBad)
			continue
		}
		if isBad {
			if got, err := abi.UnpackRevert(r.ReturnData); err != nil || got != want {
				t.Errorf("dry run call %d: reason %q (err %v), want %q", i, got, err, want)
			}
		}
	}

	before := balanceOf(t, chain, payTo)
	receipt := mine(t, chain, facilitator, chain.Multicall(), data)
	if receipt.Status != types.ReceiptStatusSuccessful {
		t.Fatalf("batch tx status: got %d, want success", receipt.Status)
	}
	t.Logf("batch of %d (%d settled): %d gas, %d per settled payment", n, n-len(bad), receipt.GasUsed, receipt.GasUsed/uint64(n-len(bad)))

	used, transfers := settledIn(t, receipt)
	if got, want := len(used), n-len(bad); got != want {
		t.Errorf("AuthorizationUsed logs: got %d, want %d", got, want)
	}
	if got, want := len(transfers), n-len(bad); got != want {
		t.Errorf("Transfer logs: got %d, want %d", got, want)
	}
	sum := new(big.Int)
	for i, a := range auths {
		_, isBad := bad[i]
		if i == reused {
			continue // same authorization as reusedOf, which settled
		}
		if got := used[key(a.From, a.Nonce)]; got == isBad {
			t.Errorf("authorization %d: in AuthorizationUsed logs %v, want %v", i, got, !isBad)
		}
		if !isBad {
			sum.Add(sum, a.Value)
		}
	}
	var logged = new(big.Int)
	for _, tr := range transfers {
		if tr.To != payTo {
			t.Errorf("Transfer to %s, want %s", tr.To, payTo)
		}
		logged.Add(logged, tr.Value)
	}
	if logged.Cmp(sum) != 0 {
		t.Errorf("sum of Transfer logs: got %s, want %s", logged, sum)
	}
	if got, want := balanceOf(t, chain, payTo), new(big.Int).Add(before, sum); got.Cmp(want) != 0 {
		t.Errorf("payTo balance: got %s, want %s", got, want)
	}
	if authorizationUsed(t, chain, auths[expired]) || authorizationUsed(t, chain, auths[wrongKey]) {
		t.Errorf("a refused authorization's nonce is marked used")
	}
}
