package watcher_test

import (
	"context"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	solanago "github.com/gagliardetto/solana-go"
	"github.com/gagliardetto/solana-go/rpc"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/h402/settlement/pkg/chains/solana"
	"github.com/h402/settlement/pkg/events"
	"github.com/h402/settlement/pkg/failover"
	"github.com/h402/settlement/pkg/h402"
	"github.com/h402/settlement/pkg/settler/settlertest"
	"github.com/h402/settlement/pkg/soldev"
	"github.com/h402/settlement/pkg/testenv"
	"github.com/h402/settlement/pkg/watcher"
)

// TestSolanaExpiredBlockhashFailsWithReason: of two submitted Solana
// payments (the settler's `submitted` transition stored), one landed and
// one never reached the chain (its broadcast was lost: the test does not
// send it). On the real localnet, once the blockhash expires, the watcher
// fails the lost one (invalid_transaction_state, saying the blockhash
// expired) and finalizes the other, each with one receipt.
func TestSolanaExpiredBlockhashFailsWithReason(t *testing.T) {
	ctx := context.Background()
	jsEnv := testenv.StartJetStream(t)
	nc, js := jsEnv.Connect(t)
	states := settlertest.WatchStates(t, nc)
	ln := testenv.StartSolana(t, soldev.Config{})
	sol := settlertest.NewSolana(ln)

	if _, err := ln.AdvanceSlots(ctx, 1); err != nil { // past slot 0, so a slot number says something
		t.Fatal(err)
	}
	bh := sol.Blockhash(t)
	landed := sol.Accepted(t, settlertest.Pay{Blockhash: bh, Amount: 1500})
	lost := sol.Accepted(t, settlertest.Pay{Blockhash: bh, Amount: 2500})
	raw, err := base64.StdEncoding.DecodeString(landed.Transaction)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ln.RPC().SendRawTransactionWithOpts(ctx, raw, rpc.TransactionOpts{}); err != nil {
		t.Fatalf("send the landed payment: %v", err)
	}
	settlertest.Publish(t, js, landed, lost)
	log, err := events.OpenStateLog(ctx, js)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range []*events.PaymentAccepted{landed, lost} {
		tx, err := solanago.TransactionFromBase64(e.Transaction)
		if err != nil {
			t.Fatal(err)
		}
		sig := tx.Signatures[0].String()
		if _, err := log.Append(ctx, e.Namespace, e.NetworkID, events.Transition{ID: e.ID, State: events.StateSubmitted, TxHash: sig}); err != nil {
			t.Fatal(err)
		}
	}

	pool, err := solana.Dial(&sol.Network, failover.Settings{})
	if err != nil {
		t.Fatal(err)
	}
	conf, err := solana.NewConfirmer(&sol.Network, pool, solana.ConfirmOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w, err := watcher.New(ctx, js, watcher.Options{
		Namespace: h402.NamespaceSolana, NetworkID: sol.Network.NetworkID, Confirmer: conf,
		PollInterval: 50 * time.Millisecond, Config: watcher.Config{AckWait: 3_000_000_000, AdminListen: "off"},
	})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = w.Run(runCtx) }()
	t.Cleanup(func() { stop(); <-done })

	// Finality of the landed one: 32 slots; the lost one waits for the expiry.
	if _, err := ln.AdvanceSlots(ctx, uint64(ln.Manifest.FinalityDepthSlots)+1); err != nil {
		t.Fatal(err)
	}
	states.Wait(t, []string{landed.ID}, 30*time.Second, events.StateFinalized)
	if tr := states.Latest(lost.ID); tr == nil || tr.State != events.StateSubmitted {
		t.Fatalf("the lost payment moved to %+v before its blockhash expired", tr)
	}
	if _, err := ln.AdvanceSlots(ctx, uint64(ln.Manifest.BlockhashExpirySlots)); err != nil {
		t.Fatal(err)
	}
	states.Wait(t, []string{lost.ID}, 30*time.Second, events.StateFailed)
	tr := states.Latest(lost.ID)
	if tr.Reason != h402.ReasonInvalidTransactionState || !strings.Contains(tr.Message, "expired") {
		t.Errorf("lost payment failed with %s %q, want invalid_transaction_state saying the blockhash expired", tr.Reason, tr.Message)
	}

	// One receipt each, with the outcome.
	got := waitReceipts(t, js, 2)
	if r := got[landed.ID]; r == nil || r.State != events.StateFinalized || r.Amount != "1500" || r.TxHash == "" || r.Block == 0 {
		t.Errorf("receipt of the landed payment: %+v", r)
	}
	if r := got[lost.ID]; r == nil || r.State != events.StateFailed || r.Reason != h402.ReasonInvalidTransactionState {
		t.Errorf("receipt of the lost payment: %+v", r)
	}
}

// waitReceipts waits until the RECEIPTS stream holds n receipts and
// returns them by payment id; a second receipt of one payment fails the test.
func waitReceipts(t *testing.T, js jetstream.JetStream, n int) map[string]*events.Receipt {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cons, err := js.OrderedConsumer(ctx, events.StreamReceipts, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*events.Receipt{}
	for len(out) < n {
		m, err := cons.Next(jetstream.FetchMaxWait(20 * time.Second))
		if err != nil {
			t.Fatalf("%d of %d receipts: %v", len(out), n, err)
		}
		r, err := events.DecodeReceipt(m.Data())
		if err != nil {
			t.Fatal(err)
		}
		if out[r.ID] != nil {
			t.Errorf("second receipt of %s: %+v", r.ID, r)
		}
		out[r.ID] = r
	}
	return out
}
