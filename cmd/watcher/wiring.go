package main

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/h402/settlement/pkg/h402"
)

// DefaultConfirmers builds the confirmers this binary carries.
func DefaultConfirmers() map[h402.Namespace]NewConfirmer { return map[h402.Namespace]NewConfirmer{} }

func (m *Main) startLedger(ctx context.Context, log *slog.Logger) ([]func(*http.ServeMux), error) {
	return nil, nil
}
