package soldev

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/gagliardetto/solana-go"
	"github.com/gagliardetto/solana-go/rpc"
)

func atoi(t *testing.T, s string) uint64 {
	t.Helper()
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		t.Fatalf("token amount %q: %v", s, err)
	}
	return n
}

func atoiOrZero(t *testing.T, s string) uint64 {
	t.Helper()
	if s == "" {
		return 0
	}
	return atoi(t, s)
}

func tokenBalance(t *testing.T, ln *Localnet, account solana.PublicKey) uint64 {
	t.Helper()
	out, err := ln.RPC().GetTokenAccountBalance(context.Background(), account, rpc.CommitmentProcessed)
	if err != nil {
		t.Fatalf("getTokenAccountBalance(%s): %v", account, err)
	}
	return atoi(t, out.Value.Amount)
}

func lamports(t *testing.T, ln *Localnet, account solana.PublicKey) uint64 {
	t.Helper()
	out, err := ln.RPC().GetBalance(context.Background(), account, rpc.CommitmentProcessed)
	if err != nil {
		t.Fatalf("getBalance(%s): %v", account, err)
	}
	return out.Value
}

func latestBlockhash(t *testing.T, ln *Localnet) solana.Hash {
	t.Helper()
	out, err := ln.RPC().GetLatestBlockhash(context.Background(), rpc.CommitmentProcessed)
	if err != nil {
		t.Fatalf("getLatestBlockhash: %v", err)
	}
	return out.Value.Blockhash
}

func TestExpiredBlockhashRejected(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ln := StartT(t, Config{})
	client := ln.RPC()
	expiry := ln.Manifest.BlockhashExpirySlots
	bh := latestBlockhash(t, ln)

	valid := func(want bool, when string) {
		t.Helper()
		got, err := client.IsBlockhashValid(ctx, bh, rpc.CommitmentProcessed)
		if err != nil {
			t.Fatalf("isBlockhashValid: %v", err)
		}
		if got.Value != want {
			t.Fatalf("isBlockhashValid %s: got %v, want %v", when, got.Value, want)
		}
	}
	valid(true, "when fresh")
	if _, err := ln.AdvanceSlots(ctx, expiry); err != nil {
		t.Fatal(err)
	}
	valid(true, "at its last valid slot")
	if _, err := ln.AdvanceSlots(ctx, 1); err != nil {
		t.Fatal(err)
	}
	valid(false, "one slot past expiry")

	sellerATA := ln.Manifest.Seller.TokenAccounts.USDC
	before := tokenBalance(t, ln, sellerATA)
	for _, tc := range []struct {
		name          string
		skipPreflight bool
		wantMessage   string
	}{
		{"preflight", false, "Transaction simulation failed: Blockhash not found"},
		{"skip preflight", true, "Transaction rejected: Blockhash not found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tx := buildPaymentTx(t, bh, payment{payer: ln.Payers()[0], payTo: ln.Seller(), mint: &ln.Mints.USDC, amount: 1_000_000, cuLimit: 20_000, cuPrice: 1})
			_, err := client.SendTransactionWithOpts(ctx, tx, rpc.TransactionOpts{SkipPreflight: tc.skipPreflight})
			if err == nil {
				t.Fatal("sendTransaction with an expired blockhash: got no error")
			}
			re, errJSON := rpcError(t, err)
			if re.Code != -32002 || errJSON != `"BlockhashNotFound"` || re.Message != tc.wantMessage {
				t.Errorf("got code %d err %s message %q, want -32002, \"BlockhashNotFound\", %q", re.Code, errJSON, re.Message, tc.wantMessage)
			}
			if st, err := client.GetSignatureStatuses(ctx, false, tx.Signatures[0]); err != nil || st.Value[0] != nil {
				t.Errorf("status of the rejected tx: got %+v (%v), want null", st, err)
			}
		})
	}
	if after := tokenBalance(t, ln, sellerATA); after != before {
		t.Errorf("seller balance changed by rejected txs: got %d, want %d", after, before)
	}

	t.Run("simulate replacing the blockhash", func(t *testing.T) {
		tx := buildPaymentTx(t, bh, payment{payer: ln.Payers()[0], payTo: ln.Seller(), mint: &ln.Mints.USDC, amount: 1, cuLimit: 20_000, cuPrice: 1})
		plain, err := client.SimulateTransaction(ctx, tx)
		if err != nil {
			t.Fatal(err)
		}
		if plain.Value.Err != "BlockhashNotFound" {
			t.Errorf("simulate with the expired blockhash: got err %v, want BlockhashNotFound", plain.Value.Err)
		}
		replaced, err := client.SimulateTransactionWithOpts(ctx, tx, &rpc.SimulateTransactionOpts{ReplaceRecentBlockhash: true})
		if err != nil {
			t.Fatal(err)
		}
		if replaced.Value.Err != nil || replaced.Value.UnitsConsumed == nil || *replaced.Value.UnitsConsumed == 0 {
			t.Errorf("simulate with replaceRecentBlockhash: got err %v units %v, want success with units consumed", replaced.Value.Err, replaced.Value.UnitsConsumed)
		}
	})
}

