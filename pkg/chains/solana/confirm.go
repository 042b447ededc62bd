package solana

import (
	"context"
	"fmt"
	"math/big"
	"strconv"

	solanago "github.com/gagliardetto/solana-go"
	"github.com/gagliardetto/solana-go/rpc"
	"golang.org/x/sync/errgroup"

	"github.com/h402/settlement/pkg/chains"
	"github.com/h402/settlement/pkg/config"
	"github.com/h402/settlement/pkg/failover"
	"github.com/h402/settlement/pkg/h402"
)

var _ chains.Confirmer = (*Confirmer)(nil)

// MaxStatusBatch is the most signatures one getSignatureStatuses takes.
const MaxStatusBatch = 256

// ConfirmOptions configure a Confirmer.
type ConfirmOptions struct {
	// Parallel bounds the getTransaction calls in flight. Default 8.
	Parallel int
}

// Confirmer follows submitted Solana payments to finality. It decides each
// payment from its own transaction's balance changes: the transaction
// succeeded, payTo's balance of the token rose by the amount and the
// payer's fell by at least as much.
//
// Confirmations it makes:
//   - Confirmed / Finalized: Block is the slot, BlockHash the transaction
//     message's recent blockhash (getTransaction gives no block hash; a
//     reorg shows as the signature's status moving to another slot or
//     vanishing, so compare Block), At the block time, GasUsed the compute
//     units consumed, Fee meta.fee in lamports, FeePayer the first account
//     key. With finality.commitment confirmed, confirmed is final and is
//     reported as Finalized.
//   - Failed: the carrying transaction is final but failed (reason from
//     its error: insufficient_funds, else invalid_transaction_state) or did
//     not pay as required. Before it is final the same finding is Pending
//     with the finding in Message.
//   - Dropped: no transaction of the payment has a status and its blockhash
//     is no longer valid (asked before a second status look-up, so that a
//     landing in between is seen), with reason invalid_transaction_state.
//   - Pending: anything else, with Message saying what is awaited.
type Confirmer struct {
	pool  *Pool
	final rpc.CommitmentType
	opts  ConfirmOptions
}

// NewConfirmer returns the confirmer of one Solana network, reading through
// pool (see Dial).
func NewConfirmer(network *config.Network, pool *Pool, o ConfirmOptions) (*Confirmer, error) {
	final, err := finalCommitment("confirmer", network, pool)
	if err != nil {
		return nil, err
	}
	if o.Parallel == 0 {
		o.Parallel = 8
	}
	if o.Parallel < 0 {
		return nil, fmt.Errorf("solana confirmer: Parallel must be positive (got %d)", o.Parallel)
	}
	return &Confirmer{pool: pool, final: final, opts: o}, nil
}

// Namespace returns solana.
func (*Confirmer) Namespace() h402.Namespace { return h402.NamespaceSolana }

// Confirm looks up every submission (any number: statuses are asked
// MaxStatusBatch signatures at a time) and returns one Confirmation per
// submission, in order. Any RPC failure fails the whole call.
func (c *Confirmer) Confirm(ctx context.Context, subs []chains.Submission) ([]chains.Confirmation, error) {
	out := make([]chains.Confirmation, len(subs))
	sigs := make([][]solanago.Signature, len(subs))
	var all []solanago.Signature
	for i, s := range subs {
		if s.Payment == nil {
			return nil, fmt.Errorf("confirm: submission %d has no payment", i)
		}
		out[i].ID = s.Payment.ID
		sigs[i] = candidates(s)
		all = append(all, sigs[i]...)
	}
	statuses, err := c.statuses(ctx, all)
	if err != nil {
		return nil, err
	}
	landed, unknown := c.split(sigs, statuses, allIndexes(len(subs)))
	if err := c.decideLanded(ctx, subs, out, landed); err != nil {
		return nil, err
	}
	expired, err := c.expired(ctx, subs, out, unknown)
	if err != nil {
		return nil, err
	}
	if len(expired) == 0 {
		return out, nil
	}
	// The blockhashes were expired before this look-up: a signature still
	// without a status now can never land.
	all = all[:0]
	for _, i := range expired {
		all = append(all, sigs[i]...)
	}
	if statuses, err = c.statuses(ctx, all); err != nil {
		return nil, err
	}
	landed, unknown = c.split(sigs, statuses, expired)
	if err := c.decideLanded(ctx, subs, out, landed); err != nil {
		return nil, err
	}
	for _, i := range unknown {
		bh, _ := blockhashOf(subs[i])
		out[i].Status = chains.Dropped
		out[i].Reason = h402.ReasonInvalidTransactionState
		out[i].Message = fmt.Sprintf("the blockhash %s of the payment's transaction expired without the transaction landing: it can never land", bh)
	}
	return out, nil
}

