package evm

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"sync"
)

// NonceManager hands out the account nonces of one signing key. It keeps the
// next nonce locally, so that transactions can be signed back to back
// without waiting for the node to see the previous one. It starts from the
// node's pending nonce and is safe for concurrent use.
//
// Only one process may sign with a key (the key lease guarantees it), so the
// local count is authoritative; the node's count is consulted at start and
// when a broadcast says "nonce too low".
type NonceManager struct {
	pending func(ctx context.Context) (uint64, error)

	mu     sync.Mutex
	next   uint64
	synced bool
	holes  []uint64 // given back below next, handed out again first (ascending)
}

// NewNonceManager returns a manager that initialises itself from pending,
// the node's pending nonce of the key (eth_getTransactionCount "pending").
func NewNonceManager(pending func(ctx context.Context) (uint64, error)) *NonceManager {
	return &NonceManager{pending: pending}
}

// Next reserves and returns the next nonce. A reserved nonce must end up in
// a transaction that is recorded and broadcast, or be given back with
// Rollback; otherwise later transactions wait behind the gap.
func (m *NonceManager) Next(ctx context.Context) (uint64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.synced {
		n, err := m.pending(ctx)
		if err != nil {
			return 0, fmt.Errorf("nonce: read pending nonce: %w", err)
		}
		// Every nonce below the node's count is used, holes too.
		m.next = max(m.next, n)
		m.holes = slices.DeleteFunc(m.holes, func(h uint64) bool { return h < n })
		m.synced = true
	}
	if len(m.holes) > 0 {
		n := m.holes[0]
		m.holes = m.holes[1:]
		return n, nil
	}
	n := m.next
	m.next++
	return n, nil
}

// Rollback gives back nonce n, reserved by Next but never used in a signed
// transaction that was recorded, so that the next Next hands it out again
// (later transactions would otherwise wait behind the gap).
func (m *NonceManager) Rollback(n uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if n >= m.next {
		return // not ours: the manager was resynced past it
	}
	if n+1 == m.next {
		m.next = n
		return
	}
	i := sort.Search(len(m.holes), func(i int) bool { return m.holes[i] >= n })
	if i < len(m.holes) && m.holes[i] == n {
		return
	}
	m.holes = slices.Insert(m.holes, i, n)
}

// Resync makes the next Next read the node's pending nonce again, moving
// forward to it if the node is ahead (after "nonce too low"); it never moves
// back past nonces this manager handed out.
func (m *NonceManager) Resync() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.synced = false
}

// Peek returns the next nonce Next would hand out without reserving it, and
// whether the manager is synchronised with the node.
func (m *NonceManager) Peek() (uint64, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.next, m.synced
}
