package lease_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/h402/settlement/pkg/lease"
	"github.com/h402/settlement/pkg/testenv"
)

// secret stands for private key material in these tests.
const secret = "PRIVATE-MATERIAL-MUST-NOT-LEAK"

func keys(ids ...string) []lease.Key {
	out := make([]lease.Key, len(ids))
	for i, id := range ids {
		out[i] = lease.Key{ID: id, Secret: []byte(secret + id)}
	}
	return out
}

// open starts a lease manager on its own connection (one per simulated replica).
func open(t *testing.T, env *testenv.JetStream, cfg lease.Config) *lease.Leases {
	t.Helper()
	_, js := env.Connect(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ls, err := lease.Open(ctx, js, cfg)
	if err != nil {
		t.Fatalf("open leases: %v", err)
	}
	return ls
}

func acquire(t *testing.T, ls *lease.Leases, ks []lease.Key, holder string) *lease.Lease {
	t.Helper()
	l, err := ls.Acquire(t.Context(), ks, holder)
	if err != nil {
		t.Fatalf("%s: acquire: %v", holder, err)
	}
	t.Cleanup(func() { _ = l.Release(context.Background()) })
	return l
}

// waitEntry waits on a KV watch for an entry of key with operation op.
func waitEntry(t *testing.T, w jetstream.KeyWatcher, op jetstream.KeyValueOp, timeout time.Duration) jetstream.KeyValueEntry {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case e := <-w.Updates():
			if e != nil && e.Operation() == op {
				return e
			}
		case <-deadline:
			t.Fatalf("no %s entry within %s", op, timeout)
			return nil
		}
	}
}

func TestAcquireExclusive(t *testing.T) {
	env := testenv.StartJetStream(t)
	a := open(t, env, lease.Config{TTL: 5 * time.Second})
	b := open(t, env, lease.Config{TTL: 5 * time.Second})
	ks := keys("0xaaa", "0xbbb")

	la := acquire(t, a, ks, "replica-a")
	lb := acquire(t, b, ks, "replica-b")
	if la.Key().ID == lb.Key().ID {
		t.Fatalf("got both holders on key %s, want distinct keys", la.Key().ID)
	}
	if _, err := b.Acquire(t.Context(), ks, "replica-c"); !errors.Is(err, lease.ErrNoneFree) {
		t.Fatalf("third holder: got %v, want ErrNoneFree", err)
	}
	if err := la.Check(); err != nil {
		t.Fatalf("holder a: Check got %v, want nil", err)
	}

	// Released, the key is free at once for someone else.
	if err := la.Release(context.Background()); err != nil {
		t.Fatalf("release: %v", err)
	}
	if err := la.Check(); !errors.Is(err, lease.ErrReleased) {
		t.Fatalf("after release: Check got %v, want ErrReleased", err)
	}
	lc := acquire(t, b, ks, "replica-c")
	if lc.Key().ID != la.Key().ID {
		t.Fatalf("replica-c got %s, want the released %s", lc.Key().ID, la.Key().ID)
	}
}

func TestAcquireRace(t *testing.T) {
	env := testenv.StartJetStream(t)
	const n = 8
	managers := make([]*lease.Leases, n)
	for i := range managers {
		managers[i] = open(t, env, lease.Config{TTL: 5 * time.Second})
	}
	var (
		mu      sync.Mutex
		winners []string
		wg      sync.WaitGroup
	)
	for i, m := range managers {
		wg.Go(func() {
			l, err := m.Acquire(t.Context(), keys("0xone"), fmt.Sprintf("replica-%d", i))
			switch {
			case err == nil:
				mu.Lock()
				winners = append(winners, l.Holder())
				mu.Unlock()
				t.Cleanup(func() { _ = l.Release(context.Background()) })
			case !errors.Is(err, lease.ErrNoneFree):
				t.Errorf("replica-%d: got %v, want success or ErrNoneFree", i, err)
			}
		})
	}
	wg.Wait()
	if len(winners) != 1 {
		t.Fatalf("got %d holders of one key (%v), want exactly 1", len(winners), winners)
	}
}

func TestRenewalKeepsLease(t *testing.T) {
	env := testenv.StartJetStream(t)
	cfg := lease.Config{TTL: time.Second}
	a := open(t, env, cfg)
	b := open(t, env, cfg)
	w, err := a.KeyValue().Watch(t.Context(), "0xkey", jetstream.UpdatesOnly())
	if err != nil {
		t.Fatalf("watch: %v", err)
	}
	defer w.Stop()

	la := acquire(t, a, keys("0xkey"), "replica-a")
	first := waitEntry(t, w, jetstream.KeyValuePut, 5*time.Second).Revision()
	// Three renewals span more than two TTLs: the lease outlives its TTL
	// because it is renewed, and nobody else can take it meanwhile.
	last := first
	for range 3 {
		last = waitEntry(t, w, jetstream.KeyValuePut, 5*time.Second).Revision()
		if _, err := b.Acquire(t.Context(), keys("0xkey"), "replica-b"); !errors.Is(err, lease.ErrNoneFree) {
			t.Fatalf("while renewed: got %v, want ErrNoneFree", err)
		}
	}
	if last <= first {
		t.Fatalf("got revision %d after renewals, want above %d", last, first)
	}
	if err := la.Check(); err != nil {
		t.Fatalf("after renewals: Check got %v, want nil", err)
	}
}

