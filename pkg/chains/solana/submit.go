package solana

import (
	"context"
	"errors"
	"fmt"
	"strings"

	solanago "github.com/gagliardetto/solana-go"
	"github.com/gagliardetto/solana-go/rpc"

	"github.com/h402/settlement/pkg/chains"
	"github.com/h402/settlement/pkg/config"
	"github.com/h402/settlement/pkg/events"
	"github.com/h402/settlement/pkg/failover"
	"github.com/h402/settlement/pkg/h402"
)

var _ chains.Submitter = (*Submitter)(nil)

// SubmitOptions configure a Submitter.
type SubmitOptions struct {
	// FeePayers are the private keys of the network's fee payers
	// (config.Network.FeePayers), used to co-sign fee-payer-variant payments.
	// Every configured fee payer needs its key; no other key is accepted.
	FeePayers []solanago.PrivateKey
	// Parallel bounds the payments of a batch in flight at once. Default 16.
	Parallel int
	// PreflightCommitment is the bank sendTransaction simulates against.
	// Default processed: the newest bank knows every blockhash a client
	// could have used.
	PreflightCommitment rpc.CommitmentType
	// Policy holds the compute-unit caps (MaxComputeUnitLimit,
	// MaxComputeUnitPrice) re-checked before co-signing; zero fields take
	// config.DefaultVerify's. Pass the deployment's verify section, the one
	// ingest applies.
	Policy config.Verify
}

// Submitter broadcasts signTransaction payments: a client-signed
// transaction as is, a fee-payer-variant one after adding our fee payer's
// signature. It records each transaction in Claims before sending it, and
// on redelivery continues from the recorded one.
type Submitter struct {
	network *config.Network
	pool    *Pool
	keys    map[solanago.PublicKey]solanago.PrivateKey
	opts    SubmitOptions
}

// NewSubmitter returns the submitter of one Solana network.
func NewSubmitter(network *config.Network, pool *Pool, o SubmitOptions) (*Submitter, error) {
	if network == nil || network.Namespace != h402.NamespaceSolana {
		return nil, errors.New("solana submitter: a Solana network is required")
	}
	if pool == nil {
		return nil, errors.New("solana submitter: an RPC pool is required")
	}
	if o.Parallel == 0 {
		o.Parallel = 16
	}
	if o.Parallel < 0 {
		return nil, fmt.Errorf("solana submitter: Parallel must be positive (got %d)", o.Parallel)
	}
	if o.PreflightCommitment == "" {
		o.PreflightCommitment = rpc.CommitmentProcessed
	}
	s := &Submitter{network: network, pool: pool, keys: map[solanago.PublicKey]solanago.PrivateKey{}, opts: o}
	for i, k := range o.FeePayers {
		if err := k.Validate(); err != nil {
			return nil, fmt.Errorf("solana submitter: fee payer key %d is not an ed25519 private key", i)
		}
		pub := k.PublicKey()
		if !network.IsFeePayer(pub.String()) {
			return nil, fmt.Errorf("solana submitter: fee payer key %d (public key %s) is not in networks[%s].feePayers", i, pub, network.NetworkID)
		}
		s.keys[pub] = k
	}
	var missing []string
	for _, pub := range network.FeePayers {
		k, err := solanago.PublicKeyFromBase58(pub)
		if err != nil {
			return nil, fmt.Errorf("solana submitter: fee payer %q is not a public key", pub)
		}
		if _, ok := s.keys[k]; !ok {
			missing = append(missing, pub)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("solana submitter: no private key for fee payer(s) %s of network %s", strings.Join(missing, ", "), network.NetworkID)
	}
	return s, nil
}

// Namespace returns solana.
func (*Submitter) Namespace() h402.Namespace { return h402.NamespaceSolana }

// Submit settles each payment of the batch independently, up to Parallel at
// once, and returns one Result per payment in order. It never fails as a
// whole.
func (s *Submitter) Submit(ctx context.Context, batch []*events.PaymentAccepted, claims chains.Claims) ([]chains.Result, error) {
	out := make([]chains.Result, len(batch))
	sem := make(chan struct{}, s.opts.Parallel)
	done := make(chan struct{}, len(batch))
	for i, e := range batch {
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; done <- struct{}{} }()
			tx, err := s.submit(ctx, e, claims)
			out[i] = chains.Result{ID: e.ID, Tx: tx, Err: err}
		}()
	}
	for range batch {
		<-done
	}
	return out, nil
}

