package evm

// Batched reads of mined transactions and canonical blocks, shared by the
// Confirmer and the Auditor: one JSON-RPC batch request answers many
// look-ups, and every receipt is checked against the canonical block at its
// number (a node can serve a receipt of a block that a reorg removed).

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/ethereum/go-ethereum/rpc"

	"github.com/h402/settlement/pkg/chains"
	"github.com/h402/settlement/pkg/config"
	"github.com/h402/settlement/pkg/failover"
	"github.com/h402/settlement/pkg/h402"
)

// chainReader is what the Confirmer and the Auditor share: one EVM network
// and its RPC pool.
type chainReader struct {
	network *config.Network
	pool    *Pool
}

// newChainReader checks network and pool; what names the caller in errors.
func newChainReader(what string, network *config.Network, pool *Pool) (chainReader, error) {
	if network == nil || pool == nil {
		return chainReader{}, errors.New(what + ": network and pool are required")
	}
	if network.Namespace != h402.NamespaceEVM {
		return chainReader{}, fmt.Errorf("%s: network %s/%s is not evm", what, network.Namespace, network.NetworkID)
	}
	return chainReader{network: network, pool: pool}, nil
}

// Namespace returns evm.
func (chainReader) Namespace() h402.Namespace { return h402.NamespaceEVM }

// MaxBatchCalls bounds the calls of one JSON-RPC batch request; more go
// out in several requests (public endpoints refuse batches above a few
// hundred calls; geth's default limit is 1000).
const MaxBatchCalls = 200

// batchCall sends elems as JSON-RPC batches of at most MaxBatchCalls,
// each through the pool's failover. An element's own error (the chain's
// answer) fails the whole call: nothing is concluded from a partial view.
func batchCall(ctx context.Context, pool *Pool, call string, elems []rpc.BatchElem) error {
	for len(elems) > 0 {
		chunk := elems[:min(len(elems), MaxBatchCalls)]
		elems = elems[len(chunk):]
		_, err := failover.Do(ctx, pool, call, func(ctx context.Context, c *ethclient.Client) (struct{}, error) {
			if err := c.Client().BatchCallContext(ctx, chunk); err != nil {
				return struct{}{}, err
			}
			for _, e := range chunk {
				if e.Error != nil {
					return struct{}{}, fmt.Errorf("%s: %w", e.Method, e.Error)
				}
			}
			return struct{}{}, nil
		})
		if err != nil {
			return fmt.Errorf("%s: %w", call, err)
		}
	}
	return nil
}

// isNull reports a JSON null (or absent) result: not found.
func isNull(m json.RawMessage) bool {
	m = bytes.TrimSpace(m)
	return len(m) == 0 || bytes.Equal(m, []byte("null"))
}

// txFound is what the node says about one transaction hash.
type txFound struct {
	// rcpt is its receipt, nil when not mined (or not yet indexed).
	rcpt *types.Receipt
	// tx and from are the transaction and its sender, nil when the node
	// does not know the hash (neither pending nor mined).
	tx   *types.Transaction
	from common.Address
	// pending: the node has it and it is in no block.
	pending bool
}

// rpcTxExtra is the part of eth_getTransactionByHash outside the signed transaction.
type rpcTxExtra struct {
	From      *common.Address `json:"from"`
	BlockHash *common.Hash    `json:"blockHash"`
}

