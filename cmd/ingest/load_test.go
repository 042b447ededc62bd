package main

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/h402/settlement/pkg/events"
	"github.com/h402/settlement/pkg/loadgen"
)

// TestConcurrentLoad drives two replicas with concurrent payments: every
// accepted payment is on the stream exactly once, none is lost or doubled.
func TestConcurrentLoad(t *testing.T) {
	h := newHarness(t, false)
	_, a := h.ingest("a", nil)
	_, b := h.ingest("b", nil)
	net := &h.cfg.Networks[0]
	const n = 300
	ids := map[string]bool{}
	for i, url := range []string{a, b} {
		rep, err := loadgen.Run(context.Background(), loadgen.Config{
			URL: url, N: n / 2, Concurrency: 16, Duration: time.Minute,
			Network: net, Token: &net.Tokens[0], PayTo: "0x00000000000000000000000000000000000000aa",
			Payers: h.evm.Payers(), Amount: int64(1000 + i),
		})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Accepted != n/2 || len(rep.Rejected) != 0 {
			t.Fatalf("replica %d: accepted %d of %d, rejected %v", i, rep.Accepted, n/2, rep.Rejected)
		}
		for _, id := range rep.IDs {
			if ids[id] {
				t.Fatalf("payment id %s accepted twice", id)
			}
			ids[id] = true
		}
	}
	_, js := h.js.Connect(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := js.OrderedConsumer(ctx, events.StreamPayments, jetstream.OrderedConsumerConfig{FilterSubjects: []string{"payments.accepted.>"}})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for len(seen) < n {
		m, err := c.Next(jetstream.FetchContext(ctx))
		if err != nil {
			t.Fatalf("after %d events: %v", len(seen), err)
		}
		seen[m.Headers().Get(jetstream.MsgIDHeader)]++
	}
	for id := range ids {
		if seen[id] != 1 {
			t.Errorf("payment %s stored %d times, want 1", id, seen[id])
		}
	}
	info, _ := c.Info(ctx)
	if info.NumPending != 0 {
		t.Errorf("%d more events than accepted payments on the stream", info.NumPending)
	}
}
