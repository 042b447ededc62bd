package ledger_test

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/h402/settlement/pkg/events"
	"github.com/h402/settlement/pkg/h402"
	"github.com/h402/settlement/pkg/ledger"
)

// seedMessages are well-formed messages of each stream, as the pipeline
// writes them.
func seedMessages(t testing.TB) []struct {
	stream, subject string
	data            []byte
} {
	e := pay(1, payer1, sellerA, "100")
	acc, err := e.Encode()
	if err != nil {
		t.Fatal(err)
	}
	accSubj, _ := events.PaymentAcceptedSubject(e.Namespace, e.NetworkID, e.ID)
	stSubj, _ := events.StateSubject(e.Namespace, e.NetworkID, e.ID)
	tr, _ := json.Marshal(events.Transition{Version: 1, ID: e.ID, Seq: 1, State: events.StateSubmitted, TxHash: txHash(1), At: t0})
	fin, _ := json.Marshal(events.Transition{Version: 1, ID: e.ID, Seq: 2, State: events.StateFinalized, TxHash: txHash(1), Block: 9, At: t0})
	rc, _ := json.Marshal(events.Receipt{Version: 1, ID: e.ID, State: events.StateFinalized, Namespace: e.Namespace, NetworkID: e.NetworkID,
		Payer: e.Payer, PayTo: e.PayTo, Token: e.Token, Amount: e.Amount, TxHash: txHash(1), Block: 9, At: t0, SellerSeq: 1})
	rcSubj, _ := events.ReceiptSubject(e.PayTo, e.Namespace, e.NetworkID)
	sf, _ := json.Marshal(events.SettlementFinal{Version: 1, Namespace: e.Namespace, NetworkID: e.NetworkID, TxHash: txHash(1), GasUsed: 5, Fee: "7", At: t0})
	sfSubj, _ := events.SettlementFinalSubject(e.Namespace, e.NetworkID)
	ss, _ := json.Marshal(events.Settlement{Version: 1, Namespace: e.Namespace, NetworkID: e.NetworkID, TxHash: txHash(1), Payments: []string{e.ID}, SubmittedAt: t0})
	ssSubj, _ := events.SettlementSubmittedSubject(h402.NamespaceEVM, "8453")
	return []struct {
		stream, subject string
		data            []byte
	}{
		{events.StreamPayments, accSubj, acc},
		{events.StreamPayments, stSubj, tr},
		{events.StreamPayments, stSubj, fin},
		{events.StreamReceipts, rcSubj, rc},
		{events.StreamSettlements, sfSubj, sf},
		{events.StreamSettlements, ssSubj, ss},
	}
}

// withoutMeta drops the meta bucket (sequences and counters) from a dump.
func withoutMeta(d string) string {
	var b strings.Builder
	for _, line := range strings.SplitAfter(d, "\n") {
		if !strings.HasPrefix(line, "meta ") {
			b.WriteString(line)
		}
	}
	return b.String()
}

// FuzzApply applies an arbitrary message after a small history: Apply never
// panics or fails, a skipped message changes nothing but the counters, and
// applying it again changes nothing at all.
func FuzzApply(f *testing.F) {
	seeds := seedMessages(f)
	for i, s := range seeds {
		f.Add(uint8(i%3), s.subject, s.data)
	}
	f.Add(uint8(0), "payments.state.evm.8453.x", []byte(`{"v":1,"id":"y","seq":1,"state":"failed"}`))
	f.Add(uint8(2), "receipts.x.evm.8453", []byte(`{"v":1}`))
	// One ledger for the run (each fuzz worker is its own process), with a
	// small history first: opening a file per input would be most of the cost.
	l, err := ledger.Open(filepath.Join(f.TempDir(), "l.db"), ledger.Options{Timeout: time.Second, Logger: discard, NoSync: true})
	if err != nil {
		f.Fatal(err)
	}
	defer l.Close()
	seq := map[string]uint64{}
	for _, s := range seeds[:3] {
		seq[s.stream]++
		if err := l.Apply(s.stream, seq[s.stream], s.subject, s.data); err != nil {
			f.Fatal(err)
		}
	}
	f.Fuzz(func(t *testing.T, streamIdx uint8, subject string, data []byte) {
		stream := ledger.Streams[int(streamIdx)%len(ledger.Streams)]
		seq[stream]++
		before := dump(t, l)
		skippedBefore, _ := l.Skipped(stream)
		if err := l.Apply(stream, seq[stream], subject, data); err != nil {
			t.Fatalf("apply: %v", err)
		}
		after := dump(t, l)
		if skipped, _ := l.Skipped(stream); skipped != skippedBefore && withoutMeta(after) != withoutMeta(before) {
			t.Fatalf("a skipped message changed the ledger:\nbefore\n%s\nafter\n%s", before, after)
		}
		if err := l.Apply(stream, seq[stream], subject, data); err != nil {
			t.Fatalf("apply again: %v", err)
		}
		if again := dump(t, l); again != after {
			t.Fatalf("applying again changed the ledger")
		}
	})
}
