package testenv

import (
	"context"
	"testing"
	"time"

	"github.com/h402/settlement/pkg/config"
	"github.com/h402/settlement/pkg/evmdev"
	"github.com/h402/settlement/pkg/h402"
	"github.com/h402/settlement/pkg/soldev"
)

// StartEVM starts the in-process EVM dev chain (sealing on Commit only
// unless cfg says otherwise) and closes it when the test ends.
func StartEVM(t testing.TB, cfg evmdev.Config) *evmdev.Chain {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := evmdev.Start(ctx, cfg)
	if err != nil {
		t.Fatalf("start EVM dev chain: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("close EVM dev chain: %v", err)
		}
	})
	return c
}

// StartSolana starts the LiteSVM localnet (slots advance only on
// AdvanceSlots unless cfg says otherwise) and stops it when the test ends. It
// fails, never skips, when node or npm is missing.
func StartSolana(t testing.TB, cfg soldev.Config) *soldev.Localnet {
	t.Helper()
	return soldev.StartT(t, cfg)
}

// EVMNetwork is the network config of a running dev chain: its test USDC
// (EIP-3009) and native ether. x402Name is set when the chain id has a v1 name.
func EVMNetwork(c *evmdev.Chain) config.Network {
	cc := c.Config()
	n := config.Network{
		Namespace: h402.NamespaceEVM,
		NetworkID: c.ChainID().String(),
		RPC:       []string{c.URL()},
		Multicall: c.Multicall().Hex(),
		Finality:  config.Finality{Commitment: "finalized"},
		Tokens: []config.Token{
			{Symbol: cc.TokenSymbol, Address: c.Token().Hex(), Decimals: 6, Kind: config.KindEIP3009, EIP712Name: cc.TokenName, EIP712Version: cc.TokenVersion},
			{Symbol: "ETH", Address: h402.EVMNativeToken, Decimals: 18, Kind: config.KindNative},
		},
	}
	n.X402Name = h402.V1NetworkName(h402.NetworkRef{Namespace: h402.NamespaceEVM, NetworkID: n.NetworkID})
	return n
}

// SolanaNetwork is the network config of a running localnet: its SPL and
// Token-2022 mints, native SOL, and its fee payers.
func SolanaNetwork(l *soldev.Localnet) config.Network {
	m := l.Mints
	n := config.Network{
		Namespace: h402.NamespaceSolana,
		NetworkID: "localnet",
		CAIP2:     "solana:" + l.Manifest.GenesisHash.String()[:32],
		RPC:       []string{l.URL()},
		Finality:  config.Finality{Commitment: "finalized"},
		Tokens: []config.Token{
			{Symbol: m.USDC.Symbol, Address: m.USDC.Address.String(), Decimals: int(m.USDC.Decimals), Kind: config.KindSPL},
			{Symbol: m.Token2022.Symbol, Address: m.Token2022.Address.String(), Decimals: int(m.Token2022.Decimals), Kind: config.KindToken2022},
			{Symbol: "SOL", Address: h402.SolanaNativeToken, Decimals: 9, Kind: config.KindNative},
		},
	}
	for _, k := range l.FeePayers() {
		n.FeePayers = append(n.FeePayers, k.PublicKey().String())
	}
	return n
}

// Config is a validated facilitator config over the given networks, with
// the event log at natsURL and the API on a free loopback port.
func Config(t testing.TB, natsURL string, networks ...config.Network) *config.Config {
	t.Helper()
	c := &config.Config{Networks: networks}
	c.NATS.URL = natsURL
	c.Ingest.Listen = "127.0.0.1:0"
	c.Ingest.AdminListen = "off"
	c.Default()
	if err := c.Validate(); err != nil {
		t.Fatalf("test config: %v", err)
	}
	return c
}
