// Command watcher follows submitted payments to finality. Per configured
// network it runs one pkg/watcher.Watcher on the network's durable JetStream
// consumer (shared by every watcher replica) with that network's
// chains.Confirmer; it publishes one receipt per terminal payment, releases
// payers' exposure on terminal states (the shared exposure-release
// consumer), and keeps its own ledger file (pkg/ledger), served with
// /metrics on its admin listener. With a `webhooks:` section inside the
// `watcher:` one, it also delivers receipts to webhook endpoints
// (pkg/webhooks), with their admin API under /webhooks/ on that listener.
//
// The first SIGINT/SIGTERM stops it, handing the payments it follows to the
// other replicas; a second one exits at once.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/h402/settlement/pkg/chains"
	"github.com/h402/settlement/pkg/config"
	"github.com/h402/settlement/pkg/eventlog"
	"github.com/h402/settlement/pkg/events"
	"github.com/h402/settlement/pkg/exposure"
	"github.com/h402/settlement/pkg/failover"
	"github.com/h402/settlement/pkg/h402"
	"github.com/h402/settlement/pkg/obs"
	"github.com/h402/settlement/pkg/settler"
	"github.com/h402/settlement/pkg/watcher"
	"github.com/h402/settlement/pkg/webhooks"
)

func main() {
	m := NewMain()
	if err := m.ParseFlags(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "watcher:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	if err := m.Run(ctx); err != nil {
		m.Logger.Error("watcher failed to start", "err", err)
		_ = m.Close()
		os.Exit(1)
	}
	<-ctx.Done()
	stop()
	m.Logger.Info("stopping: handing followed payments to the other replicas")
	if err := m.Close(); err != nil {
		m.Logger.Error("shutdown", "err", err)
		os.Exit(1)
	}
}

// NewConfirmer builds one network's confirmer.
type NewConfirmer func(ctx context.Context, n *config.Network, env *Env) (chains.Confirmer, error)

// Env is what confirmer builders get.
type Env struct {
	Failover *failover.Metrics
}

// Main is the watcher program, driven by main and by tests.
type Main struct {
	ConfigPath string
	File       *watcher.File
	Logger     *slog.Logger
	Registry   *prometheus.Registry
	// Confirmers builds each network's confirmer, by namespace.
	Confirmers map[h402.Namespace]NewConfirmer

	conn     *eventlog.Conn
	admin    *obs.Admin
	stop     context.CancelFunc
	running  sync.WaitGroup
	watchers []*watcher.Watcher
	closers  []func() error
	closed   bool
}

// NewMain returns a Main with defaults.
func NewMain() *Main {
	return &Main{
		ConfigPath: "configs/devnet.yaml",
		Logger:     slog.New(slog.NewTextHandler(os.Stderr, nil)),
		Confirmers: DefaultConfirmers(),
	}
}

// ParseFlags reads flags and loads the config file.
func (m *Main) ParseFlags(args []string) error {
	fs := flag.NewFlagSet("watcher", flag.ContinueOnError)
	fs.StringVar(&m.ConfigPath, "config", m.ConfigPath, "config file (YAML) with a watcher: section")
	natsURL := fs.String("nats", "", "NATS URL, overrides nats.url (empty: embedded JetStream)")
	admin := fs.String("admin", "", "admin address (metrics, ledger API), overrides watcher.adminListen")
	ledgerPath := fs.String("ledger", "", `ledger file, overrides watcher.ledgerPath ("off": none)`)
	if err := fs.Parse(args); err != nil {
		return err
	}
	f, err := watcher.LoadFile(m.ConfigPath)
	if err != nil {
		return err
	}
	if *natsURL != "" {
		f.NATS.URL = *natsURL
	}
	if *admin != "" {
		f.Watcher.AdminListen = *admin
	}
	if *ledgerPath != "" {
		f.Watcher.LedgerPath = *ledgerPath
	}
	m.File = f
	m.Logger = obs.NewLogger(f.Log, os.Stderr)
	return nil
}

