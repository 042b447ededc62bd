package evm

import (
	"context"
	"fmt"
	"math/big"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/rpc"

	"github.com/h402/settlement/pkg/chains"
	"github.com/h402/settlement/pkg/config"
	"github.com/h402/settlement/pkg/h402"
)

// finalBlock is the block the network's finality (networks[].finality)
// points at: the "finalized" (default) or "safe" block tag, or the head
// minus the configured depth. ok is false when no block is final yet.
func (s *Submitter) finalBlock(ctx context.Context) (block *big.Int, ok bool, err error) {
	return finalBlock(ctx, s.network, s.pool)
}

// finalBlock is the block network's finality points at, read through pool
// (see Submitter.finalBlock). "confirmed" counts every mined block: the head.
func finalBlock(ctx context.Context, network *config.Network, pool *Pool) (block *big.Int, ok bool, err error) {
	switch network.Finality.Commitment {
	case "depth":
		head, err := latestHead(ctx, pool)
		if err != nil {
			return nil, false, err
		}
		depth := network.Finality.Depth
		if head.Number < depth {
			return nil, false, nil
		}
		return new(big.Int).SetUint64(head.Number - depth), true, nil
	case "confirmed":
		return big.NewInt(int64(rpc.LatestBlockNumber)), true, nil
	case "safe":
		return big.NewInt(int64(rpc.SafeBlockNumber)), true, nil
	default:
		return big.NewInt(int64(rpc.FinalizedBlockNumber)), true, nil
	}
}

// finalNonce is account's nonce at the network's finality. A payment is
// failed for a taken nonce only from this view, which no reorg can change
// (issue 9 item 8).
func (s *Submitter) finalNonce(ctx context.Context, account common.Address) (uint64, error) {
	block, ok, err := s.finalBlock(ctx)
	if err != nil || !ok {
		return 0, err
	}
	return s.nonceAt(ctx, "eth_getTransactionCount:final", "final nonce", account, block)
}

// finalAuthorizationUsed reports whether from's authorization nonce is used
// or canceled on token at the network's finality.
func (s *Submitter) finalAuthorizationUsed(ctx context.Context, token, from common.Address, nonce [32]byte) (bool, error) {
	block, ok, err := s.finalBlock(ctx)
	if err != nil || !ok {
		return false, err
	}
	return authorizationUsedAt(ctx, s.pool, token, from, nonce, block)
}

// usedOnlyAtHead turns a nonce_already_used verdict for an authorization
// into a retryable error unless the use is final: a reorg can still undo a
// use above the network's finality, and the payment then settles. A
// payment is failed only from a view that cannot lag (issue 9 item 8).
// Other verdicts are returned as they are.
func (s *Submitter) usedOnlyAtHead(ctx context.Context, id string, token, from common.Address, nonce [32]byte, verdict error) error {
	if h402.ReasonOf(verdict, "") != h402.ReasonNonceAlreadyUsed {
		return verdict
	}
	final, err := s.finalAuthorizationUsed(ctx, token, from, nonce)
	if err != nil {
		return fmt.Errorf("settle %s: is the authorization's use final: %w", id, err)
	}
	if final {
		return verdict
	}
	return &chains.Transient{Err: fmt.Errorf("settle %s: the authorization is used at the head but not at the network's finality (%s), retry: %w",
		id, s.network.Finality.Commitment, verdict)}
}
