package eventlog_test

import (
	"context"
	"errors"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/h402/settlement/pkg/events"
	"github.com/h402/settlement/pkg/natsembed"
)

// TestOpenFailsFastWhenTheServerRefuses: JetStream answering with a refusal
// of the request (an existing stream whose storage an update cannot change,
// whatever it is) is not "not available yet": Open
// returns the server's error at once instead of trying again for
// StartupWait. nats-server answers these with code 500, like some of its
// transient errors.
func TestOpenFailsFastWhenTheServerRefuses(t *testing.T) {
	for _, tc := range []struct {
		name     string
		existing jetstream.StreamConfig
	}{
		{"storage differs", jetstream.StreamConfig{Name: events.StreamPayments, Subjects: []string{"payments.>"}, Storage: jetstream.MemoryStorage}},
		{"bucket storage differs", jetstream.StreamConfig{Name: "KV_" + events.BucketReplay, Subjects: []string{"$KV." + events.BucketReplay + ".>"},
			Storage: jetstream.MemoryStorage, MaxMsgsPerSubject: 1, AllowRollup: true, DenyDelete: true, AllowDirect: true, Discard: jetstream.DiscardNew}},
	} {
		t.Run(tc.name, func(t *testing.T) {
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
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if _, err := js.CreateStream(ctx, tc.existing); err != nil {
				t.Fatal(err)
			}

			done := openAsync(ctx, testNATS(s.ClientURL(), 1))
			r, retried := done.first()
			if retried {
				cancel()
				<-done.result
				t.Fatal("Open took the server's refusal for JetStream not being available and waits")
			}
			if r.conn != nil {
				r.conn.Close()
				t.Fatal("Open accepted a stream whose configuration cannot be updated")
			}
			t.Logf("Open: %v", r.err)
		})
	}
}

// TestOpenFailsWhenTheUserMayNotEnsure: a user the server does not allow to
// create the streams (here a seller's credentials given to a service) sees
// its requests time out, the server reporting the permission violation
// asynchronously. That is not a cluster being formed: Open fails with the
// violation after the first attempt instead of logging "not available" for
// StartupWait and then reporting a timeout.
func TestOpenFailsWhenTheUserMayNotEnsure(t *testing.T) {
	const sellerPW = "seller-password-0123456789"
	s, err := natsembed.Start(natsembed.Config{StoreDir: t.TempDir(), Users: []natsembed.User{
		{Name: "admin", Password: "admin-password-0123456789", Service: natsembed.ServiceAdmin},
		{Name: "seller", Password: sellerPW, Seller: &natsembed.Seller{Namespace: "evm", PayTo: "0x209693bc6afc0c5328ba36faf03c514ef312287c", Consumer: "s1"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := testNATS(s.ClientURL(), 1)
	c.User, c.Password = "seller", sellerPW
	done := openAsync(ctx, c)
	r, retried := done.first()
	if retried {
		cancel()
		<-done.result
		t.Fatal("Open took a permission violation for JetStream not being available and waits")
	}
	if r.conn != nil {
		r.conn.Close()
	}
	if !errors.Is(r.err, nats.ErrPermissionViolation) {
		t.Fatalf("Open: %v, want the permission violation", r.err)
	}
	t.Logf("Open: %v", r.err)
}
