package ingest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"strings"
	"time"

	"github.com/h402/settlement/pkg/chains"
	"github.com/h402/settlement/pkg/events"
	"github.com/h402/settlement/pkg/exposure"
	"github.com/h402/settlement/pkg/guard"
	"github.com/h402/settlement/pkg/h402"
	"github.com/h402/settlement/pkg/verify"
	"github.com/nats-io/nats.go/jetstream"
)

// ReasonSettlementPending answers a /settle whose wait for a state ran out:
// the payment is accepted and will settle; the buyer must not pay again.
const ReasonSettlementPending h402.Reason = "settlement_pending"

// ReasonUnavailable answers a request that could not be decided now
// (chain RPC or the event log unreachable); the seller may retry.
const ReasonUnavailable h402.Reason = "service_unavailable"

// Options configure a Service.
type Options struct {
	Replica string
	// SettleWait is "none", "submitted" or "finalized".
	SettleWait        string
	SettleWaitTimeout time.Duration
	Logger            *slog.Logger
	Metrics           *Metrics
	Now               func() time.Time
	// Connected reports whether the event log connection is up; when it is
	// not, /settle answers 503 at once instead of waiting out timeouts.
	Connected func() bool
}

// ErrEventLogDown is the retryable error of a /settle while the event log
// connection is down.
var ErrEventLogDown = errors.New("the event log (NATS) is not connected")

// Service is the ingest logic behind the HTTP handlers.
type Service struct {
	local   *verify.Local
	states  map[string]chains.StateChecker // by networkKey
	guard   *guard.Guard
	book    *exposure.Book
	js      jetstream.JetStream
	waiters *Waiters
	opts    Options
}

// NetworkState pairs a network with its chain-state checker.
type NetworkState struct {
	Namespace h402.Namespace
	NetworkID string
	Checker   chains.StateChecker
}

func networkKey(ns h402.Namespace, id string) string { return string(ns) + "/" + id }

// New returns a service with one StateChecker per served network; waiters
// may be nil when SettleWait is "none".
func New(local *verify.Local, states []NetworkState, g *guard.Guard, b *exposure.Book, js jetstream.JetStream, waiters *Waiters, o Options) *Service {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.SettleWait == "" {
		o.SettleWait = "none"
	}
	m := make(map[string]chains.StateChecker, len(states))
	for _, s := range states {
		m[networkKey(s.Namespace, s.NetworkID)] = s.Checker
	}
	return &Service{local: local, states: m, guard: g, book: b, js: js, waiters: waiters, opts: o}
}

// Outcome is the result of verifying or settling one request.
type Outcome struct {
	Payment *chains.Payment // nil when verification did not get that far
	// Err is nil on success; an *h402.Error for a bad payment; anything else
	// is retryable (Retryable true) or unexpected.
	Err       error
	Retryable bool
	// State is where the payment stands after /settle.
	State  events.State
	TxHash string
	// Pending is true when a /settle wait ran out (settlement_pending).
	Pending bool
	// Last is the payment's latest transition when a repeat read it (its
	// failure reason when it failed).
	Last *events.Transition
}

// verifyLocal runs local verification (no I/O).
func (s *Service) verifyLocal(req *h402.Request) (*chains.Payment, *chains.Request, error) {
	start := s.opts.Now()
	pay, r, err := s.local.Verify(req.Requirements, req.Payload, start)
	s.opts.Metrics.observeVerify(string(req.Payload.Payload.PayloadType()), "local", s.opts.Now().Sub(start))
	return pay, r, err
}

func classify(o *Outcome, err error) *Outcome {
	o.Err = err
	var he *h402.Error
	o.Retryable = err != nil && !errors.As(err, &he)
	return o
}

// Verify answers POST /verify: the payment is valid now, not yet used, and
// within its payer's balance. It reserves nothing. A payment whose replay
// key is taken is never valid, whoever asks and whatever its state
// (payment_already_used, with the payment's id and state).
func (s *Service) Verify(ctx context.Context, req *h402.Request) *Outcome {
	o := &Outcome{}
	pay, r, err := s.verifyLocal(req)
	o.Payment = pay
	if err != nil {
		return s.refused(ctx, o, req, "", "", err, false)
	}
	held, err := s.guard.LookupKind(ctx, pay.ID, chains.KeptForGood(pay.Type))
	if err != nil {
		return classify(o, err)
	}
	if held != nil {
		return s.replayed(ctx, o, held, "", "", nil, nil, false)
	}
	st, err := s.checkState(ctx, req, r, pay)
	if err != nil {
		return s.refused(ctx, o, req, "", "", err, false)
	}
	if st.Balance != nil {
		err := s.againstBalance(ctx, st, pay, func(amount, balance *big.Int, at time.Time) error {
			return s.book.Check(ctx, account(pay), amount, balance, at)
		})
		if err != nil {
			return classify(o, err)
		}
	}
	return o
}