// submit settles one payment: continue from its claim if there is one,
// else prepare, record, then broadcast.
func (s *Submitter) submit(ctx context.Context, e *events.PaymentAccepted, claims chains.Claims) (*chains.Tx, error) {
	held, err := claims.Lookup(ctx, e.ID)
	if err != nil {
		return nil, fmt.Errorf("settle %s: %w", e.ID, err)
	}
	if held != nil {
		return s.resume(ctx, e, held)
	}
	tx, err := s.prepare(e)
	if err != nil {
		return nil, err
	}
	if err := claims.Record(ctx, []string{e.ID}, *tx); err != nil {
		return nil, fmt.Errorf("settle %s: record claim before broadcast: %w", e.ID, err)
	}
	return s.broadcast(ctx, e, tx)
}

// prepare builds the wire transaction to broadcast: co-signed when the
// fee payer is ours, else the client's as is.
func (s *Submitter) prepare(e *events.PaymentAccepted) (*chains.Tx, error) {
	text := e.Transaction
	if text == "" || e.Type != h402.TypeSignTransaction {
		return nil, h402.Errorf(h402.ReasonSolanaTransaction, "payment %s carries no transaction to broadcast", e.ID)
	}
	w, err := decodeTransactionText(text)
	if err != nil {
		return nil, err
	}
	if len(w.tx.Message.AccountKeys) == 0 || len(w.tx.Signatures) == 0 {
		return nil, h402.Errorf(h402.ReasonSolanaTransaction, "transaction has no fee payer")
	}
	feePayer := w.tx.Message.AccountKeys[0]
	if key, ours := s.keys[feePayer]; ours {
		if err := s.checkBeforeCoSign(e, w); err != nil {
			return nil, err
		}
		wire, sig, err := CoSign(text, key)
		if err != nil {
			var herr *h402.Error
			if errors.As(err, &herr) {
				return nil, err
			}
			return nil, h402.Wrap(h402.ReasonSolanaFeePayer, err, "the transaction cannot be co-signed by our fee payer")
		}
		return &chains.Tx{Hash: sig.String(), Signer: feePayer.String(), Raw: wire}, nil
	}
	if s.network.IsFeePayer(feePayer.String()) {
		// Unreachable: NewSubmitter requires every configured key.
		return nil, fmt.Errorf("settle %s: no key for fee payer %s", e.ID, feePayer)
	}
	if w.tx.Signatures[0].IsZero() {
		return nil, h402.Errorf(h402.ReasonSolanaSignature, "the fee payer %s has not signed and is not one of the facilitator's fee payers", feePayer)
	}
	wire, err := w.tx.MarshalBinary()
	if err != nil {
		return nil, h402.Wrap(h402.ReasonSolanaTransaction, err, "transaction does not encode")
	}
	return &chains.Tx{Hash: w.tx.Signatures[0].String(), Raw: wire}, nil
}

// broadcast sends tx (preflight on) and maps the answer.
func (s *Submitter) broadcast(ctx context.Context, e *events.PaymentAccepted, tx *chains.Tx) (*chains.Tx, error) {
	_, err := failover.Do(ctx, s.pool, "sendTransaction", func(ctx context.Context, c *rpc.Client) (solanago.Signature, error) {
		return c.SendRawTransactionWithOpts(ctx, tx.Raw, rpc.TransactionOpts{PreflightCommitment: s.opts.PreflightCommitment})
	})
	if err == nil {
		return tx, nil
	}
	switch kind, perm := classifySend(err, tx.Signer != ""); kind {
	case sendLanded, sendBlockhashNotFound:
		// Already processed, or maybe landed before its blockhash expired:
		// the chain's record of the signature decides.
		return s.settled(ctx, e, tx, kind == sendBlockhashNotFound)
	case sendPermanent:
		return nil, perm
	default:
		return nil, fmt.Errorf("settle %s: broadcast %s: %w", e.ID, tx.Hash, err)
	}
}

