package solana

import (
	"testing"

	"github.com/h402/settlement/pkg/config"
	"github.com/h402/settlement/pkg/h402"
)

// BenchmarkVerifySolanaTransfer measures local verification of an SPL
// TransferChecked payment with CreateAssociatedTokenIdempotent, from the
// X-PAYMENT header string through h402.DecodePaymentHeader and Verify.
func BenchmarkVerifySolanaTransfer(b *testing.B) {
	f := newFixture(b)
	req := f.requirements(config.KindSPL, false)
	hdr, err := PaymentHeader(req, f.token(config.KindSPL), f.client, f.blockhash, PayOptions{ComputeUnitPrice: 1000})
	if err != nil {
		b.Fatal(err)
	}
	base := f.request(b, req, config.KindSPL, nil)
	v := NewVerifier()
	b.ReportAllocs()
	for b.Loop() {
		p, err := h402.DecodePaymentHeader(hdr)
		if err != nil {
			b.Fatal(err)
		}
		r := *base
		r.Payload = p
		if _, err := v.Verify(&r); err != nil {
			b.Fatal(err)
		}
	}
}
