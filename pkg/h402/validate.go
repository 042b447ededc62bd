package h402

import (
	"bytes"
	"encoding/json"
	"errors"
	"math/big"
	"strconv"
	"strings"
)

// MaxRequirementsLen bounds the JSON of one PaymentRequirements or of a 402 body.
const MaxRequirementsLen = 32 << 10

// checkScheme returns invalid_scheme for an empty scheme and
// unsupported_scheme for any scheme other than "exact".
func checkScheme(what, scheme string) error {
	switch scheme {
	case SchemeExact:
		return nil
	case "":
		return Errorf(ReasonInvalidScheme, "%s has no scheme", what)
	default:
		return Errorf(ReasonUnsupportedScheme, "%s scheme %q is not supported (only %q)", what, clip(scheme), SchemeExact)
	}
}

func checkNamespace(what string, ns Namespace) error {
	switch ns {
	case NamespaceEVM, NamespaceSolana:
		return nil
	case "":
		return Errorf(ReasonInvalidNetwork, "%s has no namespace", what)
	default:
		return Errorf(ReasonInvalidNetwork, "%s namespace %q is not supported (want evm or solana)", what, clip(string(ns)))
	}
}

// Validate checks r structurally, without configuration: namespace, scheme,
// networkId, tokenAddress and payToAddress are present and known, the amount
// is present, well formed, non-zero and within 2^256-1 smallest units, and
// extra, when present, is an object this facilitator can read.
func (r *PaymentRequirements) Validate() error {
	const what = "payment requirements"
	if err := checkNamespace(what, r.Namespace); err != nil {
		return err
	}
	if err := checkScheme(what, r.Scheme); err != nil {
		return err
	}
	if r.NetworkID == "" {
		return Errorf(ReasonInvalidNetwork, "payment requirements have no networkId")
	}
	if r.TokenAddress == "" {
		return Errorf(ReasonInvalidPaymentRequirements, "payment requirements have no tokenAddress")
	}
	if r.PayToAddress == "" {
		return Errorf(ReasonInvalidPaymentRequirements, "payment requirements have no payToAddress")
	}
	if r.TokenDecimals != nil && (*r.TokenDecimals < 0 || *r.TokenDecimals > 36) {
		return Errorf(ReasonInvalidPaymentRequirements, "tokenDecimals %d out of range 0..36", *r.TokenDecimals)
	}
	if r.EstimatedProcessingTime != nil && *r.EstimatedProcessingTime < 0 {
		return Errorf(ReasonInvalidPaymentRequirements, "estimatedProcessingTime %d is negative", *r.EstimatedProcessingTime)
	}
	switch r.AmountRequiredFormat {
	case "", FormatHumanReadable, FormatSmallestUnit:
	default:
		return Errorf(ReasonInvalidPaymentRequirements, "amountRequiredFormat %q is neither humanReadable nor smallestUnit", clip(string(r.AmountRequiredFormat)))
	}
	if err := r.checkAmounts(); err != nil {
		return err
	}
	if len(r.Extra) > 0 && !isJSONNull(r.Extra) {
		if t := bytes.TrimSpace(r.Extra); t[0] != '{' {
			return Errorf(ReasonInvalidPaymentRequirements, "extra is not a JSON object")
		}
		if _, err := r.ParsedExtra(); err != nil {
			return err
		}
	}
	return nil
}

