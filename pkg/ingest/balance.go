package ingest

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/h402/settlement/pkg/chains"
	"github.com/h402/settlement/pkg/exposure"
	"github.com/h402/settlement/pkg/h402"
)

// checked is a payment's chain state, and how to read it again with a
// balance loaded no earlier than a given time.
type checked struct {
	*chains.State
	reload func(ctx context.Context, notBefore time.Time) (*chains.State, error)
}

// checkState completes verification with chain state.
func (s *Service) checkState(ctx context.Context, req *h402.Request, r *chains.Request, pay *chains.Payment) (*checked, error) {
	checker, ok := s.states[networkKey(r.Network.Namespace, r.Network.NetworkID)]
	if !ok {
		return nil, h402.Errorf(h402.ReasonInvalidNetwork, "%s network %s has no chain-state checker on this facilitator", r.Network.Namespace, r.Network.NetworkID)
	}
	r.Taken = s.keyTaken // the replay guard: is a nonce before this one an accepted payment?
	check := func(ctx context.Context) (*chains.State, error) {
		t := s.opts.Now()
		st, err := checker.CheckState(ctx, r, pay)
		s.opts.Metrics.observeVerify(string(req.Payload.Payload.PayloadType()), "state", s.opts.Now().Sub(t))
		return st, err
	}
	st, err := check(ctx)
	if err != nil {
		return nil, err
	}
	return &checked{State: st, reload: func(ctx context.Context, notBefore time.Time) (*chains.State, error) {
		r.BalanceNotBefore = notBefore
		return check(ctx)
	}}, nil
}

// staleReloads and staleWindow bound the balance loads of one request
// after the first: a busy payer's payments are released one after another
// as a batch finalizes (a burst of releases, each newer than a load begun
// before it), so a request keeps loading until the burst is over, up to
// staleReloads loads within staleWindow. Four loads were not enough for a
// payer with dozens of payments in one batch under load (a 503 in CI).
const (
	staleReloads = 32
	staleWindow  = 3 * time.Second
)

// againstBalance runs f (a Reserve or a Check of the payment's exposure)
// against the checked balance. When the balance was loaded before the
// payer's exposure was last released (exposure.ErrStaleBalance: a payment
// released as final may have been debited on chain after that load, and
// would count neither in that balance nor in the exposure), it loads the
// balance again, newer than the release and bypassing the cache, and runs f
// once more, up to staleReloads times within staleWindow (a release meanwhile). A balance
// still older than the release after that (releases without end, or clocks
// apart) is a retryable error.
func (s *Service) againstBalance(ctx context.Context, st *checked, pay *chains.Payment, f func(amount, balance *big.Int, at time.Time) error) error {
	err := f(st.Exposure(pay), st.Balance, st.BalanceAt)
	reloaded := false
	deadline := time.Now().Add(staleWindow)
	for range staleReloads {
		var stale *exposure.StaleBalanceError
		if !errors.As(err, &stale) || st.reload == nil || (reloaded && time.Now().After(deadline)) {
			break
		}
		reloaded = true
		s.opts.Metrics.observeReload()
		fresh, rerr := st.reload(ctx, stale.ReleasedAt.Add(time.Nanosecond))
		if rerr != nil {
			return rerr
		}
		if fresh.Balance == nil {
			return fmt.Errorf("payment %s: the chain state read again has no balance", pay.ID)
		}
		st.State = fresh
		err = f(fresh.Exposure(pay), fresh.Balance, fresh.BalanceAt)
	}
	if err != nil && reloaded {
		return fmt.Errorf("payment %s: %w", pay.ID, err)
	}
	return err
}
