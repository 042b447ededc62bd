package h402

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func benchGolden(b *testing.B, name string) []byte {
	b.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		b.Fatal(err)
	}
	return data
}

func BenchmarkDecodeRequest(b *testing.B) {
	for _, name := range []string{"request_h402_evm.json", "request_h402_solana.json", "x402v1_request_evm.json", "x402v2_request_evm.json"} {
		body := benchGolden(b, name)
		b.Run(strings.TrimSuffix(name, ".json"), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if _, err := DecodeRequest(body, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkDecodePaymentHeader(b *testing.B) {
	header := strings.TrimSpace(string(benchGolden(b, "x_payment_header.txt")))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodePaymentHeader(header); err != nil {
			b.Fatal(err)
		}
	}
}