// Settle answers POST /settle: verify, claim, reserve, publish; then
// optionally wait for a later state. idem is the request's idempotency key
// ("" when it has none). The identical request (same payment, requirements
// and key) repeats the first answer; any other request for a taken replay
// key is refused. "Accepted" is answered only once the accepted event is in
// the stream.
func (s *Service) Settle(ctx context.Context, req *h402.Request, idem string) *Outcome {
	o := &Outcome{}
	fp := fingerprint(req)
	pay, r, err := s.verifyLocal(req)
	o.Payment = pay
	if err != nil {
		return s.refused(ctx, o, req, fp, idem, err, true)
	}
	st, err := s.checkState(ctx, req, r, pay)
	if err != nil {
		return s.refused(ctx, o, req, fp, idem, err, true)
	}
	if s.opts.Connected != nil && !s.opts.Connected() {
		return classify(o, ErrEventLogDown)
	}
	now := s.opts.Now().UTC()
	ev, err := chains.AcceptedEvent(pay, req.Payload, resourceOf(req), fp, now)
	if err != nil {
		return classify(o, err)
	}
	ev.Idempotency = idem // bounded by h402's key check
	claim := guard.Claim{Fingerprint: fp, Idempotency: idem, At: now, Replica: s.opts.Replica, Permanent: chains.KeptForGood(pay.Type)}
	rev, err := s.guard.Acquire(ctx, pay.ID, claim)
	if err != nil {
		if held, ok := guard.HeldBy(err); ok {
			return s.replayed(ctx, o, held, fp, idem, ev, st, true)
		}
		return classify(o, err)
	}
	return s.accept(ctx, o, ev, st, claim, rev, true)
}

func (s *Service) wait(ctx context.Context, o *Outcome) *Outcome {
	if s.opts.SettleWait == "none" || s.waiters == nil {
		return o
	}
	target := events.State(s.opts.SettleWait)
	if reached(o.State, target) {
		return o
	}
	p := o.Payment
	tr, ok := s.waiters.Wait(ctx, p.ID, target, s.opts.SettleWaitTimeout, func(ctx context.Context) (*events.Transition, error) {
		return s.LatestState(ctx, p.Namespace, p.NetworkID, p.ID)
	})
	if !ok {
		o.Pending = true
		return o
	}
	o.State, o.TxHash, o.Last = tr.State, tr.TxHash, tr
	return o
}

var stateOrder = map[events.State]int{events.StateAccepted: 0, events.StateBatched: 1, events.StateSubmitted: 2, events.StateConfirmed: 3, events.StateFinalized: 4}

// reached reports whether state is at or past target, or terminal.
func reached(state, target events.State) bool {
	return state.Terminal() || stateOrder[state] >= stateOrder[target]
}

// LatestState returns the last transition of a payment, or nil when it has
// none (it is accepted, or unknown).
func (s *Service) LatestState(ctx context.Context, ns h402.Namespace, networkID, id string) (*events.Transition, error) {
	subj, err := events.StateSubject(ns, networkID, id)
	if err != nil {
		return nil, err
	}
	stream, err := s.js.Stream(ctx, events.StreamPayments)
	if err != nil {
		return nil, err
	}
	msg, err := stream.GetLastMsgForSubject(ctx, subj)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return events.DecodeTransition(msg.Data)
}

// Lookup returns a payment's claim and latest transition; held is nil when
// the id is unknown.
func (s *Service) Lookup(ctx context.Context, id string) (*guard.Held, *events.Transition, error) {
	held, err := s.guard.Lookup(ctx, id)
	if err != nil || held == nil {
		return nil, nil, err
	}
	ns, networkID, err := splitID(id)
	if err != nil {
		return held, nil, nil
	}
	tr, err := s.LatestState(ctx, ns, networkID, id)
	return held, tr, err
}

func splitID(id string) (h402.Namespace, string, error) {
	parts := strings.SplitN(id, ".", 3)
	if len(parts) < 3 || parts[0] == "" || parts[1] == "" {
		return "", "", fmt.Errorf("payment id %q does not start with <namespace>.<networkId>", id)
	}
	return h402.Namespace(parts[0]), parts[1], nil
}

// fingerprint identifies the exact request: the decoded payment (so one
// payment in another encoding, or with other padding, is the same payment)
// and the requirement it pays.
func fingerprint(req *h402.Request) string {
	payJSON, _ := json.Marshal(req.Payload)
	reqJSON, _ := json.Marshal(req.Requirements)
	h := sha256.New()
	h.Write(payJSON)
	h.Write([]byte{0})
	h.Write(reqJSON)
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// resourceOf is the paid resource: the requirement's, else the payload's.
func resourceOf(req *h402.Request) string {
	if req.Requirements != nil && req.Requirements.Resource != "" {
		return req.Requirements.Resource
	}
	if req.Payload != nil {
		return req.Payload.Resource
	}
	return ""
}

func account(p *chains.Payment) exposure.Account {
	return exposure.Account{Namespace: p.Namespace, NetworkID: p.NetworkID, Token: p.Token, Payer: p.Payer}
}

// keyTaken reports whether the replay guard holds key (chains.Request.Taken,
// asked for the nonce before a signed transaction's: a key kept for good).
func (s *Service) keyTaken(ctx context.Context, key string) (bool, error) {
	h, err := s.guard.LookupKind(ctx, key, chains.KeptForGood(h402.TypeSignedTransaction))
	return h != nil, err
}
