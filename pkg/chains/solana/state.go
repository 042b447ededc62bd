package solana

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/big"
	"strings"
	"time"

	solanago "github.com/gagliardetto/solana-go"
	"github.com/gagliardetto/solana-go/rpc"
	"github.com/gagliardetto/solana-go/rpc/jsonrpc"

	"github.com/h402/settlement/pkg/chains"
	"github.com/h402/settlement/pkg/config"
	"github.com/h402/settlement/pkg/failover"
	"github.com/h402/settlement/pkg/h402"
)

var _ chains.StateChecker = (*StateChecker)(nil)

// Pool is a network's RPC endpoints behind breakers.
type Pool = failover.Pool[*rpc.Client]

// Dial makes a client for every RPC endpoint of network, in failover order.
func Dial(network *config.Network, s failover.Settings) (*Pool, error) {
	if s.IsChainAnswer == nil {
		s.IsChainAnswer = IsChainAnswer
	}
	return failover.Dial(network.CAIP2, network.RPC, s, func(u string) (*rpc.Client, error) { return rpc.New(u), nil })
}

// IsChainAnswer reports errors that are the chain's answer (a JSON-RPC
// error object, "not found"), not the endpoint's failure.
func IsChainAnswer(err error) bool {
	var re *jsonrpc.RPCError
	return errors.As(err, &re) || errors.Is(err, rpc.ErrNotFound)
}

// StateOptions configure a StateChecker.
type StateOptions struct {
	// CacheTTL is how long balances and blockhash validity are reused. Default 2s.
	CacheTTL time.Duration
	// Commitment for reads and simulation. Default confirmed.
	Commitment rpc.CommitmentType
	// SkipSimulation skips the per-payment simulateTransaction (the
	// settler's preflight still catches a failing transaction).
	SkipSimulation bool
}

// StateChecker completes Solana verification with chain state.
type StateChecker struct {
	network   *config.Network
	pool      *Pool
	opts      StateOptions
	balances  *chains.Cache[*big.Int]
	blockhash *chains.Cache[bool]
}

// NewStateChecker returns a state checker for one network.
func NewStateChecker(network *config.Network, pool *Pool, o StateOptions) *StateChecker {
	if o.CacheTTL == 0 {
		o.CacheTTL = 2 * time.Second
	}
	if o.Commitment == "" {
		o.Commitment = rpc.CommitmentConfirmed
	}
	return &StateChecker{
		network:   network,
		pool:      pool,
		opts:      o,
		balances:  chains.NewCache[*big.Int](o.CacheTTL, 1<<16),
		blockhash: chains.NewCache[bool](o.CacheTTL, 1<<12),
	}
}

// Namespace returns solana.
func (*StateChecker) Namespace() h402.Namespace { return h402.NamespaceSolana }

// CheckState checks what the chain says about the payment.
func (s *StateChecker) CheckState(ctx context.Context, r *chains.Request, p *chains.Payment) (*chains.State, error) {
	switch pl := r.Payload.Payload.(type) {
	case *h402.SolanaSignTransactionPayload:
		return s.checkTransaction(ctx, r, p, pl)
	case *h402.SolanaSignAndSendPayload:
		return s.checkBroadcast(ctx, r, p, pl)
	default:
		return nil, h402.Errorf(h402.ReasonInvalidPayload, "payload is not a Solana payload")
	}
}

func (s *StateChecker) checkTransaction(ctx context.Context, r *chains.Request, p *chains.Payment, pl *h402.SolanaSignTransactionPayload) (*chains.State, error) {
	tx, err := solanago.TransactionFromBase64(pl.Transaction)
	if err != nil {
		return nil, h402.Wrap(h402.ReasonSolanaTransaction, err, "transaction does not decode")
	}
	bh := tx.Message.RecentBlockhash
	valid, err := s.blockhash.Get(ctx, bh.String(), func(ctx context.Context) (bool, error) {
		return failover.Do(ctx, s.pool, "isBlockhashValid", func(ctx context.Context, c *rpc.Client) (bool, error) {
			out, err := c.IsBlockhashValid(ctx, bh, s.opts.Commitment)
			if err != nil {
				return false, err
			}
			return out.Value, nil
		})
	})
	if err != nil {
		return nil, err
	}
	if !valid {
		return nil, h402.Errorf(h402.ReasonInvalidTransactionState, "the transaction's blockhash %s has expired; build the payment again", bh)
	}
	if !s.opts.SkipSimulation {
		// The fee-payer variant lacks our signature until settlement.
		sigVerify := len(tx.Message.AccountKeys) > 0 && !s.network.IsFeePayer(tx.Message.AccountKeys[0].String())
		res, err := failover.Do(ctx, s.pool, "simulateTransaction", func(ctx context.Context, c *rpc.Client) (*rpc.SimulateTransactionResult, error) {
			out, err := c.SimulateTransactionWithOpts(ctx, tx, &rpc.SimulateTransactionOpts{SigVerify: sigVerify, Commitment: s.opts.Commitment})
			if err != nil {
				return nil, err
			}
			if out == nil || out.Value == nil {
				return nil, errors.New("simulateTransaction returned no result")
			}
			return out.Value, nil
		})
		if err != nil {
			return nil, err
		}
		if res.Err != nil {
			return nil, simulationError(res)
		}
	}
	bal, at, err := s.sourceBalance(ctx, r, p, tx)
	if err != nil {
		return nil, err
	}
	return &chains.State{Balance: bal, BalanceAt: at}, nil
}

