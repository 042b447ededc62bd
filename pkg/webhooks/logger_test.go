package webhooks_test

import (
	"log/slog"
	"os"
)

// testLogger logs to stderr when H402_TEST_LOG is set (debugging a test).
func testLogger() *slog.Logger {
	if os.Getenv("H402_TEST_LOG") == "" {
		return nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
