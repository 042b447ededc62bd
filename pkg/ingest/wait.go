package ingest

import (
	"context"
	"sync"
	"time"

	"github.com/h402/settlement/pkg/events"
	"github.com/nats-io/nats.go"
)

// Waiters lets /settle wait for a payment to reach a state. One
// subscription per ingest replica receives every state transition and wakes
// the requests waiting on that payment.
type Waiters struct {
	sub *nats.Subscription

	mu      sync.Mutex
	waiting map[string][]chan *events.Transition
}

// NewWaiters subscribes to state transitions on nc.
func NewWaiters(nc *nats.Conn) (*Waiters, error) {
	w := &Waiters{waiting: map[string][]chan *events.Transition{}}
	sub, err := nc.Subscribe(events.StateWildcard, w.deliver)
	if err != nil {
		return nil, err
	}
	w.sub = sub
	return w, nil
}

// Close stops the subscription.
func (w *Waiters) Close() error { return w.sub.Unsubscribe() }

func (w *Waiters) deliver(m *nats.Msg) {
	tr, err := events.DecodeTransition(m.Data)
	if err != nil {
		return
	}
	w.mu.Lock()
	chans := w.waiting[tr.ID]
	w.mu.Unlock()
	for _, ch := range chans {
		select {
		case ch <- tr:
		default: // the waiter has a newer one queued or is gone
		}
	}
}

// Wait blocks until payment id reaches target (or a terminal state), the
// timeout passes, or ctx ends. latest is consulted once after subscribing,
// so that a transition published before the wait began is not missed.
func (w *Waiters) Wait(ctx context.Context, id string, target events.State, timeout time.Duration, latest func(context.Context) (*events.Transition, error)) (*events.Transition, bool) {
	ch := make(chan *events.Transition, 8)
	w.mu.Lock()
	w.waiting[id] = append(w.waiting[id], ch)
	w.mu.Unlock()
	defer w.remove(id, ch)

	timer := time.NewTimer(timeout)
	defer timer.Stop()
	if tr, err := latest(ctx); err == nil && tr != nil && reached(tr.State, target) {
		return tr, true
	}
	for {
		select {
		case tr := <-ch:
			if reached(tr.State, target) {
				return tr, true
			}
		case <-timer.C:
			return nil, false
		case <-ctx.Done():
			return nil, false
		}
	}
}

func (w *Waiters) remove(id string, ch chan *events.Transition) {
	w.mu.Lock()
	defer w.mu.Unlock()
	list := w.waiting[id]
	for i, c := range list {
		if c == ch {
			list = append(list[:i], list[i+1:]...)
			break
		}
	}
	if len(list) == 0 {
		delete(w.waiting, id)
	} else {
		w.waiting[id] = list
	}
}
