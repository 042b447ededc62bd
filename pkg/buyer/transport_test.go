package buyer

import (
	"bytes"
	"errors"
	"io"
	"math/big"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/crypto"

	"github.com/h402/settlement/pkg/evmdev"
	"github.com/h402/settlement/pkg/h402"
	"github.com/h402/settlement/pkg/testenv"
)

func get(t *testing.T, c *http.Client, url string) (*http.Response, string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

func TestPaysEveryDialect(t *testing.T) {
	for _, tc := range []struct {
		dialect Dialect
		network string
		header  string
	}{
		{DialectH402, "evm:84532", "X-PAYMENT-RESPONSE"},
		{DialectX402V1, "base-sepolia", "X-PAYMENT-RESPONSE"},
		{DialectX402V2, "eip155:84532", "PAYMENT-RESPONSE"},
	} {
		t.Run(string(tc.dialect), func(t *testing.T) {
			seller := &testSeller{t: t, dialect: tc.dialect, offers: []offer{{tc.network, testToken, 10_000}}}
			srv := seller.start()
			key := newKey(t)
			var hooked []*Payment
			tr := newTransport(t, key, Policy{Networks: []string{"eip155:84532"}, Budgets: []Budget{usdc(10_000, 0)}}, func(p *Payment) { hooked = append(hooked, p) })
			resp, body := get(t, tr.Client(), srv.URL+"/report")
			if resp.StatusCode != http.StatusOK || body != "report for " {
				t.Fatalf("got %d %q, want 200 and the report", resp.StatusCode, body)
			}
			if n := seller.requests.Load(); n != 2 {
				t.Errorf("seller requests: got %d, want 2 (the 402 and the paid retry)", n)
			}
			p := PaymentOf(resp)
			if p == nil {
				t.Fatal("PaymentOf: nil for a paid response")
			}
			payer := crypto.PubkeyToAddress(key.PublicKey).Hex()
			if p.Offer.Dialect != tc.dialect || p.Amount.Int64() != 10_000 || p.Payer != payer || p.Err != nil {
				t.Errorf("payment: got dialect %s amount %s payer %s err %v, want %s 10000 %s nil", p.Offer.Dialect, p.Amount, p.Payer, p.Err, tc.dialect, payer)
			}
			if p.Settlement == nil || !p.Settlement.Success || p.Settlement.PaymentID != "evm.84532.auth.1" || !strings.EqualFold(p.Settlement.Payer, payer) {
				t.Errorf("settlement from %s: got %+v", tc.header, p.Settlement)
			}
			if len(hooked) != 1 || hooked[0] != p {
				t.Errorf("OnPayment: got %d calls, want 1 with the same payment", len(hooked))
			}
			if got := tr.Spent()[strings.ToLower(testToken)]; got == nil || got.Int64() != 10_000 {
				t.Errorf("spent: got %v, want 10000", got)
			}
			if got := seller.paid[0].Dialect; string(got) != string(tc.dialect) {
				t.Errorf("ingest would decode the payment as %s, want %s", got, tc.dialect)
			}
		})
	}
}

func TestChoosesByPolicy(t *testing.T) {
	offers := []offer{
		{"eip155:1", testToken, 100},                                      // network not allowed
		{"eip155:84532", testToken2, 50},                                  // second token, less preferred
		{"eip155:84532", testToken, 9_000},                                // over the cap
		{"eip155:43113", testToken, 300},                                  // allowed, less preferred network
		{"eip155:84532", testToken, 200},                                  // chosen: preferred network and token
		{"eip155:84532", "0x2222222222222222222222222222222222222222", 1}, // no budget
	}
	seller := &testSeller{t: t, dialect: DialectX402V2, offers: offers}
	srv := seller.start()
	tr := newTransport(t, newKey(t), Policy{
		Networks: []string{"base-sepolia", "avalanche-fuji"},
		Budgets:  []Budget{usdc(1_000, 0), {Token: testToken2, MaxPerRequest: big.NewInt(1_000)}},
	}, nil)
	resp, _ := get(t, tr.Client(), srv.URL)
	p := PaymentOf(resp)
	if resp.StatusCode != http.StatusOK || p == nil || p.Offer.Index != 4 {
		t.Fatalf("got %d, payment %+v; want accepts[4] paid", resp.StatusCode, p)
	}

	// Nothing acceptable: the reasons name each offer.
	seller2 := &testSeller{t: t, dialect: DialectX402V2, offers: offers[:1]}
	srv2 := seller2.start()
	_, err := tr.Client().Get(srv2.URL)
	var na *NoAcceptableError
	if !errors.As(err, &na) || len(na.Reasons) != 1 || !strings.Contains(na.Reasons[0], "network not allowed") {
		t.Fatalf("got %v, want NoAcceptableError naming the network", err)
	}
	if n := seller2.requests.Load(); n != 1 {
		t.Errorf("seller requests: got %d, want 1 (nothing paid, nothing retried)", n)
	}
}

func TestLimits(t *testing.T) {
	t.Run("per request", func(t *testing.T) {
		seller := &testSeller{t: t, dialect: DialectH402, offers: []offer{{"evm:84532", testToken, 1_001}}}
		srv := seller.start()
		tr := newTransport(t, newKey(t), Policy{Budgets: []Budget{usdc(1_000, 0)}}, nil)
		_, err := tr.Client().Get(srv.URL)
		var na *NoAcceptableError
		if !errors.As(err, &na) || !strings.Contains(na.Error(), "over the cap 1000") {
			t.Fatalf("got %v, want NoAcceptableError over the cap", err)
		}
	})
	t.Run("total", func(t *testing.T) {
		seller := &testSeller{t: t, dialect: DialectH402, offers: []offer{{"evm:84532", testToken, 600}}}
		srv := seller.start()
		tr := newTransport(t, newKey(t), Policy{Budgets: []Budget{usdc(1_000, 1_000)}}, nil)
		if resp, _ := get(t, tr.Client(), srv.URL); resp.StatusCode != http.StatusOK {
			t.Fatalf("first payment: got %d", resp.StatusCode)
		}
		_, err := tr.Client().Get(srv.URL)
		var le *LimitError
		if !errors.As(err, &le) || le.Spent.Int64() != 600 || le.Limit.Int64() != 1_000 || le.Reason() != ReasonOverLimit {
			t.Fatalf("second payment: got %v, want LimitError spent 600 limit 1000", err)
		}
		if got := tr.Spent()[strings.ToLower(testToken)].Int64(); got != 600 {
			t.Errorf("spent: got %d, want 600", got)
		}
	})
	t.Run("concurrent spending stays within the total", func(t *testing.T) {
		seller := &testSeller{t: t, dialect: DialectX402V2, offers: []offer{{"eip155:84532", testToken, 100}}}
		srv := seller.start()
		tr := newTransport(t, newKey(t), Policy{Budgets: []Budget{usdc(100, 500)}}, nil)
		c := tr.Client()
		var wg sync.WaitGroup
		var mu sync.Mutex
		ok, over := 0, 0
		for range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				resp, err := c.Get(srv.URL)
				mu.Lock()
				defer mu.Unlock()
				var le *LimitError
				switch {
				case err == nil && resp.StatusCode == http.StatusOK:
					resp.Body.Close()
					ok++
				case errors.As(err, &le):
					over++
				default:
					t.Errorf("unexpected: %v", err)
				}
			}()
		}
		wg.Wait()
		if ok != 5 || over != 11 {
			t.Errorf("got %d paid and %d over the limit, want 5 and 11", ok, over)
		}
		if got := tr.Spent()[strings.ToLower(testToken)].Int64(); got != 500 {
			t.Errorf("spent: got %d, want 500", got)
		}
		if len(seller.paid) != 5 {
			t.Errorf("seller received %d payments, want 5", len(seller.paid))
		}
	})
}

