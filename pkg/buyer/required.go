package buyer

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"strings"

	"github.com/h402/settlement/pkg/h402"
)

// Dialect is the protocol a seller spoke in its 402, which the payment
// answers in.
type Dialect string

// Dialects.
const (
	DialectH402   Dialect = "h402"
	DialectX402V1 Dialect = "x402v1"
	DialectX402V2 Dialect = "x402v2"
)

// Header of an x402 v2 402 answer.
const HeaderPaymentRequired = "PAYMENT-REQUIRED"

// MaxPaymentRequiredBytes bounds a 402 body or header the Transport reads.
const MaxPaymentRequiredBytes = 64 << 10

// maxOffers bounds the requirements of one 402 the Transport considers.
const maxOffers = 64

// PaymentRequired is a decoded 402 in any dialect.
type PaymentRequired struct {
	Dialect Dialect
	Error   string  // the seller's text, if any
	Offers  []Offer // in the seller's order
	// Resource and Extensions are the x402 v2 answer's, as sent (echoed in
	// the payment).
	Resource   json.RawMessage
	Extensions json.RawMessage
}

// Offer is one payment requirement of a 402, in dialect-neutral terms.
type Offer struct {
	Dialect   Dialect
	Index     int // position in accepts
	Scheme    string
	Namespace h402.Namespace
	// NetworkID is the h402 networkId (EVM chain id; Solana cluster name,
	// or the CAIP-2 id of a cluster this package does not know).
	NetworkID string
	// Network is the network as the seller wrote it: the h402 form
	// "<namespace>:<networkId>", an x402 v1 name or a CAIP-2 id.
	Network  string
	Token    string   // token contract or mint
	PayTo    string   // recipient
	Amount   *big.Int // smallest units; nil when it needs decimals the offer does not give
	Resource string
	// MaxTimeoutSeconds (x402) or estimatedProcessingTime (h402), 0 if absent.
	MaxTimeoutSeconds int
	Extra             json.RawMessage

	// Problem says why the offer cannot be paid at all (an entry that does
	// not decode, an unknown network, a bad amount); nil otherwise. One bad
	// offer does not spoil the others.
	Problem error

	h402 *h402.PaymentRequirements // DialectH402
	raw  json.RawMessage           // the entry as sent (x402 v2 echoes it)
}

// Names are the names the offer's network goes by, any of which a Policy
// may list: the seller's, "<namespace>:<networkId>", the CAIP-2 id and the
// x402 v1 name where they exist.
func (o *Offer) Names() []string {
	ref := h402.NetworkRef{Namespace: o.Namespace, NetworkID: o.NetworkID}
	names := []string{o.Network, string(o.Namespace) + ":" + o.NetworkID}
	if c := h402.CAIP2(ref); c != "" {
		names = append(names, c)
	}
	if v1 := h402.V1NetworkName(ref); v1 != "" {
		names = append(names, v1)
	}
	return names
}

// ReadPaymentRequired decodes a 402 answer: the PAYMENT-REQUIRED header
// when present (x402 v2), else the body (x402 v1 or h402). Every error
// wraps ErrBadPaymentRequired.
func ReadPaymentRequired(header http.Header, body []byte) (*PaymentRequired, error) {
	if v := header.Get(HeaderPaymentRequired); v != "" {
		return DecodePaymentRequiredHeader(v)
	}
	return DecodePaymentRequiredBody(body)
}

