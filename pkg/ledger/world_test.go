package ledger_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/h402/settlement/pkg/events"
	"github.com/h402/settlement/pkg/h402"
	"github.com/h402/settlement/pkg/ledger"
	"github.com/h402/settlement/pkg/testenv"
)

// world writes events the way the pipeline does (the real pkg/events
// functions) into an embedded JetStream.
type world struct {
	t   *testing.T
	ctx context.Context
	env *testenv.JetStream
	js  jetstream.JetStream
	log *events.StateLog
}

var t0 = time.Date(2026, 11, 24, 4, 0, 0, 0, time.UTC)

const (
	token   = "0x833589fcd6edb6e08f4c7c32d4f71b54bda02913"
	sellerA = "0xaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	sellerB = "0xbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	payer1  = "0x1111111111111111111111111111111111111111"
	payer2  = "0x2222222222222222222222222222222222222222"
)

func newWorld(t *testing.T) *world {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	env := testenv.StartJetStream(t)
	_, js := env.Connect(t)
	sl, err := events.OpenStateLog(ctx, js)
	if err != nil {
		t.Fatal(err)
	}
	return &world{t: t, ctx: ctx, env: env, js: js, log: sl}
}

// pay is payment i: an EVM authorization of amount from payer to payTo.
func pay(i int, payer, payTo, amount string) *events.PaymentAccepted {
	e := testenv.EVMPayment(i, token, payer, payTo, amount, t0.Add(time.Duration(i)*time.Minute))
	e.Resource = "https://api.example/r"
	return e
}

func txHash(i int) string { return fmt.Sprintf("0x%064x", 0xf000+i) }

func (w *world) publish(subj string, data []byte, opts ...jetstream.PublishOpt) uint64 {
	w.t.Helper()
	ack, err := w.js.Publish(w.ctx, subj, data, opts...)
	if err != nil {
		w.t.Fatalf("publish %s: %v", subj, err)
	}
	return ack.Sequence
}

func (w *world) accept(e *events.PaymentAccepted) {
	w.t.Helper()
	testenv.PublishAccepted(w.t, w.ctx, w.js, e)
}

func (w *world) move(e *events.PaymentAccepted, tr events.Transition) {
	w.t.Helper()
	tr.ID = e.ID
	if _, err := w.log.Append(w.ctx, e.Namespace, e.NetworkID, tr); err != nil {
		w.t.Fatalf("append %s of %s: %v", tr.State, e.ID, err)
	}
}

// settle moves e through batched, submitted(tx), confirmed(block) and
// finalized (at at), and publishes its receipt.
func (w *world) settle(e *events.PaymentAccepted, tx string, block uint64, at time.Time) {
	w.t.Helper()
	w.move(e, events.Transition{State: events.StateBatched, At: at.Add(-time.Second)})
	testenv.Finalize(w.t, w.ctx, w.log, e, tx, block, at)
	w.receipt(e, events.StateFinalized, tx, block, at, "")
}

func (w *world) finalize(e *events.PaymentAccepted, tx string, block uint64, at time.Time) {
	w.t.Helper()
	w.move(e, events.Transition{State: events.StateFinalized, TxHash: tx, Block: block, At: at})
	w.receipt(e, events.StateFinalized, tx, block, at, "")
}

func (w *world) fail(e *events.PaymentAccepted, reason h402.Reason, at time.Time) {
	w.t.Helper()
	w.move(e, events.Transition{State: events.StateFailed, Reason: reason, Message: "failed in a test", At: at})
	w.receipt(e, events.StateFailed, "", 0, at, reason)
}

func (w *world) receipt(e *events.PaymentAccepted, st events.State, tx string, block uint64, at time.Time, reason h402.Reason) {
	w.t.Helper()
	_, err := events.PublishReceipt(w.ctx, w.js, events.Receipt{ID: e.ID, State: st, Namespace: e.Namespace, NetworkID: e.NetworkID,
		Payer: e.Payer, PayTo: e.PayTo, Token: e.Token, Amount: e.Amount, TxHash: tx, Block: block, At: at,
		Resource: e.Resource, Reason: reason})
	if err != nil {
		w.t.Fatalf("receipt of %s: %v", e.ID, err)
	}
}

