package demo

import (
	"context"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/h402/settlement/pkg/h402"
	"github.com/h402/settlement/pkg/webhooks"
)

func TestParseKinds(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    []Kind
		wantErr string
	}{
		{in: "", want: AllKinds},
		{in: "all", want: AllKinds},
		{in: "evm-h402, solana-fee-payer", want: []Kind{KindEVMH402, KindSolanaFeePayer}},
		{in: "evm-h402,evm-signedTransaction", wantErr: `unknown kind "evm-signedTransaction"`},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseKinds(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %v, %v; want error %q", got, err, tc.wantErr)
				}
				return
			}
			if err != nil || joinKinds(got) != joinKinds(tc.want) {
				t.Fatalf("got %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

func testSecret(t testing.TB) webhooks.Secret {
	t.Helper()
	s, err := webhooks.ParseSecret("whsec_" + base64.StdEncoding.EncodeToString([]byte("demo-receiver-test-secret")))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func hookRequest(id, ts, sig string, body []byte) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/webhooks", strings.NewReader(string(body)))
	r.Header.Set("webhook-id", id)
	r.Header.Set("webhook-timestamp", ts)
	r.Header.Set("webhook-signature", sig)
	return r
}

// TestReceiver: a delivery signed with the secret is counted by its
// webhook-id; a wrong signature, an old timestamp and a body naming
// another payment are refused and not counted.
func TestReceiver(t *testing.T) {
	sec := testSecret(t)
	other, err := webhooks.ParseSecret("whsec_" + base64.StdEncoding.EncodeToString([]byte("another-secret-entirely!")))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().Unix()
	body := []byte(`{"type":"payment.finalized","timestamp":"2026-12-01T00:00:00Z","data":{"id":"evm.1337.auth.x"}}`)
	for _, tc := range []struct {
		name   string
		id     string
		ts     int64
		sign   []webhooks.Secret
		body   []byte
		want   int
		counts int
	}{
		{"signed", "evm.1337.auth.x", now, []webhooks.Secret{sec}, body, http.StatusNoContent, 1},
		{"signed by a rotation pair", "evm.1337.auth.x", now, []webhooks.Secret{other, sec}, body, http.StatusNoContent, 1},
		{"wrong secret", "evm.1337.auth.x", now, []webhooks.Secret{other}, body, http.StatusUnauthorized, 0},
		{"stale timestamp", "evm.1337.auth.x", now - 3600, []webhooks.Secret{sec}, body, http.StatusUnauthorized, 0},
		{"id differs from the body's", "evm.1337.auth.y", now, []webhooks.Secret{sec}, body, http.StatusBadRequest, 0},
		{"not JSON", "evm.1337.auth.x", now, []webhooks.Secret{sec}, []byte("{"), http.StatusBadRequest, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := newTracker(AllKinds)
			h := receiver([]webhooks.Secret{sec}, tr)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, hookRequest(tc.id, strconv.FormatInt(tc.ts, 10), webhooks.Sign(tc.sign, tc.id, tc.ts, tc.body), tc.body))
			if w.Code != tc.want || tr.hooks[tc.id] != tc.counts {
				t.Errorf("got %d (counted %d), want %d (counted %d): %s", w.Code, tr.hooks[tc.id], tc.want, tc.counts, w.Body)
			}
			if strings.Contains(w.Body.String(), "whsec_") {
				t.Errorf("answer shows a secret: %s", w.Body)
			}
		})
	}
}

// FuzzReceiver: any delivery is answered without a panic, and only a
// correctly signed one is counted.
func FuzzReceiver(f *testing.F) {
	sec := testSecret(f)
	f.Add("evm.1", "1700000000", "v1,AAAA", []byte(`{"data":{"id":"evm.1"}}`))
	f.Add("", "", "", []byte(nil))
	f.Add("x", "-1", "v1,"+strings.Repeat("A", 44)+" v2,xx", []byte(`{"type":1}`))
	f.Fuzz(func(t *testing.T, id, ts, sig string, body []byte) {
		tr := newTracker(AllKinds)
		w := httptest.NewRecorder()
		receiver([]webhooks.Secret{sec}, tr).ServeHTTP(w, hookRequest(id, ts, sig, body))
		if w.Code == http.StatusNoContent || len(tr.hooks) != 0 {
			t.Fatalf("an unsigned delivery was accepted: %d %v", w.Code, tr.hooks)
		}
	})
}

// stub402 answers every request with a 402 carrying body and a PAYMENT-REQUIRED header.
type stub402 struct{ body string }

func (s stub402) RoundTrip(*http.Request) (*http.Response, error) {
	h := http.Header{}
	h.Set(h402.HeaderPaymentRequired, "eyJ4NDAyVmVyc2lvbiI6Mn0=")
	return &http.Response{StatusCode: http.StatusPaymentRequired, Header: h, Body: io.NopCloser(strings.NewReader(s.body))}, nil
}

// TestDialectTransport: an h402-only request sees the 402 without the x402
// v2 header and the body's x402 v1 marker; any other request sees it as sent.
func TestDialectTransport(t *testing.T) {
	body := `{"h402Version":1,"x402Version":1,"accepts":[{"scheme":"exact"}]}`
	d := dialectTransport{base: stub402{body: body}}
	for _, h402Request := range []bool{true, false} {
		ctx := context.Background()
		if h402Request {
			ctx = context.WithValue(ctx, h402Only{}, true)
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://shop.test/x", nil)
		resp, err := d.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		hasHeader := resp.Header.Get(h402.HeaderPaymentRequired) != ""
		hasV1 := strings.Contains(string(got), "x402Version")
		if hasHeader == h402Request || hasV1 == h402Request || !strings.Contains(string(got), `"h402Version":1`) {
			t.Errorf("h402 only %v: header %v, body %s", h402Request, hasHeader, got)
		}
	}
}

// FuzzDialectTransport: any 402 body passes through without a panic.
func FuzzDialectTransport(f *testing.F) {
	f.Add(`{"h402Version":1,"x402Version":1,"accepts":[]}`)
	f.Add(`[1,2]`)
	f.Add(``)
	f.Fuzz(func(t *testing.T, body string) {
		d := dialectTransport{base: stub402{body: body}}
		req, _ := http.NewRequestWithContext(context.WithValue(context.Background(), h402Only{}, true), http.MethodGet, "http://shop.test/x", nil)
		resp, err := d.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.Header.Get(h402.HeaderPaymentRequired) != "" {
			t.Fatal("the x402 v2 header reached an h402-only request")
		}
	})
}
