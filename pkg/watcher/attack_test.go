package watcher_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/h402/settlement/pkg/chains"
	"github.com/h402/settlement/pkg/events"
	"github.com/h402/settlement/pkg/exposure"
	"github.com/h402/settlement/pkg/h402"
	"github.com/h402/settlement/pkg/settler/settlertest"
	"github.com/h402/settlement/pkg/testenv"
	"github.com/h402/settlement/pkg/watcher"
)

// scriptedConfirmer answers every submission with answer: a lagging or
// lying RPC node, which the dev chains cannot be made to be on demand.
type scriptedConfirmer struct {
	ns     h402.Namespace
	mu     sync.Mutex
	answer chains.Confirmation
	calls  int
}

func (c *scriptedConfirmer) Namespace() h402.Namespace { return c.ns }

func (c *scriptedConfirmer) Confirm(_ context.Context, subs []chains.Submission) ([]chains.Confirmation, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls++
	out := make([]chains.Confirmation, len(subs))
	for i, s := range subs {
		out[i] = c.answer
		out[i].ID = s.Payment.ID
	}
	return out, nil
}

// startWatcher runs a watcher that polls only when the test calls Poll,
// and waits until it follows n payments.
func startWatcher(t *testing.T, env *testenv.JetStream, o watcher.Options, n int) *watcher.Watcher {
	t.Helper()
	_, js := env.Connect(t)
	o.PollInterval = time.Hour // the test polls
	o.Config = watcher.Config{AckWait: 3_000_000_000, AdminListen: "off"}
	w, err := watcher.New(context.Background(), js, o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = w.Run(ctx) }()
	t.Cleanup(func() { stop(); <-done })
	deadline := time.Now().Add(20 * time.Second)
	for w.Following() != n {
		if time.Now().After(deadline) {
			t.Fatalf("the watcher follows %d payments, want %d", w.Following(), n)
		}
		time.Sleep(10 * time.Millisecond) // polling a condition, not standing in for an event
	}
	return w
}

