package verify

import (
	"time"

	"github.com/h402/settlement/pkg/chains"
	"github.com/h402/settlement/pkg/config"
	"github.com/h402/settlement/pkg/h402"
)

// Local verifies payments without chain state.
type Local struct {
	networks config.Networks
	policy   config.Verify
	families map[h402.Namespace]chains.Verifier
}

// New returns a Local verifier for the configured networks with the given
// chain families registered (one per namespace).
func New(cfg *config.Config, families ...chains.Verifier) *Local {
	l := &Local{networks: cfg.Networks, policy: cfg.Verify, families: map[h402.Namespace]chains.Verifier{}}
	for _, f := range families {
		l.families[f.Namespace()] = f
	}
	return l
}

// Prepare runs the common checks and resolves the network, token and the
// exact required amount, returning the request a family verifier takes.
func (l *Local) Prepare(req *h402.PaymentRequirements, p *h402.PaymentPayload, now time.Time) (*chains.Request, error) {
	if req == nil {
		return nil, h402.Errorf(h402.ReasonInvalidPaymentRequirements, "payment requirements are missing")
	}
	if p == nil || p.Payload == nil {
		return nil, h402.Errorf(h402.ReasonInvalidPayload, "payment payload is missing")
	}
	if p.H402Version != h402.Version {
		return nil, h402.Errorf(h402.ReasonInvalidVersion, "h402Version %d is not supported (want %d)", p.H402Version, h402.Version)
	}
	if req.Scheme != h402.SchemeExact {
		return nil, h402.Errorf(h402.ReasonUnsupportedScheme, "payment requirements scheme %q is not supported (want exact)", req.Scheme)
	}
	if p.Scheme != req.Scheme {
		return nil, h402.Errorf(h402.ReasonInvalidScheme, "payment scheme %q does not match the requirement's %q", p.Scheme, req.Scheme)
	}
	if req.Namespace != h402.NamespaceEVM && req.Namespace != h402.NamespaceSolana {
		return nil, h402.Errorf(h402.ReasonInvalidNetwork, "namespace %q is not supported (want evm or solana)", string(req.Namespace))
	}
	if p.Namespace != req.Namespace || p.NetworkID != req.NetworkID {
		return nil, h402.Errorf(h402.ReasonInvalidNetwork, "payment is for %s network %q but the requirement is for %s network %q",
			p.Namespace, p.NetworkID, req.Namespace, req.NetworkID)
	}
	if req.Resource != "" && p.Resource != req.Resource {
		return nil, h402.Errorf(h402.ReasonResourceMismatch, "payment is for resource %q but the requirement is for %q", p.Resource, req.Resource)
	}
	network, err := l.networks.Lookup(req.Namespace, req.NetworkID)
	if err != nil {
		return nil, err
	}
	token, err := network.Token(req.TokenAddress)
	if err != nil {
		return nil, err
	}
	if req.PayToAddress == "" {
		return nil, h402.Errorf(h402.ReasonInvalidPaymentRequirements, "payment requirements have no payToAddress")
	}
	if req.TokenDecimals != nil && *req.TokenDecimals != token.Decimals {
		// A wrong decimals claim scales the amount by powers of ten: refuse it.
		return nil, h402.Errorf(h402.ReasonInvalidPaymentRequirements, "tokenDecimals %d differs from the %s token's %d decimals", *req.TokenDecimals, token.Symbol, token.Decimals)
	}
	amount, err := req.Amount(token.Decimals)
	if err != nil {
		return nil, err
	}
	return &chains.Request{
		Requirements: req,
		Payload:      p,
		Network:      network,
		Token:        token,
		Amount:       amount,
		Policy:       l.policy,
		Now:          now,
	}, nil
}

func (l *Local) family(ns h402.Namespace) (chains.Verifier, error) {
	f, ok := l.families[ns]
	if !ok {
		return nil, h402.Errorf(h402.ReasonInvalidNetwork, "%s payments are not enabled on this facilitator", ns)
	}
	return f, nil
}

// Verify runs the common checks and the family's checks.
func (l *Local) Verify(req *h402.PaymentRequirements, p *h402.PaymentPayload, now time.Time) (*chains.Payment, *chains.Request, error) {
	r, err := l.Prepare(req, p, now)
	if err != nil {
		return nil, nil, err
	}
	f, err := l.family(r.Network.Namespace)
	if err != nil {
		return nil, nil, err
	}
	pay, err := f.Verify(r)
	if err != nil {
		return nil, r, err
	}
	if err := checkSponsoredMinimum(r, pay); err != nil {
		return pay, r, err
	}
	return pay, r, nil
}

// checkSponsoredMinimum refuses a payment whose gas or fee the facilitator
// pays (an EVM EIP-3009 authorization, a Solana transaction with the
// facilitator as fee payer) when it is below the token's minSponsoredAmount.
func checkSponsoredMinimum(r *chains.Request, pay *chains.Payment) error {
	min := r.Token.MinSponsored()
	if min == nil || pay.Amount == nil || pay.Amount.Cmp(min) >= 0 {
		return nil
	}
	sponsored := false
	switch {
	case pay.Namespace == h402.NamespaceEVM && pay.Type == h402.TypeAuthorization:
		sponsored = true
	case pay.Namespace == h402.NamespaceSolana && pay.Type == h402.TypeSignTransaction:
		extra, err := r.Requirements.ParsedExtra()
		sponsored = err == nil && extra.FeePayer != "" && r.Network.IsFeePayer(extra.FeePayer)
	}
	if !sponsored {
		return nil
	}
	return h402.Errorf(h402.ReasonAmountBelowMinimum,
		"this facilitator pays the network fee of this payment and accepts %s payments of at least %s smallest units on %s network %s (got %s)",
		r.Token.Symbol, min, pay.Namespace, pay.NetworkID, pay.Amount)
}

// ReplayKey returns the payment's replay key (PROTOCOL.md §6): one payment,
// one key, whatever its encoding. It checks what the key needs and no more.
func (l *Local) ReplayKey(req *h402.PaymentRequirements, p *h402.PaymentPayload) (string, error) {
	r, err := l.Prepare(req, p, time.Now())
	if err != nil {
		return "", err
	}
	f, err := l.family(r.Network.Namespace)
	if err != nil {
		return "", err
	}
	return f.ReplayKey(r)
}
