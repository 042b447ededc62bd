package eventlog_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/h402/settlement/pkg/config"
	"github.com/h402/settlement/pkg/eventlog"
	"github.com/h402/settlement/pkg/events"
	"github.com/h402/settlement/pkg/natsembed"
)

// lineWriter hands each JSON log line's message to a channel.
type lineWriter chan string

func (w lineWriter) Write(p []byte) (int, error) {
	var m struct{ Msg string }
	if json.Unmarshal(p, &m) == nil {
		select {
		case w <- m.Msg:
		default:
		}
	}
	return len(p), nil
}

// TestOpenWaitsForTheCluster: a process started while a 3-node cluster
// forms keeps ensuring the streams, and succeeds once the other nodes join,
// instead of exiting on the first "not available": with one node up there
// is no meta leader (requests time out); with two there is one, but R3
// streams have "no suitable peers for placement" (10005).
func TestOpenWaitsForTheCluster(t *testing.T) {
	for _, up := range []int{1, 2} {
		t.Run(fmt.Sprintf("%d of 3 nodes up", up), func(t *testing.T) { openWhileClusterForms(t, up) })
	}
}

func openWhileClusterForms(t *testing.T, up int) {
	dirs := []string{filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "b"), filepath.Join(t.TempDir(), "c")}
	cfgs, err := natsembed.ClusterConfigs(dirs)
	if err != nil {
		t.Fatal(err)
	}
	var first *natsembed.Server
	for i, cfg := range cfgs[:up] {
		s, err := natsembed.Start(cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Close)
		if i == 0 {
			first = s
		}
	}
	if up == 2 { // a leader, so that the first answer is 10005, not a timeout
		if err := natsembed.WaitJetStream(first, 30*time.Second); err != nil {
			t.Fatal(err)
		}
	}

	logs := make(lineWriter, 64)
	log := slog.New(slog.NewJSONHandler(logs, nil))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	type result struct {
		conn *eventlog.Conn
		err  error
	}
	done := make(chan result, 1)
	go func() {
		c, err := eventlog.Open(ctx, config.NATS{
			URL: first.ClientURL(), Replicas: 3, MaxAge: config.Duration(time.Hour),
			Duplicates: config.Duration(time.Minute), ReplayTTL: config.Duration(time.Hour),
		}, "h402-test", log)
		done <- result{c, err}
	}()

	const retrying = "JetStream not available yet; ensuring the streams again"
wait:
	for {
		select {
		case msg := <-logs:
			if msg == retrying {
				break wait
			}
		case r := <-done:
			t.Fatalf("Open gave up while the cluster formed: %v", r.err)
		}
	}
	for _, cfg := range cfgs[up:] {
		s, err := natsembed.Start(cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Close)
	}
	r := <-done
	if r.err != nil {
		t.Fatalf("Open after the cluster formed: %v", r.err)
	}
	t.Cleanup(r.conn.Close)
	s, err := r.conn.JS.Stream(ctx, events.StreamPayments)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.CachedInfo().Config.Replicas; got != 3 {
		t.Fatalf("payments stream has %d replicas, want 3", got)
	}
}
