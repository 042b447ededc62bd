package natsembed_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	bolt "go.etcd.io/bbolt"

	"github.com/h402/settlement/pkg/events"
	"github.com/h402/settlement/pkg/h402"
	"github.com/h402/settlement/pkg/natsembed"
	"github.com/h402/settlement/pkg/receipts"
)

const (
	watcherPassword = "watcher-password-0123456789"
	sellerPassword  = "seller-password-0123456789"
	payToA          = "0x00000000000000000000000000000000000000aA"
	payToB          = "0x00000000000000000000000000000000000000bB"
)

func sellerReceipt(i int, payTo string) events.Receipt {
	return events.Receipt{
		ID:    fmt.Sprintf("evm.8453.auth.0x0a11.0x00b0.0x%064x", i),
		State: events.StateFinalized, Namespace: h402.NamespaceEVM, NetworkID: "8453",
		Payer: "0x00b0", PayTo: payTo, Token: "0x0a11", Amount: "1000", TxHash: fmt.Sprintf("0x%064x", i),
		Block: 1, At: time.Unix(1764000000, 0).UTC(),
	}
}

// connectSeller connects as a seller user with its inbox prefix and returns
// its JetStream context and the permission violations the server reports.
func connectSeller(t *testing.T, s *natsembed.Server, user, consumer string) (*nats.Conn, jetstream.JetStream, <-chan error) {
	t.Helper()
	violations := make(chan error, 16)
	nc, err := nats.Connect(s.ClientURL(), nats.UserInfo(user, sellerPassword),
		nats.CustomInboxPrefix(events.SellerInboxPrefix(consumer)),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			if errors.Is(err, nats.ErrPermissionViolation) {
				violations <- err
			}
		}))
	if err != nil {
		t.Fatalf("connect as %s: %v", user, err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return nc, js, violations
}

// TestSellerPermissions: a seller user with SellerPermissions consumes its
// own receipts through pkg/receipts (consumer created, deliveries acked),
// and cannot read another seller's receipts (a consumer on its subjects,
// the other seller's consumer, a live subscription, a direct read of the
// stream) nor publish a receipt.
func TestSellerPermissions(t *testing.T) {
	sellerA := natsembed.Seller{PayTo: payToA, Namespace: h402.NamespaceEVM, Consumer: "seller-a"}
	sellerB := natsembed.Seller{PayTo: payToB, Namespace: h402.NamespaceEVM, Consumer: "seller-b"}
	s, err := natsembed.Start(natsembed.Config{StoreDir: t.TempDir(), Users: []natsembed.User{
		{Name: "h402-watcher", Password: watcherPassword, Service: natsembed.ServiceWatcher},
		{Name: "seller-a", Password: sellerPassword, Seller: &sellerA},
		{Name: "seller-b", Password: sellerPassword, Seller: &sellerB},
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	watcher, _ := connectAs(t, s, "h402-watcher", watcherPassword)
	if err := events.Ensure(ctx, watcher, events.DefaultStreams()); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := events.PublishReceipt(ctx, watcher, sellerReceipt(i, payToA)); err != nil {
			t.Fatal(err)
		}
		if _, err := events.PublishReceipt(ctx, watcher, sellerReceipt(10+i, payToB)); err != nil {
			t.Fatal(err)
		}
	}

	// Seller A reads its own receipts with the receipts client.
	_, jsA, violations := connectSeller(t, s, "seller-a", sellerA.Consumer)
	store, err := receipts.OpenBolt(filepath.Join(t.TempDir(), "a.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	got := make(chan *events.Receipt, 16)
	client, err := receipts.New[*bolt.Tx](jsA, receipts.Config{PayTo: payToA, Namespace: h402.NamespaceEVM, Consumer: sellerA.Consumer, FetchWait: time.Second},
		store, func(_ context.Context, _ *bolt.Tx, r *events.Receipt) error { got <- r; return nil })
	if err != nil {
		t.Fatal(err)
	}
	rctx, rcancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- client.Run(rctx) }()
	for want := uint64(1); want <= 3; want++ {
		select {
		case r := <-got:
			if r.SellerSeq != want || r.PayTo != payToA {
				t.Fatalf("seller A got %s sellerSeq %d, want its own #%d", r.PayTo, r.SellerSeq, want)
			}
		case err := <-done:
			t.Fatalf("seller A's client stopped: %v", err)
		case <-time.After(20 * time.Second):
			t.Fatalf("seller A got no receipt #%d", want)
		}
	}
	// Its acks are allowed: the consumer's ack floor reaches the third receipt.
	wctx, wcancel := context.WithTimeout(ctx, 20*time.Second)
	defer wcancel()
	for {
		c, err := watcher.Consumer(wctx, events.StreamReceipts, sellerA.Consumer)
		if err != nil {
			t.Fatalf("seller A's consumer: %v", err)
		}
		if c.CachedInfo().AckFloor.Consumer >= 3 {
			break
		}
		select {
		case v := <-violations:
			t.Fatalf("seller A's own reading violated its permissions: %v", v)
		case <-wctx.Done():
			t.Fatalf("seller A's acks did not land: ack floor %+v", c.CachedInfo().AckFloor)
		case <-time.After(50 * time.Millisecond):
		}
	}
	rcancel()
	if err := <-done; err != nil {
		t.Fatalf("seller A's client: %v", err)
	}
	select {
	case v := <-violations:
		t.Fatalf("seller A's own reading violated its permissions: %v", v)
	default:
	}

	refused := func(what, subject string, try func(ctx context.Context) error) {
		t.Helper()
		// A refused request gets no answer: wait for the server's
		// violation report, then give up on the answer.
		tctx, tcancel := context.WithTimeout(ctx, 20*time.Second)
		defer tcancel()
		errc := make(chan error, 1)
		go func() { errc <- try(tctx) }()
		wantViolation(t, violations, subject, what)
		tcancel()
		if err := <-errc; err == nil {
			t.Fatalf("seller A: %s succeeded, want refused", what)
		}
	}
	ownB, _ := events.ReceiptsOfSeller(payToB, h402.NamespaceEVM)
	refused("a consumer on seller B's receipts", "CONSUMER.CREATE", func(ctx context.Context) error {
		_, err := jsA.CreateOrUpdateConsumer(ctx, events.StreamReceipts, jetstream.ConsumerConfig{
			Durable: sellerA.Consumer, FilterSubject: ownB, AckPolicy: jetstream.AckExplicitPolicy})
		return err
	})
	refused("a consumer on every receipt", "CONSUMER.CREATE", func(ctx context.Context) error {
		_, err := jsA.CreateOrUpdateConsumer(ctx, events.StreamReceipts, jetstream.ConsumerConfig{
			Durable: sellerA.Consumer, FilterSubject: "receipts.>", AckPolicy: jetstream.AckExplicitPolicy})
		return err
	})
	refused("seller B's consumer", "CONSUMER.INFO", func(ctx context.Context) error {
		_, err := jsA.Consumer(ctx, events.StreamReceipts, sellerB.Consumer)
		return err
	})
	refused("a direct read of the stream", "STREAM", func(ctx context.Context) error {
		_, err := jsA.Stream(ctx, events.StreamReceipts)
		return err
	})
	subjA, _ := events.ReceiptSubject(payToA, h402.NamespaceEVM, "8453")
	refused("publishing a receipt", "receipts.", func(ctx context.Context) error {
		_, err := jsA.Publish(ctx, subjA, []byte(`{}`))
		return err
	})
	ncA, _, violationsA := connectSeller(t, s, "seller-a", sellerA.Consumer)
	if _, err := ncA.SubscribeSync(ownB); err != nil {
		t.Fatal(err)
	}
	wantViolation(t, violationsA, "Subscription", "a live subscription to seller B's receipts")
	if _, err := ncA.SubscribeSync("_INBOX.>"); err != nil {
		t.Fatal(err)
	}
	wantViolation(t, violationsA, "Subscription", "a subscription to everyone's replies")
}

// TestSellerConf: the rendered seller user is a valid nats-server
// authorization entry with SellerPermissions.
func TestSellerConf(t *testing.T) {
	seller := natsembed.Seller{PayTo: payToA, Namespace: h402.NamespaceEVM, Consumer: "seller-a"}
	entry, err := natsembed.SellerConf("seller-a", "H402_NATS_SELLER_A_PASSWORD", seller)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("H402_NATS_SELLER_A_PASSWORD", sellerPassword)
	path := filepath.Join(t.TempDir(), "auth.conf")
	if err := os.WriteFile(path, []byte("authorization {\n  users: [\n"+entry+"  ]\n}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	opts, err := server.ProcessConfigFile(path)
	if err != nil {
		t.Fatalf("nats-server reads the entry: %v\n%s", err, entry)
	}
	want, err := natsembed.SellerPermissions(seller)
	if err != nil {
		t.Fatal(err)
	}
	if len(opts.Users) != 1 || opts.Users[0].Password != sellerPassword || !reflect.DeepEqual(opts.Users[0].Permissions, want) {
		t.Fatalf("parsed users %+v, want seller-a with %+v", opts.Users, want)
	}
	// The subjects written out in natsembed are pkg/events' subjects.
	own, err := events.ReceiptsOfSeller(seller.PayTo, seller.Namespace)
	if err != nil {
		t.Fatal(err)
	}
	if got := want.Subscribe.Allow; !reflect.DeepEqual(got, []string{events.SellerInboxPrefix(seller.Consumer) + ".>", own}) {
		t.Errorf("subscribe allow %v, want the seller's inbox and %s", got, own)
	}
	for _, bad := range []natsembed.Seller{
		{PayTo: "a.b", Namespace: h402.NamespaceEVM, Consumer: "c"},
		{PayTo: payToA, Namespace: "arkade", Consumer: "c"},
		{PayTo: payToA, Namespace: h402.NamespaceEVM, Consumer: "c.>"},
	} {
		if _, err := natsembed.SellerPermissions(bad); err == nil {
			t.Errorf("SellerPermissions(%+v): no error, want refused", bad)
		}
	}
}
