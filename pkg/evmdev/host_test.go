package evmdev

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestHostServesContainerNetwork: on loopback (the default) the node answers
// only Host: localhost or an IP, as geth does; with Host 0.0.0.0 (the
// devnet service of docker-compose.yml) it answers a call that names it by
// a service name, as the other containers do.
func TestHostServesContainerNetwork(t *testing.T) {
	for _, tc := range []struct {
		host       string
		wantStatus int
	}{
		{"", http.StatusForbidden},
		{"0.0.0.0", http.StatusOK},
	} {
		t.Run("host="+tc.host, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			c, err := Start(ctx, Config{Host: tc.host})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			u, err := url.Parse(c.URL())
			if err != nil {
				t.Fatal(err)
			}
			if u.Hostname() != "127.0.0.1" {
				t.Errorf("URL %s, want a dialable 127.0.0.1", c.URL())
			}
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.URL(), strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}`))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/json")
			req.Host = "devnet:" + u.Port()
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("Host %s: status %d (%s), want %d", req.Host, resp.StatusCode, body, tc.wantStatus)
			}
			if tc.wantStatus == http.StatusOK && !strings.Contains(string(body), `"result":"0x539"`) {
				t.Errorf("eth_chainId: got %s, want 0x539 (1337)", body)
			}
		})
	}
}
