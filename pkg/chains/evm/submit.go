package evm

// The settler's EVM side. A Submitter signs with one facilitator key (held
// under a lease, see pkg/lease) and puts accepted payments on chain:
//   - authorizations are simulated together through Multicall3.aggregate3
//     (allowFailure) and the ones that would succeed go out in ONE
//     transaction per token and chunk;
//   - client-signed transactions are broadcast as they are, in parallel;
//   - every transaction is recorded in Claims before it is broadcast, and a
//     payment that arrives with a recorded transaction continues from what
//     the chain says about it (mined, pending, dropped, nonce used);
//   - ReplaceStuck replaces a transaction that sat unmined for too many
//     blocks with one of the same nonce and higher fees.

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"strings"
	"sync"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient"

	"github.com/h402/settlement/pkg/chains"
	"github.com/h402/settlement/pkg/config"
	"github.com/h402/settlement/pkg/contracts"
	"github.com/h402/settlement/pkg/events"
	"github.com/h402/settlement/pkg/failover"
	"github.com/h402/settlement/pkg/h402"
)

var _ chains.Submitter = (*Submitter)(nil)

// CanonicalMulticall3 is Multicall3's address on most EVM chains.
var CanonicalMulticall3 = common.HexToAddress("0xcA11bde05977b3631167028862bE2a173976CA11")

// Submitter defaults.
const (
	DefaultGasMarginPermille = 250 // estimate + 25%
	DefaultMaxGas            = 15_000_000
	DefaultMaxPerTx          = 150
	DefaultReplaceAfter      = 3
	DefaultLogLookback       = 10_000
	DefaultBroadcasts        = 16
)

// ErrKeyLost is returned when the signing key's lease is gone: the
// Submitter must not sign any more. It is retryable (another replica, or
// this one with a new lease, carries on).
var ErrKeyLost error = chains.RetryableError("signing key lease lost")

// SubmitterOptions tune a Submitter. The zero value works with the defaults
// named on each field, except Multicall on chains where Multicall3 is not at
// CanonicalMulticall3.
type SubmitterOptions struct {
	// Multicall is the Multicall3 contract that batches authorizations
	// (default CanonicalMulticall3).
	Multicall common.Address
	// Fees prices transactions and replacements.
	Fees FeePolicy
	// GasMarginPermille is added to a gas estimate, in thousandths
	// (default DefaultGasMarginPermille).
	GasMarginPermille int64
	// MaxGas bounds one transaction's gas limit (default DefaultMaxGas;
	// Osaka caps a transaction at 2^24).
	MaxGas uint64
	// MaxPerTx bounds the authorizations in one transaction (default
	// DefaultMaxPerTx); a larger batch goes out in several.
	MaxPerTx int
	// ReplaceAfter is how many blocks a transaction may stay unmined before
	// ReplaceStuck replaces it (default DefaultReplaceAfter).
	ReplaceAfter uint64
	// LogLookback is how many blocks back a recovery looks for the
	// AuthorizationUsed event of an authorization used by an unknown
	// transaction (default DefaultLogLookback).
	LogLookback uint64
	// Metrics, when set, receives broadcasts, replacements and gas per
	// payment (create it once per process with NewSubmitMetrics).
	Metrics *SubmitMetrics
	// Broadcasts bounds parallel broadcasts of client-signed transactions
	// (default DefaultBroadcasts).
	Broadcasts int
	// CanSign, when set, is asked before every signature; an error (the
	// key's lease is lost) stops the Submitter from signing. Wire it to
	// lease.Lease.Check.
	CanSign func() error
	// BeforeBroadcast, when set, runs after a transaction is recorded and
	// before it is broadcast; an error returns without broadcasting. It is a
	// test hook that simulates a crash at that point.
	BeforeBroadcast func(ctx context.Context, tx chains.Tx) error
	// Logger receives one line per transaction (default: discarded). Keys
	// are never logged.
	Logger *slog.Logger
}

