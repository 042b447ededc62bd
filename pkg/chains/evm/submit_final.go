package evm

import (
	"context"
	"fmt"
	"math/big"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/ethereum/go-ethereum/rpc"

	"github.com/h402/settlement/pkg/failover"
)

// finalNonce is account's nonce at the network's finality (networks[].finality):
// the "finalized" (default) or "safe" block tag, or the head minus the
// configured depth. A payment is failed for a taken nonce only from this
// view, which no reorg can change (issue 9 item 8).
func (s *Submitter) finalNonce(ctx context.Context, account common.Address) (uint64, error) {
	var block *big.Int
	switch s.network.Finality.Commitment {
	case "depth":
		head, err := latestHead(ctx, s.pool)
		if err != nil {
			return 0, err
		}
		depth := s.network.Finality.Depth
		if head.Number < depth {
			return 0, nil
		}
		block = new(big.Int).SetUint64(head.Number - depth)
	case "safe":
		block = big.NewInt(int64(rpc.SafeBlockNumber))
	default:
		block = big.NewInt(int64(rpc.FinalizedBlockNumber))
	}
	n, err := failover.Do(ctx, s.pool, "eth_getTransactionCount:final", func(ctx context.Context, c *ethclient.Client) (uint64, error) {
		return c.NonceAt(ctx, account, block)
	})
	if err != nil {
		return 0, fmt.Errorf("final nonce of %s: %w", account.Hex(), err)
	}
	return n, nil
}
