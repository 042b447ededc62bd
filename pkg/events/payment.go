package events

import (
	"encoding/json"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/h402/settlement/pkg/h402"
)

// PaymentAcceptedVersion is the version of PaymentAccepted this code writes.
// Version 1 (which carried the client's X-PAYMENT text) is still read.
const PaymentAcceptedVersion = 2

// MaxEventLen bounds a decoded event.
const MaxEventLen = 64 << 10

// Bounds of what an accepted event carries. A payment whose settlement data
// does not fit is refused at ingest, so that every accepted event can be read
// and settled.
const (
	// MaxResourceLen bounds the resource URL kept with a payment.
	MaxResourceLen = 2048
	// MaxSignedTransactionLen bounds an EVM client transaction (0x hex).
	MaxSignedTransactionLen = 2 + 2*4096
	// MaxSolanaTransactionLen bounds a Solana wire transaction (standard
	// base64 of at most 1232 bytes, the packet size).
	MaxSolanaTransactionLen = 1644
	// MaxRequestFingerprintLen bounds the fingerprint of the accepting request.
	MaxRequestFingerprintLen = 64
	// MaxIdempotencyLen bounds the seller's idempotency key.
	MaxIdempotencyLen = 128
)

// EVMAuthorization is a signed EIP-3009 transferWithAuthorization in
// canonical form: lowercase 0x hex addresses, nonce and signature; decimal
// integers. It is all a settler needs to call the token.
type EVMAuthorization struct {
	From        string `json:"from"`
	To          string `json:"to"`
	Value       string `json:"value"`
	ValidAfter  string `json:"validAfter"`
	ValidBefore string `json:"validBefore"`
	Nonce       string `json:"nonce"`
	Signature   string `json:"signature"`
}

// PaymentAccepted is published by ingest once a payment is verified, its
// replay key is claimed and its payer's exposure is reserved. It carries the
// canonical, dialect-neutral payment and exactly what settlement needs, so
// that settlers never parse a client's wire format or call back into ingest.
type PaymentAccepted struct {
	Version   int              `json:"v"`
	ID        string           `json:"id"`
	Namespace h402.Namespace   `json:"namespace"`
	NetworkID string           `json:"networkId"`
	Type      h402.PayloadType `json:"type"`
	Token     string           `json:"token"`
	Payer     string           `json:"payer"`
	PayTo     string           `json:"payTo"`
	// Amount in smallest units, as a decimal string.
	Amount      string `json:"amount"`
	Nonce       string `json:"nonce,omitempty"`
	ValidAfter  int64  `json:"validAfter,omitempty"`  // unix seconds
	ValidBefore int64  `json:"validBefore,omitempty"` // unix seconds
	TxHash      string `json:"txHash,omitempty"`
	// Settle is false for client-broadcast payments, which only need watching.
	Settle bool `json:"settle"`

	// Authorization is set for EVM authorization payments.
	Authorization *EVMAuthorization `json:"authorization,omitempty"`
	// SignedTransaction is the EVM client transaction (0x hex) of a
	// signedTransaction payment, broadcast as is.
	SignedTransaction string `json:"signedTransaction,omitempty"`
	// Transaction is the Solana wire transaction (standard base64) of a
	// signTransaction payment, broadcast as is or co-signed as fee payer.
	Transaction string `json:"transaction,omitempty"`

	// Resource is the URL the payment paid for (may be empty).
	Resource string `json:"resource,omitempty"`
	// Request fingerprints the request that was accepted (payment and
	// requirements), so that a retry of that request can be told from
	// another request for the same payment.
	Request string `json:"request,omitempty"`
	// Idempotency is the seller's idempotency key of that request, if any.
	Idempotency string    `json:"idem,omitempty"`
	AcceptedAt  time.Time `json:"acceptedAt"`
}

