package reconcile

import (
	"context"
	"fmt"
	"math/big"
	"sort"
	"strings"
	"time"

	"github.com/h402/settlement/pkg/chains"
	"github.com/h402/settlement/pkg/events"
	"github.com/h402/settlement/pkg/h402"
	"github.com/h402/settlement/pkg/ledger"
)

// Network is one network to reconcile.
type Network struct {
	Namespace h402.Namespace
	NetworkID string
	Auditor   chains.Auditor
	// Accounts are the facilitator's sending accounts on the network (EVM
	// settler signers, Solana fee payers), for Auditor.SentBy.
	Accounts []string
}

// Name is ns.networkId, as the ledger keys networks.
func (n Network) Name() string { return string(n.Namespace) + "." + n.NetworkID }

// Kind classifies a difference.
type Kind string

// Kinds of differences.
const (
	// TxNotOnChain: a finalized payment's transaction is not on the
	// canonical chain at finality.
	TxNotOnChain Kind = "tx_not_on_chain"
	// MissingTransfer: a finalized payment's transaction has no transfer
	// of its token, from its payer to its payTo, of its amount (left over
	// after the other payments of the transaction took theirs).
	MissingTransfer Kind = "missing_transfer"
	// UnknownTransfer: a facilitator account moved tokens in a transaction
	// that no finalized payment of the ledger accounts for.
	UnknownTransfer Kind = "unknown_transfer"
)

// Difference is one disagreement between the ledger and a chain.
type Difference struct {
	Kind      Kind
	Network   string
	PaymentID string
	TxHash    string
	Message   string
}

// String is one line: the kind, network, payment, transaction (- when
// empty), tab-separated, then the sentence.
func (d Difference) String() string {
	dash := func(s string) string {
		if s == "" {
			return "-"
		}
		return s
	}
	return strings.Join([]string{string(d.Kind), d.Network, dash(d.PaymentID), dash(d.TxHash), d.Message}, "\t")
}

// Reconcile checks the payments the ledger finalized in [from, to) on each
// network against the transfers of their transactions, and the transfers
// the network's facilitator accounts made in [from, to) (block time)
// against the ledger. It returns every difference; an error means a chain
// or the ledger could not be read.
func Reconcile(ctx context.Context, l *ledger.Ledger, nets []Network, from, to time.Time) ([]Difference, error) {
	var out []Difference
	for _, n := range nets {
		if n.Auditor == nil || n.Auditor.Namespace() != n.Namespace {
			return nil, fmt.Errorf("reconcile %s: no auditor of namespace %s", n.Name(), n.Namespace)
		}
		d, err := ledgerToChain(ctx, l, n, from, to)
		if err != nil {
			return nil, err
		}
		out = append(out, d...)
		d, err = chainToLedger(ctx, l, n, from, to)
		if err != nil {
			return nil, err
		}
		out = append(out, d...)
	}
	return out, nil
}

