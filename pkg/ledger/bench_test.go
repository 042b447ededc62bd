package ledger_test

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strconv"
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

// BenchmarkStatus reads the status overview of ledgers of 1,000 and 20,000
// finalized payments with receipts, spread over 20 sellers and 100
// minutes: the cost stays the same (bounded reads of counters and indexes).
func BenchmarkStatus(b *testing.B) {
	for _, n := range []int{1_000, 20_000} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			l, err := ledger.Open(filepath.Join(b.TempDir(), "l.db"), ledger.Options{Logger: discard, NoSync: true})
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			var pays, rcs []ledger.Msg
			for i := range n {
				seller := fmt.Sprintf("0x%040x", 0xa000+i%20)
				at := t0.Add(time.Duration(i%100) * time.Minute)
				e := pay(i, payer1, seller, "10")
				e.AcceptedAt = at
				acc, _ := e.Encode()
				accSubj, _ := events.PaymentAcceptedSubject(e.Namespace, e.NetworkID, e.ID)
				stSubj, _ := events.StateSubject(e.Namespace, e.NetworkID, e.ID)
				tr, _ := json.Marshal(events.Transition{Version: 1, ID: e.ID, Seq: 1, State: events.StateFinalized, TxHash: txHash(i), Block: 5, At: at})
				pays = append(pays, ledger.Msg{Seq: uint64(len(pays) + 1), Subject: accSubj, Data: acc},
					ledger.Msg{Seq: uint64(len(pays) + 2), Subject: stSubj, Data: tr})
				rc, _ := json.Marshal(events.Receipt{Version: 1, ID: e.ID, State: events.StateFinalized, Namespace: e.Namespace, NetworkID: e.NetworkID,
					Payer: e.Payer, PayTo: e.PayTo, Token: e.Token, Amount: e.Amount, TxHash: txHash(i), Block: 5, At: at, SellerSeq: uint64(i/20 + 1)})
				rcSubj, _ := events.ReceiptSubject(e.PayTo, e.Namespace, e.NetworkID)
				rcs = append(rcs, ledger.Msg{Seq: uint64(len(rcs) + 1), Subject: rcSubj, Data: rc})
			}
			for stream, msgs := range map[string][]ledger.Msg{events.StreamPayments: pays, events.StreamReceipts: rcs} {
				for len(msgs) > 0 {
					k := min(512, len(msgs))
					if err := l.ApplyBatch(stream, msgs[:k]); err != nil {
						b.Fatal(err)
					}
					msgs = msgs[k:]
				}
			}
			b.ResetTimer()
			for b.Loop() {
				s, err := l.Status(t0.Add(100*time.Minute), ledger.StatusOptions{})
				if err != nil || len(s.Receipts) != 30 || s.Networks[0].Total != uint64(n) {
					b.Fatalf("status: %v, %+v", err, s)
				}
			}
		})
	}
}