// onceReader is a body without GetBody: it can be read once.
type onceReader struct{ io.Reader }

func (onceReader) Close() error { return nil }

func TestPostBodyReplayed(t *testing.T) {
	payload := `{"query":"everything"}`
	for _, tc := range []struct {
		name string
		req  func(url string) *http.Request
	}{
		{"with GetBody", func(url string) *http.Request {
			r, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(payload))
			return r
		}},
		{"without GetBody", func(url string) *http.Request {
			r, _ := http.NewRequest(http.MethodPost, url, onceReader{strings.NewReader(payload)})
			return r
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			seller := &testSeller{t: t, dialect: DialectH402, offers: []offer{{"evm:84532", testToken, 10}}}
			srv := seller.start()
			tr := newTransport(t, newKey(t), Policy{Budgets: []Budget{usdc(10, 0)}}, nil)
			resp, err := tr.Client().Do(tc.req(srv.URL))
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || string(b) != "report for "+payload {
				t.Fatalf("got %d %q", resp.StatusCode, b)
			}
			if len(seller.bodies) != 1 || seller.bodies[0] != payload {
				t.Errorf("the paid request's body: got %q, want %q", seller.bodies, payload)
			}
		})
	}
	t.Run("too large to keep", func(t *testing.T) {
		seller := &testSeller{t: t, dialect: DialectH402, offers: []offer{{"evm:84532", testToken, 10}}}
		srv := seller.start()
		tr, err := New(Config{EVM: &EVM{Key: newKey(t), Domains: map[string]Domain{testToken: {testName, testVersion}}}, Policy: Policy{Budgets: []Budget{usdc(10, 0)}}, MaxBodyBytes: 8})
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest(http.MethodPost, srv.URL, onceReader{bytes.NewReader([]byte(payload))})
		_, err = tr.Client().Do(req)
		if !errors.Is(err, ErrBodyNotReplayable) {
			t.Fatalf("got %v, want ErrBodyNotReplayable", err)
		}
		if len(tr.Spent()) != 0 && tr.Spent()[strings.ToLower(testToken)].Sign() != 0 {
			t.Errorf("spent %v for a payment never signed", tr.Spent())
		}
	})
}

