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
	at   time.Time                        // when v was loaded
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
	now := c.now()
	c.mu.Lock()
	e, ok := c.entries.Get(key)
	if ok {
		e.used = now
		c.entries.Add(key, e)
	}
	c.mu.Unlock()
	if ok && now.Sub(e.at) < c.ttl {
		return e.v, nil
	}
	if !ok {
		if err := chargeMiss(ctx); err != nil {
			var zero V
			return zero, err
		}
	}
	v, err, _ := c.group.Do(key, func() (any, error) {
		v, err := load(ctx)
		if err != nil {
			return v, err
		}
		c.store(key, v, load)
		return v, nil
	})
	if err != nil {
		var zero V
		return zero, err
	}
	return v.(V), nil
}

func (c *Cache[V]) store(key string, v V, load func(context.Context) (V, error)) {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	used := now
	if old, ok := c.entries.Peek(key); ok {
		used = old.used
	}
	c.entries.Add(key, cacheEntry[V]{v: v, at: now, used: used, load: load})
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
			if v, err := j.load(ctx); err == nil {
				c.refreshed(j.key, v, j.load)
			}
		}()
	}
	wg.Wait()
}

// refreshed stores a reloaded value without making its entry more recent
// than it was: only being asked for does that.
func (c *Cache[V]) refreshed(key string, v V, load func(context.Context) (V, error)) {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	old, ok := c.entries.Peek(key)
	if !ok {
		return // evicted meanwhile: let it go
	}
	old.v, old.at, old.load = v, now, load
	c.entries.Add(key, old)
}

// Len is the number of cached entries.
func (c *Cache[V]) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.entries.Len()
}
