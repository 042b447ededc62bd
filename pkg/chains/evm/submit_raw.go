package evm

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"

	"github.com/h402/settlement/pkg/chains"
	"github.com/h402/settlement/pkg/events"
	"github.com/h402/settlement/pkg/h402"
)

// DecodeSignedTransaction decodes the client transaction of an accepted
// signedTransaction payment. Errors are *h402.Error.
func DecodeSignedTransaction(e *events.PaymentAccepted) (*types.Transaction, error) {
	if e.SignedTransaction == "" || e.Namespace != h402.NamespaceEVM {
		return nil, h402.Errorf(h402.ReasonInvalidPayload, "payment %s carries no EVM signed transaction", e.ID)
	}
	raw, err := hexutil.Decode(e.SignedTransaction)
	if err != nil {
		return nil, h402.Wrap(h402.ReasonEVMTransaction, err, "signedTransaction is not 0x hex")
	}
	tx := new(types.Transaction)
	if err := tx.UnmarshalBinary(raw); err != nil {
		return nil, h402.Wrap(h402.ReasonEVMTransaction, err, "signedTransaction does not decode as a transaction")
	}
	return tx, nil
}

// submitRaw broadcasts the client-signed transactions at idx, in parallel,
// each recorded in claims first.
func (s *Submitter) submitRaw(ctx context.Context, batch []*events.PaymentAccepted, idx []int, results []chains.Result, claims chains.Claims) {
	sem := make(chan struct{}, s.opts.Broadcasts)
	var wg sync.WaitGroup
	for _, i := range idx {
		wg.Go(func() {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				results[i].Err = ctx.Err()
				return
			}
			defer func() { <-sem }()
			tx, err := s.sendRaw(ctx, batch[i], claims)
			results[i].Tx, results[i].Err = tx, err
		})
	}
	wg.Wait()
}

// sendRaw records and broadcasts one client transaction.
func (s *Submitter) sendRaw(ctx context.Context, e *events.PaymentAccepted, claims chains.Claims) (*chains.Tx, error) {
	tx, err := DecodeSignedTransaction(e)
	if err != nil {
		return nil, err
	}
	if tx.ChainId().Cmp(s.chainID) != 0 {
		return nil, h402.Errorf(h402.ReasonEVMChainID, "transaction chain id %s is not network %s", tx.ChainId(), s.network.NetworkID)
	}
	if _, err := types.Sender(types.LatestSignerForChainID(tx.ChainId()), tx); err != nil {
		return nil, h402.Wrap(h402.ReasonEVMTransaction, err, "transaction sender cannot be recovered")
	}
	rec, err := s.record(tx, "", nil)
	if err != nil {
		return nil, h402.Wrap(h402.ReasonEVMTransaction, err, "transaction does not encode")
	}
	if err := claims.Record(ctx, []string{e.ID}, rec); err != nil {
		return nil, fmt.Errorf("record claim of %s: %w", e.ID, err)
	}
	if s.opts.BeforeBroadcast != nil {
		if err := s.opts.BeforeBroadcast(ctx, rec); err != nil {
			return nil, fmt.Errorf("before broadcast of %s: %w", rec.Hash, err)
		}
	}
	out, err := s.broadcast(ctx, "raw", tx)
	switch out {
	case sentOK:
		return &rec, nil
	case sentNonceTooLow:
		// Fine if this very transaction is the one mined.
		r, rerr := s.receipt(ctx, tx.Hash())
		if rerr != nil {
			return nil, rerr
		}
		if r != nil {
			return &rec, nil
		}
		// Failed only from a view that cannot lag: the nonce must be used at
		// the network's finality; until then another reorg could free it.
		sender, _ := types.Sender(types.LatestSignerForChainID(tx.ChainId()), tx)
		final, ferr := s.finalNonce(ctx, sender)
		if ferr != nil {
			return nil, ferr
		}
		if final <= tx.Nonce() {
			return nil, &chains.Transient{Err: fmt.Errorf("the sender's nonce %d is used at the head but not final yet (final nonce %d): %w", tx.Nonce(), final, err)}
		}
		return nil, h402.Wrap(h402.ReasonNonceAlreadyUsed, err,
			fmt.Sprintf("the sender's nonce %d was used by another transaction", tx.Nonce()))
	case sentUnderpriced:
		return nil, h402.Wrap(h402.ReasonInvalidTransactionState, err,
			fmt.Sprintf("another transaction of the sender with nonce %d pays more", tx.Nonce()))
	case sentRejected:
		if strings.Contains(strings.ToLower(err.Error()), "insufficient funds") {
			return nil, h402.Wrap(h402.ReasonInsufficientFunds, err, "the sender cannot pay for the transaction")
		}
		return nil, h402.Wrap(h402.ReasonEVMTransaction, err, "the node refuses the transaction")
	default:
		return nil, fmt.Errorf("broadcast %s: %w", rec.Hash, err)
	}
}
