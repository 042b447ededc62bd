package evm

import (
	"context"
	"fmt"
	"math/big"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/ethclient"

	"github.com/h402/settlement/pkg/contracts"
	"github.com/h402/settlement/pkg/failover"
)

// authBatcher answers authorizationState checks in batches: concurrent
// checks are coalesced, for up to maxWait or maxBatch of them, into one
// eth_call of Multicall3.aggregate3. A node then does one call's fixed work
// for many payments, which keeps the on-chain nonce check on the hot path
// affordable.
type authBatcher struct {
	pool      *Pool
	multicall common.Address
	maxBatch  int
	maxWait   time.Duration

	mu      sync.Mutex
	pending []*authCheck
	timer   *time.Timer
}

type authCheck struct {
	token common.Address
	data  []byte
	done  chan authAnswer
}

type authAnswer struct {
	used bool
	err  error
}

var multicall3 = contracts.NewMulticall3()

func newAuthBatcher(pool *Pool, multicall common.Address, maxBatch int, maxWait time.Duration) *authBatcher {
	return &authBatcher{pool: pool, multicall: multicall, maxBatch: maxBatch, maxWait: maxWait}
}

// used reports whether authorizationState(from, nonce) is true on token.
func (b *authBatcher) used(ctx context.Context, token common.Address, data []byte) (bool, error) {
	c := &authCheck{token: token, data: data, done: make(chan authAnswer, 1)}
	b.mu.Lock()
	b.pending = append(b.pending, c)
	switch {
	case len(b.pending) >= b.maxBatch:
		batch := b.take()
		b.mu.Unlock()
		go b.flush(batch)
	case len(b.pending) == 1:
		b.timer = time.AfterFunc(b.maxWait, func() {
			b.mu.Lock()
			batch := b.take()
			b.mu.Unlock()
			b.flush(batch)
		})
		b.mu.Unlock()
	default:
		b.mu.Unlock()
	}
	select {
	case a := <-c.done:
		return a.used, a.err
	case <-ctx.Done():
		return false, ctx.Err()
	}
}

// take removes the pending checks; b.mu is held.
func (b *authBatcher) take() []*authCheck {
	if b.timer != nil {
		b.timer.Stop()
		b.timer = nil
	}
	batch := b.pending
	b.pending = nil
	return batch
}

func (b *authBatcher) flush(batch []*authCheck) {
	if len(batch) == 0 {
		return
	}
	calls := make([]contracts.Multicall3Call3, len(batch))
	for i, c := range batch {
		calls[i] = contracts.Multicall3Call3{Target: c.token, AllowFailure: true, CallData: c.data}
	}
	data := multicall3.PackAggregate3(calls)
	// The batch outlives any one request: bound it on its own.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := failover.Do(ctx, b.pool, "eth_call:aggregate3(authorizationState)", func(ctx context.Context, cl *ethclient.Client) ([]byte, error) {
		return cl.CallContract(ctx, ethereum.CallMsg{To: &b.multicall, Data: data}, nil)
	})
	var results []contracts.Multicall3Result
	if err == nil {
		results, err = multicall3.UnpackAggregate3(out)
		if err == nil && len(results) != len(batch) {
			err = fmt.Errorf("aggregate3 answered %d results for %d calls", len(results), len(batch))
		}
	}
	for i, c := range batch {
		switch {
		case err != nil:
			c.done <- authAnswer{err: err}
		case !results[i].Success || len(results[i].ReturnData) != 32:
			c.done <- authAnswer{err: errNotEIP3009}
		default:
			c.done <- authAnswer{used: new(big.Int).SetBytes(results[i].ReturnData).Sign() != 0}
		}
	}
}
