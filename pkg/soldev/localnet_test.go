package soldev

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gagliardetto/solana-go"
	"github.com/gagliardetto/solana-go/rpc"
	"github.com/gagliardetto/solana-go/rpc/jsonrpc"
)

// devKey recomputes a localnet dev key from its label, as localnet/lib/keys.js documents.
func devKey(label string) solana.PrivateKey {
	seed := sha256.Sum256([]byte("h402-localnet dev key, LOCAL ONLY: " + label))
	return solana.PrivateKey(ed25519.NewKeyFromSeed(seed[:]))
}

// TestStartGenesis runs serially (not t.Parallel) so its start-up time is not
// inflated by the parallel tests' servers starting at the same moment.
func TestStartGenesis(t *testing.T) {
	ctx := context.Background()
	ln := StartT(t, Config{})
	t.Logf("localnet start-up (after npm ci): %s at %s", ln.StartupDuration(), ln.URL())
	if got, limit := ln.StartupDuration(), 15*time.Second; got <= 0 || got > limit {
		t.Errorf("start-up took %s, want (0, %s] (target < 3 s)", got, limit)
	}

	t.Run("manifest matches golden", func(t *testing.T) { checkGoldenManifest(t, ln) })

	t.Run("keys are the documented dev keys", func(t *testing.T) {
		payers := ln.Payers()
		if len(payers) != defaultPayers {
			t.Fatalf("got %d payers, want %d", len(payers), defaultPayers)
		}
		if got, want := payers[0].PublicKey(), devKey("payer-0").PublicKey(); !got.Equals(want) {
			t.Errorf("payer 0: got %s, want %s", got, want)
		}
		if got, want := ln.Seller(), devKey("seller").PublicKey(); !got.Equals(want) {
			t.Errorf("seller: got %s, want %s", got, want)
		}
		if got, want := len(ln.FeePayers()), defaultFeePayers; got != want {
			t.Errorf("got %d fee payers, want %d", got, want)
		}
		if got, want := ln.Mints.USDC.Address, devKey("mint-usdc").PublicKey(); !got.Equals(want) {
			t.Errorf("USDC mint: got %s, want %s", got, want)
		}
	})

	t.Run("mints", func(t *testing.T) {
		for _, tc := range []struct {
			name    string
			mint    Mint
			program solana.PublicKey
		}{
			{"usdc", ln.Mints.USDC, solana.TokenProgramID},
			{"token2022", ln.Mints.Token2022, solana.Token2022ProgramID},
		} {
			t.Run(tc.name, func(t *testing.T) {
				acc, err := ln.RPC().GetAccountInfo(ctx, tc.mint.Address)
				if err != nil {
					t.Fatalf("getAccountInfo(mint): %v", err)
				}
				if !acc.Value.Owner.Equals(tc.program) {
					t.Errorf("mint owner: got %s, want %s", acc.Value.Owner, tc.program)
				}
				data := acc.Value.Data.GetBinary()
				if len(data) != 82 || data[44] != 6 || data[45] != 1 {
					t.Errorf("mint data: got len %d decimals %d initialized %d, want 82, 6, 1", len(data), data[44], data[45])
				}
				if tc.mint.Decimals != 6 {
					t.Errorf("manifest decimals: got %d, want 6", tc.mint.Decimals)
				}
			})
		}
	})

	t.Run("token accounts", func(t *testing.T) {
		holders := append([]TokenHolder{}, ln.Manifest.Payers...)
		holders = append(holders, ln.Manifest.Seller)
		for i, h := range holders {
			for _, tc := range []struct {
				mint     Mint
				listed   solana.PublicKey
				wantUnit string
			}{
				{ln.Mints.USDC, h.TokenAccounts.USDC, "1000000000000"},
				{ln.Mints.Token2022, h.TokenAccounts.Token2022, "1000000000000"},
			} {
				ata, err := tc.mint.ATA(h.PublicKey)
				if err != nil {
					t.Fatal(err)
				}
				if !ata.Equals(tc.listed) {
					t.Errorf("holder %d %s: manifest ATA %s, derived %s", i, tc.mint.Symbol, tc.listed, ata)
				}
				bal, err := ln.RPC().GetTokenAccountBalance(ctx, ata, rpc.CommitmentProcessed)
				if err != nil {
					t.Fatalf("holder %d %s: getTokenAccountBalance: %v", i, tc.mint.Symbol, err)
				}
				want := tc.wantUnit
				if h.PublicKey.Equals(ln.Seller()) {
					want = "0"
				}
				if bal.Value.Amount != want || bal.Value.Decimals != 6 {
					t.Errorf("holder %d %s: got %s (decimals %d), want %s (6)", i, tc.mint.Symbol, bal.Value.Amount, bal.Value.Decimals, want)
				}
			}
		}
	})

	t.Run("getMultipleAccounts", func(t *testing.T) {
		missing := devKey("never-funded").PublicKey()
		seller := ln.Manifest.Seller.TokenAccounts
		out, err := ln.RPC().GetMultipleAccounts(ctx, seller.USDC, missing, seller.Token2022)
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Value) != 3 || out.Value[0] == nil || out.Value[1] != nil || out.Value[2] == nil {
			t.Fatalf("got %d accounts %v, want [account, null, account]", len(out.Value), out.Value)
		}
		if got := len(out.Value[0].Data.GetBinary()); got != 165 {
			t.Errorf("SPL token account data: got %d bytes, want 165", got)
		}
		if got := len(out.Value[2].Data.GetBinary()); got != 170 {
			t.Errorf("Token-2022 token account data (ImmutableOwner): got %d bytes, want 170", got)
		}
	})

	t.Run("fee payers funded", func(t *testing.T) {
		for i, k := range ln.FeePayers() {
			bal, err := ln.RPC().GetBalance(ctx, k.PublicKey(), rpc.CommitmentProcessed)
			if err != nil {
				t.Fatal(err)
			}
			if bal.Value != 100*solana.LAMPORTS_PER_SOL {
				t.Errorf("fee payer %d: got %d lamports, want %d", i, bal.Value, 100*solana.LAMPORTS_PER_SOL)
			}
		}
	})

	t.Run("node info", func(t *testing.T) {
		gh, err := ln.RPC().GetGenesisHash(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if gh != ln.Manifest.GenesisHash {
			t.Errorf("genesis hash: got %s, want manifest's %s", gh, ln.Manifest.GenesisHash)
		}
		if _, err := ln.RPC().GetVersion(ctx); err != nil {
			t.Errorf("getVersion: %v", err)
		}
		rent, err := ln.RPC().GetMinimumBalanceForRentExemption(ctx, 165, rpc.CommitmentProcessed)
		if err != nil {
			t.Fatal(err)
		}
		if rent != 2039280 {
			t.Errorf("rent for 165 bytes: got %d, want 2039280", rent)
		}
	})
}

