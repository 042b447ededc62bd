package ledger_test

import (
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/h402/settlement/pkg/events"
	"github.com/h402/settlement/pkg/ledger"
)

// BenchmarkApplyBatch projects payments (accepted, submitted, confirmed,
// finalized: four PAYMENTS messages each) in batches of 512, as Follow
// does on a busy stream, into a synced file. It reports messages per second.
func BenchmarkApplyBatch(b *testing.B) {
	l, err := ledger.Open(filepath.Join(b.TempDir(), "l.db"), ledger.Options{Logger: discard})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	var msgs []ledger.Msg
	seq := uint64(0)
	add := func(subj string, data []byte) {
		seq++
		msgs = append(msgs, ledger.Msg{Seq: seq, Subject: subj, Data: data})
	}
	for i := 0; i < b.N; i++ {
		e := pay(i, payer1, sellerA, "10")
		acc, _ := e.Encode()
		accSubj, _ := events.PaymentAcceptedSubject(e.Namespace, e.NetworkID, e.ID)
		add(accSubj, acc)
		stSubj, _ := events.StateSubject(e.Namespace, e.NetworkID, e.ID)
		for s, st := range []events.State{events.StateSubmitted, events.StateConfirmed, events.StateFinalized} {
			tr, _ := json.Marshal(events.Transition{Version: 1, ID: e.ID, Seq: uint64(s + 1), State: st, TxHash: txHash(i), Block: 5, At: t0})
			add(stSubj, tr)
		}
	}
	b.ResetTimer()
	start := time.Now()
	for len(msgs) > 0 {
		n := min(512, len(msgs))
		if err := l.ApplyBatch(events.StreamPayments, msgs[:n]); err != nil {
			b.Fatal(err)
		}
		msgs = msgs[n:]
	}
	b.ReportMetric(float64(seq)/time.Since(start).Seconds(), "msgs/s")
}
