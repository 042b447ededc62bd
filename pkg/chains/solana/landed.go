package solana

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"time"

	solanago "github.com/gagliardetto/solana-go"
	"github.com/gagliardetto/solana-go/rpc"

	"github.com/h402/settlement/pkg/chains"
	"github.com/h402/settlement/pkg/config"
	"github.com/h402/settlement/pkg/failover"
	"github.com/h402/settlement/pkg/h402"
)

// landedTx is a transaction in a block as getTransaction serves it (base64
// and meta), decoded. Everything in it is the node's answer: untrusted, and
// checked before use.
type landedTx struct {
	sig  solanago.Signature
	slot uint64
	at   time.Time // zero when the node gives no blockTime
	raw  []byte
	tx   *solanago.Transaction
	meta *rpc.TransactionMeta
	// keys index meta's balances: the static keys, then the writable and
	// the readonly keys loaded from lookup tables.
	keys solanago.PublicKeySlice
}

// finalCommitment checks what a reader of final state (the Confirmer, the
// Auditor) is built from, and returns the commitment at which the
// network's payments are final: finalized (the default) or confirmed.
func finalCommitment(what string, network *config.Network, pool *Pool) (rpc.CommitmentType, error) {
	if network == nil || network.Namespace != h402.NamespaceSolana {
		return "", fmt.Errorf("solana %s: a Solana network is required", what)
	}
	if pool == nil {
		return "", fmt.Errorf("solana %s: an RPC pool is required", what)
	}
	switch network.Finality.Commitment {
	case "", "finalized":
		return rpc.CommitmentFinalized, nil
	case "confirmed":
		return rpc.CommitmentConfirmed, nil
	default:
		return "", fmt.Errorf("solana %s: networks[%s].finality.commitment: a Solana network is final at finalized or confirmed (got %q)", what, network.NetworkID, network.Finality.Commitment)
	}
}

// getLanded fetches sig at commitment (confirmed or finalized); nil and no
// error when the node has no such transaction at that commitment.
func getLanded(ctx context.Context, pool *Pool, sig solanago.Signature, commitment rpc.CommitmentType) (*landedTx, error) {
	v0 := uint64(0)
	res, err := failover.Do(ctx, pool, "getTransaction", func(ctx context.Context, c *rpc.Client) (*rpc.GetTransactionResult, error) {
		return c.GetTransaction(ctx, sig, &rpc.GetTransactionOpts{Encoding: solanago.EncodingBase64, Commitment: commitment, MaxSupportedTransactionVersion: &v0})
	})
	if errors.Is(err, rpc.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("getTransaction %s: %w", sig, err)
	}
	if res == nil || res.Meta == nil || res.Transaction == nil {
		return nil, fmt.Errorf("getTransaction %s: the node answered no transaction or meta", sig)
	}
	raw := res.Transaction.GetBinary()
	w, err := decodeWire(raw)
	if err != nil {
		return nil, fmt.Errorf("getTransaction %s: %w", sig, err)
	}
	if len(w.tx.Signatures) == 0 || w.tx.Signatures[0] != sig || len(w.tx.Message.AccountKeys) == 0 {
		return nil, fmt.Errorf("getTransaction %s: the node returned a transaction whose first signature is not %s", sig, sig)
	}
	lt := &landedTx{sig: sig, slot: res.Slot, raw: raw, tx: w.tx, meta: res.Meta}
	if res.BlockTime != nil {
		lt.at = res.BlockTime.Time().UTC()
	}
	lt.keys = append(lt.keys, w.tx.Message.AccountKeys...)
	lt.keys = append(lt.keys, res.Meta.LoadedAddresses.Writable...)
	lt.keys = append(lt.keys, res.Meta.LoadedAddresses.ReadOnly...)
	return lt, nil
}

// feePayer is the account that paid the fee: the first account key.
func (lt *landedTx) feePayer() solanago.PublicKey { return lt.tx.Message.AccountKeys[0] }

// computeUnits is the compute the transaction consumed (0 when not given).
func (lt *landedTx) computeUnits() uint64 {
	if lt.meta.ComputeUnitsConsumed == nil {
		return 0
	}
	return *lt.meta.ComputeUnitsConsumed
}

// delta is how much one owner's balance of one token changed in a
// transaction.
type delta struct {
	token, owner string
	amount       *big.Int
}

