package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/h402/settlement/pkg/chains"
	"github.com/h402/settlement/pkg/chains/evm"
	"github.com/h402/settlement/pkg/chains/solana"
	"github.com/h402/settlement/pkg/config"
	"github.com/h402/settlement/pkg/failover"
	"github.com/h402/settlement/pkg/h402"
	"github.com/h402/settlement/pkg/ledger"
	"github.com/h402/settlement/pkg/statuspage"
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

// startLedger opens this process's ledger file, checks it belongs to
// this event log, follows the streams into it, and returns the mount of
// its HTTP API and the status page. LedgerPath "off" runs none.
func (m *Main) startLedger(ctx context.Context, log *slog.Logger) ([]func(*http.ServeMux), error) {
	path := m.File.Watcher.LedgerPath
	if path == "off" {
		return nil, nil
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("ledger: %w", err)
		}
	}
	l, err := ledger.Open(path, ledger.Options{Logger: log, Timeout: 5 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("ledger %s: %w", path, err)
	}
	if _, err := ledger.CheckStreams(ctx, m.conn.JS, l); err != nil {
		_ = l.Close()
		return nil, fmt.Errorf("ledger %s: %w", path, err)
	}
	followCtx, stopFollow := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := ledger.Follow(followCtx, m.conn.JS, l); err != nil {
			log.Error("ledger stopped following the streams", "err", err)
		}
	}()
	m.closers = append(m.closers, func() error {
		stopFollow()
		<-done
		return l.Close()
	})
	status := statuspage.Handler(l, statuspage.Options{Logger: log})
	return []func(*http.ServeMux){func(mux *http.ServeMux) {
		mux.Handle("/ledger/", ledger.Handler(l))
		// The status page, and / sends a browser to it.
		mux.Handle("GET /status", status)
		mux.Handle("GET /{$}", status)
	}}, nil
}
