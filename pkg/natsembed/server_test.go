package natsembed

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// TestStartPublishRestart proves the embedded server is a real, durable
// JetStream: a message stored before a restart is there after it, and a
// Nats-Msg-Id inside the duplicates window is still recognised.
func TestStartPublishRestart(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	start := time.Now()
	s, err := Start(Config{StoreDir: dir, SyncAlways: true})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Logf("embedded JetStream ready in %v", time.Since(start))
	nc, js, err := s.JetStream()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "T", Subjects: []string{"t.>"}, Duplicates: time.Hour, Storage: jetstream.FileStorage}); err != nil {
		t.Fatalf("CreateStream: %v", err)
	}
	ack, err := js.Publish(ctx, "t.a", []byte("one"), jetstream.WithMsgID("id-1"))
	if err != nil {
		t.Fatalf("Publish: %v", err)
	}
	if ack.Duplicate {
		t.Fatalf("first publish reported duplicate")
	}
	nc.Close()
	s.Close()

	s2, err := Start(Config{StoreDir: dir})
	if err != nil {
		t.Fatalf("restart: %v", err)
	}
	defer s2.Close()
	nc2, js2, err := s2.JetStream()
	if err != nil {
		t.Fatal(err)
	}
	defer nc2.Close()
	st, err := js2.Stream(ctx, "T")
	if err != nil {
		t.Fatalf("stream after restart: %v", err)
	}
	msg, err := st.GetMsg(ctx, 1)
	if err != nil {
		t.Fatalf("GetMsg after restart: %v", err)
	}
	if got, want := string(msg.Data), "one"; got != want {
		t.Errorf("message after restart = %q, want %q", got, want)
	}
	ack, err = js2.Publish(ctx, "t.a", []byte("one again"), jetstream.WithMsgID("id-1"))
	if err != nil {
		t.Fatalf("Publish after restart: %v", err)
	}
	if !ack.Duplicate {
		t.Errorf("republished id-1 after restart: Duplicate = false, want true")
	}
}

func TestInProcessOnly(t *testing.T) {
	s, err := Start(Config{Port: -1})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	defer s.Close()
	nc, err := s.Connect()
	if err != nil {
		t.Fatalf("Connect in process: %v", err)
	}
	defer nc.Close()
	sub, err := nc.SubscribeSync("x")
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Publish("x", []byte("hi")); err != nil {
		t.Fatal(err)
	}
	m, err := sub.NextMsg(5 * time.Second)
	if err != nil {
		t.Fatalf("NextMsg: %v", err)
	}
	if string(m.Data) != "hi" {
		t.Errorf("got %q, want hi", m.Data)
	}
	if a := s.ns.Addr(); a != nil {
		t.Errorf("a server started with Port -1 listens on %v", a)
	}
}