func (w *world) submitted(tx string, ids ...string) {
	w.t.Helper()
	s := events.Settlement{Version: events.SettlementVersion, Namespace: h402.NamespaceEVM, NetworkID: "8453", TxHash: tx,
		Payments: ids, SubmittedAt: t0}
	subj, _ := events.SettlementSubmittedSubject(s.Namespace, s.NetworkID)
	b, _ := json.Marshal(&s)
	w.publish(subj, b, jetstream.WithMsgID(events.SettlementMsgID(tx, ids)))
}

func (w *world) final(tx string, gas uint64, fee string, client bool, msgID string) {
	w.t.Helper()
	f := events.SettlementFinal{Version: events.SettlementFinalVersion, Namespace: h402.NamespaceEVM, NetworkID: "8453",
		TxHash: tx, Block: 10, At: t0, GasUsed: gas, Fee: fee, ClientBroadcast: client}
	subj, err := events.SettlementFinalSubject(f.Namespace, f.NetworkID)
	if err != nil {
		w.t.Fatal(err)
	}
	b, _ := json.Marshal(&f)
	w.publish(subj, b, jetstream.WithMsgID(msgID))
}

// mixed is a history with every kind of message: payments settled alone
// and in a batch, one sent back and settled again in another transaction,
// a failed one, a pending one, a version 1 client-broadcast payment whose
// transition arrives before its accepted event, a dead letter, an
// unreadable message, repeated records.
type mixed struct {
	p1, p2, p3, p4 *events.PaymentAccepted
	v1ID           string
}

func (w *world) mixedHistory() mixed {
	w.t.Helper()
	m := mixed{
		p1: pay(1, payer1, sellerA, "100"),
		p2: pay(2, payer2, sellerA, "200"),
		p3: pay(3, payer1, sellerB, "300"),
		p4: pay(4, payer2, sellerA, "50"),
	}
	for _, e := range []*events.PaymentAccepted{m.p1, m.p2, m.p3, m.p4} {
		w.accept(e)
	}
	w.settle(m.p1, txHash(1), 10, t0.Add(time.Hour))
	// p2 rides in tx1 too, which is reorged out for it: sent back, then
	// settled in tx2.
	w.move(m.p2, events.Transition{State: events.StateBatched, At: t0.Add(50 * time.Minute)})
	w.move(m.p2, events.Transition{State: events.StateSubmitted, TxHash: txHash(1), At: t0.Add(51 * time.Minute)})
	w.submitted(txHash(1), m.p1.ID, m.p2.ID)
	if _, err := w.log.SendBack(w.ctx, m.p2, "reorged out"); err != nil {
		w.t.Fatalf("send back: %v", err)
	}
	w.settle(m.p2, txHash(2), 12, t0.Add(2*time.Hour))
	w.submitted(txHash(2), m.p2.ID)
	w.fail(m.p3, h402.ReasonNonceAlreadyUsed, t0.Add(90*time.Minute))

	w.final(txHash(1), 90000, "1800000", false, events.SettlementFinalMsgID(txHash(1)))
	w.final(txHash(2), 60000, "1200000", false, events.SettlementFinalMsgID(txHash(2)))
	w.final(txHash(1), 90000, "1800000", false, "another writer") // counted once

	// Version 1, client broadcast: its transition comes first.
	m.v1ID = "evm.8453.sas." + txHash(5)
	v1 := fmt.Sprintf(`{"v":1,"id":%q,"namespace":"evm","networkId":"8453","type":"signAndSendTransaction","token":%q,`+
		`"payer":%q,"payTo":%q,"amount":"7","txHash":%q,"settle":false,"acceptedAt":%q}`,
		m.v1ID, token, payer1, sellerA, txHash(5), t0.Add(5*time.Minute).Format(time.RFC3339))
	stateSubj, _ := events.StateSubject(h402.NamespaceEVM, "8453", m.v1ID)
	tr, _ := json.Marshal(events.Transition{Version: 1, ID: m.v1ID, Seq: 1, State: events.StateConfirmed, TxHash: txHash(5), Block: 11, At: t0.Add(6 * time.Minute)})
	w.publish(stateSubj, tr)
	netSubj, _ := events.PaymentAcceptedFilters(h402.NamespaceEVM, "8453")
	w.publish(netSubj[0], []byte(v1))
	v1e := &events.PaymentAccepted{ID: m.v1ID, Namespace: h402.NamespaceEVM, NetworkID: "8453", Token: token, Payer: payer1, PayTo: sellerA, Amount: "7"}
	w.finalize(v1e, txHash(5), 11, t0.Add(7*time.Minute))
	w.final(txHash(5), 21000, "420000", true, events.SettlementFinalMsgID(txHash(5)))

	dead, _ := events.PaymentDeadSubject(h402.NamespaceEVM, "8453")
	w.publish(dead, []byte(`{"whatever":1}`))
	w.publish(netSubj[0]+".junk", []byte("not json"))
	return m
}

