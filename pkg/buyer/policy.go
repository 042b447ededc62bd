package buyer

import (
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"sync"

	"github.com/h402/settlement/pkg/h402"
)

// Policy says which requirements the Transport may pay.
type Policy struct {
	// Networks the buyer pays on, most preferred first; any name of
	// Offer.Names matches ("eip155:84532", "base-sepolia", "evm:84532",
	// "solana:localnet", a Solana CAIP-2 id). Empty: any network a key is
	// configured for, in the seller's order.
	Networks []string
	// Budgets lists the tokens the buyer pays in, most preferred first
	// (after network preference). A token without a budget is never paid.
	Budgets []Budget
}

// Budget is the buyer's limit for one token, in exact smallest units.
type Budget struct {
	// Token is the token contract (EVM, compared case-insensitively) or mint.
	Token string
	// Network, when set, limits the budget to offers on that network (any
	// name of Offer.Names). Empty: the token address on every network a
	// key signs for. An EVM address is only an asset on its own chain:
	// name the network when the same address elsewhere could be another
	// (or no) token. Budgets are matched in order, so a budget with a
	// network can come before a catch-all one for the same token; New
	// refuses one after it, or a second budget of the token for one network
	// under another of its names: it would never be used.
	Network string
	// Decimals are the token's, used only for an h402 requirement written
	// humanReadable without tokenDecimals (0: such a requirement is refused).
	Decimals int
	// MaxPerRequest is the price cap: the most one request may pay. Required.
	MaxPerRequest *big.Int
	// MaxTotal is the most the Transport pays in this token over its life;
	// nil: no total limit.
	MaxTotal *big.Int
}

func (p *Policy) validate() error {
	if len(p.Budgets) == 0 {
		return errors.New("policy: no budget: name at least one token with its price cap")
	}
	for i, b := range p.Budgets {
		// Budgets are matched in order: one that an earlier budget of the
		// same token always wins over would never be used, its caps
		// silently replaced by the earlier one's.
		for j, e := range p.Budgets[:i] {
			if tokenKey(e.Token) != tokenKey(b.Token) {
				continue
			}
			if e.Network == "" {
				return fmt.Errorf("policy: budgets[%d]: budgets[%d] pays the token on every network first (it would never be used; put budgets with a network before the catch-all)", i, j)
			}
			if networkKey(e.Network) == networkKey(b.Network) {
				return fmt.Errorf("policy: budgets[%d]: same token and network as budgets[%d] (it would never be used)", i, j)
			}
		}
		switch {
		case b.Token == "":
			return fmt.Errorf("policy: budgets[%d].token: empty", i)
		case b.MaxPerRequest == nil || b.MaxPerRequest.Sign() <= 0:
			return fmt.Errorf("policy: budgets[%d].maxPerRequest: must be positive (got %v)", i, b.MaxPerRequest)
		case b.MaxTotal != nil && b.MaxTotal.Sign() < 0:
			return fmt.Errorf("policy: budgets[%d].maxTotal: negative (got %v)", i, b.MaxTotal)
		case b.Decimals < 0 || b.Decimals > 36:
			return fmt.Errorf("policy: budgets[%d].decimals: out of 0..36 (got %d)", i, b.Decimals)
		}
	}
	return nil
}

// networkKey names a network the same way under any of the names
// Offer.Names lists for it: "<namespace>:<networkId>" when the name is an
// x402 v1 name or a CAIP-2 id this package knows, else the name itself
// (already that form: "evm:84532", "solana:localnet").
func networkKey(name string) string {
	if ref, err := h402.DefaultNetworkResolver(name); err == nil {
		return string(ref.Namespace) + ":" + ref.NetworkID
	}
	return name
}

// tokenKey is the budget key of a token: EVM addresses lower-cased.
func tokenKey(token string) string {
	if strings.HasPrefix(token, "0x") || strings.HasPrefix(token, "0X") {
		return strings.ToLower(token)
	}
	return token
}

// budget returns the first budget for o's token and network.
func (p *Policy) budget(o *Offer) (int, *Budget) {
	k := tokenKey(o.Token)
	for i := range p.Budgets {
		b := &p.Budgets[i]
		if tokenKey(b.Token) == k && (b.Network == "" || slices.Contains(o.Names(), b.Network)) {
			return i, b
		}
	}
	return -1, nil
}

