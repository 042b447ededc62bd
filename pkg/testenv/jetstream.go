package testenv

import (
	"context"
	"testing"
	"time"

	"github.com/h402/settlement/pkg/events"
	"github.com/h402/settlement/pkg/jsensure"
	"github.com/h402/settlement/pkg/natsembed"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// JetStream is an embedded server with the pipeline's streams and buckets.
type JetStream struct {
	Server  *natsembed.Server
	Streams events.StreamsConfig
}

// StartJetStream starts an embedded JetStream server on a loopback port with a
// store in t.TempDir(), creates the streams and buckets, and stops it when the
// test ends.
func StartJetStream(t testing.TB) *JetStream {
	t.Helper()
	s, err := natsembed.Start(natsembed.Config{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatalf("start embedded JetStream: %v", err)
	}
	t.Cleanup(s.Close)
	env := &JetStream{Server: s, Streams: events.DefaultStreams()}
	_, js := env.Connect(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := events.Ensure(ctx, js, env.Streams); err != nil {
		t.Fatalf("ensure streams: %v", err)
	}
	return env
}

// Reconfigure applies c to the streams and buckets, shrinking them where c
// keeps less (as an operator would with the nats CLI; processes keep the
// larger settings), for tests that need short TTLs or dedup windows.
func (e *JetStream) Reconfigure(t testing.TB, c events.StreamsConfig) {
	t.Helper()
	_, js := e.Connect(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := events.EnsureReport(ctx, js, c, jsensure.AllowShrink()); err != nil {
		t.Fatalf("reconfigure streams: %v", err)
	}
	e.Streams = c
}

// Connect opens a new client connection (one per simulated replica), closed
// when the test ends.
func (e *JetStream) Connect(t testing.TB) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, js, err := e.Server.JetStream()
	if err != nil {
		t.Fatalf("connect to embedded JetStream: %v", err)
	}
	t.Cleanup(nc.Close)
	return nc, js
}

// KeyValue opens a bucket on a new connection.
func (e *JetStream) KeyValue(t testing.TB, bucket string) jetstream.KeyValue {
	t.Helper()
	_, js := e.Connect(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	kv, err := js.KeyValue(ctx, bucket)
	if err != nil {
		t.Fatalf("open bucket %s: %v", bucket, err)
	}
	return kv
}
