package seller

import (
	"bytes"
	"context"
	"encoding/json"
	"math/big"
	"net/http"
	"strings"

	"github.com/h402/settlement/pkg/h402"
)

// ReasonNoMatchingOffer refuses a payment that pays none of the route's offers.
const ReasonNoMatchingOffer h402.Reason = "no_matching_payment_requirements"

// clientPayment is a payment header decoded. Exactly one of H402, V1, V2 is set.
type clientPayment struct {
	Dialect h402.Dialect
	Header  string          // the header value as received (h402: the X-PAYMENT value forwarded to the facilitator)
	Raw     json.RawMessage // the decoded JSON (x402: forwarded as paymentPayload)
	H402    *h402.PaymentPayload
	V1      *h402.X402V1PaymentPayload
	V2      *h402.X402V2PaymentPayload
}

// paymentHeader returns the payment header of a request and the dialect it
// names: PAYMENT-SIGNATURE is x402 v2; X-PAYMENT is h402 or x402 v1 (told
// by its content). ok is false when the request carries none.
func paymentHeader(h http.Header) (name, value string, ok bool) {
	if v := h.Get(h402.HeaderPaymentSig); v != "" {
		return h402.HeaderPaymentSig, v, true
	}
	if v := h.Get(h402.HeaderPayment); v != "" {
		return h402.HeaderPayment, v, true
	}
	return "", "", false
}

// decodePayment decodes a payment header. On error the returned dialect is
// the best guess at the client's, to answer in it.
func decodePayment(name, value string) (*clientPayment, h402.Dialect, error) {
	guess := h402.DialectH402
	if name == h402.HeaderPaymentSig {
		guess = h402.DialectX402V2
	}
	b, err := h402.DecodeBase64(value)
	if err != nil {
		return nil, guess, err
	}
	if len(b) > h402.MaxPayloadLen {
		return nil, guess, h402.Errorf(h402.ReasonPayloadTooLarge, "payment is %d bytes, more than the %d allowed", len(b), h402.MaxPayloadLen)
	}
	if t := bytes.TrimSpace(b); len(t) == 0 || t[0] != '{' {
		return nil, guess, h402.Errorf(h402.ReasonInvalidPayload, "the %s header does not hold a JSON object", name)
	}
	var probe struct {
		X402Version json.RawMessage `json:"x402Version"`
		H402Version json.RawMessage `json:"h402Version"`
	}
	if err := json.Unmarshal(b, &probe); err != nil {
		return nil, guess, h402.Wrap(h402.ReasonInvalidEncoding, err, "the "+name+" header does not hold valid JSON")
	}
	var version int
	if len(probe.X402Version) > 0 {
		if json.Unmarshal(probe.X402Version, &version) != nil {
			return nil, guess, h402.Errorf(h402.ReasonInvalidVersion, "x402Version is not an integer")
		}
	}
	cp := &clientPayment{Header: strings.TrimSpace(value), Raw: compact(b)}
	switch {
	case len(probe.X402Version) == 0 && name == h402.HeaderPayment:
		cp.Dialect = h402.DialectH402
		if cp.H402, err = h402.DecodePayload(b); err != nil {
			return nil, h402.DialectH402, err
		}
	case version == h402.X402V1 && name == h402.HeaderPayment:
		cp.Dialect = h402.DialectX402V1
		cp.V1 = new(h402.X402V1PaymentPayload)
		if err := json.Unmarshal(b, cp.V1); err != nil {
			return nil, cp.Dialect, h402.Wrap(h402.ReasonInvalidPayload, err, "the x402 v1 payment's fields have the wrong types")
		}
		if cp.V1.Scheme != h402.SchemeExact {
			return nil, cp.Dialect, h402.Errorf(h402.ReasonUnsupportedScheme, "scheme %q is not supported (want exact)", clip(cp.V1.Scheme))
		}
	case version == h402.X402V2:
		cp.Dialect = h402.DialectX402V2
		cp.V2 = new(h402.X402V2PaymentPayload)
		if err := json.Unmarshal(b, cp.V2); err != nil {
			return nil, cp.Dialect, h402.Wrap(h402.ReasonInvalidPayload, err, "the x402 v2 payment's fields have the wrong types")
		}
		if cp.V2.Accepted.Scheme != h402.SchemeExact {
			return nil, cp.Dialect, h402.Errorf(h402.ReasonUnsupportedScheme, "scheme %q is not supported (want exact)", clip(cp.V2.Accepted.Scheme))
		}
	case name == h402.HeaderPaymentSig:
		return nil, guess, h402.Errorf(h402.ReasonInvalidVersion, "the PAYMENT-SIGNATURE header needs x402Version 2")
	default:
		return nil, h402.DialectX402V1, h402.Errorf(h402.ReasonInvalidVersion, "x402Version %d in X-PAYMENT is not supported (want 1; x402 v2 sends PAYMENT-SIGNATURE)", version)
	}
	return cp, cp.Dialect, nil
}

