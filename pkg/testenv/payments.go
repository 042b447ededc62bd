package testenv

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/h402/settlement/pkg/events"
	"github.com/h402/settlement/pkg/h402"
)

// EVMPayment is payment i (its nonce) of an EIP-3009 authorization on
// evm:8453: amount of token from payer to payTo, accepted at at. Its
// signature is a placeholder: it is for tests of what follows acceptance.
func EVMPayment(i int, token, payer, payTo, amount string, at time.Time) *events.PaymentAccepted {
	nonce := fmt.Sprintf("0x%064x", i)
	return &events.PaymentAccepted{
		Version: events.PaymentAcceptedVersion, ID: "evm.8453.auth." + token + "." + payer + "." + nonce,
		Namespace: h402.NamespaceEVM, NetworkID: "8453", Type: h402.TypeAuthorization,
		Token: token, Payer: payer, PayTo: payTo, Amount: amount, Nonce: nonce, ValidBefore: 1764000060, Settle: true,
		Authorization: &events.EVMAuthorization{From: payer, To: payTo, Value: amount, ValidAfter: "0", ValidBefore: "1764000060",
			Nonce: nonce, Signature: "0x" + strings.Repeat("11", 64) + "1b"},
		AcceptedAt: at,
	}
}

// PublishAccepted publishes e as ingest does: on its accepted subject, with
// its id as Nats-Msg-Id.
func PublishAccepted(t testing.TB, ctx context.Context, js jetstream.JetStream, e *events.PaymentAccepted) {
	t.Helper()
	subj, err := events.PaymentAcceptedSubject(e.Namespace, e.NetworkID, e.ID)
	if err != nil {
		t.Fatal(err)
	}
	b, err := e.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, subj, b, jetstream.WithMsgID(e.ID)); err != nil {
		t.Fatalf("publish accepted %s: %v", e.ID, err)
	}
}

// Finalize appends e's submitted (tx), confirmed (block) and finalized
// transitions, all at at.
func Finalize(t testing.TB, ctx context.Context, sl *events.StateLog, e *events.PaymentAccepted, tx string, block uint64, at time.Time) {
	t.Helper()
	for _, tr := range []events.Transition{
		{ID: e.ID, State: events.StateSubmitted, TxHash: tx, At: at},
		{ID: e.ID, State: events.StateConfirmed, TxHash: tx, Block: block, At: at},
		{ID: e.ID, State: events.StateFinalized, TxHash: tx, Block: block, At: at},
	} {
		if _, err := sl.Append(ctx, e.Namespace, e.NetworkID, tr); err != nil {
			t.Fatalf("append %s of %s: %v", tr.State, e.ID, err)
		}
	}
}
