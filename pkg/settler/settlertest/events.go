package settlertest

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/h402/settlement/pkg/events"
)

// Publish stores accepted events as ingest does (Nats-Msg-Id = payment id).
func Publish(t testing.TB, js jetstream.JetStream, es ...*events.PaymentAccepted) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, e := range es {
		subj, err := events.PaymentAcceptedSubject(e.Namespace, e.NetworkID, e.ID)
		if err != nil {
			t.Fatal(err)
		}
		b, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := js.Publish(ctx, subj, b, jetstream.WithMsgID(e.ID)); err != nil {
			t.Fatalf("publish accepted %s: %v", e.ID, err)
		}
	}
}

// States collects every state transition published while it runs, and lets
// a test wait for payments to reach a state.
type States struct {
	sub     *nats.Subscription
	mu      sync.Mutex
	byID    map[string][]events.Transition
	changed chan struct{}
}

// WatchStates subscribes to all state transitions on nc (before the test
// publishes anything it waits for).
func WatchStates(t testing.TB, nc *nats.Conn) *States {
	t.Helper()
	s := &States{byID: map[string][]events.Transition{}, changed: make(chan struct{}, 1)}
	sub, err := nc.Subscribe(events.StateWildcard, func(m *nats.Msg) {
		tr, err := events.DecodeTransition(m.Data)
		if err != nil {
			return
		}
		s.mu.Lock()
		s.byID[tr.ID] = append(s.byID[tr.ID], *tr)
		s.mu.Unlock()
		select {
		case s.changed <- struct{}{}:
		default:
		}
	})
	if err != nil {
		t.Fatalf("subscribe to states: %v", err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	s.sub = sub
	return s
}

// Latest returns the last transition seen for id, or nil.
func (s *States) Latest(id string) *events.Transition {
	s.mu.Lock()
	defer s.mu.Unlock()
	list := s.byID[id]
	if len(list) == 0 {
		return nil
	}
	tr := list[len(list)-1]
	return &tr
}

// All returns every transition seen for id.
func (s *States) All(id string) []events.Transition {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]events.Transition(nil), s.byID[id]...)
}

// Wait blocks until every id has a transition in one of the given states,
// failing the test after timeout with the ids still missing.
func (s *States) Wait(t testing.TB, ids []string, timeout time.Duration, states ...events.State) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		missing := s.missing(ids, states)
		if len(missing) == 0 {
			return
		}
		select {
		case <-s.changed:
		case <-deadline.C:
			n := min(len(missing), 3)
			t.Fatalf("after %s, %d of %d payments have not reached %v, e.g. %v", timeout, len(missing), len(ids), states, missing[:n])
		}
	}
}

// WaitUntil blocks until cond holds, checking it after every transition,
// failing the test after timeout.
func (s *States) WaitUntil(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for !cond() {
		select {
		case <-s.changed:
		case <-deadline.C:
			t.Fatalf("after %s: %s did not happen", timeout, what)
		}
	}
}

func (s *States) missing(ids []string, states []events.State) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, id := range ids {
		found := false
		for _, tr := range s.byID[id] {
			for _, st := range states {
				found = found || tr.State == st
			}
		}
		if !found {
			out = append(out, id)
		}
	}
	return out
}

// SubjectCounts returns how many messages the stream holds per subject
// matching filter (e.g. "payments.state.>").
func SubjectCounts(t testing.TB, js jetstream.JetStream, stream, filter string) map[string]uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(filter))
	if err != nil {
		t.Fatalf("stream info %s: %v", stream, err)
	}
	return info.State.Subjects
}

// Messages returns the data of every message the stream holds on subject
// filter, in order.
func Messages(t testing.TB, js jetstream.JetStream, stream, filter string) [][]byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cons, err := js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{FilterSubjects: []string{filter}})
	if err != nil {
		t.Fatal(err)
	}
	info, err := cons.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for uint64(len(out)) < info.NumPending {
		batch, err := cons.Fetch(int(info.NumPending)-len(out), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		for m := range batch.Messages() {
			out = append(out, m.Data())
		}
		if err := batch.Error(); err != nil {
			t.Fatalf("read %s: %v", filter, err)
		}
	}
	return out
}