// DecodePaymentRequiredHeader decodes an x402 v2 PAYMENT-REQUIRED header.
func DecodePaymentRequiredHeader(v string) (*PaymentRequired, error) {
	if len(v) > MaxPaymentRequiredBytes {
		return nil, fmt.Errorf("%w: PAYMENT-REQUIRED is %d bytes, more than %d", ErrBadPaymentRequired, len(v), MaxPaymentRequiredBytes)
	}
	b, err := h402.DecodeBase64(v)
	if err != nil {
		return nil, fmt.Errorf("%w: PAYMENT-REQUIRED is not base64: %w", ErrBadPaymentRequired, err)
	}
	var m struct {
		X402Version int               `json:"x402Version"`
		Error       string            `json:"error"`
		Resource    json.RawMessage   `json:"resource"`
		Accepts     []json.RawMessage `json:"accepts"`
		Extensions  json.RawMessage   `json:"extensions"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%w: PAYMENT-REQUIRED is not a JSON object: %w", ErrBadPaymentRequired, err)
	}
	if m.X402Version != h402.X402V2 {
		return nil, fmt.Errorf("%w: PAYMENT-REQUIRED has x402Version %d, want 2", ErrBadPaymentRequired, m.X402Version)
	}
	pr := &PaymentRequired{Dialect: DialectX402V2, Error: m.Error, Resource: m.Resource, Extensions: m.Extensions}
	var res h402.X402Resource
	if len(m.Resource) > 0 && string(m.Resource) != "null" {
		if err := json.Unmarshal(m.Resource, &res); err != nil {
			return nil, fmt.Errorf("%w: resource is not an object: %w", ErrBadPaymentRequired, err)
		}
	}
	if err := checkAccepts(len(m.Accepts)); err != nil {
		return nil, err
	}
	for i, raw := range m.Accepts {
		var r h402.X402V2Requirements
		if err := json.Unmarshal(raw, &r); err != nil {
			pr.Offers = append(pr.Offers, Offer{Dialect: DialectX402V2, Index: i, raw: raw, Problem: err})
			continue
		}
		o := Offer{
			Dialect: DialectX402V2, Index: i, Scheme: r.Scheme, Network: r.Network,
			Token: r.Asset, PayTo: r.PayTo, Resource: res.URL, MaxTimeoutSeconds: r.MaxTimeoutSeconds,
			Extra: r.Extra, raw: raw,
		}
		o.Problem = o.setNetwork(r.Network)
		if o.Problem == nil {
			if o.Amount, err = smallest(r.Amount); err != nil {
				o.Problem = fmt.Errorf("amount: %w", err)
			}
		}
		pr.Offers = append(pr.Offers, o)
	}
	return pr, nil
}

// DecodePaymentRequiredBody decodes a 402 body: x402 v1 or h402.
func DecodePaymentRequiredBody(body []byte) (*PaymentRequired, error) {
	if len(body) > MaxPaymentRequiredBytes {
		return nil, fmt.Errorf("%w: the 402 body is %d bytes, more than %d", ErrBadPaymentRequired, len(body), MaxPaymentRequiredBytes)
	}
	if t := bytes.TrimSpace(body); len(t) == 0 || t[0] != '{' {
		return nil, fmt.Errorf("%w: the 402 body is not a JSON object and there is no PAYMENT-REQUIRED header", ErrBadPaymentRequired)
	}
	var head struct {
		X402Version *int              `json:"x402Version"`
		H402Version *int              `json:"h402Version"`
		Error       string            `json:"error"`
		Accepts     []json.RawMessage `json:"accepts"`
	}
	if err := json.Unmarshal(body, &head); err != nil {
		return nil, fmt.Errorf("%w: the 402 body: %w", ErrBadPaymentRequired, err)
	}
	if err := checkAccepts(len(head.Accepts)); err != nil {
		return nil, err
	}
	switch {
	case head.X402Version != nil:
		if *head.X402Version != h402.X402V1 {
			return nil, fmt.Errorf("%w: the 402 body has x402Version %d; version 2 answers in the PAYMENT-REQUIRED header", ErrBadPaymentRequired, *head.X402Version)
		}
		pr := &PaymentRequired{Dialect: DialectX402V1, Error: head.Error}
		for i, raw := range head.Accepts {
			var r h402.X402V1Requirements
			if err := json.Unmarshal(raw, &r); err != nil {
				pr.Offers = append(pr.Offers, Offer{Dialect: DialectX402V1, Index: i, raw: raw, Problem: err})
				continue
			}
			o := Offer{
				Dialect: DialectX402V1, Index: i, Scheme: r.Scheme, Network: r.Network,
				Token: r.Asset, PayTo: r.PayTo, Resource: r.Resource, MaxTimeoutSeconds: r.MaxTimeoutSeconds,
				Extra: r.Extra, raw: raw,
			}
			o.Problem = o.setNetwork(r.Network)
			if o.Problem == nil {
				var err error
				if o.Amount, err = smallest(r.MaxAmountRequired); err != nil {
					o.Problem = fmt.Errorf("maxAmountRequired: %w", err)
				}
			}
			pr.Offers = append(pr.Offers, o)
		}
		return pr, nil
	case head.H402Version != nil:
		if *head.H402Version != h402.Version {
			return nil, fmt.Errorf("%w: the 402 body has h402Version %d, want 1", ErrBadPaymentRequired, *head.H402Version)
		}
		pr := &PaymentRequired{Dialect: DialectH402, Error: head.Error}
		for i, raw := range head.Accepts {
			r := new(h402.PaymentRequirements)
			if err := json.Unmarshal(raw, r); err != nil {
				pr.Offers = append(pr.Offers, Offer{Dialect: DialectH402, Index: i, raw: raw, Problem: err})
				continue
			}
			o := Offer{
				Dialect: DialectH402, Index: i, Scheme: r.Scheme, Namespace: r.Namespace, NetworkID: r.NetworkID,
				Network: string(r.Namespace) + ":" + r.NetworkID, Token: r.TokenAddress, PayTo: r.PayToAddress,
				Resource: r.Resource, Extra: r.Extra, h402: r, raw: raw,
			}
			if r.EstimatedProcessingTime != nil {
				o.MaxTimeoutSeconds = *r.EstimatedProcessingTime
			}
			if r.Namespace != h402.NamespaceEVM && r.Namespace != h402.NamespaceSolana {
				o.Problem = fmt.Errorf("namespace %q is neither evm nor solana", clip(string(r.Namespace)))
			}
			// A humanReadable amount without tokenDecimals needs the
			// budget's decimals: Amount stays nil until the choice.
			if r.TokenDecimals != nil || r.AmountRequiredFormat == h402.FormatSmallestUnit || r.MaxAmountRequired != nil {
				if a, err := r.Amount(0); err == nil {
					o.Amount = a
				} else if r.TokenDecimals != nil || r.MaxAmountRequired != nil {
					o.Problem = fmt.Errorf("amount: %w", err)
				}
			}
			pr.Offers = append(pr.Offers, o)
		}
		return pr, nil
	}
	return nil, fmt.Errorf("%w: the 402 body has neither x402Version nor h402Version", ErrBadPaymentRequired)
}

func checkAccepts(n int) error {
	if n == 0 {
		return fmt.Errorf("%w: accepts is empty", ErrBadPaymentRequired)
	}
	if n > maxOffers {
		return fmt.Errorf("%w: %d requirements offered, more than %d", ErrBadPaymentRequired, n, maxOffers)
	}
	return nil
}

// setNetwork resolves an x402 network (v1 name or CAIP-2 id).
func (o *Offer) setNetwork(network string) error {
	if ref, err := h402.DefaultNetworkResolver(network); err == nil {
		o.Namespace, o.NetworkID = ref.Namespace, ref.NetworkID
		return nil
	}
	// A Solana cluster this package does not know (a localnet's genesis
	// hash): signing needs only the configured RPC, so keep the id.
	if strings.HasPrefix(network, "solana:") && len(network) > len("solana:") {
		o.Namespace, o.NetworkID = h402.NamespaceSolana, network
		return nil
	}
	return fmt.Errorf("network %q is neither an x402 v1 name nor eip155:<chain id> nor solana:<genesis>", clip(network))
}

// smallest parses an amount in smallest units.
func smallest(d h402.Decimal) (*big.Int, error) {
	if d.IsZero() {
		return nil, fmt.Errorf("amount is missing")
	}
	v, err := d.Uint()
	if err != nil {
		return nil, err
	}
	if v.Sign() == 0 {
		return nil, fmt.Errorf("amount is zero")
	}
	return v, nil
}

func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}