// AmountInt returns the amount as an integer.
func (e *PaymentAccepted) AmountInt() (*big.Int, error) {
	v, ok := new(big.Int).SetString(e.Amount, 10)
	if !ok || v.Sign() < 0 {
		return nil, fmt.Errorf("payment %s: amount %q is not a non-negative integer", e.ID, e.Amount)
	}
	return v, nil
}

// SetPayload fills the settlement data from a decoded payment payload (any
// dialect, mapped onto h402 types). It checks shape and bounds only: the
// payload was verified before.
func (e *PaymentAccepted) SetPayload(p *h402.PaymentPayload) error {
	if p == nil || p.Payload == nil {
		return fmt.Errorf("%w: payment %s has no payload", ErrMalformed, e.ID)
	}
	e.Authorization, e.SignedTransaction, e.Transaction = nil, "", ""
	switch pl := p.Payload.(type) {
	case *h402.EVMAuthorizationPayload:
		a := pl.Authorization
		var nums [3]string
		for i, d := range []h402.Decimal{a.Value, a.ValidAfter, a.ValidBefore} {
			v, err := d.Uint()
			if err != nil {
				return fmt.Errorf("%w: authorization of %s: %v", ErrMalformed, e.ID, err)
			}
			nums[i] = v.String()
		}
		e.Authorization = &EVMAuthorization{
			From: hex0x(a.From), To: hex0x(a.To),
			Value: nums[0], ValidAfter: nums[1], ValidBefore: nums[2],
			Nonce: hex0x(a.Nonce), Signature: hex0x(pl.Signature),
		}
	case *h402.EVMSignedTransactionPayload:
		e.SignedTransaction = hex0x(pl.SignedTransaction)
	case *h402.SolanaSignTransactionPayload:
		e.Transaction = pl.Transaction
	case *h402.EVMSignAndSendPayload, *h402.SolanaSignAndSendPayload:
		// On chain already: the transaction hash is all there is.
	default:
		return fmt.Errorf("%w: payment %s has payload type %T", ErrMalformed, e.ID, p.Payload)
	}
	if len(p.Resource) <= MaxResourceLen && e.Resource == "" {
		e.Resource = p.Resource
	}
	return e.Check()
}

// Check validates the event's shape and bounds: what DecodePaymentAccepted
// enforces, for an event about to be published.
func (e *PaymentAccepted) Check() error {
	if e.ID == "" || e.Namespace == "" || e.NetworkID == "" {
		return fmt.Errorf("%w: payment.accepted lacks id, namespace or networkId", ErrMalformed)
	}
	if err := CheckPaymentID(e.ID); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if _, err := e.AmountInt(); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if len(e.Resource) > MaxResourceLen {
		return fmt.Errorf("%w: payment %s resource is %d bytes, more than %d", ErrMalformed, e.ID, len(e.Resource), MaxResourceLen)
	}
	if len(e.Request) > MaxRequestFingerprintLen {
		return fmt.Errorf("%w: payment %s request fingerprint is %d bytes, more than %d", ErrMalformed, e.ID, len(e.Request), MaxRequestFingerprintLen)
	}
	if len(e.Idempotency) > MaxIdempotencyLen {
		return fmt.Errorf("%w: payment %s idempotency key is %d bytes, more than %d", ErrMalformed, e.ID, len(e.Idempotency), MaxIdempotencyLen)
	}
	if !e.Settle {
		if e.TxHash == "" {
			return fmt.Errorf("%w: client-broadcast payment %s has no transaction hash", ErrMalformed, e.ID)
		}
		return nil
	}
	switch e.Type {
	case h402.TypeAuthorization:
		return e.Authorization.check(e.ID)
	case h402.TypeSignedTransaction:
		if !isHex(e.SignedTransaction, 1, MaxSignedTransactionLen) {
			return fmt.Errorf("%w: payment %s signedTransaction is not 0x hex of at most %d characters", ErrMalformed, e.ID, MaxSignedTransactionLen)
		}
	case h402.TypeSignTransaction:
		if e.Transaction == "" || len(e.Transaction) > MaxSolanaTransactionLen {
			return fmt.Errorf("%w: payment %s transaction is empty or more than %d characters", ErrMalformed, e.ID, MaxSolanaTransactionLen)
		}
	default:
		return fmt.Errorf("%w: payment %s of type %q cannot be settled", ErrMalformed, e.ID, e.Type)
	}
	return nil
}

