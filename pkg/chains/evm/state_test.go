package evm_test

import (
	"context"
	"math/big"
	"testing"
	"time"

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

// TestBalancesRefreshOnNewHeads: with a cache that would keep a balance for
// an hour, a payer's balance still follows the chain, because Run reloads
// active payers' balances on every new head.
func TestBalancesRefreshOnNewHeads(t *testing.T) {
	chain := testenv.StartEVM(t, evmdev.Config{})
	network := testenv.EVMNetwork(chain)
	network.Finality.PollInterval = config.Duration(20 * time.Millisecond)
	pool, err := evm.Dial(context.Background(), &network, failover.Settings{})
	if err != nil {
		t.Fatal(err)
	}
	checker := evm.NewStateChecker(&network, pool, evm.StateOptions{CacheTTL: time.Hour, SkipAuthorizationState: true})
	payer := chain.Payers()[0]
	p := &chains.Payment{Type: h402.TypeAuthorization, Token: network.Tokens[0].Address, Payer: evmdev.Address(payer).Hex()}
	r := &chains.Request{Token: &network.Tokens[0]}
	ctx := context.Background()
	st, err := checker.CheckState(ctx, r, p)
	if err != nil {
		t.Fatal(err)
	}
	start := st.Balance

	// The payer spends 1 token unit elsewhere; a block is mined.
	nonce, _ := chain.Client().PendingNonceAt(ctx, evmdev.Address(payer))
	to := chain.Token()
	tx := types.MustSignNewTx(payer, types.LatestSignerForChainID(chain.ChainID()), &types.DynamicFeeTx{
		ChainID: chain.ChainID(), Nonce: nonce, To: &to, Gas: 100_000, GasTipCap: big.NewInt(1e9), GasFeeCap: big.NewInt(1e11),
		Data: evm.TransferCalldata(crypto.PubkeyToAddress(evmdev.DevKey("elsewhere").PublicKey), big.NewInt(1)),
	})
	if err := chain.Client().SendTransaction(ctx, tx); err != nil {
		t.Fatal(err)
	}
	chain.Commit()
	if st, _ := checker.CheckState(ctx, r, p); st.Balance.Cmp(start) != 0 {
		t.Fatalf("balance changed before any refresh (%s -> %s): the cache is not what this test exercises", start, st.Balance)
	}

	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	go checker.Run(runCtx)
	want := new(big.Int).Sub(start, big.NewInt(1))
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err := checker.CheckState(ctx, r, p)
		if err == nil && st.Balance.Cmp(want) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("balance %v after 10s, want %s refreshed on the new head", st.Balance, want)
		}
		time.Sleep(20 * time.Millisecond) // poll interval of a bounded wait on the cache
	}
}
