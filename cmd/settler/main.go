// Command settler puts accepted payments on chain. Per configured network it
// runs one loop on the network's durable JetStream consumer (shared by every
// settler replica), with that network's chains.Submitter. With no NATS URL
// configured it runs an embedded JetStream server, like ingest.
//
// The first SIGINT/SIGTERM stops fetching and lets the batch in flight
// finish within settler.shutdownGrace; a second one exits at once.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/h402/settlement/pkg/chains/evm"
	"github.com/h402/settlement/pkg/eventlog"
	"github.com/h402/settlement/pkg/events"
	"github.com/h402/settlement/pkg/exposure"
	"github.com/h402/settlement/pkg/failover"
	"github.com/h402/settlement/pkg/h402"
	"github.com/h402/settlement/pkg/lease"
	"github.com/h402/settlement/pkg/obs"
	"github.com/h402/settlement/pkg/settler"
)

func main() {
	m := NewMain()
	if err := m.ParseFlags(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "settler:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	if err := m.Run(ctx); err != nil {
		m.Logger.Error("settler failed to start", "err", err)
		_ = m.Close()
		os.Exit(1)
	}
	<-ctx.Done()
	stop() // a second signal now ends the process at once
	m.Logger.Info("stopping: finishing the batches in flight", "grace", time.Duration(m.File.Settler.ShutdownGrace))
	if err := m.Close(); err != nil {
		m.Logger.Error("shutdown", "err", err)
		os.Exit(1)
	}
}

// Main is the settler program, driven by main and by tests.
type Main struct {
	ConfigPath string
	File       *settler.File
	Logger     *slog.Logger
	Registry   *prometheus.Registry
	// Submitters builds each network's submitter, by namespace (see
	// DefaultSubmitters). Tests may replace it.
	Submitters map[h402.Namespace]NewSubmitter
	// LookupEnv reads secrets from the environment (default os.LookupEnv).
	LookupEnv func(string) (string, bool)

	conn    *eventlog.Conn
	admin   *obs.Admin
	closers []func()
	endLife context.CancelFunc // ends submitters' background work, after the loops
	stop    context.CancelFunc
	loops   sync.WaitGroup
	closed  bool
}

// NewMain returns a Main with defaults.
func NewMain() *Main {
	return &Main{
		ConfigPath: "configs/devnet.yaml",
		Logger:     slog.New(slog.NewTextHandler(os.Stderr, nil)),
		Submitters: DefaultSubmitters(),
		LookupEnv:  os.LookupEnv,
	}
}

// ParseFlags reads flags and loads the config file.
func (m *Main) ParseFlags(args []string) error {
	fs := flag.NewFlagSet("settler", flag.ContinueOnError)
	fs.StringVar(&m.ConfigPath, "config", m.ConfigPath, "config file (YAML) with a settler: section")
	natsURL := fs.String("nats", "", "NATS URL, overrides nats.url (empty: embedded JetStream)")
	admin := fs.String("admin", "", "metrics address, overrides settler.adminListen")
	if err := fs.Parse(args); err != nil {
		return err
	}
	f, err := settler.LoadFile(m.ConfigPath)
	if err != nil {
		return err
	}
	if *natsURL != "" {
		f.NATS.URL = *natsURL
	}
	if *admin != "" {
		f.Settler.AdminListen = *admin
	}
	m.File = f
	m.Logger = obs.NewLogger(f.Log, os.Stderr)
	return nil
}