func (a *EVMAuthorization) check(id string) error {
	if a == nil {
		return fmt.Errorf("%w: authorization payment %s carries no authorization", ErrMalformed, id)
	}
	ok := isHex(a.From, 40, 40) && isHex(a.To, 40, 40) && isHex(a.Nonce, 64, 64) && isHex(a.Signature, 130, 130) &&
		isUint256(a.Value) && isUint256(a.ValidAfter) && isUint256(a.ValidBefore)
	if !ok {
		return fmt.Errorf("%w: authorization of %s is not canonical (0x hex addresses, nonce and signature; decimal uint256 values)", ErrMalformed, id)
	}
	return nil
}

// hex0x lowercases hex text and gives it the 0x prefix.
func hex0x(s string) string {
	s = strings.ToLower(s)
	if !strings.HasPrefix(s, "0x") {
		s = "0x" + s
	}
	return s
}

// isHex reports whether s is "0x" followed by min to max lowercase hex digits.
func isHex(s string, minDigits, maxDigits int) bool {
	h, ok := strings.CutPrefix(s, "0x")
	if !ok || len(h) < minDigits || len(h) > maxDigits {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

func isUint256(s string) bool {
	if s == "" || len(s) > 78 || (len(s) > 1 && s[0] == '0') {
		return false
	}
	v, ok := new(big.Int).SetString(s, 10)
	return ok && v.Sign() >= 0 && v.Cmp(h402.MaxUint256) <= 0
}

// paymentAcceptedV1 is the version 1 form, which carried the client's
// X-PAYMENT text (h402 dialect) instead of the settlement data.
type paymentAcceptedV1 struct {
	PaymentAccepted
	Payment string `json:"payment"`
}

// DecodePaymentAccepted decodes and checks a PaymentAccepted event. A
// version 1 event is upgraded to this version's form: its X-PAYMENT text is
// decoded into the settlement data, so settlers read one form.
func DecodePaymentAccepted(b []byte) (*PaymentAccepted, error) {
	var probe struct {
		Version int `json:"v"`
	}
	if err := decode(b, &probe); err != nil {
		return nil, err
	}
	switch probe.Version {
	case PaymentAcceptedVersion:
		var e PaymentAccepted
		if err := decode(b, &e); err != nil {
			return nil, err
		}
		if err := e.Check(); err != nil {
			return nil, err
		}
		return &e, nil
	case 1:
		var v1 paymentAcceptedV1
		if err := decode(b, &v1); err != nil {
			return nil, err
		}
		e := v1.PaymentAccepted
		e.Version = PaymentAcceptedVersion // now in this version's form
		if e.Settle {
			if v1.Payment == "" {
				return nil, fmt.Errorf("%w: payment.accepted v1 %s lacks its payment", ErrMalformed, e.ID)
			}
			p, err := h402.DecodePaymentHeader(v1.Payment)
			if err != nil {
				return nil, fmt.Errorf("%w: payment.accepted v1 %s: %v", ErrMalformed, e.ID, err)
			}
			if err := e.SetPayload(p); err != nil {
				return nil, err
			}
		}
		if err := e.Check(); err != nil {
			return nil, err
		}
		return &e, nil
	default:
		return nil, fmt.Errorf("%w: payment.accepted version %d (this build reads 1 and %d)", ErrUnknownVersion, probe.Version, PaymentAcceptedVersion)
	}
}

// Encode returns the event's wire form.
func (e *PaymentAccepted) Encode() ([]byte, error) {
	if err := e.Check(); err != nil {
		return nil, err
	}
	return json.Marshal(e)
}
