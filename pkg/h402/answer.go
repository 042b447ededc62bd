package h402

import "encoding/json"

// x402ReasonInvalidVersion is x402's name for ReasonInvalidVersion.
const x402ReasonInvalidVersion = "invalid_x402_version"

// x402Reason names a reason the way x402 clients know it.
func x402Reason(r Reason) string {
	if r == ReasonInvalidVersion {
		return x402ReasonInvalidVersion
	}
	return string(r)
}

// ToX402Verify turns a VerifyResponse into x402's shape. An invalid answer
// always carries a reason (unexpected_verify_error when none was given).
func ToX402Verify(v *VerifyResponse) X402VerifyResponse {
	out := X402VerifyResponse{IsValid: v.IsValid, Payer: v.Payer, PaymentID: v.PaymentID, State: v.State}
	if !v.IsValid {
		reason := v.InvalidReason
		if reason == "" {
			reason = ReasonUnexpectedVerifyError
		}
		out.InvalidReason, out.InvalidMessage = x402Reason(reason), v.ErrorMessage
	}
	return out
}

// ToX402Settle turns a SettleResponse into x402's shape; network is the x402
// network as the client wrote it. Transaction and network are always
// present; a failed answer always carries a reason (unexpected_settle_error
// when none was given).
func ToX402Settle(network string, s *SettleResponse) X402SettleResponse {
	out := X402SettleResponse{Success: s.Success, Payer: s.Payer, Transaction: s.Transaction, Network: network, PaymentID: s.PaymentID, State: s.State,
		Block: s.Block, FinalizedAt: s.FinalizedAt}
	if !s.Success {
		reason := s.ErrorReason
		if reason == "" {
			reason = ReasonUnexpectedSettleError
		}
		out.ErrorReason, out.ErrorMessage = x402Reason(reason), s.Error
	}
	return out
}

// EncodeVerifyResponse writes the answer to POST /verify in dialect d.
func EncodeVerifyResponse(d Dialect, v *VerifyResponse) ([]byte, error) {
	if d == DialectX402V1 || d == DialectX402V2 {
		return json.Marshal(ToX402Verify(v))
	}
	return json.Marshal(v)
}

// EncodeSettleResponse writes the answer to POST /settle in dialect d;
// network is the x402 network as the client wrote it (unused for h402).
func EncodeSettleResponse(d Dialect, network string, s *SettleResponse) ([]byte, error) {
	if d == DialectX402V1 || d == DialectX402V2 {
		return json.Marshal(ToX402Settle(network, s))
	}
	return json.Marshal(s)
}

// SettleHeaderName is the response header that carries the settle answer to
// the client in dialect d: PAYMENT-RESPONSE for x402 v2, else X-PAYMENT-RESPONSE.
func SettleHeaderName(d Dialect) string {
	if d == DialectX402V2 {
		return HeaderPaymentResp2
	}
	return HeaderPaymentResponse
}

// VerifyAnswer writes v in the request's dialect.
func (req *Request) VerifyAnswer(v *VerifyResponse) ([]byte, error) {
	return EncodeVerifyResponse(req.Dialect, v)
}

// SettleAnswer writes s in the request's dialect, repeating its network.
func (req *Request) SettleAnswer(s *SettleResponse) ([]byte, error) {
	return EncodeSettleResponse(req.Dialect, req.Network, s)
}

// SettleHeader returns the response header name and its value (standard
// base64 of the settle answer in the request's dialect).
func (req *Request) SettleHeader(s *SettleResponse) (name, value string, err error) {
	b, err := req.SettleAnswer(s)
	if err != nil {
		return "", "", err
	}
	return SettleHeaderName(req.Dialect), EncodeBase64(b), nil
}
