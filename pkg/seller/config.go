package seller

import (
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/h402/settlement/pkg/h402"
)

// Mode says how far a payment must get before the handler's answer is written.
type Mode string

// Modes.
const (
	// ModeAccepted writes the answer once the facilitator accepted the
	// payment (durable in its event log; it settles asynchronously).
	ModeAccepted Mode = "accepted"
	// ModeSubmitted waits until the payment's transaction is sent.
	ModeSubmitted Mode = "submitted"
	// ModeFinalized waits until the payment is final on chain.
	ModeFinalized Mode = "finalized"
)

// Config configures a Middleware. Zero values take the documented defaults.
type Config struct {
	// FacilitatorURL is the facilitator's base URL (ingest's API), e.g.
	// http://127.0.0.1:8402.
	FacilitatorURL string
	// APIKey, when set, is sent as X-API-Key on /verify, /settle and
	// /payments (ingest.apiKeys). It never appears in logs or errors.
	APIKey string
	// Client makes the facilitator calls (default: a client with a 30 s timeout).
	Client *http.Client
	// Routes are matched in order; the first match prices the request and
	// unmatched requests pass through unpaid.
	Routes []Route
	// Mode is accepted (default), submitted or finalized.
	Mode Mode
	// WaitTimeout bounds the wait of the submitted and finalized modes
	// (default 2 min). Past it the request is answered 504 with the payment's
	// id and the content is not written (the payment still settles).
	WaitTimeout time.Duration
	// PollInterval is the first delay between looks at the payment's state
	// in those modes (default 100 ms); it doubles up to 2 s.
	PollInterval time.Duration
	// SettleOnHandlerError settles even when the handler answers a status
	// of 400 or more. By default such an answer is passed through unsettled,
	// and the buyer keeps its payment for another request.
	SettleOnHandlerError bool
	// MaxRequestBytes bounds the body of a priced request (default 1 MiB).
	MaxRequestBytes int64
	// MaxResponseBytes bounds the handler's buffered answer (default 8 MiB);
	// a larger answer is a 500 and is not settled.
	MaxResponseBytes int64
	// BaseURL is this server's public scheme://host, used to write the
	// resource URL of the offers (default: http(s)://Host of the request).
	BaseURL string
	// Registry, when set, gets the middleware's metrics.
	Registry prometheus.Registerer
	// Logger logs facilitator trouble (default: discard).
	Logger *slog.Logger
	// OnPaid, when set, is called after a payment is settled (and waited
	// for, per Mode), before the answer is written: the place to record the
	// payment id and transaction.
	OnPaid func(r *http.Request, p *Payment)
}

// Route prices the requests its pattern matches.
type Route struct {
	// Pattern is "[METHOD ]PATH": "GET /reports/*", "/files/**". A
	// method, when given, must equal the request's (GET also matches HEAD,
	// which net/http routes to GET handlers). In the path, * and ?
	// and [...] match within one segment (path.Match); a final /** matches
	// any rest, including nested segments and nothing.
	Pattern string
	// Description and MimeType describe the resource in the offers.
	Description string
	MimeType    string
	// Offers are the payments this route accepts, in order of preference.
	Offers []Offer
}

// Offer is one payment a route accepts.
type Offer struct {
	// Namespace and NetworkID name the network the h402 way ("evm"/"8453",
	// "solana"/"mainnet").
	Namespace h402.Namespace
	NetworkID string
	// X402Network is the x402 v1 network name (default: the fixed v1
	// table; "" when v1 has no name for the network and v1 clients cannot
	// be offered it). CAIP2 is the x402 v2 network (default:
	// eip155:<chain id>, or the public Solana clusters' ids; a Solana
	// localnet needs it set).
	X402Network string
	CAIP2       string
	Token       Token
	// PayTo is the seller's address.
	PayTo string
	// Price is the price in token units ("0.01"); Amount is the price in
	// smallest units ("10000"). Exactly one is set; neither is ever parsed
	// through a float.
	Price  string
	Amount string
	// MaxTimeoutSeconds is how long the payment's authorization may be
	// valid, and h402's estimatedProcessingTime (default 60).
	MaxTimeoutSeconds int
	// FeePayer is the facilitator's Solana fee payer (extra.feePayer):
	// set it to let x402 Solana clients pay without SOL for fees.
	FeePayer string
}