// checkAmounts makes sure every amount present is exact and in range. A
// humanReadable amount without tokenDecimals can only be checked on its
// whole part; Amount finishes the job with the configured decimals.
func (r *PaymentRequirements) checkAmounts() error {
	present := false
	if r.MaxAmountRequired != nil && !r.MaxAmountRequired.IsZero() {
		present = true
		if err := checkPositive(r.MaxAmountRequired.Units(FormatSmallestUnit, 0)); err != nil {
			return err
		}
	}
	if r.AmountRequired != nil && !r.AmountRequired.IsZero() {
		present = true
		switch {
		case r.AmountRequiredFormat == FormatSmallestUnit:
			if err := checkPositive(r.AmountRequired.Units(FormatSmallestUnit, 0)); err != nil {
				return err
			}
		case r.TokenDecimals != nil:
			if err := checkPositive(r.AmountRequired.Units(FormatHumanReadable, *r.TokenDecimals)); err != nil {
				return err
			}
		default:
			if err := checkDecimal(r.AmountRequired.Text); err != nil {
				return err
			}
			whole, frac, _ := strings.Cut(r.AmountRequired.Text, ".")
			if len(strings.TrimRight(frac, "0")) > 36 {
				return Errorf(ReasonInvalidAmount, "amount %q has more fraction digits than any token has decimals", r.AmountRequired.Text)
			}
			if _, err := (Decimal{Text: whole}).Uint(); err != nil {
				return err
			}
			if strings.Trim(r.AmountRequired.Text, "0.") == "" {
				return Errorf(ReasonInvalidAmount, "required amount is zero")
			}
		}
	}
	if !present {
		return Errorf(ReasonInvalidPaymentRequirements, "payment requirements carry no amountRequired")
	}
	return nil
}

func checkPositive(v *big.Int, err error) error {
	if err != nil {
		return err
	}
	if v.Sign() == 0 {
		return Errorf(ReasonInvalidAmount, "required amount is zero")
	}
	return nil
}

// Validate checks the envelope and the fields of the payload variant that
// identify the payment: version 1, scheme "exact", a networkId, and the
// variant's signature, transaction or hash. Cryptographic and chain checks
// are the verifiers' job.
func (p *PaymentPayload) Validate() error {
	if p.H402Version != Version {
		return Errorf(ReasonInvalidVersion, "payment payload h402Version %d is not supported (want %d)", p.H402Version, Version)
	}
	const what = "payment payload"
	if err := checkScheme(what, p.Scheme); err != nil {
		return err
	}
	if err := checkNamespace(what, p.Namespace); err != nil {
		return err
	}
	if p.NetworkID == "" {
		return Errorf(ReasonInvalidNetwork, "payment payload has no networkId")
	}
	switch v := p.Payload.(type) {
	case *EVMAuthorizationPayload:
		a := &v.Authorization
		switch {
		case v.Signature == "":
			return Errorf(ReasonInvalidPayload, "authorization payload has no signature")
		case a.From == "" || a.To == "" || a.Nonce == "":
			return Errorf(ReasonInvalidPayload, "authorization lacks from, to or nonce")
		case a.Value.IsZero() || a.ValidAfter.IsZero() || a.ValidBefore.IsZero():
			return Errorf(ReasonInvalidPayload, "authorization lacks value, validAfter or validBefore")
		}
		if _, err := a.Value.Uint(); err != nil {
			return err
		}
		if _, err := a.ValidAfter.Uint(); err != nil {
			return Wrap(ReasonInvalidPayload, err, "authorization validAfter is not a whole number of seconds")
		}
		if _, err := a.ValidBefore.Uint(); err != nil {
			return Wrap(ReasonInvalidPayload, err, "authorization validBefore is not a whole number of seconds")
		}
	case *EVMSignedTransactionPayload:
		if v.SignedTransaction == "" {
			return Errorf(ReasonInvalidPayload, "signedTransaction payload has no signedTransaction")
		}
	case *EVMSignAndSendPayload:
		if v.TransactionHash == "" {
			return Errorf(ReasonInvalidPayload, "signAndSendTransaction payload has no transactionHash")
		}
	case *SolanaSignTransactionPayload:
		if v.Transaction == "" {
			return Errorf(ReasonInvalidPayload, "signTransaction payload has no transaction")
		}
	case *SolanaSignAndSendPayload:
		if v.Signature == "" {
			return Errorf(ReasonInvalidPayload, "signAndSendTransaction payload has no signature")
		}
	case nil:
		return Errorf(ReasonInvalidPayload, "payment payload has no payload object")
	default:
		return Errorf(ReasonUnsupportedPayloadType, "payload type %q is not supported", string(v.PayloadType()))
	}
	return nil
}

