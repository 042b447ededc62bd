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
