package evmdev

import (
	"context"
	"errors"
	"time"

	"github.com/ethereum/go-ethereum/common"
)

// Commit seals the pending transactions into a new block and returns its
// hash. It returns the zero hash on a closed chain.
func (c *Chain) Commit() common.Hash {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.commitLocked()
}

func (c *Chain) commitLocked() common.Hash {
	if c.sim == nil {
		return common.Hash{}
	}
	ctx, cancel := context.WithTimeout(context.Background(), promotionWait+time.Second)
	defer cancel()
	if err := c.waitPromoted(ctx); err != nil {
		c.cfg.Logger.Warn("evm dev chain: sealing without waiting for the pool", "err", err)
	}
	hash := c.sim.Commit()
	c.noteHeadLocked()
	return hash
}

// noteHeadLocked records the head number and advances Finalized.
func (c *Chain) noteHeadLocked() {
	n, err := c.sim.Client().BlockNumber(context.Background())
	if err != nil {
		c.cfg.Logger.Warn("evm dev chain: read head", "err", err)
		return
	}
	c.head = n
	if n >= c.cfg.FinalityDepth {
		c.finalized = max(c.finalized, n-c.cfg.FinalityDepth)
	}
}

// Head is the number of the newest sealed block.
func (c *Chain) Head() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.head
}

// Finalized is the number of the newest block this package treats as final:
// the highest head-FinalityDepth seen so far. It never goes back, and Reorg
// never rewinds past it. (JSON-RPC "finalized" answers the simulated beacon's
// own value instead, the last multiple of 32; see the package doc.)
func (c *Chain) Finalized() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.finalized
}

// beaconFinalized is the block the simulated beacon reports as finalized for
// the given head: the last multiple of 32 (the head itself when it is one).
func beaconFinalized(head uint64) uint64 {
	if head%32 == 0 {
		return head
	}
	return (head - 1) / 32 * 32
}

// sealLoop seals a block every period until Close.
func (c *Chain) sealLoop(period time.Duration) {
	defer close(c.done)
	ticker := time.NewTicker(period)
	defer ticker.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-ticker.C:
			c.Commit()
		}
	}
}

// AdjustTime seals an empty block whose timestamp is its parent's plus d:
// the chain's clock then runs ahead of the wall clock by about d, as dev
// chains' do (tests of signers that take "now" from the chain head).
func (c *Chain) AdjustTime(d time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sim == nil {
		return errors.New("evmdev: chain closed")
	}
	if err := c.sim.AdjustTime(d); err != nil {
		return err
	}
	c.noteHeadLocked()
	return nil
}