func TestBadSignatureRejected(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ln := StartT(t, Config{})
	client := ln.RPC()
	tx := buildPaymentTx(t, latestBlockhash(t, ln), payment{payer: ln.Payers()[0], payTo: ln.Seller(), mint: &ln.Mints.USDC, amount: 7, cuLimit: 20_000, cuPrice: 1})
	tx.Signatures[0][10] ^= 0xff
	for _, tc := range []struct {
		name string
		call func() error
	}{
		{"send with preflight", func() error {
			_, err := client.SendTransactionWithOpts(ctx, tx, rpc.TransactionOpts{})
			return err
		}},
		{"send skipping preflight", func() error {
			_, err := client.SendTransactionWithOpts(ctx, tx, rpc.TransactionOpts{SkipPreflight: true})
			return err
		}},
		{"simulate with sigVerify", func() error {
			_, err := client.SimulateTransactionWithOpts(ctx, tx, &rpc.SimulateTransactionOpts{SigVerify: true})
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			re, _ := rpcError(t, tc.call())
			if re.Code != -32003 || re.Message != "Transaction signature verification failure" {
				t.Errorf("got code %d message %q, want -32003 \"Transaction signature verification failure\"", re.Code, re.Message)
			}
		})
	}
	// Without sigVerify a simulation runs the transaction anyway, as on Solana.
	sim, err := client.SimulateTransaction(ctx, tx)
	if err != nil || sim.Value.Err != nil {
		t.Errorf("simulate without sigVerify: got err %v / %v, want success", err, sim)
	}
	if got := tokenBalance(t, ln, ln.Manifest.Seller.TokenAccounts.USDC); got != 0 {
		t.Errorf("seller tokens: got %d, want 0", got)
	}
}

func TestDuplicateSendRejected(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ln := StartT(t, Config{})
	client := ln.RPC()
	sellerATA := ln.Manifest.Seller.TokenAccounts.USDC
	before := tokenBalance(t, ln, sellerATA)
	const amount = 250_000
	tx := buildPaymentTx(t, latestBlockhash(t, ln), payment{payer: ln.Payers()[0], payTo: ln.Seller(), mint: &ln.Mints.USDC, amount: amount, cuLimit: 20_000, cuPrice: 1})
	if _, err := client.SendTransactionWithOpts(ctx, tx, rpc.TransactionOpts{}); err != nil {
		t.Fatalf("first send: %v", err)
	}
	for _, tc := range []struct {
		name          string
		skipPreflight bool
		advance       uint64
	}{
		{"again at once", false, 0},
		{"again skipping preflight", true, 0},
		{"again a slot later", false, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ln.AdvanceSlots(ctx, tc.advance); err != nil {
				t.Fatal(err)
			}
			_, err := client.SendTransactionWithOpts(ctx, tx, rpc.TransactionOpts{SkipPreflight: tc.skipPreflight})
			if err == nil {
				t.Fatal("second send of the same tx: got no error")
			}
			re, errJSON := rpcError(t, err)
			if re.Code != -32002 || errJSON != `"AlreadyProcessed"` || !strings.Contains(re.Message, "This transaction has already been processed") {
				t.Errorf("got code %d err %s message %q, want -32002, \"AlreadyProcessed\", already processed", re.Code, errJSON, re.Message)
			}
		})
	}
	if got := tokenBalance(t, ln, sellerATA) - before; got != amount {
		t.Errorf("seller received %d, want exactly one transfer of %d", got, amount)
	}
	sim, err := client.SimulateTransaction(ctx, tx)
	if err != nil {
		t.Fatal(err)
	}
	if sim.Value.Err != "AlreadyProcessed" {
		t.Errorf("simulating the landed tx: got err %v, want AlreadyProcessed", sim.Value.Err)
	}
}

