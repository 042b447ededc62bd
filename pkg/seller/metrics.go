package seller

import (
	"encoding/json"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Request outcomes (label outcome of h402_seller_requests_total).
const (
	OutcomeFree            = "free"             // unpriced route, passed through
	OutcomePaymentRequired = "payment_required" // no payment: 402 with the offers
	OutcomeInvalid         = "invalid"          // a payment refused before or at /verify
	OutcomeHandlerFailed   = "handler_failed"   // handler answered >= 400: passed through, not settled
	OutcomeTooLarge        = "too_large"        // handler answer over MaxResponseBytes: 500, not settled
	OutcomeSettleRefused   = "settle_refused"   // /settle refused, or the payment failed while waited for
	OutcomeUnavailable     = "unavailable"      // facilitator unreachable or broken: 503
	OutcomeTimeout         = "timeout"          // the wait of Mode ran out: 504
	OutcomeServed          = "served"           // paid and served
)

type metrics struct {
	requests    *prometheus.CounterVec
	facilitated *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "h402_seller_requests_total",
			Help: "Requests to priced and unpriced routes by outcome.",
		}, []string{"outcome"}),
		facilitated: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "h402_seller_facilitator_seconds",
			Help:    "Facilitator calls by call and HTTP status (error: no answer).",
			Buckets: prometheus.ExponentialBuckets(0.002, 2, 14),
		}, []string{"call", "status"}),
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.facilitated)
	}
	return m
}

func (m *metrics) outcome(o string) { m.requests.WithLabelValues(o).Inc() }

func (m *metrics) facilitator(call, status string, d time.Duration) {
	m.facilitated.WithLabelValues(call, status).Observe(d.Seconds())
}

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }
