package soldev

import (
	"context"
	"errors"
	"testing"

	"github.com/gagliardetto/solana-go"
	"github.com/gagliardetto/solana-go/rpc"
)

// tokenAmount finds account's amount in a getTransaction token balance list ("" if absent).
func tokenAmount(balances []rpc.TokenBalance, keys []solana.PublicKey, account solana.PublicKey) string {
	for _, b := range balances {
		if int(b.AccountIndex) < len(keys) && keys[b.AccountIndex].Equals(account) && b.UiTokenAmount != nil {
			return b.UiTokenAmount.Amount
		}
	}
	return ""
}

func keyIndex(keys []solana.PublicKey, k solana.PublicKey) int {
	for i, x := range keys {
		if x.Equals(k) {
			return i
		}
	}
	return -1
}

func signatureStatus(t *testing.T, ln *Localnet, sig solana.Signature) *rpc.SignatureStatusesResult {
	t.Helper()
	out, err := ln.RPC().GetSignatureStatuses(context.Background(), false, sig)
	if err != nil {
		t.Fatalf("getSignatureStatuses: %v", err)
	}
	if len(out.Value) != 1 || out.Value[0] == nil {
		t.Fatalf("getSignatureStatuses(%s): got %+v, want one status", sig, out.Value)
	}
	return out.Value[0]
}

func TestPaymentLandsAndFinalizes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ln := StartT(t, Config{})
	client := ln.RPC()
	depth := ln.Manifest.FinalityDepthSlots
	newRecipient := devKey("test-new-recipient").PublicKey()

	tests := []struct {
		name  string
		payer int
		payTo solana.PublicKey
		mint  *Mint
		// rentPaid is what the payer pays to create payTo's token account.
		rentPaid uint64
	}{
		{name: "spl token", payer: 0, payTo: ln.Seller(), mint: &ln.Mints.USDC},
		{name: "token-2022", payer: 1, payTo: ln.Seller(), mint: &ln.Mints.Token2022},
		{name: "native sol", payer: 2, payTo: ln.Seller()},
		{name: "spl token to a new recipient", payer: 3, payTo: newRecipient, mint: &ln.Mints.USDC, rentPaid: 2039280},
		{name: "token-2022 to a new recipient", payer: 3, payTo: newRecipient, mint: &ln.Mints.Token2022, rentPaid: 2074080},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := payment{
				payer:   ln.Payers()[tc.payer],
				payTo:   tc.payTo,
				mint:    tc.mint,
				amount:  10_000 + uint64(i), // 0.01 token or 10,000 lamports, distinct per case
				cuLimit: 20_000 + uint32(i),
				cuPrice: 1_000_001,
			}
			bh, err := client.GetLatestBlockhash(ctx, rpc.CommitmentConfirmed)
			if err != nil {
				t.Fatal(err)
			}
			tx := buildPaymentTx(t, bh.Value.Blockhash, p)
			sig, err := client.SendTransactionWithOpts(ctx, tx, rpc.TransactionOpts{})
			if err != nil {
				t.Fatalf("sendTransaction: %v", err)
			}
			if sig != tx.Signatures[0] {
				t.Fatalf("sendTransaction returned %s, want the tx's first signature %s", sig, tx.Signatures[0])
			}
			landed, err := client.GetSlot(ctx, rpc.CommitmentProcessed)
			if err != nil {
				t.Fatal(err)
			}

			st := signatureStatus(t, ln, sig)
			if st.ConfirmationStatus != rpc.ConfirmationStatusProcessed || st.Slot != landed || st.Err != nil {
				t.Fatalf("status after send: got %s at slot %d err %v, want processed at %d, no error", st.ConfirmationStatus, st.Slot, st.Err, landed)
			}
			if _, err := client.GetTransaction(ctx, sig, &rpc.GetTransactionOpts{Commitment: rpc.CommitmentConfirmed}); !errors.Is(err, rpc.ErrNotFound) {
				t.Fatalf("getTransaction(confirmed) before a slot passed: got %v, want rpc.ErrNotFound", err)
			}

			if _, err := ln.AdvanceSlots(ctx, 1); err != nil {
				t.Fatal(err)
			}
			st = signatureStatus(t, ln, sig)
			if st.ConfirmationStatus != rpc.ConfirmationStatusConfirmed || st.Confirmations == nil || *st.Confirmations != 1 {
				t.Fatalf("status one slot later: got %s (confirmations %v), want confirmed (1)", st.ConfirmationStatus, st.Confirmations)
			}
			if _, err := client.GetTransaction(ctx, sig, nil); !errors.Is(err, rpc.ErrNotFound) {
				t.Fatalf("getTransaction(finalized) before finality: got %v, want rpc.ErrNotFound", err)
			}
			if _, err := ln.AdvanceSlots(ctx, depth-2); err != nil {
				t.Fatal(err)
			}
			if st = signatureStatus(t, ln, sig); st.ConfirmationStatus != rpc.ConfirmationStatusConfirmed {
				t.Fatalf("status %d slots later: got %s, want confirmed", depth-1, st.ConfirmationStatus)
			}
			if _, err := ln.AdvanceSlots(ctx, 1); err != nil {
				t.Fatal(err)
			}
			if st = signatureStatus(t, ln, sig); st.ConfirmationStatus != rpc.ConfirmationStatusFinalized || st.Confirmations != nil {
				t.Fatalf("status %d slots later: got %s (confirmations %v), want finalized (null)", depth, st.ConfirmationStatus, st.Confirmations)
			}

			got, err := client.GetTransaction(ctx, sig, nil)
			if err != nil {
				t.Fatalf("getTransaction(finalized): %v", err)
			}
			checkPaymentRecord(t, got, tx, p, landed, tc.rentPaid)

			raw, err := client.GetTransaction(ctx, sig, &rpc.GetTransactionOpts{Encoding: solana.EncodingBase64})
			if err != nil {
				t.Fatalf("getTransaction(base64): %v", err)
			}
			wire, err := tx.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			if got := raw.Transaction.GetBinary(); string(got) != string(wire) {
				t.Errorf("getTransaction(base64): got %d bytes, want the %d bytes sent", len(got), len(wire))
			}
		})
	}
}

