package settler_test

import (
	"context"
	"errors"
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
		{"another transaction conflicts", []string{"evm.1.a", "evm.1.c"}, stranger, true, map[string]string{"evm.1.a": "0xaa", "evm.1.c": "0xcc"}},
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
