package jsensure_test

import (
	"context"
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
		if _, out, err := jsensure.Stream(ctx, js, c); err != nil || out.Updated {
			t.Fatalf("create %s: %+v err=%v", c.Name, out, err)
		}
	}
	sub := updates(t, nc)

	// The same configuration again: nothing is sent to the stream.
	if _, out, err := jsensure.Stream(ctx, js, cfg); err != nil || out.Updated {
		t.Fatalf("ensure unchanged: %+v err=%v", out, err)
	}
	// A changed one is applied. Its advisory is the first one the server
	// sends after the unchanged ensure, so that ensure sent none.
	changed := other
	changed.MaxAge = 2 * time.Hour
	s, out, err := jsensure.Stream(ctx, js, changed)
	if err != nil || !out.Updated {
		t.Fatalf("ensure changed: %+v err=%v", out, err)
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
	if _, out, err := jsensure.KeyValue(ctx, js, cfg); err != nil || out.Updated {
		t.Fatalf("create: %+v err=%v", out, err)
	}
	if _, out, err := jsensure.KeyValue(ctx, js, jetstream.KeyValueConfig{Bucket: "b"}); err != nil || out.Updated {
		t.Fatalf("create b: %+v err=%v", out, err)
	}
	sub := updates(t, nc)
	kv, out, err := jsensure.KeyValue(ctx, js, cfg)
	if err != nil || out.Updated {
		t.Fatalf("ensure unchanged: %+v err=%v", out, err)
	}
	if _, err := kv.Put(ctx, "k", []byte("v")); err != nil {
		t.Fatalf("bucket from an unchanged ensure is not usable: %v", err)
	}
	if _, out, err := jsensure.KeyValue(ctx, js, jetstream.KeyValueConfig{Bucket: "b", History: 5}); err != nil || !out.Updated {
		t.Fatalf("ensure changed: %+v err=%v", out, err)
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
			if _, out, err := jsensure.Stream(ctx, js, cfg); err != nil || out.Updated {
				t.Errorf("concurrent ensure of one configuration: %+v err=%v", out, err)
			}
		}()
	}
	wg.Wait()
	if _, out, err := jsensure.Stream(ctx, js, jetstream.StreamConfig{Name: "B", Subjects: []string{"b.>"}, Description: "sentinel"}); err != nil || !out.Updated {
		t.Fatalf("sentinel update: %+v err=%v", out, err)
	}
	if subj := nextUpdate(t, sub); subj != "$JS.EVENT.ADVISORY.STREAM.UPDATED.B" {
		t.Fatalf("first update advisory %q, want the sentinel's on B", subj)
	}
}

// TestLargerSettingsKept: where the existing stream or bucket keeps more
// than the configuration asks (a development config pointed at production,
// or a limit an operator raised), that setting is kept and named, and
// nothing is sent when the rest is equal; a configuration keeping more is
// applied; AllowShrink applies a smaller one.
func TestLargerSettingsKept(t *testing.T) {
	nc, js := start(t)
	ctx := context.Background()
	log := jetstream.StreamConfig{Name: "LOG", Subjects: []string{"log.>"}, MaxAge: 90 * 24 * time.Hour, Duplicates: 10 * time.Minute}
	if _, _, err := jsensure.Stream(ctx, js, log); err != nil {
		t.Fatal(err)
	}
	if _, _, err := jsensure.Stream(ctx, js, jetstream.StreamConfig{Name: "OTHER", Subjects: []string{"other.>"}}); err != nil {
		t.Fatal(err)
	}
	sub := updates(t, nc)
	for _, tc := range []struct {
		name   string
		change func(*jetstream.StreamConfig)
		says   string
	}{
		{"max age", func(c *jetstream.StreamConfig) { c.MaxAge = time.Hour }, "max age 2160h0m0s (configured 1h0m0s)"},
		{"dedup window", func(c *jetstream.StreamConfig) { c.Duplicates = time.Minute }, "duplicate window 10m0s (configured 1m0s)"},
		{"a limit where there was none", func(c *jetstream.StreamConfig) { c.MaxBytes = 1 << 20 }, "max bytes unlimited (configured 1048576)"},
	} {
		cfg := log
		tc.change(&cfg)
		_, out, err := jsensure.Stream(ctx, js, cfg)
		if err != nil || out.Updated || !strings.Contains(strings.Join(out.Kept, "; "), tc.says) {
			t.Errorf("%s: %+v, %v; want kept %q and no update", tc.name, out, err, tc.says)
		}
	}
	// Kept, and the rest applied: one update, the max age left as it was.
	cfg := log
	cfg.MaxAge, cfg.Description = time.Hour, "described"
	s, out, err := jsensure.Stream(ctx, js, cfg)
	if err != nil || !out.Updated || len(out.Kept) != 1 {
		t.Fatalf("shorter max age and a description: %+v, %v; want one kept setting and an update", out, err)
	}
	if got := s.CachedInfo().Config; got.MaxAge != log.MaxAge || got.Duplicates != log.Duplicates || got.MaxBytes > 0 || got.Description != "described" {
		t.Fatalf("after the update: %+v", got)
	}
	// The first update advisory is that one: the kept-only ensures sent none.
	if subj := nextUpdate(t, sub); subj != "$JS.EVENT.ADVISORY.STREAM.UPDATED.LOG" {
		t.Fatalf("first update advisory %q", subj)
	}
	if _, _, err := jsensure.Stream(ctx, js, jetstream.StreamConfig{Name: "OTHER", Subjects: []string{"other.>"}, Description: "sentinel"}); err != nil {
		t.Fatal(err)
	}
	if subj := nextUpdate(t, sub); subj != "$JS.EVENT.ADVISORY.STREAM.UPDATED.OTHER" {
		t.Fatalf("second update advisory %q, want the sentinel's (no other update between)", subj)
	}

	longer := cfg
	longer.MaxAge = 180 * 24 * time.Hour
	if s, out, err := jsensure.Stream(ctx, js, longer); err != nil || !out.Updated || s.CachedInfo().Config.MaxAge != longer.MaxAge {
		t.Fatalf("a longer max age: %+v, %v", out, err)
	}
	shorter := cfg
	if s, out, err := jsensure.Stream(ctx, js, shorter, jsensure.AllowShrink()); err != nil || !out.Updated || s.CachedInfo().Config.MaxAge != time.Hour {
		t.Fatalf("shrinking with AllowShrink: %+v, %v", out, err)
	}

	replay := jetstream.KeyValueConfig{Bucket: "replay", TTL: 48 * time.Hour, History: 1}
	if _, _, err := jsensure.KeyValue(ctx, js, replay); err != nil {
		t.Fatal(err)
	}
	short := replay
	short.TTL = time.Minute
	if _, out, err := jsensure.KeyValue(ctx, js, short); err != nil || out.Updated || !strings.Contains(strings.Join(out.Kept, "; "), "max age 48h0m0s (configured 1m0s)") {
		t.Fatalf("shorter replay TTL: %+v, %v; want the TTL kept, no update", out, err)
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
		t.Fatalf("the bucket's TTL is %v after a shorter ensure, want 48h", st.TTL())
	}
	more := replay
	more.History = 3
	if _, out, err := jsensure.KeyValue(ctx, js, more); err != nil || !out.Updated {
		t.Fatalf("more history: %+v, %v", out, err)
	}
}
