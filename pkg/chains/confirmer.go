package chains

import (
	"context"
	"time"

	"github.com/h402/settlement/pkg/events"
	"github.com/h402/settlement/pkg/h402"
)

// Finality is where a submitted payment stands on chain.
type Finality string

// Finality of a submitted payment, as a Confirmer sees it.
const (
	// Pending: not (yet) in a block; the transaction may still land.
	Pending Finality = "pending"
	// Confirmed: in a block on the canonical chain, not yet final.
	Confirmed Finality = "confirmed"
	// Finalized: in a block at or below the network's finality (the
	// `finalized` tag or the configured depth on EVM; `finalized`
	// commitment on Solana). The payment moved funds for good.
	Finalized Finality = "finalized"
	// Dropped: none of the payment's transactions can land any more (EVM:
	// its nonce went to another transaction; Solana: its blockhash expired
	// without it landing), or the block that held it left the canonical
	// chain. The watcher sends the payment back (events.StateLog.SendBack)
	// when it can still settle, else fails it.
	Dropped Finality = "dropped"
	// Failed: a transaction carrying it is final, but it did not pay: its
	// own logs (EVM: AuthorizationUsed and the Transfer to payTo of the
	// amount) or balance deltas (Solana) are missing, or the transaction
	// failed. Reason says why.
	Failed Finality = "failed"
)

// Submission is one payment to confirm: the accepted event (what it must
// pay: token, payer, payTo, amount, and the authorization or transaction)
// and every transaction that may carry it (the latest hash and the hashes
// it replaced, from events.Settlement and the claims).
type Submission struct {
	Payment *events.PaymentAccepted
	// Tx is the latest transaction recorded for the payment; Tx.Replaces
	// lists earlier hashes of the same nonce, any of which may land.
	Tx Tx
}

// Confirmation is what a Confirmer found for one payment.
type Confirmation struct {
	// ID is the payment id.
	ID     string
	Status Finality
	// TxHash is the transaction that carries the payment (one of the
	// submission's hashes) once it is in a block.
	TxHash string
	// Block is the EVM block number or Solana slot that holds it, and
	// BlockHash that block's hash (EVM) or blockhash (Solana), kept to
	// detect a reorg: a later look-up that finds another hash at Block
	// means the payment left the canonical chain.
	Block     uint64
	BlockHash string
	// At is the block's time (Confirmed, Finalized, Failed).
	At time.Time
	// Reason and Message explain Failed and Dropped.
	Reason  h402.Reason
	Message string
	// GasUsed and Fee describe the carrying transaction once it is in a
	// block: EVM gas used and gasUsed × effectiveGasPrice in wei; Solana
	// compute units consumed and the fee in lamports. They are the whole
	// transaction's (shared by every payment of a batch), and Payer is the
	// account that paid the fee (facilitator signer, Solana fee payer, or
	// the client for a client-broadcast transaction).
	GasUsed  uint64
	Fee      string
	FeePayer string
}

// Confirmer follows submitted payments of one chain family to finality;
// the watcher runs one per network. pkg/chains/evm and pkg/chains/solana
// implement it (with compile-time guards).
type Confirmer interface {
	Namespace() h402.Namespace
	// Confirm looks up a set of submitted payments (at most a chain-family
	// bound per call, e.g. 256 Solana signatures) and returns one
	// Confirmation per submission, in order. A payment is decided from its
	// own effects (logs or balance deltas), never from a batch
	// transaction's status. An error means nothing could be learned (RPC
	// down): the caller retries; it is never a verdict on a payment.
	Confirm(ctx context.Context, subs []Submission) ([]Confirmation, error)
}

// Transfer is one token movement found on chain (EVM: a Transfer log or a
// native value transfer; Solana: a token-balance delta of a transaction).
type Transfer struct {
	TxHash string
	// Block is the EVM block number or Solana slot; At its time.
	Block uint64
	At    time.Time
	// Token is the token contract or mint (the zero address / system
	// program for native transfers), From and To the owners (not token
	// accounts), Amount in smallest units as a decimal string.
	Token, From, To, Amount string
	// Index orders the transfers of one transaction (EVM log index; Solana
	// position of the balance change).
	Index uint
}

// Auditor reads final token transfers back from a chain, for
// reconciliation of the ledger against the chain. pkg/chains/evm and
// pkg/chains/solana implement it.
type Auditor interface {
	Namespace() h402.Namespace
	// TransfersIn returns the token transfers a final transaction made;
	// nil and no error when the transaction is not (or no longer) on the
	// canonical chain at finality.
	TransfersIn(ctx context.Context, txHash string) ([]Transfer, error)
	// SentBy returns the token transfers made by final transactions whose
	// sender (EVM) or fee payer (Solana) is one of accounts, with block
	// times in [from, to).
	SentBy(ctx context.Context, accounts []string, from, to time.Time) ([]Transfer, error)
}
