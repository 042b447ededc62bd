package soldev

import (
	"context"
	"testing"
)

// StartT starts a Localnet for a test, fails the test (never skips it) if
// that is impossible, and stops the localnet when the test ends.
func StartT(t testing.TB, cfg Config) *Localnet {
	t.Helper()
	ln, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatalf("start Solana localnet: %v", err)
	}
	t.Cleanup(func() {
		if err := ln.Close(); err != nil {
			t.Errorf("stop Solana localnet: %v", err)
		}
	})
	return ln
}
