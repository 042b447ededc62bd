package settlertest

import (
	"context"
	"sync"

	"github.com/h402/settlement/pkg/chains"
)

// CountingClaims wraps real Claims, counting Record calls per payment. Its
// AfterRecord hook simulates a settler crashing between recording a claim
// and broadcasting (a fault a real process cannot produce on demand): when
// it returns an error, Record returns it after the claim was stored.
type CountingClaims struct {
	chains.Claims
	AfterRecord func(ids []string, tx chains.Tx) error

	mu      sync.Mutex
	records map[string]int
	lookups int
}

// SetAfterRecord replaces the hook while the claims are in use.
func (c *CountingClaims) SetAfterRecord(fn func(ids []string, tx chains.Tx) error) {
	c.mu.Lock()
	c.AfterRecord = fn
	c.mu.Unlock()
}

// Count wraps c.
func Count(c chains.Claims) *CountingClaims {
	return &CountingClaims{Claims: c, records: map[string]int{}}
}

// Record records through the wrapped Claims, then runs AfterRecord.
func (c *CountingClaims) Record(ctx context.Context, ids []string, tx chains.Tx) error {
	if err := c.Claims.Record(ctx, ids, tx); err != nil {
		return err
	}
	c.mu.Lock()
	for _, id := range ids {
		c.records[id]++
	}
	hook := c.AfterRecord
	c.mu.Unlock()
	if hook != nil {
		return hook(ids, tx)
	}
	return nil
}

// Lookup looks up through the wrapped Claims.
func (c *CountingClaims) Lookup(ctx context.Context, id string) (*chains.Tx, error) {
	c.mu.Lock()
	c.lookups++
	c.mu.Unlock()
	return c.Claims.Lookup(ctx, id)
}

// Records returns how many times each payment was recorded.
func (c *CountingClaims) Records() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int, len(c.records))
	for k, v := range c.records {
		out[k] = v
	}
	return out
}