// lastSeqs returns each stream's last sequence.
func (w *world) lastSeqs() map[string]uint64 {
	w.t.Helper()
	out := map[string]uint64{}
	for _, s := range ledger.Streams {
		st, err := w.js.Stream(w.ctx, s)
		if err != nil {
			w.t.Fatal(err)
		}
		info, err := st.Info(w.ctx)
		if err != nil {
			w.t.Fatal(err)
		}
		out[s] = info.State.LastSeq
	}
	return out
}

type rawMsg struct {
	stream, subject string
	seq             uint64
	data            []byte
}

// messages reads every stored message of stream, in order.
func (w *world) messages(stream string) []rawMsg {
	w.t.Helper()
	st, err := w.js.Stream(w.ctx, stream)
	if err != nil {
		w.t.Fatal(err)
	}
	var out []rawMsg
	for seq := uint64(1); seq <= w.lastSeqs()[stream]; seq++ {
		m, err := st.GetMsg(w.ctx, seq)
		if err != nil {
			w.t.Fatalf("get %s %d: %v", stream, seq, err)
		}
		out = append(out, rawMsg{stream, m.Subject, seq, m.Data})
	}
	return out
}

func openLedger(t *testing.T, path string) *ledger.Ledger {
	t.Helper()
	l, err := ledger.Open(path, ledger.Options{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l
}

func tempLedger(t *testing.T) *ledger.Ledger {
	t.Helper()
	return openLedger(t, filepath.Join(t.TempDir(), "ledger.db"))
}

// rebuild projects every stored message into a new ledger file.
func (w *world) rebuild() *ledger.Ledger {
	w.t.Helper()
	l := tempLedger(w.t)
	if err := ledger.CatchUp(w.ctx, w.js, l); err != nil {
		w.t.Fatalf("catch up: %v", err)
	}
	return l
}

func dump(t *testing.T, l *ledger.Ledger) string {
	t.Helper()
	var b bytes.Buffer
	if err := l.Dump(&b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// follow runs Follow on l until the test ends.
func (w *world) follow(l *ledger.Ledger) {
	w.t.Helper()
	ctx, cancel := context.WithCancel(w.ctx)
	done := make(chan error, 1)
	go func() { done <- ledger.Follow(ctx, w.js, l) }()
	w.t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			w.t.Errorf("follow: %v", err)
		}
	})
}

// waitAll waits until l applied every message stored now.
func (w *world) waitAll(l *ledger.Ledger) {
	w.t.Helper()
	for s, seq := range w.lastSeqs() {
		if err := l.WaitFor(w.ctx, s, seq); err != nil {
			w.t.Fatal(err)
		}
	}
}

func diffDumps(t *testing.T, got, want string) {
	t.Helper()
	if got == want {
		return
	}
	g, wt := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := 0; i < len(g) || i < len(wt); i++ {
		var a, b string
		if i < len(g) {
			a = g[i]
		}
		if i < len(wt) {
			b = wt[i]
		}
		if a != b {
			t.Fatalf("dumps differ at line %d:\n got  %s\n want %s", i+1, a, b)
		}
	}
}

var discard = slog.New(slog.DiscardHandler)
