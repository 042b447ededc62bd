package reconcile_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/h402/settlement/pkg/chains"
	"github.com/h402/settlement/pkg/events"
	"github.com/h402/settlement/pkg/h402"
	"github.com/h402/settlement/pkg/ledger"
	"github.com/h402/settlement/pkg/reconcile"
	"github.com/h402/settlement/pkg/testenv"
)

const (
	token   = "0x833589fcd6edb6e08f4c7c32d4f71b54bda02913"
	sellerA = "0xaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	sellerB = "0xbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	payer1  = "0x1111111111111111111111111111111111111111"
	payer2  = "0x2222222222222222222222222222222222222222"
	signer  = "0x9999999999999999999999999999999999999999"
)

var t0 = time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)

func tx(i int) string { return fmt.Sprintf("0x%064x", 0xf000+i) }

type payment struct {
	e  *events.PaymentAccepted
	tx string
	at time.Time
}

func pay(i int, payer, payTo, amount string) *events.PaymentAccepted {
	return testenv.EVMPayment(i, token, payer, payTo, amount, t0.Add(time.Duration(i)*time.Minute))
}

// buildLedger writes the payments through the real event functions into
// an embedded JetStream and projects them: the finalized ones with tx, a
// failed one without.
func buildLedger(t *testing.T, ps []payment, failed *events.PaymentAccepted) *ledger.Ledger {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	env := testenv.StartJetStream(t)
	_, js := env.Connect(t)
	sl, err := events.OpenStateLog(ctx, js)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		testenv.PublishAccepted(t, ctx, js, p.e)
		testenv.Finalize(t, ctx, sl, p.e, p.tx, 3, p.at)
	}
	testenv.PublishAccepted(t, ctx, js, failed)
	if _, err := sl.Append(ctx, failed.Namespace, failed.NetworkID, events.Transition{ID: failed.ID, State: events.StateFailed, Reason: "insufficient_funds", At: t0}); err != nil {
		t.Fatal(err)
	}
	l, err := ledger.Open(filepath.Join(t.TempDir(), "ledger.db"), ledger.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	if err := ledger.CatchUp(ctx, js, l); err != nil {
		t.Fatal(err)
	}
	return l
}

// chain is an in-test chains.Auditor: it stands in for the chain, whose
// transfers each case states. (The real auditors run against the dev
// chains in the integration test.)
type chain struct {
	in     map[string][]chains.Transfer
	sent   []chains.Transfer
	asked  []string
	sentTo []string
}

func (c *chain) Namespace() h402.Namespace { return h402.NamespaceEVM }

func (c *chain) TransfersIn(_ context.Context, txHash string) ([]chains.Transfer, error) {
	c.asked = append(c.asked, txHash)
	return c.in[txHash], nil
}

func (c *chain) SentBy(_ context.Context, accounts []string, from, to time.Time) ([]chains.Transfer, error) {
	c.sentTo = accounts
	var out []chains.Transfer
	for _, t := range c.sent {
		if !t.At.Before(from) && t.At.Before(to) {
			out = append(out, t)
		}
	}
	return out, nil
}

func xfer(txh, from, to, amount string, index uint, at time.Time) chains.Transfer {
	return chains.Transfer{TxHash: txh, Block: 3, At: at, Token: token, From: from, To: to, Amount: amount, Index: index}
}

