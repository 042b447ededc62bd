package failover

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sony/gobreaker/v2"
)

// ErrUnavailable is returned when no endpoint could answer. It is retryable.
var ErrUnavailable = errors.New("no RPC endpoint available")

// Unavailable wraps the last endpoint error of a call that found no endpoint.
type Unavailable struct {
	Call string
	Last error
}

func (e *Unavailable) Error() string {
	if e.Last == nil {
		return fmt.Sprintf("%s: %v", e.Call, ErrUnavailable)
	}
	return fmt.Sprintf("%s: %v (last: %v)", e.Call, ErrUnavailable, e.Last)
}

// Unwrap lets errors.Is match ErrUnavailable and the last cause.
func (e *Unavailable) Unwrap() []error { return []error{ErrUnavailable, e.Last} }

// Retryable is true: another try later may find an endpoint.
func (e *Unavailable) Retryable() bool { return true }

// Settings configure the breakers.
type Settings struct {
	// Failures in a row that open an endpoint's breaker. Default 5.
	Failures uint32
	// OpenFor is how long a breaker stays open before a trial call. Default 10s.
	OpenFor time.Duration
	// CallTimeout bounds each attempt on one endpoint. Default 5s.
	CallTimeout time.Duration
	// IsChainAnswer reports errors that are the chain's answer, not the
	// endpoint's failure (reverts, JSON-RPC application errors, not found).
	// They are returned at once and count as successes for the breaker.
	IsChainAnswer func(error) bool
	// Metrics, if set, receives breaker state and call outcomes.
	Metrics *Metrics
}

// Endpoint is one RPC endpoint with its client.
type Endpoint[C any] struct {
	Name    string // for logs and metrics: the URL without credentials
	Client  C
	breaker *gobreaker.CircuitBreaker[any]
}

// Pool is an ordered set of endpoints of one network.
type Pool[C any] struct {
	network   string
	endpoints []*Endpoint[C]
	settings  Settings
	secrets   []string // endpoint URLs (set by Dial), redacted from every error
}

// New builds a pool over named clients, in failover order.
func New[C any](network string, names []string, clients []C, s Settings) (*Pool[C], error) {
	if len(names) == 0 || len(names) != len(clients) {
		return nil, fmt.Errorf("failover pool %s: %d names for %d clients", network, len(names), len(clients))
	}
	if s.Failures == 0 {
		s.Failures = 5
	}
	if s.OpenFor == 0 {
		s.OpenFor = 10 * time.Second
	}
	if s.CallTimeout == 0 {
		s.CallTimeout = 5 * time.Second
	}
	p := &Pool[C]{network: network, settings: s}
	for i, name := range names {
		ep := &Endpoint[C]{Name: name, Client: clients[i]}
		failures := s.Failures
		ep.breaker = gobreaker.NewCircuitBreaker[any](gobreaker.Settings{
			Name:        name,
			MaxRequests: 1,
			Timeout:     s.OpenFor,
			ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= failures },
			IsSuccessful: func(err error) bool {
				return err == nil || s.IsChainAnswer != nil && s.IsChainAnswer(err) || errors.Is(err, context.Canceled)
			},
			OnStateChange: func(name string, _, to gobreaker.State) {
				s.Metrics.breakerState(network, name, to)
			},
		})
		s.Metrics.breakerState(network, name, gobreaker.StateClosed)
		p.endpoints = append(p.endpoints, ep)
	}
	return p, nil
}

// Endpoints returns the endpoints in failover order.
func (p *Pool[C]) Endpoints() []*Endpoint[C] { return p.endpoints }

// Do runs fn on the first endpoint that answers. call names the RPC for
// errors and metrics.
func Do[C, R any](ctx context.Context, p *Pool[C], call string, fn func(ctx context.Context, c C) (R, error)) (R, error) {
	var (
		zero R
		last error
	)
	for _, ep := range p.endpoints {
		if err := ctx.Err(); err != nil {
			return zero, err
		}
		start := time.Now()
		v, err := ep.breaker.Execute(func() (any, error) {
			cctx, cancel := context.WithTimeout(ctx, p.settings.CallTimeout)
			defer cancel()
			return fn(cctx, ep.Client)
		})
		p.settings.Metrics.observe(p.network, ep.Name, call, err, p.settings.IsChainAnswer, time.Since(start))
		if err == nil {
			return v.(R), nil
		}
		err = Redact(err, p.secrets...) // the client's error text may carry the endpoint URL and its key
		if p.settings.IsChainAnswer != nil && p.settings.IsChainAnswer(err) {
			return zero, err
		}
		if errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests) {
			continue // skip without counting: the breaker already knows
		}
		if ctx.Err() != nil {
			return zero, ctx.Err()
		}
		last = fmt.Errorf("%s: %w", ep.Name, err)
	}
	return zero, &Unavailable{Call: call, Last: last}
}

// Metrics are the pool's Prometheus series.
type Metrics struct {
	state *prometheus.GaugeVec
	calls *prometheus.HistogramVec
}

// NewMetrics registers the series on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		state: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "h402_rpc_breaker_state",
			Help: "Circuit breaker state per RPC endpoint: 0 closed, 1 half-open, 2 open.",
		}, []string{"network", "endpoint"}),
		calls: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "h402_rpc_call_seconds",
			Help:    "RPC call latency by endpoint, method and outcome (ok, chain_error, failure, breaker_open).",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}, []string{"network", "endpoint", "call", "outcome"}),
	}
	reg.MustRegister(m.state, m.calls)
	return m
}

func (m *Metrics) breakerState(network, endpoint string, s gobreaker.State) {
	if m == nil {
		return
	}
	m.state.WithLabelValues(network, endpoint).Set(float64(s))
}

func (m *Metrics) observe(network, endpoint, call string, err error, chainAnswer func(error) bool, d time.Duration) {
	if m == nil {
		return
	}
	outcome := "ok"
	switch {
	case err == nil:
	case errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests):
		outcome = "breaker_open"
	case chainAnswer != nil && chainAnswer(err):
		outcome = "chain_error"
	default:
		outcome = "failure"
	}
	m.calls.WithLabelValues(network, endpoint, call, outcome).Observe(d.Seconds())
}

// StateGauge exposes the breaker state series (for tests and dashboards).
func (m *Metrics) StateGauge() *prometheus.GaugeVec { return m.state }

// CallHistogram exposes the call latency series.
func (m *Metrics) CallHistogram() *prometheus.HistogramVec { return m.calls }

// Dial builds a pool over urls, in failover order, making each endpoint's
// client with dial. Endpoints are named rpc0, rpc1, ... so that metrics and
// logs never carry a URL's credentials.
func Dial[C any](network string, urls []string, s Settings, dial func(url string) (C, error)) (*Pool[C], error) {
	names := make([]string, len(urls))
	clients := make([]C, len(urls))
	for i, u := range urls {
		c, err := dial(u)
		if err != nil {
			return nil, fmt.Errorf("dial %s rpc[%d]: %w", network, i, Redact(err, u))
		}
		names[i], clients[i] = fmt.Sprintf("rpc%d", i), c
	}
	p, err := New(network, names, clients, s)
	if err != nil {
		return nil, err
	}
	p.secrets = append([]string(nil), urls...)
	return p, nil
}
