package h402

import (
	"encoding/json"
)

// HeaderIdempotencyKey names the seller's request explicitly: the same key
// repeats the first answer; another key for a used payment is refused.
const HeaderIdempotencyKey = "Idempotency-Key"

// PaymentIdentifierExtension is the x402 v2 extension whose info.id is the
// client's idempotency key: paymentPayload.extensions["payment-identifier"].info.id.
const PaymentIdentifierExtension = "payment-identifier"

// MaxIdempotencyKeyLen bounds an idempotency key (the x402 payment
// identifier allows 128 characters; a header key gets the same room).
const MaxIdempotencyKeyLen = 128

// IdempotencyKey returns the key that names this request: the
// Idempotency-Key header when set, else the x402 v2 payment-identifier
// extension's id, else "". A key must be 1 to 128 characters of
// [A-Za-z0-9_-:.]; anything else is an *Error (invalid_idempotency_key).
func (req *Request) IdempotencyKey(header string) (string, error) {
	if header != "" {
		return header, checkIdempotencyKey(HeaderIdempotencyKey+" header", header)
	}
	if req.X402V2 == nil || len(req.X402V2.PaymentPayload.Extensions) == 0 {
		return "", nil
	}
	var ext map[string]json.RawMessage
	if json.Unmarshal(req.X402V2.PaymentPayload.Extensions, &ext) != nil {
		return "", nil // extensions are the client's business unless they name a key
	}
	raw, ok := ext[PaymentIdentifierExtension]
	if !ok || !present(raw) {
		return "", nil
	}
	var pid struct {
		Info *struct {
			ID json.RawMessage `json:"id"`
		} `json:"info"`
	}
	if err := json.Unmarshal(raw, &pid); err != nil {
		return "", Errorf(ReasonInvalidIdempotencyKey, "the payment-identifier extension is not an object with info")
	}
	if pid.Info == nil || !present(pid.Info.ID) {
		// Declared by the seller and merged in by the client, but no id was
		// added: the request names no key.
		return "", nil
	}
	var id string
	if json.Unmarshal(pid.Info.ID, &id) != nil {
		return "", Errorf(ReasonInvalidIdempotencyKey, "the payment-identifier extension's info.id is not a string")
	}
	return id, checkIdempotencyKey("payment-identifier id", id)
}

func checkIdempotencyKey(what, k string) error {
	if k == "" || len(k) > MaxIdempotencyKeyLen {
		return Errorf(ReasonInvalidIdempotencyKey, "the %s must be 1 to %d characters (got %d)", what, MaxIdempotencyKeyLen, len(k))
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == ':' || c == '.'
		if !ok {
			return Errorf(ReasonInvalidIdempotencyKey, "the %s may hold only letters, digits and - _ : . (got %q at %d)", what, c, i)
		}
	}
	return nil
}
