package eventlog_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/h402/settlement/pkg/config"
	"github.com/h402/settlement/pkg/eventlog"
	"github.com/h402/settlement/pkg/events"
)

// TestOpenEmbeddedWithUsers: a process configured with embedded users
// connects as its own user (nats.user/password) and can do its work; a
// settler's credentials on the same server are refused an accepted payment.
func TestOpenEmbeddedWithUsers(t *testing.T) {
	const ingestPW, settlerPW = "ingest-password-0123456789", "settler-password-0123456789"
	c := config.NATS{
		User: "h402-ingest", Password: ingestPW,
		Embedded: config.Embedded{StoreDir: t.TempDir(), Host: "127.0.0.1", Port: -1, Users: []config.EmbeddedUser{
			{User: "h402-ingest", Password: ingestPW, Service: "ingest"},
			{User: "h402-settler", Password: settlerPW, Service: "settler"},
		}},
		Replicas: 1, MaxAge: config.Duration(time.Hour), Duplicates: config.Duration(time.Minute), ReplayTTL: config.Duration(time.Hour),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := eventlog.Open(ctx, c, "h402-ingest", slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatalf("Open as ingest: %v", err)
	}
	t.Cleanup(conn.Close)
	subj, _ := events.PaymentAcceptedSubject("evm", "8453", "evm.8453.auth.a.b.c")
	if _, err := conn.JS.Publish(ctx, subj, []byte(`{}`)); err != nil {
		t.Fatalf("ingest publishes an accepted payment: %v", err)
	}

	violation := make(chan error, 4)
	nc, err := conn.Embedded.Connect(nats.UserInfo("h402-settler", settlerPW), nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		if errors.Is(err, nats.ErrPermissionViolation) {
			violation <- err
		}
	}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	pctx, pcancel := context.WithTimeout(ctx, 2*time.Second)
	defer pcancel()
	if _, err := js.Publish(pctx, subj, []byte(`{"injected":true}`)); err == nil {
		t.Fatal("settler published an accepted payment, want refused")
	}
	select {
	case <-violation:
	case <-time.After(10 * time.Second):
		t.Fatal("no permission violation reported")
	}
}