// lookUpTxs reads the receipt and the transaction of every hash in one
// batch (two calls a hash).
func lookUpTxs(ctx context.Context, pool *Pool, hashes []common.Hash) (map[common.Hash]*txFound, error) {
	out := make(map[common.Hash]*txFound, len(hashes))
	if len(hashes) == 0 {
		return out, nil
	}
	raws := make([]json.RawMessage, 2*len(hashes))
	elems := make([]rpc.BatchElem, 0, 2*len(hashes))
	for i, h := range hashes {
		elems = append(elems,
			rpc.BatchElem{Method: "eth_getTransactionReceipt", Args: []any{h}, Result: &raws[2*i]},
			rpc.BatchElem{Method: "eth_getTransactionByHash", Args: []any{h}, Result: &raws[2*i+1]})
	}
	if err := batchCall(ctx, pool, "eth_getTransactionReceipt+ByHash", elems); err != nil {
		return nil, err
	}
	for i, h := range hashes {
		f := &txFound{}
		if r := raws[2*i]; !isNull(r) {
			f.rcpt = new(types.Receipt)
			if err := json.Unmarshal(r, f.rcpt); err != nil {
				return nil, fmt.Errorf("receipt of %s: %w", h.Hex(), err)
			}
			if f.rcpt.TxHash != h {
				return nil, fmt.Errorf("receipt of %s: the node answered the receipt of %s", h.Hex(), f.rcpt.TxHash.Hex())
			}
		}
		if r := raws[2*i+1]; !isNull(r) {
			f.tx = new(types.Transaction)
			var extra rpcTxExtra
			if err := json.Unmarshal(r, f.tx); err != nil {
				return nil, fmt.Errorf("transaction %s: %w", h.Hex(), err)
			}
			if err := json.Unmarshal(r, &extra); err != nil {
				return nil, fmt.Errorf("transaction %s: %w", h.Hex(), err)
			}
			if f.tx.Hash() != h {
				return nil, fmt.Errorf("transaction %s: the node answered transaction %s", h.Hex(), f.tx.Hash().Hex())
			}
			from, err := types.Sender(types.LatestSignerForChainID(f.tx.ChainId()), f.tx)
			if err != nil {
				if extra.From == nil {
					return nil, fmt.Errorf("transaction %s: sender: %w", h.Hex(), err)
				}
				from = *extra.From
			}
			f.from = from
			f.pending = extra.BlockHash == nil || *extra.BlockHash == (common.Hash{})
		}
		out[h] = f
	}
	return out, nil
}

// blockRef is a canonical block's number, hash and time.
type blockRef struct {
	Number    hexutil.Uint64 `json:"number"`
	Hash      common.Hash    `json:"hash"`
	Timestamp hexutil.Uint64 `json:"timestamp"`
}

func (b *blockRef) time() time.Time { return time.Unix(int64(b.Timestamp), 0).UTC() }

// view is the chain as one batch saw it: the head, the newest final block
// (finalOK false when none is final yet) and canonical blocks by number.
type view struct {
	head    uint64
	final   uint64
	finalOK bool
	blocks  map[uint64]*blockRef
}

// isFinal reports whether block n is at or below the final block.
func (v *view) isFinal(n uint64) bool { return v.finalOK && n <= v.final }

// canonical returns the block of a receipt when the receipt's block is the
// canonical one at its number, else nil (the receipt is of a block a reorg
// removed).
func (v *view) canonical(r *types.Receipt) *blockRef {
	if r == nil || r.BlockNumber == nil || !r.BlockNumber.IsUint64() {
		return nil
	}
	b := v.blocks[r.BlockNumber.Uint64()]
	if b == nil || b.Hash != r.BlockHash {
		return nil
	}
	return b
}

// finalTag is the block tag of network's finality, "" for the depth and
// confirmed commitments (computed from the head).
func finalTag(network *config.Network) string {
	switch network.Finality.Commitment {
	case "depth", "confirmed":
		return ""
	case "safe":
		return "safe"
	default:
		return "finalized"
	}
}

