package h402

import (
	"encoding/json"
	"math/big"
	"testing"
)

func TestOfferForms(t *testing.T) {
	amount, decimals, lifetime := Decimal{Text: "0.25", Quoted: true}, 6, 60
	r := PaymentRequirements{
		Namespace: NamespaceEVM, Scheme: SchemeExact, NetworkID: "84532", TokenAddress: "0xT", PayToAddress: "0xP",
		AmountRequired: &amount, AmountRequiredFormat: FormatHumanReadable, TokenDecimals: &decimals,
		Resource: "https://api.example/r", EstimatedProcessingTime: &lifetime, Extra: json.RawMessage(`{"name":"USD Coin","version":"2"}`),
	}
	v1, err := r.X402V1("base-sepolia", 60)
	if err != nil || v1.MaxAmountRequired.Text != "250000" || v1.Network != "base-sepolia" || v1.PayTo != "0xP" || v1.Asset != "0xT" {
		t.Errorf("X402V1: %+v (err %v)", v1, err)
	}
	v2, err := r.X402V2("eip155:84532", 60)
	if err != nil || v2.Amount.Text != "250000" || !SameX402V2(NamespaceEVM, &v2, &X402V2Requirements{Scheme: "exact", Network: "eip155:84532", Amount: NewDecimal(big.NewInt(250000)), Asset: "0xt", PayTo: "0xp"}) {
		t.Errorf("X402V2: %+v (err %v)", v2, err)
	}
	d, err := r.Dual("base-sepolia", 60)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(DualPaymentRequired{H402Version: 1, X402Version: 1, Error: "pay", Accepts: []DualRequirements{d}})
	pr, err := DecodePaymentRequired(b)
	if err != nil {
		t.Fatalf("dual body as h402: %v: %s", err, b)
	}
	if got, err := pr.Accepts[0].Amount(0); err != nil || got.String() != "250000" {
		t.Errorf("dual body's h402 amount: %v (err %v): %s", got, err, b)
	}
	var x X402V1PaymentRequired
	if err := json.Unmarshal(b, &x); err != nil || x.Accepts[0].MaxAmountRequired.Text != "250000" || x.Accepts[0].Description != "" || x.Accepts[0].Network != "base-sepolia" {
		t.Errorf("dual body as x402 v1: %+v (err %v)", x, err)
	}
	hv, err := EncodeJSONHeader(X402V2PaymentRequired{X402Version: 2, Resource: &X402Resource{URL: "https://api.example/r"}, Accepts: []X402V2Requirements{v2}})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := DecodePaymentRequiredHeader(hv); err != nil || got.Accepts[0].Amount.Text != "250000" {
		t.Errorf("PAYMENT-REQUIRED round trip: %+v (err %v)", got, err)
	}
}

// FuzzDecodePaymentRequiredHeader: any header decodes or is an *Error.
func FuzzDecodePaymentRequiredHeader(f *testing.F) {
	f.Add(EncodeBase64([]byte(`{"x402Version":2,"resource":{"url":"u"},"accepts":[{"scheme":"exact","network":"eip155:1","amount":"1","asset":"a","payTo":"p","maxTimeoutSeconds":1}]}`)))
	f.Add(EncodeBase64([]byte(`{"x402Version":1}`)))
	f.Add("!!")
	f.Fuzz(func(t *testing.T, s string) {
		pr, err := DecodePaymentRequiredHeader(s)
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("not an *Error: %v", err)
			}
			return
		}
		if pr.X402Version != X402V2 {
			t.Fatalf("decoded version %d", pr.X402Version)
		}
	})
}
