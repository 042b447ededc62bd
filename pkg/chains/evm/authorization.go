package evm

import (
	"math"
	"math/big"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/h402/settlement/pkg/chains"
	"github.com/h402/settlement/pkg/config"
	"github.com/h402/settlement/pkg/h402"
)

// verifyAuthorization checks an EIP-3009 authorization: token kind, recipient,
// exact value, validity window, nonce, domain and signature.
func (v *Verifier) verifyAuthorization(q *request, p *h402.EVMAuthorizationPayload) (*chains.Payment, error) {
	if q.Token.Kind != config.KindEIP3009 {
		return nil, h402.Errorf(h402.ReasonTokenNotSupported, "token %s is of kind %s; authorization payloads need an EIP-3009 token", addrHex(q.token), q.Token.Kind)
	}
	a := &p.Authorization
	from, err := parseAddress("authorization.from", a.From)
	if err != nil {
		return nil, err
	}
	to, err := parseAddress("authorization.to", a.To)
	if err != nil {
		return nil, err
	}
	if to != q.payTo {
		return nil, h402.Errorf(h402.ReasonEVMRecipientMismatch, "authorization pays %s but the requirements pay %s", addrHex(to), addrHex(q.payTo))
	}

	value, err := a.Value.Uint()
	if err != nil {
		return nil, h402.Wrap(h402.ReasonEVMValue, err, "authorization.value is not a whole number of smallest units")
	}
	switch c := value.Cmp(q.Amount); {
	case c < 0:
		return nil, h402.Errorf(h402.ReasonEVMValue, "authorization value %s is less than the required %s", value, q.Amount)
	case c > 0 && !q.Policy.AllowOverpay:
		return nil, h402.Errorf(h402.ReasonEVMValue, "authorization value %s is not the required %s (overpayment is not accepted)", value, q.Amount)
	}

	validAfter, err := a.ValidAfter.Uint()
	if err != nil {
		return nil, h402.Wrap(h402.ReasonEVMValidAfter, err, "authorization.validAfter is not a whole number of seconds")
	}
	validBefore, err := a.ValidBefore.Uint()
	if err != nil {
		return nil, h402.Wrap(h402.ReasonEVMValidBefore, err, "authorization.validBefore is not a whole number of seconds")
	}
	after, before := saturate(validAfter), saturate(validBefore)
	now := q.Now.Unix()
	if after > now {
		return nil, h402.Errorf(h402.ReasonEVMValidAfter, "authorization is not valid before %d, %d s from now", after, after-now)
	}
	margin := max(time.Duration(q.Policy.MinValidBeforeMargin), 0)
	if need := ceilUnix(q.Now.Add(margin)); before < need {
		return nil, h402.Errorf(h402.ReasonEVMValidBefore, "authorization expires at %d, less than %s from now (%d)", before, margin, now)
	}
	maxValidity := time.Duration(q.Policy.MaxValidity)
	if maxValidity <= 0 {
		maxValidity = time.Duration(config.DefaultVerify().MaxValidity)
	}
	// The limit is on how long the authorization stays usable from now
	// (PROTOCOL.md §5), never on validBefore-validAfter: real x402 clients
	// always sign validAfter 0. before > now here, so the remainder is positive.
	if remaining := uint64(before) - uint64(now); remaining > uint64(maxValidity/time.Second) {
		return nil, h402.Errorf(h402.ReasonValidityTooLong, "authorization stays valid for %d s from now, longer than the %s allowed", remaining, maxValidity)
	}

	nonce, err := parseNonce(a.Nonce)
	if err != nil {
		return nil, err
	}
	domain, err := v.domainOf(q, a.Version)
	if err != nil {
		return nil, err
	}
	sig, err := parseSignature("signature", p.Signature, h402.ReasonEVMSignature)
	if err != nil {
		return nil, err
	}
	msg := Authorization{From: from, To: to, Value: value, ValidAfter: validAfter, ValidBefore: validBefore, Nonce: nonce}
	digest := msg.Digest(domain)
	signer, err := recoverAddress(digest[:], &sig)
	if err != nil {
		return nil, h402.Wrap(h402.ReasonEVMSignature, err, "authorization signature does not recover a signer")
	}
	if signer != from {
		return nil, h402.Errorf(h402.ReasonEVMSignature, "authorization signature was made by %s, not by authorization.from %s", addrHex(signer), addrHex(from))
	}

	pay := q.payment(AuthorizationKey(q.chainID, q.token, from, nonce), h402.TypeAuthorization, from, value)
	pay.Nonce = lowerHex(nonce[:])
	pay.ValidAfter = time.Unix(after, 0).UTC()
	pay.ValidBefore = time.Unix(before, 0).UTC()
	pay.Settle = true
	return pay, nil
}

// domainOf returns the token's EIP-712 domain separator. Name and version
// come from config; the requirement's extra and the authorization's version,
// when given, must agree with it.
func (v *Verifier) domainOf(q *request, authVersion string) (common.Hash, error) {
	name, version := q.Token.EIP712Name, q.Token.EIP712Version
	if name == "" || version == "" {
		return common.Hash{}, h402.Errorf(h402.ReasonTokenNotSupported, "token %s has no EIP-712 name and version configured", addrHex(q.token))
	}
	extra, err := q.Requirements.ParsedExtra()
	if err != nil {
		return common.Hash{}, err
	}
	if extra.Name != "" && extra.Name != name {
		return common.Hash{}, h402.Errorf(h402.ReasonInvalidPaymentRequirements, "extra.name %q is not the token's EIP-712 name %q", clip(extra.Name), name)
	}
	if extra.Version != "" && extra.Version != version {
		return common.Hash{}, h402.Errorf(h402.ReasonInvalidPaymentRequirements, "extra.version %q is not the token's EIP-712 version %q", clip(extra.Version), version)
	}
	if authVersion != "" && authVersion != version {
		return common.Hash{}, h402.Errorf(h402.ReasonEVMSignature, "authorization.version %q is not the token's EIP-712 version %q", clip(authVersion), version)
	}
	d := Domain{Name: name, Version: version, ChainID: q.chainID, VerifyingContract: q.token}
	return v.domains.separator(d, q.Requirements.NetworkID), nil
}

// parseNonce parses an EIP-3009 nonce: 0x and 32 bytes of hex.
func parseNonce(s string) ([32]byte, error) {
	var n [32]byte
	if !decodeFixedHex(n[:], s) {
		return n, h402.Errorf(h402.ReasonInvalidPayload, "authorization.nonce %q is not 0x followed by 32 hex-encoded bytes", clip(s))
	}
	return n, nil
}

// saturate returns x as an int64, or MaxInt64 when it is larger.
func saturate(x *big.Int) int64 {
	if x.IsInt64() {
		return x.Int64()
	}
	return math.MaxInt64
}

// ceilUnix returns t in unix seconds, rounded up.
func ceilUnix(t time.Time) int64 {
	s := t.Unix()
	if t.Nanosecond() > 0 {
		s++
	}
	return s
}
