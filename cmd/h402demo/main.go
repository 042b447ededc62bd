// Command h402demo is the demo `make run` ends with: a demo seller behind
// pkg/seller and a demo buyer with pkg/buyer's RoundTripper paying N
// requests across payload types on both chains through a running pipeline,
// with live progress and a summary (see pkg/demo).
//
// Keys come from key files (-evm-key-file, -solana-key-file) or the
// environment (H402_DEMO_EVM_KEY, H402_DEMO_SOLANA_KEY), never from a
// flag; the webhook secret from H402_DEMO_WEBHOOK_SECRET.
//
// With -exit it stops once every payment is final with its receipt (and
// webhook delivery) and exits 0, or 1 when something is missing;
// without, the seller keeps serving until SIGINT or SIGTERM.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/h402/settlement/internal/cli"
	"github.com/h402/settlement/pkg/buyer"
	"github.com/h402/settlement/pkg/config"
	"github.com/h402/settlement/pkg/demo"
)

// The demo seller's payTo addresses (no keys: they only receive).
const (
	DefaultEVMPayTo    = "0x00000000000000000000000000000000000de110"
	DefaultSolanaPayTo = "DemoSe11er1111111111111111111111111111111111"
)

func main() { cli.Main("h402demo", NewMain()) }

// Main is the program, driven by main and by tests.
type Main struct {
	ConfigPath    string
	EVMKeyFile    string
	SolanaKeyFile string
	Report        string
	Exit          bool
	KindsText     string

	Config demo.Config
	Stdout io.Writer
	Getenv func(string) string
}

// NewMain returns a Main with the dev defaults.
func NewMain() *Main {
	return &Main{ConfigPath: "configs/devnet.yaml", Stdout: os.Stdout, Getenv: os.Getenv}
}

// ParseFlags reads the flags and loads the config and keys.
func (m *Main) ParseFlags(args []string) error {
	c := &m.Config
	var links string
	fs := flag.NewFlagSet("h402demo", flag.ContinueOnError)
	fs.StringVar(&m.ConfigPath, "config", m.ConfigPath, "the facilitator's config: the networks, tokens and RPC URLs to sell and pay on")
	fs.StringVar(&c.Facilitator, "facilitator", "http://127.0.0.1:8402", "ingest's API")
	fs.StringVar(&c.Ledger, "ledger", "http://127.0.0.1:9404", "the watcher's admin listener (ledger API: batches, gas); empty: none")
	fs.StringVar(&c.NATS, "nats", "nats://127.0.0.1:4222", "NATS URL to follow the seller's receipts (pkg/receipts); empty: do not follow")
	fs.StringVar(&c.Listen, "listen", "127.0.0.1:8081", "the demo seller's address (its routes and POST /webhooks)")
	fs.IntVar(&c.Payments, "payments", 40, "requests the buyer pays")
	fs.IntVar(&c.Concurrency, "concurrency", 8, "requests in flight")
	fs.StringVar(&m.KindsText, "kinds", "all", "payment kinds, comma-separated: "+strings.Join(kindNames(), ", "))
	fs.StringVar(&c.Price, "price", "0.01", "price of each request in USDC")
	fs.StringVar(&c.EVMPayTo, "evm-payto", DefaultEVMPayTo, "the seller's EVM address")
	fs.StringVar(&c.SolanaPayTo, "solana-payto", DefaultSolanaPayTo, "the seller's Solana address")
	fs.StringVar(&m.EVMKeyFile, "evm-key-file", "", "the buyer's EVM key file (else $H402_DEMO_EVM_KEY)")
	fs.StringVar(&m.SolanaKeyFile, "solana-key-file", "", "the buyer's Solana key file (else $H402_DEMO_SOLANA_KEY)")
	fs.DurationVar(&c.Wait, "wait", 3*time.Minute, "how long to wait for every payment's finality, receipt and webhook after the last request")
	fs.DurationVar(&c.Interval, "interval", time.Second, "time between progress lines")
	fs.StringVar(&c.StateDir, "state-dir", "", "directory for the receipts client's checkpoints (default: a temporary one)")
	fs.BoolVar(&m.Exit, "exit", false, "exit when done (0: everything final, received and delivered; 1: something missing)")
	fs.StringVar(&m.Report, "report", "", "write the summary and every request's result as JSON to this file")
	fs.StringVar(&links, "links", "", "lines to print under 'where to look', separated by '|'")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if links != "" {
		c.Links = strings.Split(links, "|")
	}
	var err error
	if c.Kinds, err = demo.ParseKinds(m.KindsText); err != nil {
		return err
	}
	cfg, err := config.Load(m.ConfigPath)
	if err != nil {
		return err
	}
	c.Networks = cfg.Networks
	for _, k := range c.Kinds {
		if strings.HasPrefix(string(k), "solana") && c.SolanaKey == nil {
			if c.SolanaKey, err = buyer.LoadSolanaKey(m.SolanaKeyFile, "H402_DEMO_SOLANA_KEY"); err != nil {
				return fmt.Errorf("the buyer's Solana key: %w", err)
			}
		}
		if strings.HasPrefix(string(k), "evm") && c.EVMKey == nil {
			if c.EVMKey, err = buyer.LoadEVMKey(m.EVMKeyFile, "H402_DEMO_EVM_KEY"); err != nil {
				return fmt.Errorf("the buyer's EVM key: %w", err)
			}
		}
	}
	c.WebhookSecret = m.Getenv("H402_DEMO_WEBHOOK_SECRET")
	c.Out = m.Stdout
	return nil
}

func kindNames() []string {
	var s []string
	for _, k := range demo.AllKinds {
		s = append(s, string(k))
	}
	return s
}

// Run runs the demo until done (-exit) or until ctx ends.
func (m *Main) Run(ctx context.Context) error {
	sum, err := demo.Run(ctx, m.Config, !m.Exit)
	if m.Report != "" && sum != nil {
		b, jerr := json.MarshalIndent(sum, "", "  ")
		if jerr == nil {
			jerr = os.WriteFile(m.Report, b, 0o600)
		}
		if jerr != nil {
			return errors.Join(err, fmt.Errorf("report: %w", jerr))
		}
	}
	if err != nil && !m.Exit && ctx.Err() != nil {
		return nil // stopped by a signal: the run was meant to go on until then
	}
	return err
}
