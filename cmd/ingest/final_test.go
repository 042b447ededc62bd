package main

import (
	"context"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/h402/settlement/pkg/config"
	"github.com/h402/settlement/pkg/events"
	"github.com/h402/settlement/pkg/h402"
)

// stateLog opens the state log on a connection of its own, as the watcher
// (another process) writes transitions.
func (h *harness) stateLog() *events.StateLog {
	h.t.Helper()
	_, js := h.js.Connect(h.t)
	log, err := events.OpenStateLog(context.Background(), js)
	if err != nil {
		h.t.Fatal(err)
	}
	return log
}

func appendState(t *testing.T, log *events.StateLog, id string, tr events.Transition) *events.Transition {
	t.Helper()
	tr.ID = id
	out, err := log.Append(context.Background(), h402.NamespaceEVM, "84532", tr)
	if err != nil {
		t.Fatalf("append %s of %s: %v", tr.State, id, err)
	}
	return out
}

func num(a answer, k string) uint64 { f, _ := a.Body[k].(float64); return uint64(f) }

func at(t *testing.T, a answer, k string) time.Time {
	t.Helper()
	s := a.str(k)
	if s == "" {
		return time.Time{}
	}
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatalf("%s = %q: %v", k, s, err)
	}
	return v
}

// TestPaymentStatusTerminal: GET /payments/{id} shows what the watcher's
// transitions (events.StateLog.Append on another connection) record:
// confirmed with its tx and block; finalized with its tx, block and
// finalizedAt (the finalized transition's time); failed with its reason and
// message; sent back to accepted with neither tx nor finality.
func TestPaymentStatusTerminal(t *testing.T) {
	h := newHarness(t, false)
	_, url := h.ingest("a", nil)
	log := h.stateLog()
	usdc := h.evm.Token().Hex()
	accept := func(payer int, amount string) string {
		t.Helper()
		req := h.evmReq(usdc, amount)
		s := post(t, url+"/settle", body(h.authorize(req, h.evm.Payers()[payer]), req))
		if s.Status != 200 || s.str("paymentId") == "" {
			t.Fatalf("/settle: %d %v; want accepted", s.Status, s.Body)
		}
		return s.str("paymentId")
	}
	tx := "0x" + strings.Repeat("ab", 32)
	blockTime := time.Date(2026, 11, 30, 12, 0, 7, 0, time.UTC)

	t.Run("confirmed then finalized", func(t *testing.T) {
		id := accept(1, "10000")
		appendState(t, log, id, events.Transition{State: events.StateSubmitted, TxHash: tx})
		appendState(t, log, id, events.Transition{State: events.StateConfirmed, TxHash: tx, Block: 41})
		p := get(t, url+"/payments/"+id)
		if p.Status != 200 || p.str("state") != "confirmed" || p.str("txHash") != tx || num(p, "block") != 41 || p.str("finalizedAt") != "" {
			t.Fatalf("confirmed: %d %v; want confirmed with txHash %s, block 41, no finalizedAt", p.Status, p.Body, tx)
		}
		appendState(t, log, id, events.Transition{State: events.StateFinalized, TxHash: tx, Block: 41, At: blockTime})
		p = get(t, url+"/payments/"+id)
		if p.Status != 200 || p.str("state") != "finalized" || p.str("txHash") != tx || num(p, "block") != 41 || !at(t, p, "finalizedAt").Equal(blockTime) {
			t.Fatalf("finalized: %d %v; want finalized with txHash %s, block 41, finalizedAt %s", p.Status, p.Body, tx, blockTime)
		}
		if p.str("reason") != "" || p.str("message") != "" || at(t, p, "acceptedAt").IsZero() {
			t.Errorf("finalized: %v; want no reason or message, and acceptedAt", p.Body)
		}
	})
	t.Run("failed", func(t *testing.T) {
		id := accept(2, "10001")
		appendState(t, log, id, events.Transition{State: events.StateSubmitted, TxHash: tx})
		appendState(t, log, id, events.Transition{State: events.StateFailed, Reason: h402.ReasonNonceAlreadyUsed, Message: "the authorization was used before settlement", Block: 43})
		p := get(t, url+"/payments/"+id)
		if p.Status != 200 || p.str("state") != "failed" || p.str("reason") != string(h402.ReasonNonceAlreadyUsed) ||
			p.str("message") != "the authorization was used before settlement" || num(p, "block") != 43 || p.str("finalizedAt") != "" {
			t.Fatalf("failed: %d %v; want failed with its reason, message and block, no finalizedAt", p.Status, p.Body)
		}
	})
	t.Run("sent back", func(t *testing.T) {
		id := accept(3, "10002")
		appendState(t, log, id, events.Transition{State: events.StateSubmitted, TxHash: tx})
		if _, err := log.SendBack(context.Background(), acceptedEvent(t, h, id), "reorged out"); err != nil {
			t.Fatal(err)
		}
		p := get(t, url+"/payments/"+id)
		if p.Status != 200 || p.str("state") != "accepted" || p.str("txHash") != "" || p.str("finalizedAt") != "" {
			t.Fatalf("sent back: %d %v; want accepted, without txHash or finalizedAt", p.Status, p.Body)
		}
	})
}