func TestFailingTransfer(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ln := StartT(t, Config{})
	client := ln.RPC()
	payer := ln.Payers()[1]
	payerATA := ln.Manifest.Payers[1].TokenAccounts.Token2022
	sellerATA := ln.Manifest.Seller.TokenAccounts.Token2022
	held := tokenBalance(t, ln, payerATA)
	p := payment{payer: payer, payTo: ln.Seller(), mint: &ln.Mints.Token2022, amount: held + 1, cuLimit: 30_000, cuPrice: 5}
	tx := buildPaymentTx(t, latestBlockhash(t, ln), p)
	const wantErr = `{"InstructionError":[3,{"Custom":1}]}` // token program error 1: insufficient funds
	payerLamports := lamports(t, ln, payer.PublicKey())

	t.Run("simulate reports the error", func(t *testing.T) {
		sim, err := client.SimulateTransaction(ctx, tx)
		if err != nil {
			t.Fatalf("simulateTransaction: %v", err)
		}
		errJSON := asJSON(sim.Value.Err)
		if errJSON != wantErr {
			t.Errorf("simulation err: got %s, want %s", errJSON, wantErr)
		}
		if !strings.Contains(strings.Join(sim.Value.Logs, "\n"), "insufficient funds") {
			t.Errorf("simulation logs: got %q, want a line with \"insufficient funds\"", sim.Value.Logs)
		}
		if got := tokenBalance(t, ln, payerATA); got != held {
			t.Errorf("payer tokens after simulation: got %d, want %d", got, held)
		}
		if got := lamports(t, ln, payer.PublicKey()); got != payerLamports {
			t.Errorf("payer lamports after simulation: got %d, want %d", got, payerLamports)
		}
	})

	t.Run("preflight rejects it", func(t *testing.T) {
		_, err := client.SendTransactionWithOpts(ctx, tx, rpc.TransactionOpts{})
		re, errJSON := rpcError(t, err)
		if re.Code != -32002 || errJSON != wantErr || !strings.HasPrefix(re.Message, "Transaction simulation failed: Error processing Instruction 3: custom program error: 0x1") {
			t.Errorf("got code %d err %s message %q, want -32002, %s, instruction 3 custom error 0x1", re.Code, errJSON, re.Message, wantErr)
		}
		if got := lamports(t, ln, payer.PublicKey()); got != payerLamports {
			t.Errorf("payer lamports after rejected send: got %d, want %d", got, payerLamports)
		}
	})

	t.Run("without preflight it lands failed and pays the fee", func(t *testing.T) {
		sig, err := client.SendTransactionWithOpts(ctx, tx, rpc.TransactionOpts{SkipPreflight: true})
		if err != nil {
			t.Fatalf("sendTransaction(skipPreflight): %v", err)
		}
		st := signatureStatus(t, ln, sig)
		errJSON := asJSON(st.Err)
		if errJSON != wantErr {
			t.Errorf("status err: got %s, want %s", errJSON, wantErr)
		}
		if got, want := payerLamports-lamports(t, ln, payer.PublicKey()), expectedFee(p); got != want {
			t.Errorf("payer paid %d lamports, want the fee %d", got, want)
		}
		if got := tokenBalance(t, ln, payerATA); got != held {
			t.Errorf("payer tokens: got %d, want %d (unchanged)", got, held)
		}
		if got := tokenBalance(t, ln, sellerATA); got != 0 {
			t.Errorf("seller tokens: got %d, want 0", got)
		}
	})
}

func TestRequestAirdrop(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ln := StartT(t, Config{})
	to := devKey("test-airdrop").PublicKey()
	for i, amount := range []uint64{solana.LAMPORTS_PER_SOL, solana.LAMPORTS_PER_SOL} {
		sig, err := ln.RPC().RequestAirdrop(ctx, to, amount, rpc.CommitmentProcessed)
		if err != nil {
			t.Fatalf("airdrop %d: %v", i, err)
		}
		if st := signatureStatus(t, ln, sig); st.Err != nil {
			t.Fatalf("airdrop %d status: got err %v", i, st.Err)
		}
	}
	if got, want := lamports(t, ln, to), 2*solana.LAMPORTS_PER_SOL; got != want {
		t.Errorf("balance after two airdrops of 1 SOL in one slot: got %d, want %d", got, want)
	}
}
