package h402

import (
	"bytes"
	"encoding/json"
	"errors"
)

// decodeX402V1 decodes the parts of an x402 v1 body and maps them.
func (req *Request) decodeX402V1(payload, requirements json.RawMessage, resolve NetworkResolver) error {
	var body X402V1Request
	body.X402Version = X402V1
	if err := decodeX402Part(requirements, &body.PaymentRequirements, ReasonInvalidPaymentRequirements, "paymentRequirements"); err != nil {
		return err
	}
	r := &body.PaymentRequirements
	req.Network = r.Network
	if err := decodeX402Part(payload, &body.PaymentPayload, ReasonInvalidPayload, "paymentPayload"); err != nil {
		return err
	}
	p := &body.PaymentPayload
	if p.X402Version != X402V1 {
		return Errorf(ReasonInvalidVersion, "paymentPayload x402Version %d does not match the body's x402Version 1", p.X402Version)
	}
	if r.MaxAmountRequired.IsZero() {
		return Errorf(ReasonInvalidPaymentRequirements, "x402 payment requirements have no maxAmountRequired")
	}
	if err := checkX402Common("x402 payment requirements", r.Scheme, r.Asset, r.PayTo, r.MaxTimeoutSeconds); err != nil {
		return err
	}
	ref, err := resolveNetwork(resolve, r.Network)
	if err != nil {
		return err
	}
	amount := r.MaxAmountRequired
	reqs := &PaymentRequirements{
		Namespace:            ref.Namespace,
		Scheme:               r.Scheme,
		NetworkID:            ref.NetworkID,
		TokenAddress:         r.Asset,
		PayToAddress:         r.PayTo,
		AmountRequired:       &amount,
		AmountRequiredFormat: FormatSmallestUnit,
		Resource:             r.Resource,
		Description:          r.Description,
		MimeType:             r.MimeType,
		OutputSchema:         r.OutputSchema,
		Extra:                r.Extra,
	}
	if err := reqs.Validate(); err != nil {
		return err
	}
	if err := checkScheme("x402 payment payload", p.Scheme); err != nil {
		return err
	}
	if p.Network != r.Network {
		return Errorf(ReasonInvalidNetwork, "payment is on network %q but the requirements ask for %q", clip(p.Network), clip(r.Network))
	}
	pay, err := mapExactPayload(&p.Payload, reqs, r.Resource)
	if err != nil {
		return err
	}
	req.Requirements, req.Payload, req.Header, req.X402V1 = reqs, pay, headerOf(payload), &body
	return nil
}

// decodeX402V2 decodes the parts of an x402 v2 body and maps them.
func (req *Request) decodeX402V2(payload, requirements json.RawMessage, resolve NetworkResolver) error {
	var body X402V2Request
	body.X402Version = X402V2
	if err := decodeX402Part(requirements, &body.PaymentRequirements, ReasonInvalidPaymentRequirements, "paymentRequirements"); err != nil {
		return err
	}
	r := &body.PaymentRequirements
	req.Network = r.Network
	if err := decodeX402Part(payload, &body.PaymentPayload, ReasonInvalidPayload, "paymentPayload"); err != nil {
		return err
	}
	p := &body.PaymentPayload
	if p.X402Version != X402V2 {
		return Errorf(ReasonInvalidVersion, "paymentPayload x402Version %d does not match the body's x402Version 2", p.X402Version)
	}
	if r.Amount.IsZero() {
		return Errorf(ReasonInvalidPaymentRequirements, "x402 payment requirements have no amount")
	}
	if err := checkX402Common("x402 payment requirements", r.Scheme, r.Asset, r.PayTo, r.MaxTimeoutSeconds); err != nil {
		return err
	}
	ref, err := resolveNetwork(resolve, r.Network)
	if err != nil {
		return err
	}
	amount := r.Amount
	reqs := &PaymentRequirements{
		Namespace:            ref.Namespace,
		Scheme:               r.Scheme,
		NetworkID:            ref.NetworkID,
		TokenAddress:         r.Asset,
		PayToAddress:         r.PayTo,
		AmountRequired:       &amount,
		AmountRequiredFormat: FormatSmallestUnit,
		Extra:                r.Extra,
	}
	if p.Resource != nil {
		reqs.Resource, reqs.Description, reqs.MimeType = p.Resource.URL, p.Resource.Description, p.Resource.MimeType
	}
	if err := reqs.Validate(); err != nil {
		return err
	}
	if err := checkAccepted(&p.Accepted, r, ref.Namespace); err != nil {
		return err
	}
	pay, err := mapExactPayload(&p.Payload, reqs, reqs.Resource)
	if err != nil {
		return err
	}
	req.Requirements, req.Payload, req.Header, req.X402V2 = reqs, pay, headerOf(payload), &body
	return nil
}

