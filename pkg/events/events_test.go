package events

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/h402/settlement/pkg/h402"
	"github.com/h402/settlement/pkg/natsembed"
	"github.com/nats-io/nats.go/jetstream"
)

var update = flag.Bool("update", false, "rewrite golden files")

func TestSubjects(t *testing.T) {
	tests := []struct {
		name    string
		build   func() (string, error)
		want    string
		wantErr string
	}{
		{"accepted evm", func() (string, error) {
			return PaymentAcceptedSubject(h402.NamespaceEVM, "8453", "evm.8453.auth.0xt.0xf.0x01")
		}, "payments.accepted.evm.8453.auth.0xt.0xf.0x01", ""},
		{"accepted solana", func() (string, error) {
			return PaymentAcceptedSubject(h402.NamespaceSolana, "devnet", "solana.devnet.msg.ab")
		}, "payments.accepted.solana.devnet.msg.ab", ""},
		{"accepted id of another network refused", func() (string, error) { return PaymentAcceptedSubject(h402.NamespaceEVM, "8453", "evm.1.auth.x") }, "", "does not start with evm.8453"},
		{"dead", func() (string, error) { return PaymentDeadSubject(h402.NamespaceEVM, "1337") }, "payments.dead.evm.1337", ""},
		{"submitted", func() (string, error) { return SettlementSubmittedSubject(h402.NamespaceEVM, "1337") }, "settlements.submitted.evm.1337", ""},
		{"receipt lowercases evm payTo", func() (string, error) {
			return ReceiptSubject("0xABCdef0000000000000000000000000000000001", h402.NamespaceEVM, "8453")
		}, "receipts.0xabcdef0000000000000000000000000000000001.evm.8453", ""},
		{"receipt keeps base58 case", func() (string, error) {
			return ReceiptSubject("9xQeWvG816bUx9EPjHmaT23yvVM2ZWbrrpZb9PusVFin", h402.NamespaceSolana, "mainnet")
		}, "receipts.9xQeWvG816bUx9EPjHmaT23yvVM2ZWbrrpZb9PusVFin.solana.mainnet", ""},
		{"wildcard injection refused", func() (string, error) { return ReceiptSubject("a.>", h402.NamespaceSolana, "mainnet") }, "", "outside [A-Za-z0-9_-]"},
		{"star refused", func() (string, error) { return PaymentAcceptedSubject(h402.NamespaceEVM, "*", "evm.*.x") }, "", "outside"},
		{"empty refused", func() (string, error) { return PaymentAcceptedSubject(h402.NamespaceEVM, "", "evm..x") }, "", "is empty"},
		{"space refused", func() (string, error) { return StateSubject(h402.NamespaceEVM, "84 53", "a.b") }, "", "outside"},
		{"state of one payment", func() (string, error) { return StateSubject(h402.NamespaceEVM, "8453", "evm.8453.hash.0xab") }, "payments.state.evm.8453.evm.8453.hash.0xab", ""},
		{"payment id wildcard refused", func() (string, error) { return StateSubject(h402.NamespaceEVM, "8453", "evm.>") }, "", "outside"},
		{"payment id empty token refused", func() (string, error) { return StateSubject(h402.NamespaceEVM, "8453", "evm..x") }, "", "is empty"},
		{"seller wildcard", func() (string, error) { return ReceiptsOfSeller("0xAB", h402.NamespaceEVM) }, "receipts.0xab.evm.>", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.build()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %q, %v; want error containing %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestCanMove(t *testing.T) {
	tests := []struct {
		from, to State
		want     bool
	}{
		{StateAccepted, StateBatched, true},
		{StateAccepted, StateFailed, true},
		{StateSubmitted, StateAccepted, true}, // dropped or reorged out
		{StateSubmitted, StateSubmitted, true},
		{StateConfirmed, StateFinalized, true},
		{StateAccepted, StateFinalized, false},
		{StateFinalized, StateFailed, false},
		{StateFailed, StateAccepted, false},
		{StateFinalized, StateAccepted, false},
	}
	for _, tt := range tests {
		if got := CanMove(tt.from, tt.to); got != tt.want {
			t.Errorf("CanMove(%s, %s) = %v, want %v", tt.from, tt.to, got, tt.want)
		}
	}
	if !StateFailed.Terminal() || !StateFinalized.Terminal() || StateConfirmed.Terminal() {
		t.Errorf("Terminal: want only failed and finalized")
	}
}

func samplePayment() *PaymentAccepted {
	nonce := "0x" + strings.Repeat("ab", 32)
	return &PaymentAccepted{
		Version:     PaymentAcceptedVersion,
		ID:          "evm.8453.auth.0x833589fcd6edb6e08f4c7c32d4f71b54bda02913.0x1111111111111111111111111111111111111111." + nonce,
		Namespace:   h402.NamespaceEVM,
		NetworkID:   "8453",
		Type:        h402.TypeAuthorization,
		Token:       "0x833589fcd6edb6e08f4c7c32d4f71b54bda02913",
		Payer:       "0x1111111111111111111111111111111111111111",
		PayTo:       "0x2222222222222222222222222222222222222222",
		Amount:      "10000",
		Nonce:       nonce,
		ValidAfter:  1764000000,
		ValidBefore: 1764000060,
		Settle:      true,
		Authorization: &EVMAuthorization{
			From: "0x1111111111111111111111111111111111111111", To: "0x2222222222222222222222222222222222222222",
			Value: "10000", ValidAfter: "1764000000", ValidBefore: "1764000060", Nonce: nonce,
			Signature: "0x" + strings.Repeat("11", 64) + "1b",
		},
		Resource:    "https://api.example/report",
		Request:     "00112233445566778899aabbccddeeff",
		Idempotency: "order-42",
		AcceptedAt:  time.Date(2026, 11, 24, 4, 0, 0, 0, time.UTC),
	}
}

func golden(t *testing.T, name string, v any) []byte {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	b = append(b, '\n')
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden (run with -update to create): %v", err)
	}
	if !bytes.Equal(b, want) {
		t.Errorf("%s changed: an event version's wire form is frozen; bump the version instead.\ngot:\n%s\nwant:\n%s", name, b, want)
	}
	return want
}

func TestGoldenPaymentAccepted(t *testing.T) {
	want := samplePayment()
	b := golden(t, "payment_accepted_v2.json", want)
	got, err := DecodePaymentAccepted(b)
	if err != nil {
		t.Fatalf("decode golden: %v", err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("round trip: got %+v, want %+v", got, want)
	}
}

// A version 1 event (which carried the client's X-PAYMENT text) written
// before an upgrade is still settled: it decodes into the same settlement
// data a version 2 event carries.
func TestDecodeVersion1Upgrades(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "payment_accepted_v1.json"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodePaymentAccepted(b)
	if err != nil {
		t.Fatalf("decode v1: %v", err)
	}
	want := samplePayment().Authorization
	if got.Version != PaymentAcceptedVersion || got.Authorization == nil || *got.Authorization != *want || got.Resource != "https://api.example/report" {
		t.Errorf("v1 upgrade: got version %d, authorization %+v, resource %q; want %d, %+v, the header's resource", got.Version, got.Authorization, got.Resource, PaymentAcceptedVersion, want)
	}
}

func TestSetPayloadBounds(t *testing.T) {
	base := func() *PaymentAccepted {
		e := samplePayment()
		e.Authorization = nil
		return e
	}
	sol := func(tx string) *h402.PaymentPayload {
		return &h402.PaymentPayload{H402Version: 1, Scheme: "exact", Namespace: h402.NamespaceSolana, NetworkID: "devnet",
			Payload: &h402.SolanaSignTransactionPayload{Type: h402.TypeSignTransaction, Transaction: tx}}
	}
	e := base()
	e.Type = h402.TypeSignTransaction
	if err := e.SetPayload(sol(strings.Repeat("A", MaxSolanaTransactionLen+4))); !errors.Is(err, ErrMalformed) {
		t.Errorf("oversize Solana transaction: err = %v, want ErrMalformed", err)
	}
	e = base()
	e.Type = h402.TypeSignTransaction
	if err := e.SetPayload(sol(strings.Repeat("A", 100))); err != nil {
		t.Errorf("Solana transaction within bounds: %v", err)
	}
	e = base()
	e.Type = h402.TypeSignedTransaction
	big := &h402.PaymentPayload{H402Version: 1, Scheme: "exact", Namespace: h402.NamespaceEVM, NetworkID: "8453",
		Payload: &h402.EVMSignedTransactionPayload{Type: h402.TypeSignedTransaction, SignedTransaction: "0x" + strings.Repeat("ab", 5000)}}
	if err := e.SetPayload(big); !errors.Is(err, ErrMalformed) {
		t.Errorf("oversize EVM transaction: err = %v, want ErrMalformed", err)
	}
	e = samplePayment()
	e.Resource = strings.Repeat("r", MaxResourceLen+1)
	if _, err := e.Encode(); !errors.Is(err, ErrMalformed) {
		t.Errorf("oversize resource: err = %v, want ErrMalformed", err)
	}
	e = samplePayment()
	e.Authorization.Signature = "0x" + strings.Repeat("11", 66) // not 65 bytes
	if _, err := e.Encode(); !errors.Is(err, ErrMalformed) {
		t.Errorf("long signature: err = %v, want ErrMalformed", err)
	}
}

func TestGoldenTransition(t *testing.T) {
	for name, tr := range map[string]Transition{
		"transition_submitted_v1.json": {Version: 1, ID: "evm.8453.hash.0xab", Seq: 2, State: StateSubmitted, At: time.Date(2026, 11, 24, 4, 0, 1, 0, time.UTC), TxHash: "0x" + strings.Repeat("cd", 32)},
		"transition_failed_v1.json":    {Version: 1, ID: "evm.8453.hash.0xab", Seq: 3, State: StateFailed, At: time.Date(2026, 11, 24, 4, 0, 2, 0, time.UTC), Reason: h402.ReasonNonceAlreadyUsed, Message: "the authorization's nonce was used on chain before settlement"},
	} {
		t.Run(name, func(t *testing.T) {
			b := golden(t, name, tr)
			got, err := DecodeTransition(b)
			if err != nil {
				t.Fatalf("decode golden: %v", err)
			}
			if *got != tr {
				t.Errorf("round trip: got %+v, want %+v", *got, tr)
			}
		})
	}
}

// editJSON returns good, a JSON object, with its fields edited by f.
func editJSON(good []byte, f func(m map[string]any)) []byte {
	var m map[string]any
	_ = json.Unmarshal(good, &m)
	f(m)
	b, _ := json.Marshal(m)
	return b
}

func TestDecodeErrors(t *testing.T) {
	good, _ := json.Marshal(samplePayment())
	edit := func(f func(m map[string]any)) []byte { return editJSON(good, f) }
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"not json", []byte("{"), ErrMalformed},
		{"future version", edit(func(m map[string]any) { m["v"] = 3 }), ErrUnknownVersion},
		{"no authorization", edit(func(m map[string]any) { delete(m, "authorization") }), ErrMalformed},
		{"client broadcast without hash", edit(func(m map[string]any) { m["settle"] = false }), ErrMalformed},
		{"uppercase nonce", edit(func(m map[string]any) {
			m["authorization"].(map[string]any)["nonce"] = "0x" + strings.Repeat("AB", 32)
		}), ErrMalformed},
		{"no version", edit(func(m map[string]any) { delete(m, "v") }), ErrUnknownVersion},
		{"no id", edit(func(m map[string]any) { delete(m, "id") }), ErrMalformed},
		{"negative amount", edit(func(m map[string]any) { m["amount"] = "-5" }), ErrMalformed},
		{"float amount", edit(func(m map[string]any) { m["amount"] = "1.5" }), ErrMalformed},
		{"oversize", append(good, bytes.Repeat([]byte(" "), MaxEventLen)...), ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodePaymentAccepted(tt.in)
			if !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
		})
	}
	for name, in := range map[string]string{
		"unknown state":        `{"v":1,"id":"x","seq":1,"state":"paid"}`,
		"failed without cause": `{"v":1,"id":"x","seq":1,"state":"failed"}`,
		"no id":                `{"v":1,"seq":1,"state":"accepted"}`,
	} {
		if _, err := DecodeTransition([]byte(in)); !errors.Is(err, ErrMalformed) {
			t.Errorf("DecodeTransition(%s): err = %v, want ErrMalformed", name, err)
		}
	}
}

