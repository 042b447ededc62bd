package receipts_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/h402/settlement/pkg/receipts"
	"github.com/h402/settlement/pkg/testenv"
)

// TestWidenedNetworks: a client for two of a seller's three networks acks
// the third's receipts unhandled; started again for all networks (the
// consumer's filter is the same, receipts.<payTo>.evm.>), it hands over
// the third network's receipts stored before, at once: before the fix they
// stayed behind the consumer's position until a new receipt on that network
// showed a gap (and if none ever came, never).
func TestWidenedNetworks(t *testing.T) {
	env := testenv.StartJetStream(t)
	_, js := env.Connect(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db := filepath.Join(t.TempDir(), "seller.db")
	pub := newPublisher(js)
	pub.publish(t, ctx, 9, "1", "8453", "1337")
	r, store := startRun(t, js, db, receipts.Config{Consumer: "seller-widen", Networks: []string{"8453", "1337"}})
	got := r.waitHandled(t, 6)
	wantSeqs(t, got, mustSubject(t, "8453"), 1, 3)
	wantSeqs(t, got, mustSubject(t, "1337"), 1, 3)
	r.stop(t, store)

	r, store = startRun(t, js, db, receipts.Config{Consumer: "seller-widen"})
	wantSeqs(t, r.waitHandled(t, 3), mustSubject(t, "1"), 1, 3)
	r.stop(t, store)
	store, err := receipts.OpenBolt(db)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	checkStore(t, store, streamIDs(t, ctx, js))
}
