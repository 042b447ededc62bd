// Command ingest is the h402 facilitator endpoint: it verifies payments,
// guards replays and payer exposure, and publishes accepted payments to
// JetStream. With no NATS URL configured it runs an embedded JetStream
// server, so one process works out of the box.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/h402/settlement/pkg/chains"
	"github.com/h402/settlement/pkg/chains/evm"
	"github.com/h402/settlement/pkg/chains/solana"
	"github.com/h402/settlement/pkg/config"
	"github.com/h402/settlement/pkg/eventlog"
	"github.com/h402/settlement/pkg/events"
	"github.com/h402/settlement/pkg/exposure"
	"github.com/h402/settlement/pkg/failover"
	"github.com/h402/settlement/pkg/guard"
	"github.com/h402/settlement/pkg/h402"
	"github.com/h402/settlement/pkg/ingest"
	"github.com/h402/settlement/pkg/obs"
	"github.com/h402/settlement/pkg/verify"
)

func main() {
	m := NewMain()
	if err := m.ParseFlags(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "ingest:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	if err := m.Run(ctx); err != nil {
		m.Logger.Error("ingest failed to start", "err", err)
		m.Close()
		os.Exit(1)
	}
	<-ctx.Done()
	stop() // a second signal now ends the process at once
	m.Logger.Info("stopping: finishing in-flight requests", "grace", time.Duration(m.Config.Ingest.ShutdownGrace))
	if err := m.Close(); err != nil {
		m.Logger.Error("shutdown", "err", err)
		os.Exit(1)
	}
}

// Main is the ingest program, driven by main and by tests.
type Main struct {
	ConfigPath string
	Config     *config.Config
	Logger     *slog.Logger
	Registry   *prometheus.Registry
	// WrapJetStream, when set, wraps the event log client the service uses
	// (tests inject faults the real server cannot produce on demand).
	WrapJetStream func(jetstream.JetStream) jetstream.JetStream

	conn    *eventlog.Conn
	waiters *ingest.Waiters
	follow  context.CancelFunc // ends the state checkers' head followers
	ln      net.Listener
	srv     *http.Server
	admin   *obs.Admin
	served  chan error
}

// NewMain returns a Main with defaults.
func NewMain() *Main {
	return &Main{ConfigPath: "configs/devnet.yaml", Logger: slog.New(slog.NewTextHandler(os.Stderr, nil))}
}