func allIndexes(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

// candidates are the signatures that may carry a submission: the latest
// transaction's, the ones it replaced, and the client's own (a
// client-broadcast payment). Text that is not a signature cannot be on
// chain and is left out.
func candidates(s chains.Submission) []solanago.Signature {
	var out []solanago.Signature
	seen := map[solanago.Signature]bool{}
	for _, h := range append([]string{s.Tx.Hash, s.Payment.TxHash}, s.Tx.Replaces...) {
		sig, err := solanago.SignatureFromBase58(h)
		if h == "" || err != nil || seen[sig] {
			continue
		}
		seen[sig] = true
		out = append(out, sig)
	}
	return out
}

// statuses asks getSignatureStatuses (searching the transaction history)
// for sigs, MaxStatusBatch at a time; unknown signatures are absent.
func (c *Confirmer) statuses(ctx context.Context, sigs []solanago.Signature) (map[solanago.Signature]*rpc.SignatureStatusesResult, error) {
	out := make(map[solanago.Signature]*rpc.SignatureStatusesResult, len(sigs))
	for start := 0; start < len(sigs); start += MaxStatusBatch {
		chunk := sigs[start:min(start+MaxStatusBatch, len(sigs))]
		res, err := failover.Do(ctx, c.pool, "getSignatureStatuses", func(ctx context.Context, cl *rpc.Client) ([]*rpc.SignatureStatusesResult, error) {
			out, err := cl.GetSignatureStatuses(ctx, true, chunk...)
			if err != nil {
				return nil, err
			}
			if len(out.Value) != len(chunk) {
				return nil, fmt.Errorf("getSignatureStatuses answered %d statuses for %d signatures", len(out.Value), len(chunk))
			}
			return out.Value, nil
		})
		if err != nil {
			return nil, fmt.Errorf("confirm: %w", err)
		}
		for i, st := range res {
			if st != nil {
				out[chunk[i]] = st
			}
		}
	}
	return out, nil
}

// found is a submission whose transaction has a status.
type found struct {
	i      int
	sig    solanago.Signature
	status *rpc.SignatureStatusesResult
}

// split sorts the submissions at idx into those with a status (the first
// successful candidate, else the first failed one) and those without.
func (c *Confirmer) split(sigs [][]solanago.Signature, statuses map[solanago.Signature]*rpc.SignatureStatusesResult, idx []int) (landed []found, unknown []int) {
	for _, i := range idx {
		var pick *found
		for _, sig := range sigs[i] {
			st := statuses[sig]
			if st == nil {
				continue
			}
			if pick == nil || pick.status.Err != nil && st.Err == nil {
				pick = &found{i: i, sig: sig, status: st}
			}
		}
		if pick != nil {
			landed = append(landed, *pick)
		} else {
			unknown = append(unknown, i)
		}
	}
	return landed, unknown
}

// decideLanded fetches each landed transaction and judges its effects.
func (c *Confirmer) decideLanded(ctx context.Context, subs []chains.Submission, out []chains.Confirmation, landed []found) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(c.opts.Parallel)
	for _, f := range landed {
		g.Go(func() error {
			return c.decide(gctx, subs[f.i], &out[f.i], f)
		})
	}
	if err := g.Wait(); err != nil {
		return fmt.Errorf("confirm: %w", err)
	}
	return nil
}

