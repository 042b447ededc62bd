package demo

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	solanago "github.com/gagliardetto/solana-go"

	"github.com/h402/settlement/pkg/buyer"
	"github.com/h402/settlement/pkg/config"
	"github.com/h402/settlement/pkg/h402"
)

// Kind is one way the demo buyer pays.
type Kind string

// The payload types and dialects the demo buyer pays with.
const (
	// KindEVMH402 is an EIP-3009 authorization in an h402 X-PAYMENT.
	KindEVMH402 Kind = "evm-h402"
	// KindEVMX402 is an EIP-3009 authorization in an x402 v2 PAYMENT-SIGNATURE.
	KindEVMX402 Kind = "evm-x402v2"
	// KindSolanaClientFee is a Solana signTransaction whose fee the buyer
	// pays (h402: x402 always names a fee payer).
	KindSolanaClientFee Kind = "solana-client-fee"
	// KindSolanaFeePayer is a Solana signTransaction co-signed at
	// settlement by the facilitator's fee payer (x402 v2).
	KindSolanaFeePayer Kind = "solana-fee-payer"
)

// AllKinds are every Kind, in the order payments cycle through them.
var AllKinds = []Kind{KindEVMH402, KindEVMX402, KindSolanaClientFee, KindSolanaFeePayer}

// ParseKinds reads a comma-separated list of kinds; "all" or "" is AllKinds.
func ParseKinds(s string) ([]Kind, error) {
	if s == "" || s == "all" {
		return append([]Kind(nil), AllKinds...), nil
	}
	var out []Kind
	for _, p := range strings.Split(s, ",") {
		k := Kind(strings.TrimSpace(p))
		switch k {
		case KindEVMH402, KindEVMX402, KindSolanaClientFee, KindSolanaFeePayer:
			out = append(out, k)
		default:
			return nil, fmt.Errorf("kinds: unknown kind %q (want %s)", p, joinKinds(AllKinds))
		}
	}
	return out, nil
}

func joinKinds(ks []Kind) string {
	s := make([]string, len(ks))
	for i, k := range ks {
		s[i] = string(k)
	}
	return strings.Join(s, ", ")
}

func (k Kind) solana() bool { return k == KindSolanaClientFee || k == KindSolanaFeePayer }

// h402 reports whether the kind pays in the h402 dialect.
func (k Kind) h402() bool { return k == KindEVMH402 || k == KindSolanaClientFee }

// path is the seller route the kind buys.
func (k Kind) path(i int) string {
	switch k {
	case KindSolanaClientFee:
		return fmt.Sprintf("/solana/quote-client-fee/%d", i)
	case KindSolanaFeePayer:
		return fmt.Sprintf("/solana/quote/%d", i)
	}
	return fmt.Sprintf("/evm/report/%d", i)
}

// Config is one demo run.
type Config struct {
	// Facilitator is ingest's API (http://127.0.0.1:8402).
	Facilitator string
	// Ledger is the watcher's admin listener serving /ledger/
	// (http://127.0.0.1:9404); "" leaves batches and gas out.
	Ledger string
	// NATS is the event log's URL for following receipts; "" does not follow them.
	NATS string
	// Networks are the facilitator's networks (its config file): the
	// first EVM network with an eip3009 token and the first Solana
	// network with an SPL token are sold on, through their first RPC URL.
	Networks config.Networks
	// Keys of the buyer: EVM for the EVM kinds, Solana for the Solana kinds.
	EVMKey    *ecdsa.PrivateKey
	SolanaKey solanago.PrivateKey
	// EVMPayTo and SolanaPayTo receive the seller's payments.
	EVMPayTo, SolanaPayTo string
	// Price of every route in token units (default "0.01").
	Price string
	// Payments is how many requests the buyer pays, cycling through Kinds.
	Payments    int
	Concurrency int // requests in flight (default 8)
	Kinds       []Kind
	// Listen is the seller's address (routes and /webhooks); default 127.0.0.1:0.
	Listen string
	// WebhookSecret (whsec_...) verifies deliveries to /webhooks; "" serves
	// no receiver and waits for no deliveries.
	WebhookSecret string
	// Wait bounds the wait for every payment's terminal state, receipt and
	// webhook after the last request (default 3m).
	Wait time.Duration
	// Interval between progress lines (default 1s).
	Interval time.Duration
	// StateDir holds the receipts client's checkpoints (a bbolt file).
	StateDir string
	// Out gets progress and the summary.
	Out io.Writer
	// Links are printed under "where to look", in order.
	Links []string
	// Ready, when set, is called with the seller's base URL once it serves.
	Ready func(url string)
}

