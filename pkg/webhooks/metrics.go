package webhooks

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the dispatcher's Prometheus metrics.
type Metrics struct {
	attempts *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	disabled prometheus.Gauge
	pending  *prometheus.GaugeVec
}

// NewMetrics registers the webhook metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "h402_webhook_attempts_total", Help: "Webhook delivery attempts by endpoint and outcome (delivered, retry, failed, exhausted, disabled).",
		}, []string{"endpoint", "outcome"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "h402_webhook_latency_seconds", Help: "Webhook request latency by endpoint.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"endpoint"}),
		disabled: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "h402_webhook_endpoints_disabled", Help: "Webhook endpoints currently disabled (410 Gone or by an operator).",
		}),
		pending: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "h402_webhook_pending", Help: "Receipts of an endpoint's consumer: kind=unacked (in flight or waiting for a retry), kind=new (not yet tried); sampled every 15s.",
		}, []string{"endpoint", "kind"}),
	}
	reg.MustRegister(m.attempts, m.latency, m.disabled, m.pending)
	return m
}

func (m *Metrics) attempt(endpoint, outcome string, latency time.Duration) {
	if m == nil {
		return
	}
	m.attempts.WithLabelValues(endpoint, outcome).Inc()
	m.latency.WithLabelValues(endpoint).Observe(latency.Seconds())
}

func (m *Metrics) setDisabled(n int) {
	if m == nil {
		return
	}
	m.disabled.Set(float64(n))
}

func (m *Metrics) setPending(endpoint string, unacked, fresh uint64) {
	if m == nil {
		return
	}
	m.pending.WithLabelValues(endpoint, "unacked").Set(float64(unacked))
	m.pending.WithLabelValues(endpoint, "new").Set(float64(fresh))
}