// ledgerToChain: every finalized payment in range has its own transfer.
func ledgerToChain(ctx context.Context, l *ledger.Ledger, n Network, from, to time.Time) ([]Difference, error) {
	byTx := map[string][]ledger.Payment{}
	var txs []string
	err := l.FinalizedIn(n.Name(), from, to, func(p *ledger.Payment) error {
		if _, ok := byTx[p.TxHash]; !ok {
			txs = append(txs, p.TxHash)
		}
		byTx[p.TxHash] = append(byTx[p.TxHash], *p)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reconcile %s: read ledger: %w", n.Name(), err)
	}
	sort.Strings(txs)
	var out []Difference
	for _, tx := range txs {
		ps := byTx[tx]
		sort.Slice(ps, func(i, j int) bool { return ps[i].ID < ps[j].ID })
		if tx == "" {
			for _, p := range ps {
				out = append(out, Difference{MissingTransfer, n.Name(), p.ID, "",
					fmt.Sprintf("payment %s is finalized in the ledger without a transaction", p.ID)})
			}
			continue
		}
		transfers, err := n.Auditor.TransfersIn(ctx, tx)
		if err != nil {
			return nil, fmt.Errorf("reconcile %s: transfers of %s: %w", n.Name(), tx, err)
		}
		if transfers == nil {
			for _, p := range ps {
				out = append(out, Difference{TxNotOnChain, n.Name(), p.ID, tx,
					fmt.Sprintf("payment %s is finalized in the ledger, but its transaction %s is not on the chain", p.ID, tx)})
			}
			continue
		}
		used := make([]bool, len(transfers))
		for _, p := range ps {
			i := match(n.Namespace, transfers, used, p.Token, p.Payer, p.PayTo, p.Amount)
			if i < 0 {
				out = append(out, Difference{MissingTransfer, n.Name(), p.ID, tx,
					fmt.Sprintf("payment %s (%s of %s from %s to %s) is finalized in the ledger, but transaction %s has no such transfer for it",
						p.ID, p.Amount, p.Token, p.Payer, p.PayTo, tx)})
				continue
			}
			used[i] = true
		}
	}
	return out, nil
}

// chainToLedger: every transfer the facilitator made is a finalized payment.
func chainToLedger(ctx context.Context, l *ledger.Ledger, n Network, from, to time.Time) ([]Difference, error) {
	if len(n.Accounts) == 0 {
		return nil, nil
	}
	transfers, err := n.Auditor.SentBy(ctx, n.Accounts, from, to)
	if err != nil {
		return nil, fmt.Errorf("reconcile %s: transfers sent by the facilitator: %w", n.Name(), err)
	}
	byTx := map[string][]chains.Transfer{}
	var txs []string
	for _, t := range transfers {
		if _, ok := byTx[t.TxHash]; !ok {
			txs = append(txs, t.TxHash)
		}
		byTx[t.TxHash] = append(byTx[t.TxHash], t)
	}
	sort.Strings(txs)
	var out []Difference
	for _, tx := range txs {
		ps, err := l.PaymentsByTx(tx)
		if err != nil {
			return nil, fmt.Errorf("reconcile %s: ledger payments of %s: %w", n.Name(), tx, err)
		}
		if len(ps) == 0 && n.Namespace == h402.NamespaceEVM && strings.ToLower(tx) != tx {
			if ps, err = l.PaymentsByTx(strings.ToLower(tx)); err != nil {
				return nil, err
			}
		}
		var final []ledger.Payment
		for _, p := range ps {
			if p.State == events.StateFinalized && p.Network() == n.Name() {
				final = append(final, p)
			}
		}
		used := make([]bool, len(final))
		ts := byTx[tx]
		sort.SliceStable(ts, func(i, j int) bool { return ts[i].Index < ts[j].Index })
		for _, t := range ts {
			i := matchPayment(n.Namespace, final, used, t)
			if i < 0 {
				out = append(out, Difference{UnknownTransfer, n.Name(), "", tx,
					fmt.Sprintf("transaction %s moved %s of %s from %s to %s (transfer %d), and no finalized payment of the ledger accounts for it",
						tx, t.Amount, t.Token, t.From, t.To, t.Index)})
				continue
			}
			used[i] = true
		}
	}
	return out, nil
}

// match returns the first unused transfer that pays amount of token from
// payer to payTo, or -1.
func match(ns h402.Namespace, ts []chains.Transfer, used []bool, token, payer, payTo, amount string) int {
	for i, t := range ts {
		if !used[i] && same(ns, t.Token, token) && same(ns, t.From, payer) && same(ns, t.To, payTo) && sameAmount(t.Amount, amount) {
			return i
		}
	}
	return -1
}

func matchPayment(ns h402.Namespace, ps []ledger.Payment, used []bool, t chains.Transfer) int {
	for i, p := range ps {
		if !used[i] && same(ns, t.Token, p.Token) && same(ns, t.From, p.Payer) && same(ns, t.To, p.PayTo) && sameAmount(t.Amount, p.Amount) {
			return i
		}
	}
	return -1
}

// same compares addresses: EVM hex without regard to case, others exactly.
func same(ns h402.Namespace, a, b string) bool {
	if ns == h402.NamespaceEVM {
		return strings.EqualFold(a, b)
	}
	return a == b
}

func sameAmount(a, b string) bool {
	x, ok1 := new(big.Int).SetString(a, 10)
	y, ok2 := new(big.Int).SetString(b, 10)
	return ok1 && ok2 && x.Cmp(y) == 0
}
