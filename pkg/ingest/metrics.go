package ingest

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are ingest's Prometheus series.
type Metrics struct {
	requests *prometheus.CounterVec
	verify   *prometheus.HistogramVec
	publish  *prometheus.HistogramVec
	latency  *prometheus.HistogramVec
	reloads  prometheus.Counter
}

// NewMetrics registers ingest's series on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	buckets := prometheus.ExponentialBuckets(0.00005, 2, 16)
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "h402_ingest_requests_total",
			Help: "Requests by route and outcome (ok, invalid reason, unavailable, error).",
		}, []string{"route", "outcome"}),
		verify: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "h402_ingest_verify_seconds", Help: "Verification latency by payload type and stage (local, state).", Buckets: buckets,
		}, []string{"type", "stage"}),
		publish: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "h402_ingest_publish_seconds", Help: "JetStream publish latency until PubAck, by outcome.", Buckets: buckets,
		}, []string{"outcome"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "h402_ingest_request_seconds", Help: "Request latency by route.", Buckets: buckets,
		}, []string{"route"}),
		reloads: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "h402_ingest_balance_reloads_total",
			Help: "Payer balances read again, bypassing the cache, because the payer's exposure was released after the cached balance was loaded.",
		}),
	}
	reg.MustRegister(m.requests, m.verify, m.publish, m.latency, m.reloads)
	return m
}

func (m *Metrics) observeVerify(typ, stage string, d time.Duration) {
	if m != nil {
		m.verify.WithLabelValues(typ, stage).Observe(d.Seconds())
	}
}

func (m *Metrics) observeReload() {
	if m != nil {
		m.reloads.Inc()
	}
}

func (m *Metrics) observePublish(err error, d time.Duration) {
	if m == nil {
		return
	}
	outcome := "ok"
	if err != nil {
		outcome = "error"
	}
	m.publish.WithLabelValues(outcome).Observe(d.Seconds())
}

func (m *Metrics) observeRequest(route, outcome string, d time.Duration) {
	if m == nil {
		return
	}
	m.requests.WithLabelValues(route, outcome).Inc()
	m.latency.WithLabelValues(route).Observe(d.Seconds())
}
