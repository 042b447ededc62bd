package receipts_test

import (
	"errors"
	"testing"

	"github.com/h402/settlement/pkg/receipts"
)

// FuzzDecodeCheckpoint: a stored checkpoint record decodes to a valid
// checkpoint that encodes back to an equal one, or fails with
// ErrBadCheckpoint; never a panic.
func FuzzDecodeCheckpoint(f *testing.F) {
	for _, s := range []string{
		`{"v":1,"sellerSeq":3,"streamSeq":17,"id":"evm.8453.auth.a.b.c"}`,
		`{"v":2,"sellerSeq":3,"streamSeq":17,"id":"evm.8453.auth.a.b.c"}`,
		`{"v":1,"sellerSeq":0,"streamSeq":17,"id":"x"}`,
		`{"v":1,"sellerSeq":1,"streamSeq":1,"id":"a..b"}`,
		`{"v":1,"sellerSeq":1,"streamSeq":1,"id":"a","x":1}`,
		`{"v":1,"sellerSeq":1,"streamSeq":1,"id":"a"} {}`,
		`{"v":1,"sellerSeq":-1}`, `null`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		cp, err := receipts.DecodeCheckpoint(b)
		if err != nil {
			if !errors.Is(err, receipts.ErrBadCheckpoint) {
				t.Fatalf("error %v is not ErrBadCheckpoint", err)
			}
			return
		}
		enc, err := receipts.EncodeCheckpoint(cp)
		if err != nil {
			t.Fatalf("decoded %+v does not encode: %v", cp, err)
		}
		again, err := receipts.DecodeCheckpoint(enc)
		if err != nil || again != cp {
			t.Fatalf("round trip of %+v: got %+v, %v", cp, again, err)
		}
	})
}