// checkPaymentRecord checks getTransaction's record of a landed payment.
func checkPaymentRecord(t *testing.T, got *rpc.GetTransactionResult, sent *solana.Transaction, p payment, landed, rentPaid uint64) {
	t.Helper()
	if got.Slot != landed || got.BlockTime == nil || got.Meta == nil || got.Meta.Err != nil {
		t.Fatalf("getTransaction: got slot %d blockTime %v meta %+v, want slot %d, a block time, no error", got.Slot, got.BlockTime, got.Meta, landed)
	}
	decoded, err := got.Transaction.GetTransaction()
	if err != nil {
		t.Fatalf("decode getTransaction's transaction: %v", err)
	}
	if decoded.Signatures[0] != sent.Signatures[0] || decoded.Message.RecentBlockhash != sent.Message.RecentBlockhash {
		t.Errorf("getTransaction's transaction: got signature %s blockhash %s, want %s, %s", decoded.Signatures[0], decoded.Message.RecentBlockhash, sent.Signatures[0], sent.Message.RecentBlockhash)
	}
	meta := got.Meta
	if want := expectedFee(p); meta.Fee != want {
		t.Errorf("fee: got %d, want %d", meta.Fee, want)
	}
	keys := decoded.Message.AccountKeys
	payer := p.payer.PublicKey()
	pi := keyIndex(keys, payer)
	if pi != 0 || len(meta.PreBalances) != len(keys) || len(meta.PostBalances) != len(keys) {
		t.Fatalf("balances: payer index %d, %d pre / %d post for %d keys", pi, len(meta.PreBalances), len(meta.PostBalances), len(keys))
	}
	wantPayerDelta := meta.Fee + rentPaid
	if p.mint == nil {
		wantPayerDelta += p.amount
		ti := keyIndex(keys, p.payTo)
		if d := meta.PostBalances[ti] - meta.PreBalances[ti]; d != p.amount {
			t.Errorf("recipient lamports: got +%d, want +%d", d, p.amount)
		}
	}
	if d := meta.PreBalances[pi] - meta.PostBalances[pi]; d != wantPayerDelta {
		t.Errorf("payer lamports: got -%d, want -%d (fee %d + rent %d + native amount)", d, wantPayerDelta, meta.Fee, rentPaid)
	}
	if p.mint == nil {
		if len(meta.PreTokenBalances)+len(meta.PostTokenBalances) != 0 {
			t.Errorf("native transfer: got token balances %+v / %+v, want none", meta.PreTokenBalances, meta.PostTokenBalances)
		}
		return
	}
	src, _ := p.mint.ATA(payer)
	dst, _ := p.mint.ATA(p.payTo)
	srcPre, srcPost := tokenAmount(meta.PreTokenBalances, keys, src), tokenAmount(meta.PostTokenBalances, keys, src)
	dstPre, dstPost := tokenAmount(meta.PreTokenBalances, keys, dst), tokenAmount(meta.PostTokenBalances, keys, dst)
	if srcPre == "" || srcPost == "" || dstPost == "" {
		t.Fatalf("token balances missing: source %q→%q, destination %q→%q", srcPre, srcPost, dstPre, dstPost)
	}
	if rentPaid > 0 && dstPre != "" {
		t.Errorf("new recipient's token account: got a pre balance %q, want none (created by this tx)", dstPre)
	}
	if d := atoi(t, srcPre) - atoi(t, srcPost); d != p.amount {
		t.Errorf("source token delta: got -%d, want -%d", d, p.amount)
	}
	if d := atoi(t, dstPost) - atoiOrZero(t, dstPre); d != p.amount {
		t.Errorf("destination token delta: got +%d, want +%d", d, p.amount)
	}
	for _, b := range meta.PostTokenBalances {
		if !b.Mint.Equals(p.mint.Address) || b.ProgramId == nil || !b.ProgramId.Equals(p.mint.TokenProgram) || b.UiTokenAmount.Decimals != p.mint.Decimals {
			t.Errorf("post token balance %+v: want mint %s, program %s, decimals %d", b, p.mint.Address, p.mint.TokenProgram, p.mint.Decimals)
		}
	}
}