func TestExpiry(t *testing.T) {
	t.Run("crashed holder", func(t *testing.T) {
		env := testenv.StartJetStream(t)
		cfg := lease.Config{TTL: time.Second}
		b := open(t, env, cfg)
		kv := b.KeyValue()
		w, err := kv.Watch(t.Context(), "0xkey", jetstream.UpdatesOnly())
		if err != nil {
			t.Fatalf("watch: %v", err)
		}
		defer w.Stop()

		// A holder that crashed leaves its entry and never renews it: the
		// test writes that entry itself.
		if _, err := kv.Create(t.Context(), "0xkey", []byte(`{"holder":"crashed"}`)); err != nil {
			t.Fatalf("write crashed holder's entry: %v", err)
		}
		waitEntry(t, w, jetstream.KeyValuePut, 5*time.Second)
		if _, err := b.Acquire(t.Context(), keys("0xkey"), "replica-b"); !errors.Is(err, lease.ErrNoneFree) {
			t.Fatalf("before expiry: got %v, want ErrNoneFree", err)
		}
		waitEntry(t, w, jetstream.KeyValuePurge, 10*time.Second) // the server's TTL marker
		l := acquire(t, b, keys("0xkey"), "replica-b")
		if l.Key().ID != "0xkey" {
			t.Fatalf("got key %s, want 0xkey", l.Key().ID)
		}
	})

	t.Run("holder cut off", func(t *testing.T) {
		env := testenv.StartJetStream(t)
		cfg := lease.Config{TTL: time.Second}
		nc, js := env.Connect(t)
		a, err := lease.Open(t.Context(), js, cfg)
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		b := open(t, env, cfg)
		w, err := b.KeyValue().Watch(t.Context(), "0xkey", jetstream.UpdatesOnly())
		if err != nil {
			t.Fatalf("watch: %v", err)
		}
		defer w.Stop()

		la, err := a.Acquire(t.Context(), keys("0xkey"), "replica-a")
		if err != nil {
			t.Fatalf("acquire: %v", err)
		}
		waitEntry(t, w, jetstream.KeyValuePut, 5*time.Second)
		nc.Close() // replica a loses NATS: its renewals fail

		select {
		case <-la.Lost():
		case <-time.After(10 * time.Second):
			t.Fatal("holder a was not told it lost the lease")
		}
		if err := la.Check(); !errors.Is(err, lease.ErrLost) {
			t.Fatalf("cut-off holder: Check got %v, want ErrLost", err)
		}
		waitEntry(t, w, jetstream.KeyValuePurge, 10*time.Second)
		lb := acquire(t, b, keys("0xkey"), "replica-b")
		if lb.Holder() != "replica-b" {
			t.Fatalf("got holder %s, want replica-b", lb.Holder())
		}
	})
}

func TestContextEndReleases(t *testing.T) {
	env := testenv.StartJetStream(t)
	a := open(t, env, lease.Config{TTL: 5 * time.Second})
	w, err := a.KeyValue().Watch(t.Context(), "0xkey", jetstream.UpdatesOnly())
	if err != nil {
		t.Fatalf("watch: %v", err)
	}
	defer w.Stop()
	ctx, cancel := context.WithCancel(t.Context())
	l, err := a.Acquire(ctx, keys("0xkey"), "replica-a")
	if err != nil {
		t.Fatalf("acquire: %v", err)
	}
	cancel()
	<-l.Lost()
	if err := l.Check(); !errors.Is(err, lease.ErrReleased) {
		t.Fatalf("after ctx end: Check got %v, want ErrReleased", err)
	}
	waitEntry(t, w, jetstream.KeyValueDelete, 5*time.Second)
	acquire(t, a, keys("0xkey"), "replica-b")
}

func TestKeyNeverPrintsSecret(t *testing.T) {
	k := keys("0xabc")[0]
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	log.Info("x", "key", k)
	log.Info("y", "keys", keys("0xabc", "0xdef"))
	for _, got := range []string{fmt.Sprint(k), fmt.Sprintf("%v %+v %#v %s %q", k, k, k, k, k), buf.String(), fmt.Sprintf("%v", keys("0xabc"))} {
		if strings.Contains(got, secret) {
			t.Fatalf("got %q, want no secret material", got)
		}
		if !strings.Contains(got, "0xabc") {
			t.Fatalf("got %q, want the key id", got)
		}
	}
}

func TestAcquireRejectsBadInput(t *testing.T) {
	env := testenv.StartJetStream(t)
	a := open(t, env, lease.Config{})
	tests := []struct {
		name   string
		keys   []lease.Key
		holder string
	}{
		{"empty holder", keys("0xabc"), ""},
		{"id with a space", keys("0x abc"), "h"},
		{"id with a wildcard", keys("0x*"), "h"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := a.Acquire(t.Context(), tc.keys, tc.holder); err == nil || errors.Is(err, lease.ErrNoneFree) {
				t.Fatalf("got %v, want an input error", err)
			}
		})
	}
}

// TestAcquireReclaimsOwnEntry: an entry the server still holds under this
// holder's name (its lease lost on its side only) is taken back by the same
// holder; a different holder finds the key taken.
func TestAcquireReclaimsOwnEntry(t *testing.T) {
	env := testenv.StartJetStream(t)
	ls := open(t, env, lease.Config{TTL: 5 * time.Second})
	kv := env.KeyValue(t, lease.Bucket)
	if _, err := kv.Put(t.Context(), "0xkey", []byte(`{"holder":"replica-a.1"}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := ls.Acquire(t.Context(), keys("0xkey"), "replica-b.1"); !errors.Is(err, lease.ErrNoneFree) {
		t.Fatalf("another holder: got %v, want ErrNoneFree", err)
	}
	l := acquire(t, ls, keys("0xkey"), "replica-a.1")
	if err := l.Check(); err != nil {
		t.Fatalf("reclaimed lease: Check got %v, want nil", err)
	}
}
