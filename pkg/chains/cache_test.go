package chains

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

func TestCacheTTL(t *testing.T) {
	c := NewCache[int](time.Second, 10)
	now := time.Unix(0, 0)
	c.now = func() time.Time { return now }
	var loads int
	load := func(context.Context) (int, error) { loads++; return 7, nil }
	if v, err := c.Get(context.Background(), "k", load); err != nil || v != 7 || loads != 1 {
		t.Fatalf("first Get = %d, %v after %d loads; want 7 after 1", v, err, loads)
	}
	if _, err := c.Get(context.Background(), "k", load); err != nil || loads != 1 {
		t.Errorf("a fresh entry was loaded again: %d loads, want 1", loads)
	}
	now = now.Add(time.Second)
	if _, err := c.Get(context.Background(), "k", load); err != nil || loads != 2 {
		t.Errorf("a stale entry was not reloaded: %d loads, want 2", loads)
	}
}

func TestCacheErrorsAreNotCached(t *testing.T) {
	c := NewCache[int](time.Hour, 10)
	boom := errors.New("rpc down")
	if _, err := c.Get(context.Background(), "k", func(context.Context) (int, error) { return 0, boom }); !errors.Is(err, boom) {
		t.Fatalf("err = %v, want %v", err, boom)
	}
	v, err := c.Get(context.Background(), "k", func(context.Context) (int, error) { return 3, nil })
	if err != nil || v != 3 {
		t.Errorf("after an error: Get = %d, %v; want 3 loaded anew", v, err)
	}
}

func TestCacheBounded(t *testing.T) {
	c := NewCache[int](time.Hour, 4)
	for i := 0; i < 100; i++ {
		_, _ = c.Get(context.Background(), string(rune('a'+i%26))+string(rune('a'+i/26)), func(context.Context) (int, error) { return i, nil })
	}
	if n := c.Len(); n > 4 {
		t.Errorf("cache holds %d entries, want at most 4", n)
	}
}

// TestCacheRefresh: a refresh reloads what was asked for recently, so the
// next Get is served without a load, and drops what went idle.
func TestCacheRefresh(t *testing.T) {
	c := NewCache[int](time.Second, 100)
	now := time.Unix(0, 0)
	c.now = func() time.Time { return now }
	balance := map[string]int{"active": 1, "idle": 1}
	var loads atomic.Int64
	loader := func(k string) func(context.Context) (int, error) {
		return func(context.Context) (int, error) { loads.Add(1); return balance[k], nil }
	}
	for _, k := range []string{"active", "idle"} {
		if _, err := c.Get(context.Background(), k, loader(k)); err != nil {
			t.Fatal(err)
		}
	}
	now = now.Add(10 * time.Second)
	_, _ = c.Get(context.Background(), "active", loader("active")) // stale: loads, and counts as use
	balance["active"] = 5                                          // the chain moved
	before := loads.Load()
	c.Refresh(context.Background(), 5*time.Second, 4)
	if got := loads.Load() - before; got != 1 {
		t.Errorf("refresh made %d loads, want 1 (the active entry only)", got)
	}
	if c.Len() != 1 {
		t.Errorf("after refresh %d entries, want the idle one dropped", c.Len())
	}
	before = loads.Load()
	v, err := c.Get(context.Background(), "active", func(context.Context) (int, error) { t.Fatal("loaded on the hot path"); return 0, nil })
	if err != nil || v != 5 || loads.Load() != before {
		t.Errorf("Get after refresh = %d, %v; want the refreshed 5 without a load", v, err)
	}
}

