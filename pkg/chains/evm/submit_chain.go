package evm

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"strings"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient"

	"github.com/h402/settlement/pkg/contracts"
	"github.com/h402/settlement/pkg/failover"
)

// EIP-3009's events: AuthorizationUsed and AuthorizationCanceled(address
// indexed authorizer, bytes32 indexed nonce).
var (
	topicAuthorizationUsed     = common.BytesToHash(crypto.Keccak256([]byte("AuthorizationUsed(address,bytes32)")))
	topicAuthorizationCanceled = common.BytesToHash(crypto.Keccak256([]byte("AuthorizationCanceled(address,bytes32)")))
)

// eip3009 is the EIP-3009 ABI (FiatToken's), shared by readers without a Submitter.
var eip3009 = contracts.NewTestUSDC()

// sendOutcome is how a node answered a broadcast.
type sendOutcome int

const (
	sentOK          sendOutcome = iota // accepted, or already known
	sentNonceTooLow                    // the nonce is used: mined already, or taken by another tx
	sentUnderpriced                    // another tx with this nonce is in the pool and pays more
	sentRejected                       // the node refuses this tx for good (see err)
	sentFailed                         // no endpoint answered, or an unclassified error: retry
)

// rejections are node answers that no retry can change.
var rejections = []string{
	"invalid sender", "intrinsic gas too low", "exceeds block gas limit", "oversized data",
	"transaction type not supported", "invalid chain id", "gas limit too high", "gas uint64 overflow",
	"max priority fee per gas higher than max fee per gas", "negative value", "insufficient funds",
}

// broadcast sends tx, classifies the answer and counts it under kind.
func (s *Submitter) broadcast(ctx context.Context, kind string, tx *types.Transaction) (sendOutcome, error) {
	// issue 9 item 2: the key's lease is checked again right before the
	// broadcast (it may have been lost since the signature and the claim).
	// Client-signed transactions ("raw") are not signed with our key.
	if kind != "raw" {
		if err := s.canSign(); err != nil {
			return sentFailed, err
		}
	}
	out, err := s.send(ctx, tx)
	s.opts.Metrics.broadcast(s.network.CAIP2, kind, out)
	return out, err
}

func (s *Submitter) send(ctx context.Context, tx *types.Transaction) (sendOutcome, error) {
	_, err := failover.Do(ctx, s.pool, "eth_sendRawTransaction", func(ctx context.Context, c *ethclient.Client) (struct{}, error) {
		return struct{}{}, c.SendTransaction(ctx, tx)
	})
	if err == nil {
		return sentOK, nil
	}
	var unavailable *failover.Unavailable
	if errors.As(err, &unavailable) || ctx.Err() != nil {
		return sentFailed, err
	}
	msg := strings.ToLower(err.Error())
	switch {
	case strings.Contains(msg, "already known"):
		return sentOK, nil
	case strings.Contains(msg, "nonce too low"):
		return sentNonceTooLow, err
	case strings.Contains(msg, "replacement transaction underpriced"):
		return sentUnderpriced, err
	}
	for _, r := range rejections {
		if strings.Contains(msg, r) {
			return sentRejected, err
		}
	}
	return sentFailed, err
}

// receipt returns the receipt of hash, or nil when it is not mined.
func (s *Submitter) receipt(ctx context.Context, hash common.Hash) (*types.Receipt, error) {
	r, err := failover.Do(ctx, s.pool, "eth_getTransactionReceipt", func(ctx context.Context, c *ethclient.Client) (*types.Receipt, error) {
		return c.TransactionReceipt(ctx, hash)
	})
	if errors.Is(err, ethereum.NotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("receipt of %s: %w", hash.Hex(), err)
	}
	return r, nil
}

// known reports whether the node has hash, pending or mined.
func (s *Submitter) known(ctx context.Context, hash common.Hash) (bool, error) {
	_, err := failover.Do(ctx, s.pool, "eth_getTransactionByHash", func(ctx context.Context, c *ethclient.Client) (struct{}, error) {
		_, _, err := c.TransactionByHash(ctx, hash)
		return struct{}{}, err
	})
	if errors.Is(err, ethereum.NotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("look up %s: %w", hash.Hex(), err)
	}
	return true, nil
}

// minedNonce is the account's nonce at the newest block: every nonce below
// it is used by a mined transaction.
func (s *Submitter) minedNonce(ctx context.Context, account common.Address) (uint64, error) {
	return s.nonceAt(ctx, "eth_getTransactionCount", "nonce", account, nil)
}

