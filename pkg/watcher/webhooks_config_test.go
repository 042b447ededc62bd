package watcher

import (
	"os"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// withWebhooks is the dev config with its watcher section's webhooks set
// from the YAML hooks.
func withWebhooks(t *testing.T, hooks string) []byte {
	t.Helper()
	b, err := os.ReadFile("../../configs/devnet.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc, h map[string]any
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal([]byte(hooks), &h); err != nil {
		t.Fatal(err)
	}
	w, _ := doc["watcher"].(map[string]any)
	if w == nil {
		w = map[string]any{}
		doc["watcher"] = w
	}
	if h != nil {
		w["webhooks"] = h
	} else {
		delete(w, "webhooks") // configs/devnet.yaml has one (the demo seller's)
	}
	out, err := yaml.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestWebhooksSection: watcher.webhooks is read with defaults, and a bad
// endpoint is named.
func TestWebhooksSection(t *testing.T) {
	none := func(k string) (string, bool) {
		if strings.HasSuffix(k, "PASSWORD") {
			return "x", true
		}
		return "", false
	}
	f, err := ParseFile(withWebhooks(t, `
    endpoints:
      - id: shop-1
        url: https://shop.example/hook
        sellers: ["0xAbC0000000000000000000000000000000000001"]
        secrets:
          - secretEnv: SHOP1_SECRET
            expiresAt: 2026-12-31T00:00:00Z
          - secretFile: /run/secrets/shop1
`), none)
	if err != nil {
		t.Fatal(err)
	}
	h := f.Watcher.Webhooks
	if h == nil || len(h.Endpoints) != 1 || len(h.Schedule) != 10 || time.Duration(h.Schedule[1]) != 5*time.Second ||
		h.Endpoints[0].Secrets[0].ExpiresAt == nil || h.Endpoints[0].Secrets[1].SecretFile == "" {
		t.Fatalf("webhooks section: %+v", h)
	}
	if f, err := ParseFile(withWebhooks(t, ""), none); err != nil || f.Watcher.Webhooks != nil {
		t.Errorf("no webhooks section: %v, %+v", err, f)
	}
	_, err = ParseFile(withWebhooks(t, `
    endpoints:
      - {id: "a.b", url: "ftp://x", sellers: ["0x1"], secrets: [{secret: whsec_xx}]}
`), none)
	if err == nil || !strings.Contains(err.Error(), "watcher.webhooks.endpoints[0]") || strings.Contains(err.Error(), "whsec_xx") {
		t.Errorf("bad endpoint: %v, want it named (and no secret shown)", err)
	}
}