// ParseFlags reads flags and loads the config file.
func (m *Main) ParseFlags(args []string) error {
	fs := flag.NewFlagSet("ingest", flag.ContinueOnError)
	fs.StringVar(&m.ConfigPath, "config", m.ConfigPath, "config file (YAML)")
	listen := fs.String("listen", "", "API address, overrides ingest.listen")
	natsURL := fs.String("nats", "", "NATS URL, overrides nats.url (empty: embedded JetStream)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	c, err := config.Load(m.ConfigPath)
	if err != nil {
		return err
	}
	if *listen != "" {
		c.Ingest.Listen = *listen
	}
	if *natsURL != "" {
		c.NATS.URL = *natsURL
	}
	m.Config = c
	m.Logger = obs.NewLogger(c.Log, os.Stderr)
	return nil
}

// Run starts ingest and returns once it is serving.
func (m *Main) Run(ctx context.Context) error {
	c := m.Config
	if m.Registry == nil {
		m.Registry = obs.NewRegistry()
	}
	log := m.Logger.With("replica", c.Ingest.Replica)
	keys, err := c.Ingest.LoadAPIKeys()
	if err != nil {
		return err
	}
	if err := c.Ingest.CheckOpenAccess(keys); err != nil {
		return err
	}
	if m.conn, err = eventlog.Open(ctx, c.NATS, "h402-ingest", log); err != nil {
		return err
	}
	js := m.conn.JS
	if m.WrapJetStream != nil {
		js = m.WrapJetStream(js)
	}
	replayKV, err := js.KeyValue(ctx, events.BucketReplay)
	if err != nil {
		return fmt.Errorf("replay bucket: %w", err)
	}
	exposureKV, err := js.KeyValue(ctx, events.BucketExposure)
	if err != nil {
		return fmt.Errorf("exposure bucket: %w", err)
	}
	usedKV, err := js.KeyValue(ctx, events.BucketUsed)
	if err != nil {
		return fmt.Errorf("used-payments bucket: %w", err)
	}
	g := guard.New(replayKV, usedKV)
	states, err := m.stateCheckers(ctx)
	if err != nil {
		return err
	}
	followCtx, follow := context.WithCancel(context.Background())
	m.follow = follow
	for _, st := range states {
		if r, ok := st.Checker.(interface{ Run(context.Context) }); ok {
			go r.Run(followCtx) // refresh known payers' balances on new heads
		}
	}
	if c.Ingest.SettleWait != "none" {
		if m.waiters, err = ingest.NewWaiters(m.conn.NC); err != nil {
			return fmt.Errorf("subscribe to payment states: %w", err)
		}
	}
	metrics := ingest.NewMetrics(m.Registry)
	svc := ingest.New(
		verify.New(c, evm.NewVerifier(), solana.NewVerifier()),
		states, g, exposure.New(exposureKV), js, m.waiters,
		ingest.Options{
			Replica:           c.Ingest.Replica,
			SettleWait:        c.Ingest.SettleWait,
			SettleWaitTimeout: time.Duration(c.Ingest.SettleWaitTimeout),
			Logger:            log,
			Metrics:           metrics,
			Connected:         m.conn.NC.IsConnected,
		})
	handler := ingest.NewHandler(svc, ingest.HandlerOptions{
		Networks:     c.Networks,
		APIKeys:      keys,
		MaxBodyBytes: c.Ingest.MaxBodyBytes,
		Ready:        m.ready,
		Replica:      c.Ingest.Replica,
		Logger:       log,
		Metrics:      metrics,
		MissBudget:   chains.NewMissBudget(*c.Ingest.MissBudgetPerSecond, c.Ingest.MissBudgetBurst, 1<<16),
	})
	if m.admin, err = obs.StartAdmin(c.Ingest.AdminListen, m.Registry, log); err != nil {
		return err
	}
	if m.ln, err = net.Listen("tcp", c.Ingest.Listen); err != nil {
		return fmt.Errorf("listen %s: %w", c.Ingest.Listen, err)
	}
	m.srv = &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: time.Duration(c.Ingest.ReadTimeout),
		ReadTimeout:       time.Duration(c.Ingest.ReadTimeout),
		WriteTimeout:      time.Duration(c.Ingest.WriteTimeout),
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
	m.served = make(chan error, 1)
	go func() { m.served <- m.srv.Serve(m.ln) }()
	log.Info("ingest serving", "addr", m.ln.Addr().String(), "networks", len(c.Networks), "settle_wait", c.Ingest.SettleWait)
	return nil
}

func (m *Main) stateCheckers(ctx context.Context) ([]ingest.NetworkState, error) {
	c := m.Config
	fm := failover.NewMetrics(m.Registry)
	settings := failover.Settings{Metrics: fm}
	ttl := time.Duration(c.Ingest.StateCacheTTL)
	var out []ingest.NetworkState
	for i := range c.Networks {
		n := &c.Networks[i]
		var checker chains.StateChecker
		switch n.Namespace {
		case h402.NamespaceEVM:
			pool, err := evm.Dial(ctx, n, settings)
			if err != nil {
				return nil, err
			}
			checker = evm.NewStateChecker(n, pool, evm.StateOptions{
				CacheTTL:  ttl,
				Multicall: common.HexToAddress(n.Multicall), // zero when unset: one call per check
			})
		case h402.NamespaceSolana:
			pool, err := solana.Dial(n, settings)
			if err != nil {
				return nil, err
			}
			checker = solana.NewStateChecker(n, pool, solana.StateOptions{CacheTTL: ttl})
		}
		out = append(out, ingest.NetworkState{Namespace: n.Namespace, NetworkID: n.NetworkID, Checker: checker})
	}
	return out, nil
}

// ready reports whether the event log answers.
func (m *Main) ready(ctx context.Context) error {
	if m.conn == nil || !m.conn.NC.IsConnected() {
		return errors.New("not connected to NATS")
	}
	_, err := m.conn.JS.AccountInfo(ctx)
	return err
}

// Addr is the API listener's address.
func (m *Main) Addr() string { return m.ln.Addr().String() }

// Close stops taking requests, lets in-flight ones finish within the grace
// period, then drains NATS and stops an embedded server. Closing twice is
// harmless.
func (m *Main) Close() error {
	var errs []error
	grace := 20 * time.Second
	if m.Config != nil {
		grace = time.Duration(m.Config.Ingest.ShutdownGrace)
	}
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if m.srv != nil {
		if err := m.srv.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("http shutdown: %w", err))
			_ = m.srv.Close()
		}
		if err := <-m.served; err != nil && !errors.Is(err, http.ErrServerClosed) {
			errs = append(errs, err)
		}
		m.srv = nil
	}
	if err := m.admin.Close(ctx); err != nil {
		errs = append(errs, err)
	}
	m.admin = nil
	if m.waiters != nil {
		_ = m.waiters.Close()
		m.waiters = nil
	}
	if m.follow != nil {
		m.follow()
		m.follow = nil
	}
	if m.conn != nil {
		m.conn.Close()
		m.conn = nil
	}
	return errors.Join(errs...)
}
