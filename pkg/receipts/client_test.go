package receipts_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	bolt "go.etcd.io/bbolt"

	"github.com/h402/settlement/pkg/events"
	"github.com/h402/settlement/pkg/h402"
	"github.com/h402/settlement/pkg/natsembed"
	"github.com/h402/settlement/pkg/receipts"
	"github.com/h402/settlement/pkg/testenv"
)

// run is one in-process run of a client on a store file.
type run struct {
	cancel context.CancelFunc
	done   chan error
	// handled gets "<subject> <sellerSeq>" for each receipt the handler applied.
	handled chan *events.Receipt
}

// startRun opens the store at db and runs a client on it until stop.
func startRun(t *testing.T, js jetstream.JetStream, db string, cfg receipts.Config) (*run, *receipts.BoltStore) {
	t.Helper()
	store, err := receipts.OpenBolt(db)
	if err != nil {
		t.Fatal(err)
	}
	r := &run{done: make(chan error, 1), handled: make(chan *events.Receipt, 1024)}
	if cfg.PayTo == "" {
		cfg.PayTo, cfg.Namespace = sellerEVM, h402.NamespaceEVM
	}
	cfg.FetchWait = time.Second
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	c, err := receipts.New[*bolt.Tx](js, cfg, store, func(ctx context.Context, tx *bolt.Tx, rc *events.Receipt) error {
		if err := recordHandler(ctx, tx, rc); err != nil {
			return err
		}
		r.handled <- rc
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { r.done <- c.Run(ctx) }()
	return r, store
}

// waitHandled waits for n handler calls and returns them.
func (r *run) waitHandled(t *testing.T, n int) []*events.Receipt {
	t.Helper()
	var got []*events.Receipt
	for len(got) < n {
		select {
		case rc := <-r.handled:
			got = append(got, rc)
		case err := <-r.done:
			t.Fatalf("client stopped after %d of %d receipts: %v", len(got), n, err)
		case <-time.After(30 * time.Second):
			t.Fatalf("handled %d of %d receipts in 30s", len(got), n)
		}
	}
	return got
}

// stop ends the run and wants Run to return nil.
func (r *run) stop(t *testing.T, store *receipts.BoltStore) {
	t.Helper()
	r.cancel()
	if err := <-r.done; err != nil {
		t.Fatalf("Run: %v, want nil after cancel", err)
	}
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}
}

// waitErr waits for Run to stop on its own.
func (r *run) waitErr(t *testing.T) error {
	t.Helper()
	defer r.cancel()
	select {
	case err := <-r.done:
		return err
	case rc := <-r.handled:
		t.Fatalf("handled %s, want the client to stop", rc.ID)
	case <-time.After(30 * time.Second):
		t.Fatal("client did not stop in 30s")
	}
	return nil
}

func wantSeqs(t *testing.T, got []*events.Receipt, subj string, from, to uint64) {
	t.Helper()
	var seqs []uint64
	for _, r := range got {
		s, _ := events.ReceiptSubject(r.PayTo, r.Namespace, r.NetworkID)
		if s == subj {
			seqs = append(seqs, r.SellerSeq)
		}
	}
	if uint64(len(seqs)) != to-from+1 {
		t.Fatalf("%s: handled sellerSeqs %v, want %d..%d", subj, seqs, from, to)
	}
	for i, s := range seqs {
		if s != from+uint64(i) {
			t.Fatalf("%s: handled sellerSeqs %v, want %d..%d", subj, seqs, from, to)
		}
	}
}

// TestConsumerDeleted: the durable consumer deleted between runs, and again
// while the client runs, is created again; nothing is handled twice and
// nothing is missed.
func TestConsumerDeleted(t *testing.T) {
	env := testenv.StartJetStream(t)
	_, js := env.Connect(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db := filepath.Join(t.TempDir(), "seller.db")
	cfg := receipts.Config{Consumer: "seller-deleted"}
	pub := newPublisher(js)
	subj := mustSubject(t, "8453")

	pub.publish(t, ctx, 20, "8453")
	r, store := startRun(t, js, db, cfg)
	wantSeqs(t, r.waitHandled(t, 20), subj, 1, 20)
	r.stop(t, store)

	if err := js.DeleteConsumer(ctx, events.StreamReceipts, cfg.Consumer); err != nil {
		t.Fatal(err)
	}
	pub.publish(t, ctx, 10, "8453")
	r, store = startRun(t, js, db, cfg)
	wantSeqs(t, r.waitHandled(t, 10), subj, 21, 30)

	// Deleted under a running client.
	if err := js.DeleteConsumer(ctx, events.StreamReceipts, cfg.Consumer); err != nil {
		t.Fatal(err)
	}
	pub.publish(t, ctx, 10, "8453")
	wantSeqs(t, r.waitHandled(t, 10), subj, 31, 40)
	select {
	case rc := <-r.handled:
		t.Fatalf("handled %s sellerSeq %d again", rc.ID, rc.SellerSeq)
	default:
	}
	r.stop(t, store)
	store, err := receipts.OpenBolt(db)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	checkStore(t, store, streamIDs(t, ctx, js))
}

// TestRestoredStoreRefills: a store restored from an older copy has a
// checkpoint behind the consumer; the client reads the stream again from
// the checkpoint and hands the receipts after it over again, in order.
func TestRestoredStoreRefills(t *testing.T) {
	env := testenv.StartJetStream(t)
	_, js := env.Connect(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := t.TempDir()
	db, backup := filepath.Join(dir, "seller.db"), filepath.Join(dir, "backup.db")
	cfg := receipts.Config{Consumer: "seller-restored"}
	pub := newPublisher(js)
	nets := []string{"1337", "8453"}

	pub.publish(t, ctx, 10, nets...)
	r, store := startRun(t, js, db, cfg)
	r.waitHandled(t, 10)
	r.stop(t, store)
	copyFile(t, db, backup)

	pub.publish(t, ctx, 10, nets...)
	r, store = startRun(t, js, db, cfg)
	r.waitHandled(t, 10)
	r.stop(t, store)

	copyFile(t, backup, db)
	pub.publish(t, ctx, 2, nets...)
	r, store = startRun(t, js, db, cfg)
	got := r.waitHandled(t, 12)
	wantSeqs(t, got, mustSubject(t, "1337"), 6, 11)
	wantSeqs(t, got, mustSubject(t, "8453"), 6, 11)
	r.stop(t, store)
	store, err := receipts.OpenBolt(db)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	checkStore(t, store, streamIDs(t, ctx, js))
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestMissingReceiptStops: a sellerSeq that jumps in the stream itself
// (a receipt truly missing) stops the client with a GapError naming the
// missing receipts; the receipt after the gap is not handled and not acked.
func TestMissingReceiptStops(t *testing.T) {
	env := testenv.StartJetStream(t)
	_, js := env.Connect(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db := filepath.Join(t.TempDir(), "seller.db")
	cfg := receipts.Config{Consumer: "seller-gap"}
	pub := newPublisher(js)
	pub.publish(t, ctx, 3, "8453")
	subj := mustSubject(t, "8453")
	// A writer that skipped sellerSeq 4 and 5.
	rc := receipt(99, "8453")
	rc.Version, rc.SellerSeq = events.ReceiptVersion, 6
	b, err := jsonMarshal(rc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, subj, b); err != nil {
		t.Fatal(err)
	}

	for attempt := range 2 {
		r, store := startRun(t, js, db, cfg)
		if attempt == 0 {
			wantSeqs(t, r.waitHandled(t, 3), subj, 1, 3)
		}
		err := r.waitErr(t)
		var gap *receipts.GapError
		if !errors.As(err, &gap) || !errors.Is(err, receipts.ErrGap) {
			t.Fatalf("attempt %d: Run: %v, want a GapError", attempt, err)
		}
		if gap.Subject != subj || gap.Want != 4 || gap.Got != 6 || gap.StreamSeq != 4 {
			t.Fatalf("attempt %d: got %+v, want %s 4..5 missing before 6 at stream sequence 4", attempt, gap, subj)
		}
		if err := store.Close(); err != nil {
			t.Fatal(err)
		}
	}
	info, err := js.Consumer(ctx, events.StreamReceipts, cfg.Consumer)
	if err != nil {
		t.Fatal(err)
	}
	if got := info.CachedInfo().AckFloor.Stream; got != 3 {
		t.Fatalf("consumer ack floor at stream sequence %d, want 3 (the receipt after the gap unacked)", got)
	}
}

// TestBadReceiptStops: a message on the seller's subject that is not a
// receipt (or is another seller's) stops the client with ErrBadReceipt and
// stays unacked, so the next run stops on it again.
func TestBadReceiptStops(t *testing.T) {
	cases := []struct {
		name string
		body func() []byte
	}{
		{"garbage", func() []byte { return []byte("{not json") }},
		{"unknown version", func() []byte {
			rc := receipt(7, "8453")
			rc.Version, rc.SellerSeq = 9, 1
			b, _ := jsonMarshal(rc)
			return b
		}},
		{"another seller's receipt", func() []byte {
			rc := receipt(7, "8453")
			rc.Version, rc.SellerSeq, rc.PayTo = events.ReceiptVersion, 1, "0x00000000000000000000000000000000000000ff"
			b, _ := jsonMarshal(rc)
			return b
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := testenv.StartJetStream(t)
			_, js := env.Connect(t)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			db := filepath.Join(t.TempDir(), "seller.db")
			cfg := receipts.Config{Consumer: "seller-bad"}
			if _, err := js.Publish(ctx, mustSubject(t, "8453"), tc.body()); err != nil {
				t.Fatal(err)
			}
			for attempt := range 2 {
				r, store := startRun(t, js, db, cfg)
				if err := r.waitErr(t); !errors.Is(err, receipts.ErrBadReceipt) {
					t.Fatalf("attempt %d: Run: %v, want ErrBadReceipt", attempt, err)
				}
				if err := store.Close(); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

// TestChosenNetworks: a client for two of a seller's three networks
// handles those two, in order, and never the third.
func TestChosenNetworks(t *testing.T) {
	env := testenv.StartJetStream(t)
	_, js := env.Connect(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pub := newPublisher(js)
	pub.publish(t, ctx, 9, "1", "8453", "1337")
	r, store := startRun(t, js, filepath.Join(t.TempDir(), "seller.db"), receipts.Config{Consumer: "seller-two", Networks: []string{"8453", "1337"}})
	got := r.waitHandled(t, 6)
	wantSeqs(t, got, mustSubject(t, "8453"), 1, 3)
	wantSeqs(t, got, mustSubject(t, "1337"), 1, 3)
	pub.publish(t, ctx, 3, "1", "8453", "1337")
	got = r.waitHandled(t, 2)
	wantSeqs(t, got, mustSubject(t, "1"), 1, 0)
	r.stop(t, store)
}

func jsonMarshal(r events.Receipt) ([]byte, error) { return json.Marshal(r) }

// TestServerRestart: the NATS server stops and comes back (same store, same
// port) under a running client; the client waits for it and goes on from
// where it was, nothing handled twice.
func TestServerRestart(t *testing.T) {
	dir := t.TempDir()
	s, err := natsembed.Start(natsembed.Config{StoreDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	connect := func() jetstream.JetStream {
		nc, err := nats.Connect(s.ClientURL(), nats.ReconnectWait(50*time.Millisecond), nats.MaxReconnects(-1))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		js, err := jetstream.New(nc)
		if err != nil {
			t.Fatal(err)
		}
		return js
	}
	js := connect()
	if err := events.Ensure(ctx, js, events.DefaultStreams()); err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(s.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	port, err := strconv.Atoi(u.Port())
	if err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(t.TempDir(), "seller.db")
	subj := mustSubject(t, "8453")
	newPublisher(js).publish(t, ctx, 10, "8453")
	r, store := startRun(t, js, db, receipts.Config{Consumer: "seller-restart"})
	wantSeqs(t, r.waitHandled(t, 10), subj, 1, 10)

	s.Close()
	s, err = natsembed.Start(natsembed.Config{StoreDir: dir, Port: port})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	pub := newPublisher(connect())
	pub.n = 10
	for range 10 {
		// The publisher's own sellerSeq check counts from 1: publish directly.
		if _, err := events.PublishReceipt(ctx, pub.js, receipt(pub.n, "8453")); err != nil {
			t.Fatal(err)
		}
		pub.n++
	}
	wantSeqs(t, r.waitHandled(t, 10), subj, 11, 20)
	r.stop(t, store)
	store, err = receipts.OpenBolt(db)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	checkStore(t, store, streamIDs(t, ctx, pub.js))
}

// TestChangedNetworks: a consumer that followed one network, started again
// for all of the seller's networks, hands over the other network's
// receipts stored before its position (its filter changed: it reads the
// stream from the start), and nothing twice.
func TestChangedNetworks(t *testing.T) {
	env := testenv.StartJetStream(t)
	_, js := env.Connect(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db := filepath.Join(t.TempDir(), "seller.db")
	pub := newPublisher(js)
	pub.publish(t, ctx, 4, "1337")
	pub.publish(t, ctx, 5, "8453")
	r, store := startRun(t, js, db, receipts.Config{Consumer: "seller-changed", Networks: []string{"8453"}})
	wantSeqs(t, r.waitHandled(t, 5), mustSubject(t, "8453"), 1, 5)
	r.stop(t, store)

	r, store = startRun(t, js, db, receipts.Config{Consumer: "seller-changed"})
	wantSeqs(t, r.waitHandled(t, 4), mustSubject(t, "1337"), 1, 4)
	r.stop(t, store)
	store, err := receipts.OpenBolt(db)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	checkStore(t, store, streamIDs(t, ctx, js))
}

// TestConflictStops: a receipt with the checkpoint's sellerSeq but another
// payment id (a checkpoint from another stream) stops the client with
// ErrConflict.
func TestConflictStops(t *testing.T) {
	env := testenv.StartJetStream(t)
	_, js := env.Connect(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db := filepath.Join(t.TempDir(), "seller.db")
	newPublisher(js).publish(t, ctx, 3, "8453")
	store, err := receipts.OpenBolt(db)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Update(ctx, func(tx *bolt.Tx) error {
		return store.SetCheckpoint(tx, mustSubject(t, "8453"), receipts.Checkpoint{SellerSeq: 2, StreamSeq: 2, ID: "evm.8453.auth.other"})
	}); err != nil {
		t.Fatal(err)
	}
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}
	r, store := startRun(t, js, db, receipts.Config{Consumer: "seller-conflict"})
	defer store.Close()
	if err := r.waitErr(t); !errors.Is(err, receipts.ErrConflict) {
		t.Fatalf("Run: %v, want ErrConflict", err)
	}
}

// TestHandlerErrorStops: a handler error rolls its transaction back and
// stops Run with that error; the next Run hands the same receipt over
// again, then the rest.
func TestHandlerErrorStops(t *testing.T) {
	env := testenv.StartJetStream(t)
	_, js := env.Connect(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db := filepath.Join(t.TempDir(), "seller.db")
	pub := newPublisher(js)
	pub.publish(t, ctx, 3, "8453")
	store, err := receipts.OpenBolt(db)
	if err != nil {
		t.Fatal(err)
	}
	errDown := errors.New("orders table locked")
	calls := 0
	c, err := receipts.New[*bolt.Tx](js, receipts.Config{PayTo: sellerEVM, Namespace: h402.NamespaceEVM, Consumer: "seller-failing",
		FetchWait: time.Second, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, store,
		func(ctx context.Context, tx *bolt.Tx, r *events.Receipt) error {
			calls++
			if err := recordHandler(ctx, tx, r); err != nil {
				return err
			}
			if r.SellerSeq == 2 {
				return errDown
			}
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Run(ctx); !errors.Is(err, errDown) {
		t.Fatalf("Run: %v, want the handler's error", err)
	}
	if cps, err := store.Checkpoints(); err != nil || cps[mustSubject(t, "8453")].SellerSeq != 1 {
		t.Fatalf("checkpoints after the failure: %v, %v; want sellerSeq 1", cps, err)
	}
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}
	if calls != 2 {
		t.Fatalf("handler called %d times, want 2", calls)
	}
	r, store := startRun(t, js, db, receipts.Config{Consumer: "seller-failing"})
	wantSeqs(t, r.waitHandled(t, 2), mustSubject(t, "8453"), 2, 3)
	r.stop(t, store)
	store, err = receipts.OpenBolt(db)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	checkStore(t, store, streamIDs(t, ctx, js))
}
