package evmdev

import (
	"context"
	"fmt"
	"math/big"

	"github.com/ethereum/go-ethereum/common"
)

// ReorgOptions describes a reorg.
type ReorgOptions struct {
	// Depth is how many of the newest blocks the reorg removes (at least 1).
	// The chain rewinds to head-Depth and seals Depth+1 new blocks on top, so
	// the new branch is one block longer than the one it replaces.
	Depth uint64
	// Reinclude puts the transactions of the removed blocks back into the
	// pool, so they are mined again in the first block of the new branch (a
	// transaction that moves to another block). Without it they are dropped:
	// they exist on no block of the new chain and in no pool, as if the node
	// that had them went away.
	Reinclude bool
}

// ReorgResult tells what a reorg did.
type ReorgResult struct {
	// Ancestor is the last block the old and new branches share.
	Ancestor uint64
	// OldHead and NewHead are the heads before and after.
	OldHead, NewHead common.Hash
	// NewHeadNumber is NewHead's number: Ancestor + Depth + 1.
	NewHeadNumber uint64
	// Removed lists the transactions of the removed blocks, oldest first.
	Removed []common.Hash
}

// Reorg replaces the newest opts.Depth blocks with a longer branch. Pending
// transactions not yet mined are dropped from the pool (the simulated node
// forks only from an empty pool); callers re-send what they still want mined.
// It refuses to remove a block at or below Finalized or the JSON-RPC
// finalized block.
func (c *Chain) Reorg(ctx context.Context, opts ReorgOptions) (ReorgResult, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sim == nil {
		return ReorgResult{}, errClosed
	}
	if opts.Depth == 0 {
		return ReorgResult{}, fmt.Errorf("evmdev: reorg depth must be at least 1")
	}
	client := c.sim.Client()
	old, err := client.HeaderByNumber(ctx, nil)
	if err != nil {
		return ReorgResult{}, fmt.Errorf("evmdev: reorg: read head: %w", err)
	}
	head := old.Number.Uint64()
	if opts.Depth > head {
		return ReorgResult{}, fmt.Errorf("evmdev: reorg depth %d exceeds head %d", opts.Depth, head)
	}
	ancestor := head - opts.Depth
	if floor := max(c.finalized, beaconFinalized(head)); ancestor < floor {
		return ReorgResult{}, fmt.Errorf("evmdev: reorg to block %d would remove finalized block %d (Finalized %d, JSON-RPC finalized %d); commit more blocks first",
			ancestor, floor, c.finalized, beaconFinalized(head))
	}

	res := ReorgResult{Ancestor: ancestor, OldHead: old.Hash()}
	for n := ancestor + 1; n <= head; n++ {
		block, err := client.BlockByNumber(ctx, new(big.Int).SetUint64(n))
		if err != nil {
			return ReorgResult{}, fmt.Errorf("evmdev: reorg: read block %d: %w", n, err)
		}
		for _, tx := range block.Transactions() {
			res.Removed = append(res.Removed, tx.Hash())
		}
	}
	parent, err := client.HeaderByNumber(ctx, new(big.Int).SetUint64(ancestor))
	if err != nil {
		return ReorgResult{}, fmt.Errorf("evmdev: reorg: read block %d: %w", ancestor, err)
	}

	// Fork needs an empty pool; a transaction can arrive between Rollback
	// and Fork, so try a few times.
	for attempt := 0; ; attempt++ {
		c.sim.Rollback()
		err = c.sim.Fork(parent.Hash())
		if err == nil {
			break
		}
		if attempt == 4 {
			return ReorgResult{}, fmt.Errorf("evmdev: reorg: fork at block %d: %w", ancestor, err)
		}
	}
	if !opts.Reinclude {
		// The pool re-injects the removed blocks' transactions when its head
		// moves back; Rollback waits for that reset and then empties the pool.
		c.sim.Rollback()
	}
	for range opts.Depth + 1 {
		res.NewHead = c.commitLocked()
	}
	res.NewHeadNumber = c.head
	return res, nil
}
