package evm

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"

	"github.com/ethereum/go-ethereum/core/types"

	"github.com/h402/settlement/pkg/chains"
)

// Replacement is a stuck transaction replaced by one of the same nonce with
// higher fees.
type Replacement struct {
	// PaymentIDs are the payments the transaction carries.
	PaymentIDs []string
	// Tx is the new transaction; Tx.Replaces lists every earlier hash of
	// the nonce, all of which stay candidates until one is mined.
	Tx chains.Tx
}

// tracked is one of our transactions not known to be mined.
type tracked struct {
	ids    []string
	rec    chains.Tx
	tx     *types.Transaction
	fees   Fees
	at     uint64 // head when signed or last replaced; 0: set by the next ReplaceStuck
	claims chains.Claims
}

// tracker holds our unmined transactions by nonce.
type tracker struct {
	mu      sync.Mutex
	byNonce map[uint64]*tracked
}

// add tracks a newly signed and recorded transaction.
func (t *tracker) add(ids []string, rec chains.Tx, tx *types.Transaction, fees Fees, at uint64, claims chains.Claims) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.byNonce[rec.Nonce] = &tracked{ids: slices.Clone(ids), rec: rec, tx: tx, fees: fees, at: at, claims: claims}
}

// adopt tracks a pending transaction found by a recovery, adding id to it.
func (t *tracker) adopt(id string, rec chains.Tx, tx *types.Transaction, claims chains.Claims) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e, ok := t.byNonce[rec.Nonce]; ok {
		if !slices.Contains(e.ids, id) {
			e.ids = append(e.ids, id)
		}
		return
	}
	t.byNonce[rec.Nonce] = &tracked{ids: []string{id}, rec: rec, tx: tx,
		fees: Fees{Tip: tx.GasTipCap(), FeeCap: tx.GasFeeCap()}, claims: claims}
}

// remove stops tracking nonce if its newest transaction is hash.
func (t *tracker) remove(nonce uint64, hash string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e, ok := t.byNonce[nonce]; ok && e.rec.Hash == hash {
		delete(t.byNonce, nonce)
	}
}

// snapshot copies the tracked transactions, by nonce.
func (t *tracker) snapshot() []tracked {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]tracked, 0, len(t.byNonce))
	for _, e := range t.byNonce {
		c := *e
		c.ids = slices.Clone(e.ids)
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].rec.Nonce < out[j].rec.Nonce })
	return out
}

// update replaces nonce's entry fields after a replacement or a first sighting.
func (t *tracker) update(nonce uint64, f func(e *tracked)) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e, ok := t.byNonce[nonce]; ok {
		f(e)
	}
}

// Tracked returns the Submitter's transactions not yet known to be mined,
// by nonce (each the newest of its nonce; Replaces lists the earlier ones).
func (s *Submitter) Tracked() []chains.Tx {
	snap := s.tracker.snapshot()
	out := make([]chains.Tx, len(snap))
	for i, e := range snap {
		out[i] = e.rec
	}
	return out
}

// ReplaceStuck looks at the Submitter's unmined transactions at block head
// (call it on every new head). A transaction whose nonce is used is done
// (one of its hashes is mined; the watcher follows it). One that has waited
// ReplaceAfter blocks is replaced: the same nonce, gas and call, fees raised
// by at least Fees.BumpPermille and to what the base fee now asks, recorded
// in Claims (Replaces keeps the earlier hashes) before it is broadcast. When
// the fee cap leaves no room for a raise, the transaction is re-broadcast
// as it is. The error joins what failed (retried at the next head).
func (s *Submitter) ReplaceStuck(ctx context.Context, head uint64) ([]Replacement, error) {
	snap := s.tracker.snapshot()
	if len(snap) == 0 {
		return nil, nil
	}
	minedNonce, err := s.minedNonce(ctx, s.from)
	if err != nil {
		return nil, err
	}
	var (
		reps []Replacement
		errs []error
		base *headInfo
	)
	for _, e := range snap {
		nonce := e.rec.Nonce
		switch {
		case nonce < minedNonce:
			s.tracker.remove(nonce, e.rec.Hash)
			s.observeMined(ctx, e.rec, len(e.ids))
			continue
		case e.at == 0:
			s.tracker.update(nonce, func(t *tracked) { t.at = head })
			continue
		case head < e.at+s.opts.ReplaceAfter:
			continue
		}
		if err := s.canSign(); err != nil {
			return reps, errors.Join(append(errs, err)...)
		}
		if base == nil {
			h, err := latestHead(ctx, s.pool)
			if err != nil {
				return reps, errors.Join(append(errs, err)...)
			}
			base = &h
		}
		rep, err := s.replace(ctx, e, base, head)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if rep != nil {
			reps = append(reps, *rep)
		}
	}
	return reps, errors.Join(errs...)
}

// replace signs, records and broadcasts the replacement of e.
func (s *Submitter) replace(ctx context.Context, e tracked, base *headInfo, head uint64) (*Replacement, error) {
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	log := s.opts.Logger.With("network", s.network.CAIP2, "tx_hash", e.rec.Hash, "nonce", e.rec.Nonce)

	fees, ok := s.opts.Fees.Bump(e.fees, base.BaseFee)
	if !ok {
		log.Warn("stuck transaction cannot be repriced under the fee cap; re-broadcasting it", "fees", e.fees.String())
		s.tracker.update(e.rec.Nonce, func(t *tracked) { t.at = head })
		if out, err := s.broadcast(ctx, "rebroadcast", e.tx); out != sentOK && out != sentNonceTooLow {
			return nil, fmt.Errorf("re-broadcast stuck %s: %w", e.rec.Hash, err)
		}
		return nil, nil
	}
	old := e.tx
	tx, err := types.SignNewTx(s.key, s.signer, &types.DynamicFeeTx{
		ChainID: s.chainID, Nonce: old.Nonce(), GasTipCap: fees.Tip, GasFeeCap: fees.FeeCap,
		Gas: old.Gas(), To: old.To(), Value: old.Value(), Data: old.Data(),
	})
	if err != nil {
		return nil, fmt.Errorf("sign replacement of %s: %w", e.rec.Hash, err)
	}
	rec, err := s.record(tx, s.signerHex(), append(slices.Clone(e.rec.Replaces), e.rec.Hash))
	if err != nil {
		return nil, err
	}
	if err := e.claims.Record(ctx, e.ids, rec); err != nil {
		return nil, fmt.Errorf("record replacement of %s: %w", e.rec.Hash, err)
	}
	s.tracker.update(e.rec.Nonce, func(t *tracked) { t.rec, t.tx, t.fees, t.at = rec, tx, fees, head })
	out, err := s.broadcast(ctx, "replacement", tx)
	switch out {
	case sentOK:
		s.opts.Metrics.replaced(s.network.CAIP2)
		log.Info("stuck transaction replaced", "replacement", rec.Hash, "fees", fees.String(), "payments", len(e.ids))
		return &Replacement{PaymentIDs: e.ids, Tx: rec}, nil
	case sentNonceTooLow:
		// An earlier hash was mined meanwhile; its receipt is found
		// through Replaces.
		s.tracker.remove(rec.Nonce, rec.Hash)
		return nil, nil
	default:
		return nil, fmt.Errorf("broadcast replacement %s of %s: %w", rec.Hash, e.rec.Hash, err)
	}
}
