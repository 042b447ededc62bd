package webhooks_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/h402/settlement/pkg/config"
	"github.com/h402/settlement/pkg/events"
	"github.com/h402/settlement/pkg/natsembed"
	"github.com/h402/settlement/pkg/webhooks"
)

// TestWatcherPermissions: connected as the watcher service user (the
// permission set of pkg/natsembed), the dispatcher creates its stream,
// bucket and consumers, delivers, logs, and disables a 410 endpoint;
// ingest's user may not write the delivery log.
func TestWatcherPermissions(t *testing.T) {
	s, err := natsembed.Start(natsembed.Config{StoreDir: t.TempDir(), Users: []natsembed.User{
		{Name: "w", Password: "watcher-password-0123456789", Service: natsembed.ServiceWatcher},
		{Name: "i", Password: "ingest-password-0123456789", Service: natsembed.ServiceIngest},
		{Name: "a", Password: "admin-password-0123456789", Service: natsembed.ServiceAdmin},
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	connect := func(user, pw string) (jetstream.JetStream, chan error) {
		violations := make(chan error, 16)
		nc, err := nats.Connect(s.ClientURL(), nats.UserInfo(user, pw), nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			violations <- err
		}))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		js, _ := jetstream.New(nc)
		return js, violations
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	adminJS, _ := connect("a", "admin-password-0123456789")
	streams := events.DefaultStreams()
	if err := events.Ensure(ctx, adminJS, streams); err != nil {
		t.Fatal(err)
	}
	js, violations := connect("w", "watcher-password-0123456789")
	ok := newEndpoint(t, func(int, http.ResponseWriter) {})
	gone := newEndpoint(t, func(_ int, w http.ResponseWriter) { w.WriteHeader(http.StatusGone) })
	cfg := webhooks.Config{Schedule: []config.Duration{0}, Endpoints: []webhooks.Endpoint{ep("ok", ok.srv.URL, seller), ep("gone", gone.srv.URL, seller)}}
	cfg.Default()
	d, err := webhooks.New(ctx, js, webhooks.Options{Config: &cfg, Streams: streams})
	if err != nil {
		t.Fatalf("as the watcher user: %v", err)
	}
	rctx, rcancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = d.Run(rctx) }()
	defer func() { rcancel(); <-done }()
	if err := d.WaitSynced(ctx); err != nil {
		t.Fatal(err)
	}
	id := publish(t, js, seller)
	if h := ok.next(t, 10*time.Second); h.id != id {
		t.Fatalf("got %s, want %s", h.id, id)
	}
	gone.next(t, 10*time.Second)
	waitLog(t, js, "ok", 1)
	waitState(t, d.Handler(), "gone", true)
	select {
	case v := <-violations:
		t.Fatalf("watcher user hit %v", v)
	default:
	}

	ingestJS, iv := connect("i", "ingest-password-0123456789")
	pctx, pcancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer pcancel()
	if _, err := ingestJS.Publish(pctx, "webhooks.log.ok", []byte(`{}`)); err == nil {
		t.Error("ingest's user stored a delivery log record")
	}
	select {
	case <-iv:
	case <-time.After(10 * time.Second):
		t.Error("ingest's user wrote the delivery log without a permission violation")
	}
}
