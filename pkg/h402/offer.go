package h402

import (
	"encoding/json"
	"math/big"
)

// Encoders of a seller's 402 answer (pkg/seller). A seller states each offer
// once as h402 PaymentRequirements and these give its x402 v1 and v2 forms.

// HeaderPaymentRequired is the x402 v2 response header carrying the
// PaymentRequired answer (standard base64 of its JSON).
const HeaderPaymentRequired = "PAYMENT-REQUIRED"

// X402V1PaymentRequired is the x402 v1 402 body.
type X402V1PaymentRequired struct {
	X402Version int                  `json:"x402Version"`
	Error       string               `json:"error"`
	Accepts     []X402V1Requirements `json:"accepts"`
}

// X402V2PaymentRequired is the x402 v2 PAYMENT-REQUIRED header's content.
type X402V2PaymentRequired struct {
	X402Version int                  `json:"x402Version"`
	Error       string               `json:"error,omitempty"`
	Resource    *X402Resource        `json:"resource"`
	Accepts     []X402V2Requirements `json:"accepts"`
	Extensions  json.RawMessage      `json:"extensions,omitempty"`
}

// DualRequirements is one offer written so that both an h402 client and an
// x402 v1 client read it: the h402 fields, plus x402 v1's network, asset,
// payTo and maxTimeoutSeconds. Where the two share a name (scheme,
// resource, description, mimeType, extra, maxAmountRequired) the meaning is
// the same; maxAmountRequired is in smallest units in both, and h402 takes
// it as the amount. resource, description and mimeType are always written
// (x402 v1 requires them).
type DualRequirements struct {
	PaymentRequirements
	Network           string  `json:"network"`
	MaxAmountRequired Decimal `json:"maxAmountRequired"`
	Resource          string  `json:"resource"`
	Description       string  `json:"description"`
	MimeType          string  `json:"mimeType"`
	PayTo             string  `json:"payTo"`
	MaxTimeoutSeconds int     `json:"maxTimeoutSeconds"`
	Asset             string  `json:"asset"`
}

// DualPaymentRequired is a 402 body both h402 clients (h402Version,
// DecodePaymentRequired) and x402 v1 clients (x402Version) read.
type DualPaymentRequired struct {
	H402Version int                `json:"h402Version"`
	X402Version int                `json:"x402Version"`
	Error       string             `json:"error"`
	Accepts     []DualRequirements `json:"accepts"`
}

// smallestUnits is r's amount in smallest units; r must carry its decimals
// when the amount is humanReadable.
func (r *PaymentRequirements) smallestUnits() (Decimal, error) {
	decimals := 0
	if r.TokenDecimals != nil {
		decimals = *r.TokenDecimals
	}
	v, err := r.Amount(decimals)
	if err != nil {
		return Decimal{}, err
	}
	return NewDecimal(v), nil
}

// X402V1 returns r as x402 v1 requirements on network (a v1 network name).
func (r *PaymentRequirements) X402V1(network string, maxTimeoutSeconds int) (X402V1Requirements, error) {
	amount, err := r.smallestUnits()
	if err != nil {
		return X402V1Requirements{}, err
	}
	return X402V1Requirements{
		Scheme: r.Scheme, Network: network, MaxAmountRequired: amount,
		Resource: r.Resource, Description: r.Description, MimeType: r.MimeType,
		PayTo: r.PayToAddress, MaxTimeoutSeconds: maxTimeoutSeconds, Asset: r.TokenAddress,
		OutputSchema: r.OutputSchema, Extra: r.Extra,
	}, nil
}

// X402V2 returns r as x402 v2 requirements on network (CAIP-2).
func (r *PaymentRequirements) X402V2(network string, maxTimeoutSeconds int) (X402V2Requirements, error) {
	amount, err := r.smallestUnits()
	if err != nil {
		return X402V2Requirements{}, err
	}
	return X402V2Requirements{
		Scheme: r.Scheme, Network: network, Amount: amount, Asset: r.TokenAddress,
		PayTo: r.PayToAddress, MaxTimeoutSeconds: maxTimeoutSeconds, Extra: r.Extra,
	}, nil
}

// Dual returns r in the form both h402 and x402 v1 clients read; network is
// the x402 v1 network name.
func (r *PaymentRequirements) Dual(network string, maxTimeoutSeconds int) (DualRequirements, error) {
	amount, err := r.smallestUnits()
	if err != nil {
		return DualRequirements{}, err
	}
	return DualRequirements{
		PaymentRequirements: *r, Network: network, MaxAmountRequired: amount,
		Resource: r.Resource, Description: r.Description, MimeType: r.MimeType,
		PayTo: r.PayToAddress, MaxTimeoutSeconds: maxTimeoutSeconds, Asset: r.TokenAddress,
	}, nil
}

// EncodeJSONHeader is the standard base64 of v's JSON, the form of the
// PAYMENT-REQUIRED, PAYMENT-RESPONSE and X-PAYMENT-RESPONSE headers.
func EncodeJSONHeader(v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	return EncodeBase64(b), nil
}

// DecodePaymentRequiredHeader decodes an x402 v2 PAYMENT-REQUIRED header.
func DecodePaymentRequiredHeader(s string) (*X402V2PaymentRequired, error) {
	b, err := DecodeBase64(s)
	if err != nil {
		return nil, err
	}
	if err := checkObject(b, ReasonInvalidPaymentRequirements, "PAYMENT-REQUIRED"); err != nil {
		return nil, err
	}
	pr := new(X402V2PaymentRequired)
	if err := unmarshalAs(b, pr, ReasonInvalidPaymentRequirements, "PAYMENT-REQUIRED"); err != nil {
		return nil, err
	}
	if pr.X402Version != X402V2 {
		return nil, Errorf(ReasonInvalidVersion, "PAYMENT-REQUIRED x402Version %d is not 2", pr.X402Version)
	}
	return pr, nil
}

// amountOf is the whole number d holds, for comparisons.
func amountOf(d Decimal) (*big.Int, error) { return d.Uint() }

// SameX402V2 reports whether a and b ask for the same payment: scheme,
// network, asset, payTo (EVM addresses case-insensitively) and amount.
func SameX402V2(ns Namespace, a, b *X402V2Requirements) bool {
	if a.Scheme != b.Scheme || a.Network != b.Network || !sameAddress(ns, a.Asset, b.Asset) || !sameAddress(ns, a.PayTo, b.PayTo) {
		return false
	}
	av, err := amountOf(a.Amount)
	if err != nil {
		return false
	}
	bv, err := amountOf(b.Amount)
	return err == nil && av.Cmp(bv) == 0
}
