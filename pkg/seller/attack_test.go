package seller

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
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
