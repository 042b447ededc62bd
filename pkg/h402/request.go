package h402

import (
	"bytes"
	"encoding/json"
	"strings"
)

// MaxRequestLen bounds the body of POST /verify and /settle; it is checked
// before any parsing.
const MaxRequestLen = 64 << 10

// Dialect says which protocol a request body was written in, so that the
// answer can be given in the same one.
type Dialect string

// Dialects.
const (
	DialectH402   Dialect = "h402"
	DialectX402V1 Dialect = "x402v1"
	DialectX402V2 Dialect = "x402v2"
)

// Request is a decoded POST /verify or /settle body, mapped onto h402 types
// whatever its dialect.
type Request struct {
	Dialect Dialect
	// Requirements and Payload are the h402 form of the payment. x402 amounts
	// become amountRequired in smallestUnit format; an x402 EVM payload
	// becomes an authorization whose version is extra.version; an x402 Solana
	// payload becomes signTransaction with an empty signature.
	Requirements *PaymentRequirements
	Payload      *PaymentPayload
	// Header is the payment header as sent: for h402 the X-PAYMENT value in
	// the body; for x402 the standard base64 of the paymentPayload JSON as it
	// appeared in the body, compacted.
	Header string
	// Network is the x402 network exactly as the client wrote it (answers
	// repeat it); empty for h402.
	Network string
	// X402V1 or X402V2 is the x402 body as decoded, by dialect.
	X402V1 *X402V1Request
	X402V2 *X402V2Request
}

// DecodeRequest decodes the body of POST /verify or /settle. It tells the
// dialect by the body's fields: "x402Version" 1 or 2 is x402, otherwise a
// string "payload" with "paymentRequirements" is h402. resolve maps x402
// network strings to h402 networks; nil means DefaultNetworkResolver.
//
// Beyond structure, it checks what needs no configuration: version, scheme,
// that the payload's namespace and networkId are the requirements' (x402: the
// payload's network, and v2's accepted requirements, agree with
// paymentRequirements), and that both resources agree when both are set.
//
// On error, the *Error says why, and the returned Request is still non-nil:
// its Dialect (h402 when none could be told) and Network, when read, let
// the rejection be answered in the client's dialect.
func DecodeRequest(body []byte, resolve NetworkResolver) (*Request, error) {
	if resolve == nil {
		resolve = DefaultNetworkResolver
	}
	req := &Request{Dialect: DialectH402}
	if len(body) > MaxRequestLen {
		return req, Errorf(ReasonPayloadTooLarge, "request body is %d bytes, more than the %d allowed", len(body), MaxRequestLen)
	}
	if t := bytes.TrimSpace(body); len(t) == 0 || t[0] != '{' {
		if !json.Valid(body) {
			return req, Errorf(ReasonInvalidEncoding, "request body is not valid JSON")
		}
		return req, Errorf(ReasonInvalidPayload, "request body is not a JSON object")
	}
	var probe struct {
		X402Version         json.RawMessage `json:"x402Version"`
		Payload             json.RawMessage `json:"payload"`
		PaymentPayload      json.RawMessage `json:"paymentPayload"`
		PaymentRequirements json.RawMessage `json:"paymentRequirements"`
	}
	if err := json.Unmarshal(body, &probe); err != nil {
		return req, Wrap(ReasonInvalidEncoding, err, "request body is not valid JSON")
	}
	var err error
	switch {
	case present(probe.X402Version):
		if present(probe.Payload) {
			return req, Errorf(ReasonInvalidPayload, "request body mixes the h402 payload field with x402Version")
		}
		var v int
		if json.Unmarshal(probe.X402Version, &v) != nil {
			return req, Errorf(ReasonInvalidVersion, "x402Version is not an integer")
		}
		switch v {
		case X402V1:
			req.Dialect = DialectX402V1
			err = req.decodeX402V1(probe.PaymentPayload, probe.PaymentRequirements, resolve)
		case X402V2:
			req.Dialect = DialectX402V2
			err = req.decodeX402V2(probe.PaymentPayload, probe.PaymentRequirements, resolve)
		default:
			return req, Errorf(ReasonInvalidVersion, "x402Version %d is not supported (want 1 or 2)", v)
		}
	case present(probe.PaymentPayload):
		return req, Errorf(ReasonInvalidVersion, "request body has a paymentPayload but no x402Version")
	case present(probe.Payload) || present(probe.PaymentRequirements):
		err = req.decodeH402(probe.Payload, probe.PaymentRequirements)
	default:
		return req, Errorf(ReasonInvalidPayload, "request body has neither an h402 payload nor an x402 paymentPayload")
	}
	if err != nil {
		req.Requirements, req.Payload = nil, nil
		return req, err
	}
	return req, nil
}

func (req *Request) decodeH402(payload, requirements json.RawMessage) error {
	if !present(requirements) {
		return Errorf(ReasonInvalidPaymentRequirements, "request body has no paymentRequirements")
	}
	r, err := DecodeRequirements(requirements)
	if err != nil {
		return err
	}
	if !present(payload) {
		return Errorf(ReasonInvalidPayload, "request body has no payload")
	}
	var header string
	if err := json.Unmarshal(payload, &header); err != nil {
		return Errorf(ReasonInvalidPayload, "request body payload is not a string holding the X-PAYMENT header")
	}
	p, err := DecodePaymentHeader(header)
	if err != nil {
		return err
	}
	if p.Namespace != r.Namespace {
		return Errorf(ReasonInvalidNetwork, "payment is in namespace %s but the requirements ask for %s", p.Namespace, r.Namespace)
	}
	if p.NetworkID != r.NetworkID {
		return Errorf(ReasonInvalidNetwork, "payment is on network %q but the requirements ask for %q", clip(p.NetworkID), clip(r.NetworkID))
	}
	if p.Resource != "" && r.Resource != "" && p.Resource != r.Resource {
		return Errorf(ReasonResourceMismatch, "payment is for resource %q but the requirements are for %q", clip(p.Resource), clip(r.Resource))
	}
	req.Requirements, req.Payload, req.Header = r, p, header
	return nil
}

// Encode writes the request body again in its dialect. Decoding the result
// gives an equal Request.
func (req *Request) Encode() ([]byte, error) {
	switch req.Dialect {
	case DialectX402V1:
		if req.X402V1 == nil {
			return nil, Errorf(ReasonInvalidPayload, "x402 v1 request has no body")
		}
		return json.Marshal(req.X402V1)
	case DialectX402V2:
		if req.X402V2 == nil {
			return nil, Errorf(ReasonInvalidPayload, "x402 v2 request has no body")
		}
		return json.Marshal(req.X402V2)
	default:
		if req.Requirements == nil {
			return nil, Errorf(ReasonInvalidPaymentRequirements, "h402 request has no requirements")
		}
		return json.Marshal(RequestBody{Payload: req.Header, PaymentRequirements: *req.Requirements})
	}
}

// present reports whether a probed field was there and not null.
func present(raw json.RawMessage) bool { return len(raw) > 0 && !isJSONNull(raw) }

// headerOf returns the standard base64 of the compacted JSON raw.
func headerOf(raw json.RawMessage) string {
	var buf bytes.Buffer
	if json.Compact(&buf, raw) != nil {
		return EncodeBase64(raw)
	}
	return EncodeBase64(buf.Bytes())
}

// sameAddress compares addresses: EVM hex case-insensitively, others exactly.
func sameAddress(ns Namespace, a, b string) bool {
	if ns == NamespaceEVM {
		return strings.EqualFold(a, b)
	}
	return a == b
}