// deltas are a transaction's balance changes by (token, owner): first the
// token balances (pre/postTokenBalances summed per mint and owner, so that
// moves between two token accounts of one owner cancel out; an entry
// without an owner counts under its token account's address), mints in the
// order they first appear; then lamports per account key (token
// h402.SolanaNativeToken), with the fee added back to the fee payer so that
// only transfers remain. Zero changes are left out.
func (lt *landedTx) deltas() ([]delta, error) {
	var out []delta
	at := map[[2]string]int{}
	add := func(token, owner string, v *big.Int) {
		k := [2]string{token, owner}
		i, ok := at[k]
		if !ok {
			i = len(out)
			at[k] = i
			out = append(out, delta{token: token, owner: owner, amount: new(big.Int)})
		}
		out[i].amount.Add(out[i].amount, v)
	}
	sum := func(list []rpc.TokenBalance, sign int64) error {
		for _, b := range list {
			if b.UiTokenAmount == nil {
				return fmt.Errorf("transaction %s: token balance of account %d has no amount", lt.sig, b.AccountIndex)
			}
			v, ok := new(big.Int).SetString(b.UiTokenAmount.Amount, 10)
			if !ok || v.Sign() < 0 {
				return fmt.Errorf("transaction %s: token balance %q of account %d is not an amount", lt.sig, b.UiTokenAmount.Amount, b.AccountIndex)
			}
			owner := ""
			switch {
			case b.Owner != nil:
				owner = b.Owner.String()
			case int(b.AccountIndex) < len(lt.keys):
				owner = lt.keys[b.AccountIndex].String()
			default:
				return fmt.Errorf("transaction %s: token balance of account %d, beyond its %d accounts", lt.sig, b.AccountIndex, len(lt.keys))
			}
			add(b.Mint.String(), owner, v.Mul(v, big.NewInt(sign)))
		}
		return nil
	}
	if err := sum(lt.meta.PreTokenBalances, -1); err != nil {
		return nil, err
	}
	if err := sum(lt.meta.PostTokenBalances, 1); err != nil {
		return nil, err
	}
	pre, post := lt.meta.PreBalances, lt.meta.PostBalances
	if len(pre) != len(post) || len(pre) > len(lt.keys) {
		return nil, fmt.Errorf("transaction %s: %d pre and %d post balances for %d accounts", lt.sig, len(pre), len(post), len(lt.keys))
	}
	for i := range pre {
		v := new(big.Int).Sub(new(big.Int).SetUint64(post[i]), new(big.Int).SetUint64(pre[i]))
		if i == 0 {
			v.Add(v, new(big.Int).SetUint64(lt.meta.Fee))
		}
		add(h402.SolanaNativeToken, lt.keys[i].String(), v)
	}
	kept := out[:0]
	for _, d := range out {
		if d.amount.Sign() != 0 {
			kept = append(kept, d)
		}
	}
	return kept, nil
}

// deltaOf is owner's change of token among ds (zero when absent).
func deltaOf(ds []delta, token, owner string) *big.Int {
	for _, d := range ds {
		if d.token == token && d.owner == owner {
			return d.amount
		}
	}
	return new(big.Int)
}

// transfers pairs a transaction's balance changes into transfers, token by
// token in the order of ds: the owners whose balance fell (in order) pay
// the owners whose balance rose (in order), each decrease flowing into the
// increases until it is used up. With one sender (every h402 payment) the
// pairing is exact; with several senders and receivers of one token in one
// transaction the chain does not say who paid whom, and this first-fit
// order is one faithful account of the same totals. What is left unpaired
// is a burn (To empty) or a mint (From empty).
func (lt *landedTx) transfers() ([]chains.Transfer, error) {
	ds, err := lt.deltas()
	if err != nil {
		return nil, err
	}
	out := []chains.Transfer{}
	emit := func(token, from, to string, v *big.Int) {
		out = append(out, chains.Transfer{
			TxHash: lt.sig.String(), Block: lt.slot, At: lt.at,
			Token: token, From: from, To: to, Amount: v.String(), Index: uint(len(out)),
		})
	}
	done := map[string]bool{}
	for _, first := range ds {
		if done[first.token] {
			continue
		}
		done[first.token] = true
		var downs, ups []delta
		for _, d := range ds {
			switch {
			case d.token != first.token:
			case d.amount.Sign() < 0:
				downs = append(downs, delta{d.token, d.owner, new(big.Int).Neg(d.amount)})
			default:
				ups = append(ups, delta{d.token, d.owner, new(big.Int).Set(d.amount)})
			}
		}
		i, j := 0, 0
		for i < len(downs) && j < len(ups) {
			v := new(big.Int).Set(downs[i].amount)
			if ups[j].amount.Cmp(v) < 0 {
				v.Set(ups[j].amount)
			}
			emit(first.token, downs[i].owner, ups[j].owner, v)
			if downs[i].amount.Sub(downs[i].amount, v).Sign() == 0 {
				i++
			}
			if ups[j].amount.Sub(ups[j].amount, v).Sign() == 0 {
				j++
			}
		}
		for ; i < len(downs); i++ {
			emit(first.token, downs[i].owner, "", downs[i].amount)
		}
		for ; j < len(ups); j++ {
			emit(first.token, "", ups[j].owner, ups[j].amount)
		}
	}
	return out, nil
}
