package h402

import (
	"errors"
	"fmt"
)

// Reason is a stable, machine-readable cause of a rejected payment.
type Reason string

// Reasons from the h402 reference.
const (
	ReasonInsufficientFunds          Reason = "insufficient_funds"
	ReasonEVMValidAfter              Reason = "invalid_exact_evm_payload_authorization_valid_after"
	ReasonEVMValidBefore             Reason = "invalid_exact_evm_payload_authorization_valid_before"
	ReasonEVMValue                   Reason = "invalid_exact_evm_payload_authorization_value"
	ReasonEVMSignature               Reason = "invalid_exact_evm_payload_signature"
	ReasonEVMRecipientMismatch       Reason = "invalid_exact_evm_payload_recipient_mismatch"
	ReasonSolanaValue                Reason = "invalid_exact_solana_payload_authorization_value"
	ReasonSolanaSignature            Reason = "invalid_exact_solana_payload_signature"
	ReasonSolanaRecipientMismatch    Reason = "invalid_exact_solana_payload_recipient_mismatch"
	ReasonInvalidNetwork             Reason = "invalid_network"
	ReasonInvalidPayload             Reason = "invalid_payload"
	ReasonInvalidPaymentRequirements Reason = "invalid_payment_requirements"
	ReasonInvalidScheme              Reason = "invalid_scheme"
	ReasonUnsupportedScheme          Reason = "unsupported_scheme"
	ReasonInvalidVersion             Reason = "invalid_h402_version"
	ReasonInvalidTransactionState    Reason = "invalid_transaction_state"
	ReasonUnexpectedVerifyError      Reason = "unexpected_verify_error"
	ReasonUnexpectedSettleError      Reason = "unexpected_settle_error"
)

// Reasons of our own, where the reference's are too coarse.
const (
	ReasonPaymentAlreadyUsed     Reason = "payment_already_used"
	ReasonInvalidIdempotencyKey  Reason = "invalid_idempotency_key"
	ReasonNonceAlreadyUsed       Reason = "nonce_already_used"
	ReasonTokenNotSupported      Reason = "token_not_supported"
	ReasonPayloadTooLarge        Reason = "payload_too_large"
	ReasonInvalidEncoding        Reason = "invalid_encoding"
	ReasonUnsupportedPayloadType Reason = "unsupported_payload_type"
	ReasonInvalidAmount          Reason = "invalid_amount"
	ReasonResourceMismatch       Reason = "resource_mismatch"
	ReasonValidityTooLong        Reason = "invalid_exact_evm_payload_authorization_validity_too_long"
	ReasonEVMChainID             Reason = "invalid_exact_evm_payload_chain_id"
	ReasonEVMTransaction         Reason = "invalid_exact_evm_payload_transaction"
	ReasonEVMSignedMessage       Reason = "invalid_exact_evm_payload_signed_message"
	ReasonSolanaTransaction      Reason = "invalid_exact_solana_payload_transaction"
	ReasonSolanaInstructions     Reason = "invalid_exact_solana_payload_instructions"
	ReasonSolanaMint             Reason = "invalid_exact_solana_payload_mint"
	ReasonSolanaComputePrice     Reason = "invalid_exact_solana_payload_compute_unit_price"
	ReasonSolanaFeePayer         Reason = "invalid_exact_solana_payload_fee_payer"

	// ReasonNonceGap: an EVM signedTransaction's nonce is above the sender's
	// mined nonce and the nonce before it is not an accepted payment, so the
	// transaction could wait for ever behind the gap.
	ReasonNonceGap Reason = "nonce_gap"
	// ReasonTransactionTooOld: a client-broadcast transaction was mined or
	// landed longer ago than verify.clientBroadcastMaxAge.
	ReasonTransactionTooOld Reason = "transaction_too_old"
	// ReasonPaymentNotBound: a client-broadcast Solana transaction is not
	// bound to this request by a signature of one of its signers.
	ReasonPaymentNotBound Reason = "payment_not_bound"
	// ReasonPayerBlocked: a payment of this payer failed on chain by the
	// payer's doing (funds moved away, authorization used or canceled before
	// settlement); the payer is refused until the block expires.
	ReasonPayerBlocked Reason = "payer_blocked"
	// ReasonAmountBelowMinimum: the facilitator pays this payment's gas or
	// fee, and the amount is below the token's minSponsoredAmount.
	ReasonAmountBelowMinimum Reason = "amount_below_minimum"
)

// Error is a rejection with a machine reason and a sentence for people.
// Err, when set, is the underlying cause and is reachable with errors.Unwrap.
type Error struct {
	Reason  Reason
	Message string
	Err     error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Reason, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Reason, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with the given reason and a formatted sentence.
func Errorf(reason Reason, format string, args ...any) *Error {
	return &Error{Reason: reason, Message: fmt.Sprintf(format, args...)}
}

// Wrap returns an *Error with the given reason and sentence, caused by err.
func Wrap(reason Reason, err error, message string) *Error {
	return &Error{Reason: reason, Message: message, Err: err}
}

// ReasonOf returns the reason carried by err, or fallback when err carries none.
func ReasonOf(err error, fallback Reason) Reason {
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return fallback
}

// MessageOf returns the human sentence carried by err, or err's text when it carries none.
func MessageOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return err.Error()
}
