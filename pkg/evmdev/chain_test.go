package evmdev_test

import (
	"context"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/h402/settlement/pkg/evmdev"
)

func TestStart(t *testing.T) {
	began := time.Now()
	chain := startChain(t, evmdev.Config{})
	took := time.Since(began)
	t.Logf("start-up (node, JSON-RPC, deploy, mint %d payers): %s", len(chain.Payers()), took)
	if took > 5*time.Second { // a sanity guard, not a benchmark
		t.Errorf("start-up took %s, want < 5s", took)
	}
	ctx := context.Background()
	client := chain.Client()

	if id, err := client.ChainID(ctx); err != nil || id.Uint64() != 1337 {
		t.Errorf("eth_chainId: got %v (err %v), want 1337", id, err)
	}
	for _, c := range []struct {
		name string
		addr common.Address
	}{{"TestUSDC", chain.Token()}, {"Multicall3", chain.Multicall()}} {
		code, err := client.CodeAt(ctx, c.addr, nil)
		if err != nil || len(code) == 0 {
			t.Errorf("%s at %s: got %d bytes of code (err %v), want a contract", c.name, c.addr, len(code), err)
		}
	}
	if got, want := len(chain.Payers()), 8; got != want {
		t.Errorf("payers: got %d, want %d (default)", got, want)
	}
	for i, payer := range chain.Payers() {
		if got, want := balanceOf(t, chain, evmdev.Address(payer)), chain.Config().PayerUSDC; got.Cmp(want) != 0 {
			t.Errorf("payer %d USDC: got %s, want %s", i, got, want)
		}
	}
	for i, f := range chain.Facilitators() {
		wei, err := client.BalanceAt(ctx, evmdev.Address(f), nil)
		if err != nil || wei.Cmp(chain.Config().Ether) != 0 {
			t.Errorf("facilitator %d ether: got %v (err %v), want %s", i, wei, err, chain.Config().Ether)
		}
	}
}

// TestFixedAddresses: the contract addresses and dev keys do not depend on
// the chain id or the run, so configs and docs can name them.
func TestFixedAddresses(t *testing.T) {
	a := startChain(t, evmdev.Config{ChainID: 1337})
	b := startChain(t, evmdev.Config{ChainID: 84532})
	if a.Token() != b.Token() || a.Multicall() != b.Multicall() {
		t.Errorf("addresses differ across chain ids: token %s vs %s, multicall %s vs %s",
			a.Token(), b.Token(), a.Multicall(), b.Multicall())
	}
	if evmdev.Address(a.Payers()[0]) != evmdev.Address(evmdev.PayerKey(0)) {
		t.Errorf("payer 0: got %s, want %s", evmdev.Address(a.Payers()[0]), evmdev.Address(evmdev.PayerKey(0)))
	}
	if a.URL() == b.URL() {
		t.Errorf("two chains on port 0 got the same URL %s", a.URL())
	}
	if id, err := b.Client().ChainID(context.Background()); err != nil || id.Uint64() != 84532 {
		t.Errorf("eth_chainId: got %v (err %v), want 84532", id, err)
	}
}