func (c *Confirmer) decide(ctx context.Context, s chains.Submission, conf *chains.Confirmation, f found) error {
	conf.Status = chains.Pending
	conf.TxHash = f.sig.String()
	conf.Block = f.status.Slot
	st := f.status.ConfirmationStatus
	if st != rpc.ConfirmationStatusConfirmed && st != rpc.ConfirmationStatusFinalized {
		conf.Message = fmt.Sprintf("transaction %s is in slot %d at %q commitment, not yet confirmed", f.sig, f.status.Slot, st)
		return nil
	}
	lt, err := getLanded(ctx, c.pool, f.sig, rpc.CommitmentConfirmed)
	if err != nil {
		return err
	}
	if lt == nil {
		conf.Message = fmt.Sprintf("transaction %s is %s in slot %d, but the node serves no transaction for it yet", f.sig, st, f.status.Slot)
		return nil
	}
	final := st == rpc.ConfirmationStatusFinalized || c.final == rpc.CommitmentConfirmed
	conf.Block = lt.slot
	conf.BlockHash = lt.tx.Message.RecentBlockhash.String()
	conf.At = lt.at
	conf.GasUsed = lt.computeUnits()
	conf.Fee = strconv.FormatUint(lt.meta.Fee, 10)
	conf.FeePayer = lt.feePayer().String()
	var why *h402.Error
	if lt.meta.Err != nil {
		why = landedError(&chains.Tx{Hash: conf.TxHash, Raw: lt.raw}, lt.meta.Err)
	} else if why, err = paid(s.Payment.Payer, s.Payment.PayTo, s.Payment.Token, s.Payment.Amount, lt); err != nil {
		return err
	}
	switch {
	case why != nil && final:
		conf.Status, conf.Reason, conf.Message = chains.Failed, why.Reason, why.Message
	case why != nil:
		conf.Message = fmt.Sprintf("not final yet (%s at slot %d): %s", st, lt.slot, why.Message)
	case final:
		conf.Status = chains.Finalized
	default:
		conf.Status = chains.Confirmed
	}
	return nil
}

// paid checks a successful transaction's balance changes against the
// payment: payTo's balance of token rose by exactly amount and payer's fell
// by at least amount. The finding is nil when it paid; an error is a node
// answer that does not add up.
func paid(payer, payTo, token, amount string, lt *landedTx) (*h402.Error, error) {
	want, ok := new(big.Int).SetString(amount, 10)
	if !ok || want.Sign() <= 0 {
		return h402.Errorf(h402.ReasonInvalidAmount, "the payment's amount %q is not a positive integer", amount), nil
	}
	ds, err := lt.deltas()
	if err != nil {
		return nil, err
	}
	got := deltaOf(ds, token, payTo)
	spent := new(big.Int).Neg(deltaOf(ds, token, payer))
	switch {
	case got.Sign() <= 0:
		return h402.Errorf(h402.ReasonSolanaRecipientMismatch, "transaction %s moved no %s to %s", lt.sig, token, payTo), nil
	case got.Cmp(want) != 0:
		return h402.Errorf(h402.ReasonSolanaValue, "transaction %s pays %s of %s to %s, want %s", lt.sig, got, token, payTo, want), nil
	case spent.Cmp(want) < 0:
		return h402.Errorf(h402.ReasonSolanaValue, "transaction %s takes %s of %s from the payer %s, want at least %s", lt.sig, spent, token, payer, want), nil
	}
	return nil, nil
}

// expired asks whether the blockhash of each submission without a status
// is still valid, and returns those whose blockhash expired. The others
// are Pending.
func (c *Confirmer) expired(ctx context.Context, subs []chains.Submission, out []chains.Confirmation, unknown []int) ([]int, error) {
	valid := map[solanago.Hash]bool{}
	var expired []int
	for _, i := range unknown {
		out[i].Status = chains.Pending
		bh, ok := blockhashOf(subs[i])
		if !ok {
			out[i].Message = "no transaction of the payment has landed, and there are no transaction bytes to tell whether it still can"
			continue
		}
		v, asked := valid[bh]
		if !asked {
			var err error
			v, err = failover.Do(ctx, c.pool, "isBlockhashValid", func(ctx context.Context, cl *rpc.Client) (bool, error) {
				out, err := cl.IsBlockhashValid(ctx, bh, rpc.CommitmentProcessed)
				if err != nil {
					return false, err
				}
				return out.Value, nil
			})
			if err != nil {
				return nil, fmt.Errorf("confirm: %w", err)
			}
			valid[bh] = v
		}
		if v {
			out[i].Message = fmt.Sprintf("not landed yet; its blockhash %s is still valid", bh)
		} else {
			expired = append(expired, i)
		}
	}
	return expired, nil
}

// blockhashOf is the recent blockhash of a submission's transaction: the
// recorded bytes, else the payment's own transaction (a co-signed
// transaction keeps the client's message).
func blockhashOf(s chains.Submission) (solanago.Hash, bool) {
	if w, err := decodeWire(s.Tx.Raw); err == nil {
		return w.tx.Message.RecentBlockhash, true
	}
	if w, err := decodeTransactionText(s.Payment.Transaction); err == nil {
		return w.tx.Message.RecentBlockhash, true
	}
	return solanago.Hash{}, false
}
