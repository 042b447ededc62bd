package seller

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/h402/settlement/pkg/h402"
)

// TestEncodedPathsArePriced: the route globs must price every request the
// router would hand to the priced handler. net/http's ServeMux matches the
// escaped path segment by segment (%2F is not a separator, %65 is "e"),
// while r.URL.Path is fully decoded.
func TestEncodedPathsArePriced(t *testing.T) {
	mw, err := New(Config{
		FacilitatorURL: "http://127.0.0.1:1",
		Routes: []Route{
			{Pattern: "GET /reports/*", Offers: []Offer{testOffer()}},
			{Pattern: "GET /files/*/raw", Offers: []Offer{testOffer()}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	var served atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("GET /reports/{id}", func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		fmt.Fprintf(w, "report %q", r.PathValue("id"))
	})
	mux.HandleFunc("GET /files/{name}/raw", func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		fmt.Fprintf(w, "file %q", r.PathValue("name"))
	})
	srv := httptest.NewServer(mw.Wrap(mux))
	t.Cleanup(srv.Close)
	for _, p := range []string{
		"/reports/q1",
		"/reports/q1%2F",
		"/reports/a%2Fb",
		"/r%65ports/a%2Fb",
		"/reports/%2E%2E%2Fadmin",
		"/files/a%2Fb/raw",
		"/files/x/r%61w",
	} {
		t.Run(p, func(t *testing.T) {
			before := served.Load()
			resp, err := http.Get(srv.URL + p)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusPaymentRequired || served.Load() != before {
				t.Errorf("GET %s: got %d %q with the handler run %d times, want 402 and no run", p, resp.StatusCode, strings.TrimSpace(string(b)), served.Load()-before)
			}
		})
	}
}

// TestServeMuxWildcardsRefused: "GET /reports/{id}" is how ServeMux
// patterns read, but as a glob it matches only the literal "/reports/{id}":
// a route that prices nothing, its content served free.
func TestServeMuxWildcardsRefused(t *testing.T) {
	for _, p := range []string{"GET /reports/{id}", "/files/{path...}", "/a/{$}"} {
		_, err := New(Config{FacilitatorURL: "http://127.0.0.1:1", Routes: []Route{{Pattern: p, Offers: []Offer{testOffer()}}}})
		if err == nil || !strings.Contains(err.Error(), "routes[0].pattern") {
			t.Errorf("pattern %q: got %v, want a routes[0].pattern error", p, err)
		}
	}
}

// TestInformationalStatusIsNotTheAnswer: a handler sending 103 Early Hints
// and then failing must not be settled as if it succeeded.
func TestInformationalStatusIsNotTheAnswer(t *testing.T) {
	fac := &facilitatorScript{verify: validVerify, settle: acceptedSettle}
	s := newTestShop(t, fac, nil, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Link", "</style.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, "no such report")
	})
	resp, body := s.get(t, "/reports/q1", h402.HeaderPaymentSig, s.v2Payment(t, "/reports/q1"))
	if resp.StatusCode != http.StatusNotFound || body != "no such report" {
		t.Errorf("got %d %q, want 404 %q", resp.StatusCode, body, "no such report")
	}
	if n := fac.count("/settle"); n != 0 {
		t.Errorf("settled %d times a request whose handler answered 404, want 0", n)
	}
}

// TestInvalidStatusFailsBeforeSettling: net/http panics on WriteHeader(42);
// the buffer must too, in the handler, and not after the payment is
// settled when the buffered answer is written.
func TestInvalidStatusFailsBeforeSettling(t *testing.T) {
	fac := &facilitatorScript{verify: validVerify, settle: acceptedSettle}
	s := newTestShop(t, fac, nil, func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(42)
		_, _ = io.WriteString(w, "the report")
	})
	req, _ := http.NewRequest(http.MethodGet, s.srv.URL+"/reports/q1", nil)
	req.Header.Set(h402.HeaderPaymentSig, s.v2Payment(t, "/reports/q1"))
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close() // the server aborts the connection: no answer
	}
	if n := fac.count("/settle"); n != 0 {
		t.Errorf("settled %d times a request whose handler never answered, want 0", n)
	}
}

// FuzzSegmentPath: any escaped path decodes without panicking, and one
// without escapes reads the same as r.URL.Path.
func FuzzSegmentPath(f *testing.F) {
	for _, s := range []string{"/reports/q1", "/reports/a%2Fb", "/r%65ports/%2E%2E%2Fadmin", "/%zz/x", "//a//", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		got := segmentPath(p)
		if !strings.Contains(p, "%") && got != p {
			t.Errorf("segmentPath(%q) = %q, want it unchanged", p, got)
		}
	})
}
