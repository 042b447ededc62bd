package h402

import (
	"encoding/json"
	"math/big"
)

// Namespace is the chain family of a payment.
type Namespace string

// Namespaces.
const (
	NamespaceEVM    Namespace = "evm"
	NamespaceSolana Namespace = "solana"
)

// SchemeExact is the only payment scheme.
const SchemeExact = "exact"

// Version is the h402 protocol version this package speaks.
const Version = 1

// Native token addresses.
const (
	EVMNativeToken    = "0x0000000000000000000000000000000000000000"
	SolanaNativeToken = "11111111111111111111111111111111"
)

// PaymentRequirements is what a seller asks for, one entry of a 402 body's accepts.
type PaymentRequirements struct {
	Namespace               Namespace       `json:"namespace"`
	Scheme                  string          `json:"scheme"`
	NetworkID               string          `json:"networkId"`
	TokenAddress            string          `json:"tokenAddress"`
	PayToAddress            string          `json:"payToAddress"`
	AmountRequired          *Decimal        `json:"amountRequired,omitempty"`
	AmountRequiredFormat    AmountFormat    `json:"amountRequiredFormat,omitempty"`
	MaxAmountRequired       *Decimal        `json:"maxAmountRequired,omitempty"`
	TokenDecimals           *int            `json:"tokenDecimals,omitempty"`
	TokenSymbol             string          `json:"tokenSymbol,omitempty"`
	Resource                string          `json:"resource,omitempty"`
	Description             string          `json:"description,omitempty"`
	MimeType                string          `json:"mimeType,omitempty"`
	OutputSchema            json.RawMessage `json:"outputSchema,omitempty"`
	EstimatedProcessingTime *int            `json:"estimatedProcessingTime,omitempty"`
	Extra                   json.RawMessage `json:"extra,omitempty"`
}

// Extra is the part of PaymentRequirements.extra this facilitator reads.
type Extra struct {
	Name     string `json:"name,omitempty"`     // EIP-712 domain name
	Version  string `json:"version,omitempty"`  // EIP-712 domain version
	FeePayer string `json:"feePayer,omitempty"` // facilitator fee payer (Solana)
}

// ParsedExtra decodes the fields of extra this facilitator reads; unknown fields are ignored.
func (r *PaymentRequirements) ParsedExtra() (Extra, error) {
	var e Extra
	if len(r.Extra) == 0 || string(r.Extra) == "null" {
		return e, nil
	}
	if err := json.Unmarshal(r.Extra, &e); err != nil {
		return e, Wrap(ReasonInvalidPaymentRequirements, err, "extra is not an object of strings")
	}
	return e, nil
}

// Amount returns the required amount in smallest units. maxAmountRequired,
// when present, is the amount (x402 compatibility) and is in smallest units.
// defaultDecimals is the configured token's decimals, used when the
// requirement does not say.
func (r *PaymentRequirements) Amount(defaultDecimals int) (*big.Int, error) {
	decimals := defaultDecimals
	if r.TokenDecimals != nil {
		decimals = *r.TokenDecimals
	}
	var (
		v   *big.Int
		err error
	)
	switch {
	case r.MaxAmountRequired != nil && !r.MaxAmountRequired.IsZero():
		v, err = r.MaxAmountRequired.Units(FormatSmallestUnit, decimals)
	case r.AmountRequired != nil && !r.AmountRequired.IsZero():
		v, err = r.AmountRequired.Units(r.AmountRequiredFormat, decimals)
	default:
		return nil, Errorf(ReasonInvalidPaymentRequirements, "payment requirements carry no amountRequired")
	}
	if err != nil {
		return nil, err
	}
	if v.Sign() == 0 {
		return nil, Errorf(ReasonInvalidAmount, "required amount is zero")
	}
	return v, nil
}
