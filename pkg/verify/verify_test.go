package verify_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/crypto"
	solanago "github.com/gagliardetto/solana-go"

	"github.com/h402/settlement/pkg/chains/evm"
	"github.com/h402/settlement/pkg/chains/solana"
	"github.com/h402/settlement/pkg/config"
	"github.com/h402/settlement/pkg/h402"
	"github.com/h402/settlement/pkg/verify"
)

const (
	usdc    = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
	splMint = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"
)

func cfg(t *testing.T) *config.Config {
	t.Helper()
	c, err := config.Parse([]byte(`
networks:
  - namespace: evm
    networkId: "1337"
    rpc: ["http://127.0.0.1:8545"]
    tokens:
      - {symbol: USDC, address: "`+usdc+`", decimals: 6, kind: eip3009, eip712Name: USD Coin, eip712Version: "2"}
  - namespace: solana
    networkId: localnet
    caip2: solana:localnet
    rpc: ["http://127.0.0.1:8899"]
    tokens:
      - {symbol: USDC, address: "`+splMint+`", decimals: 6, kind: spl}
`), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func evmRequirement() h402.PaymentRequirements {
	d := h402.Decimal{Text: "0.01", Quoted: true}
	six := 6
	return h402.PaymentRequirements{
		Namespace: h402.NamespaceEVM, Scheme: "exact", NetworkID: "1337", TokenAddress: usdc,
		PayToAddress: "0x00000000000000000000000000000000000000aa", AmountRequired: &d,
		AmountRequiredFormat: h402.FormatHumanReadable, TokenDecimals: &six, Resource: "https://api.example/data",
	}
}

type fixture struct {
	local *verify.Local
	req   h402.PaymentRequirements
	pay   h402.PaymentPayload
	now   time.Time
}

func evmFixture(t *testing.T) fixture {
	t.Helper()
	c := cfg(t)
	key, _ := crypto.GenerateKey()
	req := evmRequirement()
	now := time.Now()
	tok, _ := c.Networks[0].Token(usdc)
	p, _, err := evm.SignAuthorization(&req, key, tok, now, evm.AuthorizationOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return fixture{local: verify.New(c, evm.NewVerifier(), solana.NewVerifier()), req: req, pay: *p, now: now}
}

func TestCommonChecks(t *testing.T) {
	f := evmFixture(t)
	if _, _, err := f.local.Verify(&f.req, &f.pay, f.now); err != nil {
		t.Fatalf("valid payment refused: %v", err)
	}
	dec := func(s string) *h402.Decimal { return &h402.Decimal{Text: s, Quoted: true} }
	seven := 7
	tests := []struct {
		name string
		edit func(r *h402.PaymentRequirements, p *h402.PaymentPayload)
		want h402.Reason
	}{
		{"version 2", func(_ *h402.PaymentRequirements, p *h402.PaymentPayload) { p.H402Version = 2 }, h402.ReasonInvalidVersion},
		{"requirement scheme upto", func(r *h402.PaymentRequirements, _ *h402.PaymentPayload) { r.Scheme = "upto" }, h402.ReasonUnsupportedScheme},
		{"payload scheme differs", func(_ *h402.PaymentRequirements, p *h402.PaymentPayload) { p.Scheme = "upto" }, h402.ReasonInvalidScheme},
		{"arkade namespace", func(r *h402.PaymentRequirements, p *h402.PaymentPayload) {
			r.Namespace, p.Namespace = "arkade", "arkade"
		}, h402.ReasonInvalidNetwork},
		{"namespace mismatch", func(_ *h402.PaymentRequirements, p *h402.PaymentPayload) { p.Namespace = h402.NamespaceSolana }, h402.ReasonInvalidNetwork},
		{"network mismatch", func(_ *h402.PaymentRequirements, p *h402.PaymentPayload) { p.NetworkID = "8453" }, h402.ReasonInvalidNetwork},
		{"network not served", func(r *h402.PaymentRequirements, p *h402.PaymentPayload) { r.NetworkID, p.NetworkID = "8453", "8453" }, h402.ReasonInvalidNetwork},
		{"resource differs", func(_ *h402.PaymentRequirements, p *h402.PaymentPayload) { p.Resource = "https://api.example/other" }, h402.ReasonResourceMismatch},
		{"resource missing from payload", func(_ *h402.PaymentRequirements, p *h402.PaymentPayload) { p.Resource = "" }, h402.ReasonResourceMismatch},
		{"token not on allow-list", func(r *h402.PaymentRequirements, _ *h402.PaymentPayload) {
			r.TokenAddress = "0x0000000000000000000000000000000000000bad"
		}, h402.ReasonTokenNotSupported},
		{"decimals lie", func(r *h402.PaymentRequirements, _ *h402.PaymentPayload) { r.TokenDecimals = &seven }, h402.ReasonInvalidPaymentRequirements},
		{"too many fraction digits", func(r *h402.PaymentRequirements, _ *h402.PaymentPayload) { r.AmountRequired = dec("0.0000001") }, h402.ReasonInvalidAmount},
		{"zero amount", func(r *h402.PaymentRequirements, _ *h402.PaymentPayload) { r.AmountRequired = dec("0") }, h402.ReasonInvalidAmount},
		{"no amount", func(r *h402.PaymentRequirements, _ *h402.PaymentPayload) { r.AmountRequired = nil }, h402.ReasonInvalidPaymentRequirements},
		{"no payTo", func(r *h402.PaymentRequirements, _ *h402.PaymentPayload) { r.PayToAddress = "" }, h402.ReasonInvalidPaymentRequirements},
		{"unknown format", func(r *h402.PaymentRequirements, _ *h402.PaymentPayload) { r.AmountRequiredFormat = "cents" }, h402.ReasonInvalidPaymentRequirements},
		{"maxAmountRequired wins (x402)", func(r *h402.PaymentRequirements, _ *h402.PaymentPayload) { r.MaxAmountRequired = dec("20000") }, h402.ReasonEVMValue},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, p := f.req, f.pay
			tt.edit(&r, &p)
			_, _, err := f.local.Verify(&r, &p, f.now)
			if got := h402.ReasonOf(err, ""); got != tt.want {
				t.Errorf("reason = %q, want %q (err %v)", got, tt.want, err)
			}
			if err != nil && h402.MessageOf(err) == "" {
				t.Errorf("no human sentence with %q", tt.want)
			}
		})
	}
}

func TestFamilyNotRegistered(t *testing.T) {
	f := evmFixture(t)
	only := verify.New(cfg(t), solana.NewVerifier())
	_, _, err := only.Verify(&f.req, &f.pay, f.now)
	if got := h402.ReasonOf(err, ""); got != h402.ReasonInvalidNetwork {
		t.Errorf("reason = %q, want invalid_network", got)
	}
}

// TestReplayKeyOneKeyPerPayment: re-encodings of one payment (base64
// alphabet and padding, JSON key order) give one key through the dispatcher.
func TestReplayKeyOneKeyPerPayment(t *testing.T) {
	f := evmFixture(t)
	header, err := h402.EncodePaymentHeader(&f.pay)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := h402.DecodeBase64(header)
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	reordered, _ := json.Marshal(m) // encoding/json sorts map keys: another key order
	encodings := []string{
		header,
		strings.TrimRight(header, "="),
		strings.NewReplacer("+", "-", "/", "_").Replace(strings.TrimRight(header, "=")),
		h402.EncodeBase64(reordered),
	}
	want, err := f.local.ReplayKey(&f.req, &f.pay)
	if err != nil {
		t.Fatal(err)
	}
	for i, enc := range encodings {
		p, err := h402.DecodePaymentHeader(enc)
		if err != nil {
			t.Fatalf("encoding %d: %v", i, err)
		}
		got, err := f.local.ReplayKey(&f.req, p)
		if err != nil || got != want {
			t.Errorf("encoding %d: key %q, %v; want %q", i, got, err, want)
		}
	}

	// Solana: the same message under another signature encoding keeps its key.
	c := cfg(t)
	tok, _ := c.Networks[1].Token(splMint)
	seller := solanago.NewWallet().PublicKey().String()
	d := h402.Decimal{Text: "5000", Quoted: true}
	sreq := h402.PaymentRequirements{Namespace: h402.NamespaceSolana, Scheme: "exact", NetworkID: "localnet", TokenAddress: splMint, PayToAddress: seller, AmountRequired: &d, AmountRequiredFormat: h402.FormatSmallestUnit}
	sp, err := solana.SignPayment(&sreq, tok, solanago.NewWallet().PrivateKey, solanago.Hash{1}, solana.PayOptions{})
	if err != nil {
		t.Fatal(err)
	}
	k1, err := f.local.ReplayKey(&sreq, sp)
	if err != nil {
		t.Fatal(err)
	}
	pl := *sp.Payload.(*h402.SolanaSignTransactionPayload)
	pl.Transaction = strings.TrimRight(pl.Transaction, "=")
	pl.Signature = "" // the signature field is advisory
	sp2 := *sp
	sp2.Payload = &pl
	k2, err := f.local.ReplayKey(&sreq, &sp2)
	if err != nil || k1 != k2 {
		t.Errorf("solana re-encoded: key %q, %v; want %q", k2, err, k1)
	}
	if !strings.HasPrefix(k1, "solana.localnet.msg.") {
		t.Errorf("solana key %q lacks its prefix", k1)
	}
}

// TestSponsoredMinimum: an EIP-3009 authorization, whose gas the facilitator
// pays, below the token's minSponsoredAmount is refused with
// amount_below_minimum; at the minimum it passes.
func TestSponsoredMinimum(t *testing.T) {
	f := evmFixture(t) // pays 0.01 USDC = 10000 smallest units
	for _, tt := range []struct {
		min  string
		want h402.Reason
	}{
		{"", ""},
		{"10000", ""},
		{"10001", h402.ReasonAmountBelowMinimum},
	} {
		t.Run("min "+tt.min, func(t *testing.T) {
			c := cfg(t)
			c.Networks[0].Tokens[0].MinSponsoredAmount = tt.min
			if err := c.Validate(); err != nil {
				t.Fatal(err)
			}
			local := verify.New(c, evm.NewVerifier(), solana.NewVerifier())
			_, _, err := local.Verify(&f.req, &f.pay, f.now)
			if got := h402.ReasonOf(err, ""); got != tt.want {
				t.Fatalf("reason = %q, want %q (err %v)", got, tt.want, err)
			}
			if err != nil && !strings.Contains(h402.MessageOf(err), "at least 10001") {
				t.Errorf("message %q does not name the minimum", h402.MessageOf(err))
			}
		})
	}
}