// Run opens the event log, builds every network's submitter and loop, and
// returns once the loops are running. ctx bounds start-up only; the loops
// run until Close.
func (m *Main) Run(ctx context.Context) error {
	f := m.File
	if m.Registry == nil {
		m.Registry = obs.NewRegistry()
	}
	if m.LookupEnv == nil {
		m.LookupEnv = os.LookupEnv
	}
	log := m.Logger.With("replica", f.Settler.Replica)
	var err error
	if m.conn, err = eventlog.Open(ctx, f.NATS, "h402-settler", log); err != nil {
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
	life, endLife := context.WithCancel(context.Background())
	m.endLife = endLife
	runCtx, stop := context.WithCancel(context.Background())
	m.stop = stop
	env := &SubmitterEnv{
		Life:       life,
		AtClose:    func(f func()) { m.closers = append(m.closers, f) },
		File:       f,
		Registry:   m.Registry,
		Failover:   failover.NewMetrics(m.Registry),
		EVMMetrics: evm.NewSubmitMetrics(m.Registry),
		// One set per process, shared by every EVM network.
		LeaseMetrics: lease.NewMetrics(m.Registry),
		Logger:       log,
		LookupEnv:    m.LookupEnv,
		Conn:         m.conn,
		Claims:       claims,
	}
	metrics := settler.NewMetrics(m.Registry)
	var loops []*settler.Loop
	for i := range f.Networks {
		n := &f.Networks[i]
		build := m.Submitters[n.Namespace]
		if build == nil {
			if n.Namespace == h402.NamespaceEVM {
				return fmt.Errorf("network %s/%s: %w", n.Namespace, n.NetworkID, ErrEVMNotBuiltIn)
			}
			return fmt.Errorf("network %s/%s: no settlement is built into this binary for namespace %s", n.Namespace, n.NetworkID, n.Namespace)
		}
		sub, err := build(ctx, n, env)
		if err != nil {
			return fmt.Errorf("network %s/%s: %w", n.Namespace, n.NetworkID, err)
		}
		loop, err := settler.NewLoop(ctx, m.conn.JS, settler.Options{
			Namespace: n.Namespace,
			NetworkID: n.NetworkID,
			Submitter: sub,
			Claims:    claims,
			Exposure:  exposure.New(exposureKV),
			// verify.payerBlockDuration: a payer-caused failure keeps the reservation and blocks the payer.
			PayerBlock: f.Verify.PayerBlock(),
			Config:     f.Settler,
			Logger:     log,
			Metrics:    metrics,
		})
		if err != nil {
			return fmt.Errorf("network %s/%s: %w", n.Namespace, n.NetworkID, err)
		}
		loops = append(loops, loop)
	}
	if m.admin, err = obs.StartAdmin(f.Settler.AdminListen, m.Registry, log); err != nil {
		return err
	}
	// Exposure follows terminal transitions, whoever writes them (issue 9, item 9).
	releaser, err := settler.NewReleaser(ctx, m.conn.JS, exposure.New(exposureKV), settler.ReleaserOptions{Logger: log})
	if err != nil {
		return err
	}
	m.loops.Add(1)
	go func() {
		defer m.loops.Done()
		_ = releaser.Run(runCtx)
	}()
	for _, l := range loops {
		m.loops.Add(1)
		go func() {
			defer m.loops.Done()
			if err := l.Run(runCtx); err != nil {
				log.Error("settler loop ended", "err", err)
			}
		}()
	}
	log.Info("settler running", "networks", len(loops), "batch_size", f.Settler.BatchSize)
	return nil
}

// AdminAddr is the metrics listener's address ("" when off).
func (m *Main) AdminAddr() string {
	if m.admin == nil {
		return ""
	}
	return m.admin.Addr()
}

// Close stops fetching, lets each loop finish its batch in flight within
// the grace period, then drains NATS and stops an embedded server.
func (m *Main) Close() error {
	if m.closed {
		return nil
	}
	m.closed = true
	var errs []error
	grace := 20 * time.Second
	if m.File != nil {
		grace = time.Duration(m.File.Settler.ShutdownGrace)
	}
	if m.stop != nil {
		m.stop()
		done := make(chan struct{})
		go func() { m.loops.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(grace + 5*time.Second):
			errs = append(errs, errors.New("settler loops did not stop within the grace period"))
		}
	}
	for _, f := range m.closers {
		f()
	}
	if m.endLife != nil {
		m.endLife()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := m.admin.Close(ctx); err != nil {
		errs = append(errs, err)
	}
	if m.conn != nil {
		m.conn.Close()
	}
	return errors.Join(errs...)
}
