package watcher_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/h402/settlement/pkg/chains/evm"
	"github.com/h402/settlement/pkg/config"
	"github.com/h402/settlement/pkg/events"
	"github.com/h402/settlement/pkg/evmdev"
	"github.com/h402/settlement/pkg/failover"
	"github.com/h402/settlement/pkg/h402"
	"github.com/h402/settlement/pkg/testenv"
	"github.com/h402/settlement/pkg/watcher"
)

// runWatcher runs an EVM watcher of chain c on js until the returned stop.
func runWatcher(t *testing.T, js jetstream.JetStream, c *evmdev.Chain) (stop func()) {
	t.Helper()
	n := testenv.EVMNetwork(c)
	pool, err := evm.Dial(context.Background(), &n, failover.Settings{})
	if err != nil {
		t.Fatal(err)
	}
	conf, err := evm.NewConfirmer(&n, pool, evm.ConfirmerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w, err := watcher.New(context.Background(), js, watcher.Options{
		Namespace: h402.NamespaceEVM, NetworkID: n.NetworkID, Confirmer: conf,
		PollInterval: 50 * time.Millisecond, Config: watcher.Config{AckWait: config.Duration(3 * time.Second), AdminListen: "off"},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = w.Run(ctx) }()
	return func() { cancel(); <-done }
}

// drained waits until the watcher consumer has delivered and had acked
// every message of the stream.
func drained(t *testing.T, js jetstream.JetStream, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		cons, err := js.Consumer(ctx, events.StreamPayments, name)
		if err == nil {
			info, err := cons.Info(ctx)
			if err == nil && info.NumPending == 0 && info.NumAckPending == 0 && info.Delivered.Consumer > 0 {
				return
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("consumer %s not drained", name)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// TestReceiptsOnceAcrossConsumerReset: terminal payments (failed by a
// settler before any transaction) get one receipt each; when the watcher
// consumer is deleted and made again (an operator reset: every transition
// is delivered anew, as a first delivery) after the stream's Nats-Msg-Id
// window passed, the watcher finds the receipts already stored and
// publishes none again.
func TestReceiptsOnceAcrossConsumerReset(t *testing.T) {
	ctx := context.Background()
	env := testenv.StartJetStream(t)
	_, js := env.Connect(t)
	chain := testenv.StartEVM(t, evmdev.Config{})
	// A short Msg-Id window on RECEIPTS: what the search must not rely on.
	const window = 300 * time.Millisecond
	st, err := js.Stream(ctx, events.StreamReceipts)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cfg := info.Config
	cfg.Duplicates = window
	if _, err := js.UpdateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	sl, err := events.OpenStateLog(ctx, js)
	if err != nil {
		t.Fatal(err)
	}
	netID := chain.ChainID().String()
	var ids []string
	for i := range 3 {
		e := testenv.EVMPayment(i, chain.Token().Hex(), "0x00000000000000000000000000000000000000b1", "0x00000000000000000000000000000000000000a1", fmt.Sprint(1000+i), time.Now())
		e.NetworkID, e.ID = netID, "evm."+netID+".auth.t"+fmt.Sprint(i) // the dev chain's network
		testenv.PublishAccepted(t, ctx, js, e)
		if _, err := sl.Append(ctx, e.Namespace, e.NetworkID, events.Transition{ID: e.ID, State: events.StateFailed, Reason: h402.ReasonInsufficientFunds, Message: "the payer moved its funds"}); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, e.ID)
	}
	name := events.WatcherConsumerName(h402.NamespaceEVM, netID)
	stop := runWatcher(t, js, chain)
	got := waitReceipts(t, js, 3)
	for _, id := range ids {
		if r := got[id]; r == nil || r.State != events.StateFailed || r.Reason != h402.ReasonInsufficientFunds {
			t.Errorf("receipt of %s: %+v, want failed insufficient_funds", id, r)
		}
	}
	drained(t, js, name)
	stop()

	if err := js.DeleteConsumer(ctx, events.StreamPayments, name); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * window) // the window itself is what is tested: let it pass
	stop = runWatcher(t, js, chain)
	defer stop()
	drained(t, js, name)
	info, err = st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 3 {
		t.Errorf("RECEIPTS holds %d receipts after the consumer reset, want 3", info.State.Msgs)
	}
}
