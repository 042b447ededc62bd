package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/h402/settlement/pkg/events"
	"github.com/h402/settlement/pkg/h402"
	"github.com/h402/settlement/pkg/receipts"
)

// TestSellerReceiptsClient: a seller's receipts client (pkg/receipts) on
// the real pipeline: payments through the ingest, settler and watcher
// processes on the EVM dev chain reach the seller's handler once each,
// finalized, with the amounts paid, in sellerSeq order; the client stops
// half way and starts again on its store.
func TestSellerReceiptsClient(t *testing.T) {
	if testing.Short() {
		t.Skip("payments through every process")
	}
	p := startPipelineWith(t, pipelineOptions{blockPeriod: time.Second})
	seller := freshAddress()
	bodies, amounts := p.evmAuthorizations(t, 20, seller, 10_000)
	p.startSettler(t)
	p.startWatcher(t, "watcher-a", filepath.Join(t.TempDir(), "a.db"))
	_, js := p.js.Connect(t)
	db := filepath.Join(t.TempDir(), "seller.db")

	// run starts the client on the store, waits for n receipts, stops it.
	run := func(n int) []*events.Receipt {
		t.Helper()
		store, err := receipts.OpenBolt(db)
		if err != nil {
			t.Fatal(err)
		}
		defer store.Close()
		got := make(chan *events.Receipt, 64)
		c, err := receipts.New[*bolt.Tx](js, receipts.Config{PayTo: seller.Hex(), Namespace: h402.NamespaceEVM,
			Consumer: "seller-e2e", FetchWait: time.Second}, store,
			func(_ context.Context, tx *bolt.Tx, r *events.Receipt) error {
				b, err := tx.CreateBucketIfNotExists([]byte("paid"))
				if err != nil {
					return err
				}
				if b.Get([]byte(r.ID)) != nil {
					return fmt.Errorf("payment %s handled twice", r.ID)
				}
				got <- r
				return b.Put([]byte(r.ID), []byte(r.Amount))
			})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- c.Run(ctx) }()
		var out []*events.Receipt
		for len(out) < n {
			select {
			case r := <-got:
				out = append(out, r)
			case err := <-done:
				t.Fatalf("receipts client stopped after %d of %d: %v", len(out), n, err)
			case <-time.After(3 * time.Minute):
				t.Fatalf("receipts client handled %d of %d in 3 minutes", len(out), n)
			}
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("receipts client: %v", err)
		}
		return out
	}

	all := p.settleAll(t, 8, bodies[:10], amounts[:10], h402.NamespaceEVM)
	got := run(len(all))
	all = append(all, p.settleAll(t, 8, bodies[10:], amounts[10:], h402.NamespaceEVM)...)
	got = append(got, run(len(all)-len(got))...)

	want := map[string]int64{}
	for _, x := range all {
		want[x.id] = x.amount
	}
	for i, r := range got {
		if r.SellerSeq != uint64(i+1) {
			t.Errorf("receipt %d handled has sellerSeq %d, want %d", i, r.SellerSeq, i+1)
		}
		amount, ok := want[r.ID]
		if !ok {
			t.Errorf("handled receipt of %s, not a payment of this test", r.ID)
			continue
		}
		delete(want, r.ID)
		if r.State != events.StateFinalized || r.TxHash == "" || r.Amount != fmt.Sprint(amount) {
			t.Errorf("receipt of %s: %+v, want finalized with a tx and amount %d", r.ID, r, amount)
		}
	}
	if len(want) != 0 {
		t.Errorf("%d payments never reached the handler", len(want))
	}
}
