package buyer

import (
	"encoding/json"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/h402/settlement/pkg/h402"
)

// httpServer answers every request with status, header and body.
func httpServer(t *testing.T, status int, header http.Header, body []byte) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for k, v := range header {
			w.Header()[k] = v
		}
		w.WriteHeader(status)
		w.Write(body)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestDecodePaymentRequired(t *testing.T) {
	amount := h402.NewDecimal(big.NewInt(10_000))
	six, ttl := 6, 60
	h402Body, _ := json.Marshal(h402.PaymentRequired{H402Version: 1, Error: "pay", Accepts: []h402.PaymentRequirements{{
		Namespace: h402.NamespaceEVM, Scheme: "exact", NetworkID: "84532", TokenAddress: testToken, PayToAddress: testPayTo,
		AmountRequired: &h402.Decimal{Text: "0.01"}, AmountRequiredFormat: h402.FormatHumanReadable, TokenDecimals: &six,
		Resource: "https://a.example/r", EstimatedProcessingTime: &ttl,
	}}})
	v1Body, _ := json.Marshal(map[string]any{"x402Version": 1, "error": "pay", "accepts": []h402.X402V1Requirements{{
		Scheme: "exact", Network: "base-sepolia", MaxAmountRequired: amount, Resource: "https://a.example/r", PayTo: testPayTo,
		MaxTimeoutSeconds: 60, Asset: testToken, Extra: json.RawMessage(`{"name":"USDC","version":"2"}`),
	}}})
	for _, tc := range []struct {
		name    string
		header  http.Header
		body    []byte
		dialect Dialect
		network string
	}{
		{"h402 body", nil, h402Body, DialectH402, "evm:84532"},
		{"x402 v1 body", nil, v1Body, DialectX402V1, "base-sepolia"},
		// Recorded from @x402/express 2.27: e2e/x402js/express-seller.mjs answering GET /evm/report.
		{"x402 v2 header from @x402/express", http.Header{"Payment-Required": {readFixture(t, "express-402-header.txt")}}, []byte("{}"), DialectX402V2, "eip155:84532"},
		// The header wins over a body of another dialect.
		{"x402 v2 header over an h402 body", http.Header{"Payment-Required": {readFixture(t, "express-402-header.txt")}}, h402Body, DialectX402V2, "eip155:84532"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pr, err := ReadPaymentRequired(tc.header, tc.body)
			if err != nil {
				t.Fatal(err)
			}
			if pr.Dialect != tc.dialect || len(pr.Offers) == 0 {
				t.Fatalf("got dialect %s with %d offers, want %s", pr.Dialect, len(pr.Offers), tc.dialect)
			}
			o := pr.Offers[0]
			if o.Network != tc.network || o.Namespace != h402.NamespaceEVM || o.NetworkID != "84532" || o.Amount == nil || o.Amount.Int64() != 10_000 || o.Scheme != "exact" {
				t.Errorf("offer: got %s %s/%s amount %v scheme %s, want %s evm/84532 10000 exact", o.Network, o.Namespace, o.NetworkID, o.Amount, o.Scheme, tc.network)
			}
		})
	}
}

func TestDecodePaymentRequiredRefusesBadInput(t *testing.T) {
	for _, tc := range []struct {
		name   string
		header string
		body   string
		want   string
	}{
		{"not JSON", "", "<html>pay</html>", "not a JSON object"},
		{"no version", "", `{"accepts":[{}]}`, "neither x402Version nor h402Version"},
		{"empty accepts", "", `{"h402Version":1,"accepts":[]}`, "accepts is empty"},
		{"h402 version 2", "", `{"h402Version":2,"accepts":[{}]}`, "want 1"},
		{"x402 v2 in a body", "", `{"x402Version":2,"accepts":[{}]}`, "PAYMENT-REQUIRED header"},
		{"header not base64", "!!!", "", "not base64"},
		{"header v1", h402.EncodeBase64([]byte(`{"x402Version":1,"accepts":[{}]}`)), "", "want 2"},
		{"too many offers", "", `{"h402Version":1,"accepts":[` + strings.Repeat(`{},`, 64) + `{}]}`, "more than 64"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			if tc.header != "" {
				h.Set(HeaderPaymentRequired, tc.header)
			}
			_, err := ReadPaymentRequired(h, []byte(tc.body))
			if !errors.Is(err, ErrBadPaymentRequired) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want ErrBadPaymentRequired saying %q", err, tc.want)
			}
		})
	}
}

