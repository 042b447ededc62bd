package seller

import (
	"bytes"
	"encoding/json"
	"flag"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/h402/settlement/pkg/h402"
)

var update = flag.Bool("update", false, "rewrite testdata goldens")

// TestGolden402 freezes the wire formats of the 402 answers: the first one
// (body and PAYMENT-REQUIRED) and a refusal in each dialect.
func TestGolden402(t *testing.T) {
	sol := Offer{Namespace: h402.NamespaceSolana, NetworkID: "devnet", Token: Token{Address: "4zMMC9srt5Ri5X14GAgXhaHii3GnPAEERYPJgZJDncDU", Decimals: 6, Symbol: "USDC"},
		PayTo: "9xQeWvG816bUx9EPjHmaT23yvVM2ZWbrrpZb9PusVFin", Price: "0.5", FeePayer: "FeePayer1111111111111111111111111111111111"}
	mw, err := New(Config{FacilitatorURL: "http://127.0.0.1:1", BaseURL: "https://api.example",
		Routes: []Route{{Pattern: "GET /reports/*", Description: "a report", MimeType: "application/json", Offers: []Offer{testOffer(), sol}}}})
	if err != nil {
		t.Fatal(err)
	}
	p := mw.price(mw.routes[0], httptest.NewRequest(http.MethodGet, "/reports/q1", nil))
	rec := httptest.NewRecorder()
	mw.askForPayment(rec, p)
	header, _ := h402.DecodeBase64(rec.Header().Get(h402.HeaderPaymentRequired))
	checkGolden(t, "first-402-body.json", rec.Body.Bytes())
	checkGolden(t, "first-402-payment-required.json", header)
	for _, d := range []h402.Dialect{h402.DialectH402, h402.DialectX402V1, h402.DialectX402V2} {
		rec := httptest.NewRecorder()
		mw.refuse(rec, p, d, refusalInfo{reason: h402.ReasonPaymentAlreadyUsed, message: "the payment was used by another request", paymentID: "evm.84532.auth.x", state: "accepted"})
		checkGolden(t, "refusal-"+string(d)+".json", rec.Body.Bytes())
	}
}

func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Indent(&buf, got, "", "  "); err != nil {
		t.Fatalf("%s: not JSON: %v: %s", name, err, got)
	}
	buf.WriteByte('\n')
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%s: %v (run go test -run TestGolden402 -update)", name, err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("%s changed:\ngot  %s\nwant %s", name, buf.Bytes(), want)
	}
}
