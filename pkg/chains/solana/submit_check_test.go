package solana_test

import (
	"context"
	"testing"

	"github.com/h402/settlement/pkg/chains/solana"
	"github.com/h402/settlement/pkg/h402"
	"github.com/h402/settlement/pkg/settler/settlertest"
)

// TestSubmitRefusesInjectedBeforeCoSigning: an accepted event that ingest
// never verified (written to the log by someone else) asks our fee payer to
// co-sign a transaction above the compute-unit caps. The submitter refuses
// it for good, without signing: nothing broadcast, no claim recorded.
func TestSubmitRefusesInjectedBeforeCoSigning(t *testing.T) {
	t.Parallel()
	env := newSubmitEnv(t)
	tests := []struct {
		name string
		opts solana.PayOptions
		want h402.Reason
	}{
		{"huge compute-unit price", solana.PayOptions{ComputeUnitPrice: 1_000_000_000_000}, h402.ReasonSolanaComputePrice},
		{"compute-unit limit above the cap", solana.PayOptions{ComputeUnitLimit: 1_400_000}, solana.ReasonSolanaComputeLimit},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := env.sol.Injected(t, settlertest.Pay{FeePayer: true}, tt.opts)
			r := env.submit(t, e)[0]
			wantReasonErr(t, r.Err, tt.want)
			if r.Tx != nil {
				t.Fatalf("got tx %+v, want none", r.Tx)
			}
			if got := env.proxy.Sends(); len(got) != 0 {
				t.Fatalf("sends: got %v, want none", got)
			}
			if got := env.claims.Records()[e.ID]; got != 0 {
				t.Fatalf("claims recorded: got %d, want 0", got)
			}
			if held, err := env.claims.Lookup(context.Background(), e.ID); held != nil || err != nil {
				t.Fatalf("claim: got %+v (%v), want none", held, err)
			}
		})
	}
	// The same path still co-signs a payment within the caps.
	e := env.sol.Injected(t, settlertest.Pay{FeePayer: true}, solana.PayOptions{ComputeUnitPrice: 1_000})
	wantSubmitted(t, env.submit(t, e)[0])
}
