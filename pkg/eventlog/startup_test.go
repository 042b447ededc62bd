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

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	done := openAsync(ctx, testNATS(first.ClientURL(), 3))
	if r, retried := done.first(); !retried {
		t.Fatalf("Open gave up while the cluster formed: %v", r.err)
	}
	for _, cfg := range cfgs[up:] {
		s, err := natsembed.Start(cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Close)
	}
	r := <-done.result
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

// testNATS is the nats section the tests open with.
func testNATS(url string, replicas int) config.NATS {
	return config.NATS{URL: url, Replicas: replicas, MaxAge: config.Duration(time.Hour),
		Duplicates: config.Duration(time.Minute), ReplayTTL: config.Duration(time.Hour)}
}

// opened is eventlog.Open's answer.
type opened struct {
	conn *eventlog.Conn
	err  error
}

// openRun is an eventlog.Open running in its own goroutine, with its log.
type openRun struct {
	logs   lineWriter
	result chan opened
}

// openAsync runs eventlog.Open(ctx, c) in a goroutine.
func openAsync(ctx context.Context, c config.NATS) openRun {
	o := openRun{logs: make(lineWriter, 64), result: make(chan opened, 1)}
	log := slog.New(slog.NewJSONHandler(o.logs, nil))
	go func() {
		conn, err := eventlog.Open(ctx, c, "h402-test", log)
		o.result <- opened{conn, err}
	}()
	return o
}

// first waits for whichever comes first: Open logging that it tries again
// because JetStream is not available (retried), or Open's answer.
func (o openRun) first() (r opened, retried bool) {
	const retrying = "JetStream not available yet; ensuring the streams again"
	for {
		select {
		case msg := <-o.logs:
			if msg == retrying {
				return opened{}, true
			}
		case r := <-o.result:
			return r, false
		}
	}
}
