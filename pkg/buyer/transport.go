package buyer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"

	"github.com/gagliardetto/solana-go/rpc"

	"github.com/h402/settlement/pkg/h402"
)

// DefaultMaxBodyBytes is how much of a request body without GetBody the
// Transport keeps in memory to send it again with the payment.
const DefaultMaxBodyBytes = 1 << 20

// Config configures a Transport.
type Config struct {
	// Base sends the requests; nil means http.DefaultTransport.
	Base http.RoundTripper
	// EVM and Solana are the buyer's keys; at least one.
	EVM    *EVM
	Solana *Solana
	// Policy says what may be paid.
	Policy Policy
	// MaxBodyBytes bounds the copy of a request body kept for the retry
	// when the request has no GetBody (default DefaultMaxBodyBytes).
	MaxBodyBytes int64
	// OnPayment, when set, is called once for every payment sent, after
	// the seller answered it (or the request failed), from the goroutine
	// of that request: concurrently for concurrent requests. It must not block.
	OnPayment func(*Payment)
}

// Payment is one payment the Transport sent and what came of it.
type Payment struct {
	// Offer is the requirement paid, Amount what it was paid (smallest
	// units) and Payer the paying address or public key.
	Offer  Offer
	Amount *big.Int
	Payer  string
	// Status is the seller's status code answering the paid request (0
	// when the request failed).
	Status int
	// Settlement is the seller's decoded payment response header, nil when
	// it sent none.
	Settlement *Settlement
	// Err is why the payment did not buy the resource: a *RefusedError for
	// a second 402, or the transport's error. Nil when it was served.
	Err error
}

// Transport is an http.RoundTripper that pays 402 answers. It is safe for
// concurrent use.
type Transport struct {
	base    http.RoundTripper
	policy  Policy
	maxBody int64
	evm     *evmSigner
	solana  *solanaSigner
	hook    func(*Payment)
	ledger  ledger
}

var _ http.RoundTripper = (*Transport)(nil)

// New returns a Transport paying with cfg's keys within cfg.Policy.
func New(cfg Config) (*Transport, error) {
	if cfg.EVM == nil && cfg.Solana == nil {
		return nil, errors.New("buyer: no key: configure EVM or Solana")
	}
	if err := cfg.Policy.validate(); err != nil {
		return nil, fmt.Errorf("buyer: %w", err)
	}
	t := &Transport{base: cfg.Base, maxBody: cfg.MaxBodyBytes, hook: cfg.OnPayment}
	// A copy, caps included: a caller changing its *big.Int after New
	// must not move the limits of payments in flight.
	t.policy = Policy{Networks: append([]string(nil), cfg.Policy.Networks...), Budgets: append([]Budget(nil), cfg.Policy.Budgets...)}
	for i := range t.policy.Budgets {
		b := &t.policy.Budgets[i]
		b.MaxPerRequest = new(big.Int).Set(b.MaxPerRequest)
		if b.MaxTotal != nil {
			b.MaxTotal = new(big.Int).Set(b.MaxTotal)
		}
	}
	if t.base == nil {
		t.base = http.DefaultTransport
	}
	if t.maxBody <= 0 {
		t.maxBody = DefaultMaxBodyBytes
	}
	if cfg.EVM != nil {
		if cfg.EVM.Key == nil {
			return nil, errors.New("buyer: EVM.Key is nil")
		}
		t.evm = &evmSigner{cfg: *cfg.EVM}
	}
	if cfg.Solana != nil {
		if err := cfg.Solana.Key.Validate(); err != nil || len(cfg.Solana.Key) != 64 {
			return nil, errors.New("buyer: Solana.Key is not a 64-byte ed25519 secret key")
		}
		if cfg.Solana.RPC == "" {
			return nil, errors.New("buyer: Solana.RPC is required (recent blockhash, mint program and decimals)")
		}
		t.solana = &solanaSigner{cfg: *cfg.Solana, client: rpc.New(cfg.Solana.RPC)}
	}
	return t, nil
}

// Client returns an http.Client using t.
func (t *Transport) Client() *http.Client { return &http.Client{Transport: t} }

// Spent returns what was counted as spent per token (EVM addresses
// lower-cased), payments in flight included.
func (t *Transport) Spent() map[string]*big.Int { return t.ledger.totals(&t.policy) }

// Close releases the RPC connections of the signers. The Transport must
// not be used afterwards.
func (t *Transport) Close() {
	if t.evm != nil {
		t.evm.mu.Lock()
		if t.evm.client != nil {
			t.evm.client.Close()
			t.evm.client = nil
		}
		t.evm.mu.Unlock()
	}
	if t.solana != nil {
		_ = t.solana.client.Close()
	}
}

type paymentKey struct{}

