package main

import (
	"context"
	"crypto/ecdsa"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient"

	"github.com/h402/settlement/pkg/chains"
	"github.com/h402/settlement/pkg/chains/evm"
	"github.com/h402/settlement/pkg/config"
	"github.com/h402/settlement/pkg/failover"
	"github.com/h402/settlement/pkg/lease"
)

// EnvEVMSignerKeys holds EVM facilitator signing keys (hex, separated by
// commas or white space), in addition to settler.evmSignerKeysFile.
const EnvEVMSignerKeys = "H402_EVM_SIGNER_KEYS"

// newEVMSubmitter leases one of the configured signing keys for this
// network (no two processes ever sign with one key on one chain), builds the
// batch submitter with it, and replaces stuck transactions on new heads.
func newEVMSubmitter(ctx context.Context, n *config.Network, env *SubmitterEnv) (chains.Submitter, error) {
	keys, err := loadEVMKeys(env.File.Settler.EVMSignerKeysFile, env.LookupEnv)
	if err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("no EVM signing keys: set settler.evmSignerKeysFile or %s", EnvEVMSignerKeys)
	}
	pool, err := evm.Dial(ctx, n, failover.Settings{Metrics: env.Failover})
	if err != nil {
		return nil, err
	}
	leases, err := lease.Open(ctx, env.Conn.JS, lease.Config{Replicas: env.Conn.Streams.Replicas, Logger: env.Logger})
	if err != nil {
		return nil, err
	}
	candidates := make([]lease.Key, len(keys))
	for i, k := range keys {
		addr := strings.ToLower(crypto.PubkeyToAddress(k.PublicKey).Hex())
		candidates[i] = lease.Key{ID: "evm." + n.NetworkID + "." + addr, Secret: k}
	}
	l, err := leases.Acquire(env.Life, candidates, env.File.Settler.Replica)
	if err != nil {
		return nil, fmt.Errorf("lease a signing key: %w", err)
	}
	env.AtClose(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = l.Release(ctx)
	})
	multicall := evm.CanonicalMulticall3
	if n.Multicall != "" {
		multicall = common.HexToAddress(n.Multicall)
	}
	sub, err := evm.NewSubmitter(n, pool, l.Key().Secret.(*ecdsa.PrivateKey), evm.SubmitterOptions{
		Multicall:  multicall,
		Broadcasts: env.File.Settler.Parallel,
		CanSign:    l.Check,
		Metrics:    env.EVMMetrics,
		Logger:     env.Logger,
	})
	if err != nil {
		return nil, err
	}
	poll := time.Duration(n.Finality.PollInterval)
	go replaceStuck(env.Life, sub, pool, poll, env)
	env.Logger.Info("evm submitter ready", "network", "evm."+n.NetworkID, "signer", sub.Address().Hex(), "multicall", multicall.Hex())
	return sub, nil
}

// replaceStuck asks the submitter, on every new head, to replace its
// transactions that have waited too long; until it succeeds once, it first
// walks the key's pending nonces (a previous holder's transactions).
func replaceStuck(ctx context.Context, sub *evm.Submitter, pool *evm.Pool, every time.Duration, env *SubmitterEnv) {
	adopted := env.Claims == nil
	chains.FollowHeads(ctx, every, func(ctx context.Context) (uint64, error) {
		return failover.Do(ctx, pool, "eth_blockNumber", func(ctx context.Context, c *ethclient.Client) (uint64, error) {
			return c.BlockNumber(ctx)
		})
	}, func(ctx context.Context, head uint64) {
		if !adopted {
			reps, err := sub.AdoptPending(ctx, env.Claims)
			if err != nil {
				env.Logger.Warn("adopt pending transactions of the signing key", "err", err)
			} else {
				adopted = true
			}
			for _, r := range reps {
				env.Logger.Info("predecessor's pending transaction replaced", "tx_hash", r.Tx.Hash, "replaces", r.Tx.Replaces, "payments", len(r.PaymentIDs))
			}
		}
		reps, err := sub.ReplaceStuck(ctx, head)
		if err != nil {
			env.Logger.Warn("replace stuck transactions", "err", err)
		}
		for _, r := range reps {
			env.Logger.Info("stuck transaction replaced", "tx_hash", r.Tx.Hash, "replaces", r.Tx.Replaces, "payments", len(r.PaymentIDs))
		}
	})
}

// loadEVMKeys reads hex private keys from the key file (one per line, blank
// lines and # comments ignored) and the environment. Errors never contain
// key material.
func loadEVMKeys(file string, lookup func(string) (string, bool)) ([]*ecdsa.PrivateKey, error) {
	var out []*ecdsa.PrivateKey
	parse := func(where string, s string) error {
		k, err := crypto.HexToECDSA(strings.TrimPrefix(strings.TrimSpace(s), "0x"))
		if err != nil {
			return fmt.Errorf("%s: not a hex secp256k1 private key", where)
		}
		out = append(out, k)
		return nil
	}
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("settler.evmSignerKeysFile: %w", err)
		}
		for i, line := range strings.Split(string(b), "\n") {
			line = strings.TrimSpace(line)
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			if err := parse(fmt.Sprintf("settler.evmSignerKeysFile line %d", i+1), line); err != nil {
				return nil, err
			}
		}
	}
	if v, ok := lookup(EnvEVMSignerKeys); ok {
		for i, f := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\t' }) {
			if err := parse(fmt.Sprintf("%s key %d", EnvEVMSignerKeys, i+1), f); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}