// resume continues from a recorded transaction: landed → done; unknown with
// its blockhash still valid → send the recorded bytes again; unknown with
// the blockhash expired → it can never land.
func (s *Submitter) resume(ctx context.Context, e *events.PaymentAccepted, tx *chains.Tx) (*chains.Tx, error) {
	if len(tx.Raw) == 0 {
		return nil, fmt.Errorf("settle %s: claim %s has no transaction bytes to send again", e.ID, tx.Hash)
	}
	w, err := decodeWire(tx.Raw)
	if err != nil {
		return nil, fmt.Errorf("settle %s: claimed transaction %s does not decode: %w", e.ID, tx.Hash, err)
	}
	// Ask for the blockhash before the status: if it was expired before the
	// status said "unknown", the transaction can never land.
	valid, err := s.blockhashValid(ctx, w.tx.Message.RecentBlockhash)
	if err != nil {
		return nil, fmt.Errorf("settle %s: %w", e.ID, err)
	}
	landed, err := s.status(ctx, e, tx)
	if landed || err != nil {
		return txOrNil(landed, tx), err
	}
	if !valid {
		return nil, h402.Errorf(h402.ReasonInvalidTransactionState, "blockhash expired before the transaction landed")
	}
	return s.broadcast(ctx, e, tx)
}

// settled asks the chain whether tx landed after a send answered
// AlreadyProcessed or BlockhashNotFound.
func (s *Submitter) settled(ctx context.Context, e *events.PaymentAccepted, tx *chains.Tx, blockhashNotFound bool) (*chains.Tx, error) {
	landed, err := s.status(ctx, e, tx)
	if landed || err != nil {
		return txOrNil(landed, tx), err
	}
	if !blockhashNotFound {
		return nil, fmt.Errorf("settle %s: %s was reported already processed but has no status yet", e.ID, tx.Hash)
	}
	w, err := decodeWire(tx.Raw)
	if err != nil {
		return nil, fmt.Errorf("settle %s: %w", e.ID, err)
	}
	valid, err := s.blockhashValid(ctx, w.tx.Message.RecentBlockhash)
	if err != nil {
		return nil, fmt.Errorf("settle %s: %w", e.ID, err)
	}
	if valid {
		// The endpoint that refused it lags behind the chain.
		return nil, fmt.Errorf("settle %s: an RPC node does not know blockhash %s yet", e.ID, w.tx.Message.RecentBlockhash)
	}
	return nil, h402.Errorf(h402.ReasonInvalidTransactionState, "blockhash expired before the transaction landed")
}

func txOrNil(ok bool, tx *chains.Tx) *chains.Tx {
	if ok {
		return tx
	}
	return nil
}

// status reports whether tx landed successfully; a landed transaction that
// failed is an *h402.Error (the payment fails with it).
func (s *Submitter) status(ctx context.Context, e *events.PaymentAccepted, tx *chains.Tx) (bool, error) {
	sig, err := solanago.SignatureFromBase58(tx.Hash)
	if err != nil {
		return false, fmt.Errorf("settle %s: claimed hash %q is not a signature: %w", e.ID, tx.Hash, err)
	}
	st, err := failover.Do(ctx, s.pool, "getSignatureStatuses", func(ctx context.Context, c *rpc.Client) (*rpc.SignatureStatusesResult, error) {
		out, err := c.GetSignatureStatuses(ctx, true, sig)
		if err != nil {
			return nil, err
		}
		if out == nil || len(out.Value) != 1 {
			return nil, errors.New("getSignatureStatuses answered no value")
		}
		return out.Value[0], nil
	})
	if err != nil {
		return false, fmt.Errorf("settle %s: status of %s: %w", e.ID, tx.Hash, err)
	}
	if st == nil {
		return false, nil
	}
	if st.Err != nil {
		return false, landedError(tx, st.Err)
	}
	return true, nil
}

func (s *Submitter) blockhashValid(ctx context.Context, bh solanago.Hash) (bool, error) {
	return failover.Do(ctx, s.pool, "isBlockhashValid", func(ctx context.Context, c *rpc.Client) (bool, error) {
		out, err := c.IsBlockhashValid(ctx, bh, rpc.CommitmentProcessed)
		if err != nil {
			return false, err
		}
		return out.Value, nil
	})
}
