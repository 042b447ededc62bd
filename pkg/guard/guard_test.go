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
	a := guard.New(env.KeyValue(t, events.BucketReplay), env.KeyValue(t, events.BucketUsed)) // replica A's connection
	b := guard.New(env.KeyValue(t, events.BucketReplay), env.KeyValue(t, events.BucketUsed)) // replica B's connection
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
	_ = b.Release(ctx, key, guard.Claim{}, revA+100)
	if h, err := a.Lookup(ctx, key); err != nil || h == nil || h.Claim.Fingerprint != "fp-a" {
		t.Fatalf("after a release with a wrong revision: Lookup = %+v, %v; want A's claim kept", h, err)
	}
	if err := a.Release(ctx, key, guard.Claim{}, revA); err != nil {
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
		guards[i] = guard.New(env.KeyValue(t, events.BucketReplay), env.KeyValue(t, events.BucketUsed))
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

func TestPermanentClaims(t *testing.T) {
	env := testenv.StartJetStream(t)
	g := guard.New(env.KeyValue(t, events.BucketReplay), env.KeyValue(t, events.BucketUsed))
	ctx := context.Background()
	key := "evm.1337.hash.0xabc"
	if _, err := g.Acquire(ctx, key, guard.Claim{Fingerprint: "fp", Permanent: true}); err != nil {
		t.Fatalf("Acquire permanent: %v", err)
	}
	// The key lives in the bucket without a TTL, and Lookup finds it there.
	used := env.KeyValue(t, events.BucketUsed)
	if _, err := used.Get(ctx, key); err != nil {
		t.Fatalf("permanent key not in %s: %v", events.BucketUsed, err)
	}
	st, err := used.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.TTL() != 0 {
		t.Errorf("bucket %s TTL: got %s, want none (client-broadcast payments are remembered for good)", events.BucketUsed, st.TTL())
	}
	if h, err := g.Lookup(ctx, key); err != nil || h == nil || !h.Claim.Permanent {
		t.Fatalf("Lookup = %+v, %v; want the permanent claim", h, err)
	}
	if _, err := g.Acquire(ctx, key, guard.Claim{Fingerprint: "other", Permanent: true}); h402.ReasonOf(err, "") != h402.ReasonPaymentAlreadyUsed {
		t.Fatalf("second Acquire: %v, want payment_already_used", err)
	}
	noUsed := guard.New(env.KeyValue(t, events.BucketReplay), nil)
	if _, err := noUsed.Acquire(ctx, "evm.1337.hash.0xdef", guard.Claim{Permanent: true}); err == nil {
		t.Fatal("a permanent claim without the used bucket was accepted")
	}
}

// LookupKind reads the bucket a key's kind lives in: an expiring key from
// the replay bucket alone; a permanent one from the used bucket, then from
// the replay bucket (claimed before its kind was kept for good).
func TestLookupKind(t *testing.T) {
	env := testenv.StartJetStream(t)
	g := guard.New(env.KeyValue(t, events.BucketReplay), env.KeyValue(t, events.BucketUsed))
	ctx := context.Background()
	if _, err := g.Acquire(ctx, "evm.1337.tx.a.1", guard.Claim{Fingerprint: "new", Permanent: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := g.Acquire(ctx, "evm.1337.tx.a.0", guard.Claim{Fingerprint: "legacy"}); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		key       string
		permanent bool
		want      string
	}{
		{"evm.1337.tx.a.1", true, "new"},
		{"evm.1337.tx.a.0", true, "legacy"},
		{"evm.1337.tx.a.0", false, "legacy"},
		{"evm.1337.tx.a.1", false, ""}, // an expiring kind never reads the used bucket
	} {
		h, err := g.LookupKind(ctx, tt.key, tt.permanent)
		got := ""
		if h != nil {
			got = h.Claim.Fingerprint
		}
		if err != nil || got != tt.want {
			t.Errorf("LookupKind(%s, %v) = %q, %v; want %q", tt.key, tt.permanent, got, err, tt.want)
		}
	}
}
