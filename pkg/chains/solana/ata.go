package solana

import (
	"sync"

	solanago "github.com/gagliardetto/solana-go"
)

// ataCacheMax bounds the ATA cache; when full it is cleared, so that hostile
// requirements naming many recipients cannot grow memory without bound.
const ataCacheMax = 4096

type ataKey [3 * solanago.PublicKeyLength]byte

// ataCache memoises associated-token-account derivations, which cost a
// FindProgramAddress search (SHA-256 plus curve checks per bump). The zero
// value is ready to use.
type ataCache struct {
	mu sync.RWMutex
	m  map[ataKey]solanago.PublicKey
}

var sharedATA ataCache

// AssociatedTokenAddress returns the associated token account of owner for
// mint under tokenProgram (SPL Token or Token-2022).
func AssociatedTokenAddress(owner, mint, tokenProgram solanago.PublicKey) (solanago.PublicKey, error) {
	return sharedATA.get(owner, mint, tokenProgram)
}

func (c *ataCache) get(owner, mint, program solanago.PublicKey) (solanago.PublicKey, error) {
	var k ataKey
	copy(k[0:32], owner[:])
	copy(k[32:64], mint[:])
	copy(k[64:96], program[:])
	c.mu.RLock()
	a, ok := c.m[k]
	c.mu.RUnlock()
	if ok {
		return a, nil
	}
	a, _, err := solanago.FindProgramAddress([][]byte{owner[:], program[:], mint[:]}, AssociatedTokenID)
	if err != nil {
		return solanago.PublicKey{}, err
	}
	c.mu.Lock()
	if c.m == nil || len(c.m) >= ataCacheMax {
		c.m = make(map[ataKey]solanago.PublicKey)
	}
	c.m[k] = a
	c.mu.Unlock()
	return a, nil
}
