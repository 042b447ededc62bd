package eventlog

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// TestUnavailable: what Open waits out (the cluster cannot answer yet)
// and what it reports at once (the server refuses the request).
func TestUnavailable(t *testing.T) {
	api := func(code int, errCode jetstream.ErrorCode) error {
		return fmt.Errorf("ensure stream PAYMENTS: %w", &jetstream.APIError{Code: code, ErrorCode: errCode, Description: "x"})
	}
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"timeout", fmt.Errorf("ensure: %w", context.DeadlineExceeded), true},
		{"no responders", nats.ErrNoResponders, true},
		{"JetStream not enabled (client)", jetstream.ErrJetStreamNotEnabled, true},
		{"JetStream not enabled (server, 10076)", api(503, 10076), true},
		{"cluster not available", api(503, 10008), true},
		{"no peers for placement", api(400, 10005), true},
		{"not leader", api(500, 10009), true},
		{"storage cannot change", api(500, 10052), false},
		{"update refused", api(500, 10069), false},
		{"storage resources exceeded", api(500, 10047), false},
		{"insufficient resources", api(503, 10023), false},
		{"subject overlap", api(400, 10065), false},
		{"other", errors.New("boom"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := unavailable(tc.err); got != tc.want {
				t.Fatalf("unavailable(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}