func TestAdvanceSlotsAndCommitmentSlots(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ln := StartT(t, Config{FinalityDepthSlots: 8})
	slot, err := ln.AdvanceSlots(ctx, 20)
	if err != nil {
		t.Fatal(err)
	}
	if slot != 20 {
		t.Fatalf("after advancing 20 slots from genesis: got slot %d, want 20", slot)
	}
	for _, tc := range []struct {
		commitment rpc.CommitmentType
		want       uint64
	}{
		{rpc.CommitmentProcessed, 20},
		{rpc.CommitmentConfirmed, 19},
		{rpc.CommitmentFinalized, 12},
	} {
		t.Run(string(tc.commitment), func(t *testing.T) {
			got, err := ln.RPC().GetSlot(ctx, tc.commitment)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("getSlot(%s): got %d, want %d", tc.commitment, got, tc.want)
			}
			bh, err := ln.RPC().GetLatestBlockhash(ctx, tc.commitment)
			if err != nil {
				t.Fatal(err)
			}
			if bh.Context.Slot != tc.want || bh.Value.LastValidBlockHeight != tc.want+defaultBlockhashExpiry {
				t.Errorf("getLatestBlockhash(%s): got slot %d lastValid %d, want %d, %d", tc.commitment, bh.Context.Slot, bh.Value.LastValidBlockHeight, tc.want, tc.want+defaultBlockhashExpiry)
			}
		})
	}
}

