package evm_test

import (
	"math/big"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/h402/settlement/pkg/chains"
	"github.com/h402/settlement/pkg/chains/evm"
	"github.com/h402/settlement/pkg/events"
	"github.com/h402/settlement/pkg/h402"
)

// TestAuditor: TransfersIn and SentBy read back exactly the final
// transfers of the facilitator's batch (and its native payment), not those
// of other senders in the same block, nor anything outside the time window
// or above finality.
func TestAuditor(t *testing.T) {
	b := newBench(t, 3)
	claims := newClaims(t)
	s := b.submitter(t, b.pool(t), 0, evm.SubmitterOptions{})
	payers := b.chain.Payers()
	batch := []*events.PaymentAccepted{
		b.authorization(t, payers[0], 1_100, evm.AuthorizationOptions{}),
		b.authorization(t, payers[1], 1_200, evm.AuthorizationOptions{}),
	}
	subs := submissions(t, batch, submit(t, s, batch, claims))
	batchHash := subs[0].Tx.Hash

	// In the same block: the facilitator pays native value, the third
	// payer transfers on its own, another facilitator settles an authorization.
	fac := b.chain.Facilitators()[0]
	n, err := b.chain.Client().PendingNonceAt(t.Context(), s.Address())
	if err != nil {
		t.Fatal(err)
	}
	native := types.MustSignNewTx(fac, types.LatestSignerForChainID(b.chain.ChainID()), &types.DynamicFeeTx{
		ChainID: b.chain.ChainID(), Nonce: n, To: &b.payTo, Value: big.NewInt(12_345),
		Gas: 21_000, GasTipCap: big.NewInt(2e9), GasFeeCap: big.NewInt(2e11),
	})
	if err := b.chain.Client().SendTransaction(t.Context(), native); err != nil {
		t.Fatal(err)
	}
	payer2 := crypto.PubkeyToAddress(payers[2].PublicKey)
	pn, err := b.chain.Client().PendingNonceAt(t.Context(), payer2)
	if err != nil {
		t.Fatal(err)
	}
	sendAt(t, b, payers[2], pn, b.chain.Token(), evm.TransferCalldata(b.payTo, big.NewInt(999)))
	other := b.chain.Facilitators()[1]
	on, err := b.chain.Client().PendingNonceAt(t.Context(), crypto.PubkeyToAddress(other.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	call, _, _, err := evm.DecodeAuthorization(b.authorization(t, payers[2], 1_300, evm.AuthorizationOptions{}))
	if err != nil {
		t.Fatal(err)
	}
	otherHash := sendAt(t, b, other, on, b.chain.Token(), call)
	b.chain.Commit()
	r := b.receipt(t, batchHash)
	if r == nil || b.receipt(t, native.Hash().Hex()) == nil || b.receipt(t, otherHash.Hex()) == nil {
		t.Fatal("want the batch, the native payment and the other settlement mined")
	}
	head, err := b.chain.Client().HeaderByNumber(t.Context(), r.BlockNumber)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Unix(int64(head.Time), 0).UTC()

	a, err := evm.NewAuditor(b.depthNetwork(), b.pool(t), evm.AuditorOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := a.TransfersIn(t.Context(), batchHash); err != nil || got != nil {
		t.Fatalf("not final: got %+v, %v; want nil", got, err)
	}
	window := func(from, to time.Time) []chains.Transfer {
		t.Helper()
		got, err := a.SentBy(t.Context(), []string{strings.ToUpper(s.Address().Hex()[2:])}, from, to)
		if err != nil {
			t.Fatalf("sent by: %v", err)
		}
		return got
	}
	if got := window(at, at.Add(time.Second)); len(got) != 0 {
		t.Fatalf("not final: sent by got %+v, want none", got)
	}
	b.commitN(confirmDepth)

	token, payTo := strings.ToLower(b.chain.Token().Hex()), strings.ToLower(b.payTo.Hex())
	var want []chains.Transfer
	for _, l := range r.Logs {
		if len(l.Topics) == 3 && l.Topics[0] == crypto.Keccak256Hash([]byte("Transfer(address,address,uint256)")) {
			want = append(want, chains.Transfer{TxHash: batchHash, Block: head.Number.Uint64(), At: at, Token: token,
				From: strings.ToLower(common.BytesToAddress(l.Topics[1].Bytes()).Hex()), To: payTo,
				Amount: new(big.Int).SetBytes(l.Data).String(), Index: l.Index})
		}
	}
	if len(want) != 2 || want[0].Amount != "1100" || want[1].Amount != "1200" {
		t.Fatalf("batch receipt transfers: got %+v, want 1100 and 1200", want)
	}
	got, err := a.TransfersIn(t.Context(), batchHash)
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("transfers in batch:\ngot  %+v, %v\nwant %+v", got, err, want)
	}
	nativeWant := chains.Transfer{TxHash: strings.ToLower(native.Hash().Hex()), Block: head.Number.Uint64(), At: at,
		Token: h402.EVMNativeToken, From: strings.ToLower(s.Address().Hex()), To: payTo, Amount: "12345"}
	if got, err := a.TransfersIn(t.Context(), native.Hash().Hex()); err != nil || !slices.Equal(got, []chains.Transfer{nativeWant}) {
		t.Fatalf("transfers in native payment: got %+v, %v; want %+v", got, err, nativeWant)
	}
	if got, err := a.TransfersIn(t.Context(), common.Hash{1}.Hex()); err != nil || got != nil {
		t.Fatalf("unknown hash: got %+v, %v; want nil", got, err)
	}

	all := append(slices.Clone(want), nativeWant)
	slices.SortFunc(all, func(x, y chains.Transfer) int { return strings.Compare(x.TxHash+x.Token, y.TxHash+y.Token) })
	sorted := func(ts []chains.Transfer) []chains.Transfer {
		ts = slices.Clone(ts)
		slices.SortStableFunc(ts, func(x, y chains.Transfer) int { return strings.Compare(x.TxHash+x.Token, y.TxHash+y.Token) })
		return ts
	}
	cases := []struct {
		name     string
		from, to time.Time
		want     []chains.Transfer
	}{
		{"the block's second", at, at.Add(time.Second), all},
		{"a wide window", at.Add(-time.Hour), at.Add(time.Hour), all},
		{"ends at the block", at.Add(-time.Hour), at, nil},
		{"starts after the block", at.Add(time.Second), at.Add(time.Hour), nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := sorted(window(c.from, c.to)); !slices.Equal(got, c.want) {
				t.Fatalf("got  %+v\nwant %+v", got, c.want)
			}
		})
	}
	if got, err := a.SentBy(t.Context(), []string{strings.ToLower(payer2.Hex())}, at, at.Add(time.Second)); err != nil || len(got) != 1 || got[0].Amount != "999" {
		t.Fatalf("sent by the third payer: got %+v, %v; want its one transfer of 999", got, err)
	}

	// A window wider than MaxScanBlocks is refused, not truncated.
	narrow, err := evm.NewAuditor(b.depthNetwork(), b.pool(t), evm.AuditorOptions{MaxScanBlocks: 1})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := narrow.SentBy(t.Context(), []string{s.Address().Hex()}, at.Add(-time.Hour), at.Add(time.Hour)); err == nil || got != nil {
		t.Fatalf("window over MaxScanBlocks: got %+v, %v; want an error", got, err)
	}
}