// Token describes the asset an offer is paid in.
type Token struct {
	Address  string
	Decimals int
	Symbol   string
	// EIP712Name and EIP712Version are the token's EIP-712 domain (EVM),
	// written to extra.name and extra.version.
	EIP712Name    string
	EIP712Version string
}

// Defaults.
const (
	DefaultWaitTimeout       = 2 * time.Minute
	DefaultPollInterval      = 100 * time.Millisecond
	DefaultMaxRequestBytes   = 1 << 20
	DefaultMaxResponseBytes  = 8 << 20
	DefaultMaxTimeoutSeconds = 60
	maxPollInterval          = 2 * time.Second
)

func (c *Config) setDefaults() {
	if c.Mode == "" {
		c.Mode = ModeAccepted
	}
	if c.WaitTimeout == 0 {
		c.WaitTimeout = DefaultWaitTimeout
	}
	if c.PollInterval == 0 {
		c.PollInterval = DefaultPollInterval
	}
	if c.MaxRequestBytes == 0 {
		c.MaxRequestBytes = DefaultMaxRequestBytes
	}
	if c.MaxResponseBytes == 0 {
		c.MaxResponseBytes = DefaultMaxResponseBytes
	}
	if c.Client == nil {
		c.Client = &http.Client{Timeout: 30 * time.Second}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	c.FacilitatorURL = strings.TrimRight(c.FacilitatorURL, "/")
	c.BaseURL = strings.TrimRight(c.BaseURL, "/")
}

// offer is an Offer checked and converted: its amount in smallest units and
// its h402 requirements without the per-request resource.
type offer struct {
	Offer
	amount *big.Int
	req    h402.PaymentRequirements
}

// route is a Route compiled.
type route struct {
	Route
	method string
	path   string
	offers []*offer
}

// compile checks c and compiles its routes. Errors name the field, the
// problem and the value: "routes[0].offers[1].price: ... (got "0.0000001")".
func (c *Config) compile() ([]*route, error) {
	var errs []error
	bad := func(field, problem string, got any) {
		errs = append(errs, fmt.Errorf("%s: %s (got %v)", field, problem, got))
	}
	if u, err := url.Parse(c.FacilitatorURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		bad("facilitatorURL", "must be an http(s) URL", fmt.Sprintf("%q", c.FacilitatorURL))
	}
	switch c.Mode {
	case ModeAccepted, ModeSubmitted, ModeFinalized:
	default:
		bad("mode", "must be accepted, submitted or finalized", fmt.Sprintf("%q", c.Mode))
	}
	if c.WaitTimeout < 0 || c.PollInterval < 0 || c.MaxRequestBytes < 0 || c.MaxResponseBytes < 0 {
		bad("waitTimeout/pollInterval/maxRequestBytes/maxResponseBytes", "must not be negative", "a negative value")
	}
	if c.BaseURL != "" {
		if u, err := url.Parse(c.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("baseURL", "must be an http(s) URL", fmt.Sprintf("%q", c.BaseURL))
		}
	}
	var routes []*route
	for i, r := range c.Routes {
		field := fmt.Sprintf("routes[%d]", i)
		rt := &route{Route: r}
		var err error
		if rt.method, rt.path, err = parsePattern(r.Pattern); err != nil {
			bad(field+".pattern", err.Error(), fmt.Sprintf("%q", r.Pattern))
		}
		if len(r.Offers) == 0 {
			bad(field+".offers", "a priced route needs at least one offer", 0)
		}
		for j, o := range r.Offers {
			of, err := compileOffer(o)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s.offers[%d].%w", field, j, err))
				continue
			}
			rt.offers = append(rt.offers, of)
		}
		routes = append(routes, rt)
	}
	return routes, errors.Join(errs...)
}

