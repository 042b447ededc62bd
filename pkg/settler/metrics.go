package settler

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/h402/settlement/pkg/h402"
)

// Outcomes of one delivered payment, the `outcome` label of
// h402_settler_results_total.
const (
	OutcomeSubmitted = "submitted" // submitted event stored, acked
	OutcomeFailed    = "failed"    // can never settle: dead letter, failed event, terminated
	OutcomeRetry     = "retry"     // retryable error: Nak with delay
	OutcomeDuplicate = "duplicate" // already past accepted: acked without work
	OutcomeDead      = "dead"      // unreadable event, or gave up after MaxDeliver: dead letter, terminated
	OutcomeUnstored  = "unstored"  // outcome could not be stored: naked for redelivery
	// OutcomeUnknownVersion: an event of a version this build cannot read,
	// naked (Config.UnknownVersionDelay) for a settler that can.
	OutcomeUnknownVersion = "unknown_version"
	OutcomeReview         = "review" // unclassified error after unknownMaxTries: operator queue, terminated
)

// Metrics are the settler's Prometheus series.
type Metrics struct {
	batchSize    *prometheus.HistogramVec
	batchSeconds *prometheus.HistogramVec
	results      *prometheus.CounterVec
	fetchErrors  *prometheus.CounterVec
	deadLetters  *prometheus.CounterVec
	review       *prometheus.CounterVec
}

// NewMetrics registers the series on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		batchSize: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "h402_settler_batch_size",
			Help:    "Payments per fetched batch.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 12),
		}, []string{"network"}),
		batchSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "h402_settler_batch_seconds",
			Help:    "Time from a batch's fetch to the last ack, nak or term of its payments.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
		}, []string{"network"}),
		results: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "h402_settler_results_total",
			Help: "Delivered payments by outcome (submitted, failed, retry, duplicate, dead, unstored, unknown_version) and failure reason.",
		}, []string{"network", "outcome", "reason"}),
		fetchErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "h402_settler_fetch_errors_total",
			Help: "Fetch calls that failed (NATS unreachable, consumer gone).",
		}, []string{"network"}),
	}
	m.deadLetters = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "h402_settler_dead_letters_total",
		Help: "Dead letters written (alert on any increase): payments that left the pipeline, failed or for an operator.",
	}, []string{"network", "reason"})
	m.review = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "h402_settler_review_total",
		Help: "Payments handed to the operator queue payments.review.<ns>.<net> after unclassified errors; alert on any increase.",
	}, []string{"network"})
	reg.MustRegister(m.batchSize, m.batchSeconds, m.results, m.fetchErrors, m.deadLetters, m.review)
	return m
}

func (m *Metrics) batch(network string, n int, d time.Duration) {
	if m == nil {
		return
	}
	m.batchSize.WithLabelValues(network).Observe(float64(n))
	m.batchSeconds.WithLabelValues(network).Observe(d.Seconds())
}

func (m *Metrics) result(network, outcome string, reason h402.Reason) {
	if m == nil {
		return
	}
	m.results.WithLabelValues(network, outcome, string(reason)).Inc()
}

func (m *Metrics) fetchError(network string) {
	if m == nil {
		return
	}
	m.fetchErrors.WithLabelValues(network).Inc()
}

func (m *Metrics) reviewed(network string) {
	if m == nil {
		return
	}
	m.review.WithLabelValues(network).Inc()
}

// Review exposes the operator-queue counter (alert-grade).
func (m *Metrics) Review() *prometheus.CounterVec { return m.review }

// Results exposes the results counter (for tests and dashboards).
func (m *Metrics) Results() *prometheus.CounterVec { return m.results }

func (m *Metrics) deadLetter(network string, reason h402.Reason) {
	if m == nil {
		return
	}
	m.deadLetters.WithLabelValues(network, string(reason)).Inc()
}

// DeadLetters exposes the dead-letter counter (for tests and alerts).
func (m *Metrics) DeadLetters() *prometheus.CounterVec { return m.deadLetters }