// A bad offer is refused with its reason; the others in the same 402 are
// still considered.
func TestBadOfferDoesNotSpoilOthers(t *testing.T) {
	good := `{"scheme":"exact","network":"base-sepolia","maxAmountRequired":"10","payTo":"` + testPayTo + `","asset":"` + testToken + `","maxTimeoutSeconds":60,"extra":{"name":"USDC","version":"2"}}`
	for _, tc := range []struct {
		name, bad, want string
	}{
		{"negative amount", `{"scheme":"exact","network":"base","maxAmountRequired":"-1"}`, "negative"},
		{"float amount", `{"scheme":"exact","network":"base","maxAmountRequired":1e6}`, "plain decimal"},
		{"unknown network", `{"scheme":"exact","network":"moon","maxAmountRequired":"1"}`, "moon"},
		{"not an object", `"pay me"`, "cannot unmarshal"},
		{"zero amount", `{"scheme":"exact","network":"base","maxAmountRequired":"0"}`, "zero"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := []byte(`{"x402Version":1,"accepts":[` + tc.bad + `,` + good + `]}`)
			pr, err := ReadPaymentRequired(http.Header{}, body)
			if err != nil {
				t.Fatal(err)
			}
			if len(pr.Offers) != 2 || pr.Offers[0].Problem == nil || !strings.Contains(pr.Offers[0].Problem.Error(), tc.want) || pr.Offers[1].Problem != nil {
				t.Fatalf("offers: got %+v, want the first with a problem saying %q", pr.Offers, tc.want)
			}
			// Only the bad one left: refused with its reason.
			srv := httpServer(t, http.StatusPaymentRequired, nil, []byte(`{"x402Version":1,"accepts":[`+tc.bad+`]}`))
			tr := newTransport(t, newKey(t), Policy{Budgets: []Budget{usdc(10, 0)}}, nil)
			_, err = tr.Client().Get(srv)
			var na *NoAcceptableError
			if !errors.As(err, &na) || !strings.Contains(na.Error(), tc.want) {
				t.Fatalf("got %v, want NoAcceptableError saying %q", err, tc.want)
			}
			// With the good one beside it, the good one is chosen.
			pol := Policy{Budgets: []Budget{usdc(10, 0)}}
			cs, reasons := pol.candidates(pr, func(h402.Namespace) bool { return true })
			if len(cs) != 1 || cs[0].offer.Index != 1 || len(reasons) != 1 {
				t.Errorf("candidates: got %d (reasons %q), want accepts[1] alone", len(cs), reasons)
			}
		})
	}
}

func TestDecodePaymentResponse(t *testing.T) {
	h := h402.EncodeBase64([]byte(`{"success":true,"transaction":"","namespace":"evm","payer":"0xab","paymentId":"evm.84532.auth.x","state":"accepted"}`))
	s, err := DecodePaymentResponse(h)
	if err != nil || !s.Success || s.PaymentID != "evm.84532.auth.x" || s.State != "accepted" || s.Namespace != "evm" {
		t.Fatalf("got %+v %v", s, err)
	}
	for _, bad := range []string{"", "%%%", h402.EncodeBase64([]byte(`[1]`)), h402.EncodeBase64([]byte(`{"success":"yes"}`))} {
		if _, err := DecodePaymentResponse(bad); err == nil {
			t.Errorf("%q: decoded, want an error", bad)
		}
	}
}

func readFixture(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// An h402 amount written humanReadable without tokenDecimals is priced in
// the budget's decimals, exactly; without them it is refused.
func TestHumanReadableAmountUsesBudgetDecimals(t *testing.T) {
	body := []byte(`{"h402Version":1,"accepts":[{"namespace":"evm","scheme":"exact","networkId":"84532","tokenAddress":"` + testToken + `","payToAddress":"` + testPayTo + `","amountRequired":"0.01","amountRequiredFormat":"humanReadable"}]}`)
	pr, err := ReadPaymentRequired(http.Header{}, body)
	if err != nil {
		t.Fatal(err)
	}
	if pr.Offers[0].Amount != nil {
		t.Fatalf("amount without decimals: got %s, want nil until a budget says", pr.Offers[0].Amount)
	}
	can := func(h402.Namespace) bool { return true }
	b := usdc(10_000, 0)
	b.Decimals = 6
	cs, _ := (&Policy{Budgets: []Budget{b}}).candidates(pr, can)
	if len(cs) != 1 || cs[0].amount.Int64() != 10_000 {
		t.Fatalf("with 6 decimals: got %v, want 10000 smallest units", cs)
	}
	b.MaxPerRequest = big.NewInt(9_999)
	if cs, reasons := (&Policy{Budgets: []Budget{b}}).candidates(pr, can); len(cs) != 0 || !strings.Contains(reasons[0], "over the cap 9999") {
		t.Errorf("cap 9999: got %v %q", cs, reasons)
	}
	if cs, reasons := (&Policy{Budgets: []Budget{usdc(10_000, 0)}}).candidates(pr, can); len(cs) != 0 || !strings.Contains(reasons[0], "no decimals") {
		t.Errorf("no decimals: got %v %q", cs, reasons)
	}
}
