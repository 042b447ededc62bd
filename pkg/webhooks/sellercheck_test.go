package webhooks_test

import (
	"strings"
	"testing"

	"github.com/h402/settlement/pkg/webhooks"
)

// TestSellerAddressesChecked: an endpoint is refused a seller no receipt
// could name (its receipts would never come, silently), with a sentence
// saying why; EVM and Solana addresses as receipts write them are taken.
func TestSellerAddressesChecked(t *testing.T) {
	for _, tc := range []struct {
		seller, err string
	}{
		{"0xAbCdEf0000000000000000000000000000000001", ""},
		{"0xabcdef0000000000000000000000000000000001", ""},
		{"9WzDXwBbmkg8ZTbNMqUxvQRAyrZzDsGYdLVL9zYtAWWM", ""},
		{"abcdef0000000000000000000000000000000001", "write an EVM address with its 0x"},
		{"0xabc", "is not an EVM address"},
		{"0xabcdef00000000000000000000000000000000zz", "is not an EVM address"},
		{"9WzDXwBbmkg8ZTbNMqUxvQRAyrZzDsGY", "nor a Solana address"},
		{"not-an-address", "nor a Solana address"},
	} {
		e := webhooks.Endpoint{ID: "shop", URL: "https://shop.example/hooks", Sellers: []string{tc.seller},
			Secrets: []webhooks.SecretSpec{{Secret: testSecret}}}
		err := e.Check(false)
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("%s: refused: %v", tc.seller, err)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%s: got %v, want an error saying %q", tc.seller, err, tc.err)
		}
	}
}