// simulationError turns a failed simulation into a reason.
func simulationError(res *rpc.SimulateTransactionResult) error {
	text := fmt.Sprint(res.Err)
	logs := strings.Join(res.Logs, "\n")
	switch {
	case strings.Contains(logs, "insufficient funds") || strings.Contains(text, "InsufficientFunds") || strings.Contains(text, "InsufficientFundsForRent"):
		return h402.Errorf(h402.ReasonInsufficientFunds, "the payer cannot cover this transfer (simulation: %s)", clip(text))
	case strings.Contains(text, "BlockhashNotFound"):
		return h402.Errorf(h402.ReasonInvalidTransactionState, "the transaction's blockhash is not known to the chain")
	case strings.Contains(text, "AlreadyProcessed"):
		return h402.Errorf(h402.ReasonPaymentAlreadyUsed, "this transaction was already processed")
	default:
		return h402.Errorf(h402.ReasonInvalidTransactionState, "the transaction fails in simulation: %s", clip(text))
	}
}

func clip(s string) string {
	if len(s) > 200 {
		return s[:200] + "…"
	}
	return s
}

// sourceBalance is the balance the payment is drawn from: the SPL source
// token account, or the payer's lamports, through the cache (a value loaded
// no earlier than r.BalanceNotBefore), and when its load began.
func (s *StateChecker) sourceBalance(ctx context.Context, r *chains.Request, p *chains.Payment, tx *solanago.Transaction) (*big.Int, time.Time, error) {
	if r.Token.Kind == config.KindNative {
		payer, err := solanago.PublicKeyFromBase58(p.Payer)
		if err != nil {
			return nil, time.Time{}, h402.Wrap(h402.ReasonInvalidPayload, err, "payer is not a public key")
		}
		return s.balances.GetAt(ctx, "sol."+p.Payer, r.BalanceNotBefore, func(ctx context.Context) (*big.Int, error) {
			return failover.Do(ctx, s.pool, "getBalance", func(ctx context.Context, c *rpc.Client) (*big.Int, error) {
				out, err := c.GetBalance(ctx, payer, s.opts.Commitment)
				if err != nil {
					return nil, err
				}
				return new(big.Int).SetUint64(out.Value), nil
			})
		})
	}
	source, ok := transferSource(tx)
	if !ok {
		return nil, time.Time{}, h402.Errorf(h402.ReasonSolanaInstructions, "the transaction has no TransferChecked instruction")
	}
	return s.balances.GetAt(ctx, "spl."+source.String(), r.BalanceNotBefore, func(ctx context.Context) (*big.Int, error) {
		return failover.Do(ctx, s.pool, "getTokenAccountBalance", func(ctx context.Context, c *rpc.Client) (*big.Int, error) {
			out, err := c.GetTokenAccountBalance(ctx, source, s.opts.Commitment)
			if err != nil {
				return nil, err
			}
			if out == nil || out.Value == nil {
				return nil, errors.New("getTokenAccountBalance returned no value")
			}
			v, ok := new(big.Int).SetString(out.Value.Amount, 10)
			if !ok {
				return nil, fmt.Errorf("getTokenAccountBalance amount %q is not an integer", out.Value.Amount)
			}
			return v, nil
		})
	})
}

// transferSource finds the source account of the TransferChecked instruction.
func transferSource(tx *solanago.Transaction) (solanago.PublicKey, bool) {
	keys := tx.Message.AccountKeys
	for _, ix := range tx.Message.Instructions {
		if int(ix.ProgramIDIndex) >= len(keys) || len(ix.Data) == 0 || ix.Data[0] != 12 || len(ix.Accounts) < 1 {
			continue
		}
		prog := keys[ix.ProgramIDIndex]
		if !prog.Equals(solanago.TokenProgramID) && !prog.Equals(solanago.Token2022ProgramID) {
			continue
		}
		if int(ix.Accounts[0]) < len(keys) {
			return keys[ix.Accounts[0]], true
		}
	}
	return solanago.PublicKey{}, false
}

// Run refreshes, on each new slot, the cached balances of the payers seen in
// the last minute, so their next payments need no balance RPC. It returns
// when ctx ends.
func (s *StateChecker) Run(ctx context.Context) {
	chains.FollowHeads(ctx, time.Duration(s.network.Finality.PollInterval), func(ctx context.Context) (uint64, error) {
		return failover.Do(ctx, s.pool, "getSlot", func(ctx context.Context, c *rpc.Client) (uint64, error) {
			return c.GetSlot(ctx, s.opts.Commitment)
		})
	}, func(ctx context.Context, _ uint64) {
		s.balances.Refresh(ctx, time.Minute, 16)
	})
}

