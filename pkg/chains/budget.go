package chains

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
	"golang.org/x/time/rate"
)

// ErrRateLimited is matched (errors.Is) by the error of a cache miss that is
// over its caller's budget. The error is a *RateLimitError telling when to retry.
var ErrRateLimited = errors.New("over the budget of chain-state lookups for unknown payers")

// RateLimitError is a refused cache miss: the caller may retry after RetryAfter.
type RateLimitError struct {
	Caller     string
	RetryAfter time.Duration
}

func (e *RateLimitError) Error() string {
	return fmt.Sprintf("%v (retry after %s)", ErrRateLimited, e.RetryAfter)
}

// Is makes errors.Is(err, ErrRateLimited) true.
func (e *RateLimitError) Is(target error) bool { return target == ErrRateLimited }

// MissBudget is a token bucket per caller (an API key, or a remote address
// when there are no keys) charged for each chain-state lookup of a payer the
// caches do not know: every unknown payer costs RPC calls, and enough of them
// would trip the RPC breakers for everyone. Known payers are never charged.
// It remembers at most maxCallers callers (least recently seen forgotten).
type MissBudget struct {
	perSecond rate.Limit
	burst     int

	mu      sync.Mutex
	callers *simplelru.LRU[string, *rate.Limiter]
	now     func() time.Time
}

// NewMissBudget returns a budget of perSecond misses per second with bursts of
// burst, per caller. perSecond <= 0 returns nil: no budget.
func NewMissBudget(perSecond float64, burst, maxCallers int) *MissBudget {
	if perSecond <= 0 {
		return nil
	}
	callers, _ := simplelru.NewLRU[string, *rate.Limiter](max(1, maxCallers), nil)
	return &MissBudget{perSecond: rate.Limit(perSecond), burst: max(1, burst), callers: callers, now: time.Now}
}

// charge takes one miss from caller's bucket, or says how long to wait.
func (b *MissBudget) charge(caller string) error {
	b.mu.Lock()
	lim, ok := b.callers.Get(caller)
	if !ok {
		lim = rate.NewLimiter(b.perSecond, b.burst)
		b.callers.Add(caller, lim)
	}
	b.mu.Unlock()
	now := b.now()
	r := lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return &RateLimitError{Caller: caller, RetryAfter: d}
	}
	return nil
}

type budgetKey struct{}

type budgetCharge struct {
	budget *MissBudget
	caller string
}

// WithMissBudget returns ctx whose cache misses are charged to caller in b.
// A nil b returns ctx unchanged.
func WithMissBudget(ctx context.Context, b *MissBudget, caller string) context.Context {
	if b == nil {
		return ctx
	}
	return context.WithValue(ctx, budgetKey{}, budgetCharge{b, caller})
}

func chargeMiss(ctx context.Context) error {
	c, ok := ctx.Value(budgetKey{}).(budgetCharge)
	if !ok {
		return nil
	}
	return c.budget.charge(c.caller)
}
