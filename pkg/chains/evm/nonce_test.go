package evm_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/h402/settlement/pkg/chains/evm"
)

// chainNonce stands for the node's pending nonce; set() moves it as
// transactions of the key land.
type chainNonce struct {
	v     atomic.Uint64
	fail  atomic.Bool
	calls atomic.Int32
}

func (c *chainNonce) pending(context.Context) (uint64, error) {
	c.calls.Add(1)
	if c.fail.Load() {
		return 0, errors.New("endpoint down")
	}
	return c.v.Load(), nil
}

func next(t *testing.T, m *evm.NonceManager) uint64 {
	t.Helper()
	n, err := m.Next(context.Background())
	if err != nil {
		t.Fatalf("Next: %v", err)
	}
	return n
}

func TestNonceManagerConcurrent(t *testing.T) {
	c := &chainNonce{}
	c.v.Store(42)
	m := evm.NewNonceManager(c.pending)
	const n = 200
	got := make([]uint64, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { got[i] = next(t, m) })
	}
	wg.Wait()
	slices.Sort(got)
	for i, v := range got {
		if v != 42+uint64(i) {
			t.Fatalf("nonce %d: got %d, want %d (each handed out once, no gaps)", i, v, 42+uint64(i))
		}
	}
	if calls := c.calls.Load(); calls != 1 {
		t.Fatalf("got %d reads of the node's nonce, want 1", calls)
	}
}

func TestNonceManagerRollbackAndResync(t *testing.T) {
	tests := []struct {
		name string
		run  func(t *testing.T, c *chainNonce, m *evm.NonceManager) []uint64
		want []uint64
	}{
		{"rollback of the newest", func(t *testing.T, c *chainNonce, m *evm.NonceManager) []uint64 {
			a := next(t, m)
			m.Rollback(a)
			return []uint64{next(t, m), next(t, m)}
		}, []uint64{5, 6}},
		{"rollback of an older one fills the hole first", func(t *testing.T, c *chainNonce, m *evm.NonceManager) []uint64 {
			a, _, _ := next(t, m), next(t, m), next(t, m)
			m.Rollback(a)
			return []uint64{next(t, m), next(t, m)}
		}, []uint64{5, 8}},
		{"resync moves forward when the node is ahead", func(t *testing.T, c *chainNonce, m *evm.NonceManager) []uint64 {
			next(t, m)
			c.v.Store(20) // "nonce too low": someone used nonces 5..19
			m.Resync()
			return []uint64{next(t, m)}
		}, []uint64{20}},
		{"resync never moves back", func(t *testing.T, c *chainNonce, m *evm.NonceManager) []uint64 {
			next(t, m)
			next(t, m)
			m.Resync() // the node still says 5: our 5 and 6 are in flight
			return []uint64{next(t, m)}
		}, []uint64{7}},
		{"holes below the node's count are dropped", func(t *testing.T, c *chainNonce, m *evm.NonceManager) []uint64 {
			a := next(t, m)
			next(t, m)
			m.Rollback(a)
			c.v.Store(9)
			m.Resync()
			return []uint64{next(t, m)}
		}, []uint64{9}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := &chainNonce{}
			c.v.Store(5)
			m := evm.NewNonceManager(c.pending)
			if got := tc.run(t, c, m); !slices.Equal(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestNonceManagerNodeDown(t *testing.T) {
	c := &chainNonce{}
	c.fail.Store(true)
	m := evm.NewNonceManager(c.pending)
	if _, err := m.Next(context.Background()); err == nil {
		t.Fatal("got a nonce with the node down, want an error")
	}
	c.fail.Store(false)
	c.v.Store(3)
	if got := next(t, m); got != 3 {
		t.Fatalf("after the node is back: got %d, want 3", got)
	}
}
