package buyer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/h402/settlement/pkg/h402"
)

// Settlement is a seller's decoded X-PAYMENT-RESPONSE (h402, x402 v1) or
// PAYMENT-RESPONSE (x402 v2): the facilitator's settle answer.
type Settlement struct {
	Success     bool   `json:"success"`
	Transaction string `json:"transaction"`
	// Network (x402) or Namespace (h402), as the answer gives them.
	Network   string `json:"network,omitempty"`
	Namespace string `json:"namespace,omitempty"`
	Payer     string `json:"payer,omitempty"`
	// PaymentID and State: this facilitator's additions (the payment's id
	// for GET /payments/{id}, and where it stood when the seller was answered).
	PaymentID   string `json:"paymentId,omitempty"`
	State       string `json:"state,omitempty"`
	ErrorReason string `json:"errorReason,omitempty"`
	Error       string `json:"error,omitempty"`
	// ErrorMessage is the x402 spelling of Error.
	ErrorMessage string `json:"errorMessage,omitempty"`
}

// MaxPaymentResponseBytes bounds a payment response header.
const MaxPaymentResponseBytes = 16 << 10

// DecodePaymentResponse decodes an X-PAYMENT-RESPONSE or PAYMENT-RESPONSE
// header value: base64 (standard or URL-safe, padded or not) of a JSON object.
func DecodePaymentResponse(v string) (*Settlement, error) {
	if len(v) > MaxPaymentResponseBytes {
		return nil, fmt.Errorf("payment response header is %d bytes, more than %d", len(v), MaxPaymentResponseBytes)
	}
	b, err := h402.DecodeBase64(v)
	if err != nil {
		return nil, fmt.Errorf("payment response header: %w", err)
	}
	if t := bytes.TrimSpace(b); len(t) == 0 || t[0] != '{' {
		return nil, errors.New("payment response header is not a JSON object")
	}
	s := new(Settlement)
	if err := json.Unmarshal(b, s); err != nil {
		return nil, fmt.Errorf("payment response header: %w", err)
	}
	return s, nil
}

// readSettlement finds the payment response header of resp, if any.
func readSettlement(h http.Header) (*Settlement, error) {
	for _, name := range []string{h402.HeaderPaymentResp2, h402.HeaderPaymentResponse} {
		if v := h.Get(name); v != "" {
			return DecodePaymentResponse(v)
		}
	}
	return nil, nil
}

// refusal reads the seller's reason from a 402 answering a paid request:
// the PAYMENT-REQUIRED header's or the body's error, or the payment
// response's errorReason.
func refusal(status int, h http.Header, body []byte, s *Settlement) *RefusedError {
	e := &RefusedError{Status: status}
	if s != nil {
		e.SellerReason = s.ErrorReason
		e.Message = s.Error + s.ErrorMessage
	}
	if pr, err := ReadPaymentRequired(h, body); err == nil && pr.Error != "" {
		if e.SellerReason == "" {
			e.SellerReason = pr.Error
		} else if e.Message == "" {
			e.Message = pr.Error
		}
	} else if err != nil {
		var m struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(body, &m) == nil && e.SellerReason == "" {
			e.SellerReason = m.Error
		}
	}
	e.SellerReason, e.Message = clip(e.SellerReason), clip(e.Message)
	return e
}
