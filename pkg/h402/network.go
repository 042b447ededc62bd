package h402

import (
	"strings"
)

// NetworkRef names a network the h402 way: a namespace and a networkId.
type NetworkRef struct {
	Namespace Namespace `json:"namespace"`
	NetworkID string    `json:"networkId"`
}

// NetworkResolver maps an x402 network string (a v1 name such as "base" or a
// CAIP-2 id such as "eip155:8453") to the h402 namespace and networkId. It
// returns an *Error with ReasonInvalidNetwork for a network it does not know.
// Deployments whose Solana clusters have their own genesis hashes supply a
// resolver built from their configuration (see NetworkTable).
type NetworkResolver func(network string) (NetworkRef, error)

// Well-known CAIP-2 ids of the public Solana clusters: "solana:" and the first
// 32 characters of the cluster's genesis hash.
const (
	CAIP2SolanaMainnet = "solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp"
	CAIP2SolanaDevnet  = "solana:EtWTRABZaYq6iMfeYKouRu166VU2xqa1"
)

// x402V1Networks is the fixed table of x402 v1 network names.
var x402V1Networks = map[string]NetworkRef{
	"base":           {NamespaceEVM, "8453"},
	"base-sepolia":   {NamespaceEVM, "84532"},
	"avalanche":      {NamespaceEVM, "43114"},
	"avalanche-fuji": {NamespaceEVM, "43113"},
	"polygon":        {NamespaceEVM, "137"},
	"sei":            {NamespaceEVM, "1329"},
	"iotex":          {NamespaceEVM, "4689"},
	"solana":         {NamespaceSolana, "mainnet"},
	"solana-devnet":  {NamespaceSolana, "devnet"},
}

// V1Network looks up an x402 v1 network name in the fixed table.
func V1Network(name string) (NetworkRef, bool) {
	ref, ok := x402V1Networks[name]
	return ref, ok
}

// V1NetworkName returns the x402 v1 name of ref, or "" when v1 has none
// (for example the dev chain 1337, which v1 clients cannot pay on).
func V1NetworkName(ref NetworkRef) string {
	for name, r := range x402V1Networks {
		if r == ref {
			return name
		}
	}
	return ""
}

// CAIP2 returns the CAIP-2 id of ref when it follows from ref alone: EVM
// chains and the public Solana clusters. It returns "" otherwise (a Solana
// localnet's id depends on its genesis hash, which only configuration knows).
func CAIP2(ref NetworkRef) string {
	switch ref.Namespace {
	case NamespaceEVM:
		if isChainID(ref.NetworkID) {
			return "eip155:" + ref.NetworkID
		}
	case NamespaceSolana:
		switch ref.NetworkID {
		case "mainnet":
			return CAIP2SolanaMainnet
		case "devnet":
			return CAIP2SolanaDevnet
		}
	}
	return ""
}

// DefaultNetworkResolver resolves "eip155:<chain id>", the CAIP-2 ids of the
// public Solana clusters, and the x402 v1 network names.
func DefaultNetworkResolver(network string) (NetworkRef, error) {
	if ref, ok := x402V1Networks[network]; ok {
		return ref, nil
	}
	switch network {
	case CAIP2SolanaMainnet:
		return NetworkRef{NamespaceSolana, "mainnet"}, nil
	case CAIP2SolanaDevnet:
		return NetworkRef{NamespaceSolana, "devnet"}, nil
	}
	if id, ok := strings.CutPrefix(network, "eip155:"); ok {
		if !isChainID(id) {
			return NetworkRef{}, Errorf(ReasonInvalidNetwork, "network %q is not eip155:<decimal chain id>", clip(network))
		}
		return NetworkRef{NamespaceEVM, id}, nil
	}
	if network == "" {
		return NetworkRef{}, Errorf(ReasonInvalidNetwork, "network is empty")
	}
	return NetworkRef{}, Errorf(ReasonInvalidNetwork, "network %q is not known to this facilitator", clip(network))
}

// NetworkTable is a deployment's own x402 network names and CAIP-2 ids
// (for example "solana:<localnet genesis prefix>" → solana/localnet). Its
// entries take precedence; anything else falls back to DefaultNetworkResolver.
type NetworkTable map[string]NetworkRef

// Resolve is a NetworkResolver.
func (t NetworkTable) Resolve(network string) (NetworkRef, error) {
	if ref, ok := t[network]; ok {
		return ref, nil
	}
	return DefaultNetworkResolver(network)
}

// isChainID reports whether s is a positive decimal chain id without leading
// zeros that fits in 64 bits (EIP-155 chain ids do in practice).
func isChainID(s string) bool {
	if s == "" || len(s) > 19 || s[0] == '0' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// clip shortens untrusted text quoted in error messages.
func clip(s string) string {
	const max = 80
	if len(s) <= max {
		return s
	}
	return s[:max] + "…"
}