func TestSecond402NotRetried(t *testing.T) {
	for _, tc := range []struct {
		dialect Dialect
		network string
		body    string
	}{
		{DialectH402, "evm:84532", `"h402Version":1`},
		{DialectX402V1, "base-sepolia", `"x402Version":1`},
		{DialectX402V2, "eip155:84532", "{}"},
	} {
		t.Run(string(tc.dialect), func(t *testing.T) {
			seller := &testSeller{t: t, dialect: tc.dialect, offers: []offer{{tc.network, testToken, 10}}, refuse: true}
			srv := seller.start()
			tr := newTransport(t, newKey(t), Policy{Budgets: []Budget{usdc(10, 0)}}, nil)
			resp, body := get(t, tr.Client(), srv.URL)
			if resp.StatusCode != http.StatusPaymentRequired || !strings.Contains(body, tc.body) {
				t.Fatalf("got %d %q, want the seller's second 402 with its body", resp.StatusCode, body)
			}
			if n := seller.requests.Load(); n != 2 {
				t.Errorf("seller requests: got %d, want 2 (paid once, never again)", n)
			}
			p := PaymentOf(resp)
			var re *RefusedError
			if p == nil || !errors.As(p.Err, &re) || re.SellerReason != "insufficient_funds" || re.Status != 402 {
				t.Fatalf("payment: got %+v, want a RefusedError with the seller's reason", p)
			}
			// A signed payment left the process: it stays counted.
			if got := tr.Spent()[strings.ToLower(testToken)].Int64(); got != 10 {
				t.Errorf("spent: got %d, want 10", got)
			}
		})
	}
}

func TestUnpaidResponsePassesThrough(t *testing.T) {
	srv := httpServer(t, http.StatusOK, nil, []byte("free"))
	tr := newTransport(t, newKey(t), Policy{Budgets: []Budget{usdc(10, 0)}}, nil)
	resp, body := get(t, tr.Client(), srv)
	if resp.StatusCode != http.StatusOK || body != "free" || PaymentOf(resp) != nil {
		t.Fatalf("got %d %q payment %v, want 200 free and no payment", resp.StatusCode, body, PaymentOf(resp))
	}
	if len(tr.Spent()) != 0 {
		t.Errorf("spent %v without paying", tr.Spent())
	}
}

