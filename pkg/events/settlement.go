package events

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/h402/settlement/pkg/h402"
)

// SettlementVersion is the version of Settlement this code writes and reads.
const SettlementVersion = 1

// Settlement is published to settlements.submitted.<ns>.<net>
// (SettlementSubmittedSubject) once a transaction carrying payments is
// broadcast (or found on chain). The watcher follows its hash to finality.
// One transaction may be reported by several records (payments of one
// transaction redelivered in different batches); a reader takes the union
// of their payments. Its Nats-Msg-Id is SettlementMsgID.
type Settlement struct {
	Version   int            `json:"v"`
	Namespace h402.Namespace `json:"namespace"`
	NetworkID string         `json:"networkId"`
	// TxHash is the transaction id (EVM hash, Solana first signature).
	TxHash string `json:"txHash"`
	// Signer, Nonce and Replaces are the chains.Tx fields (EVM).
	Signer   string   `json:"signer,omitempty"`
	Nonce    uint64   `json:"nonce,omitempty"`
	Replaces []string `json:"replaces,omitempty"`
	// ClientBroadcast is true when the client sent the transaction itself.
	ClientBroadcast bool `json:"clientBroadcast,omitempty"`
	// Payments are the payment ids it carries.
	Payments    []string  `json:"payments"`
	SubmittedAt time.Time `json:"submittedAt"`
	// Replica is the settler that reported it.
	Replica string `json:"replica,omitempty"`
}

// SettlementMsgID is the Nats-Msg-Id of a settlement record:
// settlement:<txHash>:<first 8 bytes of sha256 over the sorted payment ids, hex>.
// ids must be sorted.
func SettlementMsgID(tx string, ids []string) string {
	h := sha256.New()
	for _, id := range ids {
		h.Write([]byte(id))
		h.Write([]byte{0})
	}
	return "settlement:" + tx + ":" + hex.EncodeToString(h.Sum(nil)[:8])
}

// DecodeSettlement decodes and checks a Settlement record.
func DecodeSettlement(b []byte) (*Settlement, error) {
	var s Settlement
	if err := decodeRecord(b, &s); err != nil {
		return nil, err
	}
	if s.Version != SettlementVersion {
		return nil, fmt.Errorf("%w: settlement version %d (this build reads %d)", ErrUnknownVersion, s.Version, SettlementVersion)
	}
	if s.TxHash == "" || s.Namespace == "" || s.NetworkID == "" || len(s.Payments) == 0 {
		return nil, fmt.Errorf("%w: settlement lacks txHash, namespace, networkId or payments", ErrMalformed)
	}
	return &s, nil
}

// decodeRecord decodes a record that may embed a whole accepted event
// (twice the event bound).
func decodeRecord(b []byte, v any) error {
	if len(b) > 2*MaxEventLen {
		return fmt.Errorf("%w: %d bytes, more than %d", ErrMalformed, len(b), 2*MaxEventLen)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return nil
}
