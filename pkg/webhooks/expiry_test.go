package webhooks_test

import (
	"strings"
	"testing"
	"time"

	"github.com/h402/settlement/pkg/webhooks"
)

// TestEverySecretExpiring: an endpoint whose every secret has an expiresAt
// is refused (config file and admin API). Once they all expired nothing
// could sign: each receipt would be put back every minute, each time using
// up one of the consumer's MaxDeliver deliveries (schedule + 5), so after
// a quarter of an hour the server drops it without a log record, and the
// ones that survive come back with their schedule spent. A rotation keeps
// the newest secret without an expiry.
func TestEverySecretExpiring(t *testing.T) {
	soon := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	later := soon.Add(time.Hour)
	const other = "whsec_c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI="
	for _, tc := range []struct {
		name    string
		secrets []webhooks.SecretSpec
		ok      bool
	}{
		{"one, no expiry", []webhooks.SecretSpec{{Secret: testSecret}}, true},
		{"rotation", []webhooks.SecretSpec{{Secret: testSecret, ExpiresAt: &soon}, {Secret: other}}, true},
		{"one, expiring", []webhooks.SecretSpec{{Secret: testSecret, ExpiresAt: &soon}}, false},
		{"all expiring", []webhooks.SecretSpec{{Secret: testSecret, ExpiresAt: &soon}, {Secret: other, ExpiresAt: &later}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := webhooks.Endpoint{ID: "shop", URL: "https://shop.example/hooks", Sellers: []string{seller}, Secrets: tc.secrets}
			cfg := webhooks.Config{Endpoints: []webhooks.Endpoint{e}}
			cfg.Default()
			err := cfg.Validate()
			if tc.ok != (err == nil) {
				t.Errorf("config: got %v, want ok=%v", err, tc.ok)
			}
			if err != nil && !strings.Contains(err.Error(), "expiresAt") {
				t.Errorf("config error %q: want it to name expiresAt", err)
			}
			b := `{"id":"shop","url":"https://shop.example/hooks","sellers":["` + seller + `"],"secrets":[`
			for i, s := range tc.secrets {
				if i > 0 {
					b += ","
				}
				b += `{"secret":"` + s.Secret + `"`
				if s.ExpiresAt != nil {
					b += `,"expiresAt":"` + s.ExpiresAt.Format(time.RFC3339) + `"`
				}
				b += `}`
			}
			b += `]}`
			if _, err := webhooks.DecodeEndpoint([]byte(b)); tc.ok != (err == nil) {
				t.Errorf("API body: got %v, want ok=%v", err, tc.ok)
			}
		})
	}
}
