package events

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/h402/settlement/pkg/h402"
	"github.com/h402/settlement/pkg/natsembed"
)

// startLog starts embedded JetStream with the pipeline's streams and
// returns a client and a state log over it.
func startLog(t *testing.T) (jetstream.JetStream, *StateLog, func() (jetstream.JetStream, *StateLog)) {
	t.Helper()
	s, err := natsembed.Start(natsembed.Config{Port: -1, StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return startLogOn(t, s, DefaultStreams())
}

// startLogR3 is startLog on a 3-node cluster with replicated streams, where
// a compare-and-set conflict is answered with another error code (10164).
func startLogR3(t *testing.T) (jetstream.JetStream, *StateLog, func() (jetstream.JetStream, *StateLog)) {
	t.Helper()
	servers, err := natsembed.StartCluster([]string{t.TempDir(), t.TempDir(), t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range servers {
		t.Cleanup(s.Close)
	}
	cfg := DefaultStreams()
	cfg.Replicas = 3
	return startLogOn(t, servers[0], cfg)
}

func startLogOn(t *testing.T, s *natsembed.Server, cfg StreamsConfig) (jetstream.JetStream, *StateLog, func() (jetstream.JetStream, *StateLog)) {
	t.Helper()
	connect := func() (jetstream.JetStream, *StateLog) {
		nc, js, err := s.JetStream()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := Ensure(ctx, js, cfg); err != nil {
			t.Fatal(err)
		}
		log, err := OpenStateLog(ctx, js)
		if err != nil {
			t.Fatal(err)
		}
		return js, log
	}
	js, log := connect()
	return js, log, connect
}

// stored returns every transition stored for id, in order.
func stored(t *testing.T, js jetstream.JetStream, id string) []Transition {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	subj, err := StateSubject(h402.NamespaceEVM, "8453", id)
	if err != nil {
		t.Fatal(err)
	}
	cons, err := js.OrderedConsumer(ctx, StreamPayments, jetstream.OrderedConsumerConfig{FilterSubjects: []string{subj}})
	if err != nil {
		t.Fatal(err)
	}
	info, err := cons.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []Transition
	for uint64(len(out)) < info.NumPending {
		m, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second))
		if err != nil {
			t.Fatal(err)
		}
		tr, err := DecodeTransition(m.Data())
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, *tr)
	}
	return out
}

const payID = "evm.8453.hash.0xab"

// pauseFirst makes the first publishing writer wait (after its read)
// until resume is closed; later writers go through.
func pauseFirst(paused, resume chan struct{}) func(string) {
	var first atomic.Bool
	return func(string) {
		if first.CompareAndSwap(false, true) {
			close(paused)
			<-resume
		}
	}
}

// appendPaused starts log.Append(tr) and returns once it has read the
// latest transition and is about to publish; resume lets it publish and
// returns its error.
func appendPaused(t *testing.T, log *StateLog, tr Transition) (resume func() error) {
	t.Helper()
	paused, release := make(chan struct{}), make(chan struct{})
	beforePublish = pauseFirst(paused, release)
	t.Cleanup(func() { beforePublish = nil })
	errc := make(chan error, 1)
	go func() {
		_, err := log.Append(context.Background(), h402.NamespaceEVM, "8453", tr)
		errc <- err
	}()
	<-paused
	return func() error {
		close(release)
		return <-errc
	}
}

// Two writers read the same latest state; the one that publishes second
// finds its expectation stale, reads again, and refuses a move the new
// state does not allow. Before the compare-and-set append, both stored
// Seq 1 and a submitted transition followed a failed one.
func TestAppendTwoWritersOneWins(t *testing.T) {
	js, slow, connect := startLog(t)
	_, fast := connect()
	ctx := context.Background()

	// the slow writer reads "accepted, seq 0" and is about to publish
	resume := appendPaused(t, slow, Transition{ID: payID, State: StateSubmitted, TxHash: "0x01"})
	won, err := fast.Append(ctx, h402.NamespaceEVM, "8453", Transition{ID: payID, State: StateFailed, Reason: h402.ReasonInvalidPayload, Message: "unreadable"})
	if err != nil || won.Seq != 1 {
		t.Fatalf("fast writer: got %+v, %v; want failed seq 1", won, err)
	}
	if err := resume(); !errors.Is(err, ErrIllegalMove) || !strings.Contains(err.Error(), "is failed") {
		t.Fatalf("slow writer: err = %v, want ErrIllegalMove naming the failed state", err)
	}
	got := stored(t, js, payID)
	if len(got) != 1 || got[0].State != StateFailed || got[0].Seq != 1 {
		t.Errorf("stored: got %+v, want only failed seq 1", got)
	}
}

// A writer that lost the race re-reads and still appends when the move is
// allowed from the new state: its Seq follows the winner's.
func TestAppendLoserRetriesAllowedMove(t *testing.T) {
	js, slow, connect := startLog(t)
	_, fast := connect()
	ctx := context.Background()
	resume := appendPaused(t, slow, Transition{ID: payID, State: StateSubmitted, TxHash: "0x02"})
	if _, err := fast.Append(ctx, h402.NamespaceEVM, "8453", Transition{ID: payID, State: StateSubmitted, TxHash: "0x01"}); err != nil {
		t.Fatal(err)
	}
	if err := resume(); err != nil {
		t.Fatalf("slow writer: %v", err)
	}
	got := stored(t, js, payID)
	if len(got) != 2 || got[0].TxHash != "0x01" || got[0].Seq != 1 || got[1].TxHash != "0x02" || got[1].Seq != 2 {
		t.Errorf("stored: got %+v, want submitted 0x01 seq 1 then its replacement 0x02 seq 2", got)
	}
}

// Many writers race to fail one payment with different reasons: exactly
// one transition is stored, and every other writer is refused.
func TestAppendConcurrentWriters(t *testing.T) {
	testAppendConcurrentWriters(t, startLog, false)
}

// The same on replicated streams, where a publish racing another one on
// the same subject is refused with code 10164 ("wrong last sequence",
// constant form) instead of 10071: before both were recognised, writers
// failed with it instead of reading again.
func TestAppendConcurrentWritersR3(t *testing.T) {
	testAppendConcurrentWriters(t, startLogR3, true)
}

func testAppendConcurrentWriters(t *testing.T, start func(*testing.T) (jetstream.JetStream, *StateLog, func() (jetstream.JetStream, *StateLog)), r3 bool) {
	js, _, connect := start(t)
	const n = 8
	logs := make([]*StateLog, n)
	for i := range logs {
		_, logs[i] = connect()
	}
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range logs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			reason := []h402.Reason{h402.ReasonInvalidPayload, h402.ReasonInsufficientFunds}[i%2]
			_, errs[i] = logs[i].Append(context.Background(), h402.NamespaceEVM, "8453",
				Transition{ID: payID, State: StateFailed, Reason: reason, Message: "writer " + string(rune('a'+i))})
		}()
	}
	wg.Wait()
	got := stored(t, js, payID)
	if len(got) != 1 || got[0].Seq != 1 {
		t.Fatalf("stored: got %+v, want one failed transition with seq 1", got)
	}
	refused := 0
	for _, err := range errs {
		switch {
		case err == nil: // the winner, or a writer with the winner's reason (same outcome)
		case errors.Is(err, ErrIllegalMove):
			refused++
		default:
			t.Errorf("unexpected error: %v", err)
		}
	}
	// On replicated streams writers of the winner's Msg-Id may be answered
	// as duplicates of it; what must hold there is the one stored transition.
	if (refused == 0 && !r3) || refused > n-1 {
		t.Errorf("refused writers: got %d, want between 1 and %d", refused, n-1)
	}
}