func (o SubmitterOptions) withDefaults() SubmitterOptions {
	if o.Multicall == (common.Address{}) {
		o.Multicall = CanonicalMulticall3
	}
	o.Fees = o.Fees.withDefaults()
	if o.GasMarginPermille <= 0 {
		o.GasMarginPermille = DefaultGasMarginPermille
	}
	if o.MaxGas == 0 {
		o.MaxGas = DefaultMaxGas
	}
	if o.MaxPerTx <= 0 {
		o.MaxPerTx = DefaultMaxPerTx
	}
	if o.ReplaceAfter == 0 {
		o.ReplaceAfter = DefaultReplaceAfter
	}
	if o.LogLookback == 0 {
		o.LogLookback = DefaultLogLookback
	}
	if o.Broadcasts <= 0 {
		o.Broadcasts = DefaultBroadcasts
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// Submitter settles accepted payments of one EVM network with one
// facilitator key. It is safe for concurrent use; transactions of its key
// are signed, recorded and broadcast one at a time.
type Submitter struct {
	network *config.Network
	chainID *big.Int
	pool    *Pool
	key     *ecdsa.PrivateKey
	from    common.Address
	signer  types.Signer
	opts    SubmitterOptions
	nonces  *NonceManager
	token   *contracts.TestUSDC // the EIP-3009 ABI (FiatToken's)
	mc      *contracts.Multicall3

	sendMu  sync.Mutex // nonce → sign → record → broadcast, one at a time
	tracker tracker
}

// NewSubmitter returns a Submitter for network, reaching the chain through
// pool and signing with key.
func NewSubmitter(network *config.Network, pool *Pool, key *ecdsa.PrivateKey, o SubmitterOptions) (*Submitter, error) {
	if network == nil || pool == nil || key == nil {
		return nil, errors.New("new submitter: network, pool and key are required")
	}
	if network.Namespace != h402.NamespaceEVM {
		return nil, fmt.Errorf("new submitter: network %s/%s is not evm", network.Namespace, network.NetworkID)
	}
	chainID, err := parseChainID(network.NetworkID)
	if err != nil {
		return nil, fmt.Errorf("new submitter: %w", err)
	}
	s := &Submitter{
		network: network,
		chainID: chainID,
		pool:    pool,
		key:     key,
		from:    crypto.PubkeyToAddress(key.PublicKey),
		signer:  types.LatestSignerForChainID(chainID),
		opts:    o.withDefaults(),
		token:   contracts.NewTestUSDC(),
		mc:      contracts.NewMulticall3(),
	}
	s.nonces = NewNonceManager(func(ctx context.Context) (uint64, error) {
		return failover.Do(ctx, pool, "eth_getTransactionCount", func(ctx context.Context, c *ethclient.Client) (uint64, error) {
			return c.PendingNonceAt(ctx, s.from)
		})
	})
	s.tracker.byNonce = map[uint64]*tracked{}
	return s, nil
}

// Namespace returns evm.
func (*Submitter) Namespace() h402.Namespace { return h402.NamespaceEVM }

// Address is the facilitator address the Submitter signs for.
func (s *Submitter) Address() common.Address { return s.from }

// Nonces is the Submitter's nonce manager.
func (s *Submitter) Nonces() *NonceManager { return s.nonces }

// Submit settles a batch of accepted payments of this network. It returns one
// Result per payment, in order: Tx set when the payment is carried by a
// broadcast (or earlier recorded) transaction; Err an *h402.Error when the
// payment can never settle; any other Err is retryable (RPC unavailable, a
// claim not stored, a lost lease). The error is non-nil only when the whole
// batch stopped early (ctx done, key lease lost); the Results say the same.
func (s *Submitter) Submit(ctx context.Context, batch []*events.PaymentAccepted, claims chains.Claims) ([]chains.Result, error) {
	results := make([]chains.Result, len(batch))
	for i, e := range batch {
		if e != nil {
			results[i].ID = e.ID
		}
	}
	if claims == nil {
		return results, fillErr(results, errors.New("submit: no claims store"))
	}
	if err := s.canSign(); err != nil {
		return results, fillErr(results, err)
	}

	var (
		first = map[string]int{} // payment id → index of its first occurrence
		auths []int
		raws  []int
		dead  = map[int][]string{} // batch index → hashes of its claim that cannot land
		rc    = newRecovery(s)
	)
	for i, e := range batch {
		if e == nil {
			results[i].Err = h402.Errorf(h402.ReasonInvalidPayload, "batch item %d is empty", i)
			continue
		}
		if _, dup := first[e.ID]; dup {
			continue
		}
		first[e.ID] = i
		rec, err := claims.Lookup(ctx, e.ID)
		if err != nil {
			results[i].Err = fmt.Errorf("submit %s: look up claim: %w", e.ID, err)
			continue
		}
		if rec != nil {
			res, fresh := rc.resume(ctx, e, rec, claims)
			if !fresh {
				res.ID = e.ID
				results[i] = res
				continue
			}
			// The recorded transaction provably cannot land (mined
			// without paying, or its nonce went to another one): the new
			// claim supersedes it.
			dead[i] = hashesOf(rec)
		}
		switch e.Type {
		case h402.TypeAuthorization:
			auths = append(auths, i)
		case h402.TypeSignedTransaction:
			raws = append(raws, i)
		default:
			results[i].Err = h402.Errorf(h402.ReasonUnsupportedPayloadType, "payload type %q is not settled by the EVM submitter", e.Type)
		}
	}

	var wg sync.WaitGroup
	wg.Go(func() { s.submitRaw(ctx, batch, raws, results, claims) })
	s.submitAuthorizations(ctx, batch, auths, dead, results, claims)
	wg.Wait()

	for i, e := range batch {
		if e == nil {
			continue
		}
		if j := first[e.ID]; j != i {
			results[i] = results[j]
		}
	}
	if err := ctx.Err(); err != nil {
		return results, err
	}
	return results, nil
}

// canSign reports whether the key may still be used.
func (s *Submitter) canSign() error {
	if s.opts.CanSign == nil {
		return nil
	}
	if err := s.opts.CanSign(); err != nil {
		return fmt.Errorf("%w: %w", ErrKeyLost, err)
	}
	return nil
}

// fillErr sets err on every result without one and returns err.
func fillErr(results []chains.Result, err error) error {
	for i := range results {
		if results[i].Err == nil && results[i].Tx == nil {
			results[i].Err = err
		}
	}
	return err
}

// signerHex is the facilitator address as recorded in a chains.Tx.
func (s *Submitter) signerHex() string { return addrHex(s.from) }

// isOurs reports whether a recorded transaction was signed by this key.
func (s *Submitter) isOurs(rec *chains.Tx) bool { return strings.EqualFold(rec.Signer, s.signerHex()) }

// record builds the chains.Tx of a signed transaction.
func (s *Submitter) record(tx *types.Transaction, signer string, replaces []string) (chains.Tx, error) {
	raw, err := tx.MarshalBinary()
	if err != nil {
		return chains.Tx{}, fmt.Errorf("encode transaction: %w", err)
	}
	return chains.Tx{Hash: lowerHex(tx.Hash().Bytes()), Signer: signer, Nonce: tx.Nonce(), Raw: raw, Replaces: replaces}, nil
}
