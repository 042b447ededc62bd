package natsembed_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/h402/settlement/pkg/events"
	"github.com/h402/settlement/pkg/natsembed"
)

const (
	ingestPassword  = "ingest-password-0123456789"
	settlerPassword = "settler-password-0123456789"
)

// connectAs connects as a user and returns its JetStream context and the
// permission violations the server reports to it.
func connectAs(t *testing.T, s *natsembed.Server, user, password string) (jetstream.JetStream, <-chan error) {
	t.Helper()
	violations := make(chan error, 16)
	nc, err := nats.Connect(s.ClientURL(), nats.UserInfo(user, password),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			if errors.Is(err, nats.ErrPermissionViolation) {
				violations <- err
			}
		}))
	if err != nil {
		t.Fatalf("connect as %s: %v", user, err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js, violations
}

// TestServicePermissions: with users configured, a settler's credentials
// cannot publish an accepted payment (the server refuses it with a
// permission violation and nothing is stored), ingest's can; the settler
// can write states; no credentials, no connection.
func TestServicePermissions(t *testing.T) {
	s, err := natsembed.Start(natsembed.Config{StoreDir: t.TempDir(), Users: []natsembed.User{
		{Name: "h402-ingest", Password: ingestPassword, Service: natsembed.ServiceIngest},
		{Name: "h402-settler", Password: settlerPassword, Service: natsembed.ServiceSettler},
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	if nc, err := nats.Connect(s.ClientURL()); err == nil {
		nc.Close()
		t.Fatal("connected without credentials, want refused")
	}

	ingest, _ := connectAs(t, s, "h402-ingest", ingestPassword)
	if err := events.Ensure(ctx, ingest, events.DefaultStreams()); err != nil {
		t.Fatalf("ingest ensures the streams: %v", err)
	}
	subj, err := events.PaymentAcceptedSubject("evm", "8453", "evm.8453.auth.a.b.c")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ingest.Publish(ctx, subj, []byte(`{}`), jetstream.WithMsgID("ingest-1")); err != nil {
		t.Fatalf("ingest publishes an accepted payment: got %v, want stored", err)
	}

	settler, violations := connectAs(t, s, "h402-settler", settlerPassword)
	pctx, pcancel := context.WithTimeout(ctx, 2*time.Second)
	_, err = settler.Publish(pctx, subj, []byte(`{"injected":true}`), jetstream.WithMsgID("settler-1"))
	pcancel()
	if err == nil {
		t.Fatal("settler published an accepted payment, want refused")
	}
	wantViolation(t, violations, "payments.accepted", "payments.accepted")
	stream, err := ingest.Stream(ctx, events.StreamPayments)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := stream.GetLastMsgForSubject(ctx, subj)
	if err != nil || strings.Contains(string(msg.Data), "injected") {
		t.Fatalf("last accepted message: got %v (%v), want ingest's", msg, err)
	}

	state, err := events.StateSubject("evm", "8453", "evm.8453.auth.a.b.c")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := settler.Publish(ctx, state, []byte(`{}`)); err != nil {
		t.Fatalf("settler writes a state: got %v, want stored", err)
	}
	// A refused request gets no answer: the server reports the violation.
	dctx, dcancel := context.WithTimeout(ctx, 2*time.Second)
	err = settler.DeleteStream(dctx, events.StreamPayments)
	dcancel()
	if err == nil {
		t.Fatal("settler deleted the PAYMENTS stream, want refused")
	}
	wantViolation(t, violations, "STREAM.DELETE", "the stream delete")
	if _, err := ingest.Stream(ctx, events.StreamPayments); err != nil {
		t.Fatalf("PAYMENTS after the settler's delete: %v, want it still there", err)
	}
}

// wantViolation waits for the server's permission violation report and
// wants it to name subject (what says what was refused).
func wantViolation(t *testing.T, violations <-chan error, subject, what string) {
	t.Helper()
	select {
	case v := <-violations:
		if !strings.Contains(v.Error(), subject) {
			t.Errorf("got violation %v, want one for %s", v, what)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no permission violation for " + what)
	}
}

// TestPermissionsFileMatches: configs/nats-auth.conf is the permission sets
// of this package, for an external cluster.
func TestPermissionsFileMatches(t *testing.T) {
	b, err := os.ReadFile("../../configs/nats-auth.conf")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(b), natsembed.ConfFile(); got != want {
		t.Fatalf("configs/nats-auth.conf is out of date; write natsembed.ConfFile() into it:\ngot:\n%s\nwant:\n%s", got, want)
	}
}
