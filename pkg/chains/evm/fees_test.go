package evm_test

import (
	"math/big"
	"testing"

	"github.com/h402/settlement/pkg/chains/evm"
)

func gwei(n int64) *big.Int { return new(big.Int).Mul(big.NewInt(n), big.NewInt(1_000_000_000)) }

func TestFeePolicyFor(t *testing.T) {
	tests := []struct {
		name             string
		policy           evm.FeePolicy
		base             *big.Int
		wantTip, wantCap *big.Int
	}{
		{"defaults", evm.FeePolicy{}, gwei(10), gwei(1), gwei(21)},
		{"custom tip", evm.FeePolicy{Tip: big.NewInt(2_000_000)}, big.NewInt(7), big.NewInt(2_000_000), big.NewInt(2_000_014)},
		{"capped", evm.FeePolicy{MaxFeeCap: gwei(15)}, gwei(10), gwei(1), gwei(15)},
		{"cap below tip lowers the tip", evm.FeePolicy{Tip: gwei(5), MaxFeeCap: gwei(3)}, gwei(10), gwei(3), gwei(3)},
		{"no base fee", evm.FeePolicy{}, nil, gwei(1), gwei(1)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.policy.For(tc.base)
			if got.Tip.Cmp(tc.wantTip) != 0 || got.FeeCap.Cmp(tc.wantCap) != 0 {
				t.Fatalf("got %s, want tip %s fee cap %s", got, tc.wantTip, tc.wantCap)
			}
		})
	}
}

func TestFeePolicyBump(t *testing.T) {
	tests := []struct {
		name             string
		policy           evm.FeePolicy
		old              evm.Fees
		base             *big.Int
		wantTip, wantCap *big.Int
		wantOK           bool
	}{
		{"12.5% up, rounded up", evm.FeePolicy{Tip: big.NewInt(1)}, evm.Fees{Tip: big.NewInt(900_001), FeeCap: big.NewInt(1_000_001)}, big.NewInt(1),
			big.NewInt(1_012_502), big.NewInt(1_125_002), true},
		{"base fee rose: cap follows it", evm.FeePolicy{}, evm.Fees{Tip: gwei(1), FeeCap: gwei(3)}, gwei(10),
			big.NewInt(1_125_000_000), gwei(21), true},
		{"custom bump", evm.FeePolicy{Tip: big.NewInt(1), BumpPermille: 1000}, evm.Fees{Tip: big.NewInt(10), FeeCap: big.NewInt(20)}, big.NewInt(0),
			big.NewInt(20), big.NewInt(40), true},
		{"bump below the minimum is raised to 12.5%", evm.FeePolicy{Tip: big.NewInt(1), BumpPermille: 10}, evm.Fees{Tip: big.NewInt(1000), FeeCap: big.NewInt(2000)}, big.NewInt(0),
			big.NewInt(1125), big.NewInt(2250), true},
		{"no room under the cap", evm.FeePolicy{MaxFeeCap: gwei(21)}, evm.Fees{Tip: gwei(1), FeeCap: gwei(20)}, gwei(1),
			big.NewInt(1_125_000_000), gwei(22) /* 20 × 1.125 = 22.5, above 21 */, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := tc.policy.Bump(tc.old, tc.base)
			if ok != tc.wantOK {
				t.Fatalf("got ok %v (%s), want %v", ok, got, tc.wantOK)
			}
			if !ok {
				return
			}
			if got.Tip.Cmp(tc.wantTip) != 0 || got.FeeCap.Cmp(tc.wantCap) != 0 {
				t.Fatalf("got %s, want tip %s fee cap %s", got, tc.wantTip, tc.wantCap)
			}
		})
	}
}
