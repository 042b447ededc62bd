package evm_test

import (
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/crypto"

	"github.com/h402/settlement/pkg/chains/evm"
	"github.com/h402/settlement/pkg/events"
	"github.com/h402/settlement/pkg/h402"
)

// TestSubmitRefusesTokenOffAllowList: an accepted event ingest never
// verified (injected into the log) names a token that is not configured.
// Here it is an account without code, so a call to it "succeeds" and the old
// submitter signed and broadcast it with the facilitator key. The submitter
// refuses it for good without signing: nothing broadcast, no claim.
func TestSubmitRefusesTokenOffAllowList(t *testing.T) {
	b := newBench(t, 2)
	claims := newClaims(t)
	s := b.submitter(t, b.pool(t), 0, evm.SubmitterOptions{})
	good := b.authorization(t, b.chain.Payers()[0], 1_000, evm.AuthorizationOptions{})
	injected := *b.authorization(t, b.chain.Payers()[1], 1_000, evm.AuthorizationOptions{})
	injected.Token = strings.ToLower(crypto.PubkeyToAddress(mustGenKey(t).PublicKey).Hex())

	res := submit(t, s, []*events.PaymentAccepted{&injected}, claims)
	wantReason(t, injected.ID, res[0].Err, h402.ReasonTokenNotSupported)
	if got := b.rpc.count("eth_sendRawTransaction"); got != 0 {
		t.Fatalf("got %d broadcasts, want 0", got)
	}
	if got := claims.recordCount(); got != 0 {
		t.Fatalf("got %d claim records, want 0", got)
	}
	if held, err := claims.Lookup(t.Context(), injected.ID); held != nil || err != nil {
		t.Fatalf("claim of %s: got %+v (%v), want none", injected.ID, held, err)
	}
	// A configured token still settles.
	wantSubmitted(t, submit(t, s, []*events.PaymentAccepted{good}, claims))
}