func TestSlotInterval(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ln := StartT(t, Config{SlotInterval: 5 * time.Millisecond})
	bh := latestBlockhash(t, ln)
	// Poll for the event (the slot moving on) under a deadline; nothing here sleeps.
	deadline := time.Now().Add(10 * time.Second)
	for {
		slot, err := ln.RPC().GetSlot(ctx, rpc.CommitmentProcessed)
		if err != nil {
			t.Fatal(err)
		}
		if slot >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("slot still %d after 10 s with a 5 ms slot interval, want >= 3", slot)
		}
	}
	ok, err := ln.RPC().IsBlockhashValid(ctx, bh, rpc.CommitmentProcessed)
	if err != nil || !ok.Value {
		t.Errorf("blockhash from slot 0 a few slots later: got valid=%v (%v), want true", ok, err)
	}
	unknown, err := ln.RPC().IsBlockhashValid(ctx, solana.HashFromBytes(make([]byte, 32)), rpc.CommitmentProcessed)
	if err != nil || unknown.Value {
		t.Errorf("never-issued blockhash: got valid=%v (%v), want false", unknown, err)
	}
}

func TestStartErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"node missing", Config{Node: filepath.Join(t.TempDir(), "node")}, "node"},
		{"npm missing", Config{Npm: "h402-no-such-npm"}, "npm (\"h402-no-such-npm\") not found"},
		{"no localnet folder", Config{Dir: t.TempDir()}, "localnet folder (with server.js) not found"},
		{"bad config", Config{Payers: -1}, "Payers: must be in [0, 256] (got -1)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := Start(context.Background(), tc.cfg)
			if err == nil {
				_ = ln.Close()
				t.Fatalf("Start: got no error, want one containing %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Start: got error %q, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestCloseStopsServer(t *testing.T) {
	ln, err := Start(context.Background(), Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := ln.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := ln.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := ln.RPC().GetHealth(ctx); err == nil {
		t.Fatal("getHealth after Close: got an answer, want a connection error")
	}
}

// rpcError extracts the JSON-RPC error (as solana-go surfaces it) and its data.err as JSON.
func rpcError(t *testing.T, err error) (*jsonrpc.RPCError, string) {
	t.Helper()
	var re *jsonrpc.RPCError
	if !errors.As(err, &re) {
		t.Fatalf("got error %v (%T), want a *jsonrpc.RPCError", err, err)
	}
	data, _ := re.Data.(map[string]interface{})
	return re, asJSON(data["err"])
}

// asJSON renders a decoded JSON value (a transaction error) back as compact JSON.
func asJSON(v interface{}) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("<%v>", err)
	}
	return string(b)
}

// TestAdvanceClockAndSignaturesForAddress: the Go client reads
// getSignaturesForAddress from the localnet, newest first and paged with
// before, with the block times AdvanceClock set.
func TestAdvanceClockAndSignaturesForAddress(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ln := StartT(t, Config{FinalityDepthSlots: 2})
	to := solana.NewWallet().PublicKey()
	var sigs []solana.Signature
	for range 2 {
		sig, err := ln.RPC().RequestAirdrop(ctx, to, 1_000_000, rpc.CommitmentConfirmed)
		if err != nil {
			t.Fatal(err)
		}
		sigs = append(sigs, sig)
		if _, err := ln.AdvanceClock(ctx, 1, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := ln.AdvanceClock(ctx, 1, 1500*time.Millisecond); err == nil {
		t.Fatal("AdvanceClock by 1.5 s: got no error, want whole seconds only")
	}
	if _, err := ln.AdvanceSlots(ctx, 2); err != nil {
		t.Fatal(err)
	}
	one := 1
	first, err := ln.RPC().GetSignaturesForAddressWithOpts(ctx, to, &rpc.GetSignaturesForAddressOpts{Limit: &one, Commitment: rpc.CommitmentFinalized})
	if err != nil {
		t.Fatal(err)
	}
	if len(first) != 1 || first[0].Signature != sigs[1] || first[0].BlockTime == nil {
		t.Fatalf("first page: got %+v, want the newest airdrop %s with a block time", first, sigs[1])
	}
	second, err := ln.RPC().GetSignaturesForAddressWithOpts(ctx, to, &rpc.GetSignaturesForAddressOpts{Limit: &one, Before: first[0].Signature, Commitment: rpc.CommitmentFinalized})
	if err != nil {
		t.Fatal(err)
	}
	if len(second) != 1 || second[0].Signature != sigs[0] || second[0].BlockTime == nil {
		t.Fatalf("second page: got %+v, want the older airdrop %s", second, sigs[0])
	}
	if gap := first[0].BlockTime.Time().Sub(second[0].BlockTime.Time()); gap != time.Minute {
		t.Errorf("block times %s apart, want the minute AdvanceClock put between them", gap)
	}
}
