package main

import (
	"crypto/ecdsa"
	"fmt"
	"io"
	"strings"

	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/h402/settlement/pkg/evmdev"
	"github.com/h402/settlement/pkg/soldev"
)

// printEVM writes the EVM chain's endpoints, contracts and accounts.
func printEVM(w io.Writer, chain *evmdev.Chain) error {
	cfg := chain.Config()
	var b strings.Builder
	fmt.Fprintf(&b, "EVM dev chain\n")
	fmt.Fprintf(&b, "  rpc          %s\n", chain.URL())
	fmt.Fprintf(&b, "  ws           %s\n", chain.WSURL())
	fmt.Fprintf(&b, "  chain id     %s\n", chain.ChainID())
	fmt.Fprintf(&b, "  block period %s (0: on demand)\n", cfg.BlockPeriod)
	fmt.Fprintf(&b, "  finality     %d blocks (JSON-RPC \"finalized\": last multiple of 32)\n", cfg.FinalityDepth)
	fmt.Fprintf(&b, "  TestUSDC     %s (EIP-712 name %q, version %q, 6 decimals)\n", chain.Token(), cfg.TokenName, cfg.TokenVersion)
	fmt.Fprintf(&b, "  Multicall3   %s\n", chain.Multicall())
	fmt.Fprintf(&b, "  accounts (LOCAL-ONLY well-known dev keys, never use on a real network):\n")
	account := func(role string, k *ecdsa.PrivateKey) {
		fmt.Fprintf(&b, "    %-14s %s  %s\n", role, evmdev.Address(k), hexutil.Encode(crypto.FromECDSA(k)))
	}
	account("deployer", chain.Deployer())
	for i, k := range chain.Payers() {
		account(fmt.Sprintf("payer %d", i), k)
	}
	for i, k := range chain.Facilitators() {
		account(fmt.Sprintf("facilitator %d", i), k)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// printSolana writes the localnet's endpoint, mints and keypairs.
func printSolana(w io.Writer, l *soldev.Localnet) error {
	m := l.Manifest
	var b strings.Builder
	fmt.Fprintf(&b, "Solana localnet (LiteSVM)\n")
	fmt.Fprintf(&b, "  rpc          %s\n", l.URL())
	fmt.Fprintf(&b, "  genesis      %s (CAIP-2 solana:%s)\n", m.GenesisHash, m.GenesisHash.String()[:32])
	fmt.Fprintf(&b, "  commitment   confirmed after 1 slot, finalized after %d; blockhashes live %d slots\n", m.FinalityDepthSlots, m.BlockhashExpirySlots)
	for _, mint := range []soldev.Mint{l.Mints.USDC, l.Mints.Token2022} {
		fmt.Fprintf(&b, "  %-12s %s (program %s, %d decimals)\n", mint.Symbol, mint.Address, mint.TokenProgram, mint.Decimals)
	}
	fmt.Fprintf(&b, "  keypairs (LOCAL-ONLY well-known dev keys, never use on a real network):\n")
	for i, p := range l.Payers() {
		fmt.Fprintf(&b, "    %-14s %s  %s\n", fmt.Sprintf("payer %d", i), p.PublicKey(), p)
	}
	fmt.Fprintf(&b, "    %-14s %s\n", "seller", l.Seller())
	for i, p := range l.FeePayers() {
		fmt.Fprintf(&b, "    %-14s %s  %s\n", fmt.Sprintf("fee payer %d", i), p.PublicKey(), p)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
