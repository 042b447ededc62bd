package settler

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/h402/settlement/pkg/testenv"
)

// On a replicated bucket, updates racing on one key are refused with code
// 10164 ("wrong last sequence", constant form), which nats.go marks only as
// ErrKeyRevisionMismatch, not ErrKeyExists: the claims' compare-and-set
// loops must read again on it, not fail. Every refusal the real cluster
// gives here must be recognised as a lost race.
func TestCASConflictOnReplicatedBucket(t *testing.T) {
	servers := testenv.StartCluster(t, 3)
	nc, js, err := servers[0].JetStream()
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "cas_r3", Replicas: 3})
	if err != nil {
		t.Fatal(err)
	}
	rev, err := kv.Create(ctx, "k", []byte("0"))
	if err != nil {
		t.Fatal(err)
	}
	refusals := 0
	for round := 0; round < 20; round++ {
		var wg sync.WaitGroup
		errs := make([]error, 8)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = kv.Update(ctx, "k", []byte(fmt.Sprint(round, i)), rev)
			}()
		}
		wg.Wait()
		won := 0
		for _, err := range errs {
			switch {
			case err == nil:
				won++
			case isCASConflict(err):
				refusals++
			default:
				t.Fatalf("round %d: an update that lost the race is not recognised as one: %v", round, err)
			}
		}
		if won != 1 {
			t.Fatalf("round %d: %d updates of revision %d won, want 1", round, won, rev)
		}
		e, err := kv.Get(ctx, "k")
		if err != nil {
			t.Fatal(err)
		}
		rev = e.Revision()
	}
	if refusals == 0 {
		t.Fatal("no update was refused: the test raced nothing")
	}
}
