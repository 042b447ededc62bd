// Command devnet runs local chains for development and demos: the EVM dev
// chain (pkg/evmdev) on 127.0.0.1:8545 and the LiteSVM Solana localnet
// (pkg/soldev) on 127.0.0.1:8899, the endpoints configs/devnet.yaml names. It
// prints each chain's endpoints, contract addresses and funded accounts with
// their private keys. The keys are well-known LOCAL-ONLY dev keys: never fund
// them on a real network.
//
//	go run ./cmd/devnet -evm.chain-id 84532 -evm.block-period 1s
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/h402/settlement/pkg/evmdev"
	"github.com/h402/settlement/pkg/soldev"
)

func main() {
	m := NewMain()
	if err := m.ParseFlags(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "devnet:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	if err := m.Run(ctx); err != nil {
		m.Logger.Error("devnet failed to start", "err", err)
		m.Close()
		os.Exit(1)
	}
	<-ctx.Done()
	stop()
	m.Logger.Info("stopping")
	if err := m.Close(); err != nil {
		m.Logger.Error("shutdown", "err", err)
		os.Exit(1)
	}
}

// Main is the devnet program, driven by main and by tests.
type Main struct {
	// EVM enables the EVM dev chain, configured by EVMConfig.
	EVM       bool
	EVMConfig evmdev.Config
	// Solana enables the Solana localnet, configured by SolanaConfig.
	Solana       bool
	SolanaConfig soldev.Config
	// Out receives the summary of endpoints, contracts and accounts.
	Out    io.Writer
	Logger *slog.Logger

	evm *evmdev.Chain
	sol *soldev.Localnet
}

// NewMain returns a Main with the EVM chain enabled and evmdev's defaults.
func NewMain() *Main {
	evmCfg := evmdev.DefaultConfig()
	evmCfg.Port = 8545
	return &Main{
		EVM:          true,
		EVMConfig:    evmCfg,
		Solana:       true,
		SolanaConfig: soldev.Config{Port: 8899, SlotInterval: 400 * time.Millisecond},
		Out:          os.Stdout,
		Logger:       slog.New(slog.NewTextHandler(os.Stderr, nil)),
	}
}

// ParseFlags reads the command line. Flags of one chain share its prefix
// (-evm.*), so another chain's flags can sit beside them.
func (m *Main) ParseFlags(args []string) error {
	fs := flag.NewFlagSet("devnet", flag.ContinueOnError)
	c := &m.EVMConfig
	fs.BoolVar(&m.EVM, "evm", m.EVM, "run the EVM dev chain")
	fs.StringVar(&c.Host, "evm.host", "127.0.0.1", "EVM JSON-RPC listen address (0.0.0.0 inside a container network only: the keys are well known)")
	fs.IntVar(&c.Port, "evm.port", c.Port, "EVM JSON-RPC port on 127.0.0.1, HTTP and WebSocket (0: a free port)")
	fs.Uint64Var(&c.ChainID, "evm.chain-id", c.ChainID, "EVM chain id (84532 lets x402 v1 clients pay it as base-sepolia)")
	fs.DurationVar(&c.BlockPeriod, "evm.block-period", c.BlockPeriod, "seal a block this often (0: never by itself)")
	fs.Uint64Var(&c.FinalityDepth, "evm.finality", c.FinalityDepth, "blocks behind the head that count as final (0: default 3)")
	fs.IntVar(&c.Payers, "evm.payers", c.Payers, "payer accounts funded with test USDC (0: default 8)")
	fs.IntVar(&c.Facilitators, "evm.facilitators", c.Facilitators, "facilitator accounts funded with ether (0: default 4)")
	sc := &m.SolanaConfig
	fs.BoolVar(&m.Solana, "solana", m.Solana, "run the Solana localnet (needs node and npm)")
	fs.StringVar(&sc.Host, "solana.host", "127.0.0.1", "Solana JSON-RPC listen address (0.0.0.0 inside a container network only)")
	fs.IntVar(&sc.Port, "solana.port", sc.Port, "Solana JSON-RPC port on 127.0.0.1 (0: a free port)")
	fs.DurationVar(&sc.SlotInterval, "solana.slot", sc.SlotInterval, "advance a slot this often (0: only on localnet_advanceSlots)")
	fs.IntVar(&sc.Payers, "solana.payers", sc.Payers, "payer keypairs funded with SOL and both test mints (0: default 4)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if !m.EVM && !m.Solana {
		return errors.New("no chain enabled: pass -evm or -solana")
	}
	return nil
}

// Run starts the enabled chains, prints their summary and returns; the
// chains run until Close.
func (m *Main) Run(ctx context.Context) error {
	if m.EVM {
		cfg := m.EVMConfig
		cfg.Logger = m.Logger
		chain, err := evmdev.Start(ctx, cfg)
		if err != nil {
			return fmt.Errorf("evm dev chain: %w", err)
		}
		m.evm = chain
		if err := printEVM(m.Out, chain); err != nil {
			return fmt.Errorf("print evm summary: %w", err)
		}
	}
	if m.Solana {
		cfg := m.SolanaConfig
		cfg.Log = logWriter{m.Logger}
		l, err := soldev.Start(ctx, cfg)
		if err != nil {
			return fmt.Errorf("solana localnet: %w", err)
		}
		m.sol = l
		if err := printSolana(m.Out, l); err != nil {
			return fmt.Errorf("print solana summary: %w", err)
		}
	}
	return nil
}

// SolanaLocalnet is the running localnet (nil before Run or when disabled).
func (m *Main) SolanaLocalnet() *soldev.Localnet { return m.sol }

// logWriter passes the localnet's standard error to the logger, line by line.
type logWriter struct{ log *slog.Logger }

func (w logWriter) Write(p []byte) (int, error) {
	for _, line := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		if line != "" {
			w.log.Info(line, "chain", "solana")
		}
	}
	return len(p), nil
}

// EVMChain is the running EVM dev chain (nil before Run or when disabled).
func (m *Main) EVMChain() *evmdev.Chain { return m.evm }

// Close stops every chain.
func (m *Main) Close() error {
	var errs []error
	if m.sol != nil {
		errs = append(errs, m.sol.Close())
		m.sol = nil
	}
	if m.evm != nil {
		errs = append(errs, m.evm.Close())
		m.evm = nil
	}
	return errors.Join(errs...)
}
