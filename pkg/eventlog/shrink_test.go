package eventlog_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/h402/settlement/pkg/config"
	"github.com/h402/settlement/pkg/eventlog"
	"github.com/h402/settlement/pkg/events"
	"github.com/h402/settlement/pkg/natsembed"
)

// TestOpenKeepsLargerSettings: a process whose nats settings keep less than
// the streams other processes made (here a replay TTL of a minute against
// 48 h: replay keys forgotten while payments are still valid) starts, but
// leaves the bucket as it was and says so in its log.
func TestOpenKeepsLargerSettings(t *testing.T) {
	s, err := natsembed.Start(natsembed.Config{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	prod := config.NATS{URL: s.ClientURL(), Replicas: 1, MaxAge: config.Duration(2160 * time.Hour),
		Duplicates: config.Duration(10 * time.Minute), ReplayTTL: config.Duration(48 * time.Hour)}
	var logs bytes.Buffer
	first, err := eventlog.Open(ctx, prod, "h402-test", slog.New(slog.NewJSONHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(first.Close)
	if strings.Contains(logs.String(), "differs") {
		t.Fatalf("the first process logged a configuration difference: %s", logs.String())
	}

	dev := prod
	dev.ReplayTTL = config.Duration(time.Minute)
	second, err := eventlog.Open(ctx, dev, "h402-test", slog.New(slog.NewJSONHandler(&logs, nil)))
	if err != nil {
		t.Fatalf("Open with a shorter replay TTL: %v", err)
	}
	t.Cleanup(second.Close)
	const want = "bucket h402_replay keeps more than this process's settings: max age 48h0m0s (configured 1m0s)"
	if !strings.Contains(logs.String(), want) {
		t.Fatalf("log does not say %q:\n%s", want, logs.String())
	}
	kv, err := first.JS.KeyValue(ctx, events.BucketReplay)
	if err != nil {
		t.Fatal(err)
	}
	st, err := kv.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.TTL() != 48*time.Hour {
		t.Fatalf("replay bucket TTL %s after the second start, want 48h", st.TTL())
	}
}
