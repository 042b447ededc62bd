package config

import (
	"math/big"
	"strings"

	"github.com/h402/settlement/pkg/h402"
)

// TokenKind says how a token is paid.
type TokenKind string

// Token kinds.
const (
	KindEIP3009   TokenKind = "eip3009"   // ERC-20 with transferWithAuthorization
	KindERC20     TokenKind = "erc20"     // plain ERC-20 (signedTransaction payments only)
	KindNative    TokenKind = "native"    // the chain's coin (ETH, SOL)
	KindSPL       TokenKind = "spl"       // SPL Token program mint
	KindToken2022 TokenKind = "token2022" // Token-2022 program mint
)

// Token is one accepted token on one network.
type Token struct {
	// Symbol is for people and logs, e.g. "USDC".
	Symbol string `yaml:"symbol"`
	// Address is the ERC-20 contract (0x…), the SPL mint (base58), or the
	// native marker (0x000…000 / 11111111111111111111111111111111).
	Address string `yaml:"address"`
	// Decimals of the smallest unit (USDC: 6, ETH: 18, SOL: 9).
	Decimals int `yaml:"decimals"`
	// Kind is eip3009, erc20, native, spl or token2022.
	Kind TokenKind `yaml:"kind"`
	// EIP712Name and EIP712Version are the token's EIP-712 domain (EVM eip3009 only),
	// e.g. "USD Coin" and "2"; a requirement's extra.name/version must agree.
	EIP712Name    string `yaml:"eip712Name"`
	EIP712Version string `yaml:"eip712Version"`
	// MinSponsoredAmount is the smallest payment, in the token's smallest
	// units (decimal string), accepted when the facilitator pays its gas or
	// fee: EVM EIP-3009 authorizations and Solana transactions whose fee payer
	// is the facilitator. Smaller ones are refused with amount_below_minimum.
	// Default "" (no minimum).
	MinSponsoredAmount string `yaml:"minSponsoredAmount"`
}

// MinSponsored returns MinSponsoredAmount as an integer, nil when unset or
// unreadable (Validate reports that).
func (t *Token) MinSponsored() *big.Int {
	if t.MinSponsoredAmount == "" {
		return nil
	}
	v, ok := new(big.Int).SetString(t.MinSponsoredAmount, 10)
	if !ok {
		return nil
	}
	return v
}

// Finality says when a payment on a network is final.
type Finality struct {
	// Commitment: EVM "finalized" or "safe" (block tag) or "depth"; Solana
	// "finalized" or "confirmed".
	Commitment string `yaml:"commitment"`
	// Depth is the number of blocks after inclusion when Commitment is "depth".
	Depth uint64 `yaml:"depth"`
	// PollInterval is how often watchers ask for new heads, e.g. "1s".
	PollInterval Duration `yaml:"pollInterval"`
}

// Network is one chain the facilitator serves.
type Network struct {
	// Namespace is evm or solana.
	Namespace h402.Namespace `yaml:"namespace"`
	// NetworkID as h402 writes it: EVM decimal chain id ("8453", "1337"),
	// Solana "mainnet", "devnet" or "localnet".
	NetworkID string `yaml:"networkId"`
	// CAIP2 is the x402 v2 network id, e.g. "eip155:8453" or "solana:<genesis-hash-prefix>".
	// Defaults to eip155:<networkId> for EVM.
	CAIP2 string `yaml:"caip2"`
	// X402Name is the x402 v1 network name ("base", "base-sepolia", "solana", ...), if any.
	X402Name string `yaml:"x402Name"`
	// RPC endpoints, tried in order with failover. ${VAR} expands from the environment.
	RPC []string `yaml:"rpc"`
	// Finality policy.
	Finality Finality `yaml:"finality"`
	// Tokens accepted on this network (the allow-list).
	Tokens []Token `yaml:"tokens"`
	// Multicall is a Multicall3 contract on an EVM network (canonical:
	// 0xcA11bde05977b3631167028862bE2a173976CA11). When set, ingest coalesces
	// concurrent on-chain nonce checks into one aggregate3 call, and settlers
	// batch authorizations through it.
	Multicall string `yaml:"multicall"`
	// FeePayers are the facilitator's Solana fee-payer public keys (base58),
	// offered in extra.feePayer. Private keys never appear in config.
	FeePayers []string `yaml:"feePayers"`
}

// Token returns the configured token at address, or token_not_supported.
// EVM addresses compare case-insensitively; Solana mints exactly.
func (n *Network) Token(address string) (*Token, error) {
	for i := range n.Tokens {
		t := &n.Tokens[i]
		if n.Namespace == h402.NamespaceEVM && strings.EqualFold(t.Address, address) || t.Address == address {
			return t, nil
		}
	}
	return nil, h402.Errorf(h402.ReasonTokenNotSupported, "token %s is not accepted on %s network %s", address, n.Namespace, n.NetworkID)
}

// IsFeePayer reports whether key is one of this network's facilitator fee payers.
func (n *Network) IsFeePayer(key string) bool {
	for _, k := range n.FeePayers {
		if k == key {
			return true
		}
	}
	return false
}

// Networks is the set of networks a deployment serves.
type Networks []Network

// Lookup returns the network, or invalid_network.
func (ns Networks) Lookup(namespace h402.Namespace, networkID string) (*Network, error) {
	for i := range ns {
		if ns[i].Namespace == namespace && ns[i].NetworkID == networkID {
			return &ns[i], nil
		}
	}
	return nil, h402.Errorf(h402.ReasonInvalidNetwork, "%s network %q is not served by this facilitator", namespace, networkID)
}

// LookupCAIP2 returns the network with the given CAIP-2 id, or invalid_network.
func (ns Networks) LookupCAIP2(caip2 string) (*Network, error) {
	for i := range ns {
		if ns[i].CAIP2 == caip2 {
			return &ns[i], nil
		}
	}
	return nil, h402.Errorf(h402.ReasonInvalidNetwork, "network %q is not served by this facilitator", caip2)
}

// LookupX402Name returns the network with the given x402 v1 name, or invalid_network.
func (ns Networks) LookupX402Name(name string) (*Network, error) {
	for i := range ns {
		if ns[i].X402Name == name {
			return &ns[i], nil
		}
	}
	return nil, h402.Errorf(h402.ReasonInvalidNetwork, "network %q is not served by this facilitator", name)
}
