// Command h402recon reconciles the ledger with the chains over a time range
// (pkg/reconcile) and prints one line per difference: kind, network,
// payment, transaction, tab-separated, then a sentence. It exits 0 when
// ledger and chains agree, 1 when they differ, 2 when it could not tell.
//
//	h402recon --config facilitator.yaml --db ledger.db --from T --to T \
//	    [--network evm:8453 ...] [--account evm:8453=0xSIGNER ...]
//
// Networks default to every configured one. Facilitator accounts (whose
// transfers must all be payments) are the --account flags plus each Solana
// network's configured feePayers. The ledger file is opened read-only; a
// running watcher holds it locked, so read a copy (or stop the watcher).
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
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/h402/settlement/pkg/chains"
	"github.com/h402/settlement/pkg/chains/evm"
	"github.com/h402/settlement/pkg/chains/solana"
	"github.com/h402/settlement/pkg/config"
	"github.com/h402/settlement/pkg/failover"
	"github.com/h402/settlement/pkg/h402"
	"github.com/h402/settlement/pkg/ledger"
	"github.com/h402/settlement/pkg/reconcile"
)

// ErrDifferences is returned by Run when ledger and chains differ.
var ErrDifferences = errors.New("the ledger and the chains differ")

func main() {
	m := NewMain()
	if err := m.ParseFlags(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "h402recon:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := m.Run(ctx)
	switch {
	case errors.Is(err, ErrDifferences):
		fmt.Fprintln(os.Stderr, "h402recon:", err)
		os.Exit(1)
	case err != nil:
		fmt.Fprintln(os.Stderr, "h402recon:", err)
		os.Exit(2)
	}
}

// NewAuditor builds a network's chain auditor.
type NewAuditor func(ctx context.Context, n config.Network) (chains.Auditor, error)

// Main is the program, driven by main and by tests.
type Main struct {
	ConfigPath  string
	DB          string
	From, To    time.Time
	Networks    []string // ns:networkId
	Accounts    map[string][]string
	LockTimeout time.Duration
	Stdout      io.Writer
	Logger      *slog.Logger
	// Config is loaded from ConfigPath by Run when nil.
	Config *config.Config
	// NewAuditor defaults to BuildAuditor; tests replace it.
	NewAuditor NewAuditor
}

// NewMain returns a Main with defaults.
func NewMain() *Main {
	return &Main{Accounts: map[string][]string{}, LockTimeout: 2 * time.Second, Stdout: os.Stdout, NewAuditor: BuildAuditor}
}

// BuildAuditor builds the auditor of a configured network from its
// namespace and RPC endpoints.
func BuildAuditor(ctx context.Context, n config.Network) (chains.Auditor, error) {
	switch n.Namespace {
	case h402.NamespaceEVM:
		pool, err := evm.Dial(ctx, &n, failover.Settings{})
		if err != nil {
			return nil, fmt.Errorf("network %s:%s: %w", n.Namespace, n.NetworkID, err)
		}
		return evm.NewAuditor(&n, pool, evm.AuditorOptions{})
	case h402.NamespaceSolana:
		pool, err := solana.Dial(&n, failover.Settings{})
		if err != nil {
			return nil, fmt.Errorf("network %s:%s: %w", n.Namespace, n.NetworkID, err)
		}
		return solana.NewAuditor(&n, pool, solana.AuditOptions{})
	}
	return nil, fmt.Errorf("network %s:%s: unknown namespace", n.Namespace, n.NetworkID)
}

type listFlag struct{ dst *[]string }

func (f listFlag) String() string     { return "" }
func (f listFlag) Set(v string) error { *f.dst = append(*f.dst, v); return nil }

type accountFlag struct{ dst map[string][]string }

func (f accountFlag) String() string { return "" }
func (f accountFlag) Set(v string) error {
	net, addrs, ok := strings.Cut(v, "=")
	if !ok || !strings.Contains(net, ":") || addrs == "" {
		return fmt.Errorf("want ns:networkId=address[,address...], got %q", v)
	}
	f.dst[net] = append(f.dst[net], strings.Split(addrs, ",")...)
	return nil
}

type timeFlag struct{ dst *time.Time }

func (f timeFlag) String() string { return "" }
func (f timeFlag) Set(v string) error {
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return fmt.Errorf("not an RFC 3339 time: %q", v)
	}
	*f.dst = t
	return nil
}

