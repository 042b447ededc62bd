package evm

import (
	"syscall"
	"testing"
	"time"

	"github.com/h402/settlement/pkg/h402"
)

// BenchmarkVerifyEVMAuthorization measures local verification of an EIP-3009
// payment from the X-PAYMENT header string: base64 + JSON decode, checks,
// EIP-712 digest and signature recovery. Target: <= 60 µs/op on 2 cores.
func BenchmarkVerifyEVMAuthorization(b *testing.B) {
	f := newFixture(b)
	req := f.requirements(f.usdc)
	_, header, err := SignAuthorization(req, f.payer, &f.usdc, f.now, AuthorizationOptions{})
	if err != nil {
		b.Fatal(err)
	}
	v := NewVerifier()
	b.ReportAllocs()
	cpu := startCPU()
	for b.Loop() {
		p, err := h402.DecodePaymentHeader(header)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := v.Verify(f.request(req, p, f.usdc)); err != nil {
			b.Fatal(err)
		}
	}
	cpu.report(b)
}

// BenchmarkVerifyEVMSignedTransaction is the same for a client-signed ERC-20 transfer.
func BenchmarkVerifyEVMSignedTransaction(b *testing.B) {
	f := newFixture(b)
	req := f.requirements(f.plain)
	_, header, err := SignTransaction(req, f.payer, &f.plain, TxOptions{Nonce: 1})
	if err != nil {
		b.Fatal(err)
	}
	v := NewVerifier()
	b.ReportAllocs()
	cpu := startCPU()
	for b.Loop() {
		p, err := h402.DecodePaymentHeader(header)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := v.Verify(f.request(req, p, f.plain)); err != nil {
			b.Fatal(err)
		}
	}
	cpu.report(b)
}

// cpuClock measures the process's CPU time (user + system), which, unlike
// ns/op, does not grow when other processes compete for the cores. With
// -cpu 1 it is the CPU cost of one verification including GC work.
type cpuClock struct{ start time.Duration }

func startCPU() cpuClock { return cpuClock{start: processCPU()} }

func (c cpuClock) report(b *testing.B) {
	if b.N > 0 {
		b.ReportMetric(float64(processCPU()-c.start)/float64(b.N), "cpu-ns/op")
	}
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
