package evm

import (
	"math/big"
	"sync"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
)

// EIP-712 type strings of EIP-3009 as USDC's FiatToken defines them.
const (
	domainType                    = "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
	transferWithAuthorizationType = "TransferWithAuthorization(address from,address to,uint256 value,uint256 validAfter,uint256 validBefore,bytes32 nonce)"
)

// Type hashes, computed once.
var (
	domainTypeHash                    = crypto.Keccak256Hash([]byte(domainType))
	transferWithAuthorizationTypeHash = crypto.Keccak256Hash([]byte(transferWithAuthorizationType))
)

// Domain is an EIP-712 domain of an EIP-3009 token.
type Domain struct {
	Name              string
	Version           string
	ChainID           *big.Int
	VerifyingContract common.Address
}

// Separator returns the EIP-712 domain separator (hashStruct of the domain).
func (d Domain) Separator() common.Hash {
	var buf [5 * 32]byte
	copy(buf[0:32], domainTypeHash[:])
	nameHash := crypto.Keccak256Hash([]byte(d.Name))
	versionHash := crypto.Keccak256Hash([]byte(d.Version))
	copy(buf[32:64], nameHash[:])
	copy(buf[64:96], versionHash[:])
	d.ChainID.FillBytes(buf[96:128])
	copy(buf[128+12:160], d.VerifyingContract[:])
	return crypto.Keccak256Hash(buf[:])
}

// Authorization is an EIP-3009 TransferWithAuthorization message.
type Authorization struct {
	From        common.Address
	To          common.Address
	Value       *big.Int // at most 2^256-1
	ValidAfter  *big.Int // unix seconds
	ValidBefore *big.Int // unix seconds
	Nonce       [32]byte
}

// Digest returns the EIP-712 hash to sign: keccak256(0x1901 ‖ separator ‖ hashStruct(a)).
// Values must fit in 256 bits.
func (a *Authorization) Digest(separator common.Hash) common.Hash {
	var buf [7 * 32]byte
	copy(buf[0:32], transferWithAuthorizationTypeHash[:])
	copy(buf[32+12:64], a.From[:])
	copy(buf[64+12:96], a.To[:])
	a.Value.FillBytes(buf[96:128])
	a.ValidAfter.FillBytes(buf[128:160])
	a.ValidBefore.FillBytes(buf[160:192])
	copy(buf[192:224], a.Nonce[:])
	structHash := crypto.Keccak256Hash(buf[:])

	var msg [2 + 32 + 32]byte
	msg[0], msg[1] = 0x19, 0x01
	copy(msg[2:34], separator[:])
	copy(msg[34:66], structHash[:])
	return crypto.Keccak256Hash(msg[:])
}

// domainKey identifies a cached domain separator.
type domainKey struct {
	name, version, chainID string
	contract               common.Address
}

// maxCachedDomains bounds the separator cache. Domains come from configured
// tokens only, so the bound is never reached in practice.
const maxCachedDomains = 4096

// domainCache memoises domain separators per token.
type domainCache struct {
	mu sync.RWMutex
	m  map[domainKey]common.Hash
}

func (c *domainCache) separator(d Domain, chainIDText string) common.Hash {
	k := domainKey{name: d.Name, version: d.Version, chainID: chainIDText, contract: d.VerifyingContract}
	c.mu.RLock()
	h, ok := c.m[k]
	c.mu.RUnlock()
	if ok {
		return h
	}
	h = d.Separator()
	c.mu.Lock()
	if c.m == nil || len(c.m) >= maxCachedDomains {
		c.m = make(map[domainKey]common.Hash)
	}
	c.m[k] = h
	c.mu.Unlock()
	return h
}
