package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	solanago "github.com/gagliardetto/solana-go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/h402/settlement/pkg/chains"
	"github.com/h402/settlement/pkg/chains/evm"
	"github.com/h402/settlement/pkg/chains/solana"
	"github.com/h402/settlement/pkg/config"
	"github.com/h402/settlement/pkg/eventlog"
	"github.com/h402/settlement/pkg/failover"
	"github.com/h402/settlement/pkg/h402"
	"github.com/h402/settlement/pkg/lease"
	"github.com/h402/settlement/pkg/settler"
)

// ErrEVMNotBuiltIn is Run's error when an EVM network is configured but no
// EVM submitter is registered (a Main whose Submitters leave it out).
var ErrEVMNotBuiltIn = errors.New("EVM settlement is not built into this binary yet")

// SubmitterEnv is what a submitter constructor may use.
type SubmitterEnv struct {
	// File is the whole settler config (File.Settler.Parallel, key files...).
	File *settler.File
	// Registry takes the submitter's own metrics; Failover is the shared
	// RPC breaker metrics (register it once per process).
	Registry prometheus.Registerer
	Failover *failover.Metrics
	// EVMMetrics are the EVM submitters' series (shared by every EVM network).
	EVMMetrics *evm.SubmitMetrics
	// LeaseMetrics are the signing-key lease series (held, lost, acquired).
	LeaseMetrics *lease.Metrics
	Logger       *slog.Logger
	// LookupEnv reads secrets (private keys) from the environment.
	LookupEnv func(string) (string, bool)
	// Conn is the event log (JetStream, for example for KV key leases).
	Conn *eventlog.Conn
	// Claims is the claims bucket (an EVM submitter walks its key's pending
	// nonces through it on start).
	Claims *settler.Claims
	// Life lives until Close: background work of a submitter (lease
	// renewal, replacing stuck transactions) runs under it.
	Life context.Context
	// AtClose registers work for Close, after the loops have stopped (for
	// example releasing a signing-key lease).
	AtClose func(func())
}

// NewSubmitter builds the submitter of one configured network.
type NewSubmitter func(ctx context.Context, n *config.Network, env *SubmitterEnv) (chains.Submitter, error)

// DefaultSubmitters are the chain families built into this binary.
func DefaultSubmitters() map[h402.Namespace]NewSubmitter {
	return map[h402.Namespace]NewSubmitter{
		h402.NamespaceSolana: newSolanaSubmitter,
		h402.NamespaceEVM:    newEVMSubmitter,
	}
}

// newSolanaSubmitter dials the network's RPC endpoints and loads the
// private keys of its configured fee payers.
func newSolanaSubmitter(_ context.Context, n *config.Network, env *SubmitterEnv) (chains.Submitter, error) {
	keys, err := solanaFeePayerKeys(n, env.File.Settler.SolanaFeePayerKeysFile, env.LookupEnv)
	if err != nil {
		return nil, err
	}
	pool, err := solana.Dial(n, failover.Settings{Metrics: env.Failover})
	if err != nil {
		return nil, err
	}
	sub, err := solana.NewSubmitter(n, pool, solana.SubmitOptions{FeePayers: keys, Parallel: env.File.Settler.Parallel, Policy: env.File.Verify})
	if err != nil {
		return nil, err
	}
	env.Logger.Info("solana submitter ready", "network", string(n.Namespace)+"."+n.NetworkID, "fee_payers", len(keys), "rpc_endpoints", len(n.RPC))
	return sub, nil
}

// solanaFeePayerKeys returns the private keys of n's fee payers from the
// key file and the environment. Keys of other networks' fee payers are ignored.
func solanaFeePayerKeys(n *config.Network, file string, lookup func(string) (string, bool)) ([]solanago.PrivateKey, error) {
	if len(n.FeePayers) == 0 {
		return nil, nil
	}
	all, err := loadSolanaKeys(file, lookup)
	if err != nil {
		return nil, err
	}
	var out []solanago.PrivateKey
	for _, k := range all {
		if n.IsFeePayer(k.PublicKey().String()) {
			out = append(out, k)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("network %s lists fee payers but no private key for them was given (settler.solanaFeePayerKeysFile or %s)", n.NetworkID, EnvSolanaFeePayerKeys)
	}
	return out, nil
}