// TestSettleWaitAnswersOnTransition: a /settle waiting (settleWait) is
// answered as soon as the transition it waits for is stored by another
// process (events.StateLog.Append on its own connection): `submitted`
// carries the tx hash; `finalized` the tx hash, block and finalizedAt;
// `failed` its reason. The wait timeout is far longer than the test: an
// answer that is not settlement_pending came from the transition.
func TestSettleWaitAnswersOnTransition(t *testing.T) {
	h := newHarness(t, false)
	wait := func(target string) string {
		_, url := h.ingest(target, func(c *config.Config) {
			c.Ingest.SettleWait = target
			c.Ingest.SettleWaitTimeout = config.Duration(2 * time.Minute)
		})
		return url
	}
	submittedURL, finalizedURL := wait("submitted"), wait("finalized")
	log := h.stateLog()
	_, js := h.js.Connect(t)
	usdc := h.evm.Token().Hex()
	settle := func(url string, payer int, amount int64) (string, chan answer) {
		t.Helper()
		req := h.evmReq(usdc, big.NewInt(amount).String())
		header := h.authorize(req, h.evm.Payers()[payer])
		done := make(chan answer, 1)
		go func() { done <- post(t, url+"/settle", body(header, req)) }()
		return waitForAccepted(t, js, big.NewInt(amount)), done
	}
	tx := "0x" + strings.Repeat("ef", 32)
	blockTime := time.Date(2026, 11, 30, 12, 30, 0, 0, time.UTC)

	t.Run("submitted", func(t *testing.T) {
		id, done := settle(submittedURL, 1, 20001)
		appendState(t, log, id, events.Transition{State: events.StateSubmitted, TxHash: tx})
		a := <-done
		if a.Status != 200 || a.Body["success"] != true || a.str("state") != "submitted" || a.str("transaction") != tx || a.str("errorReason") != "" {
			t.Errorf("settle waiting for submitted: %d %v; want success, submitted, transaction %s", a.Status, a.Body, tx)
		}
	})
	t.Run("finalized", func(t *testing.T) {
		id, done := settle(finalizedURL, 2, 20002)
		appendState(t, log, id, events.Transition{State: events.StateSubmitted, TxHash: tx})
		appendState(t, log, id, events.Transition{State: events.StateConfirmed, TxHash: tx, Block: 77})
		select {
		case a := <-done:
			t.Fatalf("answered before finalized: %d %v", a.Status, a.Body)
		default:
		}
		appendState(t, log, id, events.Transition{State: events.StateFinalized, TxHash: tx, Block: 77, At: blockTime})
		a := <-done
		if a.Status != 200 || a.Body["success"] != true || a.str("state") != "finalized" || a.str("transaction") != tx ||
			num(a, "block") != 77 || !at(t, a, "finalizedAt").Equal(blockTime) || a.str("errorReason") != "" || a.str("paymentId") != id {
			t.Errorf("settle waiting for finalized: %d %v; want success, finalized, transaction %s, block 77, finalizedAt %s", a.Status, a.Body, tx, blockTime)
		}
		if a.Header.Get("X-PAYMENT-RESPONSE") == "" {
			t.Errorf("no X-PAYMENT-RESPONSE header on a finalized answer")
		}
	})
	t.Run("failed", func(t *testing.T) {
		id, done := settle(finalizedURL, 3, 20003)
		appendState(t, log, id, events.Transition{State: events.StateSubmitted, TxHash: tx})
		appendState(t, log, id, events.Transition{State: events.StateFailed, Reason: h402.ReasonInsufficientFunds, Message: "the payer's balance moved away"})
		a := <-done
		if a.Status != 200 || a.Body["success"] != false || a.str("state") != "failed" || a.str("errorReason") != string(h402.ReasonInsufficientFunds) || a.str("paymentId") != id {
			t.Errorf("settle waiting for finalized of a failed payment: %d %v; want failure with reason insufficient_funds", a.Status, a.Body)
		}
	})
}