// networkRank is the offer's place in the network preference, -1 when not allowed.
func (p *Policy) networkRank(o *Offer) int {
	if len(p.Networks) == 0 {
		return 0
	}
	names := o.Names()
	for i, n := range p.Networks {
		if slices.Contains(names, n) {
			return i
		}
	}
	return -1
}

// candidate is an acceptable offer with its sort keys.
type candidate struct {
	offer   *Offer
	amount  *big.Int
	network int
	budget  int
}

// candidates returns the offers that pass the policy and the keys, most
// preferred first, and a reason for each offer that does not.
func (p *Policy) candidates(pr *PaymentRequired, can func(h402.Namespace) bool) ([]candidate, []string) {
	var out []candidate
	var reasons []string
	for i := range pr.Offers {
		o := &pr.Offers[i]
		why := func(format string, args ...any) {
			reasons = append(reasons, fmt.Sprintf("accepts[%d] (%s %s): ", o.Index, clip(o.Network), clip(o.Token))+fmt.Sprintf(format, args...))
		}
		if o.Problem != nil {
			why("%v", o.Problem)
			continue
		}
		if o.Scheme != h402.SchemeExact {
			why("scheme %q is not exact", clip(o.Scheme))
			continue
		}
		if o.Namespace == "" || !can(o.Namespace) {
			why("no key for namespace %q", o.Namespace)
			continue
		}
		rank := p.networkRank(o)
		if rank < 0 {
			why("network not allowed by the policy")
			continue
		}
		bi, b := p.budget(o)
		if b == nil {
			why("token not in the policy's budgets for this network")
			continue
		}
		amount := o.Amount
		if amount == nil && o.h402 != nil {
			if b.Decimals == 0 {
				why("amount is humanReadable without tokenDecimals and the budget gives no decimals")
				continue
			}
			a, err := o.h402.Amount(b.Decimals)
			if err != nil {
				why("amount: %v", err)
				continue
			}
			amount = a
		}
		if amount == nil {
			why("no amount")
			continue
		}
		if amount.Cmp(b.MaxPerRequest) > 0 {
			why("price %s is over the cap %s per request", amount, b.MaxPerRequest)
			continue
		}
		out = append(out, candidate{offer: o, amount: amount, network: rank, budget: bi})
	}
	slices.SortStableFunc(out, func(a, b candidate) int {
		if a.network != b.network {
			return a.network - b.network
		}
		if a.budget != b.budget {
			return a.budget - b.budget
		}
		return a.amount.Cmp(b.amount)
	})
	return out, reasons
}

// ledger counts what was spent under each budget (by index in the
// policy), safe for concurrent use.
type ledger struct {
	mu    sync.Mutex
	spent map[int]*big.Int
}

// reserve counts the first candidate that fits its budget's total, and
// returns it; a LimitError when every candidate is over its total.
func (l *ledger) reserve(p *Policy, cs []candidate) (candidate, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.spent == nil {
		l.spent = map[int]*big.Int{}
	}
	var over *LimitError
	for _, c := range cs {
		b := &p.Budgets[c.budget]
		spent := l.spent[c.budget]
		if spent == nil {
			spent = new(big.Int)
		}
		next := new(big.Int).Add(spent, c.amount)
		if b.MaxTotal != nil && next.Cmp(b.MaxTotal) > 0 {
			if over == nil {
				over = &LimitError{Token: b.Token, Network: b.Network, Amount: new(big.Int).Set(c.amount), Spent: new(big.Int).Set(spent), Limit: new(big.Int).Set(b.MaxTotal)}
			}
			continue
		}
		l.spent[c.budget] = next
		return c, nil
	}
	return candidate{}, over
}

// release takes back what reserve counted for c.
func (l *ledger) release(c candidate) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if s := l.spent[c.budget]; s != nil {
		s.Sub(s, c.amount)
	}
}

// totals returns what was spent per token (EVM tokens lower-cased), the
// budgets of one token on several networks added up.
func (l *ledger) totals(p *Policy) map[string]*big.Int {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string]*big.Int, len(l.spent))
	for i, v := range l.spent {
		k := tokenKey(p.Budgets[i].Token)
		if out[k] == nil {
			out[k] = new(big.Int)
		}
		out[k].Add(out[k], v)
	}
	return out
}
