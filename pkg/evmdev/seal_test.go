package evmdev_test

import (
	"context"
	"math/big"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/ethereum/go-ethereum/rpc"

	"github.com/h402/settlement/pkg/evmdev"
)

// TestFinality: Finalized trails the head by FinalityDepth; JSON-RPC
// "finalized" is the simulated beacon's last multiple of 32 and "safe" is the
// head (documented in the package doc).
func TestFinality(t *testing.T) {
	ctx := context.Background()
	chain := startChain(t, evmdev.Config{FinalityDepth: 5})
	client := chain.Client()
	tag := func(n rpc.BlockNumber) uint64 {
		t.Helper()
		h, err := client.HeaderByNumber(ctx, big.NewInt(int64(n)))
		if err != nil {
			t.Fatalf("header %s: %v", n, err)
		}
		return h.Number.Uint64()
	}
	for chain.Head() < 40 {
		chain.Commit()
		head := chain.Head()
		if got := tag(rpc.LatestBlockNumber); got != head {
			t.Fatalf("latest: got %d, want Head %d", got, head)
		}
		want := uint64(0)
		if head >= 5 {
			want = head - 5
		}
		if got := chain.Finalized(); got != want {
			t.Errorf("head %d: Finalized got %d, want %d", head, got, want)
		}
		if got, want := tag(rpc.FinalizedBlockNumber), (head-1)/32*32; head%32 != 0 && got != want {
			t.Errorf("head %d: JSON-RPC finalized got %d, want %d", head, got, want)
		}
		if got := tag(rpc.SafeBlockNumber); got != head {
			t.Errorf("head %d: JSON-RPC safe got %d, want the head", head, got)
		}
	}
}

// TestBlockPeriod: with a block period, blocks arrive by themselves (watched
// through a WebSocket newHeads subscription) and Close stops them.
func TestBlockPeriod(t *testing.T) {
	chain := startChain(t, evmdev.Config{BlockPeriod: 20 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, err := ethclient.DialContext(ctx, chain.WSURL())
	if err != nil {
		t.Fatalf("dial %s: %v", chain.WSURL(), err)
	}
	defer ws.Close()
	heads := make(chan *types.Header, 16)
	sub, err := ws.SubscribeNewHead(ctx, heads)
	if err != nil {
		t.Fatalf("subscribe newHeads: %v", err)
	}
	defer sub.Unsubscribe()
	var last uint64
	for seen := 0; seen < 3; {
		select {
		case h := <-heads:
			if h.Number.Uint64() <= last {
				t.Errorf("head %d after %d: want increasing", h.Number, last)
			}
			last = h.Number.Uint64()
			seen++
		case err := <-sub.Err():
			t.Fatalf("subscription: %v", err)
		case <-ctx.Done():
			t.Fatalf("saw %d new heads in 10s, want 3", seen)
		}
	}
	if err := chain.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if got := chain.Commit(); got != ([32]byte{}) {
		t.Errorf("Commit after Close: got %s, want the zero hash", got)
	}
}

// TestConfigRefusals: bad settings fail Start with the field named.
func TestConfigRefusals(t *testing.T) {
	tests := []struct {
		name string
		cfg  evmdev.Config
	}{
		{"port out of range", evmdev.Config{Port: 70000}},
		{"negative period", evmdev.Config{BlockPeriod: -time.Second}},
		{"negative payers", evmdev.Config{Payers: -1}},
		{"zero USDC", evmdev.Config{PayerUSDC: new(big.Int)}},
		{"tiny gas limit", evmdev.Config{GasLimit: 1000}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			chain, err := evmdev.Start(context.Background(), tc.cfg)
			if err == nil {
				chain.Close()
				t.Fatalf("Start(%+v): got nil error, want a refusal", tc.cfg)
			}
		})
	}
}

// TestPortInUse: a taken port is an error, not a panic.
func TestPortInUse(t *testing.T) {
	first := startChain(t, evmdev.Config{})
	_, port, _ := splitURL(t, first.URL())
	chain, err := evmdev.Start(context.Background(), evmdev.Config{Port: port})
	if err == nil {
		chain.Close()
		t.Fatalf("Start on taken port %d: got nil error, want one", port)
	}
	t.Logf("taken port: %v", err)
}
