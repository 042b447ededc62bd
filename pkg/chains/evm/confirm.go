package evm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/ethereum/go-ethereum/rpc"

	"github.com/h402/settlement/pkg/chains"
	"github.com/h402/settlement/pkg/config"
	"github.com/h402/settlement/pkg/events"
	"github.com/h402/settlement/pkg/failover"
	"github.com/h402/settlement/pkg/h402"
)

var _ chains.Confirmer = (*Confirmer)(nil)

// MaxConfirm bounds the submissions of one Confirm call. Their look-ups go
// out as JSON-RPC batches of MaxBatchCalls calls: with a submission's
// usual one or two hashes, 512 submissions are a handful of requests.
const MaxConfirm = 512

// ConfirmerOptions tune a Confirmer. The zero value works.
type ConfirmerOptions struct {
	// LogLookback is how many blocks back the explanation of a failed
	// authorization looks for the transaction that used or canceled it
	// (default DefaultLogLookback).
	LogLookback uint64
}

// Confirmer follows submitted payments of one EVM network to the network's
// finality (networks[].finality: the "finalized" or "safe" block tag, a
// depth below the head, or "confirmed": any block). It is safe for
// concurrent use and keeps no state between calls.
type Confirmer struct {
	chainReader
	opts ConfirmerOptions
}

// NewConfirmer returns a Confirmer for network, reading the chain through
// pool (the same failover pool a Submitter or StateChecker uses).
func NewConfirmer(network *config.Network, pool *Pool, o ConfirmerOptions) (*Confirmer, error) {
	r, err := newChainReader("new confirmer", network, pool)
	if err != nil {
		return nil, err
	}
	if o.LogLookback == 0 {
		o.LogLookback = DefaultLogLookback
	}
	return &Confirmer{chainReader: r, opts: o}, nil
}

// Confirm looks up at most MaxConfirm submissions and returns one
// Confirmation per submission, in order:
//   - one of its hashes (Tx.Hash, Tx.Replaces, or the payment's own TxHash
//     for a client transaction) is in a canonical block: the payment is
//     decided from that transaction's own logs (an authorization: the
//     token's AuthorizationUsed(payer, nonce) and Transfer(payer → payTo,
//     amount); a client transaction: its Transfer of the amount, or for the
//     native coin its value and recipient), never from the receipt status.
//     Paid: Confirmed, or Finalized once the block is final. Not paid:
//     Failed once the block is final, Pending (with a Message) before;
//   - none is mined and none is known to the node, or the sender's nonce
//     at the final block is past the transaction's: Dropped;
//   - otherwise Pending (in the node's pool).
//
// Each call reads the chain afresh (a reorg shows as another block hash or
// as Dropped). An error means the chain could not be read; it is never a
// verdict.
func (c *Confirmer) Confirm(ctx context.Context, subs []chains.Submission) ([]chains.Confirmation, error) {
	if len(subs) > MaxConfirm {
		return nil, fmt.Errorf("confirm: %d submissions, more than the %d of one call", len(subs), MaxConfirm)
	}
	cands := make([][]common.Hash, len(subs))
	var hashes []common.Hash
	seen := map[common.Hash]bool{}
	for i, s := range subs {
		if s.Payment == nil {
			return nil, fmt.Errorf("confirm: submission %d has no payment", i)
		}
		cands[i] = candidates(s)
		for _, h := range cands[i] {
			if !seen[h] {
				seen[h] = true
				hashes = append(hashes, h)
			}
		}
	}
	found, err := lookUpTxs(ctx, c.pool, hashes)
	if err != nil {
		return nil, fmt.Errorf("confirm: %w", err)
	}
	var numbers []uint64
	seenBlock := map[uint64]bool{}
	for _, f := range found {
		if f.rcpt != nil && f.rcpt.BlockNumber != nil && f.rcpt.BlockNumber.IsUint64() && !seenBlock[f.rcpt.BlockNumber.Uint64()] {
			seenBlock[f.rcpt.BlockNumber.Uint64()] = true
			numbers = append(numbers, f.rcpt.BlockNumber.Uint64())
		}
	}
	v, err := readView(ctx, c.network, c.pool, numbers)
	if err != nil {
		return nil, fmt.Errorf("confirm: %w", err)
	}

	out := make([]chains.Confirmation, len(subs))
	var unmined []int
	for i, s := range subs {
		out[i].ID = s.Payment.ID
		h, f, b := minedOf(cands[i], found, v)
		if f == nil {
			unmined = append(unmined, i)
			continue
		}
		if err := c.decideMined(ctx, &out[i], s.Payment, h, f, b, v); err != nil {
			return nil, fmt.Errorf("confirm %s: %w", s.Payment.ID, err)
		}
	}
	if err := c.decideUnmined(ctx, out, subs, cands, unmined, found, v); err != nil {
		return nil, fmt.Errorf("confirm: %w", err)
	}
	return out, nil
}

