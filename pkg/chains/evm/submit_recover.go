package evm

import (
	"context"
	"fmt"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"

	"github.com/h402/settlement/pkg/chains"
	"github.com/h402/settlement/pkg/events"
	"github.com/h402/settlement/pkg/h402"
)

// txState is what the chain says about a recorded transaction.
type txState struct {
	err     error
	mined   *types.Receipt // one of its hashes is mined
	pending bool           // the node has it (or took it again just now)
	dead    bool           // its nonce is used by another transaction: it can never land
	tx      *types.Transaction
}

// recovery continues payments that arrive with a recorded transaction (a
// redelivery after a crash, a timeout or a replacement). It caches what it
// learns per transaction for one Submit call: many payments share one.
type recovery struct {
	s      *Submitter
	byHash map[string]*txState
}

func newRecovery(s *Submitter) *recovery {
	return &recovery{s: s, byHash: map[string]*txState{}}
}

// resume returns the payment's Result from its recorded transaction, or
// fresh = true when the payment must be settled again (its transaction can
// never land and its authorization is unused).
func (rc *recovery) resume(ctx context.Context, e *events.PaymentAccepted, rec *chains.Tx, claims chains.Claims) (chains.Result, bool) {
	st := rc.state(ctx, rec)
	if st.err != nil {
		return chains.Result{Err: fmt.Errorf("resume %s from tx %s: %w", e.ID, rec.Hash, st.err)}, false
	}
	if e.Type != h402.TypeAuthorization {
		// A client-signed transaction: mined or pending means carried;
		// otherwise the fresh path broadcasts the very same bytes again
		// (and learns if the sender's nonce went to another transaction).
		if st.mined != nil {
			return chains.Result{Tx: minedAs(rec, st.mined.TxHash)}, false
		}
		if st.pending {
			return chains.Result{Tx: rec}, false
		}
		return chains.Result{}, true
	}
	_, from, nonce, err := DecodeAuthorization(e)
	if err != nil {
		return chains.Result{Err: err}, false
	}
	token := common.HexToAddress(e.Token)
	switch {
	case st.mined != nil && usesAuthorization(st.mined, token, from, nonce):
		return chains.Result{Tx: minedAs(rec, st.mined.TxHash)}, false
	case st.pending:
		if rc.s.isOurs(rec) && st.tx != nil {
			rc.s.tracker.adopt(e.ID, *rec, st.tx, claims)
		}
		return chains.Result{Tx: rec}, false
	}
	// Mined without paying this authorization, or never to be mined: what
	// does the token say?
	used, err := rc.s.authorizationUsed(ctx, token, from, nonce)
	if err != nil {
		return chains.Result{Err: fmt.Errorf("resume %s: %w", e.ID, err)}, false
	}
	if !used {
		rc.s.opts.Logger.Info("recorded transaction cannot carry the payment; settling it again",
			"payment_id", e.ID, "tx_hash", rec.Hash, "network", rc.s.network.CAIP2)
		return chains.Result{}, true
	}
	carrier, err := rc.s.findAuthorizationUse(ctx, token, from, nonce)
	if err != nil {
		return chains.Result{Err: fmt.Errorf("resume %s: %w", e.ID, err)}, false
	}
	if carrier == (common.Hash{}) {
		return chains.Result{Err: rc.s.usedOnlyAtHead(ctx, e.ID, token, from, nonce, h402.Errorf(h402.ReasonNonceAlreadyUsed,
			"the authorization was used or canceled on chain by a transaction not found in the last %d blocks", rc.s.opts.LogLookback))}, false
	}
	for _, h := range hashesOf(rec) {
		if common.HexToHash(h) == carrier {
			return chains.Result{Tx: minedAs(rec, carrier)}, false
		}
	}
	// Paid by a transaction that is not ours (the payer, another
	// facilitator): the payment is carried all the same.
	return chains.Result{Tx: &chains.Tx{Hash: lowerHex(carrier[:])}}, false
}

// state finds out what happened to rec, once per transaction.
func (rc *recovery) state(ctx context.Context, rec *chains.Tx) *txState {
	if st, ok := rc.byHash[rec.Hash]; ok {
		return st
	}
	st := rc.s.inspect(ctx, rec)
	rc.byHash[rec.Hash] = st
	return st
}

// inspect asks the chain about rec: mined (any of its hashes), known to the
// node, dead (nonce used by another transaction), or else re-broadcast from
// its recorded bytes, never signed anew.
func (s *Submitter) inspect(ctx context.Context, rec *chains.Tx) *txState {
	st := &txState{}
	for _, h := range hashesOf(rec) {
		r, err := s.receipt(ctx, common.HexToHash(h))
		if err != nil {
			return &txState{err: err}
		}
		if r != nil {
			st.mined = r
			return st
		}
	}
	if len(rec.Raw) > 0 {
		st.tx = new(types.Transaction)
		if err := st.tx.UnmarshalBinary(rec.Raw); err != nil {
			st.tx = nil
		}
	}
	for _, h := range hashesOf(rec) {
		ok, err := s.known(ctx, common.HexToHash(h))
		if err != nil {
			return &txState{err: err}
		}
		if ok {
			st.pending = true
			return st
		}
	}
	if st.tx == nil {
		st.dead = true // nothing to re-broadcast: only the token can tell
		return st
	}
	sender, err := types.Sender(types.LatestSignerForChainID(st.tx.ChainId()), st.tx)
	if err != nil {
		st.dead = true
		return st
	}
	mined, err := s.minedNonce(ctx, sender)
	if err != nil {
		return &txState{err: err}
	}
	if mined > st.tx.Nonce() {
		st.dead = true
		return st
	}
	out, err := s.broadcast(ctx, "rebroadcast", st.tx)
	switch out {
	case sentOK:
		s.opts.Logger.Info("recorded transaction re-broadcast", "tx_hash", rec.Hash, "network", s.network.CAIP2)
		st.pending = true
		return st
	case sentNonceTooLow:
		// Mined between the receipt check and now: look again next time.
		return &txState{err: fmt.Errorf("re-broadcast %s: %w", rec.Hash, err)}
	default:
		return &txState{err: fmt.Errorf("re-broadcast %s: %w", rec.Hash, err)}
	}
}

// hashesOf lists a record's hashes, newest first.
func hashesOf(rec *chains.Tx) []string {
	out := []string{rec.Hash}
	for i := len(rec.Replaces) - 1; i >= 0; i-- {
		out = append(out, rec.Replaces[i])
	}
	return out
}

// minedAs returns rec with Hash set to the mined one of its hashes (the
// others in Replaces).
func minedAs(rec *chains.Tx, mined common.Hash) *chains.Tx {
	h := lowerHex(mined[:])
	if h == rec.Hash || common.HexToHash(rec.Hash) == mined {
		return rec
	}
	out := *rec
	out.Hash = h
	out.Raw = nil // the recorded bytes are the other transaction's
	out.Replaces = nil
	for _, r := range hashesOf(rec) {
		if common.HexToHash(r) != mined {
			out.Replaces = append(out.Replaces, r)
		}
	}
	return &out
}
