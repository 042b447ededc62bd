package seller

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math/big"
	"net/http"
	"time"

	"github.com/h402/settlement/pkg/h402"
)

// Middleware charges for the routes of its Config. It is safe for
// concurrent use.
type Middleware struct {
	cfg     Config
	routes  []*route
	fac     *facilitator
	m       *metrics
	resolve h402.NetworkResolver
}

// New checks cfg and returns a Middleware.
func New(cfg Config) (*Middleware, error) {
	cfg.setDefaults()
	routes, err := cfg.compile()
	if err != nil {
		return nil, err
	}
	table := h402.NetworkTable{}
	for _, rt := range routes {
		for _, o := range rt.offers {
			ref := h402.NetworkRef{Namespace: o.Namespace, NetworkID: o.NetworkID}
			if o.CAIP2 != "" {
				table[o.CAIP2] = ref
			}
			if o.X402Network != "" {
				table[o.X402Network] = ref
			}
		}
	}
	m := &Middleware{cfg: cfg, routes: routes, m: newMetrics(cfg.Registry), resolve: table.Resolve}
	m.fac = &facilitator{base: cfg.FacilitatorURL, apiKey: cfg.APIKey, client: cfg.Client, m: m.m}
	return m, nil
}

// Wrap returns next charged per the Config: unpriced requests go straight
// to next; priced ones reach it only with a valid payment, and its answer
// is written only once the payment is settled.
func (m *Middleware) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rt := routeOf(m.routes, r)
		if rt == nil {
			m.m.outcome(OutcomeFree)
			next.ServeHTTP(w, r)
			return
		}
		m.m.outcome(m.serve(w, r, m.price(rt, r), next))
	})
}

// newKey is the idempotency key of one incoming request: random, so that
// the same payment presented by another request is another request at the
// facilitator (payment_already_used), while the middleware's own repeats of
// /verify and /settle for this request get the first answer again.
func newKey() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return "h402s-" + hex.EncodeToString(b[:])
}

// x402Body is the x402 body of /verify and /settle.
type x402Body struct {
	X402Version         int             `json:"x402Version"`
	PaymentPayload      json.RawMessage `json:"paymentPayload"`
	PaymentRequirements any             `json:"paymentRequirements"`
}

// facilitatorBody writes the /verify and /settle body in the payment's dialect.
func (cp *clientPayment) facilitatorBody(o *offer, req *h402.PaymentRequirements) ([]byte, error) {
	switch cp.Dialect {
	case h402.DialectX402V1:
		v1, err := req.X402V1(o.X402Network, o.MaxTimeoutSeconds)
		if err != nil {
			return nil, err
		}
		return json.Marshal(x402Body{X402Version: h402.X402V1, PaymentPayload: cp.Raw, PaymentRequirements: v1})
	case h402.DialectX402V2:
		v2, err := req.X402V2(o.CAIP2, o.MaxTimeoutSeconds)
		if err != nil {
			return nil, err
		}
		return json.Marshal(x402Body{X402Version: h402.X402V2, PaymentPayload: cp.Raw, PaymentRequirements: v2})
	default:
		return json.Marshal(h402.RequestBody{Payload: cp.Header, PaymentRequirements: *req})
	}
}