func compact(b []byte) json.RawMessage {
	var buf bytes.Buffer
	if json.Compact(&buf, b) != nil {
		return b
	}
	return buf.Bytes()
}

func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

// authorization returns the EIP-3009 recipient and value a payment carries,
// when it is one, to tell apart offers on one network.
func (cp *clientPayment) authorization() (to string, value *big.Int) {
	var a *h402.X402Authorization
	switch {
	case cp.H402 != nil:
		if p, ok := cp.H402.Payload.(*h402.EVMAuthorizationPayload); ok {
			v, _ := p.Authorization.Value.Uint()
			return p.Authorization.To, v
		}
	case cp.V1 != nil:
		a = cp.V1.Payload.Authorization
	case cp.V2 != nil:
		a = cp.V2.Payload.Authorization
	}
	if a == nil {
		return "", nil
	}
	v, _ := a.Value.Uint()
	return a.To, v
}

// match picks the offer the payment pays, or nil. x402 v2 names the
// requirements it accepted, which must equal an offer's. h402 and x402 v1
// name a network: of the offers on it, the first whose payTo and amount the
// payment's authorization (EVM) carries, else the first.
func (cp *clientPayment) match(offers []*offer) *offer {
	var candidates []*offer
	for _, o := range offers {
		switch {
		case cp.V2 != nil:
			if o.CAIP2 == "" {
				continue
			}
			mine, err := o.req.X402V2(o.CAIP2, o.MaxTimeoutSeconds)
			if err == nil && h402.SameX402V2(o.Namespace, &mine, &cp.V2.Accepted) {
				return o
			}
		case cp.V1 != nil:
			if o.X402Network != "" && o.X402Network == cp.V1.Network {
				candidates = append(candidates, o)
			}
		case cp.H402 != nil:
			if o.Namespace == cp.H402.Namespace && o.NetworkID == cp.H402.NetworkID && cp.H402.Scheme == h402.SchemeExact {
				candidates = append(candidates, o)
			}
		}
	}
	if len(candidates) == 0 {
		return nil
	}
	if to, value := cp.authorization(); to != "" && value != nil {
		for _, o := range candidates {
			if strings.EqualFold(o.PayTo, to) && o.amount.Cmp(value) == 0 {
				return o
			}
		}
	}
	return candidates[0]
}

// Payment is what a request paid, as the handler sees it through
// PaymentFrom, and OnPaid once settled.
type Payment struct {
	Dialect h402.Dialect
	// Network is the h402 network; X402Network the x402 network the
	// client named (v1 name or CAIP-2), empty for h402.
	Network     h402.NetworkRef
	X402Network string
	Token       string
	PayTo       string
	// Amount is in the token's smallest units.
	Amount *big.Int
	// Payer is the paying address, as the facilitator verified it.
	Payer string
	// IdempotencyKey names this request at the facilitator.
	IdempotencyKey string

	// ID is the facilitator's payment id: told by /verify (this project's
	// ingest does; another facilitator may not), confirmed by /settle.
	ID string
	// Set once settled (OnPaid): the state reached, and the transaction
	// when known.
	State       string
	Transaction string
}

type paymentKey struct{}

// PaymentFrom returns the verified payment of the request whose context
// is ctx; the handler runs before settlement, so State and Transaction are
// empty there (OnPaid gets them).
func PaymentFrom(ctx context.Context) (*Payment, bool) {
	p, ok := ctx.Value(paymentKey{}).(*Payment)
	if !ok {
		return nil, false
	}
	cp := *p
	return &cp, true
}
