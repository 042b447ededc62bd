package failover_test

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/h402/settlement/pkg/failover"
)

func TestRedactURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"https://eth-mainnet.g.alchemy.com/v2/AbCdEf0123456789AbCdEf0123456789", "https://eth-mainnet.g.alchemy.com/v2/…"},
		{"https://mainnet.infura.io/v3/0123456789abcdef0123456789abcdef", "https://mainnet.infura.io/v3/…"},
		{"https://rpc.example/?api-key=s3cr3t&x=1", "https://rpc.example?api-key=…&x=…"},
		{"https://user:pass@rpc.example/rpc", "https://rpc.example/rpc"},
		{"wss://node.example/ws/k3y9", "wss://node.example/ws/…"},
		{"http://127.0.0.1:8545", "http://127.0.0.1:8545"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := failover.RedactURL(tt.in); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestRedactKeepsChain(t *testing.T) {
	inner := &url.Error{Op: "Post", URL: "https://rpc.example/v3/0123456789abcdef0123456789abcdef", Err: context.DeadlineExceeded}
	err := failover.Redact(inner)
	if strings.Contains(err.Error(), "0123456789abcdef") {
		t.Errorf("got %q, want the key redacted", err)
	}
	var ue *url.Error
	if !errors.As(err, &ue) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("got %v, want the chain kept for errors.Is/As", err)
	}
}