// serve runs one priced request and returns its outcome.
func (m *Middleware) serve(w http.ResponseWriter, r *http.Request, p *priced, next http.Handler) string {
	name, value, ok := paymentHeader(r.Header)
	if !ok {
		m.askForPayment(w, p)
		return OutcomePaymentRequired
	}
	cp, dialect, err := decodePayment(name, value)
	if err != nil {
		m.refuse(w, p, dialect, refusalInfo{reason: h402.ReasonOf(err, h402.ReasonInvalidPayload), message: h402.MessageOf(err)})
		return OutcomeInvalid
	}
	var (
		o   *offer
		req *h402.PaymentRequirements
	)
	if o = cp.match(p.route.offers); o != nil {
		for i := range p.route.offers {
			if p.route.offers[i] == o {
				req = &p.reqs[i]
			}
		}
	}
	if o == nil {
		m.refuse(w, p, dialect, refusalInfo{reason: ReasonNoMatchingOffer, message: "the payment pays none of the requirements this resource accepts"})
		return OutcomeInvalid
	}
	body, err := cp.facilitatorBody(o, req)
	if err == nil {
		// Checks what needs no chain (versions, networks, resource) before
		// bothering the facilitator.
		_, err = h402.DecodeRequest(body, m.resolve)
	}
	if err != nil {
		m.refuse(w, p, dialect, refusalInfo{reason: h402.ReasonOf(err, h402.ReasonInvalidPayload), message: h402.MessageOf(err)})
		return OutcomeInvalid
	}

	ctx := r.Context()
	key := newKey()
	v, _, err := m.fac.verify(ctx, body, key)
	if err != nil {
		m.unavailable(w, r, err)
		return OutcomeUnavailable
	}
	if !*v.IsValid {
		m.refuse(w, p, dialect, refusalInfo{reason: v.InvalidReason, message: v.message(), payer: v.Payer, paymentID: v.PaymentID, state: v.State})
		return OutcomeInvalid
	}

	pay := &Payment{
		Dialect: dialect, Network: h402.NetworkRef{Namespace: o.Namespace, NetworkID: o.NetworkID},
		Token: o.Token.Address, PayTo: o.PayTo, Amount: new(big.Int).Set(o.amount), Payer: v.Payer, IdempotencyKey: key,
		ID: v.PaymentID,
	}
	switch dialect {
	case h402.DialectX402V1:
		pay.X402Network = o.X402Network
	case h402.DialectX402V2:
		pay.X402Network = o.CAIP2
	}
	if r.Body != nil {
		r.Body = http.MaxBytesReader(w, r.Body, m.cfg.MaxRequestBytes)
	}
	buf := newBuffer(m.cfg.MaxResponseBytes)
	next.ServeHTTP(buf, r.WithContext(context.WithValue(ctx, paymentKey{}, pay)))
	if buf.overflow {
		writeJSON(w, http.StatusInternalServerError, problem{Reason: ReasonResponseTooLarge, Error: "the answer is larger than this server buffers before payment; nothing was charged"})
		return OutcomeTooLarge
	}
	if buf.code() >= 400 && !m.cfg.SettleOnHandlerError {
		buf.flush(w, nil) // not settled: the buyer keeps its payment
		return OutcomeHandlerFailed
	}

	s, raw, err := m.fac.settle(ctx, body, key)
	if err != nil {
		m.unavailable(w, r, err)
		return OutcomeUnavailable
	}
	if !*s.Success {
		m.refuse(w, p, dialect, refusalInfo{reason: s.ErrorReason, message: s.message(), payer: s.Payer, paymentID: s.PaymentID, state: s.State})
		return OutcomeSettleRefused
	}
	pay.ID, pay.State, pay.Transaction = s.PaymentID, s.State, s.Transaction
	if pay.Payer == "" {
		pay.Payer = s.Payer
	}
	if m.cfg.Mode != ModeAccepted {
		st, err := m.wait(ctx, s.PaymentID)
		switch {
		case errors.Is(err, errWaitTimeout):
			writeJSON(w, http.StatusGatewayTimeout, problem{Reason: ReasonSettlementTimeout, PaymentID: s.PaymentID, State: pay.State,
				Error: "the payment is accepted and will settle, but it did not become " + string(m.cfg.Mode) + " in time; do not pay again"})
			return OutcomeTimeout
		case err != nil:
			m.unavailable(w, r, err)
			return OutcomeUnavailable
		case st.State == "failed":
			reason, msg := st.Reason, "the payment failed on chain"
			if reason == "" {
				reason = ReasonPaymentFailed
			}
			if st.Message != "" {
				msg += ": " + st.Message
			}
			m.refuse(w, p, dialect, refusalInfo{reason: reason, message: msg, payer: pay.Payer, paymentID: s.PaymentID, state: st.State})
			return OutcomeSettleRefused
		}
		pay.State, pay.Transaction = st.State, st.TxHash
		raw = withStatus(raw, st)
	}
	if m.cfg.OnPaid != nil {
		m.cfg.OnPaid(r, pay)
	}
	buf.flush(w, http.Header{h402.SettleHeaderName(dialect): {h402.EncodeBase64(compact(raw))}})
	return OutcomeServed
}

// withStatus is the settle answer raw with the state, transaction, block
// and finality time the wait found.
func withStatus(raw []byte, st *Status) []byte {
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return raw
	}
	set := func(k string, v any) {
		if b, err := json.Marshal(v); err == nil {
			m[k] = b
		}
	}
	set("state", st.State)
	if st.TxHash != "" {
		set("transaction", st.TxHash)
	}
	if st.Block != 0 {
		set("block", st.Block)
	}
	if !st.FinalizedAt.IsZero() {
		set("finalizedAt", st.FinalizedAt)
	}
	out, err := json.Marshal(m)
	if err != nil {
		return raw
	}
	return out
}

var errWaitTimeout = errors.New("the payment did not reach the awaited state in time")

// reached reports whether state is the mode's target or later.
func reached(mode Mode, state string) bool {
	order := map[string]int{"accepted": 0, "submitted": 1, "confirmed": 2, "finalized": 3}
	s, ok := order[state]
	return ok && s >= order[string(mode)]
}

// wait polls the payment's state, with backoff, until it reaches the
// mode's target or fails, within WaitTimeout.
func (m *Middleware) wait(ctx context.Context, id string) (*Status, error) {
	ctx, cancel := context.WithTimeout(ctx, m.cfg.WaitTimeout)
	defer cancel()
	delay := m.cfg.PollInterval
	var lastErr error
	for {
		st, err := m.fac.status(ctx, id)
		switch {
		case err == nil && (st.State == "failed" || reached(m.cfg.Mode, st.State)):
			return st, nil
		default:
			lastErr = err // nil once the facilitator answers again
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			if lastErr != nil && !errors.Is(lastErr, context.DeadlineExceeded) {
				var ue *UnavailableError
				if errors.As(lastErr, &ue) && ue.Status == 0 {
					return nil, lastErr // facilitator unreachable to the end
				}
			}
			return nil, errWaitTimeout
		case <-t.C:
		}
		delay = min(delay*2, maxPollInterval)
	}
}

// unavailable answers 503: the facilitator could not decide; nothing was
// served or charged by this request.
func (m *Middleware) unavailable(w http.ResponseWriter, r *http.Request, err error) {
	m.cfg.Logger.Warn("facilitator unavailable", "method", r.Method, "path", r.URL.Path, "err", err)
	retry := "1"
	var ue *UnavailableError
	if errors.As(err, &ue) && ue.RetryAfter != "" {
		retry = ue.RetryAfter
	}
	w.Header().Set("Retry-After", retry)
	writeJSON(w, http.StatusServiceUnavailable, problem{Reason: ReasonFacilitatorUnavailable,
		Error: "the payment facilitator cannot be reached or answered in error; nothing was served; retry shortly"})
}
