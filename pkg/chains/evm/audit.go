package evm

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/rpc"

	"github.com/h402/settlement/pkg/chains"
	"github.com/h402/settlement/pkg/config"
)

var _ chains.Auditor = (*Auditor)(nil)

// Auditor defaults.
const (
	// DefaultMaxScanBlocks bounds the blocks one SentBy call reads.
	DefaultMaxScanBlocks = 100_000
	// scanBatch is how many full blocks one JSON-RPC batch request reads.
	scanBatch = 32
)

// AuditorOptions tune an Auditor. The zero value works.
type AuditorOptions struct {
	// MaxScanBlocks bounds the blocks a SentBy window may span (default
	// DefaultMaxScanBlocks); a wider window is an error: ask for a shorter one.
	MaxScanBlocks uint64
}

// Auditor reads final token transfers back from one EVM network, for the
// reconciliation of the ledger. Final means at or below the network's
// finality, as for the Confirmer.
type Auditor struct {
	chainReader
	opts AuditorOptions
}

// NewAuditor returns an Auditor for network, reading through pool.
func NewAuditor(network *config.Network, pool *Pool, o AuditorOptions) (*Auditor, error) {
	r, err := newChainReader("new auditor", network, pool)
	if err != nil {
		return nil, err
	}
	if o.MaxScanBlocks == 0 {
		o.MaxScanBlocks = DefaultMaxScanBlocks
	}
	return &Auditor{chainReader: r, opts: o}, nil
}

// TransfersIn returns the transfers of a final, canonical transaction: its
// ERC-20 Transfer logs (any token) and, when it succeeded sending value,
// its native transfer (Token the zero address, Index 0, first). It returns
// nil when the transaction is not mined, not in a canonical block or not
// final yet.
func (a *Auditor) TransfersIn(ctx context.Context, txHash string) ([]chains.Transfer, error) {
	var h common.Hash
	if !decodeFixedHex(h[:], txHash) {
		return nil, fmt.Errorf("transfers in %q: not a 32-byte 0x hash", clip(txHash))
	}
	found, err := lookUpTxs(ctx, a.pool, []common.Hash{h})
	if err != nil {
		return nil, fmt.Errorf("transfers in %s: %w", txHash, err)
	}
	f := found[h]
	if f == nil || f.rcpt == nil || f.tx == nil || f.rcpt.BlockNumber == nil || !f.rcpt.BlockNumber.IsUint64() {
		return nil, nil
	}
	n := f.rcpt.BlockNumber.Uint64()
	v, err := readView(ctx, a.network, a.pool, []uint64{n})
	if err != nil {
		return nil, fmt.Errorf("transfers in %s: %w", txHash, err)
	}
	b := v.canonical(f.rcpt)
	if b == nil || !v.isFinal(n) {
		return nil, nil
	}
	return chainTransfers(f.rcpt, f.tx, f.from, b), nil
}

// SentBy returns the transfers (as TransfersIn) of the final transactions
// sent by one of accounts in the blocks whose time is in [from, to). It
// finds the blocks by binary search on block time (about 2·log2(final)
// header reads), then reads them with their transactions in batches of 32
// blocks a request, and the receipts of the accounts' transactions in
// batches. The window may span at most MaxScanBlocks blocks.
func (a *Auditor) SentBy(ctx context.Context, accounts []string, from, to time.Time) ([]chains.Transfer, error) {
	senders := map[common.Address]bool{}
	for _, s := range accounts {
		addr, ok := hexAddress(s)
		if !ok {
			return nil, fmt.Errorf("sent by: account %q is not an address", clip(s))
		}
		senders[addr] = true
	}
	if len(senders) == 0 || !from.Before(to) {
		return nil, nil
	}
	v, err := readView(ctx, a.network, a.pool, nil)
	if err != nil {
		return nil, fmt.Errorf("sent by: %w", err)
	}
	if !v.finalOK {
		return nil, nil
	}
	lo, err := a.firstAtOrAfter(ctx, from, v.final)
	if err != nil {
		return nil, fmt.Errorf("sent by: %w", err)
	}
	hi, err := a.firstAtOrAfter(ctx, to, v.final)
	if err != nil {
		return nil, fmt.Errorf("sent by: %w", err)
	}
	if hi <= lo {
		return nil, nil
	}
	if hi-lo > a.opts.MaxScanBlocks {
		return nil, fmt.Errorf("sent by: the window [%s, %s) spans blocks %d to %d, more than %d: ask for a shorter one",
			from.UTC().Format(time.RFC3339), to.UTC().Format(time.RFC3339), lo, hi-1, a.opts.MaxScanBlocks)
	}
	var out []chains.Transfer
	for start := lo; start < hi; start += scanBatch {
		got, err := a.scan(ctx, senders, start, min(hi, start+scanBatch))
		if err != nil {
			return nil, fmt.Errorf("sent by: %w", err)
		}
		out = append(out, got...)
	}
	return out, nil
}