// PaymentOf returns the payment the Transport made for resp's request, or
// nil when the request was not paid.
func PaymentOf(resp *http.Response) *Payment {
	if resp == nil || resp.Request == nil {
		return nil
	}
	p, _ := resp.Request.Context().Value(paymentKey{}).(*Payment)
	return p
}

// RoundTrip sends req; on a 402 it pays one acceptable requirement and
// sends req once more with the payment.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	first, again, err := t.replayable(req)
	if err != nil {
		return nil, err
	}
	resp, err := t.base.RoundTrip(first)
	if err != nil || resp.StatusCode != http.StatusPaymentRequired {
		return resp, err
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxPaymentRequiredBytes+1))
	resp.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("buyer: read the 402 answer: %w", err)
	}
	pr, err := ReadPaymentRequired(resp.Header, body)
	if err != nil {
		return nil, err
	}
	cs, reasons := t.policy.candidates(pr, t.can)
	if len(cs) == 0 {
		return nil, &NoAcceptableError{Reasons: reasons}
	}
	if again == nil {
		return nil, ErrBodyNotReplayable
	}
	c, err := t.ledger.reserve(&t.policy, cs)
	if err != nil {
		return nil, err
	}
	s, err := t.sign(req.Context(), pr, c)
	if err != nil {
		t.ledger.release(c)
		return nil, &SignError{Offer: c.offer, Err: err}
	}
	p := &Payment{Offer: *c.offer, Amount: new(big.Int).Set(c.amount), Payer: s.payer}
	paid := req.Clone(context.WithValue(req.Context(), paymentKey{}, p))
	if paid.Body, err = again(); err != nil {
		// The payment was signed but not sent: still counted (it exists).
		p.Err = fmt.Errorf("buyer: reopen the request body: %w", err)
		t.done(p)
		return nil, p.Err
	}
	paid.Header.Set(s.header, s.value)
	resp, err = t.base.RoundTrip(paid)
	if err != nil {
		p.Err = err
		t.done(p)
		return nil, err
	}
	p.Status = resp.StatusCode
	settlement, serr := readSettlement(resp.Header)
	p.Settlement = settlement
	switch {
	case resp.StatusCode == http.StatusPaymentRequired:
		b, _ := io.ReadAll(io.LimitReader(resp.Body, MaxPaymentRequiredBytes))
		resp.Body.Close()
		resp.Body = io.NopCloser(bytes.NewReader(b))
		p.Err = refusal(resp.StatusCode, resp.Header, b, settlement)
	case settlement != nil && !settlement.Success:
		p.Err = &RefusedError{Status: resp.StatusCode, SellerReason: clip(settlement.ErrorReason), Message: clip(settlement.Error + settlement.ErrorMessage)}
	case resp.StatusCode >= 400:
		p.Err = &RefusedError{Status: resp.StatusCode, Message: "the seller failed the paid request"}
	case serr != nil:
		p.Err = fmt.Errorf("buyer: the seller's payment response: %w", serr)
	}
	t.done(p)
	return resp, nil
}

func (t *Transport) done(p *Payment) {
	if t.hook != nil {
		t.hook(p)
	}
}

func (t *Transport) can(ns h402.Namespace) bool {
	switch ns {
	case h402.NamespaceEVM:
		return t.evm != nil
	case h402.NamespaceSolana:
		return t.solana != nil
	}
	return false
}

func (t *Transport) sign(ctx context.Context, pr *PaymentRequired, c candidate) (signed, error) {
	if c.offer.Namespace == h402.NamespaceEVM {
		return t.evm.sign(ctx, pr, c.offer, c.amount)
	}
	return t.solana.sign(ctx, pr, c.offer, c.amount)
}

// replayable returns the request to send first and a function giving the
// body again for the paid retry (nil when it cannot).
func (t *Transport) replayable(req *http.Request) (*http.Request, func() (io.ReadCloser, error), error) {
	if req.Body == nil || req.Body == http.NoBody {
		return req, func() (io.ReadCloser, error) { return http.NoBody, nil }, nil
	}
	if req.GetBody != nil {
		return req, req.GetBody, nil
	}
	buf, err := io.ReadAll(io.LimitReader(req.Body, t.maxBody+1))
	if err != nil {
		req.Body.Close()
		return nil, nil, fmt.Errorf("buyer: read the request body: %w", err)
	}
	first := req.Clone(req.Context())
	if int64(len(buf)) > t.maxBody {
		// Too large to keep: send it once, as it is; a 402 cannot be paid.
		first.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(buf), req.Body), req.Body}
		return first, nil, nil
	}
	req.Body.Close()
	first.Body = io.NopCloser(bytes.NewReader(buf))
	return first, func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(buf)), nil }, nil
}