// Run connects, builds every network's watcher, the releaser and the
// ledger, and returns once they run. ctx bounds start-up only.
func (m *Main) Run(ctx context.Context) error {
	f := m.File
	if m.Registry == nil {
		m.Registry = obs.NewRegistry()
	}
	log := m.Logger.With("replica", f.Watcher.Replica)
	var err error
	if m.conn, err = eventlog.Open(ctx, f.NATS, "h402-watcher", log); err != nil {
		return err
	}
	claims, err := settler.OpenClaims(ctx, m.conn.JS, m.conn.Streams)
	if err != nil {
		return err
	}
	exposureKV, err := m.conn.JS.KeyValue(ctx, events.BucketExposure)
	if err != nil {
		return fmt.Errorf("exposure bucket: %w", err)
	}
	book := exposure.New(exposureKV)
	env := &Env{Failover: failover.NewMetrics(m.Registry)}
	metrics := watcher.NewMetrics(m.Registry)
	for i := range f.Networks {
		n := &f.Networks[i]
		build := m.Confirmers[n.Namespace]
		if build == nil {
			return fmt.Errorf("network %s/%s: no confirmer is built into this binary for namespace %s", n.Namespace, n.NetworkID, n.Namespace)
		}
		conf, err := build(ctx, n, env)
		if err != nil {
			return fmt.Errorf("network %s/%s: %w", n.Namespace, n.NetworkID, err)
		}
		w, err := watcher.New(ctx, m.conn.JS, watcher.Options{
			Namespace: n.Namespace, NetworkID: n.NetworkID, Confirmer: conf, Claims: claims,
			Exposure: book, PayerBlock: f.Verify.PayerBlock(),
			PollInterval: time.Duration(n.Finality.PollInterval), Config: f.Watcher, Logger: log, Metrics: metrics,
		})
		if err != nil {
			return fmt.Errorf("network %s/%s: %w", n.Namespace, n.NetworkID, err)
		}
		m.watchers = append(m.watchers, w)
	}
	releaser, err := settler.NewReleaser(ctx, m.conn.JS, book, settler.ReleaserOptions{Logger: log})
	if err != nil {
		return err
	}
	mounts, err := m.startLedger(ctx, log)
	if err != nil {
		return err
	}
	var hooks *webhooks.Dispatcher
	if wc := f.Watcher.Webhooks; wc != nil {
		hooks, err = webhooks.New(ctx, m.conn.JS, webhooks.Options{Config: wc, Streams: m.conn.Streams, Logger: log,
			Metrics: webhooks.NewMetrics(m.Registry)})
		if err != nil {
			return fmt.Errorf("webhooks: %w", err)
		}
		mounts = append(mounts, func(mux *http.ServeMux) { mux.Handle("/webhooks/", hooks.Handler()) })
	}
	if m.admin, err = obs.StartAdmin(f.Watcher.AdminListen, m.Registry, log, mounts...); err != nil {
		return err
	}
	runCtx, stop := context.WithCancel(context.Background())
	m.stop = stop
	m.running.Add(1)
	go func() { defer m.running.Done(); _ = releaser.Run(runCtx) }()
	for _, w := range m.watchers {
		m.running.Add(1)
		go func() { defer m.running.Done(); _ = w.Run(runCtx) }()
	}
	if hooks != nil {
		m.running.Add(1)
		go func() { defer m.running.Done(); _ = hooks.Run(runCtx) }()
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := hooks.WaitSynced(wctx)
		cancel()
		if err != nil {
			return fmt.Errorf("webhooks: endpoints bucket not read: %w", err)
		}
		log.Info("webhooks running", "endpoints", len(f.Watcher.Webhooks.Endpoints))
	}
	log.Info("watcher running", "networks", len(m.watchers), "ledger", f.Watcher.LedgerPath, "admin", m.AdminAddr())
	return nil
}

// AdminAddr is the admin listener's address ("" when off).
func (m *Main) AdminAddr() string {
	if m.admin == nil {
		return ""
	}
	return m.admin.Addr()
}

// Close stops the watchers (their payments go back to the consumer for the
// other replicas), the ledger and the connection.
func (m *Main) Close() error {
	if m.closed {
		return nil
	}
	m.closed = true
	var errs []error
	if m.stop != nil {
		m.stop()
		done := make(chan struct{})
		go func() { m.running.Wait(); close(done) }()
		grace := time.Duration(m.File.Watcher.ShutdownGrace)
		select {
		case <-done:
		case <-time.After(grace + 5*time.Second):
			errs = append(errs, errors.New("watcher loops did not stop within the grace period"))
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := m.admin.Close(ctx); err != nil {
		errs = append(errs, err)
	}
	for i := len(m.closers) - 1; i >= 0; i-- {
		if err := m.closers[i](); err != nil {
			errs = append(errs, err)
		}
	}
	if m.conn != nil {
		m.conn.Close()
	}
	return errors.Join(errs...)
}
