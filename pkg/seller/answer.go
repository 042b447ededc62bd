package seller

import (
	"encoding/json"
	"net/http"

	"github.com/h402/settlement/pkg/h402"
)

// Reasons of the middleware's own answers (besides the facilitator's).
const (
	ReasonPaymentRequired        h402.Reason = "payment_required"
	ReasonFacilitatorUnavailable h402.Reason = "facilitator_unavailable"
	ReasonSettlementTimeout      h402.Reason = "settlement_timeout"
	ReasonResponseTooLarge       h402.Reason = "response_too_large"
	ReasonPaymentFailed          h402.Reason = "payment_failed"

	reasonInvalidX402Version h402.Reason = "invalid_x402_version"
)

// priced is a request's route and its offers as requirements for the
// request's resource.
type priced struct {
	route    *route
	resource string
	reqs     []h402.PaymentRequirements // one per route offer, same order
}

func (m *Middleware) price(rt *route, r *http.Request) *priced {
	base := m.cfg.BaseURL
	if base == "" {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		base = scheme + "://" + r.Host
	}
	p := &priced{route: rt, resource: base + r.URL.RequestURI()}
	for _, o := range rt.offers {
		req := o.req
		req.Resource, req.Description, req.MimeType = p.resource, rt.Description, rt.MimeType
		p.reqs = append(p.reqs, req)
	}
	return p
}

func (p *priced) v1() []h402.X402V1Requirements {
	out := []h402.X402V1Requirements{}
	for i, o := range p.route.offers {
		if o.X402Network == "" {
			continue
		}
		if v, err := p.reqs[i].X402V1(o.X402Network, o.MaxTimeoutSeconds); err == nil {
			out = append(out, v)
		}
	}
	return out
}

func (p *priced) v2(errText string) *h402.X402V2PaymentRequired {
	pr := &h402.X402V2PaymentRequired{
		X402Version: h402.X402V2, Error: errText,
		Resource: &h402.X402Resource{URL: p.resource, Description: p.route.Description, MimeType: p.route.MimeType},
		Accepts:  []h402.X402V2Requirements{},
	}
	for i, o := range p.route.offers {
		if o.CAIP2 == "" {
			continue
		}
		if v, err := p.reqs[i].X402V2(o.CAIP2, o.MaxTimeoutSeconds); err == nil {
			pr.Accepts = append(pr.Accepts, v)
		}
	}
	return pr
}

// dual is the first 402's body: both h402 and x402 v1 read it when every
// offer has an x402 v1 network; otherwise it is an h402 body (x402 v1
// clients could not pay those networks; x402 v2 clients read the header).
func (p *priced) dual(errText string) any {
	accepts := make([]h402.DualRequirements, 0, len(p.reqs))
	for i, o := range p.route.offers {
		if o.X402Network == "" {
			return h402.PaymentRequired{H402Version: h402.Version, Error: errText, Accepts: p.reqs}
		}
		d, err := p.reqs[i].Dual(o.X402Network, o.MaxTimeoutSeconds)
		if err != nil {
			return h402.PaymentRequired{H402Version: h402.Version, Error: errText, Accepts: p.reqs}
		}
		accepts = append(accepts, d)
	}
	return h402.DualPaymentRequired{H402Version: h402.Version, X402Version: h402.X402V1, Error: errText, Accepts: accepts}
}

// paymentRequiredText is the error of a first 402.
const paymentRequiredText = "payment required: pay one of accepts and send it in X-PAYMENT (h402, x402 v1) or PAYMENT-SIGNATURE (x402 v2)"

// askForPayment answers a request that carries no payment.
func (m *Middleware) askForPayment(w http.ResponseWriter, p *priced) {
	if v2 := p.v2(paymentRequiredText); len(v2.Accepts) > 0 {
		if hv, err := h402.EncodeJSONHeader(v2); err == nil {
			w.Header().Set(h402.HeaderPaymentRequired, hv)
		}
	}
	writeJSON(w, http.StatusPaymentRequired, p.dual(paymentRequiredText))
}

// h402Refusal is a 402 body for an h402 payment that was refused.
type h402Refusal struct {
	H402Version int                        `json:"h402Version"`
	Error       string                     `json:"error"`
	Reason      h402.Reason                `json:"reason"`
	Accepts     []h402.PaymentRequirements `json:"accepts"`
	PaymentID   string                     `json:"paymentId,omitempty"`
	State       string                     `json:"state,omitempty"`
}

// x402Refusal is a 402 body for an x402 payment that was refused: error
// is the machine reason (x402 style), message the sentence.
type x402Refusal struct {
	X402Version int                       `json:"x402Version"`
	Error       string                    `json:"error"`
	Message     string                    `json:"message"`
	Accepts     []h402.X402V1Requirements `json:"accepts,omitempty"`
	Payer       string                    `json:"payer,omitempty"`
	PaymentID   string                    `json:"paymentId,omitempty"`
	State       string                    `json:"state,omitempty"`
}

// refusal says why a payment was refused.
type refusalInfo struct {
	reason    h402.Reason
	message   string
	payer     string
	paymentID string
	state     string
}

// refuse answers 402 in dialect d: the payment was refused.
func (m *Middleware) refuse(w http.ResponseWriter, p *priced, d h402.Dialect, ri refusalInfo) {
	if ri.reason == h402.ReasonInvalidVersion && d != h402.DialectH402 {
		ri.reason = reasonInvalidX402Version // x402's name for it
	}
	switch d {
	case h402.DialectX402V1:
		writeJSON(w, http.StatusPaymentRequired, x402Refusal{X402Version: h402.X402V1, Error: string(ri.reason), Message: ri.message,
			Accepts: p.v1(), Payer: ri.payer, PaymentID: ri.paymentID, State: ri.state})
	case h402.DialectX402V2:
		if hv, err := h402.EncodeJSONHeader(p.v2(string(ri.reason))); err == nil {
			w.Header().Set(h402.HeaderPaymentRequired, hv)
		}
		writeJSON(w, http.StatusPaymentRequired, x402Refusal{X402Version: h402.X402V2, Error: string(ri.reason), Message: ri.message,
			Payer: ri.payer, PaymentID: ri.paymentID, State: ri.state})
	default:
		writeJSON(w, http.StatusPaymentRequired, h402Refusal{H402Version: h402.Version, Error: ri.message, Reason: ri.reason,
			Accepts: p.reqs, PaymentID: ri.paymentID, State: ri.state})
	}
}

// problem is the body of the middleware's non-402 errors.
type problem struct {
	Reason    h402.Reason `json:"reason"`
	Error     string      `json:"error"`
	PaymentID string      `json:"paymentId,omitempty"`
	State     string      `json:"state,omitempty"`
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		code, b = http.StatusInternalServerError, []byte(`{"reason":"internal_error","error":"the answer could not be encoded"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write(b)
}
