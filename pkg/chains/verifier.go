package chains

import (
	"context"
	"math/big"
	"time"

	"github.com/h402/settlement/pkg/config"
	"github.com/h402/settlement/pkg/h402"
)

// Request is one payment to verify, with the common checks done: the
// network and token are configured and the required amount is exact.
type Request struct {
	Requirements *h402.PaymentRequirements
	Payload      *h402.PaymentPayload
	Network      *config.Network
	Token        *config.Token
	Amount       *big.Int // required amount in smallest units
	Policy       config.Verify
	Now          time.Time
	// Taken reports whether a replay key is held by an accepted payment
	// (the replay guard); nil means unknown. The EVM state checker asks it
	// whether the nonce before a signedTransaction's is an accepted payment.
	Taken func(ctx context.Context, replayKey string) (bool, error)
	// BalanceNotBefore, when set, asks the state checker for a balance whose
	// load began at or after it, bypassing a cached one loaded earlier: the
	// payer's exposure was released after that (exposure.ErrStaleBalance).
	BalanceNotBefore time.Time
}

// Payment is what local verification establishes about a payment.
type Payment struct {
	// ID is the replay key (PROTOCOL.md §6): payment id, Nats-Msg-Id, replay-guard and ledger key.
	ID        string
	Namespace h402.Namespace
	NetworkID string
	Type      h402.PayloadType
	Token     string   // canonical token address or mint
	Payer     string   // canonical payer address or public key
	PayTo     string   // canonical recipient
	Amount    *big.Int // smallest units actually transferred
	// Nonce is the EIP-3009 nonce (0x hex) or the EVM tx nonce (decimal); empty otherwise.
	Nonce       string
	ValidAfter  time.Time // zero when not applicable
	ValidBefore time.Time // zero when not applicable
	// TxHash is the transaction's id when known before settlement: the hash of
	// an EVM signed transaction, a client-broadcast hash or Solana signature.
	TxHash string
	// Settle is true when the facilitator must submit something on chain;
	// false for client-broadcast payments, which go straight to the watcher.
	Settle bool
}

// KeptForGood reports whether the replay key of a payment of this type must
// never expire: a client-broadcast transfer stays a valid transfer for
// good, and a client's signed EVM transaction never expires. Other payments
// (EIP-3009 authorizations, Solana transactions with a blockhash) stop being
// valid, and their keys only need to outlive that.
func KeptForGood(t h402.PayloadType) bool {
	return t == h402.TypeSignAndSendTransaction || t == h402.TypeSignedTransaction
}

// Verifier checks a payment of one chain family without chain state.
type Verifier interface {
	Namespace() h402.Namespace
	// Verify checks the payload against the requirement; errors are *h402.Error.
	Verify(r *Request) (*Payment, error)
	// ReplayKey returns the payment's replay key without checking signatures
	// (it does recover an EVM transaction's sender). Verify sets the same key as Payment.ID.
	ReplayKey(r *Request) (string, error)
}

// State is what the chain said about a payment during verification.
type State struct {
	// Balance is the payer's balance of the payment's token, against which
	// the payer's pending exposure is bounded. Nil when the payment is already
	// on chain (client-broadcast) and reserves nothing.
	Balance *big.Int
	// BalanceAt is when the load of Balance began (the chain's state at that
	// time or later); exposure refuses a balance loaded before its last
	// release. Zero means unknown, treated as older than any release.
	BalanceAt time.Time
	// Reserve is what the payment adds to the payer's exposure when that is
	// not Payment.Amount: a native-coin EVM signedTransaction must leave the
	// sender its value plus its gas (gas limit × max fee per gas). Nil means
	// Payment.Amount.
	Reserve *big.Int
}

// Exposure is the amount checked and reserved against Balance for p.
func (s *State) Exposure(p *Payment) *big.Int {
	if s.Reserve != nil {
		return s.Reserve
	}
	return p.Amount
}

// StateChecker completes verification with chain state: balances, nonces,
// authorizationState, transaction lookups, blockhash validity, simulation.
// Implemented per family, behind breaker-guarded RPC. Errors are
// *h402.Error for a bad payment, or retryable errors (an RPC endpoint down)
// that must never be reported as a bad payment.
type StateChecker interface {
	Namespace() h402.Namespace
	CheckState(ctx context.Context, r *Request, p *Payment) (*State, error)
}

// CheckBroadcastAge refuses a client-broadcast transaction (txID) that was
// mined or landed at `at`, longer than r.Policy.ClientBroadcastMaxAge before
// r.Now (zero: config.DefaultVerify's), with reason transaction_too_old. A
// transaction stamped after r.Now (dev chains run ahead of the clock) is recent.
func CheckBroadcastAge(r *Request, txID string, at time.Time) error {
	maxAge := time.Duration(r.Policy.ClientBroadcastMaxAge)
	if maxAge <= 0 {
		maxAge = time.Duration(config.DefaultVerify().ClientBroadcastMaxAge)
	}
	now := r.Now
	if now.IsZero() {
		now = time.Now()
	}
	if age := now.Sub(at); age > maxAge {
		return h402.Errorf(h402.ReasonTransactionTooOld, "transaction %s was mined %s ago, longer than the %s a client-broadcast payment may be old", txID, age.Truncate(time.Second), maxAge)
	}
	return nil
}
