package evmdev

import (
	"crypto/ecdsa"
	"fmt"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
)

// devKeyPrefix is hashed with a label into every dev key. The keys are public
// knowledge (anyone can recompute them from this file): LOCAL DEV CHAINS ONLY,
// never fund them on a real network.
const devKeyPrefix = "h402-settlement/evmdev LOCAL-ONLY dev key/"

// DevKey derives the LOCAL-ONLY private key for label as
// keccak256(devKeyPrefix + label). It panics only if the hash is not a valid
// secp256k1 scalar, which happens with negligible probability and is pinned by
// the package tests for every label the package uses.
func DevKey(label string) *ecdsa.PrivateKey {
	key, err := crypto.ToECDSA(crypto.Keccak256([]byte(devKeyPrefix + label)))
	if err != nil {
		panic(fmt.Sprintf("evmdev: dev key %q is not a valid secp256k1 key: %v", label, err))
	}
	return key
}

// DeployerKey is the LOCAL-ONLY key that deploys the contracts and owns
// TestUSDC (it alone can mint).
func DeployerKey() *ecdsa.PrivateKey { return DevKey("deployer") }

// PayerKey is the LOCAL-ONLY key of payer i (i from 0): funded with ether and
// test USDC at start-up.
func PayerKey(i int) *ecdsa.PrivateKey { return DevKey(fmt.Sprintf("payer/%d", i)) }

// FacilitatorKey is the LOCAL-ONLY key of facilitator i (i from 0): funded
// with ether to pay for settlement transactions.
func FacilitatorKey(i int) *ecdsa.PrivateKey { return DevKey(fmt.Sprintf("facilitator/%d", i)) }

// Address returns the account address of key.
func Address(key *ecdsa.PrivateKey) common.Address { return crypto.PubkeyToAddress(key.PublicKey) }

// TokenAddress is where Start deploys TestUSDC: the deployer's first contract
// (nonce 0), the same on every chain id.
func TokenAddress() common.Address { return crypto.CreateAddress(Address(DeployerKey()), 0) }

// MulticallAddress is where Start deploys Multicall3 (deployer nonce 1).
func MulticallAddress() common.Address { return crypto.CreateAddress(Address(DeployerKey()), 1) }
