package seller

import (
	"strings"
	"testing"
)

func TestRouteMatch(t *testing.T) {
	tests := []struct {
		pattern, method, path string
		want                  bool
	}{
		{"GET /reports/*", "GET", "/reports/q1", true},
		{"GET /reports/*", "POST", "/reports/q1", false},
		{"GET /reports/*", "HEAD", "/reports/q1", true}, // as ServeMux routes HEAD to GET
		{"POST /reports/*", "HEAD", "/reports/q1", false},
		{"GET /reports/*", "GET", "/reports/2024/q1", false}, // * stays within a segment
		{"GET /reports/*", "GET", "/reports", false},
		{"/reports/*", "DELETE", "/reports/q1", true}, // no method: any
		{"GET /files/**", "GET", "/files", true},
		{"GET /files/**", "GET", "/files/a/b/c", true},
		{"GET /files/**", "GET", "/filesystem/a", false},
		{"GET /v?/items/*.json", "GET", "/v2/items/7.json", true},
		{"GET /v?/items/*.json", "GET", "/v2/items/7.xml", false},
		{"GET /**", "GET", "/anything/at/all", true},
		{"GET /exact", "GET", "/exact", true},
		{"GET /exact", "GET", "/exact/", false},
	}
	for _, tt := range tests {
		t.Run(tt.pattern+" "+tt.method+" "+tt.path, func(t *testing.T) {
			method, glob, err := parsePattern(tt.pattern)
			if err != nil {
				t.Fatal(err)
			}
			r := &route{method: method, path: glob}
			if got := r.match(tt.method, tt.path); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestRouteFirstMatchWins(t *testing.T) {
	routes := []*route{{Route: Route{Pattern: "a"}, method: "GET", path: "/reports/free"}, {Route: Route{Pattern: "b"}, method: "GET", path: "/reports/*"}}
	if r := routeFor(routes, "GET", "/reports/free"); r == nil || r.Pattern != "a" {
		t.Errorf("got %+v, want the first route", r)
	}
	if r := routeFor(routes, "GET", "/reports/x"); r == nil || r.Pattern != "b" {
		t.Errorf("got %+v, want the second route", r)
	}
	if r := routeFor(routes, "GET", "/other"); r != nil {
		t.Errorf("got %+v, want no route", r)
	}
}

func TestPatternErrors(t *testing.T) {
	for _, p := range []string{"", "reports/*", "get /x", "GET /a/**/b", "GET /[", "GET "} {
		if _, _, err := parsePattern(p); err == nil {
			t.Errorf("pattern %q: no error", p)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	good := func() Config {
		return Config{FacilitatorURL: "http://127.0.0.1:1", Routes: []Route{{Pattern: "GET /r/*", Offers: []Offer{testOffer()}}}}
	}
	if _, err := New(good()); err != nil {
		t.Fatalf("good config: %v", err)
	}
	tests := []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"no facilitator", func(c *Config) { c.FacilitatorURL = "" }, "facilitatorURL: must be an http(s) URL"},
		{"bad mode", func(c *Config) { c.Mode = "eventually" }, `mode: must be accepted, submitted or finalized (got "eventually")`},
		{"no offers", func(c *Config) { c.Routes[0].Offers = nil }, "routes[0].offers: a priced route needs at least one offer"},
		{"finer than decimals", func(c *Config) { c.Routes[0].Offers[0].Amount, c.Routes[0].Offers[0].Price = "", "0.0000001" }, `routes[0].offers[0].price: amount "0.0000001" has 7 fraction digits but the token has 6 decimals`},
		{"both prices", func(c *Config) { c.Routes[0].Offers[0].Price = "1" }, "routes[0].offers[0].price: set exactly one"},
		{"float-looking amount", func(c *Config) { c.Routes[0].Offers[0].Amount = "1e6" }, `routes[0].offers[0].amount:`},
		{"zero", func(c *Config) { c.Routes[0].Offers[0].Amount = "0" }, "routes[0].offers[0].price: must be more than zero"},
		{"no payTo", func(c *Config) { c.Routes[0].Offers[0].PayTo = "" }, "routes[0].offers[0].payTo: is required"},
		{"bad namespace", func(c *Config) { c.Routes[0].Offers[0].Namespace = "arkade" }, "routes[0].offers[0].namespace: must be evm or solana"},
		{"bad pattern", func(c *Config) { c.Routes[0].Pattern = "reports" }, "routes[0].pattern: the path must start with /"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := good()
			tt.change(&c)
			_, err := New(c)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestPriceIsExact(t *testing.T) {
	o := testOffer()
	o.Amount, o.Price = "", "0.123456"
	c, err := compileOffer(o)
	if err != nil {
		t.Fatal(err)
	}
	if c.amount.String() != "123456" {
		t.Errorf("0.123456 with 6 decimals: got %s smallest units, want 123456", c.amount)
	}
}
