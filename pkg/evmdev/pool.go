package evmdev

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
)

// promotionWait bounds how long a seal waits for the pool to promote
// transactions that are already executable.
const promotionWait = 2 * time.Second

// waitPromoted waits until no queued transaction in the pool is executable.
//
// The pool moves a transaction from its queue to its pending set in a
// background step after eth_sendRawTransaction has answered. Measured here:
// after ten sends from one account, the pending nonce was still 3-5 when
// Commit ran, and the block left the last transactions out although the
// simulated beacon syncs the pool before building. Waiting for the promotion
// makes "send, then Commit" include the transaction every time. Transactions
// queued behind a nonce gap are not executable and are not waited for.
func (c *Chain) waitPromoted(ctx context.Context) error {
	deadline := time.Now().Add(promotionWait)
	for {
		waiting, err := c.promotable(ctx)
		if err != nil || waiting == 0 {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d executable transactions still queued after %s", waiting, promotionWait)
		}
		time.Sleep(200 * time.Microsecond)
	}
}

// promotable counts accounts whose lowest queued nonce is their next pending
// nonce: transactions the pool will promote but has not yet.
func (c *Chain) promotable(ctx context.Context) (int, error) {
	rpc := c.client.Client()
	var status struct{ Queued hexutil.Uint64 }
	if err := rpc.CallContext(ctx, &status, "txpool_status"); err != nil {
		return 0, fmt.Errorf("txpool_status: %w", err)
	}
	if status.Queued == 0 {
		return 0, nil
	}
	var content struct {
		Queued map[common.Address]map[string]struct{} `json:"queued"`
	}
	if err := rpc.CallContext(ctx, &content, "txpool_content"); err != nil {
		return 0, fmt.Errorf("txpool_content: %w", err)
	}
	waiting := 0
	for addr, byNonce := range content.Queued {
		next, err := c.client.PendingNonceAt(ctx, addr)
		if err != nil {
			return 0, fmt.Errorf("pending nonce of %s: %w", addr, err)
		}
		for nonce := range byNonce {
			if n, err := strconv.ParseUint(nonce, 10, 64); err == nil && n == next {
				waiting++
				break
			}
		}
	}
	return waiting, nil
}