// ParseFlags reads the command line.
func (m *Main) ParseFlags(args []string) error {
	fs := flag.NewFlagSet("h402recon", flag.ContinueOnError)
	fs.StringVar(&m.ConfigPath, "config", "", "facilitator config (networks and RPC endpoints)")
	fs.StringVar(&m.DB, "db", "", "ledger file (opened read-only)")
	fs.Var(timeFlag{&m.From}, "from", "start of the range, inclusive (RFC 3339)")
	fs.Var(timeFlag{&m.To}, "to", "end of the range, exclusive (RFC 3339)")
	fs.Var(listFlag{&m.Networks}, "network", "network to reconcile, ns:networkId (repeatable; default all configured)")
	fs.Var(accountFlag{m.Accounts}, "account", "facilitator account, ns:networkId=address[,address] (repeatable)")
	fs.DurationVar(&m.LockTimeout, "lock-timeout", m.LockTimeout, "give up on a ledger file locked by its writer after this long")
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch {
	case fs.NArg() != 0:
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	case m.ConfigPath == "":
		return errors.New("--config is required")
	case m.DB == "":
		return errors.New("--db is required")
	case m.From.IsZero() || m.To.IsZero() || !m.From.Before(m.To):
		return errors.New("--from and --to are required, from before to")
	}
	return nil
}

// Run reconciles and prints the differences.
func (m *Main) Run(ctx context.Context) error {
	if m.Logger == nil {
		m.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	if m.Config == nil {
		c, err := config.Load(m.ConfigPath)
		if err != nil {
			return err
		}
		m.Config = c
	}
	nets, err := m.networks(ctx)
	if err != nil {
		return err
	}
	l, err := ledger.Open(m.DB, ledger.Options{ReadOnly: true, Timeout: m.LockTimeout, Logger: m.Logger})
	if err != nil {
		return fmt.Errorf("%w (a running watcher holds its ledger file locked: reconcile a copy)", err)
	}
	defer l.Close()
	diffs, err := reconcile.Reconcile(ctx, l, nets, m.From, m.To)
	if err != nil {
		return err
	}
	for _, d := range diffs {
		fmt.Fprintln(m.Stdout, d.String())
	}
	if len(diffs) > 0 {
		return fmt.Errorf("%w: %d differences", ErrDifferences, len(diffs))
	}
	return nil
}

// networks selects the configured networks and builds their auditors.
func (m *Main) networks(ctx context.Context) ([]reconcile.Network, error) {
	want := map[string]bool{}
	for _, n := range m.Networks {
		want[n] = true
	}
	var out []reconcile.Network
	for _, cn := range m.Config.Networks {
		name := string(cn.Namespace) + ":" + cn.NetworkID
		if len(want) > 0 && !want[name] {
			continue
		}
		delete(want, name)
		a, err := m.NewAuditor(ctx, cn)
		if err != nil {
			return nil, err
		}
		accounts := append([]string{}, m.Accounts[name]...)
		if cn.Namespace == h402.NamespaceSolana {
			accounts = append(accounts, cn.FeePayers...)
		}
		out = append(out, reconcile.Network{Namespace: cn.Namespace, NetworkID: cn.NetworkID, Auditor: a, Accounts: accounts})
	}
	for n := range want {
		return nil, fmt.Errorf("--network %s is not configured", n)
	}
	for n := range m.Accounts {
		if len(m.Networks) == 0 || slices.Contains(m.Networks, n) {
			found := false
			for _, rn := range out {
				found = found || string(rn.Namespace)+":"+rn.NetworkID == n
			}
			if !found {
				return nil, fmt.Errorf("--account %s: network not configured", n)
			}
		}
	}
	return out, nil
}