// decodeX402Part decodes one object of an x402 body into v.
func decodeX402Part(raw json.RawMessage, v any, reason Reason, what string) error {
	if !present(raw) {
		return Errorf(reason, "x402 request body has no %s", what)
	}
	if t := bytes.TrimSpace(raw); t[0] != '{' {
		return Errorf(reason, "x402 %s is not a JSON object", what)
	}
	return unmarshalAs(raw, v, reason, "x402 "+what)
}

func checkX402Common(what, scheme, asset, payTo string, maxTimeout int) error {
	if err := checkScheme(what, scheme); err != nil {
		return err
	}
	switch {
	case asset == "":
		return Errorf(ReasonInvalidPaymentRequirements, "%s have no asset", what)
	case payTo == "":
		return Errorf(ReasonInvalidPaymentRequirements, "%s have no payTo", what)
	case maxTimeout < 0:
		return Errorf(ReasonInvalidPaymentRequirements, "%s have a negative maxTimeoutSeconds %d", what, maxTimeout)
	}
	return nil
}

func resolveNetwork(resolve NetworkResolver, network string) (NetworkRef, error) {
	ref, err := resolve(network)
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			return ref, e
		}
		return ref, Wrap(ReasonInvalidNetwork, err, "network "+clip(network)+" cannot be resolved")
	}
	return ref, nil
}

// checkAccepted makes sure the requirements the v2 client says it accepted
// are the ones the resource server sent.
func checkAccepted(a, r *X402V2Requirements, ns Namespace) error {
	if a.Scheme != r.Scheme {
		return Errorf(ReasonInvalidScheme, "payment accepted scheme %q but the requirements ask for %q", clip(a.Scheme), clip(r.Scheme))
	}
	if a.Network != r.Network {
		return Errorf(ReasonInvalidNetwork, "payment accepted network %q but the requirements ask for %q", clip(a.Network), clip(r.Network))
	}
	if !sameAddress(ns, a.Asset, r.Asset) {
		return Errorf(ReasonInvalidPayload, "payment accepted asset %q but the requirements ask for %q", clip(a.Asset), clip(r.Asset))
	}
	if !sameAddress(ns, a.PayTo, r.PayTo) {
		return Errorf(ReasonInvalidPayload, "payment accepted payTo %q but the requirements ask for %q", clip(a.PayTo), clip(r.PayTo))
	}
	av, err := a.Amount.Uint()
	if err != nil {
		return err
	}
	rv, err := r.Amount.Uint()
	if err != nil {
		return err
	}
	if av.Cmp(rv) != 0 {
		return Errorf(ReasonInvalidPayload, "payment accepted amount %s but the requirements ask for %s", av, rv)
	}
	return nil
}

// mapExactPayload turns an x402 exact payload into the h402 payload variant
// of the requirements' namespace.
func mapExactPayload(x *X402ExactPayload, reqs *PaymentRequirements, resource string) (*PaymentPayload, error) {
	p := &PaymentPayload{
		H402Version: Version,
		Scheme:      reqs.Scheme,
		Namespace:   reqs.Namespace,
		NetworkID:   reqs.NetworkID,
		Resource:    resource,
	}
	switch reqs.Namespace {
	case NamespaceEVM:
		if x.Transaction != "" {
			return nil, Errorf(ReasonInvalidPayload, "x402 EVM payload carries a Solana transaction")
		}
		if x.Authorization == nil {
			return nil, Errorf(ReasonUnsupportedPayloadType, "x402 EVM payload has no EIP-3009 authorization (the only x402 EVM payload supported)")
		}
		extra, err := reqs.ParsedExtra()
		if err != nil {
			return nil, err
		}
		a := x.Authorization
		p.Payload = &EVMAuthorizationPayload{
			Type:      TypeAuthorization,
			Signature: x.Signature,
			Authorization: EVMAuthorization{
				From: a.From, To: a.To, Value: a.Value,
				ValidAfter: a.ValidAfter, ValidBefore: a.ValidBefore,
				Nonce: a.Nonce, Version: extra.Version,
			},
		}
	case NamespaceSolana:
		if x.Authorization != nil || x.Signature != "" {
			return nil, Errorf(ReasonInvalidPayload, "x402 Solana payload carries EVM fields")
		}
		if x.Transaction == "" {
			return nil, Errorf(ReasonInvalidPayload, "x402 Solana payload has no transaction")
		}
		p.Payload = &SolanaSignTransactionPayload{Type: TypeSignTransaction, Transaction: x.Transaction}
	default:
		return nil, Errorf(ReasonInvalidNetwork, "namespace %q is not supported", clip(string(reqs.Namespace)))
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return p, nil
}
