package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient"

	"github.com/h402/settlement/pkg/chains"
	"github.com/h402/settlement/pkg/chains/evm"
	"github.com/h402/settlement/pkg/config"
	"github.com/h402/settlement/pkg/events"
	"github.com/h402/settlement/pkg/failover"
	"github.com/h402/settlement/pkg/h402"
	"github.com/h402/settlement/pkg/lease"
)

// EnvEVMSignerKeys holds EVM facilitator signing keys (hex, separated by
// commas or white space), in addition to settler.evmSignerKeysFile.
const EnvEVMSignerKeys = "H402_EVM_SIGNER_KEYS"

// newEVMSubmitter leases one of the configured signing keys for this
// network (no two processes ever sign with one key on one chain), builds the
// batch submitter with it, and replaces stuck transactions on new heads.
// A lease lost on the way (a NATS outage longer than settler.leaseTTL) is
// re-acquired with backoff and a new submitter is built for the key it
// gets; meanwhile every batch is retried (metric h402_lease_held is 0).
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
	leases, err := lease.Open(ctx, env.Conn.JS, lease.Config{
		TTL:      time.Duration(env.File.Settler.LeaseTTL),
		Replicas: env.Conn.Streams.Replicas,
		Logger:   env.Logger,
	})
	if err != nil {
		return nil, err
	}
	candidates := make([]lease.Key, len(keys))
	for i, k := range keys {
		addr := strings.ToLower(crypto.PubkeyToAddress(k.PublicKey).Hex())
		candidates[i] = lease.Key{ID: "evm." + n.NetworkID + "." + addr, Secret: k}
	}
	multicall := evm.CanonicalMulticall3
	if n.Multicall != "" {
		multicall = common.HexToAddress(n.Multicall)
	}
	ls := &leasedEVM{network: "evm." + n.NetworkID}
	keepCtx, stopKeeping := context.WithCancel(env.Life)
	keeper := leases.Keep(keepCtx, candidates, holderName(env.File.Settler.Replica), lease.KeepOptions{
		Network: ls.network,
		Metrics: env.LeaseMetrics,
		OnAcquire: func(_ context.Context, l *lease.Lease) error {
			sub, err := evm.NewSubmitter(n, pool, l.Key().Secret.(*ecdsa.PrivateKey), evm.SubmitterOptions{
				Multicall:  multicall,
				Broadcasts: env.File.Settler.Parallel,
				CanSign:    l.Check, // also asked right before every broadcast
				Metrics:    env.EVMMetrics,
				Logger:     env.Logger,
			})
			if err != nil {
				return err
			}
			ls.cur.Store(&leasedSub{lease: l, sub: sub})
			env.Logger.Info("evm submitter ready", "network", ls.network, "signer", sub.Address().Hex(), "multicall", multicall.Hex())
			return nil
		},
	})
	env.AtClose(func() {
		stopKeeping()
		<-keeper.Done() // releases the lease
	})
	// Start-up stops when no key is free (more replicas than keys), as
	// before; a lease lost later is re-acquired.
	if err := keeper.First(ctx); err != nil {
		stopKeeping()
		<-keeper.Done()
		return nil, fmt.Errorf("lease a signing key: %w", err)
	}
	poll := time.Duration(n.Finality.PollInterval)
	go replaceStuck(env.Life, ls, pool, poll, env)
	return ls, nil
}

// holderName names this process incarnation as a lease holder: the replica
// name and a random part, so that a restarted process (or a second one
// misconfigured with the same replica name) never passes for another.
func holderName(replica string) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return replica + "." + hex.EncodeToString(b[:])
}

// leasedSub is a submitter and the lease its key is held under.
type leasedSub struct {
	lease *lease.Lease
	sub   *evm.Submitter
}

// leasedEVM is the network's submitter across lease losses: it settles with
// the submitter of the lease currently held, and answers "key lost"
// (retryable) while none is.
type leasedEVM struct {
	network string
	cur     atomic.Pointer[leasedSub]
}

var _ chains.Submitter = (*leasedEVM)(nil)

// Namespace returns evm.
func (*leasedEVM) Namespace() h402.Namespace { return h402.NamespaceEVM }

// current is the submitter whose lease is held (with that lease), or nil.
func (ls *leasedEVM) current() *leasedSub {
	p := ls.cur.Load()
	if p == nil || p.lease.Check() != nil {
		return nil
	}
	return p
}

// Submit settles with the current lease's submitter.
func (ls *leasedEVM) Submit(ctx context.Context, batch []*events.PaymentAccepted, claims chains.Claims) ([]chains.Result, error) {
	cur := ls.current()
	if cur == nil {
		err := fmt.Errorf("%w: %s: %w", evm.ErrKeyLost, ls.network, lease.ErrLost)
		results := make([]chains.Result, len(batch))
		for i, e := range batch {
			if e != nil {
				results[i].ID = e.ID
			}
			results[i].Err = err
		}
		return results, err
	}
	return cur.sub.Submit(ctx, batch, claims)
}

// replaceStuck asks the current submitter, on every new head, to replace
// its transactions that have waited too long; after every lease taken
// (start-up, re-acquisition), until it succeeds once, it first walks the
// key's pending nonces (a previous holder's transactions).
func replaceStuck(ctx context.Context, ls *leasedEVM, pool *evm.Pool, every time.Duration, env *SubmitterEnv) {
	var adopted *leasedSub // the lease whose pending nonces were walked
	chains.FollowHeads(ctx, every, func(ctx context.Context) (uint64, error) {
		return failover.Do(ctx, pool, "eth_blockNumber", func(ctx context.Context, c *ethclient.Client) (uint64, error) {
			return c.BlockNumber(ctx)
		})
	}, func(ctx context.Context, head uint64) {
		cur := ls.current() // one load: the lease walked is the submitter's
		if cur == nil {
			return
		}
		sub := cur.sub
		if env.Claims != nil && adopted != cur {
			reps, err := sub.AdoptPending(ctx, env.Claims)
			if err != nil {
				env.Logger.Warn("adopt pending transactions of the signing key", "err", err)
			} else {
				adopted = cur
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
