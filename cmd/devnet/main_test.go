package main

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/gagliardetto/solana-go/rpc"

	"github.com/h402/settlement/pkg/evmdev"
)

// TestDevnet runs the program as main does, then reaches the chain at the
// printed URL.
func TestDevnet(t *testing.T) {
	var out bytes.Buffer
	m := NewMain()
	m.Out = &out
	m.Logger = slog.New(slog.DiscardHandler)
	if err := m.ParseFlags([]string{"-evm.port", "0", "-solana.port", "0", "-evm.chain-id", "84532", "-evm.block-period", "0", "-evm.finality", "5", "-evm.payers", "2"}); err != nil {
		t.Fatalf("ParseFlags: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := m.Run(ctx); err != nil {
		t.Fatalf("Run: %v", err)
	}
	defer func() {
		if err := m.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	}()
	chain := m.EVMChain()
	printed := out.String()
	for _, want := range []string{
		chain.URL(), chain.WSURL(), "84532", chain.Token().Hex(), chain.Multicall().Hex(),
		evmdev.Address(evmdev.PayerKey(1)).Hex(), hexutil.Encode(crypto.FromECDSA(evmdev.FacilitatorKey(0))), "LOCAL-ONLY",
	} {
		if !strings.Contains(printed, want) {
			t.Errorf("summary lacks %q:\n%s", want, printed)
		}
	}
	if strings.Contains(printed, evmdev.Address(evmdev.PayerKey(2)).Hex()) {
		t.Errorf("summary lists payer 2, want only the 2 requested payers")
	}
	if got := chain.Config().FinalityDepth; got != 5 {
		t.Errorf("finality depth: got %d, want 5", got)
	}

	client, err := ethclient.DialContext(ctx, chain.URL())
	if err != nil {
		t.Fatalf("dial %s: %v", chain.URL(), err)
	}
	defer client.Close()
	if id, err := client.ChainID(ctx); err != nil || id.Uint64() != 84532 {
		t.Errorf("eth_chainId at the printed URL: got %v (err %v), want 84532", id, err)
	}

	sol := m.SolanaLocalnet()
	for _, want := range []string{sol.URL(), sol.Mints.USDC.Address.String(), sol.Mints.Token2022.Address.String(), sol.FeePayers()[0].PublicKey().String(), sol.Seller().String()} {
		if !strings.Contains(printed, want) {
			t.Errorf("summary lacks %q:\n%s", want, printed)
		}
	}
	if v, err := rpc.New(sol.URL()).GetVersion(ctx); err != nil || v == nil {
		t.Errorf("getVersion at the printed Solana URL: %v, %v", v, err)
	}
}

func TestParseFlagsRefusals(t *testing.T) {
	tests := []struct {
		name string
		args []string
	}{
		{"no chain", []string{"-evm=false", "-solana=false"}},
		{"stray argument", []string{"extra"}},
		{"bad duration", []string{"-evm.block-period", "soon"}},
		{"unknown flag", []string{"-bitcoin"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := NewMain()
			m.Out = &bytes.Buffer{}
			if err := m.ParseFlags(tc.args); err == nil {
				t.Errorf("ParseFlags(%q): got nil error, want one", tc.args)
			}
		})
	}
}
