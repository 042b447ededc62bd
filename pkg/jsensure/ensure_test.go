package jsensure_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/h402/settlement/pkg/jsensure"
	"github.com/h402/settlement/pkg/natsembed"
)

func start(t *testing.T) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	s, err := natsembed.Start(natsembed.Config{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	nc, js, err := s.JetStream()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc, js
}

// updates subscribes to the server's stream-updated advisories; the server
// sends them in the order it applied the updates.
func updates(t *testing.T, nc *nats.Conn) *nats.Subscription {
	t.Helper()
	sub, err := nc.SubscribeSync("$JS.EVENT.ADVISORY.STREAM.UPDATED.>")
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return sub
}

func nextUpdate(t *testing.T, sub *nats.Subscription) string {
	t.Helper()
	m, err := sub.NextMsg(10 * time.Second)
	if err != nil {
		t.Fatalf("no stream-updated advisory: %v", err)
	}
	return m.Subject
}

func TestStreamUpdatedOnlyWhenConfigDiffers(t *testing.T) {
	nc, js := start(t)
	ctx := context.Background()
	cfg := jetstream.StreamConfig{Name: "A", Subjects: []string{"a.>"}, MaxAge: time.Hour}
	other := jetstream.StreamConfig{Name: "B", Subjects: []string{"b.>"}, MaxAge: time.Hour}
	for _, c := range []jetstream.StreamConfig{cfg, other} {
		if _, updated, err := jsensure.Stream(ctx, js, c); err != nil || updated {
			t.Fatalf("create %s: updated=%v err=%v", c.Name, updated, err)
		}
	}
	sub := updates(t, nc)

	// The same configuration again: nothing is sent to the stream.
	if _, updated, err := jsensure.Stream(ctx, js, cfg); err != nil || updated {
		t.Fatalf("ensure unchanged: updated=%v err=%v", updated, err)
	}
	// A changed one is applied. Its advisory is the first one the server
	// sends after the unchanged ensure, so that ensure sent none.
	changed := other
	changed.MaxAge = 2 * time.Hour
	s, updated, err := jsensure.Stream(ctx, js, changed)
	if err != nil || !updated {
		t.Fatalf("ensure changed: updated=%v err=%v", updated, err)
	}
	if got := s.CachedInfo().Config.MaxAge; got != 2*time.Hour {
		t.Fatalf("MaxAge after update = %s", got)
	}
	if subj := nextUpdate(t, sub); subj != "$JS.EVENT.ADVISORY.STREAM.UPDATED.B" {
		t.Fatalf("first update advisory %q, want the changed stream B's", subj)
	}
}

func TestStreamConflictingConfigRefused(t *testing.T) {
	_, js := start(t)
	ctx := context.Background()
	if _, _, err := jsensure.Stream(ctx, js, jetstream.StreamConfig{Name: "A", Subjects: []string{"a.>"}, Storage: jetstream.FileStorage}); err != nil {
		t.Fatal(err)
	}
	// Storage cannot be changed by an update: the server's refusal comes back.
	_, _, err := jsensure.Stream(ctx, js, jetstream.StreamConfig{Name: "A", Subjects: []string{"a.>"}, Storage: jetstream.MemoryStorage})
	if err == nil {
		t.Fatal("changing a stream's storage was accepted")
	}
}

func TestKeyValueUpdatedOnlyWhenConfigDiffers(t *testing.T) {
	nc, js := start(t)
	ctx := context.Background()
	cfg := jetstream.KeyValueConfig{Bucket: "a", History: 1}
	if _, updated, err := jsensure.KeyValue(ctx, js, cfg); err != nil || updated {
		t.Fatalf("create: updated=%v err=%v", updated, err)
	}
	if _, updated, err := jsensure.KeyValue(ctx, js, jetstream.KeyValueConfig{Bucket: "b"}); err != nil || updated {
		t.Fatalf("create b: updated=%v err=%v", updated, err)
	}
	sub := updates(t, nc)
	kv, updated, err := jsensure.KeyValue(ctx, js, cfg)
	if err != nil || updated {
		t.Fatalf("ensure unchanged: updated=%v err=%v", updated, err)
	}
	if _, err := kv.Put(ctx, "k", []byte("v")); err != nil {
		t.Fatalf("bucket from an unchanged ensure is not usable: %v", err)
	}
	if _, updated, err := jsensure.KeyValue(ctx, js, jetstream.KeyValueConfig{Bucket: "b", History: 5}); err != nil || !updated {
		t.Fatalf("ensure changed: updated=%v err=%v", updated, err)
	}
	if subj := nextUpdate(t, sub); subj != "$JS.EVENT.ADVISORY.STREAM.UPDATED.KV_b" {
		t.Fatalf("first update advisory %q, want bucket b's", subj)
	}
}

// Every replica ensures the same streams at once when a deployment starts.
func TestConcurrentEnsureCreatesWithoutUpdates(t *testing.T) {
	nc, js := start(t)
	ctx := context.Background()
	if _, _, err := jsensure.Stream(ctx, js, jetstream.StreamConfig{Name: "B", Subjects: []string{"b.>"}}); err != nil {
		t.Fatal(err)
	}
	sub := updates(t, nc)
	cfg := jetstream.StreamConfig{Name: "A", Subjects: []string{"a.>"}}
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, updated, err := jsensure.Stream(ctx, js, cfg); err != nil || updated {
				t.Errorf("concurrent ensure of one configuration: updated=%v err=%v", updated, err)
			}
		}()
	}
	wg.Wait()
	if _, updated, err := jsensure.Stream(ctx, js, jetstream.StreamConfig{Name: "B", Subjects: []string{"b.>"}, Description: "sentinel"}); err != nil || !updated {
		t.Fatalf("sentinel update: updated=%v err=%v", updated, err)
	}
	if subj := nextUpdate(t, sub); subj != "$JS.EVENT.ADVISORY.STREAM.UPDATED.B" {
		t.Fatalf("first update advisory %q, want the sentinel's on B", subj)
	}
}

