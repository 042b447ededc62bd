package events

import (
	"fmt"
	"time"

	"github.com/h402/settlement/pkg/h402"
)

// SettlementFinalVersion is the version of SettlementFinal this code writes and reads.
const SettlementFinalVersion = 1

// SettlementFinal is published by the watcher to
// settlements.final.<ns>.<net> (SettlementFinalSubject) once a transaction
// carrying payments is final: what it cost, for the ledger's gas and fee
// totals. Its Nats-Msg-Id is SettlementFinalMsgID; readers count a
// transaction once (by TxHash), whatever number of records name it.
type SettlementFinal struct {
	Version   int            `json:"v"`
	Namespace h402.Namespace `json:"namespace"`
	NetworkID string         `json:"networkId"`
	TxHash    string         `json:"txHash"`
	Block     uint64         `json:"block"`
	BlockHash string         `json:"blockHash,omitempty"`
	At        time.Time      `json:"at"`
	// GasUsed (EVM gas, Solana compute units) and Fee (wei, lamports, as a
	// decimal string) of the whole transaction; FeePayer paid it.
	GasUsed  uint64 `json:"gasUsed"`
	Fee      string `json:"fee"`
	FeePayer string `json:"feePayer,omitempty"`
	// ClientBroadcast is true when the client paid the fee (its own transaction).
	ClientBroadcast bool `json:"clientBroadcast,omitempty"`
}

// SettlementFinalMsgID is the Nats-Msg-Id of a final-settlement record: final:<txHash>.
func SettlementFinalMsgID(tx string) string { return "final:" + tx }

// SettlementFinalSubject is where the watcher reports final transactions:
// settlements.final.<namespace>.<networkId>.
func SettlementFinalSubject(ns h402.Namespace, networkID string) (string, error) {
	return subject(rootSettlements, "final", string(ns), networkID)
}

// DecodeSettlementFinal decodes and checks a SettlementFinal record.
func DecodeSettlementFinal(b []byte) (*SettlementFinal, error) {
	var s SettlementFinal
	if err := decode(b, &s); err != nil {
		return nil, err
	}
	if s.Version != SettlementFinalVersion {
		return nil, fmt.Errorf("%w: settlement-final version %d (this build reads %d)", ErrUnknownVersion, s.Version, SettlementFinalVersion)
	}
	if s.TxHash == "" || s.Namespace == "" || s.NetworkID == "" {
		return nil, fmt.Errorf("%w: settlement-final record lacks txHash, namespace or networkId", ErrMalformed)
	}
	if s.Fee != "" && !isUint256(s.Fee) {
		return nil, fmt.Errorf("%w: settlement-final record of %s has fee %q, not an integer", ErrMalformed, s.TxHash, s.Fee)
	}
	return &s, nil
}