// slotTime is a Solana slot's nominal duration, for a transaction's age
// when the node gives no blockTime.
const slotTime = 400 * time.Millisecond

func (s *StateChecker) checkBroadcast(ctx context.Context, r *chains.Request, p *chains.Payment, pl *h402.SolanaSignAndSendPayload) (*chains.State, error) {
	bound, err := parseBinding(pl.SignedMessage)
	if err != nil {
		return nil, err
	}
	sig, err := solanago.SignatureFromBase58(p.TxHash)
	if err != nil {
		return nil, h402.Wrap(h402.ReasonSolanaSignature, err, "signature is not base58")
	}
	v0 := uint64(0)
	res, err := failover.Do(ctx, s.pool, "getTransaction", func(ctx context.Context, c *rpc.Client) (*rpc.GetTransactionResult, error) {
		return c.GetTransaction(ctx, sig, &rpc.GetTransactionOpts{Encoding: solanago.EncodingBase64, Commitment: s.opts.Commitment, MaxSupportedTransactionVersion: &v0})
	})
	if errors.Is(err, rpc.ErrNotFound) || err == nil && (res == nil || res.Meta == nil) {
		return nil, h402.Errorf(h402.ReasonInvalidTransactionState, "transaction %s is not found at %s commitment", p.TxHash, s.opts.Commitment)
	}
	if err != nil {
		return nil, err
	}
	if res.Meta.Err != nil {
		return nil, h402.Errorf(h402.ReasonInvalidTransactionState, "transaction %s failed on chain: %v", p.TxHash, res.Meta.Err)
	}
	if err := s.checkAge(ctx, r, p.TxHash, res); err != nil {
		return nil, err
	}
	tx, err := res.Transaction.GetTransaction()
	if err != nil {
		return nil, h402.Wrap(h402.ReasonSolanaTransaction, err, "transaction does not decode")
	}
	if len(tx.Signatures) == 0 || tx.Signatures[0] != sig {
		return nil, h402.Errorf(h402.ReasonSolanaTransaction, "the node returned a transaction whose first signature is not %s", p.TxHash)
	}
	payer, err := boundSigner(r, tx, sig, bound)
	if err != nil {
		return nil, err
	}
	p.Payer = payer.String()
	got := received(r, res.Meta, tx.Message.AccountKeys)
	if got.Cmp(r.Amount) != 0 {
		return nil, h402.Errorf(h402.ReasonSolanaValue, "transaction %s pays %s %s to %s, want %s", p.TxHash, got, r.Token.Symbol, p.PayTo, r.Amount)
	}
	return &chains.State{}, nil
}

// received is what payTo gained in the required mint (or lamports).
func received(r *chains.Request, meta *rpc.TransactionMeta, keys solanago.PublicKeySlice) *big.Int {
	payTo := r.Requirements.PayToAddress
	if r.Token.Kind == config.KindNative {
		for i, k := range keys {
			if k.String() == payTo && i < len(meta.PreBalances) && i < len(meta.PostBalances) {
				return new(big.Int).Sub(new(big.Int).SetUint64(meta.PostBalances[i]), new(big.Int).SetUint64(meta.PreBalances[i]))
			}
		}
		return new(big.Int)
	}
	sum := func(list []rpc.TokenBalance) *big.Int {
		total := new(big.Int)
		for _, b := range list {
			if b.Owner == nil || b.Owner.String() != payTo || b.Mint.String() != r.Token.Address || b.UiTokenAmount == nil {
				continue
			}
			if v, ok := new(big.Int).SetString(b.UiTokenAmount.Amount, 10); ok {
				total.Add(total, v)
			}
		}
		return total
	}
	return new(big.Int).Sub(sum(meta.PostTokenBalances), sum(meta.PreTokenBalances))
}

// checkAge refuses a transaction that landed longer ago than the policy
// allows: by its blockTime, or by its slot distance from the current slot
// when the node gives no blockTime.
func (s *StateChecker) checkAge(ctx context.Context, r *chains.Request, txSig string, res *rpc.GetTransactionResult) error {
	if res.BlockTime != nil {
		return chains.CheckBroadcastAge(r, txSig, res.BlockTime.Time())
	}
	slot, err := failover.Do(ctx, s.pool, "getSlot", func(ctx context.Context, c *rpc.Client) (uint64, error) {
		return c.GetSlot(ctx, s.opts.Commitment)
	})
	if err != nil {
		return err
	}
	if slot <= res.Slot {
		return nil
	}
	slots := min(slot-res.Slot, uint64(math.MaxInt64/slotTime)) // an absurd answer must not wrap around
	now := r.Now
	if now.IsZero() {
		now = time.Now()
	}
	return chains.CheckBroadcastAge(r, txSig, now.Add(-time.Duration(slots)*slotTime))
}
