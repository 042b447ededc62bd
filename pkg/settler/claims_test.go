package settler_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/h402/settlement/pkg/chains"
	"github.com/h402/settlement/pkg/settler"
	"github.com/h402/settlement/pkg/testenv"
)

func TestClaimsRecord(t *testing.T) {
	t.Parallel()
	js := testenv.StartJetStream(t)
	_, jsc := js.Connect(t)
	ctx := context.Background()
	claims, err := settler.OpenClaims(ctx, jsc, js.Streams)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := settler.OpenClaims(ctx, jsc, js.Streams); err != nil {
		t.Fatalf("opening the bucket again: %v", err)
	}
	first := chains.Tx{Hash: "0xaa", Signer: "0xsigner", Nonce: 7, Raw: []byte{1, 2, 3}}
	replacement := chains.Tx{Hash: "0xbb", Signer: "0xsigner", Nonce: 7, Raw: []byte{4}, Replaces: []string{"0xaa"}}
	stranger := chains.Tx{Hash: "0xcc", Raw: []byte{5}}
	tests := []struct {
		name     string
		ids      []string
		tx       chains.Tx
		conflict bool
		want     map[string]string // id → recorded hash afterwards
	}{
		{"new claims", []string{"evm.1.a", "evm.1.b"}, first, false, map[string]string{"evm.1.a": "0xaa", "evm.1.b": "0xaa"}},
		{"same transaction again", []string{"evm.1.a"}, first, false, map[string]string{"evm.1.a": "0xaa"}},
		// All or none: the claim written for evm.1.c is undone.
		{"another transaction conflicts", []string{"evm.1.c", "evm.1.a"}, stranger, true, map[string]string{"evm.1.a": "0xaa", "evm.1.c": ""}},
		{"a replacement overwrites", []string{"evm.1.a", "evm.1.b"}, replacement, false, map[string]string{"evm.1.a": "0xbb", "evm.1.b": "0xbb"}},
		{"the replaced transaction cannot come back", []string{"evm.1.a"}, first, true, map[string]string{"evm.1.a": "0xbb"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := claims.Record(ctx, tt.ids, tt.tx)
			if got := errors.Is(err, settler.ErrClaimConflict); got != tt.conflict || !tt.conflict && err != nil {
				t.Fatalf("Record: got %v, want conflict %v", err, tt.conflict)
			}
			for id, want := range tt.want {
				got, err := claims.Lookup(ctx, id)
				if want == "" {
					if got != nil || err != nil {
						t.Errorf("Lookup(%s): got %+v (%v), want no claim", id, got, err)
					}
					continue
				}
				if err != nil || got == nil || got.Hash != want {
					t.Errorf("Lookup(%s): got %+v (%v), want hash %s", id, got, err, want)
				}
			}
		})
	}
	got, err := claims.Lookup(ctx, "evm.1.a")
	if err != nil || got == nil {
		t.Fatalf("Lookup: %+v, %v", got, err)
	}
	if got.Nonce != 7 || string(got.Raw) != "\x04" || len(got.Replaces) != 1 {
		t.Errorf("round trip: got %+v, want the replacement with its nonce, bytes and replaced hash", got)
	}
	if got, err := claims.Lookup(ctx, "evm.1.none"); got != nil || err != nil {
		t.Errorf("Lookup of an unclaimed payment: got %+v, %v; want nil, nil", got, err)
	}
	for _, bad := range []string{"evm.1.>", "evm..x", ""} {
		if err := claims.Record(ctx, []string{bad}, first); err == nil {
			t.Errorf("Record(%q): got no error, want the id refused", bad)
		}
	}
	if err := claims.Record(ctx, []string{"evm.1.d"}, chains.Tx{}); err == nil {
		t.Error("Record of a transaction without hash: got no error")
	}
}

// TestClaimsSupersedeDead: a payment whose recorded transaction provably
// cannot land is claimed by a new transaction listing it in Dead, in one
// all-or-none Record with payments claimed for the first time; the dead
// hashes stay in the record.
func TestClaimsSupersedeDead(t *testing.T) {
	t.Parallel()
	js := testenv.StartJetStream(t)
	_, jsc := js.Connect(t)
	ctx := t.Context()
	claims, err := settler.OpenClaims(ctx, jsc, js.Streams)
	if err != nil {
		t.Fatal(err)
	}
	const signer = "0x00000000000000000000000000000000000000f1"
	stale := chains.Tx{Hash: "0xa1", Signer: signer, Nonce: 3, Raw: []byte{1}}
	staleRep := chains.Tx{Hash: "0xa2", Signer: signer, Nonce: 3, Raw: []byte{2}, Replaces: []string{"0xa1"}}
	if err := claims.Record(ctx, []string{"evm.1.a"}, stale); err != nil {
		t.Fatal(err)
	}
	if err := claims.Record(ctx, []string{"evm.1.a"}, staleRep); err != nil {
		t.Fatal(err)
	}
	fresh := chains.Tx{Hash: "0xb1", Signer: signer, Nonce: 4, Raw: []byte{3}}
	if err := claims.Record(ctx, []string{"evm.1.b", "evm.1.a"}, fresh); !errors.Is(err, settler.ErrClaimConflict) {
		t.Fatalf("Record without Dead: got %v, want a conflict", err)
	}
	if got, _ := claims.Lookup(ctx, "evm.1.b"); got != nil {
		t.Fatalf("after a conflict: got claim %+v of evm.1.b, want none (all or none)", got)
	}
	if got, _, _ := claims.LookupNonce(ctx, signer, 4); got != nil {
		t.Fatalf("after a conflict: got nonce index %+v, want none", got)
	}

	fresh.Dead = []string{"0xa2"}
	if err := claims.Record(ctx, []string{"evm.1.b", "evm.1.a"}, fresh); err != nil {
		t.Fatalf("Record superseding a dead claim: %v", err)
	}
	a, err := claims.Lookup(ctx, "evm.1.a")
	if err != nil || a == nil || a.Hash != "0xb1" || !slices.Equal(a.Dead, []string{"0xa2", "0xa1"}) {
		t.Fatalf("claim of evm.1.a: got %+v (%v), want 0xb1 with dead [0xa2 0xa1]", a, err)
	}
	b, err := claims.Lookup(ctx, "evm.1.b")
	if err != nil || b == nil || b.Hash != "0xb1" || len(b.Dead) != 0 {
		t.Fatalf("claim of evm.1.b: got %+v (%v), want 0xb1 with no dead hashes", b, err)
	}
	idx, ids, err := claims.LookupNonce(ctx, signer, 4)
	if err != nil || idx == nil || idx.Hash != "0xb1" || !slices.Equal(ids, []string{"evm.1.b", "evm.1.a"}) {
		t.Fatalf("nonce index 4: got %+v %v (%v), want 0xb1 carrying both", idx, ids, err)
	}
	if idx, _, _ := claims.LookupNonce(ctx, signer, 3); idx == nil || idx.Hash != "0xa2" {
		t.Fatalf("nonce index 3: got %+v, want the replacement 0xa2", idx)
	}
	// A dead hash never comes back: the old transaction conflicts.
	if err := claims.Record(ctx, []string{"evm.1.a"}, staleRep); !errors.Is(err, settler.ErrClaimConflict) {
		t.Fatalf("Record of the dead transaction again: got %v, want a conflict", err)
	}
}
