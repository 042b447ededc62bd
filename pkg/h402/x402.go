package h402

import (
	"encoding/json"
	"time"
)

// x402 wire shapes (x402 v1, npm "x402" 1.x; x402 v2, npm "@x402/*" 2.x).
// They are decoded from POST /verify and /settle bodies and mapped onto
// PaymentRequirements and PaymentPayload by DecodeRequest.

// X402 protocol versions.
const (
	X402V1 = 1
	X402V2 = 2
)

// X402V1Requirements is an x402 v1 PaymentRequirements.
type X402V1Requirements struct {
	Scheme            string          `json:"scheme"`
	Network           string          `json:"network"`
	MaxAmountRequired Decimal         `json:"maxAmountRequired"` // smallest units
	Resource          string          `json:"resource"`
	Description       string          `json:"description"`
	MimeType          string          `json:"mimeType"`
	PayTo             string          `json:"payTo"`
	MaxTimeoutSeconds int             `json:"maxTimeoutSeconds"`
	Asset             string          `json:"asset"`
	OutputSchema      json.RawMessage `json:"outputSchema,omitempty"`
	Extra             json.RawMessage `json:"extra,omitempty"`
}

// X402V2Requirements is an x402 v2 PaymentRequirements; Network is CAIP-2.
type X402V2Requirements struct {
	Scheme            string          `json:"scheme"`
	Network           string          `json:"network"`
	Amount            Decimal         `json:"amount"` // smallest units
	Asset             string          `json:"asset"`
	PayTo             string          `json:"payTo"`
	MaxTimeoutSeconds int             `json:"maxTimeoutSeconds"`
	Extra             json.RawMessage `json:"extra,omitempty"`
}

// X402Authorization is the EIP-3009 message of the x402 exact EVM scheme.
type X402Authorization struct {
	From        string  `json:"from"`
	To          string  `json:"to"`
	Value       Decimal `json:"value"`
	ValidAfter  Decimal `json:"validAfter"`
	ValidBefore Decimal `json:"validBefore"`
	Nonce       string  `json:"nonce"`
}

// X402ExactPayload is the payload of the x402 exact scheme: on EVM a
// signature and an authorization, on Solana a base64 wire transaction.
type X402ExactPayload struct {
	Signature     string             `json:"signature,omitempty"`
	Authorization *X402Authorization `json:"authorization,omitempty"`
	Transaction   string             `json:"transaction,omitempty"`
}

// X402V1PaymentPayload is the decoded x402 v1 X-PAYMENT header.
type X402V1PaymentPayload struct {
	X402Version int              `json:"x402Version"`
	Scheme      string           `json:"scheme"`
	Network     string           `json:"network"`
	Payload     X402ExactPayload `json:"payload"`
}

// X402Resource describes the paid resource in x402 v2.
type X402Resource struct {
	URL         string `json:"url"`
	Description string `json:"description,omitempty"`
	MimeType    string `json:"mimeType,omitempty"`
}

// X402V2PaymentPayload is the decoded x402 v2 PAYMENT-SIGNATURE header.
type X402V2PaymentPayload struct {
	X402Version int                `json:"x402Version"`
	Resource    *X402Resource      `json:"resource,omitempty"`
	Accepted    X402V2Requirements `json:"accepted"`
	Payload     X402ExactPayload   `json:"payload"`
	Extensions  json.RawMessage    `json:"extensions,omitempty"`
}

// X402V1Request is the x402 v1 body of POST /verify and /settle.
type X402V1Request struct {
	X402Version         int                  `json:"x402Version"`
	PaymentPayload      X402V1PaymentPayload `json:"paymentPayload"`
	PaymentRequirements X402V1Requirements   `json:"paymentRequirements"`
}

// X402V2Request is the x402 v2 body of POST /verify and /settle.
type X402V2Request struct {
	X402Version         int                  `json:"x402Version"`
	PaymentPayload      X402V2PaymentPayload `json:"paymentPayload"`
	PaymentRequirements X402V2Requirements   `json:"paymentRequirements"`
}

// X402VerifyResponse answers an x402 POST /verify (both versions).
type X402VerifyResponse struct {
	IsValid        bool   `json:"isValid"`
	InvalidReason  string `json:"invalidReason,omitempty"`
	InvalidMessage string `json:"invalidMessage,omitempty"`
	Payer          string `json:"payer,omitempty"`
	// PaymentID and State name the payment that already used this replay
	// key (payment_already_used); x402 clients ignore unknown fields.
	PaymentID string `json:"paymentId,omitempty"`
	State     string `json:"state,omitempty"`
	// Block and FinalizedAt: as in SettleResponse.
	Block       uint64    `json:"block,omitempty"`
	FinalizedAt time.Time `json:"finalizedAt,omitzero"`
}

// X402SettleResponse answers an x402 POST /settle (both versions).
// Transaction and Network are always present ("" transaction on failure);
// Network is the network as the client wrote it.
type X402SettleResponse struct {
	Success      bool   `json:"success"`
	ErrorReason  string `json:"errorReason,omitempty"`
	ErrorMessage string `json:"errorMessage,omitempty"`
	Payer        string `json:"payer,omitempty"`
	Transaction  string `json:"transaction"`
	Network      string `json:"network"`
	// PaymentID and State are this facilitator's additions (x402 clients
	// ignore unknown fields): where an accepted payment stands, and which
	// payment already used a refused one's replay key.
	PaymentID string `json:"paymentId,omitempty"`
	State     string `json:"state,omitempty"`
	// Block and FinalizedAt: as in SettleResponse.
	Block       uint64    `json:"block,omitempty"`
	FinalizedAt time.Time `json:"finalizedAt,omitzero"`
}
