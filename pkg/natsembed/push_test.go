package natsembed_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/h402/settlement/pkg/events"
	"github.com/h402/settlement/pkg/h402"
	"github.com/h402/settlement/pkg/natsembed"
)

// TestSellerCannotPushIntoStreams: the consumer a seller may create (its
// name, its own filter) must not become a way to publish. The server publishes
// a push consumer's messages to its deliver subject on the stream
// account's behalf, without the seller's publish permissions: a seller
// could make its own receipts land in PAYMENTS (payments.accepted.*, read
// by settlers), in WEBHOOKS (another endpoint's delivery log or redelivery
// requests) or on any subject a service listens to.
func TestSellerCannotPushIntoStreams(t *testing.T) {
	sellerA := natsembed.Seller{PayTo: payToA, Namespace: h402.NamespaceEVM, Consumer: "seller-a"}
	s, err := natsembed.Start(natsembed.Config{StoreDir: t.TempDir(), Users: []natsembed.User{
		{Name: "h402-watcher", Password: watcherPassword, Service: natsembed.ServiceWatcher},
		{Name: "seller-a", Password: sellerPassword, Seller: &sellerA},
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
	if _, err := events.PublishReceipt(ctx, watcher, sellerReceipt(1, payToA)); err != nil {
		t.Fatal(err)
	}
	// Ingest follows states with a core subscription (pkg/ingest/wait.go):
	// that is the interest a push consumer needs to deliver.
	ingestNC, err := nats.Connect(s.ClientURL(), nats.UserInfo("h402-watcher", watcherPassword))
	if err != nil {
		t.Fatal(err)
	}
	defer ingestNC.Close()
	seen := make(chan *nats.Msg, 4)
	if _, err := ingestNC.ChanSubscribe(events.StateWildcard, seen); err != nil {
		t.Fatal(err)
	}
	if err := ingestNC.Flush(); err != nil {
		t.Fatal(err)
	}
	before := streamMsgs(t, ctx, watcher, events.StreamPayments)

	nc, _, _ := connectSeller(t, s, "seller-a", sellerA.Consumer)
	filter := "receipts." + strings.ToLower(payToA) + ".evm.>"
	req, _ := json.Marshal(map[string]any{"stream_name": events.StreamReceipts, "config": map[string]any{
		"durable_name": sellerA.Consumer, "filter_subject": filter, "deliver_subject": "payments.state.evm.8453.evm.8453.auth.0x0a11.0x00b0.0xvictim",
		"deliver_policy": "all", "ack_policy": "none"}})
	msg, err := nc.RequestWithContext(ctx, "$JS.API.CONSUMER.CREATE."+events.StreamReceipts+"."+sellerA.Consumer+"."+filter, req)
	if err == nil && !strings.Contains(string(msg.Data), `"error"`) {
		// Created: wait for the push to land, if it does.
		deadline := time.Now().Add(3 * time.Second)
		for time.Now().Before(deadline) {
			if n := streamMsgs(t, ctx, watcher, events.StreamPayments); n > before {
				var got string
				select {
				case m := <-seen:
					got = m.Subject + " " + string(m.Data)
				default:
				}
				t.Fatalf("a seller's push consumer wrote %d message(s) into %s: %s", n-before, events.StreamPayments, got)
			}
			time.Sleep(50 * time.Millisecond)
		}
		select {
		case m := <-seen:
			t.Fatalf("a seller's push consumer published on %s (a core subscriber got it): %s", m.Subject, m.Data)
		default:
		}
		// nats-server 2.15 accepts the config (it checks no permission
		// of the creator against the deliver subject) but delivered
		// nothing in the window above: recorded, not a failure.
		t.Logf("note: the server accepted a seller's push consumer config; nothing was delivered")
	}
}

func streamMsgs(t *testing.T, ctx context.Context, js jetstream.JetStream, name string) uint64 {
	t.Helper()
	st, err := js.Stream(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}
