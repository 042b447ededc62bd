package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/h402/settlement/pkg/h402"
)

var at = time.Date(2026, 11, 24, 4, 0, 1, 0, time.UTC)

func sampleSettlement() Settlement {
	return Settlement{
		Version: SettlementVersion, Namespace: h402.NamespaceEVM, NetworkID: "8453",
		TxHash: "0x" + string(bytes.Repeat([]byte("cd"), 32)), Signer: "0x1111111111111111111111111111111111111111", Nonce: 42,
		Replaces: []string{"0x" + string(bytes.Repeat([]byte("ab"), 32))},
		Payments: []string{"evm.8453.auth.a.b.c", "evm.8453.auth.a.b.d"}, SubmittedAt: at, Replica: "settler-1",
	}
}

func sampleDeadLetter() DeadLetter {
	return DeadLetter{
		Version: DeadLetterVersion, ID: "solana.localnet.msg.ab", Reason: h402.ReasonInsufficientFunds,
		Message: "the payer cannot cover this transfer", Failed: true,
		Event: json.RawMessage(`{"v":1,"id":"solana.localnet.msg.ab"}`), StreamSeq: 12, Delivery: 1, At: at, Replica: "settler-1",
	}
}

func TestGoldenRecords(t *testing.T) {
	t.Run("settlement", func(t *testing.T) {
		want := sampleSettlement()
		got, err := DecodeSettlement(golden(t, "settlement_v1.json", want))
		if err != nil {
			t.Fatal(err)
		}
		if got.TxHash != want.TxHash || got.Nonce != 42 || len(got.Payments) != 2 || !got.SubmittedAt.Equal(at) {
			t.Errorf("round trip: got %+v, want %+v", got, want)
		}
	})
	t.Run("dead letter", func(t *testing.T) {
		want := sampleDeadLetter()
		got, err := DecodeDeadLetter(golden(t, "dead_letter_v1.json", want))
		if err != nil {
			t.Fatal(err)
		}
		var event bytes.Buffer
		if err := json.Compact(&event, got.Event); err != nil {
			t.Fatal(err)
		}
		if got.ID != want.ID || got.Reason != want.Reason || !got.Failed || event.String() != string(want.Event) {
			t.Errorf("round trip: got %+v, want %+v", got, want)
		}
	})
}

func TestDecodeRecordErrors(t *testing.T) {
	tests := []struct {
		name   string
		decode func([]byte) error
		in     string
		want   error
	}{
		{"settlement not json", func(b []byte) error { _, err := DecodeSettlement(b); return err }, `{`, ErrMalformed},
		{"settlement future version", func(b []byte) error { _, err := DecodeSettlement(b); return err }, `{"v":2}`, ErrUnknownVersion},
		{"settlement without payments", func(b []byte) error { _, err := DecodeSettlement(b); return err }, `{"v":1,"namespace":"evm","networkId":"1","txHash":"0x1","payments":[]}`, ErrMalformed},
		{"dead letter without reason", func(b []byte) error { _, err := DecodeDeadLetter(b); return err }, `{"v":1,"event":{}}`, ErrMalformed},
		{"dead letter with an empty reason", func(b []byte) error { _, err := DecodeDeadLetter(b); return err }, `{"v":1,"reason":"","raw":"AAE="}`, ErrMalformed},
		{"dead letter future version", func(b []byte) error { _, err := DecodeDeadLetter(b); return err }, `{"v":9}`, ErrUnknownVersion},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.decode([]byte(tt.in)); !errors.Is(err, tt.want) {
				t.Errorf("got %v, want %v", err, tt.want)
			}
		})
	}
}

func FuzzDecodeSettlement(f *testing.F) {
	b, _ := json.Marshal(sampleSettlement())
	f.Add(b)
	f.Add([]byte(`{"v":1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := DecodeSettlement(b)
		if err != nil {
			return
		}
		out, _ := json.Marshal(s)
		if _, err := DecodeSettlement(out); err != nil {
			t.Fatalf("re-decode failed: %v", err)
		}
	})
}

func FuzzDecodeDeadLetter(f *testing.F) {
	b, _ := json.Marshal(sampleDeadLetter())
	f.Add(b)
	f.Add([]byte(`{"v":1,"reason":"x","raw":"AAE="}`))
	f.Add([]byte(`{"v":1,"reAson":"0","rAw":""}`)) // once an empty raw that did not survive re-encoding
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := DecodeDeadLetter(b)
		if err != nil {
			return
		}
		out, _ := json.Marshal(d)
		if _, err := DecodeDeadLetter(out); err != nil {
			t.Fatalf("re-decode failed: %v", err)
		}
	})
}

func sampleSettlementFinal() SettlementFinal {
	return SettlementFinal{
		Version: SettlementFinalVersion, Namespace: h402.NamespaceEVM, NetworkID: "8453",
		TxHash: "0x" + strings.Repeat("ab", 32), Block: 123, BlockHash: "0x" + strings.Repeat("cd", 32), At: at,
		GasUsed: 1_234_567, Fee: "98765432100", FeePayer: "0x" + strings.Repeat("01", 20),
	}
}

// TestGoldenSettlementFinal: the watcher's final-settlement record keeps
// its wire form, and a fee that is not an integer is refused.
func TestGoldenSettlementFinal(t *testing.T) {
	want := sampleSettlementFinal()
	got, err := DecodeSettlementFinal(golden(t, "settlement_final_v1.json", want))
	if err != nil {
		t.Fatal(err)
	}
	if got.TxHash != want.TxHash || got.GasUsed != want.GasUsed || got.Fee != want.Fee || !got.At.Equal(at) {
		t.Errorf("round trip: got %+v, want %+v", got, want)
	}
	bad := want
	bad.Fee = "1e9"
	b, _ := json.Marshal(bad)
	if _, err := DecodeSettlementFinal(b); !errors.Is(err, ErrMalformed) {
		t.Errorf("fee 1e9: got %v, want ErrMalformed", err)
	}
	bad = want
	bad.Version = 2
	b, _ = json.Marshal(bad)
	if _, err := DecodeSettlementFinal(b); !errors.Is(err, ErrUnknownVersion) {
		t.Errorf("version 2: got %v, want ErrUnknownVersion", err)
	}
}

func FuzzDecodeSettlementFinal(f *testing.F) {
	b, _ := json.Marshal(sampleSettlementFinal())
	f.Add(b)
	f.Add([]byte(`{"v":1,"txHash":"x","namespace":"evm","networkId":"1","fee":"-1"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := DecodeSettlementFinal(b)
		if err != nil {
			return
		}
		out, _ := json.Marshal(s)
		if _, err := DecodeSettlementFinal(out); err != nil {
			t.Fatalf("re-decode failed: %v", err)
		}
	})
}
