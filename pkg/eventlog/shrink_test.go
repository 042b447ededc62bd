package eventlog_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/h402/settlement/pkg/config"
	"github.com/h402/settlement/pkg/eventlog"
	"github.com/h402/settlement/pkg/events"
	"github.com/h402/settlement/pkg/jsensure"
	"github.com/h402/settlement/pkg/natsembed"
)

// TestOpenRefusesToShrink: a process whose nats settings keep less than the
// streams other processes made (here a replay TTL of a minute against 48 h:
// replay keys forgotten while payments are still valid) does not start, and
// says which setting; the streams are left as they were.
func TestOpenRefusesToShrink(t *testing.T) {
	s, err := natsembed.Start(natsembed.Config{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	prod := config.NATS{URL: s.ClientURL(), Replicas: 1, MaxAge: config.Duration(2160 * time.Hour),
		Duplicates: config.Duration(10 * time.Minute), ReplayTTL: config.Duration(48 * time.Hour)}
	first, err := eventlog.Open(ctx, prod, "h402-test", log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(first.Close)

	dev := prod
	dev.ReplayTTL = config.Duration(time.Minute)
	// Within ctx's 30 s: a refusal waited out as "not available" would end
	// in the context's error, not this one.
	_, err = eventlog.Open(ctx, dev, "h402-test", log)
	if !errors.Is(err, jsensure.ErrWouldShrink) || !strings.Contains(err.Error(), "max age 48h0m0s → 1m0s") {
		t.Fatalf("Open with a shorter replay TTL: got %v, want ErrWouldShrink naming the max age", err)
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
		t.Fatalf("replay bucket TTL %s after the refused start, want 48h", st.TTL())
	}
}