// TestStaleFailureAnswerDoesNotBlockPayer: a payment was finalized (by
// another replica) while this watcher holds its submission (a redelivery:
// the replica died between finalized and its ack). A lagging RPC node then
// says the submission failed by the payer's doing (nonce_already_used).
// The watcher must not block the payer: the payment is final and paid;
// the failure is not recorded (finalized is terminal), so a block would
// refuse an honest payer for PayerBlock with nothing on the log saying why.
func TestStaleFailureAnswerDoesNotBlockPayer(t *testing.T) {
	ctx := context.Background()
	env := testenv.StartJetStream(t)
	_, js := env.Connect(t)
	log, err := events.OpenStateLog(ctx, js)
	if err != nil {
		t.Fatal(err)
	}
	book := exposure.New(env.KeyValue(t, events.BucketExposure))
	token, payer, payTo := "0x"+strings.Repeat("a", 40), "0x"+strings.Repeat("b", 40), "0x"+strings.Repeat("c", 40)
	p := testenv.EVMPayment(1, token, payer, payTo, "1000", time.Now().UTC())
	testenv.PublishAccepted(t, ctx, js, p)
	tx := "0x" + strings.Repeat("d", 64)
	testenv.Finalize(t, ctx, log, p, tx, 7, time.Now().UTC())

	conf := &scriptedConfirmer{ns: h402.NamespaceEVM, answer: chains.Confirmation{
		Status: chains.Failed, Reason: h402.ReasonNonceAlreadyUsed, TxHash: tx,
		Message: "the authorization was used or canceled on chain by another transaction",
	}}
	w := startWatcher(t, env, watcher.Options{
		Namespace: h402.NamespaceEVM, NetworkID: "8453", Confirmer: conf,
		Exposure: book, PayerBlock: time.Hour,
	}, 1)
	w.Poll(ctx)

	a := exposure.Account{Namespace: p.Namespace, NetworkID: p.NetworkID, Token: p.Token, Payer: p.Payer}
	until, err := book.BlockedUntil(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	if !until.IsZero() {
		t.Errorf("the payer of a finalized payment is blocked until %s on a stale failure answer", until)
	}
	if tr, _, err := log.Latest(ctx, p.Namespace, p.NetworkID, p.ID); err != nil || tr == nil || tr.State != events.StateFinalized {
		t.Errorf("latest state %+v, want finalized", tr)
	}
	if n := w.Following(); n != 0 {
		t.Errorf("still following %d payments", n)
	}
}

// TestVersion1AcceptedEventIsFollowedAndReceipted: a payment accepted by
// an ingest before the per-payment subjects (a version 1 event, on the
// network's subject payments.accepted.<ns>.<net>, which settlers still
// read) and submitted. The watcher finds its accepted event there,
// finalizes it and publishes its receipt; before, it retried "cannot
// follow payment yet" forever (never terminal) and would have termed its
// terminal transition without a receipt. The chain answer is scripted:
// the event's authorization is a fixture's, which no dev chain pays.
func TestVersion1AcceptedEventIsFollowedAndReceipted(t *testing.T) {
	ctx := context.Background()
	env := testenv.StartJetStream(t)
	nc, js := env.Connect(t)
	states := settlertest.WatchStates(t, nc)
	log, err := events.OpenStateLog(ctx, js)
	if err != nil {
		t.Fatal(err)
	}
	v1, err := os.ReadFile(filepath.Join("..", "events", "testdata", "payment_accepted_v1.json"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := events.DecodePaymentAccepted(v1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, "payments.accepted.evm.8453", v1, jetstream.WithMsgID(p.ID)); err != nil {
		t.Fatal(err)
	}
	tx := "0x" + strings.Repeat("e", 64)
	if _, err := log.Append(ctx, p.Namespace, p.NetworkID, events.Transition{ID: p.ID, State: events.StateSubmitted, TxHash: tx}); err != nil {
		t.Fatal(err)
	}
	conf := &scriptedConfirmer{ns: h402.NamespaceEVM, answer: chains.Confirmation{
		Status: chains.Finalized, TxHash: tx, Block: 9, BlockHash: "0x" + strings.Repeat("f", 64), At: time.Now().UTC(), Fee: "1",
	}}
	w := startWatcher(t, env, watcher.Options{Namespace: h402.NamespaceEVM, NetworkID: "8453", Confirmer: conf}, 1)
	w.Poll(ctx)
	states.Wait(t, []string{p.ID}, 20*time.Second, events.StateFinalized)
	got := waitReceipts(t, js, 1)
	if r := got[p.ID]; r == nil || r.State != events.StateFinalized || r.Amount != p.Amount || r.PayTo != p.PayTo || r.TxHash != tx {
		t.Errorf("receipt of the version 1 payment: %+v", r)
	}
}

// TestUnprovenDropWaitsForExpiry: a submitted authorization too close to
// its expiry to settle again, and a client's own EVM transaction, are
// answered Dropped "not mined nor known to the node" (a lagging or
// failed-over node; the transaction may be in another node's pool or
// mined in a block this node has not seen: the dev chain cannot be made
// to answer so on demand, hence the scripted answer). Neither is failed on
// that answer: the authorization only once it expired, the client's
// transaction only after the drop grace. A "not found" answer used to fail
// them at once; the transaction then mined paid a payment the seller was
// told failed.
func TestUnprovenDropWaitsForExpiry(t *testing.T) {
	ctx := context.Background()
	env := testenv.StartJetStream(t)
	nc, js := env.Connect(t)
	states := settlertest.WatchStates(t, nc)
	log, err := events.OpenStateLog(ctx, js)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	now := time.Now().UTC()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); defer mu.Unlock(); now = now.Add(d) }

	token, payer, payTo := "0x"+strings.Repeat("a", 40), "0x"+strings.Repeat("b", 40), "0x"+strings.Repeat("c", 40)
	auth := testenv.EVMPayment(1, token, payer, payTo, "1000", now)
	auth.ValidBefore = now.Add(10 * time.Second).Unix() // within the 30s resend margin
	auth.Authorization.ValidBefore = strconv.FormatInt(auth.ValidBefore, 10)
	client := testenv.EVMPayment(2, token, payer, payTo, "1000", now)
	client.ID = "evm.8453.tx.0x" + strings.Repeat("2", 64)
	client.Type, client.Settle, client.Authorization, client.TxHash = h402.TypeSignAndSendTransaction, false, nil, "0x"+strings.Repeat("2", 64)
	for i, p := range []*events.PaymentAccepted{auth, client} {
		testenv.PublishAccepted(t, ctx, js, p)
		tx := "0x" + strings.Repeat(strconv.Itoa(i+1), 64)
		if _, err := log.Append(ctx, p.Namespace, p.NetworkID, events.Transition{ID: p.ID, State: events.StateSubmitted, TxHash: tx}); err != nil {
			t.Fatal(err)
		}
	}
	conf := &scriptedConfirmer{ns: h402.NamespaceEVM, answer: chains.Confirmation{
		Status: chains.Dropped, Reason: h402.ReasonInvalidTransactionState, Message: "none of [...] is mined or known to the node",
	}}
	w := startWatcher(t, env, watcher.Options{Namespace: h402.NamespaceEVM, NetworkID: "8453", Confirmer: conf, Now: clock}, 2)

	w.Poll(ctx)
	for _, p := range []*events.PaymentAccepted{auth, client} {
		if tr, _, err := log.Latest(ctx, p.Namespace, p.NetworkID, p.ID); err != nil || tr == nil || tr.State != events.StateSubmitted {
			t.Fatalf("%s moved to %+v on an unproven drop", p.ID, tr)
		}
	}
	if n := w.Following(); n != 2 {
		t.Fatalf("following %d payments, want 2", n)
	}

	// The authorization expired: it can never be used now.
	advance(time.Minute + 15*time.Second)
	w.Poll(ctx)
	states.Wait(t, []string{auth.ID}, 20*time.Second, events.StateFailed)
	if tr, _, err := log.Latest(ctx, client.Namespace, client.NetworkID, client.ID); err != nil || tr == nil || tr.State != events.StateSubmitted {
		t.Fatalf("client transaction moved to %+v before the drop grace", tr)
	}
	// The client's transaction stayed unknown for the grace.
	advance(10 * time.Minute)
	w.Poll(ctx)
	states.Wait(t, []string{client.ID}, 20*time.Second, events.StateFailed)
}

// TestRedeliveredSubmissionAfterSendBackFromConfirmed: a payment was
// confirmed, a reorg took its transaction out and a watcher sent it back
// (`accepted` after `confirmed`), then died before republishing the
// accepted event and acking the submission. The submission is delivered
// to another watcher, and the transaction is mined again (geth puts a
// reorged transaction back in its pool; the answer is scripted, the dev
// chain does not reorg on demand). The watcher must not write
// `confirmed` over the send-back: that one lands beyond its guard, so its
// `finalized` was refused and nobody followed the payment any more, left
// at confirmed forever without a receipt. It finishes the send-back
// instead (republishes the accepted event for the settlers) and lets go.
func TestRedeliveredSubmissionAfterSendBackFromConfirmed(t *testing.T) {
	ctx := context.Background()
	env := testenv.StartJetStream(t)
	_, js := env.Connect(t)
	log, err := events.OpenStateLog(ctx, js)
	if err != nil {
		t.Fatal(err)
	}
	token, payer, payTo := "0x"+strings.Repeat("a", 40), "0x"+strings.Repeat("b", 40), "0x"+strings.Repeat("c", 40)
	p := testenv.EVMPayment(1, token, payer, payTo, "1000", time.Now().UTC())
	p.ValidBefore = time.Now().Add(time.Hour).Unix()
	p.Authorization.ValidBefore = strconv.FormatInt(p.ValidBefore, 10)
	testenv.PublishAccepted(t, ctx, js, p)
	tx := "0x" + strings.Repeat("d", 64)
	for _, tr := range []events.Transition{
		{ID: p.ID, State: events.StateSubmitted, TxHash: tx},
		{ID: p.ID, State: events.StateConfirmed, TxHash: tx, Block: 5},
		{ID: p.ID, State: events.StateAccepted, Message: "transaction left the chain"}, // SendBack's append; its republish never ran
	} {
		if _, err := log.Append(ctx, p.Namespace, p.NetworkID, tr); err != nil {
			t.Fatal(err)
		}
	}
	conf := &scriptedConfirmer{ns: h402.NamespaceEVM, answer: chains.Confirmation{
		Status: chains.Confirmed, TxHash: tx, Block: 6, BlockHash: "0x" + strings.Repeat("6", 64),
	}}
	w := startWatcher(t, env, watcher.Options{Namespace: h402.NamespaceEVM, NetworkID: "8453", Confirmer: conf}, 1)
	w.Poll(ctx)
	conf.mu.Lock()
	conf.answer = chains.Confirmation{Status: chains.Finalized, TxHash: tx, Block: 6, BlockHash: "0x" + strings.Repeat("6", 64), At: time.Now().UTC()}
	conf.mu.Unlock()
	w.Poll(ctx)

	if tr, _, err := log.Latest(ctx, p.Namespace, p.NetworkID, p.ID); err != nil || tr == nil || tr.State != events.StateAccepted || tr.Seq != 3 {
		t.Fatalf("latest transition %+v, want the send-back (accepted, seq 3) for the settlers", tr)
	}
	if n := w.Following(); n != 0 {
		t.Errorf("still following %d payments", n)
	}
	subj, err := events.PaymentAcceptedSubject(p.Namespace, p.NetworkID, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	if n := settlertest.SubjectCounts(t, js, events.StreamPayments, subj)[subj]; n != 2 {
		t.Errorf("%d accepted events on %s, want 2 (the first and the send-back's republish)", n, subj)
	}
}