func compileOffer(o Offer) (*offer, error) {
	if o.MaxTimeoutSeconds == 0 {
		o.MaxTimeoutSeconds = DefaultMaxTimeoutSeconds
	}
	ref := h402.NetworkRef{Namespace: o.Namespace, NetworkID: o.NetworkID}
	if o.X402Network == "" {
		o.X402Network = h402.V1NetworkName(ref)
	}
	if o.CAIP2 == "" {
		o.CAIP2 = h402.CAIP2(ref)
	}
	switch {
	case o.Namespace != h402.NamespaceEVM && o.Namespace != h402.NamespaceSolana:
		return nil, fmt.Errorf("namespace: must be evm or solana (got %q)", o.Namespace)
	case o.NetworkID == "":
		return nil, fmt.Errorf("networkId: is required (got %q)", o.NetworkID)
	case o.Token.Address == "":
		return nil, fmt.Errorf("token.address: is required (got %q)", o.Token.Address)
	case o.Token.Decimals < 0 || o.Token.Decimals > 36:
		return nil, fmt.Errorf("token.decimals: must be 0..36 (got %d)", o.Token.Decimals)
	case o.PayTo == "":
		return nil, fmt.Errorf("payTo: is required (got %q)", o.PayTo)
	case (o.Price == "") == (o.Amount == ""):
		return nil, fmt.Errorf("price: set exactly one of price (token units) and amount (smallest units) (got price %q, amount %q)", o.Price, o.Amount)
	case o.MaxTimeoutSeconds < 0:
		return nil, fmt.Errorf("maxTimeoutSeconds: must be positive (got %d)", o.MaxTimeoutSeconds)
	case o.CAIP2 == "" && o.X402Network == "" && o.Namespace == h402.NamespaceSolana && o.NetworkID != "localnet":
		return nil, fmt.Errorf("caip2: unknown for solana network %q; set it (got %q)", o.NetworkID, o.CAIP2)
	}
	var (
		amount *big.Int
		err    error
	)
	if o.Price != "" {
		amount, err = h402.Decimal{Text: o.Price, Quoted: true}.Units(h402.FormatHumanReadable, o.Token.Decimals)
		if err != nil {
			return nil, fmt.Errorf("price: %s (got %q)", h402.MessageOf(err), o.Price)
		}
	} else if amount, err = (h402.Decimal{Text: o.Amount, Quoted: true}).Units(h402.FormatSmallestUnit, 0); err != nil {
		return nil, fmt.Errorf("amount: %s (got %q)", h402.MessageOf(err), o.Amount)
	}
	if amount.Sign() == 0 {
		return nil, fmt.Errorf("price: must be more than zero (got %q)", o.Price+o.Amount)
	}
	extra := h402.Extra{Name: o.Token.EIP712Name, Version: o.Token.EIP712Version, FeePayer: o.FeePayer}
	var extraJSON []byte
	if extra != (h402.Extra{}) {
		extraJSON, _ = jsonMarshal(extra)
	}
	d := h402.NewDecimal(amount)
	decimals, lifetime := o.Token.Decimals, o.MaxTimeoutSeconds
	req := h402.PaymentRequirements{
		Namespace: o.Namespace, Scheme: h402.SchemeExact, NetworkID: o.NetworkID,
		TokenAddress: o.Token.Address, PayToAddress: o.PayTo,
		AmountRequired: &d, AmountRequiredFormat: h402.FormatSmallestUnit,
		TokenDecimals: &decimals, TokenSymbol: o.Token.Symbol,
		EstimatedProcessingTime: &lifetime, Extra: extraJSON,
	}
	if err := req.Validate(); err != nil {
		return nil, fmt.Errorf("requirements: %s", h402.MessageOf(err))
	}
	return &offer{Offer: o, amount: amount, req: req}, nil
}
