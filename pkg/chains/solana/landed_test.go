package solana

import (
	"reflect"
	"testing"

	solanago "github.com/gagliardetto/solana-go"
	"github.com/gagliardetto/solana-go/rpc"

	"github.com/h402/settlement/pkg/chains"
	"github.com/h402/settlement/pkg/h402"
)

func tokenBalance(index uint16, mint, owner solanago.PublicKey, amount string) rpc.TokenBalance {
	return rpc.TokenBalance{AccountIndex: index, Mint: mint, Owner: &owner, UiTokenAmount: &rpc.UiTokenAmount{Amount: amount}}
}

// TestTransfersPairMultiPartyDeltas: balance changes are summed per owner
// and mint (a move between two accounts of one owner cancels), paired
// first-fit from the owners who lost to those who gained, an unpaired rest
// is a burn or a mint, and lamports count without the fee.
func TestTransfersPairMultiPartyDeltas(t *testing.T) {
	k := func() solanago.PublicKey { return solanago.NewWallet().PublicKey() }
	feePayer, alice, bob, carol, dave := k(), k(), k(), k(), k()
	mint, other := k(), k()
	// Accounts: 0 fee payer, 1 alice's, 2 bob's, 3 carol's, 4 dave's, 5 and 6 two of alice's, 7 bob's other-mint.
	keys := solanago.PublicKeySlice{feePayer, k(), k(), k(), k(), k(), k(), k()}
	sig := solanago.Signature{9}
	lt := &landedTx{sig: sig, slot: 7, keys: keys, meta: &rpc.TransactionMeta{
		Fee:          5000,
		PreBalances:  []uint64{1_000_000, 10, 10, 10, 10, 10, 10, 10},
		PostBalances: []uint64{1_000_000 - 5000 - 300, 10, 10 + 300, 10, 10, 10, 10, 10},
		PreTokenBalances: []rpc.TokenBalance{
			tokenBalance(1, mint, alice, "100"), tokenBalance(2, mint, bob, "50"),
			tokenBalance(3, mint, carol, "0"), tokenBalance(4, mint, dave, "0"),
			tokenBalance(5, mint, alice, "5"), tokenBalance(6, mint, alice, "0"),
			tokenBalance(7, other, bob, "9"),
		},
		PostTokenBalances: []rpc.TokenBalance{
			// alice -70, bob -50 → carol +80, dave +30, and 10 burned; alice's own move 5 → 0, 0 → 5 cancels.
			tokenBalance(1, mint, alice, "30"), tokenBalance(2, mint, bob, "0"),
			tokenBalance(3, mint, carol, "80"), tokenBalance(4, mint, dave, "30"),
			tokenBalance(5, mint, alice, "0"), tokenBalance(6, mint, alice, "5"),
			tokenBalance(7, other, bob, "12"), // minted
		},
	}}
	got, err := lt.transfers()
	if err != nil {
		t.Fatal(err)
	}
	tr := func(i uint, token, from, to solanago.PublicKey, amount string) chains.Transfer {
		f, tt := "", ""
		if !from.IsZero() {
			f = from.String()
		}
		if !to.IsZero() {
			tt = to.String()
		}
		return chains.Transfer{TxHash: sig.String(), Block: 7, Token: token.String(), From: f, To: tt, Amount: amount, Index: i}
	}
	native := solanago.MustPublicKeyFromBase58(h402.SolanaNativeToken)
	none := solanago.PublicKey{}
	want := []chains.Transfer{
		tr(0, mint, alice, carol, "70"),
		tr(1, mint, bob, carol, "10"),
		tr(2, mint, bob, dave, "30"),
		tr(3, mint, bob, none, "10"),
		tr(4, other, none, bob, "3"),
		tr(5, native, feePayer, keys[2], "300"),
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}

	lt.meta.PostBalances = lt.meta.PostBalances[:3]
	if _, err := lt.transfers(); err == nil {
		t.Error("pre and post balances of different lengths: got no error")
	}
}
