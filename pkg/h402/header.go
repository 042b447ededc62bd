package h402

import (
	"encoding/base64"
	"encoding/json"
	"strings"
)

// Size limits for decoding. A Solana transaction is at most 1232 bytes and an
// EVM payment payload a few KiB; anything far larger is refused before parsing.
const (
	MaxHeaderLen  = 32 << 10 // base64 text of X-PAYMENT
	MaxPayloadLen = 24 << 10 // decoded JSON of a payment payload
)

// Header names.
const (
	HeaderPayment         = "X-PAYMENT"
	HeaderPaymentResponse = "X-PAYMENT-RESPONSE"
	HeaderPaymentSig      = "PAYMENT-SIGNATURE" // x402 v2 request
	HeaderPaymentResp2    = "PAYMENT-RESPONSE"  // x402 v2 response
)

// DecodeBase64 accepts standard or URL-safe base64, padded or not.
func DecodeBase64(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, Errorf(ReasonInvalidEncoding, "payment header is empty")
	}
	if len(s) > MaxHeaderLen {
		return nil, Errorf(ReasonPayloadTooLarge, "payment header is %d bytes, more than the %d allowed", len(s), MaxHeaderLen)
	}
	s = strings.TrimRight(s, "=")
	enc := base64.RawStdEncoding
	if strings.ContainsAny(s, "-_") {
		if strings.ContainsAny(s, "+/") {
			return nil, Errorf(ReasonInvalidEncoding, "payment header mixes standard and URL-safe base64 alphabets")
		}
		enc = base64.RawURLEncoding
	}
	b, err := enc.DecodeString(s)
	if err != nil {
		return nil, Wrap(ReasonInvalidEncoding, err, "payment header is not valid base64")
	}
	return b, nil
}

// EncodeBase64 emits standard base64 with padding.
func EncodeBase64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// DecodePaymentHeader decodes an X-PAYMENT header value into a PaymentPayload.
func DecodePaymentHeader(s string) (*PaymentPayload, error) {
	b, err := DecodeBase64(s)
	if err != nil {
		return nil, err
	}
	return DecodePayload(b)
}

// DecodePayload decodes the JSON of a payment payload, enforcing the size
// limit, and validates it (see PaymentPayload.Validate).
func DecodePayload(b []byte) (*PaymentPayload, error) {
	if len(b) > MaxPayloadLen {
		return nil, Errorf(ReasonPayloadTooLarge, "payment payload is %d bytes, more than the %d allowed", len(b), MaxPayloadLen)
	}
	if err := checkObject(b, ReasonInvalidPayload, "payment payload"); err != nil {
		return nil, err
	}
	p := new(PaymentPayload)
	// UnmarshalJSON directly: json.Unmarshal would scan the bytes once more
	// before handing them over.
	if err := p.UnmarshalJSON(b); err != nil {
		return nil, unmarshalAs(b, p, ReasonInvalidPayload, "payment payload")
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return p, nil
}

// EncodePaymentHeader encodes p as an X-PAYMENT header value.
func EncodePaymentHeader(p *PaymentPayload) (string, error) {
	b, err := json.Marshal(p)
	if err != nil {
		return "", err
	}
	return EncodeBase64(b), nil
}
