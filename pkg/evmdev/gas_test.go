package evmdev_test

import (
	"crypto/ecdsa"
	"fmt"
	"os"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/h402/settlement/pkg/contracts"
	"github.com/h402/settlement/pkg/evmdev"
)

// gasTarget is DESIGN.md's target: gas per payment in a batch of 100 at most
// 0.65 x the gas of one transaction per payment.
const gasTarget = 0.65

// recipient kinds of the gas scenarios.
const (
	existingHolder = "existing holder"   // one payTo that already holds USDC (a seller's steady state)
	newHolder      = "one new holder"    // one payTo with no USDC yet (a seller's first batch)
	newHolders     = "each a new holder" // every payment to a distinct empty address (worst case)
)

// gasRun measures settlements on one chain; each payment comes from a payer
// that has not paid before on it, so every run touches cold payer storage.
type gasRun struct {
	t           *testing.T
	chain       *evmdev.Chain
	facilitator *ecdsa.PrivateKey
	next        int // next unused payer
}

func newGasRun(t *testing.T, payers int) *gasRun {
	t.Helper()
	chain := startChain(t, evmdev.Config{Payers: payers, GasLimit: 200_000_000})
	return &gasRun{t: t, chain: chain, facilitator: chain.Facilitators()[0]}
}

// payTo returns the recipients for n payments of the given kind.
func (g *gasRun) payTo(kind string, n int) []common.Address {
	g.t.Helper()
	to := make([]common.Address, n)
	fresh := func() common.Address { return evmdev.Address(mustKey(g.t)) }
	shared := fresh()
	if kind == existingHolder {
		// Make it a holder with a settled payment from a payer not used again.
		g.single([]common.Address{shared})
	}
	for i := range to {
		to[i] = shared
		if kind == newHolders {
			to[i] = fresh()
		}
	}
	return to
}

func (g *gasRun) payers(n int) []*ecdsa.PrivateKey {
	g.t.Helper()
	all := g.chain.Payers()
	if g.next+n > len(all) {
		g.t.Fatalf("gas run needs %d more payers, %d left", n, len(all)-g.next)
	}
	p := all[g.next : g.next+n]
	g.next += n
	return p
}

// single settles one payment per transaction and returns the gas of the first.
func (g *gasRun) single(to []common.Address) uint64 {
	g.t.Helper()
	payer := g.payers(1)[0]
	a := newAuth(g.t, g.chain, payer, to[0], 10_000)
	r := mine(g.t, g.chain, g.facilitator, g.chain.Token(), transferCall(a, sign(g.t, g.chain, payer, a)))
	if r.Status != types.ReceiptStatusSuccessful {
		g.t.Fatalf("single settlement failed")
	}
	return r.GasUsed
}

// batch settles len(to) payments in one aggregate3 transaction and returns
// its gas.
func (g *gasRun) batch(to []common.Address) uint64 {
	g.t.Helper()
	payers := g.payers(len(to))
	calls := make([]contracts.Multicall3Call3, len(to))
	for i, payer := range payers {
		a := newAuth(g.t, g.chain, payer, to[i], 10_000)
		calls[i] = contracts.Multicall3Call3{Target: g.chain.Token(), AllowFailure: true,
			CallData: transferCall(a, sign(g.t, g.chain, payer, a))}
	}
	r := mine(g.t, g.chain, g.facilitator, g.chain.Multicall(), multicall.PackAggregate3(calls))
	if r.Status != types.ReceiptStatusSuccessful {
		g.t.Fatalf("batch settlement failed")
	}
	used, _ := settledIn(g.t, r)
	if len(used) != len(to) {
		g.t.Fatalf("batch of %d: %d AuthorizationUsed logs, want all", len(to), len(used))
	}
	return r.GasUsed
}

func mustKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := crypto.GenerateKey()
	if err != nil {
		t.Fatalf("generate key: %v", err)
	}
	return k
}

// TestGasPerPaymentTarget checks DESIGN.md's target on the common case (many
// payers paying one seller that already holds USDC): a batch of 100 through
// aggregate3 costs at most 0.65 x a single transferWithAuthorization per
// payment, under mainnet-like (Osaka) gas rules.
func TestGasPerPaymentTarget(t *testing.T) {
	g := newGasRun(t, 110)
	single := g.single(g.payTo(existingHolder, 1))
	perPayment := float64(g.batch(g.payTo(existingHolder, 100))) / 100
	ratio := perPayment / float64(single)
	t.Logf("single %d gas; batch of 100: %.0f gas per payment (%.3f x)", single, perPayment, ratio)
	if ratio > gasTarget {
		t.Errorf("gas per payment in a batch of 100: got %.2f x single, want <= %.2f", ratio, gasTarget)
	}
}

// TestGasTable prints the gas table of contracts/GAS.md. It runs only with
// EVMDEV_GAS_TABLE=1:
//
//	EVMDEV_GAS_TABLE=1 go test -run TestGasTable -v ./pkg/evmdev/
func TestGasTable(t *testing.T) {
	if os.Getenv("EVMDEV_GAS_TABLE") == "" {
		t.Skip("set EVMDEV_GAS_TABLE=1 to print the gas table")
	}
	fmt.Println("| recipient | settlement | tx gas | gas per payment | x single |")
	fmt.Println("|---|---|---:|---:|---:|")
	for _, kind := range []string{existingHolder, newHolder, newHolders} {
		g := newGasRun(t, 200)
		single := g.single(g.payTo(kind, 1))
		fmt.Printf("| %s | single transferWithAuthorization | %d | %d | 1.000 |\n", kind, single, single)
		for _, n := range []int{10, 50, 100} {
			gas := g.batch(g.payTo(kind, n))
			per := float64(gas) / float64(n)
			fmt.Printf("| %s | aggregate3 batch of %d | %d | %.0f | %.3f |\n", kind, n, gas, per, per/float64(single))
		}
	}
}
