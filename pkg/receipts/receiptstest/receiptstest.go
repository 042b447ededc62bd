package receiptstest

import (
	"context"
	"errors"
	"testing"

	"github.com/h402/settlement/pkg/receipts"
)

// StoreConformance checks the rules the receipts client relies on: a
// subject without a checkpoint reads as the zero Checkpoint; a checkpoint
// written in a committed transaction is read back by later ones, per
// subject; a transaction whose function fails leaves no checkpoint behind
// (the handler's effect and the checkpoint commit together or not at all).
// open returns an empty store.
func StoreConformance[Tx any](t *testing.T, open func(t *testing.T) receipts.Store[Tx]) {
	ctx := context.Background()
	const a, b = "receipts.seller.evm.8453", "receipts.seller.evm.1"
	read := func(t *testing.T, s receipts.Store[Tx], subj string) receipts.Checkpoint {
		t.Helper()
		var cp receipts.Checkpoint
		if err := s.Update(ctx, func(tx Tx) error {
			var err error
			cp, err = s.Checkpoint(tx, subj)
			return err
		}); err != nil {
			t.Fatalf("read checkpoint of %s: %v", subj, err)
		}
		return cp
	}
	write := func(s receipts.Store[Tx], subj string, cp receipts.Checkpoint, fail error) error {
		return s.Update(ctx, func(tx Tx) error {
			if err := s.SetCheckpoint(tx, subj, cp); err != nil {
				return err
			}
			return fail
		})
	}
	one := receipts.Checkpoint{SellerSeq: 1, StreamSeq: 4, ID: "evm.8453.auth.a.b.c1"}
	two := receipts.Checkpoint{SellerSeq: 2, StreamSeq: 9, ID: "evm.8453.auth.a.b.c2"}

	t.Run("empty", func(t *testing.T) {
		if got := read(t, open(t), a); got != (receipts.Checkpoint{}) {
			t.Fatalf("checkpoint of a new subject: got %+v, want zero", got)
		}
	})
	t.Run("committed", func(t *testing.T) {
		s := open(t)
		if err := write(s, a, one, nil); err != nil {
			t.Fatal(err)
		}
		if err := write(s, a, two, nil); err != nil {
			t.Fatal(err)
		}
		if got := read(t, s, a); got != two {
			t.Fatalf("got %+v, want %+v", got, two)
		}
		if got := read(t, s, b); got != (receipts.Checkpoint{}) {
			t.Fatalf("another subject: got %+v, want zero", got)
		}
	})
	t.Run("rolled back", func(t *testing.T) {
		s := open(t)
		if err := write(s, a, one, nil); err != nil {
			t.Fatal(err)
		}
		errHandler := errors.New("handler failed")
		if err := write(s, a, two, errHandler); !errors.Is(err, errHandler) {
			t.Fatalf("Update: got %v, want the function's error", err)
		}
		if got := read(t, s, a); got != one {
			t.Fatalf("after a failed transaction: got %+v, want %+v", got, one)
		}
	})
}
