package events

import (
	"strings"
	"testing"
)

func TestWebhookSubjects(t *testing.T) {
	f, err := WebhookReceiptFilter("0xAbC0000000000000000000000000000000000001")
	if err != nil || f != "receipts.0xabc0000000000000000000000000000000000001.>" {
		t.Errorf("EVM filter = %q, %v; want the lowercased address (as ReceiptSubject writes it)", f, err)
	}
	if f, err := WebhookReceiptFilter("SoLPayTo1111"); err != nil || f != "receipts.SoLPayTo1111.>" {
		t.Errorf("Solana filter = %q, %v; want the address as is", f, err)
	}
	for _, bad := range []string{"", "a.b", "a*", "a>", strings.Repeat("x", 65)} {
		if err := CheckEndpointID(bad); err == nil {
			t.Errorf("CheckEndpointID(%q): no error", bad)
		}
		if _, err := WebhookLogSubject(bad); err == nil && len(bad) <= 64 {
			t.Errorf("WebhookLogSubject(%q): no error", bad)
		}
	}
	if s, err := WebhookLogSubject("shop-1"); err != nil || s != "webhooks.log.shop-1" {
		t.Errorf("log subject = %q, %v", s, err)
	}
}
