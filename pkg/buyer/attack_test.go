package buyer

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/h402/settlement/pkg/h402"
)

// TestRedirectDoesNotCarryThePayment: a seller that answers the paid
// request with a redirect to another host must not hand that host the
// payment header (which it could present itself).
func TestRedirectDoesNotCarryThePayment(t *testing.T) {
	var leaked, hits atomic.Int64
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.Header.Get(h402.HeaderPayment) != "" || r.Header.Get(h402.HeaderPaymentSig) != "" {
			leaked.Add(1)
		}
		_, _ = w.Write([]byte("elsewhere"))
	}))
	t.Cleanup(other.Close)
	for _, d := range []Dialect{DialectH402, DialectX402V1, DialectX402V2} {
		t.Run(string(d), func(t *testing.T) {
			network := map[Dialect]string{DialectH402: "evm:84532", DialectX402V1: "base-sepolia", DialectX402V2: "eip155:84532"}[d]
			seller := &testSeller{t: t, dialect: d, offers: []offer{{network, testToken, 10_000}}}
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Header.Get(h402.HeaderPayment) != "" || r.Header.Get(h402.HeaderPaymentSig) != "" {
					http.Redirect(w, r, other.URL+"/x", http.StatusTemporaryRedirect)
					return
				}
				seller.ServeHTTP(w, r)
			}))
			t.Cleanup(srv.Close)
			before := hits.Load()
			tr := newTransport(t, newKey(t), Policy{Budgets: []Budget{usdc(10_000, 0)}}, nil)
			resp, body := get(t, tr.Client(), srv.URL+"/report")
			if resp.StatusCode != http.StatusOK || body != "elsewhere" || hits.Load() != before+1 {
				t.Fatalf("got %d %q, want the redirect followed once", resp.StatusCode, body)
			}
			if n := leaked.Load(); n != 0 {
				t.Errorf("the redirect target received the payment header %d times", n)
			}
		})
	}
}
