package evmdev_test

import (
	"testing"

	"github.com/ethereum/go-ethereum/common"

	"github.com/h402/settlement/pkg/evmdev"
)

// TestDevKeys: every dev key the package hands out derives without a panic,
// is distinct, and is the same on every call (the addresses are documented).
func TestDevKeys(t *testing.T) {
	seen := map[common.Address]string{}
	add := func(role string, addr common.Address) {
		t.Helper()
		if other, dup := seen[addr]; dup {
			t.Errorf("%s and %s share address %s", role, other, addr)
		}
		seen[addr] = role
	}
	add("deployer", evmdev.Address(evmdev.DeployerKey()))
	for i := range 1000 {
		add("payer", evmdev.Address(evmdev.PayerKey(i)))
		add("facilitator", evmdev.Address(evmdev.FacilitatorKey(i)))
	}
	if a, b := evmdev.Address(evmdev.PayerKey(0)), evmdev.Address(evmdev.PayerKey(0)); a != b {
		t.Errorf("payer 0: got %s then %s, want the same", a, b)
	}
	if got, want := evmdev.TokenAddress(), common.HexToAddress("0x3Ac5318126Ba9e9F9Dc9bA8e9781b3bF568D1f06"); got != want {
		t.Errorf("TokenAddress: got %s, want %s (documented in cmd/devnet output)", got, want)
	}
}
