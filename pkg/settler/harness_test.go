package settler_test

import (
	"cmp"
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/h402/settlement/pkg/chains"
	"github.com/h402/settlement/pkg/chains/solana"
	"github.com/h402/settlement/pkg/config"
	"github.com/h402/settlement/pkg/events"
	"github.com/h402/settlement/pkg/exposure"
	"github.com/h402/settlement/pkg/failover"
	"github.com/h402/settlement/pkg/settler"
	"github.com/h402/settlement/pkg/settler/settlertest"
	"github.com/h402/settlement/pkg/soldev"
	"github.com/h402/settlement/pkg/testenv"
)

// harness is embedded JetStream, the LiteSVM localnet behind a counting RPC
// front, and a state watcher; loops are settler replicas started on it.
type harness struct {
	js       *testenv.JetStream
	jsc      jetstream.JetStream
	sol      *settlertest.Solana
	proxy    *settlertest.RPCProxy
	network  config.Network
	states   *settlertest.States
	claims   *settler.Claims
	cfg      settler.Config
	reg      *prometheus.Registry
	metrics  *settler.Metrics
	exposure *exposure.Book
	logger   *slog.Logger // loops' logger (default testLogger)
}

func newHarness(t testing.TB) *harness {
	t.Helper()
	ln := testenv.StartSolana(t, soldev.Config{})
	h := &harness{js: testenv.StartJetStream(t), sol: settlertest.NewSolana(ln), proxy: settlertest.NewRPCProxy(t, ln.URL())}
	h.proxy.Up(t)
	h.network = h.sol.Network
	h.network.RPC = []string{h.proxy.URL()}
	var nc *nats.Conn
	nc, h.jsc = h.js.Connect(t)
	h.states = settlertest.WatchStates(t, nc)
	var err error
	if h.claims, err = settler.OpenClaims(context.Background(), h.jsc, h.js.Streams); err != nil {
		t.Fatal(err)
	}
	h.cfg = settler.Config{
		BatchSize:       32,
		MaxWait:         config.Duration(50 * time.Millisecond),
		AckWait:         config.Duration(5 * time.Second),
		InProgressEvery: config.Duration(time.Second),
		RetryDelay:      config.Duration(20 * time.Millisecond),
		RetryDelayMax:   config.Duration(100 * time.Millisecond),
		ShutdownGrace:   config.Duration(10 * time.Second),
		Replica:         "test",
	}
	h.cfg.Default()
	h.reg = prometheus.NewRegistry()
	h.metrics = settler.NewMetrics(h.reg)
	h.exposure = exposure.New(h.js.KeyValue(t, events.BucketExposure))
	return h
}

// replica is one running settler loop with its own NATS connection,
// RPC pool, submitter and counting view of the shared claims bucket.
type replica struct {
	claims *settlertest.CountingClaims
	sub    *spy
	nc     *nats.Conn
	cancel context.CancelFunc
	done   chan error
}

// start runs a loop; wrap, when set, decorates its submitter.
func (h *harness) start(t testing.TB, wrap func(chains.Submitter) chains.Submitter) *replica {
	t.Helper()
	return h.startOpts(t, wrap, nil)
}

// startOpts runs a loop as start does, with its options edited by edit.
func (h *harness) startOpts(t testing.TB, wrap func(chains.Submitter) chains.Submitter, edit func(*settler.Options)) *replica {
	t.Helper()
	pool, err := solana.Dial(&h.network, failover.Settings{OpenFor: 20 * time.Millisecond, CallTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	var sub chains.Submitter
	sub, err = solana.NewSubmitter(&h.network, pool, solana.SubmitOptions{FeePayers: h.sol.LN.FeePayers()})
	if err != nil {
		t.Fatal(err)
	}
	if wrap != nil {
		sub = wrap(sub)
	}
	r := &replica{claims: settlertest.Count(h.claims), sub: newSpy(sub), done: make(chan error, 1)}
	var js jetstream.JetStream
	r.nc, js = h.js.Connect(t)
	o := settler.Options{
		Namespace: h.network.Namespace,
		NetworkID: h.network.NetworkID,
		Submitter: r.sub,
		Claims:    r.claims,
		Config:    h.cfg,
		Exposure:  h.exposure,
		Logger:    cmp.Or(h.logger, testLogger(t)),
		Metrics:   h.metrics,
	}
	if edit != nil {
		edit(&o)
	}
	loop, err := settler.NewLoop(context.Background(), js, o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { r.done <- loop.Run(ctx) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// stop cancels the loop, waits for it to finish its batch, and flushes its
// acks to the server.
func (r *replica) stop(t testing.TB) {
	t.Helper()
	if r.cancel == nil {
		return
	}
	r.cancel()
	r.cancel = nil
	select {
	case err := <-r.done:
		if err != nil {
			t.Errorf("loop Run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("loop did not stop within 30s")
	}
	if r.nc.IsConnected() {
		if err := r.nc.Flush(); err != nil {
			t.Errorf("flush: %v", err)
		}
	}
}

// spy passes Submit through and reports every call's results.
type spy struct {
	chains.Submitter
	mu      sync.Mutex
	calls   map[string]int
	results chan chains.Result
}

func newSpy(s chains.Submitter) *spy {
	return &spy{Submitter: s, calls: map[string]int{}, results: make(chan chains.Result, 4096)}
}

func (s *spy) Submit(ctx context.Context, batch []*events.PaymentAccepted, claims chains.Claims) ([]chains.Result, error) {
	s.mu.Lock()
	for _, e := range batch {
		s.calls[e.ID]++
	}
	s.mu.Unlock()
	res, err := s.Submitter.Submit(ctx, batch, claims)
	for _, r := range res {
		select {
		case s.results <- r:
		default:
		}
	}
	return res, err
}

func (s *spy) Calls() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int{}
	for k, v := range s.calls {
		out[k] = v
	}
	return out
}

// submitterFunc wraps a Submitter's Submit.
type submitterFunc struct {
	chains.Submitter
	fn func(ctx context.Context, batch []*events.PaymentAccepted, claims chains.Claims) ([]chains.Result, error)
}

func (s submitterFunc) Submit(ctx context.Context, batch []*events.PaymentAccepted, claims chains.Claims) ([]chains.Result, error) {
	return s.fn(ctx, batch, claims)
}

func ids(es []*events.PaymentAccepted) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.ID
	}
	return out
}

// consumerInfo reads the settlers' consumer state.
func (h *harness) consumerInfo(t testing.TB) *jetstream.ConsumerInfo {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := h.jsc.Consumer(ctx, events.StreamPayments, settler.ConsumerName(h.network.Namespace, h.network.NetworkID))
	if err != nil {
		t.Fatal(err)
	}
	info, err := c.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return info
}

func (h *harness) result(outcome, reason string) float64 {
	return testutil.ToFloat64(h.metrics.Results().WithLabelValues("solana.localnet", outcome, reason))
}

// stateCounts is the number of stored transitions per payment.
func (h *harness) stateCounts(t testing.TB, es []*events.PaymentAccepted) map[string]uint64 {
	t.Helper()
	counts := settlertest.SubjectCounts(t, h.jsc, events.StreamPayments, "payments.state.>")
	out := map[string]uint64{}
	for _, e := range es {
		subj, err := events.StateSubject(e.Namespace, e.NetworkID, e.ID)
		if err != nil {
			t.Fatal(err)
		}
		out[e.ID] = counts[subj]
	}
	return out
}

func testLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}
