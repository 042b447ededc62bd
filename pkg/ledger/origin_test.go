package ledger_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/h402/settlement/pkg/events"
	"github.com/h402/settlement/pkg/ledger"
	"github.com/h402/settlement/pkg/testenv"
)

// TestFileOfAnotherLogIsRefused: a ledger file built from one event log
// (a dev store since wiped, a copy from staging) is followed against
// another log holding more messages. The watcher's check only refused a
// file ahead of the stream: this one was taken, its sequences skipped the
// new log's first messages (a payment of the new log missing) and it went
// on serving the old log's payment as finalized. Follow refuses it now,
// and a file rebuilt from the new log dumps as before.
func TestFileOfAnotherLogIsRefused(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	at := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	seller, payer := "0x"+strings.Repeat("c", 40), "0x"+strings.Repeat("b", 40)
	populate := func(env *testenv.JetStream, from, n int) {
		_, js := env.Connect(t)
		sl, err := events.OpenStateLog(ctx, js)
		if err != nil {
			t.Fatal(err)
		}
		for i := from; i < from+n; i++ {
			p := testenv.EVMPayment(i, token, payer, seller, "1000", at)
			testenv.PublishAccepted(t, ctx, js, p)
			testenv.Finalize(t, ctx, sl, p, "0x"+strings.Repeat("d", 64), 7, at)
		}
	}
	old, cur := testenv.StartJetStream(t), testenv.StartJetStream(t)
	populate(old, 1, 1)
	populate(cur, 2, 3) // more messages: the file is not ahead of this log

	l := tempLedger(t)
	_, oldJS := old.Connect(t)
	if err := ledger.CatchUp(ctx, oldJS, l); err != nil {
		t.Fatal(err)
	}
	_, js := cur.Connect(t)
	if err := ledger.CatchUp(ctx, js, l); !errors.Is(err, ledger.ErrOtherLog) {
		t.Fatalf("following another log: %v, want %v", err, ledger.ErrOtherLog)
	}

	// Rebuilt from this log, and again: the same dump (origins left out).
	a, b := tempLedger(t), tempLedger(t)
	for _, x := range []*ledger.Ledger{a, b} {
		if err := ledger.CatchUp(ctx, js, x); err != nil {
			t.Fatal(err)
		}
	}
	if err := ledger.CatchUp(ctx, js, a); err != nil {
		t.Fatalf("following the same log again: %v", err)
	}
	if dump(t, a) != dump(t, b) || strings.Contains(dump(t, a), "origin/") {
		t.Error("rebuilt ledgers differ, or the dump shows the origins")
	}
}

// TestFileAheadOfTheStreamsIsRefused: a file that recorded no origin (made
// before origins were kept) but has applied more of a stream than the
// stream holds belongs to another log: CheckStreams, which the watcher runs
// at start-up and Follow per stream, refuses it.
func TestFileAheadOfTheStreamsIsRefused(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	env := testenv.StartJetStream(t)
	_, js := env.Connect(t)
	l := tempLedger(t)
	if err := l.Apply(events.StreamPayments, 1000, "payments.dead.evm.8453", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := ledger.CheckStreams(ctx, js, l); !errors.Is(err, ledger.ErrOtherLog) {
		t.Fatalf("CheckStreams of a file ahead of the streams: %v, want %v", err, ledger.ErrOtherLog)
	}
	if err := ledger.Follow(ctx, js, l); !errors.Is(err, ledger.ErrOtherLog) {
		t.Fatalf("Follow of a file ahead of the streams: %v, want %v", err, ledger.ErrOtherLog)
	}
}
