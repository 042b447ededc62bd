package chains

import (
	"context"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
)

// Cache keeps chain state (balances, nonces) for a short time so that a known
// payer's payment is verified without an RPC round trip. Concurrent misses on
// one key share one load. It is bounded: past max entries, expired entries
// are dropped, then the whole cache if it is still full.
type Cache[V any] struct {
	ttl   time.Duration
	max   int
	now   func() time.Time
	group singleflight.Group

	mu      sync.Mutex
	entries map[string]cacheEntry[V]
}

type cacheEntry[V any] struct {
	v    V
	at   time.Time                        // when v was loaded
	used time.Time                        // when v was last asked for
	load func(context.Context) (V, error) // how to load it again
}

// NewCache returns a cache keeping values for ttl, at most max of them.
func NewCache[V any](ttl time.Duration, max int) *Cache[V] {
	return &Cache[V]{ttl: ttl, max: max, now: time.Now, entries: map[string]cacheEntry[V]{}}
}

// Get returns the cached value of key, loading it when absent or stale.
func (c *Cache[V]) Get(ctx context.Context, key string, load func(context.Context) (V, error)) (V, error) {
	now := c.now()
	c.mu.Lock()
	e, ok := c.entries[key]
	if ok {
		e.used = now
		c.entries[key] = e
	}
	c.mu.Unlock()
	if ok && now.Sub(e.at) < c.ttl {
		return e.v, nil
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
	if len(c.entries) >= c.max {
		for k, e := range c.entries {
			if now.Sub(e.at) >= c.ttl {
				delete(c.entries, k)
			}
		}
		if len(c.entries) >= c.max {
			clear(c.entries)
		}
	}
	used := now
	if old, ok := c.entries[key]; ok {
		used = old.used
	}
	c.entries[key] = cacheEntry[V]{v: v, at: now, used: used, load: load}
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
	for k, e := range c.entries {
		if now.Sub(e.used) > maxIdle || e.load == nil {
			delete(c.entries, k)
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
				c.store(j.key, v, j.load)
			}
		}()
	}
	wg.Wait()
}

// Len is the number of cached entries.
func (c *Cache[V]) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}