// candidates lists the hashes that may carry s: its latest transaction,
// the ones it replaced (newest first) and the payment's own transaction.
// Malformed hashes (the log is not trusted) are left out.
func candidates(s chains.Submission) []common.Hash {
	var raw []string
	if s.Tx.Hash != "" {
		raw = hashesOf(&s.Tx)
	}
	if s.Payment.TxHash != "" {
		raw = append(raw, s.Payment.TxHash)
	}
	var out []common.Hash
	for _, r := range raw {
		var h common.Hash
		if !decodeFixedHex(h[:], r) || slices.Contains(out, h) {
			continue
		}
		out = append(out, h)
	}
	return out
}

// minedOf returns the first of cands whose receipt is in a canonical block.
func minedOf(cands []common.Hash, found map[common.Hash]*txFound, v *view) (common.Hash, *txFound, *blockRef) {
	for _, h := range cands {
		f := found[h]
		if f == nil || f.rcpt == nil {
			continue
		}
		if b := v.canonical(f.rcpt); b != nil {
			return h, f, b
		}
	}
	return common.Hash{}, nil, nil
}

// decideMined fills conf for a payment whose transaction h is in block b.
func (c *Confirmer) decideMined(ctx context.Context, conf *chains.Confirmation, e *events.PaymentAccepted, h common.Hash, f *txFound, b *blockRef, v *view) error {
	if f.tx == nil {
		return fmt.Errorf("the node has the receipt of %s but not the transaction", h.Hex())
	}
	r := f.rcpt
	reason, msg := c.pays(e, f)
	final := v.isFinal(uint64(b.Number))
	if reason != "" && !final {
		conf.Status = chains.Pending
		conf.Message = fmt.Sprintf("transaction %s is in block %d, not final yet, but does not pay the payment (failed once final): %s",
			lowerHex(h[:]), uint64(b.Number), msg)
		return nil
	}
	conf.TxHash = lowerHex(h[:])
	conf.Block = uint64(b.Number)
	conf.BlockHash = lowerHex(b.Hash[:])
	conf.At = b.time()
	conf.GasUsed = r.GasUsed
	if r.EffectiveGasPrice != nil {
		conf.Fee = new(big.Int).Mul(new(big.Int).SetUint64(r.GasUsed), r.EffectiveGasPrice).String()
	}
	conf.FeePayer = addrHex(f.from)
	switch {
	case reason == "" && final:
		conf.Status = chains.Finalized
	case reason == "":
		conf.Status = chains.Confirmed
	default:
		conf.Status = chains.Failed
		conf.Reason, conf.Message = reason, msg
		if e.Type == h402.TypeAuthorization && reason == h402.ReasonUnexpectedSettleError {
			var err error
			conf.Reason, conf.Message, err = c.explainAuthorization(ctx, e, h, r, b, v, msg)
			var pe *paidElsewhere
			if errors.As(err, &pe) {
				return c.decidePaidElsewhere(ctx, conf, e, pe.tx, v)
			}
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// pays decides from the transaction's own effects whether it paid e: ""
// when it did, else a reason and a sentence.
func (c *Confirmer) pays(e *events.PaymentAccepted, f *txFound) (h402.Reason, string) {
	r, tx := f.rcpt, f.tx
	payTo, ok := hexAddress(e.PayTo)
	if !ok {
		return h402.ReasonInvalidPayload, fmt.Sprintf("payTo %q is not an address", clip(e.PayTo))
	}
	amount, err := e.AmountInt()
	if err != nil {
		return h402.ReasonInvalidPayload, err.Error()
	}
	hash := lowerHex(r.TxHash[:])
	if e.Type == h402.TypeAuthorization {
		_, from, nonce, err := DecodeAuthorization(e)
		if err != nil {
			return h402.ReasonOf(err, h402.ReasonInvalidPayload), err.Error()
		}
		token, ok := hexAddress(e.Token)
		if !ok {
			return h402.ReasonInvalidPayload, fmt.Sprintf("token %q is not an address", clip(e.Token))
		}
		used := usesAuthorization(r, token, from, nonce)
		moved := hasTransfer(r, token, from, payTo, amount)
		if used && moved {
			return "", ""
		}
		return h402.ReasonUnexpectedSettleError, fmt.Sprintf("transaction %s (status %d) has no AuthorizationUsed(%s, %s) log with a Transfer of %s to %s: its transferWithAuthorization call did not pay (AuthorizationUsed %t, Transfer %t)",
			hash, r.Status, addrHex(from), hexutil.Encode(nonce[:]), amount, addrHex(payTo), used, moved)
	}
	// A client transaction (signedTransaction, or broadcast by the client):
	// the transaction itself must be the payer's, succeed and move the amount.
	payer, ok := hexAddress(e.Payer)
	if !ok {
		return h402.ReasonInvalidPayload, fmt.Sprintf("payer %q is not an address", clip(e.Payer))
	}
	if f.from != payer {
		return h402.ReasonInvalidTransactionState, fmt.Sprintf("transaction %s was sent by %s, not by the payer %s", hash, addrHex(f.from), addrHex(payer))
	}
	if r.Status != types.ReceiptStatusSuccessful {
		return h402.ReasonInvalidTransactionState, fmt.Sprintf("transaction %s reverted", hash)
	}
	if c.isNative(e.Token) {
		if tx.To() == nil || *tx.To() != payTo {
			return h402.ReasonEVMRecipientMismatch, fmt.Sprintf("transaction %s does not send to %s", hash, addrHex(payTo))
		}
		if tx.Value().Cmp(amount) != 0 {
			return h402.ReasonEVMValue, fmt.Sprintf("transaction %s sends %s wei, want %s", hash, tx.Value(), amount)
		}
		return "", ""
	}
	token, ok := hexAddress(e.Token)
	if !ok {
		return h402.ReasonInvalidPayload, fmt.Sprintf("token %q is not an address", clip(e.Token))
	}
	if !hasTransfer(r, token, payer, payTo, amount) {
		return h402.ReasonEVMRecipientMismatch, fmt.Sprintf("transaction %s has no Transfer of %s from %s to %s on token %s", hash, amount, addrHex(payer), addrHex(payTo), addrHex(token))
	}
	return "", ""
}

// isNative reports whether token is the network's native coin.
func (c *Confirmer) isNative(token string) bool {
	if t, err := c.network.Token(token); err == nil {
		return t.Kind == config.KindNative
	}
	return strings.EqualFold(token, h402.EVMNativeToken)
}

// hasTransfer reports whether r carries token's Transfer(from, to, amount).
func hasTransfer(r *types.Receipt, token, from, to common.Address, amount *big.Int) bool {
	for _, t := range transfersOf(r) {
		if t.token == token && t.from == from && t.to == to && t.amount.Cmp(amount) == 0 {
			return true
		}
	}
	return false
}

// explainAuthorization finds why a final transaction h did not pay the
// authorization of e: used or canceled by another transaction
// (nonce_already_used), expired, or else the call failed (unexpected).
func (c *Confirmer) explainAuthorization(ctx context.Context, e *events.PaymentAccepted, h common.Hash, r *types.Receipt, b *blockRef, v *view, msg string) (h402.Reason, string, error) {
	_, from, nonce, err := DecodeAuthorization(e)
	if err != nil {
		return h402.ReasonOf(err, h402.ReasonInvalidPayload), err.Error(), nil
	}
	token, _ := hexAddress(e.Token)
	if usesAuthorization(r, token, from, nonce) {
		return h402.ReasonUnexpectedSettleError, msg, nil
	}
	used, err := authorizationUsedAt(ctx, c.pool, token, from, nonce, new(big.Int).SetUint64(v.final))
	if err != nil {
		return "", "", err
	}
	if used {
		// Used by another transferWithAuthorization (the payer, another
		// facilitator): EIP-3009 binds payee and value, so that transaction
		// paid the payment. Only a cancel, or a use nobody can find, fails it.
		paid, err := findAuthorizationUse(ctx, c.pool, c.opts.LogLookback, token, from, nonce, topicAuthorizationUsed)
		if err != nil {
			return "", "", err
		}
		if paid != (common.Hash{}) {
			return "", "", &paidElsewhere{tx: paid}
		}
		other, err := findAuthorizationUse(ctx, c.pool, c.opts.LogLookback, token, from, nonce, topicAuthorizationUsed, topicAuthorizationCanceled)
		if err != nil {
			return "", "", err
		}
		by := fmt.Sprintf("a transaction not found in the last %d blocks", c.opts.LogLookback)
		if other != (common.Hash{}) {
			by = "transaction " + lowerHex(other[:])
		}
		return h402.ReasonNonceAlreadyUsed, fmt.Sprintf("the authorization was used or canceled on chain by %s, not by transaction %s (block %d)", by, lowerHex(h[:]), uint64(b.Number)), nil
	}
	if e.ValidBefore > 0 && int64(b.Timestamp) >= e.ValidBefore {
		return h402.ReasonEVMValidBefore, fmt.Sprintf("the authorization expired (validBefore %d) before transaction %s was mined at %d", e.ValidBefore, lowerHex(h[:]), uint64(b.Timestamp)), nil
	}
	return h402.ReasonUnexpectedSettleError, msg + "; the authorization is still unused", nil
}

// decideUnmined fills the Confirmations of the submissions at idx, none of
// whose hashes is in a canonical block: Pending while the node holds one
// of them, Dropped when it holds none or the sender's nonce at the final
// block went past the transaction's.
func (c *Confirmer) decideUnmined(ctx context.Context, out []chains.Confirmation, subs []chains.Submission, cands [][]common.Hash, idx []int, found map[common.Hash]*txFound, v *view) error {
	type senderNonce struct {
		sender common.Address
		nonce  uint64
		ok     bool
	}
	sn := make(map[int]senderNonce, len(idx))
	finals := map[common.Address]*hexutil.Uint64{}
	var elems []rpc.BatchElem
	for _, i := range idx {
		s, n, ok := signerNonce(subs[i], cands[i], found)
		sn[i] = senderNonce{s, n, ok}
		if !ok || !v.finalOK || finals[s] != nil {
			continue
		}
		finals[s] = new(hexutil.Uint64)
		elems = append(elems, rpc.BatchElem{Method: "eth_getTransactionCount", Args: []any{s, blockArg(v.final)}, Result: finals[s]})
	}
	if len(elems) > 0 {
		if err := batchCall(ctx, c.pool, "eth_getTransactionCount:final", elems); err != nil {
			return err
		}
	}
	for _, i := range idx {
		conf := &out[i]
		if len(cands[i]) == 0 {
			conf.Status, conf.Reason = chains.Dropped, h402.ReasonInvalidTransactionState
			conf.Message = "the submission names no transaction hash"
			continue
		}
		if x := sn[i]; x.ok && v.finalOK && uint64(*finals[x.sender]) > x.nonce {
			conf.Status, conf.Reason = chains.Dropped, h402.ReasonNonceAlreadyUsed
			conf.Message = fmt.Sprintf("nonce %d of %s went to another transaction (nonce at final block %d is %d); none of %s is mined",
				x.nonce, addrHex(x.sender), v.final, uint64(*finals[x.sender]), hashList(cands[i]))
			continue
		}
		var pending, unindexed, stale bool
		for _, h := range cands[i] {
			f := found[h]
			switch {
			case f == nil || f.tx == nil:
			case f.pending:
				pending = true
			case f.rcpt == nil:
				// Mined as the node's transaction index says, but its
				// receipt was not there a moment before (the block came in
				// between the two look-ups): look again.
				unindexed = true
			default:
				stale = true // the node names a block for it that is not canonical
			}
		}
		switch {
		case pending:
			conf.Status = chains.Pending
			conf.Message = "in the node's pool, not mined yet"
		case unindexed:
			conf.Status = chains.Pending
			conf.Message = "the node places it in a block but has no receipt for it yet"
		case stale:
			conf.Status, conf.Reason = chains.Dropped, h402.ReasonInvalidTransactionState
			conf.Message = fmt.Sprintf("none of %s is in a canonical block (the node places it in a block a reorg removed) nor in the node's pool", hashList(cands[i]))
		default:
			conf.Status, conf.Reason = chains.Dropped, h402.ReasonInvalidTransactionState
			conf.Message = fmt.Sprintf("none of %s is mined or known to the node", hashList(cands[i]))
		}
	}
	return nil
}

// signerNonce returns the sender and nonce of a submission's transaction:
// from the node when it knows one of the hashes, else from the record or
// the client's signed transaction. ok is false when none tells.
func signerNonce(s chains.Submission, cands []common.Hash, found map[common.Hash]*txFound) (common.Address, uint64, bool) {
	for _, h := range cands {
		if f := found[h]; f != nil && f.tx != nil {
			return f.from, f.tx.Nonce(), true
		}
	}
	if a, ok := hexAddress(s.Tx.Signer); ok {
		return a, s.Tx.Nonce, true
	}
	decode := func(raw []byte) (common.Address, uint64, bool) {
		tx := new(types.Transaction)
		if tx.UnmarshalBinary(raw) != nil {
			return common.Address{}, 0, false
		}
		from, err := types.Sender(types.LatestSignerForChainID(tx.ChainId()), tx)
		return from, tx.Nonce(), err == nil
	}
	if len(s.Tx.Raw) > 0 {
		if a, n, ok := decode(s.Tx.Raw); ok {
			return a, n, true
		}
	}
	if s.Payment.SignedTransaction != "" {
		if raw, err := hexutil.Decode(s.Payment.SignedTransaction); err == nil {
			return decode(raw)
		}
	}
	return common.Address{}, 0, false
}

func hashList(hs []common.Hash) string {
	parts := make([]string, len(hs))
	for i, h := range hs {
		parts[i] = lowerHex(h[:])
	}
	b, _ := json.Marshal(parts)
	return string(b)
}

// paidElsewhere: the payment's authorization was used by transaction tx,
// not the one submitted for it.
type paidElsewhere struct{ tx common.Hash }

func (p *paidElsewhere) Error() string { return "authorization used by " + lowerHex(p.tx[:]) }

// decidePaidElsewhere fills conf from the transaction that used the
// payment's authorization (its AuthorizationUsed log is the proof of
// payment), once that transaction is in a canonical block.
func (c *Confirmer) decidePaidElsewhere(ctx context.Context, conf *chains.Confirmation, e *events.PaymentAccepted, tx common.Hash, v *view) error {
	r, err := failover.Do(ctx, c.pool, "eth_getTransactionReceipt", func(ctx context.Context, cl *ethclient.Client) (*types.Receipt, error) {
		return cl.TransactionReceipt(ctx, tx)
	})
	if err != nil {
		return fmt.Errorf("receipt of %s, which used the authorization of %s: %w", lowerHex(tx[:]), e.ID, err)
	}
	hdr, err := failover.Do(ctx, c.pool, "eth_getHeaderByNumber", func(ctx context.Context, cl *ethclient.Client) (*types.Header, error) {
		return cl.HeaderByNumber(ctx, r.BlockNumber)
	})
	if err != nil {
		return fmt.Errorf("block %s of %s: %w", r.BlockNumber, lowerHex(tx[:]), err)
	}
	if hdr.Hash() != r.BlockHash {
		conf.Status, conf.Reason = chains.Pending, ""
		conf.Message = "the authorization was used by transaction " + lowerHex(tx[:]) + " in a block no longer canonical"
		return nil
	}
	*conf = chains.Confirmation{
		ID: conf.ID, Status: chains.Confirmed, TxHash: lowerHex(tx[:]), Block: r.BlockNumber.Uint64(), BlockHash: lowerHex(r.BlockHash[:]),
		At: time.Unix(int64(hdr.Time), 0).UTC(), GasUsed: r.GasUsed,
		Message: "paid by transaction " + lowerHex(tx[:]) + ", which used the payment's authorization",
	}
	if r.EffectiveGasPrice != nil {
		conf.Fee = new(big.Int).Mul(new(big.Int).SetUint64(r.GasUsed), r.EffectiveGasPrice).String()
	}
	if v.isFinal(r.BlockNumber.Uint64()) {
		conf.Status = chains.Finalized
	}
	return nil
}
