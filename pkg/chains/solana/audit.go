package solana

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	solanago "github.com/gagliardetto/solana-go"
	"github.com/gagliardetto/solana-go/rpc"

	"github.com/h402/settlement/pkg/chains"
	"github.com/h402/settlement/pkg/config"
	"github.com/h402/settlement/pkg/failover"
	"github.com/h402/settlement/pkg/h402"
)

var _ chains.Auditor = (*Auditor)(nil)

// MaxSignaturesPage is the most signatures one getSignaturesForAddress
// answers.
const MaxSignaturesPage = 1000

// AuditOptions configure an Auditor.
type AuditOptions struct {
	// PageSize is the limit of each getSignaturesForAddress call, in
	// [1, MaxSignaturesPage]. Default MaxSignaturesPage.
	PageSize int
}

// Auditor reads final transfers back from a Solana network: a
// transaction's balance changes paired into transfers (see TransfersIn), at
// the network's final commitment (finality.commitment: finalized, or
// confirmed).
type Auditor struct {
	pool       *Pool
	commitment rpc.CommitmentType
	opts       AuditOptions
}

// NewAuditor returns the auditor of one Solana network, reading through
// pool (see Dial).
func NewAuditor(network *config.Network, pool *Pool, o AuditOptions) (*Auditor, error) {
	commitment, err := finalCommitment("auditor", network, pool)
	if err != nil {
		return nil, err
	}
	if o.PageSize == 0 {
		o.PageSize = MaxSignaturesPage
	}
	if o.PageSize < 1 || o.PageSize > MaxSignaturesPage {
		return nil, fmt.Errorf("solana auditor: PageSize must be in [1, %d] (got %d)", MaxSignaturesPage, o.PageSize)
	}
	return &Auditor{pool: pool, commitment: commitment, opts: o}, nil
}

// Namespace returns solana.
func (*Auditor) Namespace() h402.Namespace { return h402.NamespaceSolana }

// TransfersIn returns the transfers of a final transaction: its balance
// changes per token and owner (SPL and Token-2022 by mint; lamports as
// h402.SolanaNativeToken, without the fee), paired within each token from
// the owners whose balance fell to those whose balance rose, in order (the
// pairing is exact for one sender; for several, one account of the same
// totals; an unpaired rest is a burn or a mint with an empty side). A
// failed transaction moved nothing: empty, not nil. nil and no error when
// the transaction is not final (or not on chain).
func (a *Auditor) TransfersIn(ctx context.Context, txHash string) ([]chains.Transfer, error) {
	sig, err := solanago.SignatureFromBase58(txHash)
	if err != nil {
		return nil, fmt.Errorf("transfers in %q: not a signature: %w", txHash, err)
	}
	lt, err := getLanded(ctx, a.pool, sig, a.commitment)
	if err != nil || lt == nil {
		return nil, err
	}
	return a.transfersOf(lt)
}

func (a *Auditor) transfersOf(lt *landedTx) ([]chains.Transfer, error) {
	if lt.meta.Err != nil {
		return []chains.Transfer{}, nil
	}
	return lt.transfers()
}

// SentBy returns the transfers of the final, successful transactions whose
// fee payer is one of accounts and whose block time is in [from, to),
// ordered by slot, then signature, then Index. It pages
// getSignaturesForAddress of each account backwards from the newest until
// the block times fall before from.
func (a *Auditor) SentBy(ctx context.Context, accounts []string, from, to time.Time) ([]chains.Transfer, error) {
	out := []chains.Transfer{}
	seen := map[solanago.Signature]bool{}
	for _, acct := range accounts {
		key, err := solanago.PublicKeyFromBase58(acct)
		if err != nil {
			return nil, fmt.Errorf("sent by %q: not a public key: %w", acct, err)
		}
		var before solanago.Signature
		for {
			page, err := a.page(ctx, key, before)
			if err != nil {
				return nil, err
			}
			if n := len(page); n > 0 && page[n-1].Signature == before {
				return nil, fmt.Errorf("sent by %s: getSignaturesForAddress answered the same page again (before %s)", acct, before)
			}
			older := false
			for _, s := range page {
				before = s.Signature
				if s.BlockTime != nil && s.BlockTime.Time().Before(from) {
					older = true // newest first: the rest is older still
					break
				}
				if s.Err != nil || seen[s.Signature] || s.BlockTime != nil && !s.BlockTime.Time().Before(to) {
					continue
				}
				seen[s.Signature] = true
				lt, err := getLanded(ctx, a.pool, s.Signature, a.commitment)
				if err != nil {
					return nil, fmt.Errorf("sent by %s: %w", acct, err)
				}
				if lt == nil || !lt.feePayer().Equals(key) {
					continue
				}
				if lt.at.IsZero() {
					return nil, fmt.Errorf("sent by %s: transaction %s has no block time", acct, s.Signature)
				}
				if lt.at.Before(from) || !lt.at.Before(to) {
					continue
				}
				ts, err := a.transfersOf(lt)
				if err != nil {
					return nil, fmt.Errorf("sent by %s: %w", acct, err)
				}
				out = append(out, ts...)
			}
			if older || len(page) < a.opts.PageSize {
				break
			}
		}
	}
	slices.SortStableFunc(out, func(x, y chains.Transfer) int {
		return cmp.Or(cmp.Compare(x.Block, y.Block), cmp.Compare(x.TxHash, y.TxHash), cmp.Compare(x.Index, y.Index))
	})
	return out, nil
}

// page is one getSignaturesForAddress answer for key, older than before
// (the newest when zero).
func (a *Auditor) page(ctx context.Context, key solanago.PublicKey, before solanago.Signature) ([]*rpc.TransactionSignature, error) {
	limit := a.opts.PageSize
	page, err := failover.Do(ctx, a.pool, "getSignaturesForAddress", func(ctx context.Context, c *rpc.Client) ([]*rpc.TransactionSignature, error) {
		return c.GetSignaturesForAddressWithOpts(ctx, key, &rpc.GetSignaturesForAddressOpts{Limit: &limit, Before: before, Commitment: a.commitment})
	})
	if err != nil {
		return nil, fmt.Errorf("sent by %s: %w", key, err)
	}
	if len(page) > limit {
		return nil, fmt.Errorf("sent by %s: getSignaturesForAddress answered %d signatures, more than the limit %d", key, len(page), limit)
	}
	for _, s := range page {
		if s == nil {
			return nil, fmt.Errorf("sent by %s: getSignaturesForAddress answered an empty entry", key)
		}
	}
	return page, nil
}
