package evm

import (
	"context"
	"fmt"
	"math/big"

	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/ethclient"

	"github.com/h402/settlement/pkg/failover"
)

// Fee defaults of a FeePolicy.
var (
	// DefaultTip is the priority fee the settler offers: 1 gwei.
	DefaultTip = big.NewInt(1_000_000_000)
	// DefaultMaxFeeCap bounds the fee cap of every facilitator transaction,
	// replacements included: 500 gwei.
	DefaultMaxFeeCap = big.NewInt(500_000_000_000)
)

// MinBumpPermille is the smallest fee increase of a replacement, in
// thousandths: 12.5%, above geth's 10% replacement rule.
const MinBumpPermille = 125

// FeePolicy prices EIP-1559 transactions: the tip, and a fee cap of twice the
// base fee plus the tip, never above MaxFeeCap.
type FeePolicy struct {
	// Tip is the priority fee in wei (default DefaultTip). A dev chain's
	// miner includes nothing below 1e6 wei.
	Tip *big.Int
	// MaxFeeCap bounds the fee cap in wei (default DefaultMaxFeeCap).
	MaxFeeCap *big.Int
	// BumpPermille is a replacement's fee increase over the transaction it
	// replaces, in thousandths (default and minimum MinBumpPermille).
	BumpPermille int64
}

// Fees are the fee fields of a dynamic-fee transaction.
type Fees struct {
	Tip, FeeCap *big.Int
}

func (f Fees) String() string { return fmt.Sprintf("tip %s wei, fee cap %s wei", f.Tip, f.FeeCap) }

func (p FeePolicy) withDefaults() FeePolicy {
	if p.Tip == nil {
		p.Tip = DefaultTip
	}
	if p.MaxFeeCap == nil {
		p.MaxFeeCap = DefaultMaxFeeCap
	}
	if p.BumpPermille < MinBumpPermille {
		p.BumpPermille = MinBumpPermille
	}
	return p
}

// For returns the fees of a new transaction at baseFee: the tip and
// min(2×baseFee + tip, MaxFeeCap), the tip lowered to the fee cap if the
// cap is below it. A nil baseFee (a chain without EIP-1559) counts as zero.
func (p FeePolicy) For(baseFee *big.Int) Fees {
	p = p.withDefaults()
	base := new(big.Int)
	if baseFee != nil {
		base.Set(baseFee)
	}
	tip := new(big.Int).Set(p.Tip)
	feeCap := new(big.Int).Add(base.Lsh(base, 1), tip)
	if feeCap.Cmp(p.MaxFeeCap) > 0 {
		feeCap.Set(p.MaxFeeCap)
	}
	if tip.Cmp(feeCap) > 0 {
		tip.Set(feeCap)
	}
	return Fees{Tip: tip, FeeCap: feeCap}
}

// Bump returns the fees of a replacement for a transaction priced old, at
// baseFee: each of tip and fee cap at least BumpPermille above old's, and at
// least what For would offer now. ok is false when MaxFeeCap leaves no room
// for the required increase: a node would refuse the replacement.
func (p FeePolicy) Bump(old Fees, baseFee *big.Int) (Fees, bool) {
	p = p.withDefaults()
	now := p.For(baseFee)
	tip := maxInt(bumped(old.Tip, p.BumpPermille), now.Tip)
	feeCap := maxInt(bumped(old.FeeCap, p.BumpPermille), now.FeeCap)
	if feeCap.Cmp(tip) < 0 {
		feeCap = new(big.Int).Set(tip)
	}
	if feeCap.Cmp(p.MaxFeeCap) > 0 {
		return Fees{Tip: tip, FeeCap: feeCap}, false
	}
	return Fees{Tip: tip, FeeCap: feeCap}, true
}

// bumped is ceil(x × (1000+permille) / 1000).
func bumped(x *big.Int, permille int64) *big.Int {
	if x == nil {
		return new(big.Int)
	}
	n := new(big.Int).Mul(x, big.NewInt(1000+permille))
	n.Add(n, big.NewInt(999))
	return n.Quo(n, big.NewInt(1000))
}

func maxInt(a, b *big.Int) *big.Int {
	if a.Cmp(b) >= 0 {
		return new(big.Int).Set(a)
	}
	return new(big.Int).Set(b)
}

// headInfo is what the fee and stuck logic need from the newest block.
type headInfo struct {
	Number  uint64
	BaseFee *big.Int
}

// latestHead reads the newest block's number and base fee.
func latestHead(ctx context.Context, pool *Pool) (headInfo, error) {
	h, err := failover.Do(ctx, pool, "eth_getBlockByNumber", func(ctx context.Context, c *ethclient.Client) (*types.Header, error) {
		return c.HeaderByNumber(ctx, nil)
	})
	if err != nil {
		return headInfo{}, fmt.Errorf("read head: %w", err)
	}
	return headInfo{Number: h.Number.Uint64(), BaseFee: h.BaseFee}, nil
}