func TestSignFailureReleases(t *testing.T) {
	seller := &testSeller{t: t, dialect: DialectH402, offers: []offer{{"evm:84532", testToken, 10}}}
	srv := seller.start()
	// No EIP-712 domain anywhere and no RPC to read it.
	tr, err := New(Config{EVM: &EVM{Key: newKey(t)}, Policy: Policy{Budgets: []Budget{usdc(10, 10)}}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = tr.Client().Get(srv.URL)
	var se *SignError
	if !errors.As(err, &se) || !strings.Contains(err.Error(), "EIP-712") {
		t.Fatalf("got %v, want SignError about the EIP-712 domain", err)
	}
	if got := tr.Spent()[strings.ToLower(testToken)]; got.Sign() != 0 {
		t.Errorf("spent after a failed signing: got %s, want 0", got)
	}
}

func TestNoKeyForNamespace(t *testing.T) {
	body := []byte(`{"h402Version":1,"accepts":[{"namespace":"solana","scheme":"exact","networkId":"localnet","tokenAddress":"So11111111111111111111111111111111111111112","payToAddress":"x","amountRequired":"1","amountRequiredFormat":"smallestUnit"}]}`)
	srv := httpServer(t, http.StatusPaymentRequired, nil, body)
	tr := newTransport(t, newKey(t), Policy{Budgets: []Budget{{Token: "So11111111111111111111111111111111111111112", MaxPerRequest: big.NewInt(1)}}}, nil)
	_, err := tr.Client().Get(srv)
	var na *NoAcceptableError
	if !errors.As(err, &na) || !strings.Contains(na.Error(), `no key for namespace "solana"`) {
		t.Fatalf("got %v", err)
	}
}

// TestValidityCapped: a seller asking for a day's validity gets the
// buyer's cap (default ten minutes, within ingest's verify.maxValidity), in every
// dialect; a seller asking for less gets what it asked.
func TestValidityCapped(t *testing.T) {
	for _, dialect := range []struct {
		d       Dialect
		network string
	}{{DialectH402, "evm:84532"}, {DialectX402V1, "base-sepolia"}, {DialectX402V2, "eip155:84532"}} {
		for _, tc := range []struct {
			name       string
			sellerSecs int
			cap        time.Duration
			want       time.Duration
		}{
			{"a day asked, default cap", 86400, 0, DefaultMaxValidity},
			{"a day asked, cap 2m", 86400, 2 * time.Minute, 2 * time.Minute},
			{"past int64 nanoseconds asked", 1 << 40, 0, DefaultMaxValidity},
			{"90s asked", 90, 0, 90 * time.Second},
		} {
			t.Run(string(dialect.d)+"/"+tc.name, func(t *testing.T) {
				seller := &testSeller{t: t, dialect: dialect.d, maxTimeout: tc.sellerSecs, offers: []offer{{dialect.network, testToken, 10}}}
				srv := seller.start()
				tr, err := New(Config{
					EVM:    &EVM{Key: newKey(t), MaxValidity: tc.cap, Domains: map[string]Domain{testToken: {testName, testVersion}}},
					Policy: Policy{Budgets: []Budget{usdc(10, 0)}},
				})
				if err != nil {
					t.Fatal(err)
				}
				before := time.Now()
				if resp, _ := get(t, tr.Client(), srv.URL+"/report"); resp.StatusCode != http.StatusOK {
					t.Fatalf("status %d", resp.StatusCode)
				}
				after := time.Now()
				a := seller.paid[0].Payload.Payload.(*h402.EVMAuthorizationPayload)
				vb, _ := a.Authorization.ValidBefore.Uint()
				got := time.Unix(vb.Int64(), 0)
				// validBefore is whole seconds of (signing time + validity).
				lo, hi := before.Add(tc.want).Truncate(time.Second), after.Add(tc.want)
				if got.Before(lo) || got.After(hi) {
					t.Fatalf("validBefore %s, want within [%s, %s] (validity %s)", got, lo, hi, tc.want)
				}
			})
		}
	}
}

// TestBudgetPerNetwork: a budget naming a network pays only there (the same
// EVM address on another chain is another asset, or none), and budgets of
// one token on two networks keep their own totals.
func TestBudgetPerNetwork(t *testing.T) {
	budget := func(network string) Budget {
		return Budget{Token: testToken, Network: network, MaxPerRequest: big.NewInt(100), MaxTotal: big.NewInt(100)}
	}
	sellerOn := func(network string) string {
		s := &testSeller{t: t, dialect: DialectX402V2, offers: []offer{{network, testToken, 100}}}
		return s.start().URL
	}
	t.Run("pinned budget refuses the address on another chain", func(t *testing.T) {
		tr := newTransport(t, newKey(t), Policy{Budgets: []Budget{budget("eip155:84532")}}, nil)
		_, err := tr.Client().Get(sellerOn("eip155:1"))
		var na *NoAcceptableError
		if !errors.As(err, &na) || len(na.Reasons) != 1 || !strings.Contains(na.Reasons[0], "not in the policy's budgets for this network") {
			t.Fatalf("got %v, want NoAcceptableError: no budget on eip155:1", err)
		}
		// Any name of the network matches.
		if resp, _ := get(t, tr.Client(), sellerOn("base-sepolia")); resp.StatusCode != http.StatusOK {
			t.Fatalf("the pinned network under its x402 v1 name: got %d", resp.StatusCode)
		}
	})
	t.Run("one total per network", func(t *testing.T) {
		tr := newTransport(t, newKey(t), Policy{Budgets: []Budget{budget("eip155:84532"), budget("base")}}, nil)
		onSepolia, onBase := sellerOn("eip155:84532"), sellerOn("eip155:8453")
		if resp, _ := get(t, tr.Client(), onSepolia); resp.StatusCode != http.StatusOK {
			t.Fatalf("first on base-sepolia: got %d", resp.StatusCode)
		}
		_, err := tr.Client().Get(onSepolia)
		var le *LimitError
		if !errors.As(err, &le) || le.Network != "eip155:84532" || le.Spent.Int64() != 100 || !strings.Contains(le.Error(), "on eip155:84532") {
			t.Fatalf("second on base-sepolia: got %v, want LimitError of that network's budget", err)
		}
		if resp, _ := get(t, tr.Client(), onBase); resp.StatusCode != http.StatusOK {
			t.Fatalf("first on base: got %d (its budget is untouched)", resp.StatusCode)
		}
		if _, err := tr.Client().Get(onBase); !errors.As(err, &le) || le.Network != "base" {
			t.Fatalf("second on base: got %v, want LimitError of base's budget", err)
		}
		if got := tr.Spent()[strings.ToLower(testToken)].Int64(); got != 200 {
			t.Errorf("spent on the token: got %d, want 200 (both networks)", got)
		}
	})
	t.Run("a budget that could never be used is refused", func(t *testing.T) {
		lower := budget("eip155:84532")
		lower.Token = strings.ToLower(testToken)
		_, err := New(Config{EVM: &EVM{Key: newKey(t)}, Policy: Policy{Budgets: []Budget{budget("eip155:84532"), lower}}})
		if err == nil || !strings.Contains(err.Error(), "budgets[1]: same token and network as budgets[0]") {
			t.Fatalf("got %v, want the duplicate budget refused", err)
		}
	})
}

// TestShadowedBudgetRefused: budgets are matched in order, so a budget
// after one that already takes all its offers would never be used; its
// caps would be silently ignored and the earlier budget's (perhaps far
// higher) ones applied. A catch-all budget before a pinned one of the same
// token, or one network under two of its names, is refused.
func TestShadowedBudgetRefused(t *testing.T) {
	pinned := func(network string, perRequest, total int64) Budget {
		return Budget{Token: testToken, Network: network, MaxPerRequest: big.NewInt(perRequest), MaxTotal: big.NewInt(total)}
	}
	for _, tc := range []struct {
		name    string
		budgets []Budget
		want    string
	}{
		{"catch-all before pinned", []Budget{usdc(1_000, 10_000), pinned("eip155:84532", 10, 10)}, "budgets[1]: budgets[0] pays the token on every network first"},
		{"one network under two names", []Budget{pinned("base-sepolia", 1_000, 10_000), pinned("eip155:84532", 10, 10)}, "budgets[1]: same token and network as budgets[0]"},
		{"h402 name and CAIP-2", []Budget{pinned("evm:84532", 1_000, 10_000), pinned("eip155:84532", 10, 10)}, "budgets[1]: same token and network as budgets[0]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(Config{EVM: &EVM{Key: newKey(t)}, Policy: Policy{Budgets: tc.budgets}})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
	// A pinned budget before the catch-all is how a network gets its own caps.
	tr := newTransport(t, newKey(t), Policy{Budgets: []Budget{pinned("eip155:84532", 10, 10), usdc(1_000, 10_000)}}, nil)
	seller := &testSeller{t: t, dialect: DialectX402V2, offers: []offer{{"eip155:84532", testToken, 100}}}
	_, err := tr.Client().Get(seller.start().URL)
	var na *NoAcceptableError
	if !errors.As(err, &na) || !strings.Contains(na.Error(), "over the cap 10") {
		t.Fatalf("got %v, want the pinned budget's cap", err)
	}
}

// TestValidityClockOfTheOfferChain: "now" is taken from EVM.RPC's chain
// head when it runs ahead of the wall clock (dev chains), since the token
// contract measures validBefore by its block time. That is only true of
// the chain the RPC serves: for an offer on another chain, a dev chain three
// hours ahead made the authorization valid three hours past MaxValidity.
func TestValidityClockOfTheOfferChain(t *testing.T) {
	chain := testenv.StartEVM(t, evmdev.Config{})
	const ahead = 3 * time.Hour
	if err := chain.AdjustTime(ahead); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		network string
		clock   time.Duration // how far the clock used runs ahead
	}{
		{"offer on another chain: wall clock", "eip155:84532", 0},
		{"offer on the RPC's chain: its head", "eip155:" + chain.ChainID().String(), ahead},
	} {
		t.Run(tc.name, func(t *testing.T) {
			seller := &testSeller{t: t, dialect: DialectX402V2, maxTimeout: 86400, offers: []offer{{tc.network, testToken, 10}}}
			srv := seller.start()
			tr, err := New(Config{
				EVM:    &EVM{Key: newKey(t), RPC: chain.URL(), Domains: map[string]Domain{testToken: {testName, testVersion}}},
				Policy: Policy{Budgets: []Budget{usdc(10, 0)}},
			})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(tr.Close)
			before := time.Now()
			if resp, _ := get(t, tr.Client(), srv.URL+"/report"); resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d", resp.StatusCode)
			}
			after := time.Now()
			a := seller.paid[0].Payload.Payload.(*h402.EVMAuthorizationPayload)
			vb, _ := a.Authorization.ValidBefore.Uint()
			got := time.Unix(vb.Int64(), 0)
			// The head's time is whole seconds and was sealed before the
			// request: allow a minute of slack on the low side.
			lo, hi := before.Add(tc.clock+DefaultMaxValidity-time.Minute), after.Add(tc.clock+DefaultMaxValidity+time.Minute)
			if got.Before(lo) || got.After(hi) {
				t.Fatalf("validBefore %s, want within [%s, %s]", got.UTC(), lo.UTC(), hi.UTC())
			}
		})
	}
}

// TestPolicyCopied: the caps are the Transport's own; a caller changing its
// *big.Int after New does not raise them.
func TestPolicyCopied(t *testing.T) {
	seller := &testSeller{t: t, dialect: DialectX402V2, offers: []offer{{"eip155:84532", testToken, 100}}}
	srv := seller.start()
	b := usdc(100, 100)
	tr := newTransport(t, newKey(t), Policy{Budgets: []Budget{b}}, nil)
	b.MaxTotal.SetInt64(1_000_000)
	b.MaxPerRequest.SetInt64(1_000_000)
	if resp, _ := get(t, tr.Client(), srv.URL); resp.StatusCode != http.StatusOK {
		t.Fatalf("first payment: got %d", resp.StatusCode)
	}
	var le *LimitError
	if _, err := tr.Client().Get(srv.URL); !errors.As(err, &le) || le.Limit.Int64() != 100 {
		t.Fatalf("second payment: got %v, want LimitError at the total given to New (100)", err)
	}
}