func TestEnsureIdempotent(t *testing.T) {
	s, err := natsembed.Start(natsembed.Config{Port: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	nc, js, err := s.JetStream()
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cfg := DefaultStreams()
	for i := 0; i < 2; i++ {
		if err := Ensure(ctx, js, cfg); err != nil {
			t.Fatalf("Ensure #%d: %v", i+1, err)
		}
	}
	st, err := js.Stream(ctx, StreamPayments)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Config.Retention != jetstream.LimitsPolicy || info.Config.Duplicates != cfg.Duplicates || info.Config.Storage != jetstream.FileStorage {
		t.Errorf("PAYMENTS config = retention %v dup %v storage %v; want limits, %v, file", info.Config.Retention, info.Config.Duplicates, info.Config.Storage, cfg.Duplicates)
	}
	subj, _ := PaymentAcceptedSubject(h402.NamespaceEVM, "1337", "evm.1337.auth.a.b.c")
	if _, err := js.Publish(ctx, subj, []byte("{}")); err != nil {
		t.Errorf("publish to %s after Ensure: %v", subj, err)
	}
	kv, err := js.KeyValue(ctx, BucketReplay)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Create(ctx, "evm.1337.auth.a.b.c", nil); err != nil {
		t.Fatalf("first Create: %v", err)
	}
	if _, err := kv.Create(ctx, "evm.1337.auth.a.b.c", nil); !errors.Is(err, jetstream.ErrKeyExists) {
		t.Errorf("second Create: err = %v, want ErrKeyExists", err)
	}
}

func FuzzDecodePaymentAccepted(f *testing.F) {
	b, _ := json.Marshal(samplePayment())
	f.Add(b)
	f.Add([]byte(`{"v":1}`))
	if v1, err := os.ReadFile(filepath.Join("testdata", "payment_accepted_v1.json")); err == nil {
		f.Add(v1)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := DecodePaymentAccepted(b)
		if err != nil {
			return
		}
		out, err := json.Marshal(e)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		if _, err := DecodePaymentAccepted(out); err != nil {
			t.Fatalf("re-decode of an accepted event failed: %v", err)
		}
	})
}

func FuzzDecodeTransition(f *testing.F) {
	f.Add([]byte(`{"v":1,"id":"x","seq":1,"state":"failed","reason":"insufficient_funds"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := DecodeTransition(b)
		if err != nil {
			return
		}
		out, _ := json.Marshal(e)
		if _, err := DecodeTransition(out); err != nil {
			t.Fatalf("re-decode failed: %v", err)
		}
	})
}