// TestCacheLRU: a full cache evicts its least recently used entry, not
// everything: a hot entry survives a flood of new keys.
func TestCacheLRU(t *testing.T) {
	c := NewCache[int](time.Hour, 4)
	ctx := context.Background()
	var loads int
	load := func(context.Context) (int, error) { loads++; return loads, nil }
	for _, k := range []string{"hot", "b", "c", "d"} {
		if _, err := c.Get(ctx, k, load); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 100; i++ {
		if _, err := c.Get(ctx, "hot", load); err != nil { // used between each new key
			t.Fatal(err)
		}
		if _, err := c.Get(ctx, "new"+string(rune('a'+i%26))+string(rune('a'+i/26)), load); err != nil {
			t.Fatal(err)
		}
		if n := c.Len(); n > 4 {
			t.Fatalf("cache holds %d entries, want at most 4", n)
		}
	}
	before := loads
	if _, err := c.Get(ctx, "hot", load); err != nil || loads != before {
		t.Errorf("the hot entry was evicted: %d loads after the flood, want 0", loads-before)
	}
	if c.Len() != 4 {
		t.Errorf("cache holds %d entries, want 4 (full, not wiped)", c.Len())
	}
}

// TestCacheMissBudget: misses (unknown keys) are charged to the caller's
// budget and refused with a retry delay past it; keys the cache holds are
// never charged, and another caller has its own budget.
func TestCacheMissBudget(t *testing.T) {
	c := NewCache[int](time.Hour, 100)
	b := NewMissBudget(1, 2, 10)
	now := time.Unix(1000, 0)
	b.now = func() time.Time { return now }
	load := func(context.Context) (int, error) { return 1, nil }
	alice := WithMissBudget(context.Background(), b, "alice")
	for _, k := range []string{"p1", "p2"} {
		if _, err := c.Get(alice, k, load); err != nil {
			t.Fatalf("miss %s within the burst: %v", k, err)
		}
	}
	_, err := c.Get(alice, "p3", load)
	var rl *RateLimitError
	if !errors.Is(err, ErrRateLimited) || !errors.As(err, &rl) || rl.RetryAfter <= 0 || rl.RetryAfter > time.Second {
		t.Fatalf("third miss: err = %v, want ErrRateLimited with a retry within 1s", err)
	}
	for i := 0; i < 50; i++ {
		if _, err := c.Get(alice, "p1", load); err != nil {
			t.Fatalf("known key refused over budget: %v", err)
		}
	}
	if _, err := c.Get(WithMissBudget(context.Background(), b, "bob"), "p4", load); err != nil {
		t.Errorf("another caller was charged for alice's misses: %v", err)
	}
	now = now.Add(time.Second)
	if _, err := c.Get(alice, "p3", load); err != nil {
		t.Errorf("after a second the budget has one token again: %v", err)
	}
	if NewMissBudget(0, 10, 10) != nil {
		t.Error("a rate of 0 must disable the budget")
	}
}

// TestCacheGetAt: a value whose load began before notBefore is loaded
// again, even within its TTL, and a load shared with a caller that began
// before notBefore is not taken; the returned time is when the load began.
func TestCacheGetAt(t *testing.T) {
	c := NewCache[int](time.Hour, 10)
	var mu atomic.Int64
	c.now = func() time.Time { return time.Unix(mu.Load(), 0) }
	ctx := context.Background()
	var loads atomic.Int32
	load := func(context.Context) (int, error) { return int(loads.Add(1)), nil }

	mu.Store(10)
	if v, at, err := c.GetAt(ctx, "k", time.Time{}, load); err != nil || v != 1 || !at.Equal(time.Unix(10, 0)) {
		t.Fatalf("first GetAt = %d, %v, %v; want 1 loaded at 10", v, at, err)
	}
	mu.Store(20)
	if v, at, err := c.GetAt(ctx, "k", time.Unix(10, 0), load); err != nil || v != 1 || !at.Equal(time.Unix(10, 0)) {
		t.Errorf("GetAt not before the load = %d, %v, %v; want the cached 1 from 10", v, at, err)
	}
	if v, at, err := c.GetAt(ctx, "k", time.Unix(15, 0), load); err != nil || v != 2 || !at.Equal(time.Unix(20, 0)) {
		t.Fatalf("GetAt not before 15 = %d, %v, %v; want a new load (2) at 20", v, at, err)
	}
	if v, err := c.Get(ctx, "k", load); err != nil || v != 2 {
		t.Errorf("Get after a forced load = %d, %v; want the newer 2", v, err)
	}

	// A load in flight that began at 20 is not good for notBefore 25.
	release := make(chan struct{})
	started := make(chan struct{})
	slow := func(context.Context) (int, error) { close(started); <-release; return 100, nil }
	mu.Store(20)
	done := make(chan int)
	go func() { v, _, _ := c.GetAt(ctx, "s", time.Time{}, slow); done <- v }()
	<-started
	mu.Store(25)
	got := make(chan int)
	go func() {
		v, at, err := c.GetAt(ctx, "s", time.Unix(25, 0), load)
		if err != nil || at.Before(time.Unix(25, 0)) {
			t.Errorf("GetAt joined a load too old: %v, %v", at, err)
		}
		got <- v
	}()
	close(release)
	if v := <-done; v != 100 {
		t.Errorf("slow load = %d, want 100", v)
	}
	if v := <-got; v == 100 {
		t.Errorf("GetAt not before 25 took the load begun at 20")
	}
	if v, at, _ := c.GetAt(ctx, "s", time.Time{}, load); v == 100 || at.Before(time.Unix(25, 0)) {
		t.Errorf("the older load overwrote the newer: %d from %v", v, at)
	}
}
