package buyer

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/h402/settlement/pkg/h402"
)

func FuzzReadPaymentRequired(f *testing.F) {
	if b, err := os.ReadFile(filepath.Join("testdata", "express-402-header.txt")); err == nil {
		f.Add(strings.TrimSpace(string(b)), []byte("{}"))
	}
	f.Add("", []byte(`{"h402Version":1,"accepts":[{"namespace":"evm","scheme":"exact","networkId":"84532","tokenAddress":"0x1","payToAddress":"0x2","amountRequired":"0.01","amountRequiredFormat":"humanReadable","tokenDecimals":6}]}`))
	f.Add("", []byte(`{"x402Version":1,"accepts":[{"scheme":"exact","network":"base-sepolia","maxAmountRequired":"10000","asset":"0x1","payTo":"0x2"}]}`))
	f.Add(h402.EncodeBase64([]byte(`{"x402Version":2,"accepts":[{"scheme":"exact","network":"solana:abc","amount":"1","asset":"m","payTo":"p"}]}`)), []byte(nil))
	f.Fuzz(func(t *testing.T, header string, body []byte) {
		h := http.Header{}
		if header != "" {
			h.Set(HeaderPaymentRequired, header)
		}
		pr, err := ReadPaymentRequired(h, body)
		if err != nil {
			return
		}
		for i := range pr.Offers {
			o := &pr.Offers[i]
			if o.Amount != nil && o.Amount.Sign() <= 0 {
				t.Fatalf("offer %d has amount %s", i, o.Amount)
			}
			_ = o.Names()
		}
		// The policy must not panic on anything decoded.
		p := Policy{Budgets: []Budget{{Token: "0x1", Decimals: 6, MaxPerRequest: h402.MaxUint256}}}
		p.candidates(pr, func(h402.Namespace) bool { return true })
	})
}

func FuzzDecodePaymentResponse(f *testing.F) {
	f.Add(h402.EncodeBase64([]byte(`{"success":true,"transaction":"0x1","network":"eip155:84532","payer":"0x2"}`)))
	f.Add(h402.EncodeBase64([]byte(`{"success":false,"errorReason":"insufficient_funds","transaction":"","network":"base"}`)))
	f.Fuzz(func(t *testing.T, v string) {
		s, err := DecodePaymentResponse(v)
		if err == nil && s == nil {
			t.Fatal("nil settlement without an error")
		}
	})
}
