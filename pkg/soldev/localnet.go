package soldev

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/gagliardetto/solana-go"
	"github.com/gagliardetto/solana-go/rpc"
)

// Localnet is a running local Solana chain. Close stops it.
type Localnet struct {
	// Mints are the genesis USDC-like SPL mint and Token-2022 mint.
	Mints Mints
	// Manifest is the server's manifest as printed at start-up.
	Manifest *Manifest

	rawManifest json.RawMessage
	proc        *process
	rpc         *rpc.Client
	startup     time.Duration
}

// Start launches the localnet server (running `npm ci` first when
// localnet/node_modules is missing) and returns once it serves RPC. ctx
// bounds start-up only; the server runs until Close. A missing node or npm is
// an error, never a skip.
func Start(ctx context.Context, cfg Config) (*Localnet, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("soldev: config: %w", err)
	}
	cfg = cfg.withDefaults()
	ctx, cancel := context.WithTimeout(ctx, cfg.StartTimeout)
	defer cancel()

	tools, err := findTools(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if err := ensureDeps(ctx, tools); err != nil {
		return nil, err
	}
	t1 := time.Now()
	proc, manifestLine, err := startProcess(ctx, tools, cfg)
	if err != nil {
		return nil, err
	}
	m, err := ParseManifest(manifestLine)
	if err != nil {
		_ = proc.close()
		return nil, fmt.Errorf("soldev: %w", err)
	}
	ln := &Localnet{Mints: m.Mints, Manifest: m, rawManifest: manifestLine, proc: proc, rpc: rpc.New(m.RPCURL)}
	if _, err := ln.rpc.GetHealth(ctx); err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("soldev: localnet at %s does not answer getHealth: %w%s", m.RPCURL, err, proc.logTail())
	}
	ln.startup = time.Since(t1)
	return ln, nil
}

// URL is the JSON-RPC endpoint, http://127.0.0.1:<port>.
func (l *Localnet) URL() string { return l.Manifest.RPCURL }

// RPC is a solana-go client for the localnet.
func (l *Localnet) RPC() *rpc.Client { return l.rpc }

// StartupDuration is how long the server took from process start to serving
// RPC (after any `npm ci`).
func (l *Localnet) StartupDuration() time.Duration { return l.startup }

// Payers are funded keypairs (100 SOL) holding 1,000,000 tokens of each mint
// in their associated token accounts.
func (l *Localnet) Payers() []solana.PrivateKey {
	out := make([]solana.PrivateKey, len(l.Manifest.Payers))
	for i, p := range l.Manifest.Payers {
		out[i] = p.PrivateKey
	}
	return out
}

// Seller is the payee; its associated token accounts on both mints exist (empty).
func (l *Localnet) Seller() solana.PublicKey { return l.Manifest.Seller.PublicKey }

// SellerKey is the seller's keypair (local dev key).
func (l *Localnet) SellerKey() solana.PrivateKey { return l.Manifest.Seller.PrivateKey }

// FeePayers are funded keypairs (100 SOL) for a facilitator that pays fees.
func (l *Localnet) FeePayers() []solana.PrivateKey {
	out := make([]solana.PrivateKey, len(l.Manifest.FeePayers))
	for i, p := range l.Manifest.FeePayers {
		out[i] = p.PrivateKey
	}
	return out
}

// MintAuthority is the mint authority of both genesis mints.
func (l *Localnet) MintAuthority() solana.PrivateKey { return l.Manifest.MintAuthority.PrivateKey }

// AdvanceSlots moves the chain n slots forward and returns the new slot.
func (l *Localnet) AdvanceSlots(ctx context.Context, n uint64) (uint64, error) {
	return l.advance(ctx, n, 0)
}

// AdvanceClock moves the chain n (at least 1) slots forward and puts the
// block time of the new slots d (whole seconds) after the previous slot's,
// never behind the wall clock: distinct block times without waiting. It
// returns the new slot.
func (l *Localnet) AdvanceClock(ctx context.Context, n uint64, d time.Duration) (uint64, error) {
	if n == 0 || d < 0 || d%time.Second != 0 {
		return 0, fmt.Errorf("soldev: advance clock: want at least 1 slot and whole non-negative seconds (got %d slots, %s)", n, d)
	}
	return l.advance(ctx, n, uint64(d/time.Second))
}

func (l *Localnet) advance(ctx context.Context, n, seconds uint64) (uint64, error) {
	var out struct {
		Slot uint64 `json:"slot"`
	}
	if err := l.rpc.RPCCallForInto(ctx, &out, "localnet_advanceSlots", []interface{}{n, seconds}); err != nil {
		return 0, fmt.Errorf("soldev: advance %d slots (+%ds): %w", n, seconds, err)
	}
	return out.Slot, nil
}

// Close stops the server (its whole process group) and waits for it.
func (l *Localnet) Close() error {
	if l == nil || l.proc == nil {
		return nil
	}
	return l.proc.close()
}
