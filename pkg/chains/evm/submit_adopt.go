package evm

import (
	"context"
	"errors"
	"fmt"
	"math/big"

	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/ethclient"

	"github.com/h402/settlement/pkg/chains"
	"github.com/h402/settlement/pkg/failover"
)

// NonceClaims is a claims store that also indexes facilitator transactions
// by signer and nonce (settler.Claims does, in the same Record).
type NonceClaims interface {
	chains.Claims
	// LookupNonce returns the transaction last recorded for signer's nonce
	// and the payments it carries, or nil.
	LookupNonce(ctx context.Context, signer string, nonce uint64) (*chains.Tx, []string, error)
}

// maxUnblockBumps bounds the fee raises of a self-transfer that replaces an
// unknown pending transaction.
const maxUnblockBumps = 16

// AdoptPending takes over what a previous holder of the key left in the
// node's pool: every nonce from the mined one up to the pending one. A nonce
// whose recorded transaction (found through the claims' nonce index) pays
// at least what the fee policy asks now is adopted, tracked by ReplaceStuck
// from this head; one priced below is replaced at once (same nonce and
// call, higher fees, recorded before broadcast). A nonce with no record gets
// a zero-value self-transfer that unblocks the ones after it. Call it on
// start and whenever the key's lease is acquired, before Submit. The error
// joins what failed (call it again).
func (s *Submitter) AdoptPending(ctx context.Context, claims NonceClaims) ([]Replacement, error) {
	if claims == nil {
		return nil, errors.New("adopt pending: no claims store")
	}
	if err := s.canSign(); err != nil {
		return nil, err
	}
	mined, err := s.minedNonce(ctx, s.from)
	if err != nil {
		return nil, err
	}
	pending, err := failover.Do(ctx, s.pool, "eth_getTransactionCount", func(ctx context.Context, c *ethclient.Client) (uint64, error) {
		return c.PendingNonceAt(ctx, s.from)
	})
	if err != nil {
		return nil, fmt.Errorf("pending nonce of %s: %w", s.from.Hex(), err)
	}
	if pending <= mined {
		return nil, nil
	}
	head, err := latestHead(ctx, s.pool)
	if err != nil {
		return nil, err
	}
	want := s.opts.Fees.For(head.BaseFee)
	var (
		reps []Replacement
		errs []error
	)
	for n := mined; n < pending; n++ {
		if err := s.canSign(); err != nil {
			return reps, errors.Join(append(errs, err)...)
		}
		rec, ids, err := claims.LookupNonce(ctx, s.signerHex(), n)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		var tx *types.Transaction
		if rec != nil && len(rec.Raw) > 0 {
			tx = new(types.Transaction)
			if tx.UnmarshalBinary(rec.Raw) != nil || tx.Nonce() != n || tx.Type() != types.DynamicFeeTxType {
				tx = nil
			}
		}
		if tx == nil {
			rep, err := s.unblock(ctx, n, want, head, claims)
			if err != nil {
				errs = append(errs, err)
			} else if rep != nil {
				reps = append(reps, *rep)
			}
			continue
		}
		fees := Fees{Tip: tx.GasTipCap(), FeeCap: tx.GasFeeCap()}
		e := tracked{ids: ids, rec: *rec, tx: tx, fees: fees, at: head.Number, claims: claims}
		s.tracker.add(ids, *rec, tx, fees, head.Number, claims)
		log := s.opts.Logger.With("network", s.network.CAIP2, "tx_hash", rec.Hash, "nonce", n, "batch", len(ids))
		if fees.Tip.Cmp(want.Tip) >= 0 && fees.FeeCap.Cmp(want.FeeCap) >= 0 {
			log.Info("pending transaction of a previous holder adopted", "fees", fees.String())
			continue
		}
		log.Info("pending transaction of a previous holder is underpriced; replacing it", "fees", fees.String(), "want", want.String())
		rep, err := s.replace(ctx, e, &head, head.Number)
		if err != nil {
			errs = append(errs, err)
		} else if rep != nil {
			reps = append(reps, *rep)
		}
	}
	return reps, errors.Join(errs...)
}

// unblock replaces whatever holds nonce n in the pool (nothing recorded
// says what) with a zero-value transfer to ourselves, recorded in the nonce
// index before it is broadcast and tracked like any other.
func (s *Submitter) unblock(ctx context.Context, n uint64, fees Fees, head headInfo, claims NonceClaims) (*Replacement, error) {
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	// Under the send lock, look again: a batch may have recorded this nonce
	// since the walk looked (attack review), and a self-transfer would then
	// evict it from the pool.
	if rec, _, err := claims.LookupNonce(ctx, s.signerHex(), n); err != nil {
		return nil, err
	} else if rec != nil {
		return nil, nil
	}
	to := s.from
	var replaces []string
	for range maxUnblockBumps {
		tx, err := types.SignNewTx(s.key, s.signer, &types.DynamicFeeTx{
			ChainID: s.chainID, Nonce: n, GasTipCap: fees.Tip, GasFeeCap: fees.FeeCap, Gas: 21_000, To: &to,
		})
		if err != nil {
			return nil, fmt.Errorf("sign self-transfer for nonce %d: %w", n, err)
		}
		rec, err := s.record(tx, s.signerHex(), replaces)
		if err != nil {
			return nil, err
		}
		if err := claims.Record(ctx, nil, rec); err != nil {
			return nil, fmt.Errorf("record self-transfer for nonce %d: %w", n, err)
		}
		s.tracker.add(nil, rec, tx, fees, head.Number, claims)
		out, err := s.broadcast(ctx, "unblock", tx)
		log := s.opts.Logger.With("network", s.network.CAIP2, "tx_hash", rec.Hash, "nonce", n)
		switch out {
		case sentOK:
			log.Info("unrecorded pending nonce replaced by a self-transfer", "fees", fees.String())
			return &Replacement{Tx: rec}, nil
		case sentNonceTooLow:
			s.tracker.remove(n, rec.Hash)
			return nil, nil // mined meanwhile
		case sentUnderpriced:
			// What holds the nonce is unknown, its price too: double ours,
			// up to the policy's fee cap.
			maxCap := s.opts.Fees.MaxFeeCap
			if fees.FeeCap.Cmp(maxCap) >= 0 {
				s.tracker.remove(n, rec.Hash)
				return nil, fmt.Errorf("self-transfer for nonce %d: cannot outbid the pending transaction under the fee cap %s: %w", n, maxCap, err)
			}
			feeCap := new(big.Int).Lsh(fees.FeeCap, 1)
			if feeCap.Cmp(maxCap) > 0 {
				feeCap.Set(maxCap)
			}
			tip := new(big.Int).Lsh(fees.Tip, 1)
			if tip.Cmp(feeCap) > 0 {
				tip.Set(feeCap)
			}
			fees = Fees{Tip: tip, FeeCap: feeCap}
			replaces = append(replaces, rec.Hash)
		default:
			return nil, fmt.Errorf("broadcast self-transfer %s for nonce %d: %w", rec.Hash, n, err)
		}
	}
	return nil, fmt.Errorf("self-transfer for nonce %d: still underpriced after %d raises", n, maxUnblockBumps)
}
