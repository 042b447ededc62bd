package h402

import "time"

// PaymentRequired is the JSON body of a 402 answer.
type PaymentRequired struct {
	H402Version int                   `json:"h402Version"`
	Error       string                `json:"error"`
	Accepts     []PaymentRequirements `json:"accepts"`
}

// Verify result types.
const (
	VerifyTypePayload     = "payload"     // needs settlement
	VerifyTypeTransaction = "transaction" // already on chain
)

// VerifyResponse answers POST /verify.
type VerifyResponse struct {
	IsValid       bool   `json:"isValid"`
	InvalidReason Reason `json:"invalidReason,omitempty"`
	ErrorMessage  string `json:"errorMessage,omitempty"`
	Payer         string `json:"payer,omitempty"`
	TxHash        string `json:"txHash,omitempty"`
	Type          string `json:"type,omitempty"`
	// PaymentID and State name the payment that already used this replay
	// key (payment_already_used), so an honest seller can look it up. On a
	// valid answer, PaymentID is the id the payment gets once settled.
	PaymentID string `json:"paymentId,omitempty"`
	State     string `json:"state,omitempty"`
}

// SettleResponse answers POST /settle and is the X-PAYMENT-RESPONSE header's content.
// With asynchronous settlement, Transaction is empty and PaymentID/State say
// where the payment stands; the transaction arrives later in the receipt.
type SettleResponse struct {
	Success     bool      `json:"success"`
	Transaction string    `json:"transaction"`
	Namespace   Namespace `json:"namespace"`
	Payer       string    `json:"payer,omitempty"`
	ErrorReason Reason    `json:"errorReason,omitempty"`
	Error       string    `json:"error,omitempty"`
	PaymentID   string    `json:"paymentId,omitempty"`
	State       string    `json:"state,omitempty"`
	// Block (EVM block, Solana slot) and FinalizedAt (the finalized
	// transition's time) are this facilitator's additions, set when /settle
	// waited (settleWait) until the payment was confirmed or finalized.
	Block       uint64    `json:"block,omitempty"`
	FinalizedAt time.Time `json:"finalizedAt,omitzero"`
}

// RequestBody is the h402 body of POST /verify and POST /settle: the X-PAYMENT
// header value and the requirement it pays.
type RequestBody struct {
	Payload             string              `json:"payload"`
	PaymentRequirements PaymentRequirements `json:"paymentRequirements"`
}
