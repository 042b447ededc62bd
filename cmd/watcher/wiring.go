package main

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/h402/settlement/pkg/chains"
	"github.com/h402/settlement/pkg/chains/evm"
	"github.com/h402/settlement/pkg/chains/solana"
	"github.com/h402/settlement/pkg/config"
	"github.com/h402/settlement/pkg/failover"
	"github.com/h402/settlement/pkg/h402"
)

// DefaultConfirmers builds the confirmers this binary carries.
func DefaultConfirmers() map[h402.Namespace]NewConfirmer {
	return map[h402.Namespace]NewConfirmer{
		h402.NamespaceEVM: func(ctx context.Context, n *config.Network, env *Env) (chains.Confirmer, error) {
			pool, err := evm.Dial(ctx, n, failover.Settings{Metrics: env.Failover})
			if err != nil {
				return nil, err
			}
			return evm.NewConfirmer(n, pool, evm.ConfirmerOptions{})
		},
		h402.NamespaceSolana: func(_ context.Context, n *config.Network, env *Env) (chains.Confirmer, error) {
			pool, err := solana.Dial(n, failover.Settings{Metrics: env.Failover})
			if err != nil {
				return nil, err
			}
			return solana.NewConfirmer(n, pool, solana.ConfirmOptions{})
		},
	}
}

func (m *Main) startLedger(ctx context.Context, log *slog.Logger) ([]func(*http.ServeMux), error) {
	return nil, nil
}