func TestReconcile(t *testing.T) {
	h := time.Hour
	p1, p2, p3 := pay(1, payer1, sellerA, "100"), pay(2, payer2, sellerA, "50"), pay(3, payer2, sellerA, "50")
	p4, p5 := pay(4, payer1, sellerB, "70"), pay(5, payer1, sellerA, "10")
	l := buildLedger(t, []payment{
		{p1, tx(1), t0.Add(h)},
		{p2, tx(2), t0.Add(2 * h)}, {p3, tx(2), t0.Add(2 * h)}, // one batch, two equal payments
		{p4, tx(3), t0.Add(3 * h)},
		{p5, tx(4), t0.Add(30 * h)}, // finalized after the range
	}, pay(6, payer1, sellerA, "1"))
	// The chain as it agrees with the ledger.
	agree := func() *chain {
		c := &chain{in: map[string][]chains.Transfer{
			tx(1): {xfer(tx(1), payer1, sellerA, "100", 0, t0.Add(h-time.Minute))},
			tx(2): {xfer(tx(2), payer2, sellerA, "50", 0, t0.Add(2*h-time.Minute)), xfer(tx(2), payer2, sellerA, "50", 1, t0.Add(2*h-time.Minute))},
			tx(3): {xfer(tx(3), payer1, sellerB, "70", 0, t0.Add(3*h-time.Minute))},
			tx(4): {xfer(tx(4), payer1, sellerA, "10", 0, t0.Add(30*h-time.Minute))},
		}}
		for _, txh := range []string{tx(1), tx(2), tx(3), tx(4)} {
			c.sent = append(c.sent, c.in[txh]...)
		}
		return c
	}
	first, second := p2.ID, p3.ID
	if second < first {
		first, second = second, first
	}
	for _, tc := range []struct {
		name   string
		change func(c *chain)
		want   []string // kind payment tx
	}{
		{"chain and ledger agree", func(*chain) {}, nil},
		{"addresses in another case", func(c *chain) {
			for i := range c.in[tx(1)] {
				c.in[tx(1)][i].From = strings.ToUpper(payer1[:2]) + strings.ToUpper(payer1[2:])
			}
		}, nil},
		{"a batch carries one transfer for two equal payments", func(c *chain) {
			c.in[tx(2)] = c.in[tx(2)][:1]
			c.sent = slices.DeleteFunc(c.sent, func(t chains.Transfer) bool { return t.TxHash == tx(2) && t.Index == 1 })
		}, []string{"missing_transfer " + second + " " + tx(2)}},
		{"wrong amount", func(c *chain) {
			c.in[tx(3)][0].Amount = "69"
			for i := range c.sent {
				if c.sent[i].TxHash == tx(3) {
					c.sent[i].Amount = "69"
				}
			}
		}, []string{"missing_transfer " + p4.ID + " " + tx(3), "unknown_transfer - " + tx(3)}},
		{"transaction not on chain", func(c *chain) {
			delete(c.in, tx(1))
			c.sent = slices.DeleteFunc(c.sent, func(t chains.Transfer) bool { return t.TxHash == tx(1) })
		}, []string{"tx_not_on_chain " + p1.ID + " " + tx(1)}},
		{"a transfer the ledger does not have", func(c *chain) {
			c.sent = append(c.sent, xfer(tx(9), payer1, sellerA, "5", 0, t0.Add(5*h)))
		}, []string{"unknown_transfer - " + tx(9)}},
		{"a transfer to someone else in a payment's transaction", func(c *chain) {
			extra := xfer(tx(1), payer1, sellerB, "100", 1, t0.Add(h-time.Minute))
			c.in[tx(1)] = append(c.in[tx(1)], extra)
			c.sent = append(c.sent, extra)
		}, []string{"unknown_transfer - " + tx(1)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := agree()
			tc.change(c)
			diffs, err := reconcile.Reconcile(context.Background(), l, []reconcile.Network{
				{Namespace: h402.NamespaceEVM, NetworkID: "8453", Auditor: c, Accounts: []string{signer}},
			}, t0, t0.Add(24*h))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, d := range diffs {
				f := strings.Split(d.String(), "\t")
				got = append(got, strings.Join(f[:1], "")+" "+f[2]+" "+f[3])
				if d.Network != "evm.8453" || d.Message == "" {
					t.Errorf("difference %q: want network evm.8453 and a sentence", d)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("got differences %q, want %q", got, tc.want)
			}
			if slices.Contains(c.asked, tx(4)) {
				t.Errorf("asked the chain about %s, finalized after the range", tx(4))
			}
			if !slices.Equal(c.sentTo, []string{signer}) {
				t.Errorf("SentBy accounts: got %v", c.sentTo)
			}
		})
	}
}

type solanaChain struct{ *chain }

func (solanaChain) Namespace() h402.Namespace { return h402.NamespaceSolana }

func TestReconcileRefusesAnotherNamespace(t *testing.T) {
	l, err := ledger.Open(filepath.Join(t.TempDir(), "l.db"), ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, err = reconcile.Reconcile(context.Background(), l, []reconcile.Network{
		{Namespace: h402.NamespaceEVM, NetworkID: "8453", Auditor: solanaChain{&chain{}}},
	}, t0, t0.Add(time.Hour))
	if err == nil {
		t.Error("got no error for a Solana auditor on an EVM network")
	}
}