// readView reads, in one batch, the head, the network's final block and
// the canonical blocks at numbers.
func readView(ctx context.Context, network *config.Network, pool *Pool, numbers []uint64) (*view, error) {
	tag := finalTag(network)
	var head, final json.RawMessage
	elems := []rpc.BatchElem{{Method: "eth_getBlockByNumber", Args: []any{"latest", false}, Result: &head}}
	if tag != "" {
		elems = append(elems, rpc.BatchElem{Method: "eth_getBlockByNumber", Args: []any{tag, false}, Result: &final})
	}
	raws := make([]json.RawMessage, len(numbers))
	for i, n := range numbers {
		elems = append(elems, rpc.BatchElem{Method: "eth_getBlockByNumber", Args: []any{hexutil.EncodeUint64(n), false}, Result: &raws[i]})
	}
	if err := batchCall(ctx, pool, "eth_getBlockByNumber", elems); err != nil {
		return nil, err
	}
	v := &view{blocks: make(map[uint64]*blockRef, len(numbers))}
	var h blockRef
	if isNull(head) {
		return nil, fmt.Errorf("read head: the node has no latest block")
	}
	if err := json.Unmarshal(head, &h); err != nil {
		return nil, fmt.Errorf("read head: %w", err)
	}
	v.head = uint64(h.Number)
	switch network.Finality.Commitment {
	case "confirmed":
		v.final, v.finalOK = v.head, true
	case "depth":
		if d := network.Finality.Depth; v.head >= d {
			v.final, v.finalOK = v.head-d, true
		}
	default:
		if !isNull(final) {
			var f blockRef
			if err := json.Unmarshal(final, &f); err != nil {
				return nil, fmt.Errorf("read %s block: %w", tag, err)
			}
			v.final, v.finalOK = uint64(f.Number), true
		}
	}
	for i, n := range numbers {
		if isNull(raws[i]) {
			continue // above the head now: not canonical
		}
		b := new(blockRef)
		if err := json.Unmarshal(raws[i], b); err != nil {
			return nil, fmt.Errorf("read block %d: %w", n, err)
		}
		v.blocks[n] = b
	}
	return v, nil
}

// blockArg is block n as a JSON-RPC block parameter.
func blockArg(n uint64) string { return hexutil.EncodeUint64(n) }

// erc20Transfer is one ERC-20 Transfer log.
type erc20Transfer struct {
	token, from, to common.Address
	amount          *big.Int
	index           uint
}

// transfersOf decodes the ERC-20 Transfer logs of r (three topics: ERC-721
// transfers, with the token id as a fourth topic, are left out).
func transfersOf(r *types.Receipt) []erc20Transfer {
	var out []erc20Transfer
	for _, l := range r.Logs {
		if l.Removed || len(l.Topics) != 3 || l.Topics[0] != topicTransfer || len(l.Data) != 32 {
			continue
		}
		out = append(out, erc20Transfer{
			token: l.Address, from: common.BytesToAddress(l.Topics[1].Bytes()), to: common.BytesToAddress(l.Topics[2].Bytes()),
			amount: new(big.Int).SetBytes(l.Data), index: l.Index,
		})
	}
	return out
}

// chainTransfers are the token transfers tx made (its receipt r, its
// sender from, in block b): its ERC-20 Transfer logs and, when it
// succeeded with value, its native transfer (Token the zero address,
// Index 0, listed first; (TxHash, Token, Index) is unique).
func chainTransfers(r *types.Receipt, tx *types.Transaction, from common.Address, b *blockRef) []chains.Transfer {
	var out []chains.Transfer
	hash := lowerHex(r.TxHash[:])
	if tx != nil && r.Status == types.ReceiptStatusSuccessful && tx.Value().Sign() > 0 && tx.To() != nil {
		out = append(out, chains.Transfer{TxHash: hash, Block: uint64(b.Number), At: b.time(),
			Token: h402.EVMNativeToken, From: addrHex(from), To: addrHex(*tx.To()), Amount: tx.Value().String()})
	}
	for _, t := range transfersOf(r) {
		out = append(out, chains.Transfer{TxHash: hash, Block: uint64(b.Number), At: b.time(),
			Token: addrHex(t.token), From: addrHex(t.from), To: addrHex(t.to), Amount: t.amount.String(), Index: t.index})
	}
	return out
}

// hexAddress parses an address given as hex, case-insensitively.
func hexAddress(s string) (common.Address, bool) {
	if !common.IsHexAddress(s) {
		return common.Address{}, false
	}
	return common.HexToAddress(strings.ToLower(s)), true
}
