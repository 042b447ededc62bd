package evm_test

import (
	"errors"
	"math/big"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/h402/settlement/pkg/chains/evm"
	"github.com/h402/settlement/pkg/events"
	"github.com/h402/settlement/pkg/h402"
	"github.com/h402/settlement/pkg/settler"
)

// revertData is Error(string) revert data, as a require(..., msg) produces.
func revertData(msg string) []byte {
	typ, _ := abi.NewType("string", "", nil)
	args, _ := abi.Arguments{{Type: typ}}.Pack(msg)
	return append(crypto.Keccak256([]byte("Error(string)"))[:4], args...)
}

func TestRevertError(t *testing.T) {
	panicData := append(crypto.Keccak256([]byte("Panic(uint256)"))[:4], make([]byte, 32)...)
	panicData[len(panicData)-1] = 0x11
	tests := []struct {
		name string
		data []byte
		want h402.Reason
	}{
		{"used", revertData("FiatTokenV2: authorization is used or canceled"), h402.ReasonNonceAlreadyUsed},
		{"expired", revertData("FiatTokenV2: authorization is expired"), h402.ReasonEVMValidBefore},
		{"not yet valid", revertData("FiatTokenV2: authorization is not yet valid"), h402.ReasonEVMValidAfter},
		{"invalid signature", revertData("FiatTokenV2: invalid signature"), h402.ReasonEVMSignature},
		{"ecrecover s", revertData("ECRecover: invalid signature 's' value"), h402.ReasonEVMSignature},
		{"balance", revertData("ERC20: transfer amount exceeds balance"), h402.ReasonInsufficientFunds},
		{"blacklisted", revertData("Blacklistable: account is blacklisted"), h402.ReasonUnexpectedSettleError},
		{"panic", panicData, h402.ReasonUnexpectedSettleError},
		{"empty", nil, h402.ReasonUnexpectedSettleError},
		{"custom error", []byte{1, 2, 3, 4, 5}, h402.ReasonUnexpectedSettleError},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := evm.RevertError(tc.data)
			if got == nil || got.Reason != tc.want || strings.TrimSpace(got.Message) == "" {
				t.Fatalf("got %v, want reason %s with a sentence", got, tc.want)
			}
		})
	}
	if got := evm.RevertError(revertData("Blacklistable: account is blacklisted")); !strings.Contains(got.Message, "blacklisted") {
		t.Fatalf("got %q, want the revert text quoted", got.Message)
	}
}

func FuzzRevertError(f *testing.F) {
	f.Add(revertData("FiatTokenV2: authorization is expired"))
	f.Add(revertData(strings.Repeat("\xff", 200)))
	f.Add([]byte{0x08, 0xc3, 0x79, 0xa0})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		e := evm.RevertError(data)
		if e == nil || e.Reason == "" || e.Message == "" {
			t.Fatalf("got %v, want a reason and a message", e)
		}
		if len(e.Message) > 400 {
			t.Fatalf("message of %d bytes, want it clipped", len(e.Message))
		}
	})
}

func FuzzDecodeAuthorization(f *testing.F) {
	key, _ := crypto.GenerateKey()
	tok := testTokenConfig()
	d := h402.NewDecimal(big.NewInt(10_000))
	req := &h402.PaymentRequirements{Namespace: h402.NamespaceEVM, Scheme: h402.SchemeExact, NetworkID: "1337",
		TokenAddress: tok.Address, PayToAddress: "0x00000000000000000000000000000000000000aa",
		AmountRequired: &d, AmountRequiredFormat: h402.FormatSmallestUnit, Resource: "https://x.example/r"}
	p, _, err := evm.SignAuthorization(req, key, &tok, fixedNow, evm.AuthorizationOptions{})
	if err != nil {
		f.Fatalf("sign: %v", err)
	}
	f.Add(fuzzEvent(f, h402.TypeAuthorization, p))
	f.Add([]byte(""))
	f.Add([]byte(`{"v":2}`))
	f.Add([]byte(strings.Repeat("A", 100)))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := events.DecodePaymentAccepted(b)
		if err != nil {
			return // the event decoder has its own fuzz target
		}
		call, _, _, err := evm.DecodeAuthorization(e)
		if err != nil {
			var he *h402.Error
			if !errors.As(err, &he) {
				t.Fatalf("got %T %v, want *h402.Error", err, err)
			}
			return
		}
		if len(call) != 4+9*32 {
			t.Fatalf("got %d bytes of calldata, want %d", len(call), 4+9*32)
		}
	})
}

func FuzzDecodeSignedTransaction(f *testing.F) {
	key, _ := crypto.GenerateKey()
	tok := testTokenConfig()
	d := h402.NewDecimal(big.NewInt(10_000))
	req := &h402.PaymentRequirements{Namespace: h402.NamespaceEVM, Scheme: h402.SchemeExact, NetworkID: "1337",
		TokenAddress: tok.Address, PayToAddress: "0x00000000000000000000000000000000000000aa",
		AmountRequired: &d, AmountRequiredFormat: h402.FormatSmallestUnit, Resource: "https://x.example/r"}
	p, _, err := evm.SignTransaction(req, key, &tok, evm.TxOptions{Nonce: 3})
	if err != nil {
		f.Fatalf("sign: %v", err)
	}
	f.Add(fuzzEvent(f, h402.TypeSignedTransaction, p))
	f.Add([]byte(""))
	f.Add([]byte(`{"v":2}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := events.DecodePaymentAccepted(b)
		if err != nil {
			return
		}
		tx, err := evm.DecodeSignedTransaction(e)
		if err != nil {
			var he *h402.Error
			if !errors.As(err, &he) {
				t.Fatalf("got %T %v, want *h402.Error", err, err)
			}
			return
		}
		if tx == nil {
			t.Fatal("got nil tx and nil error")
		}
	})
}

// fuzzEvent is the wire form of an accepted event carrying payload p.
func fuzzEvent(f *testing.F, typ h402.PayloadType, p *h402.PaymentPayload) []byte {
	f.Helper()
	e := &events.PaymentAccepted{Version: events.PaymentAcceptedVersion, ID: "evm.1337.fuzz", Namespace: h402.NamespaceEVM,
		NetworkID: "1337", Type: typ, Amount: "10000", Settle: true}
	if err := e.SetPayload(p); err != nil {
		f.Fatalf("event: %v", err)
	}
	b, err := e.Encode()
	if err != nil {
		f.Fatal(err)
	}
	return b
}

// TestRevertVerdict: a paused token is retryable, an unrecognised revert is
// unknown (operator queue after a few tries), the known reasons are final.
func TestRevertVerdict(t *testing.T) {
	tests := []struct {
		name string
		data []byte
		want settler.Class
	}{
		{"used", revertData("FiatTokenV2: authorization is used or canceled"), settler.ClassPermanent},
		{"balance", revertData("ERC20: transfer amount exceeds balance"), settler.ClassPermanent},
		{"paused", revertData("Pausable: paused"), settler.ClassRetryable},
		{"blacklisted", revertData("Blacklistable: account is blacklisted"), settler.ClassUnknown},
		{"empty", nil, settler.ClassUnknown},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := evm.RevertVerdict(tc.data)
			if got := settler.Classify(err); got != tc.want {
				t.Fatalf("got %s (%v), want %s", got, err, tc.want)
			}
			if h402.ReasonOf(err, "") == "" {
				t.Errorf("got %v, want the reason kept", err)
			}
		})
	}
}
