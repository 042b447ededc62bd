package lease_test

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/h402/settlement/pkg/lease"
	"github.com/h402/settlement/pkg/testenv"
)

// TestKeeperReacquires: a kept lease is taken over (its entry overwritten,
// as a lapse and another holder would leave it); the Keeper reports the
// loss, waits while the key is someone else's, and holds it again once it
// is free, without anyone restarting it.
func TestKeeperReacquires(t *testing.T) {
	env := testenv.StartJetStream(t)
	ls := open(t, env, lease.Config{TTL: 3 * time.Second})
	kv := env.KeyValue(t, lease.Bucket)
	reg := prometheus.NewRegistry()
	m := lease.NewMetrics(reg)
	ctx, cancel := context.WithCancel(context.Background())
	k := ls.Keep(ctx, keys("0xkey"), "replica-a.1", lease.KeepOptions{Network: "evm.1", Metrics: m, RetryMin: 10 * time.Millisecond, RetryMax: 100 * time.Millisecond})
	t.Cleanup(func() { cancel(); <-k.Done() })

	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	first, err := k.Wait(wctx)
	if err != nil {
		t.Fatalf("first lease: %v", err)
	}
	if err := k.Check(); err != nil {
		t.Fatalf("Check while held: %v", err)
	}

	// Someone else writes the entry: the next renewal finds it taken.
	if _, err := kv.Put(wctx, "0xkey", []byte(`{"holder":"intruder"}`)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-first.Lost():
	case <-wctx.Done():
		t.Fatal("the taken-over lease was not reported lost")
	}
	if err := first.Check(); err == nil {
		t.Fatal("old lease: Check got nil, want lost")
	}
	// The intruder leaves; the Keeper takes the key again.
	if err := kv.Delete(wctx, "0xkey"); err != nil {
		t.Fatal(err)
	}
	var again *lease.Lease
	for again == nil || again == first {
		if again, err = k.Wait(wctx); err != nil {
			t.Fatalf("re-acquire: %v", err)
		}
	}
	if got := testutil.ToFloat64(m.Acquired().WithLabelValues("evm.1")); got != 2 {
		t.Errorf("h402_lease_acquired_total: got %v, want 2", got)
	}
	if got := testutil.ToFloat64(m.Lost().WithLabelValues("evm.1")); got != 1 {
		t.Errorf("h402_lease_lost_total: got %v, want 1", got)
	}
}