func (c *Config) defaults() error {
	if c.Price == "" {
		c.Price = "0.01"
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 8
	}
	if len(c.Kinds) == 0 {
		c.Kinds = append([]Kind(nil), AllKinds...)
	}
	if c.Listen == "" {
		c.Listen = "127.0.0.1:0"
	}
	if c.Wait <= 0 {
		c.Wait = 3 * time.Minute
	}
	if c.Interval <= 0 {
		c.Interval = time.Second
	}
	if c.Out == nil {
		c.Out = io.Discard
	}
	var errs []error
	if c.Facilitator == "" {
		errs = append(errs, errors.New("facilitator: required (ingest's URL)"))
	}
	if c.Payments < 0 {
		errs = append(errs, fmt.Errorf("payments: must not be negative (got %d)", c.Payments))
	}
	for _, k := range c.Kinds {
		if k.solana() && (c.SolanaKey == nil || c.SolanaPayTo == "") {
			errs = append(errs, fmt.Errorf("kinds: %s needs a Solana key and payTo", k))
		}
		if !k.solana() && (c.EVMKey == nil || c.EVMPayTo == "") {
			errs = append(errs, fmt.Errorf("kinds: %s needs an EVM key and payTo", k))
		}
	}
	return errors.Join(errs...)
}

// Result is one paid request.
type Result struct {
	Kind      Kind   `json:"kind"`
	Path      string `json:"path"`
	Status    int    `json:"status"`
	Served    bool   `json:"served"` // 200 with content
	Bytes     int    `json:"bytes"`
	PaymentID string `json:"paymentId,omitempty"`
	Payer     string `json:"payer,omitempty"`
	Error     string `json:"error,omitempty"`
}

// ErrIncomplete is returned by Run when a request was not served or a
// payment did not reach finalized with its receipt and webhook in time.
var ErrIncomplete = errors.New("demo: incomplete")

// Run serves the seller, pays cfg.Payments requests, and follows them
// until each is final with its receipt (and webhook delivery). With
// keepServing it then serves until ctx ends. It returns the summary and
// ErrIncomplete (wrapped, with what is missing) when something is missing.
func Run(ctx context.Context, cfg Config, keepServing bool) (*Summary, error) {
	if err := cfg.defaults(); err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	start := time.Now()
	tr := newTracker(cfg.Kinds)
	shop, err := newShop(ctx, &cfg, tr)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("demo: listen %s: %w", cfg.Listen, err)
	}
	srv := &http.Server{Handler: shop, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	base := "http://" + ln.Addr().String()
	fmt.Fprintf(cfg.Out, "demo: seller on %s (GET /evm/report/*, /solana/quote/*, /solana/quote-client-fee/*; price %s USDC)", base, cfg.Price)
	if cfg.WebhookSecret != "" {
		fmt.Fprintf(cfg.Out, ", webhooks on %s/webhooks", base)
	}
	fmt.Fprintln(cfg.Out)
	if cfg.Ready != nil {
		cfg.Ready(base)
	}

	rctx, stopReceipts := context.WithCancel(ctx)
	defer stopReceipts()
	var bg sync.WaitGroup
	if cfg.NATS != "" {
		stop, err := followReceipts(rctx, &cfg, tr, &bg)
		if err != nil {
			return nil, err
		}
		defer stop()
	}
	pctx, stopProgress := context.WithCancel(ctx)
	bg.Add(1)
	go func() { defer bg.Done(); progress(pctx, &cfg, tr, start) }()

	if err := pay(ctx, &cfg, tr, base); err != nil {
		stopProgress()
		stopReceipts()
		bg.Wait()
		return nil, err
	}
	missing := waitDone(ctx, &cfg, tr)
	stopProgress()
	sum := tr.summary(ctx, &cfg, time.Since(start))
	sum.print(cfg.Out, &cfg)
	if missing != "" {
		fmt.Fprintf(cfg.Out, "demo: INCOMPLETE: %s\n", missing)
	}
	if keepServing && ctx.Err() == nil {
		fmt.Fprintf(cfg.Out, "demo: the seller keeps serving on %s and the pipeline keeps running; Ctrl-C stops everything\n", base)
		<-ctx.Done()
	}
	stopReceipts()
	bg.Wait()
	if missing != "" {
		return sum, fmt.Errorf("%w: %s", ErrIncomplete, missing)
	}
	return sum, nil
}

// budget is what the buyer may spend on token: the price per request,
// and the price times the payments in total.
func budget(token string, price *big.Int, n int) buyer.Budget {
	return buyer.Budget{Token: token, MaxPerRequest: new(big.Int).Set(price),
		MaxTotal: new(big.Int).Mul(price, big.NewInt(int64(n)+1))}
}

// evmNetwork and solanaNetwork pick the networks and tokens sold on.
func evmNetwork(ns config.Networks) (*config.Network, *config.Token, error) {
	for i := range ns {
		if ns[i].Namespace != h402.NamespaceEVM {
			continue
		}
		for j := range ns[i].Tokens {
			if ns[i].Tokens[j].Kind == config.KindEIP3009 {
				return &ns[i], &ns[i].Tokens[j], nil
			}
		}
	}
	return nil, nil, errors.New("demo: the config has no EVM network with an eip3009 token")
}

func solanaNetwork(ns config.Networks) (*config.Network, *config.Token, error) {
	for i := range ns {
		if ns[i].Namespace != h402.NamespaceSolana {
			continue
		}
		for j := range ns[i].Tokens {
			if ns[i].Tokens[j].Kind == config.KindSPL {
				return &ns[i], &ns[i].Tokens[j], nil
			}
		}
	}
	return nil, nil, errors.New("demo: the config has no Solana network with an SPL token")
}
