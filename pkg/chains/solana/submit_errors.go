package solana

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	solanago "github.com/gagliardetto/solana-go"
	"github.com/gagliardetto/solana-go/rpc/jsonrpc"

	"github.com/h402/settlement/pkg/chains"
	"github.com/h402/settlement/pkg/h402"
)

// sendKind is what a sendTransaction error means for the payment.
type sendKind int

const (
	sendRetry             sendKind = iota // the endpoint failed, or the chain may answer otherwise later
	sendLanded                            // AlreadyProcessed: the signature is known to the chain
	sendBlockhashNotFound                 // the blockhash is unknown: expired, or the node lags
	sendPermanent                         // the transaction can never succeed
)

// JSON-RPC error codes of a Solana node's sendTransaction.
const (
	codePreflightFailure      = -32002
	codeSignatureVerification = -32003
	codeSignatureLenMismatch  = -32013
	codeUnsupportedVersion    = -32015
	codeInvalidParams         = -32602
)

// classifySend maps a sendTransaction error. Only the chain's own answers
// can be permanent; an endpoint failure, or a node error such as "node is
// behind", is retryable. coSigned says the fee payer is the facilitator's:
// a fee it cannot pay is ours to fix, not the payer's fault.
func classifySend(err error, coSigned bool) (sendKind, *h402.Error) {
	var re *jsonrpc.RPCError
	if !errors.As(err, &re) {
		return sendRetry, nil
	}
	switch re.Code {
	case codeSignatureVerification:
		return sendPermanent, h402.Errorf(h402.ReasonSolanaSignature, "the transaction's signatures do not verify")
	case codeSignatureLenMismatch, codeUnsupportedVersion, codeInvalidParams:
		return sendPermanent, h402.Errorf(h402.ReasonSolanaTransaction, "the RPC node refuses the transaction: %s", clip(re.Message))
	case codePreflightFailure:
	default:
		return sendRetry, nil
	}
	data, _ := re.Data.(map[string]any)
	txErr := data["err"]
	if txErr == nil {
		return sendRetry, nil
	}
	name := txErrorName(txErr)
	logs := logLines(data["logs"])
	switch {
	case name == "AlreadyProcessed":
		return sendLanded, nil
	case name == "BlockhashNotFound":
		return sendBlockhashNotFound, nil
	case name == "InsufficientFundsForFee" || name == "AccountNotFound":
		if coSigned {
			return sendRetry, nil // our fee payer is empty: an operator must fund it
		}
		return sendPermanent, h402.Errorf(h402.ReasonInsufficientFunds, "the payer cannot pay the transaction fee (%s)", name)
	case name == "InsufficientFundsForRent" || insufficientInLogs(logs):
		return sendPermanent, h402.Errorf(h402.ReasonInsufficientFunds, "the payer cannot cover this transfer (preflight: %s)", clip(jsonText(txErr)))
	default:
		return sendPermanent, h402.Errorf(h402.ReasonInvalidTransactionState, "the transaction fails in preflight: %s", clip(jsonText(txErr)))
	}
}

// landedError is the failure of a transaction that landed with an error.
func landedError(tx *chains.Tx, txErr any) *h402.Error {
	if insufficientOnChain(tx, txErr) {
		return h402.Errorf(h402.ReasonInsufficientFunds, "transaction %s failed on chain: the payer cannot cover the transfer (%s)", tx.Hash, clip(jsonText(txErr)))
	}
	return h402.Errorf(h402.ReasonInvalidTransactionState, "transaction %s failed on chain: %s", tx.Hash, clip(jsonText(txErr)))
}

// insufficientOnChain recognises a landed failure that means "not enough
// funds": the rent and fee errors, and custom error 1 of the token programs
// (InsufficientFunds) or the System program (ResultWithNegativeLamports).
func insufficientOnChain(tx *chains.Tx, txErr any) bool {
	switch txErrorName(txErr) {
	case "InsufficientFundsForRent", "InsufficientFundsForFee":
		return true
	case "InstructionError":
	default:
		return false
	}
	m, _ := txErr.(map[string]any)
	pair, _ := m["InstructionError"].([]any)
	if len(pair) != 2 {
		return false
	}
	index, ok := pair[0].(float64)
	custom, _ := pair[1].(map[string]any)
	code, isCustom := custom["Custom"].(float64)
	if !ok || !isCustom || code != 1 {
		return false
	}
	w, err := decodeWire(tx.Raw)
	if err != nil || int(index) < 0 || int(index) >= len(w.tx.Message.Instructions) {
		return false
	}
	prog, err := w.tx.Message.Program(w.tx.Message.Instructions[int(index)].ProgramIDIndex)
	if err != nil {
		return false
	}
	return prog.Equals(solanago.TokenProgramID) || prog.Equals(solanago.Token2022ProgramID) || prog.Equals(solanago.SystemProgramID)
}

// txErrorName is a TransactionError's variant: "AlreadyProcessed" for a
// string, the single key for an object ({"InstructionError": [...]}).
func txErrorName(v any) string {
	switch e := v.(type) {
	case string:
		return e
	case map[string]any:
		for k := range e {
			if len(e) == 1 {
				return k
			}
		}
	}
	return ""
}

func logLines(v any) []string {
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, l := range list {
		if s, ok := l.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func insufficientInLogs(logs []string) bool {
	for _, l := range logs {
		l = strings.ToLower(l)
		if strings.Contains(l, "insufficient funds") || strings.Contains(l, "insufficient lamports") {
			return true
		}
	}
	return false
}

func jsonText(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}
