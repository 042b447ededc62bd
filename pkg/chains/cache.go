package chains

import (
	"context"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
	"golang.org/x/sync/singleflight"
)

// Cache keeps chain state (balances, nonces) for a short time so that a known
// payer's payment is verified without an RPC round trip. Concurrent misses on
// one key share one load. It is bounded: past max entries, the least recently
// used entry is evicted, so a burst of unknown payers pushes out only the
// coldest entries, never the whole cache.
type Cache[V any] struct {
	ttl   time.Duration
	now   func() time.Time
	group singleflight.Group

	mu      sync.Mutex
	entries *simplelru.LRU[string, cacheEntry[V]]
}

type cacheEntry[V any] struct {
	v    V
	at   time.Time                        // when the load of v began
	used time.Time                        // when v was last asked for
	load func(context.Context) (V, error) // how to load it again
}

// NewCache returns a cache keeping values for ttl, at most size of them
// (size < 1 counts as 1).
func NewCache[V any](ttl time.Duration, size int) *Cache[V] {
	entries, err := simplelru.NewLRU[string, cacheEntry[V]](max(1, size), nil)
	if err != nil {
		panic(err) // only for a size < 1, excluded above
	}
	return &Cache[V]{ttl: ttl, now: time.Now, entries: entries}
}

// Get returns the cached value of key, loading it when absent or stale. A
// load for a key the cache does not hold at all (an unknown payer) is
// charged to the caller's miss budget (WithMissBudget); over budget, Get
// returns an error matching ErrRateLimited and loads nothing. Keys the cache
// holds, even stale, are never charged.
func (c *Cache[V]) Get(ctx context.Context, key string, load func(context.Context) (V, error)) (V, error) {
	v, _, err := c.GetAt(ctx, key, time.Time{}, load)
	return v, err
}

// GetAt is Get for a value loaded no earlier than notBefore: a cached value
// whose load began before notBefore is loaded again, and so is a value from
// a load shared with another caller that began before it. It also returns
// when the returned value's load began (a value read from the chain
// reflects the chain at that time or later).
func (c *Cache[V]) GetAt(ctx context.Context, key string, notBefore time.Time, load func(context.Context) (V, error)) (V, time.Time, error) {
	var zero V
	now := c.now()
	c.mu.Lock()
	e, ok := c.entries.Get(key)
	if ok {
		e.used = now
		c.entries.Add(key, e)
	}
	c.mu.Unlock()
	if ok && now.Sub(e.at) < c.ttl && !e.at.Before(notBefore) {
		return e.v, e.at, nil
	}
	if !ok {
		if err := chargeMiss(ctx); err != nil {
			return zero, time.Time{}, err
		}
	}
	loadNow := func() (cacheEntry[V], error) {
		start := c.now()
		v, err := load(ctx)
		if err != nil {
			return cacheEntry[V]{}, err
		}
		c.store(key, v, start, load)
		return cacheEntry[V]{v: v, at: start}, nil
	}
	got, err, _ := c.group.Do(key, func() (any, error) { return loadNow() })
	if err != nil {
		return zero, time.Time{}, err
	}
	if r := got.(cacheEntry[V]); !r.at.Before(notBefore) {
		return r.v, r.at, nil
	}
	// The shared load began too early for this caller: load on its own.
	r, err := loadNow()
	if err != nil {
		return zero, time.Time{}, err
	}
	return r.v, r.at, nil
}

// store keeps v, whose load began at `at`, unless the entry holds a value
// from a later load.
func (c *Cache[V]) store(key string, v V, at time.Time, load func(context.Context) (V, error)) {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	used := now
	if old, ok := c.entries.Peek(key); ok {
		if old.at.After(at) {
			return
		}
		used = old.used
	}
	c.entries.Add(key, cacheEntry[V]{v: v, at: at, used: used, load: load})
}

// Refresh reloads, with at most parallel loads at once, every entry asked
// for within maxIdle, and drops the others. Called on each new head, it keeps
// an active payer's balance fresh, so its payments never wait on a load. A
// failed reload leaves the entry to expire by its TTL.
func (c *Cache[V]) Refresh(ctx context.Context, maxIdle time.Duration, parallel int) {
	now := c.now()
	type job struct {
		key  string
		load func(context.Context) (V, error)
	}
	var jobs []job
	c.mu.Lock()
	for _, k := range c.entries.Keys() {
		e, _ := c.entries.Peek(k)
		if now.Sub(e.used) > maxIdle || e.load == nil {
			c.entries.Remove(k)
			continue
		}
		jobs = append(jobs, job{k, e.load})
	}
	c.mu.Unlock()
	sem := make(chan struct{}, max(1, parallel))
	var wg sync.WaitGroup
	for _, j := range jobs {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			start := c.now()
			if v, err := j.load(ctx); err == nil {
				c.refreshed(j.key, v, start, j.load)
			}
		}()
	}
	wg.Wait()
}

// refreshed stores a reloaded value (its load began at `at`) without making
// its entry more recently used than it was: only being asked for does that.
// A value from a later load is kept.
func (c *Cache[V]) refreshed(key string, v V, at time.Time, load func(context.Context) (V, error)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	old, ok := c.entries.Peek(key)
	if !ok || old.at.After(at) {
		return // evicted meanwhile (let it go), or newer already
	}
	old.v, old.at, old.load = v, at, load
	c.entries.Add(key, old)
}

// Len is the number of cached entries.
func (c *Cache[V]) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.entries.Len()
}