// nonceAt is account's nonce at block (nil: the newest), read as call;
// what names it in errors.
func (s *Submitter) nonceAt(ctx context.Context, call, what string, account common.Address, block *big.Int) (uint64, error) {
	return nonceAt(ctx, s.pool, call, what, account, block)
}

// nonceAt is Submitter.nonceAt through pool.
func nonceAt(ctx context.Context, pool *Pool, call, what string, account common.Address, block *big.Int) (uint64, error) {
	n, err := failover.Do(ctx, pool, call, func(ctx context.Context, c *ethclient.Client) (uint64, error) {
		return c.NonceAt(ctx, account, block)
	})
	if err != nil {
		return 0, fmt.Errorf("%s of %s: %w", what, account.Hex(), err)
	}
	return n, nil
}

// authorizationUsed asks token whether from's authorization nonce is used or canceled.
func (s *Submitter) authorizationUsed(ctx context.Context, token, from common.Address, nonce [32]byte) (bool, error) {
	return authorizationUsedAt(ctx, s.pool, token, from, nonce, nil)
}

// authorizationUsedAt is authorizationUsed at block (nil: the newest),
// through pool.
func authorizationUsedAt(ctx context.Context, pool *Pool, token, from common.Address, nonce [32]byte, block *big.Int) (bool, error) {
	data := eip3009.PackAuthorizationState(from, nonce)
	out, err := failover.Do(ctx, pool, "eth_call:authorizationState", func(ctx context.Context, c *ethclient.Client) ([]byte, error) {
		return c.CallContract(ctx, ethereum.CallMsg{To: &token, Data: data}, block)
	})
	if err != nil {
		return false, fmt.Errorf("authorizationState: %w", err)
	}
	if len(out) == 0 && block != nil {
		// No code at that (older) block: the token was deployed after it,
		// so nothing of it is used there.
		return false, nil
	}
	used, err := eip3009.UnpackAuthorizationState(out)
	if err != nil {
		return false, fmt.Errorf("authorizationState: token %s answered %d bytes: %w", token.Hex(), len(out), err)
	}
	return used, nil
}

// findAuthorizationUse returns the transaction that emitted token's
// AuthorizationUsed(from, nonce) within the last LogLookback blocks, or the
// zero hash.
func (s *Submitter) findAuthorizationUse(ctx context.Context, token, from common.Address, nonce [32]byte) (common.Hash, error) {
	return findAuthorizationUse(ctx, s.pool, s.opts.LogLookback, token, from, nonce, topicAuthorizationUsed)
}

// findAuthorizationUse returns the transaction that emitted one of token's
// events (topics: AuthorizationUsed, AuthorizationCanceled) for from's
// authorization nonce within the last lookback blocks, or the zero hash.
func findAuthorizationUse(ctx context.Context, pool *Pool, lookback uint64, token, from common.Address, nonce [32]byte, topics ...common.Hash) (common.Hash, error) {
	head, err := latestHead(ctx, pool)
	if err != nil {
		return common.Hash{}, err
	}
	q := ethereum.FilterQuery{
		FromBlock: new(big.Int).SetUint64(head.Number - min(head.Number, lookback)),
		Addresses: []common.Address{token},
		Topics:    [][]common.Hash{topics, {common.BytesToHash(from.Bytes())}, {common.Hash(nonce)}},
	}
	logs, err := failover.Do(ctx, pool, "eth_getLogs", func(ctx context.Context, c *ethclient.Client) ([]types.Log, error) {
		return c.FilterLogs(ctx, q)
	})
	if err != nil {
		return common.Hash{}, fmt.Errorf("find AuthorizationUsed: %w", err)
	}
	for _, l := range logs {
		if !l.Removed {
			return l.TxHash, nil
		}
	}
	return common.Hash{}, nil
}

// usesAuthorization reports whether receipt r carries token's
// AuthorizationUsed(from, nonce): the authorization was paid by this tx.
func usesAuthorization(r *types.Receipt, token, from common.Address, nonce [32]byte) bool {
	for _, l := range r.Logs {
		if l.Address == token && len(l.Topics) == 3 && l.Topics[0] == topicAuthorizationUsed &&
			common.BytesToAddress(l.Topics[1].Bytes()) == from && l.Topics[2] == common.Hash(nonce) {
			return true
		}
	}
	return false
}