func TestAppendChecksMoves(t *testing.T) {
	js, log, _ := startLog(t)
	ctx := context.Background()
	app := func(tr Transition, from ...State) (*Transition, error) {
		tr.ID = payID
		return log.Append(ctx, h402.NamespaceEVM, "8453", tr, from...)
	}
	if _, err := app(Transition{State: StateFinalized, TxHash: "0x01"}); !errors.Is(err, ErrIllegalMove) {
		t.Errorf("accepted → finalized: err = %v, want ErrIllegalMove", err)
	}
	if _, err := app(Transition{State: StateSubmitted, TxHash: "0x01"}); err != nil {
		t.Fatal(err)
	}
	again, err := app(Transition{State: StateSubmitted, TxHash: "0x01"})
	if err != nil || again.Seq != 1 {
		t.Errorf("the same submitted again: got %+v, %v; want the stored seq 1, nothing written", again, err)
	}
	if _, err := app(Transition{State: StateFailed, Reason: h402.ReasonInvalidPayload}, StateAccepted, StateBatched); !errors.Is(err, ErrIllegalMove) {
		t.Errorf("failed only from accepted, while submitted: err = %v, want ErrIllegalMove", err)
	}
	if _, err := app(Transition{State: StateFailed}); !errors.Is(err, ErrMalformed) {
		t.Errorf("failed without a reason: err = %v, want ErrMalformed", err)
	}
	if got := stored(t, js, payID); len(got) != 1 {
		t.Errorf("stored: %d transitions, want 1", len(got))
	}
}

