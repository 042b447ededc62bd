package watcher

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the watcher's Prometheus metrics, one set per process.
type Metrics struct {
	following   *prometheus.GaugeVec
	transitions *prometheus.CounterVec
	receipts    *prometheus.CounterVec
	sendBacks   *prometheus.CounterVec
	errors      *prometheus.CounterVec
	finality    *prometheus.HistogramVec
}

// NewMetrics registers the watcher's metrics with reg (nil: unregistered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		following: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "h402_watcher_following",
			Help: "Payments this watcher follows to finality (submitted or confirmed).",
		}, []string{"network"}),
		transitions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "h402_watcher_transitions_total",
			Help: "State transitions the watcher stored, by state.",
		}, []string{"network", "state"}),
		receipts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "h402_watcher_receipts_total",
			Help: "Receipts published, by state of the payment.",
		}, []string{"network", "state"}),
		sendBacks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "h402_watcher_send_backs_total",
			Help: "Payments sent back for settlement after their transaction left the chain.",
		}, []string{"network"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "h402_watcher_errors_total",
			Help: "Errors by kind (confirm: chain look-up failed; store: event not stored; receipt; unreadable).",
		}, []string{"network", "kind"}),
		finality: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "h402_watcher_accepted_to_finalized_seconds",
			Help:    "Time from a payment's acceptance to its finalized transition.",
			Buckets: prometheus.ExponentialBuckets(0.25, 2, 14),
		}, []string{"network"}),
	}
	if reg != nil {
		reg.MustRegister(m.following, m.transitions, m.receipts, m.sendBacks, m.errors, m.finality)
	}
	return m
}