// firstAtOrAfter returns the first block at or below final whose time is
// at or after t, or final+1 when there is none. Block times never go down.
func (a *Auditor) firstAtOrAfter(ctx context.Context, t time.Time, final uint64) (uint64, error) {
	var ferr error
	n := sort.Search(int(final)+1, func(i int) bool {
		if ferr != nil {
			return true
		}
		var raw json.RawMessage
		err := batchCall(ctx, a.pool, "eth_getBlockByNumber", []rpc.BatchElem{{Method: "eth_getBlockByNumber", Args: []any{blockArg(uint64(i)), false}, Result: &raw}})
		var b blockRef
		if err == nil && isNull(raw) {
			err = fmt.Errorf("block %d is not found", i)
		}
		if err == nil {
			err = json.Unmarshal(raw, &b)
		}
		if err != nil {
			ferr = err
			return true
		}
		return !b.time().Before(t)
	})
	return uint64(n), ferr
}

// scanBlock is a block with its transactions, as eth_getBlockByNumber(n, true) answers.
type scanBlock struct {
	blockRef
	Transactions []json.RawMessage `json:"transactions"`
}

// scan returns the transfers of senders' transactions in blocks [lo, hi).
func (a *Auditor) scan(ctx context.Context, senders map[common.Address]bool, lo, hi uint64) ([]chains.Transfer, error) {
	raws := make([]json.RawMessage, hi-lo)
	elems := make([]rpc.BatchElem, hi-lo)
	for n := lo; n < hi; n++ {
		elems[n-lo] = rpc.BatchElem{Method: "eth_getBlockByNumber", Args: []any{blockArg(n), true}, Result: &raws[n-lo]}
	}
	if err := batchCall(ctx, a.pool, "eth_getBlockByNumber:full", elems); err != nil {
		return nil, err
	}
	type mine struct {
		tx    *types.Transaction
		from  common.Address
		block *blockRef
	}
	var picked []mine
	var hashes []common.Hash
	for i, r := range raws {
		if isNull(r) {
			return nil, fmt.Errorf("block %d is not found", lo+uint64(i))
		}
		var b scanBlock
		if err := json.Unmarshal(r, &b); err != nil {
			return nil, fmt.Errorf("block %d: %w", lo+uint64(i), err)
		}
		for _, rt := range b.Transactions {
			var extra rpcTxExtra
			if err := json.Unmarshal(rt, &extra); err != nil {
				return nil, fmt.Errorf("block %d: transaction: %w", lo+uint64(i), err)
			}
			if extra.From == nil || !senders[*extra.From] {
				continue
			}
			tx := new(types.Transaction)
			if err := json.Unmarshal(rt, tx); err != nil {
				return nil, fmt.Errorf("block %d: transaction: %w", lo+uint64(i), err)
			}
			ref := b.blockRef
			picked = append(picked, mine{tx: tx, from: *extra.From, block: &ref})
			hashes = append(hashes, tx.Hash())
		}
	}
	if len(picked) == 0 {
		return nil, nil
	}
	rcpts := make([]*types.Receipt, len(hashes))
	elems = make([]rpc.BatchElem, len(hashes))
	for i, h := range hashes {
		elems[i] = rpc.BatchElem{Method: "eth_getTransactionReceipt", Args: []any{h}, Result: &rcpts[i]}
	}
	if err := batchCall(ctx, a.pool, "eth_getTransactionReceipt", elems); err != nil {
		return nil, err
	}
	var out []chains.Transfer
	for i, p := range picked {
		r := rcpts[i]
		if r == nil || r.BlockHash != p.block.Hash {
			return nil, fmt.Errorf("receipt of %s: not in block %d (%s) that holds it", hashes[i].Hex(), uint64(p.block.Number), p.block.Hash.Hex())
		}
		out = append(out, chainTransfers(r, p.tx, p.from, p.block)...)
	}
	return out, nil
}