// TestShrinkRefused: an update that would keep less than the existing
// stream or bucket (a development config pointed at production) is refused
// with ErrWouldShrink naming what would shrink, and changes nothing; one
// that keeps more goes through; AllowShrink lets a caller shrink.
func TestShrinkRefused(t *testing.T) {
	_, js := start(t)
	ctx := context.Background()
	log := jetstream.StreamConfig{Name: "LOG", Subjects: []string{"log.>"}, MaxAge: 90 * 24 * time.Hour, Duplicates: 10 * time.Minute}
	if _, _, err := jsensure.Stream(ctx, js, log); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		change func(*jetstream.StreamConfig)
		says   string
	}{
		{"max age", func(c *jetstream.StreamConfig) { c.MaxAge = time.Hour }, "max age 2160h0m0s → 1h0m0s"},
		{"dedup window", func(c *jetstream.StreamConfig) { c.Duplicates = time.Minute }, "duplicate window 10m0s → 1m0s"},
		{"a limit where there was none", func(c *jetstream.StreamConfig) { c.MaxBytes = 1 << 20 }, "max bytes unlimited → 1048576"},
	} {
		cfg := log
		tc.change(&cfg)
		_, _, err := jsensure.Stream(ctx, js, cfg)
		if !errors.Is(err, jsensure.ErrWouldShrink) || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("%s: got %v, want ErrWouldShrink saying %q", tc.name, err, tc.says)
		}
	}
	s, err := js.Stream(ctx, "LOG")
	if err != nil {
		t.Fatal(err)
	}
	if got := s.CachedInfo().Config; got.MaxAge != log.MaxAge || got.Duplicates != log.Duplicates || got.MaxBytes > 0 {
		t.Fatalf("a refused update changed the stream: %+v", got)
	}
	longer := log
	longer.MaxAge = 180 * 24 * time.Hour
	if _, updated, err := jsensure.Stream(ctx, js, longer); err != nil || !updated {
		t.Fatalf("a longer max age: updated=%v err=%v", updated, err)
	}
	shorter := log
	shorter.MaxAge = time.Hour
	if _, updated, err := jsensure.Stream(ctx, js, shorter, jsensure.AllowShrink()); err != nil || !updated {
		t.Fatalf("shrinking with AllowShrink: updated=%v err=%v", updated, err)
	}

	replay := jetstream.KeyValueConfig{Bucket: "replay", TTL: 48 * time.Hour, History: 1}
	if _, _, err := jsensure.KeyValue(ctx, js, replay); err != nil {
		t.Fatal(err)
	}
	short := replay
	short.TTL = time.Minute
	if _, _, err := jsensure.KeyValue(ctx, js, short); !errors.Is(err, jsensure.ErrWouldShrink) || !strings.Contains(err.Error(), "bucket replay: max age 48h0m0s → 1m0s") {
		t.Fatalf("shorter replay TTL: got %v, want ErrWouldShrink", err)
	}
	kv, err := js.KeyValue(ctx, "replay")
	if err != nil {
		t.Fatal(err)
	}
	st, err := kv.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.TTL() != 48*time.Hour {
		t.Fatalf("the refused update changed the bucket: TTL %v", st.TTL())
	}
	more := replay
	more.History = 3
	if _, updated, err := jsensure.KeyValue(ctx, js, more); err != nil || !updated {
		t.Fatalf("more history: updated=%v err=%v", updated, err)
	}
}
