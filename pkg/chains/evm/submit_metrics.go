package evm

import (
	"context"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/h402/settlement/pkg/chains"
)

// SubmitMetrics are the EVM submitter's Prometheus series. A nil
// *SubmitMetrics records nothing.
type SubmitMetrics struct {
	broadcasts    *prometheus.CounterVec
	replacements  *prometheus.CounterVec
	gasPerPayment *prometheus.HistogramVec
}

// NewSubmitMetrics registers the series on reg (once per process).
func NewSubmitMetrics(reg prometheus.Registerer) *SubmitMetrics {
	m := &SubmitMetrics{
		broadcasts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "h402_evm_broadcasts_total",
			Help: "Transactions broadcast, by kind (batch, raw, rebroadcast, replacement) and outcome.",
		}, []string{"network", "kind", "outcome"}),
		replacements: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "h402_evm_replacements_total",
			Help: "Stuck transactions replaced with the same nonce and higher fees.",
		}, []string{"network"}),
		gasPerPayment: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "h402_evm_gas_per_payment",
			Help:    "Gas used per payment by mined settlement transactions (receipt gas / payments carried).",
			Buckets: []float64{30e3, 35e3, 40e3, 45e3, 50e3, 60e3, 70e3, 85e3, 100e3, 150e3},
		}, []string{"network"}),
	}
	reg.MustRegister(m.broadcasts, m.replacements, m.gasPerPayment)
	return m
}

var outcomeNames = map[sendOutcome]string{sentOK: "ok", sentNonceTooLow: "nonce_too_low", sentUnderpriced: "underpriced", sentRejected: "rejected", sentFailed: "failed"}

func (m *SubmitMetrics) broadcast(network, kind string, out sendOutcome) {
	if m == nil {
		return
	}
	name, ok := outcomeNames[out]
	if !ok {
		name = "other"
	}
	m.broadcasts.WithLabelValues(network, kind, name).Inc()
}

func (m *SubmitMetrics) replaced(network string) {
	if m != nil {
		m.replacements.WithLabelValues(network).Inc()
	}
}

// observeMined reads the receipt of a mined tracked transaction (its own
// hash or one it replaced) and records its gas per payment.
func (s *Submitter) observeMined(ctx context.Context, rec chains.Tx, payments int) {
	if s.opts.Metrics == nil || payments == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	for _, h := range append([]string{rec.Hash}, rec.Replaces...) {
		r, err := s.receipt(ctx, common.HexToHash(h))
		if err != nil || r == nil {
			continue
		}
		s.opts.Metrics.gasPerPayment.WithLabelValues(s.network.CAIP2).Observe(float64(r.GasUsed) / float64(payments))
		return
	}
}