// SendBack stores one `accepted` transition and republishes the accepted
// event once under <id>.resend.<seq>, however often it is called.
func TestSendBack(t *testing.T) {
	js, log, _ := startLog(t)
	ctx := context.Background()
	e := samplePayment()
	if _, err := log.SendBack(ctx, e, "dropped"); !errors.Is(err, ErrIllegalMove) {
		t.Errorf("send back an accepted payment: err = %v, want ErrIllegalMove", err)
	}
	sub := Transition{ID: e.ID, State: StateSubmitted, TxHash: "0x" + strings.Repeat("cd", 32)}
	if _, err := log.Append(ctx, e.Namespace, e.NetworkID, sub); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		tr, err := log.SendBack(ctx, e, "reorged out")
		if err != nil || tr.State != StateAccepted || tr.Seq != 2 {
			t.Fatalf("send back #%d: got %+v, %v; want accepted seq 2", i+1, tr, err)
		}
	}
	subj, _ := PaymentAcceptedSubject(e.Namespace, e.NetworkID, e.ID)
	st, err := js.Stream(ctx, StreamPayments)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(subj))
	if err != nil {
		t.Fatal(err)
	}
	if got := info.State.Subjects[subj]; got != 1 {
		t.Errorf("republished accepted events: got %d, want 1", got)
	}
	m, err := st.GetLastMsgForSubject(ctx, subj)
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Header.Get(jetstream.MsgIDHeader); got != ResendMsgID(e.ID, 2) || got != e.ID+".resend.2" {
		t.Errorf("Nats-Msg-Id: got %q, want %q", got, e.ID+".resend.2")
	}
	if back, err := DecodePaymentAccepted(m.Data); err != nil || !reflect.DeepEqual(back, e) {
		t.Errorf("republished event: got %+v, %v; want the accepted event", back, err)
	}
	// From a terminal state there is no way back.
	if _, err := log.Append(ctx, e.Namespace, e.NetworkID, Transition{ID: e.ID, State: StateFailed, Reason: h402.ReasonInvalidPayload}); err != nil {
		t.Fatal(err)
	}
	if _, err := log.SendBack(ctx, e, "late"); !errors.Is(err, ErrIllegalMove) {
		t.Errorf("send back a failed payment: err = %v, want ErrIllegalMove", err)
	}
}

func TestMsgIDSchemes(t *testing.T) {
	for _, tt := range []struct{ got, want string }{
		{TransitionMsgID(&Transition{ID: "a.b", Seq: 1, State: StateSubmitted, TxHash: "0x1"}), "a.b:1:submitted:0x1"},
		{TransitionMsgID(&Transition{ID: "a.b", Seq: 2, State: StateFailed, TxHash: "0x1"}), "a.b:2:failed"},
		{TransitionMsgID(&Transition{ID: "a.b", Seq: 3, State: StateAccepted}), "a.b:3:accepted"},
		{DeadMsgID("a.b", 2), "a.b:2:dead"},
		{GaveUpMsgID("a.b", 17), "a.b:gave-up:17"},
		{UnreadableMsgID(17), "dead:PAYMENTS:17"},
		{ResendMsgID("a.b", 4), "a.b.resend.4"},
		{ReceiptMsgID("a.b"), "a.b:receipt"},
		{SettlementMsgID("0x1", []string{"a", "b"}), "settlement:0x1:" + "8fb20ef63ced4145"},
	} {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}

func sampleReceipt() Receipt {
	e := samplePayment()
	return Receipt{
		Version: ReceiptVersion, ID: e.ID, State: StateFinalized, Namespace: e.Namespace, NetworkID: e.NetworkID,
		Payer: e.Payer, PayTo: e.PayTo, Token: e.Token, Amount: e.Amount,
		TxHash: "0x" + strings.Repeat("cd", 32), Block: 123456, At: time.Date(2026, 11, 24, 4, 20, 0, 0, time.UTC),
		Resource: e.Resource, SellerSeq: 7,
	}
}

func TestGoldenReceipt(t *testing.T) {
	failed := sampleReceipt()
	failed.State, failed.TxHash, failed.Block = StateFailed, "", 0
	failed.Reason, failed.Message = h402.ReasonNonceAlreadyUsed, "the authorization's nonce was used on chain before settlement"
	for name, want := range map[string]Receipt{"receipt_finalized_v1.json": sampleReceipt(), "receipt_failed_v1.json": failed} {
		t.Run(name, func(t *testing.T) {
			got, err := DecodeReceipt(golden(t, name, want))
			if err != nil {
				t.Fatalf("decode golden: %v", err)
			}
			if *got != want {
				t.Errorf("round trip: got %+v, want %+v", *got, want)
			}
		})
	}
}

func TestDecodeReceiptErrors(t *testing.T) {
	good, _ := json.Marshal(sampleReceipt())
	edit := func(f func(m map[string]any)) []byte { return editJSON(good, f) }
	for _, tt := range []struct {
		name string
		in   []byte
		want error
	}{
		{"not json", []byte("{"), ErrMalformed},
		{"future version", edit(func(m map[string]any) { m["v"] = 2 }), ErrUnknownVersion},
		{"not terminal", edit(func(m map[string]any) { m["state"] = "submitted" }), ErrMalformed},
		{"failed without reason", edit(func(m map[string]any) { m["state"] = "failed" }), ErrMalformed},
		{"finalized without tx", edit(func(m map[string]any) { delete(m, "txHash") }), ErrMalformed},
		{"no seller sequence", edit(func(m map[string]any) { delete(m, "sellerSeq") }), ErrMalformed},
		{"wildcard payTo", edit(func(m map[string]any) { m["payTo"] = ">" }), ErrMalformed},
		{"float amount", edit(func(m map[string]any) { m["amount"] = "1.5" }), ErrMalformed},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := DecodeReceipt(tt.in); !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

// Receipts of one seller get 1, 2, 3, ... even from concurrent writers,
// and a payment's receipt is stored once.
func TestPublishReceiptSellerSeq(t *testing.T) {
	js, _, connect := startLog(t)
	ctx := context.Background()
	const n = 6
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := 0; i < n; i++ {
		jsi, _ := connect()
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := sampleReceipt()
			r.ID = payID + string(rune('a'+i))
			_, errs[i] = PublishReceipt(ctx, jsi, r)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	r := sampleReceipt()
	r.ID = payID + "a"
	again, err := PublishReceipt(ctx, js, r)
	if err != nil {
		t.Fatal(err)
	}
	subj, _ := ReceiptSubject(r.PayTo, r.Namespace, r.NetworkID)
	cons, err := js.OrderedConsumer(ctx, StreamReceipts, jetstream.OrderedConsumerConfig{FilterSubjects: []string{subj}})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]uint64{}
	for i := uint64(1); i <= n; i++ {
		m, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second))
		if err != nil {
			t.Fatalf("receipt %d: %v", i, err)
		}
		got, err := DecodeReceipt(m.Data())
		if err != nil {
			t.Fatal(err)
		}
		if got.SellerSeq != i {
			t.Errorf("receipt %d: sellerSeq %d", i, got.SellerSeq)
		}
		seen[got.ID] = got.SellerSeq
	}
	if len(seen) != n {
		t.Errorf("distinct receipts: got %d, want %d", len(seen), n)
	}
	if again.SellerSeq != seen[r.ID] {
		t.Errorf("publishing a stored receipt again: got sellerSeq %d, want the stored %d", again.SellerSeq, seen[r.ID])
	}
	if _, err := cons.Next(jetstream.FetchMaxWait(200 * time.Millisecond)); err == nil {
		t.Errorf("a receipt was stored twice")
	}
}

func TestGoldenRecordsFilesExist(t *testing.T) {
	for _, name := range []string{"settlement_v1.json", "dead_letter_v1.json", "receipt_finalized_v1.json", "receipt_failed_v1.json"} {
		if _, err := os.Stat(filepath.Join("testdata", name)); err != nil {
			t.Errorf("golden %s: %v", name, err)
		}
	}
}

func FuzzDecodeReceipt(f *testing.F) {
	b, _ := json.Marshal(sampleReceipt())
	f.Add(b)
	f.Add([]byte(`{"v":1,"state":"failed"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeReceipt(b)
		if err != nil {
			return
		}
		out, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := DecodeReceipt(out); err != nil {
			t.Fatalf("re-decode of a receipt failed: %v", err)
		}
	})
}

func FuzzPaymentIDOfAcceptedSubject(f *testing.F) {
	f.Add("payments.accepted.evm.8453.hash.0xab")
	f.Add("payments.accepted.evm.8453")
	f.Add("payments.accepted.evm.8453.a.>")
	f.Fuzz(func(t *testing.T, subj string) {
		id, ok := PaymentIDOfAcceptedSubject(h402.NamespaceEVM, "8453", subj)
		if !ok {
			return
		}
		if back, err := PaymentAcceptedSubject(h402.NamespaceEVM, "8453", id); err != nil || back != subj {
			t.Fatalf("id %q from %q: subject %q, %v", id, subj, back, err)
		}
	})
}
