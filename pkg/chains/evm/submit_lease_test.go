package evm_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum"

	"github.com/h402/settlement/pkg/chains"
	"github.com/h402/settlement/pkg/chains/evm"
	"github.com/h402/settlement/pkg/events"
	"github.com/h402/settlement/pkg/lease"
	"github.com/h402/settlement/pkg/settler"
	"github.com/h402/settlement/pkg/testenv"
)

// TestLeaseCheckedRightBeforeBroadcast: the signing key's lease (a real one,
// in the h402_leases bucket) ends after the batch transaction is signed and
// claimed but before it is broadcast, and another holder takes the key. The
// Submitter must not broadcast: the next holder owns the key's nonces now.
func TestLeaseCheckedRightBeforeBroadcast(t *testing.T) {
	b := newBench(t, 2)
	env := testenv.StartJetStream(t)
	_, js := env.Connect(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	claims, err := settler.OpenClaims(ctx, js, env.Streams)
	if err != nil {
		t.Fatal(err)
	}
	leases, err := lease.Open(ctx, js, lease.Config{TTL: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	keys := []lease.Key{{ID: "evm.test.key0"}}
	l, err := leases.Acquire(ctx, keys, "replica-a")
	if err != nil {
		t.Fatal(err)
	}
	var taken *lease.Lease
	s := b.submitter(t, b.pool(t), 0, evm.SubmitterOptions{
		CanSign: l.Check,
		BeforeBroadcast: func(ctx context.Context, _ chains.Tx) error {
			// The lease ends here and replica-b takes the key.
			if err := l.Release(ctx); err != nil {
				return err
			}
			var err error
			taken, err = leases.Acquire(ctx, keys, "replica-b")
			return err
		},
	})
	e := b.authorization(t, b.chain.Payers()[0], 5_000, evm.AuthorizationOptions{})
	res, _ := s.Submit(ctx, []*events.PaymentAccepted{e}, claims)
	if taken == nil {
		t.Fatal("the hook did not run: nothing was signed and claimed")
	}
	t.Cleanup(func() { _ = taken.Release(context.Background()) })
	if res[0].Err == nil || !errors.Is(res[0].Err, evm.ErrKeyLost) {
		t.Fatalf("got result %+v, want ErrKeyLost", res[0])
	}
	rec, err := claims.Lookup(ctx, e.ID)
	if err != nil || rec == nil {
		t.Fatalf("claim: got %v, %v; want the recorded transaction", rec, err)
	}
	_, _, err = b.chain.Client().TransactionByHash(ctx, hashOf(rec.Hash))
	if !errors.Is(err, ethereum.NotFound) {
		t.Fatalf("transaction %s: got %v, want not found (never broadcast after the lease ended)", rec.Hash, err)
	}
}
