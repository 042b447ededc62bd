// Command h402load drives an ingest replica's /settle with EIP-3009
// payments signed up front by the dev chain's payers, bounded in count and
// time, on loopback only, and prints accepted/s, latency percentiles and the
// replica's peak resident memory.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sort"
	"strings"
	"time"

	"github.com/h402/settlement/pkg/config"
	"github.com/h402/settlement/pkg/evmdev"
	"github.com/h402/settlement/pkg/h402"
	"github.com/h402/settlement/pkg/loadgen"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, "h402load:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("h402load", flag.ContinueOnError)
	var (
		cfg        loadgen.Config
		configPath = fs.String("config", "configs/devnet.yaml", "facilitator config (network and token)")
		network    = fs.String("network", "1337", "EVM networkId to pay on")
		token      = fs.String("token", "USDC", "token symbol on that network")
		payers     = fs.Int("payers", 8, "dev chain payers to sign with (payer/0 .. payer/N-1, LOCAL ONLY keys)")
		asJSON     = fs.Bool("json", false, "print the report as JSON")
	)
	fs.StringVar(&cfg.URL, "url", "http://127.0.0.1:8402", "ingest URL (loopback only)")
	fs.StringVar(&cfg.AdminURL, "admin", "http://127.0.0.1:9402", "ingest admin URL for RSS and profiles; empty to skip")
	fs.IntVar(&cfg.N, "n", 20000, "payments to send")
	fs.IntVar(&cfg.Concurrency, "c", 64, "requests in flight")
	fs.DurationVar(&cfg.Duration, "duration", time.Minute, "stop after this long")
	fs.Int64Var(&cfg.Amount, "amount", 1000, "smallest units per payment")
	fs.StringVar(&cfg.PayTo, "pay-to", strings.ToLower(evmdev.Address(evmdev.DevKey("seller")).Hex()), "recipient")
	fs.StringVar(&cfg.CPUProfile, "cpuprofile", "", "write the ingest replica's CPU profile of the run here")
	fs.IntVar(&cfg.ProfileSeconds, "profile-seconds", 5, "length of that profile")
	cfg.APIKey = os.Getenv("H402_API_KEY")
	if err := fs.Parse(args); err != nil {
		return err
	}
	c, err := config.Load(*configPath)
	if err != nil {
		return err
	}
	if cfg.Network, err = c.Networks.Lookup(h402.NamespaceEVM, *network); err != nil {
		return err
	}
	for i := range cfg.Network.Tokens {
		if cfg.Network.Tokens[i].Symbol == *token {
			cfg.Token = &cfg.Network.Tokens[i]
		}
	}
	if cfg.Token == nil || cfg.Token.Kind != config.KindEIP3009 {
		return fmt.Errorf("-token %s: no EIP-3009 token with that symbol on network %s", *token, *network)
	}
	for i := 0; i < *payers; i++ {
		cfg.Payers = append(cfg.Payers, evmdev.PayerKey(i))
	}
	rep, err := loadgen.Run(ctx, cfg)
	if err != nil {
		return err
	}
	if *asJSON {
		rep.IDs = nil
		return json.NewEncoder(os.Stdout).Encode(rep)
	}
	printReport(cfg, rep)
	return nil
}

func printReport(cfg loadgen.Config, r *loadgen.Report) {
	fmt.Printf("payments   %d signed in %v, %d sent, %d accepted in %v\n", cfg.N, r.SignTime.Round(time.Millisecond), r.Sent, r.Accepted, r.Elapsed.Round(time.Millisecond))
	fmt.Printf("rate       %.0f accepted/s with %d in flight\n", r.AcceptedPerSec, cfg.Concurrency)
	fmt.Printf("latency    p50 %v  p90 %v  p99 %v  max %v\n", r.P50.Round(10*time.Microsecond), r.P90.Round(10*time.Microsecond), r.P99.Round(10*time.Microsecond), r.Max.Round(10*time.Microsecond))
	if r.MaxRSSBytes > 0 {
		fmt.Printf("ingest RSS %.0f MiB peak\n", r.MaxRSSBytes/(1<<20))
	}
	reasons := make([]string, 0, len(r.Rejected))
	for k := range r.Rejected {
		reasons = append(reasons, k)
	}
	sort.Strings(reasons)
	for _, k := range reasons {
		fmt.Printf("rejected   %-40s %d\n", k, r.Rejected[k])
	}
}
