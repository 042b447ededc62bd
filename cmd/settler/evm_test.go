package main

import (
	"context"
	"encoding/hex"
	"io"
	"log/slog"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/h402/settlement/pkg/chains"
	"github.com/h402/settlement/pkg/chains/evm"
	"github.com/h402/settlement/pkg/config"
	"github.com/h402/settlement/pkg/contracts"
	"github.com/h402/settlement/pkg/events"
	"github.com/h402/settlement/pkg/evmdev"
	"github.com/h402/settlement/pkg/h402"
	"github.com/h402/settlement/pkg/settler"
	"github.com/h402/settlement/pkg/settler/settlertest"
	"github.com/h402/settlement/pkg/testenv"
	"github.com/h402/settlement/pkg/verify"
)

// TestEVMSettlesInBatchesAcrossReplicas: 1,000 accepted EIP-3009 payments
// are settled by two settler replicas, each signing with its own leased key,
// in batch transactions; every payment is submitted exactly once and paid on
// chain exactly once.
func TestEVMSettlesInBatchesAcrossReplicas(t *testing.T) {
	js := testenv.StartJetStream(t)
	chain := testenv.StartEVM(t, evmdev.Config{})
	network := testenv.EVMNetwork(chain)
	token := &network.Tokens[0]

	var keys []string
	for _, k := range chain.Facilitators()[:2] {
		keys = append(keys, hex.EncodeToString(crypto.FromECDSA(k)))
	}
	f := settler.File{}
	f.Networks = []config.Network{network}
	f.NATS.URL = js.Server.ClientURL()
	f.Log.Level = "warn"
	f.Settler = settler.Config{BatchSize: 100, MaxWait: config.Duration(50 * time.Millisecond), AdminListen: "off", ShutdownGrace: config.Duration(5 * time.Second)}
	path := writeFile(t, t.TempDir(), f)
	var replicas []*Main
	for _, name := range []string{"s1", "s2"} {
		m := NewMain()
		if err := m.ParseFlags([]string{"-config", path}); err != nil {
			t.Fatal(err)
		}
		m.File.Settler.Replica = name
		m.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
		m.LookupEnv = func(k string) (string, bool) {
			if k == EnvEVMSignerKeys {
				return strings.Join(keys, ","), true
			}
			return "", false
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		if err := m.Run(ctx); err != nil {
			cancel()
			t.Fatalf("replica %s: Run: %v", name, err)
		}
		cancel()
		t.Cleanup(func() { _ = m.Close() })
		replicas = append(replicas, m)
	}
	nc, jsc := js.Connect(t)
	states := settlertest.WatchStates(t, nc)

	// 1,000 payments from 8 payers to one seller, accepted as ingest would.
	const n, amount = 1000, 1000
	payTo := common.HexToAddress("0x5e11e70000000000000000000000000000000001")
	local := verify.New(&config.Config{Networks: config.Networks{network}, Verify: config.DefaultVerify()}, evm.NewVerifier())
	var (
		accepted []*events.PaymentAccepted
		ids      []string
	)
	now := time.Now()
	for i := 0; i < n; i++ {
		d := h402.Decimal{Text: "1000", Quoted: true}
		req := h402.PaymentRequirements{Namespace: h402.NamespaceEVM, Scheme: "exact", NetworkID: network.NetworkID, TokenAddress: token.Address,
			PayToAddress: payTo.Hex(), AmountRequired: &d, AmountRequiredFormat: h402.FormatSmallestUnit}
		p, _, err := evm.SignAuthorization(&req, chain.Payers()[i%8], token, now, evm.AuthorizationOptions{ValidAfter: now.Add(-time.Minute), ValidBefore: now.Add(30 * time.Minute)})
		if err != nil {
			t.Fatal(err)
		}
		pay, _, err := local.Verify(&req, p, now)
		if err != nil {
			t.Fatal(err)
		}
		e, err := chains.AcceptedEvent(pay, p, req.Resource, "", now)
		if err != nil {
			t.Fatal(err)
		}
		accepted = append(accepted, e)
		ids = append(ids, pay.ID)
	}
	before := balanceOf(t, chain, payTo)
	settlertest.Publish(t, jsc, accepted...)
	states.Wait(t, ids, 90*time.Second, events.StateSubmitted)

	txs := map[string]int{}
	for _, id := range ids {
		all := states.All(id)
		if len(all) != 1 {
			t.Fatalf("payment %s has %d transitions, want one submitted", id, len(all))
		}
		txs[all[0].TxHash]++
	}
	if len(txs) < 2 || len(txs) > n/50 {
		t.Errorf("%d payments went out in %d transactions; want batches (and both replicas at work)", n, len(txs))
	}
	signers := map[common.Address]bool{}
	for h := range txs {
		tx, _, err := chain.Client().TransactionByHash(context.Background(), common.HexToHash(h))
		if err != nil {
			t.Fatalf("submitted tx %s unknown to the node: %v", h, err)
		}
		from, _ := types.Sender(types.LatestSignerForChainID(tx.ChainId()), tx)
		signers[from] = true
	}
	if len(signers) != 2 {
		t.Errorf("transactions signed by %d keys, want 2 (one leased key per replica)", len(signers))
	}
	for i := 0; i < 3 && balanceOf(t, chain, payTo).Cmp(new(big.Int).Add(before, big.NewInt(n*amount))) != 0; i++ {
		chain.Commit()
	}
	if got, want := balanceOf(t, chain, payTo), new(big.Int).Add(before, big.NewInt(n*amount)); got.Cmp(want) != 0 {
		t.Errorf("seller balance %s, want %s: every payment paid exactly once", got, want)
	}

	// Each replica, on its next head, finds its batches mined and records
	// their gas per payment.
	// The metric changes without any event to wait on: poll it, bounded.
	waitFor(t, 30*time.Second, "gas per payment observed by both replicas", func() bool {
		for _, m := range replicas {
			if count, _ := gasPerPayment(t, m); count == 0 {
				return false
			}
		}
		return true
	})
	// Batched: the gas of every transaction that carried the payments, over
	// the payments, read from the chain. (The metric observes one value per
	// batch, so a small batch drawn on a loaded machine weighs as much as a
	// full one there.)
	var gas uint64
	for h := range txs {
		r, err := chain.Client().TransactionReceipt(context.Background(), common.HexToHash(h))
		if err != nil {
			t.Fatalf("receipt of %s: %v", h, err)
		}
		gas += r.GasUsed
	}
	if mean := float64(gas) / n; mean > 50_000 {
		t.Errorf("mean gas per payment %.0f over %d transactions, want batched (< 50k; one tx per payment costs ~65k)", mean, len(txs))
	}
}

// gasPerPayment reads the h402_evm_gas_per_payment histogram of a replica.
func gasPerPayment(t *testing.T, m *Main) (uint64, float64) {
	t.Helper()
	families, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "h402_evm_gas_per_payment" {
			continue
		}
		var count uint64
		var sum float64
		for _, metric := range f.GetMetric() {
			count += metric.GetHistogram().GetSampleCount()
			sum += metric.GetHistogram().GetSampleSum()
		}
		return count, sum
	}
	return 0, 0
}

func balanceOf(t *testing.T, chain *evmdev.Chain, who common.Address) *big.Int {
	t.Helper()
	usdc := contracts.NewTestUSDC()
	to := chain.Token()
	out, err := chain.Client().CallContract(context.Background(), ethereum.CallMsg{To: &to, Data: usdc.PackBalanceOf(who)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	v, err := usdc.UnpackBalanceOf(out)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
