package solana

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/gagliardetto/solana-go/rpc/jsonrpc"

	"github.com/h402/settlement/pkg/chains"
	"github.com/h402/settlement/pkg/failover"
	"github.com/h402/settlement/pkg/h402"
)

// rpcErr builds the error solana-go returns for a node's JSON-RPC error,
// decoding data from JSON as the client does.
func rpcErr(t *testing.T, code int, message, data string) error {
	t.Helper()
	var d any
	if data != "" {
		if err := json.Unmarshal([]byte(data), &d); err != nil {
			t.Fatal(err)
		}
	}
	return fmt.Errorf("sendTransaction: %w", &jsonrpc.RPCError{Code: code, Message: message, Data: d})
}

func TestClassifySend(t *testing.T) {
	tests := []struct {
		name       string
		err        error
		coSigned   bool
		wantKind   sendKind
		wantReason h402.Reason
	}{
		{"endpoint unreachable", &failover.Unavailable{Call: "sendTransaction", Last: errors.New("connection refused")}, false, sendRetry, ""},
		{"node behind", rpcErr(t, -32005, "Node is behind by 42 slots", ""), false, sendRetry, ""},
		{"already processed", rpcErr(t, -32002, "Transaction simulation failed: This transaction has already been processed", `{"err":"AlreadyProcessed","logs":[]}`), false, sendLanded, ""},
		{"blockhash not found", rpcErr(t, -32002, "Transaction simulation failed: Blockhash not found", `{"err":"BlockhashNotFound"}`), false, sendBlockhashNotFound, ""},
		{"token insufficient funds", rpcErr(t, -32002, "Transaction simulation failed: Error processing Instruction 3: custom program error: 0x1", `{"err":{"InstructionError":[3,{"Custom":1}]},"logs":["Program log: Error: insufficient funds"]}`), false, sendPermanent, h402.ReasonInsufficientFunds},
		{"client cannot pay the fee", rpcErr(t, -32002, "Transaction simulation failed: Insufficient funds for fee", `{"err":"InsufficientFundsForFee"}`), false, sendPermanent, h402.ReasonInsufficientFunds},
		{"our fee payer cannot pay the fee", rpcErr(t, -32002, "Transaction simulation failed: Insufficient funds for fee", `{"err":"InsufficientFundsForFee"}`), true, sendRetry, ""},
		{"our fee payer does not exist", rpcErr(t, -32002, "Transaction simulation failed: Attempt to debit an account but found no record of a prior credit.", `{"err":"AccountNotFound"}`), true, sendRetry, ""},
		{"other instruction error", rpcErr(t, -32002, "Transaction simulation failed: Error processing Instruction 2: invalid account data", `{"err":{"InstructionError":[2,"InvalidAccountData"]},"logs":[]}`), false, sendPermanent, h402.ReasonInvalidTransactionState},
		{"preflight failure without err", rpcErr(t, -32002, "Transaction simulation failed", `{}`), false, sendRetry, ""},
		{"signature verification", rpcErr(t, -32003, "Transaction signature verification failure", ""), false, sendPermanent, h402.ReasonSolanaSignature},
		{"invalid params", rpcErr(t, -32602, "invalid transaction: failed to deserialize", ""), false, sendPermanent, h402.ReasonSolanaTransaction},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kind, perm := classifySend(tt.err, tt.coSigned)
			if kind != tt.wantKind {
				t.Fatalf("kind: got %d, want %d", kind, tt.wantKind)
			}
			if tt.wantReason == "" {
				if perm != nil {
					t.Errorf("got permanent error %v, want none", perm)
				}
				return
			}
			if perm == nil || perm.Reason != tt.wantReason || perm.Message == "" {
				t.Errorf("got %v, want reason %s with a sentence", perm, tt.wantReason)
			}
		})
	}
}

func TestLandedError(t *testing.T) {
	f := newFixture(t)
	p := f.signed(t, f.requirements("spl", false), "spl", PayOptions{})
	w, err := decodeTransactionText(txText(t, p))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := w.tx.MarshalBinary()
	tx := &chains.Tx{Hash: w.tx.Signatures[0].String(), Raw: raw}
	// Instructions: 0 and 1 compute budget, 2 create ATA, 3 TransferChecked.
	tests := []struct {
		name string
		err  string
		want h402.Reason
	}{
		{"token program custom 1", `{"InstructionError":[3,{"Custom":1}]}`, h402.ReasonInsufficientFunds},
		{"custom 1 of another program", `{"InstructionError":[2,{"Custom":1}]}`, h402.ReasonInvalidTransactionState},
		{"rent", `{"InsufficientFundsForRent":{"account_index":0}}`, h402.ReasonInsufficientFunds},
		{"index out of range", `{"InstructionError":[9,{"Custom":1}]}`, h402.ReasonInvalidTransactionState},
		{"plain variant", `"AccountInUse"`, h402.ReasonInvalidTransactionState},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var v any
			if err := json.Unmarshal([]byte(tt.err), &v); err != nil {
				t.Fatal(err)
			}
			got := landedError(tx, v)
			if got.Reason != tt.want {
				t.Errorf("got %s (%s), want %s", got.Reason, got.Message, tt.want)
			}
		})
	}
}
