package solana_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	solanago "github.com/gagliardetto/solana-go"

	"github.com/h402/settlement/pkg/chains"
	"github.com/h402/settlement/pkg/chains/solana"
	"github.com/h402/settlement/pkg/h402"
	"github.com/h402/settlement/pkg/settler/settlertest"
)

// TestAuditorFindsThePaymentsTransfers: TransfersIn reads a final
// payment's transfer back (and nothing for what is not final or not on
// chain); SentBy finds the transfers of transactions our fee payers paid
// for, inside the time window only, paged or not.
func TestAuditorFindsThePaymentsTransfers(t *testing.T) {
	t.Parallel()
	env := newConfirmEnv(t)
	ctx := context.Background()
	ln := env.sol.LN
	clock := func(d time.Duration) {
		t.Helper()
		if _, err := ln.AdvanceClock(ctx, 1, d); err != nil {
			t.Fatal(err)
		}
	}
	payer := ln.Payers()[0].PublicKey().String()
	seller := ln.Seller().String()
	usdc := env.sol.USDC().Address

	a := env.submitted(t, env.sol.Accepted(t, settlertest.Pay{Amount: 1001, FeePayer: true}))[0]
	clock(10 * time.Second)
	bc := env.submitted(t,
		env.sol.Accepted(t, settlertest.Pay{Amount: 1002, FeePayer: true}),
		env.sol.Accepted(t, settlertest.Pay{Amount: 1003})) // the payer pays its own fee
	b, c := bc[0], bc[1]
	failed := env.sendUnchecked(t, env.sol.Accepted(t, settlertest.Pay{Amount: 2_000_000_000_000, Payer: ln.Payers()[1]}))
	clock(10 * time.Second)
	d := env.submitted(t, env.sol.Accepted(t, settlertest.Pay{Amount: 1004, FeePayer: true}))[0]
	env.advance(t, uint64(ln.Manifest.FinalityDepthSlots))
	notFinal := env.submitted(t, env.sol.Accepted(t, settlertest.Pay{Amount: 1005, FeePayer: true}))[0]
	env.advance(t, 1)

	aud, err := solana.NewAuditor(&env.network, env.pool, solana.AuditOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// The confirmer's view of each payment gives slot and time to expect.
	confs := env.confirm(t, env.conf, []chains.Submission{a, b, c, d})
	want := func(i int, s chains.Submission) chains.Transfer {
		wantStatus(t, confs[i], chains.Finalized, "")
		return chains.Transfer{TxHash: s.Tx.Hash, Block: confs[i].Block, At: confs[i].At, Token: usdc, From: payer, To: seller, Amount: s.Payment.Amount}
	}
	ta, tb, tc, td := want(0, a), want(1, b), want(2, c), want(3, d)
	if !ta.At.Before(tb.At) || !tb.At.Before(td.At) {
		t.Fatalf("block times %s, %s, %s: want increasing", ta.At, tb.At, td.At)
	}

	t.Run("TransfersIn", func(t *testing.T) {
		for _, tt := range []struct {
			name string
			hash string
			want []chains.Transfer
		}{
			{"a co-signed payment", a.Tx.Hash, []chains.Transfer{ta}},
			{"a client-paid payment", c.Tx.Hash, []chains.Transfer{tc}},
			{"a failed transaction moved nothing", failed.Tx.Hash, []chains.Transfer{}},
			{"not final yet", notFinal.Tx.Hash, nil},
			{"never on chain", solanago.Signature{1, 2, 3}.String(), nil},
		} {
			t.Run(tt.name, func(t *testing.T) {
				got, err := aud.TransfersIn(ctx, tt.hash)
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got, tt.want) {
					t.Fatalf("got %+v, want %+v", got, tt.want)
				}
			})
		}
		if _, err := aud.TransfersIn(ctx, "not a signature"); err == nil {
			t.Error("TransfersIn of text that is no signature: got no error")
		}
	})

	paged, err := solana.NewAuditor(&env.network, env.pool, solana.AuditOptions{PageSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, au := range []struct {
		name string
		a    *solana.Auditor
	}{{"one page", aud}, {"pages of one", paged}} {
		t.Run("SentBy/"+au.name, func(t *testing.T) {
			for _, tt := range []struct {
				name     string
				accounts []string
				from, to time.Time
				want     []chains.Transfer
			}{
				{"our fee payers, all time", env.network.FeePayers, ta.At, td.At.Add(time.Second), []chains.Transfer{ta, tb, td}},
				{"our fee payers, the middle second", env.network.FeePayers, tb.At, td.At, []chains.Transfer{tb}},
				{"the window's end is excluded", env.network.FeePayers, ta.At, tb.At, []chains.Transfer{ta}},
				{"before anything", env.network.FeePayers, ta.At.Add(-time.Hour), ta.At, []chains.Transfer{}},
				{"the payer's own fee-paid transactions", []string{payer}, ta.At, td.At.Add(time.Second), []chains.Transfer{tc}},
				{"an account that paid nothing", []string{seller}, ta.At, td.At.Add(time.Second), []chains.Transfer{}},
			} {
				t.Run(tt.name, func(t *testing.T) {
					got, err := au.a.SentBy(ctx, tt.accounts, tt.from, tt.to)
					if err != nil {
						t.Fatal(err)
					}
					if !reflect.DeepEqual(got, tt.want) {
						t.Fatalf("got %+v\nwant %+v", got, tt.want)
					}
				})
			}
		})
	}
	if _, err := aud.SentBy(ctx, []string{"nope"}, ta.At, td.At); err == nil {
		t.Error("SentBy of an account that is no public key: got no error")
	}
	if aud.Namespace() != h402.NamespaceSolana || env.conf.Namespace() != h402.NamespaceSolana {
		t.Error("namespace is not solana")
	}
}
