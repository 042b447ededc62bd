package guard_test

import (
	"context"
	"testing"
	"time"

	"github.com/h402/settlement/pkg/events"
	"github.com/h402/settlement/pkg/guard"
	"github.com/h402/settlement/pkg/h402"
	"github.com/h402/settlement/pkg/testenv"
)

func TestAcquireAcrossReplicas(t *testing.T) {
	env := testenv.StartJetStream(t)
	a := guard.New(env.KeyValue(t, events.BucketReplay)) // replica A's connection
	b := guard.New(env.KeyValue(t, events.BucketReplay)) // replica B's connection
	ctx := context.Background()
	key := "evm.1337.auth.0xt.0xf.0x01"

	revA, err := a.Acquire(ctx, key, guard.Claim{Fingerprint: "fp-a", At: time.Unix(100, 0).UTC(), Replica: "a"})
	if err != nil {
		t.Fatalf("A Acquire: %v", err)
	}
	_, err = b.Acquire(ctx, key, guard.Claim{Fingerprint: "fp-b", Replica: "b"})
	if got := h402.ReasonOf(err, ""); got != h402.ReasonPaymentAlreadyUsed {
		t.Fatalf("B Acquire of a held key: reason %q, want %q (err %v)", got, h402.ReasonPaymentAlreadyUsed, err)
	}
	held, ok := guard.HeldBy(err)
	if !ok || held.Claim.Fingerprint != "fp-a" || held.Revision != revA {
		t.Fatalf("HeldBy = %+v, %v; want A's claim at revision %d", held, ok, revA)
	}

	// A stale release (wrong revision) must not free the key.
	_ = b.Release(ctx, key, revA+100)
	if h, err := a.Lookup(ctx, key); err != nil || h == nil || h.Claim.Fingerprint != "fp-a" {
		t.Fatalf("after a release with a wrong revision: Lookup = %+v, %v; want A's claim kept", h, err)
	}
	if err := a.Release(ctx, key, revA); err != nil {
		t.Fatalf("A Release: %v", err)
	}
	if h, err := b.Lookup(ctx, key); err != nil || h != nil {
		t.Fatalf("Lookup after release = %+v, %v; want nothing", h, err)
	}
	if _, err := b.Acquire(ctx, key, guard.Claim{Fingerprint: "fp-b"}); err != nil {
		t.Fatalf("B Acquire after release: %v", err)
	}
}

func TestAcquireRace(t *testing.T) {
	env := testenv.StartJetStream(t)
	const replicas = 4
	guards := make([]*guard.Guard, replicas)
	for i := range guards {
		guards[i] = guard.New(env.KeyValue(t, events.BucketReplay))
	}
	results := make(chan error, replicas)
	for _, g := range guards {
		go func(g *guard.Guard) {
			_, err := g.Acquire(context.Background(), "solana.localnet.msg.abc", guard.Claim{Fingerprint: "x"})
			results <- err
		}(g)
	}
	wins := 0
	for range guards {
		err := <-results
		switch {
		case err == nil:
			wins++
		case h402.ReasonOf(err, "") != h402.ReasonPaymentAlreadyUsed:
			t.Errorf("loser error = %v, want payment_already_used", err)
		}
	}
	if wins != 1 {
		t.Fatalf("%d replicas acquired one key, want exactly 1", wins)
	}
}