// DecodeRequirements decodes and validates the JSON of one PaymentRequirements.
func DecodeRequirements(b []byte) (*PaymentRequirements, error) {
	if len(b) > MaxRequirementsLen {
		return nil, Errorf(ReasonPayloadTooLarge, "payment requirements are %d bytes, more than the %d allowed", len(b), MaxRequirementsLen)
	}
	if err := checkObject(b, ReasonInvalidPaymentRequirements, "payment requirements"); err != nil {
		return nil, err
	}
	r := new(PaymentRequirements)
	if err := unmarshalAs(b, r, ReasonInvalidPaymentRequirements, "payment requirements"); err != nil {
		return nil, err
	}
	if err := r.Validate(); err != nil {
		return nil, err
	}
	return r, nil
}

// DecodePaymentRequired decodes and validates a 402 body.
func DecodePaymentRequired(b []byte) (*PaymentRequired, error) {
	if len(b) > MaxRequirementsLen {
		return nil, Errorf(ReasonPayloadTooLarge, "402 body is %d bytes, more than the %d allowed", len(b), MaxRequirementsLen)
	}
	if err := checkObject(b, ReasonInvalidPaymentRequirements, "402 body"); err != nil {
		return nil, err
	}
	var probe struct {
		H402Version json.RawMessage `json:"h402Version"`
	}
	if err := unmarshalAs(b, &probe, ReasonInvalidPaymentRequirements, "402 body"); err != nil {
		return nil, err
	}
	var version int
	if !present(probe.H402Version) || json.Unmarshal(probe.H402Version, &version) != nil {
		return nil, Errorf(ReasonInvalidVersion, "402 body has no integer h402Version")
	}
	if version != Version {
		return nil, Errorf(ReasonInvalidVersion, "402 body h402Version %d is not supported (want %d)", version, Version)
	}
	pr := new(PaymentRequired)
	if err := unmarshalAs(b, pr, ReasonInvalidPaymentRequirements, "402 body"); err != nil {
		return nil, err
	}
	if len(pr.Accepts) == 0 {
		return nil, Errorf(ReasonInvalidPaymentRequirements, "402 body accepts no payment requirements")
	}
	for i := range pr.Accepts {
		if err := pr.Accepts[i].Validate(); err != nil {
			var e *Error
			if errors.As(err, &e) {
				return nil, &Error{Reason: e.Reason, Message: "accepts[" + strconv.Itoa(i) + "]: " + e.Message, Err: e.Err}
			}
			return nil, err
		}
	}
	return pr, nil
}

// checkObject requires b to hold a JSON object. It looks only at the first
// byte; full validity is left to the json.Unmarshal that follows (unmarshalAs),
// so that the input is scanned once.
func checkObject(b []byte, reason Reason, what string) error {
	t := bytes.TrimSpace(b)
	if len(t) > 0 && t[0] == '{' {
		return nil
	}
	if !json.Valid(b) {
		return Errorf(reason, "%s is not valid JSON", what)
	}
	return Errorf(reason, "%s is not a JSON object", what)
}

// unmarshalAs decodes b into v; an *Error raised inside (an amount, a
// payload variant) passes through, any other failure gets reason.
func unmarshalAs(b []byte, v any, reason Reason, what string) error {
	if err := json.Unmarshal(b, v); err != nil {
		var e *Error
		if errors.As(err, &e) {
			return e
		}
		var syn *json.SyntaxError
		if errors.As(err, &syn) {
			return Wrap(reason, err, what+" is not valid JSON")
		}
		return Wrap(reason, err, what+" fields have the wrong types")
	}
	return nil
}

func isJSONNull(b []byte) bool { return bytes.Equal(bytes.TrimSpace(b), []byte("null")) }
