package settler_test

import (
	"testing"
	"time"

	"github.com/h402/settlement/pkg/events"
	"github.com/h402/settlement/pkg/settler/settlertest"
)

// BenchmarkSettleSolana measures accepted payments settled per second, from
// publish to every `submitted` transition, by one settler replica on the
// LiteSVM localnet (half client-paid, half fee-payer co-signed). Signing
// is outside the timer.
func BenchmarkSettleSolana(b *testing.B) {
	h := newHarness(b)
	h.cfg.BatchSize = 64
	h.start(b, nil)
	es, _ := h.payments(b, b.N)
	b.ResetTimer()
	start := time.Now()
	settlertest.Publish(b, h.jsc, es...)
	h.states.Wait(b, ids(es), 5*time.Minute, events.StateSubmitted, events.StateFailed)
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "payments/s")
}
