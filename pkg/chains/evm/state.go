package evm

import (
	"context"
	"errors"
	"math"
	"math/big"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/ethereum/go-ethereum/rpc"

	"github.com/h402/settlement/pkg/chains"
	"github.com/h402/settlement/pkg/config"
	"github.com/h402/settlement/pkg/failover"
	"github.com/h402/settlement/pkg/h402"
)

var _ chains.StateChecker = (*StateChecker)(nil)

var (
	selBalanceOf          = crypto.Keccak256([]byte("balanceOf(address)"))[:4]
	selAuthorizationState = crypto.Keccak256([]byte("authorizationState(address,bytes32)"))[:4]
	topicTransfer         = common.BytesToHash(crypto.Keccak256([]byte("Transfer(address,address,uint256)")))
)

// Pool is a network's RPC endpoints behind breakers.
type Pool = failover.Pool[*ethclient.Client]

// Dial connects to every RPC endpoint of network, in failover order.
func Dial(ctx context.Context, network *config.Network, s failover.Settings) (*Pool, error) {
	if s.IsChainAnswer == nil {
		s.IsChainAnswer = IsChainAnswer
	}
	return failover.Dial(network.CAIP2, network.RPC, s, func(u string) (*ethclient.Client, error) {
		c, err := rpc.DialContext(ctx, u)
		if err != nil {
			return nil, err
		}
		return ethclient.NewClient(c), nil
	})
}

// IsChainAnswer reports errors that are the chain's answer (a JSON-RPC
// application error such as a revert, or "not found"), not the endpoint's failure.
func IsChainAnswer(err error) bool {
	var re rpc.Error
	return errors.As(err, &re) || errors.Is(err, ethereum.NotFound)
}

// StateOptions configure a StateChecker.
type StateOptions struct {
	// CacheTTL is how long balances are reused. Default 2s. Nonces are never
	// cached: a signedTransaction's nonce is checked against fresh reads.
	CacheTTL time.Duration
	// SkipAuthorizationState skips the per-payment authorizationState call
	// (the settler's simulation still catches a used nonce, failing the
	// payment later instead of refusing it now). Default false: checked.
	SkipAuthorizationState bool
	// Multicall, when set, is a Multicall3 contract on the network: concurrent
	// authorizationState checks are then coalesced into one aggregate3
	// eth_call per BatchWait (at most BatchSize checks).
	Multicall common.Address
	BatchSize int           // default 128
	BatchWait time.Duration // default 1ms
}

// StateChecker completes EVM verification with chain state.
type StateChecker struct {
	network  *config.Network
	pool     *Pool
	opts     StateOptions
	balances *chains.Cache[*big.Int]
	batcher  *authBatcher // nil: one eth_call per check
}

var errNotEIP3009 = h402.Errorf(h402.ReasonTokenNotSupported, "the token does not answer authorizationState: not an EIP-3009 token")

// NewStateChecker returns a state checker for one network.
func NewStateChecker(network *config.Network, pool *Pool, o StateOptions) *StateChecker {
	if o.CacheTTL == 0 {
		o.CacheTTL = 2 * time.Second
	}
	s := &StateChecker{
		network:  network,
		pool:     pool,
		opts:     o,
		balances: chains.NewCache[*big.Int](o.CacheTTL, 1<<16),
	}
	if o.Multicall != (common.Address{}) {
		if o.BatchSize <= 0 {
			o.BatchSize = 128
		}
		if o.BatchWait <= 0 {
			o.BatchWait = time.Millisecond
		}
		s.batcher = newAuthBatcher(pool, o.Multicall, o.BatchSize, o.BatchWait)
	}
	return s
}

// Namespace returns evm.
func (*StateChecker) Namespace() h402.Namespace { return h402.NamespaceEVM }

// CheckState checks what the chain says about the payment.
func (s *StateChecker) CheckState(ctx context.Context, r *chains.Request, p *chains.Payment) (*chains.State, error) {
	switch p.Type {
	case h402.TypeAuthorization:
		return s.checkAuthorization(ctx, r, p)
	case h402.TypeSignedTransaction:
		pl, ok := r.Payload.Payload.(*h402.EVMSignedTransactionPayload)
		if !ok {
			return nil, h402.Errorf(h402.ReasonInvalidPayload, "payload is not an EVM signedTransaction")
		}
		return s.checkSignedTransaction(ctx, r, p, pl)
	case h402.TypeSignAndSendTransaction:
		return s.checkBroadcast(ctx, r, p)
	default:
		return nil, h402.Errorf(h402.ReasonUnsupportedPayloadType, "payload type %q has no EVM state check", p.Type)
	}
}

func (s *StateChecker) checkAuthorization(ctx context.Context, r *chains.Request, p *chains.Payment) (*chains.State, error) {
	token, from := common.HexToAddress(p.Token), common.HexToAddress(p.Payer)
	if !s.opts.SkipAuthorizationState {
		nonce, err := hexutil.Decode(p.Nonce)
		if err != nil || len(nonce) != 32 {
			return nil, h402.Errorf(h402.ReasonInvalidPayload, "authorization nonce %q is not 32 bytes of hex", p.Nonce)
		}
		data := make([]byte, 0, 68)
		data = append(data, selAuthorizationState...)
		data = append(data, common.LeftPadBytes(from.Bytes(), 32)...)
		data = append(data, nonce...)
		used, err := s.authorizationUsed(ctx, token, data)
		if err != nil {
			return nil, err
		}
		if used {
			return nil, h402.Errorf(h402.ReasonNonceAlreadyUsed, "the authorization's nonce was already used or canceled on chain")
		}
	}
	bal, at, err := s.tokenBalance(ctx, token, from, r.BalanceNotBefore)
	if err != nil {
		return nil, err
	}
	return &chains.State{Balance: bal, BalanceAt: at}, nil
}

func (s *StateChecker) checkSignedTransaction(ctx context.Context, r *chains.Request, p *chains.Payment, pl *h402.EVMSignedTransactionPayload) (*chains.State, error) {
	raw, err := hexutil.Decode(pl.SignedTransaction)
	if err != nil {
		return nil, h402.Wrap(h402.ReasonEVMTransaction, err, "signedTransaction is not hex")
	}
	tx := new(types.Transaction)
	if err := tx.UnmarshalBinary(raw); err != nil {
		return nil, h402.Wrap(h402.ReasonEVMTransaction, err, "signedTransaction does not decode")
	}
	sender := common.HexToAddress(p.Payer)
	mined, err := s.checkNonce(ctx, r, tx, sender)
	if err != nil {
		return nil, err
	}
	if err := s.checkFees(ctx, tx); err != nil {
		return nil, err
	}
	gas := new(big.Int).Mul(new(big.Int).SetUint64(tx.Gas()), tx.GasFeeCap())
	native, nativeAt, err := s.nativeBalance(ctx, sender, r.BalanceNotBefore)
	if err != nil {
		return nil, err
	}
	if r.Token.Kind == config.KindNative {
		// The sender must keep value + gas for this transaction on top of
		// what its other pending payments (their value and gas) reserve.
		return &chains.State{Balance: native, BalanceAt: nativeAt, Reserve: new(big.Int).Add(tx.Value(), gas)}, nil
	}
	// An ERC-20 transfer's gas is paid in the native coin, an account the
	// token exposure does not see. The sender's accepted, unmined
	// transactions are the nonces from the mined one up to this one (no
	// gaps); each is counted at this transaction's gas × max fee.
	ahead := new(big.Int).SetUint64(tx.Nonce() - mined + 1)
	if need := new(big.Int).Mul(gas, ahead); native.Cmp(need) < 0 {
		return nil, h402.Errorf(h402.ReasonInsufficientFunds, "the sender's native balance %s does not cover the gas of this transaction and its %d pending ones (%s at %s each)", native, tx.Nonce()-mined, need, gas)
	}
	bal, at, err := s.tokenBalance(ctx, common.HexToAddress(p.Token), sender, r.BalanceNotBefore)
	if err != nil {
		return nil, err
	}
	return &chains.State{Balance: bal, BalanceAt: at}, nil
}

// checkFees refuses a transaction that cannot be included now: a fee cap
// below the newest block's base fee, or no tip. Nobody can raise the fees of
// a client's transaction, so accepting it would serve a payment whose funds
// never move (and nothing would fail to block its payer).
func (s *StateChecker) checkFees(ctx context.Context, tx *types.Transaction) error {
	if tx.GasTipCap().Sign() <= 0 {
		return h402.Errorf(h402.ReasonEVMTransaction, "signedTransaction offers no priority fee: it would never be mined")
	}
	head, err := latestHead(ctx, s.pool)
	if err != nil {
		return err
	}
	if head.BaseFee != nil && tx.GasFeeCap().Cmp(head.BaseFee) < 0 {
		return h402.Errorf(h402.ReasonEVMTransaction, "signedTransaction's fee cap %s wei is below the current base fee %s wei: it cannot be mined", tx.GasFeeCap(), head.BaseFee)
	}
	return nil
}

// checkNonce checks that tx's nonce is the sender's next one, counting its
// accepted payments not yet mined (PROTOCOL.md §5), and returns the
// sender's mined nonce. Both chain nonces are read fresh, never from a cache:
//   - below the mined nonce, or below the pending one (another transaction
//     with that nonce waits in the node's pool), the nonce is used;
//   - above the mined nonce, the nonce before it must be held by an accepted
//     payment (r.Taken); a transaction of the sender's own in the pool does
//     not count, as it may never be mined and ours would wait behind it for ever.
func (s *StateChecker) checkNonce(ctx context.Context, r *chains.Request, tx *types.Transaction, sender common.Address) (uint64, error) {
	got, err := failover.Do(ctx, s.pool, "eth_getTransactionCount", func(ctx context.Context, c *ethclient.Client) ([2]uint64, error) {
		return nonces(ctx, c, sender)
	})
	if err != nil {
		return 0, err
	}
	mined, pending := got[0], got[1]
	n := tx.Nonce()
	switch {
	case n < mined:
		return 0, h402.Errorf(h402.ReasonNonceAlreadyUsed, "transaction nonce %d is below the sender's mined nonce %d: already used", n, mined)
	case n < pending:
		return 0, h402.Errorf(h402.ReasonNonceAlreadyUsed, "another transaction of the sender with nonce %d is already waiting in the node's pool (pending nonce %d)", n, pending)
	case n == mined:
		return mined, nil
	}
	prev := TransactionKey(tx.ChainId(), sender, n-1)
	if r.Taken == nil {
		return 0, h402.Errorf(h402.ReasonNonceGap, "transaction nonce %d is above the sender's mined nonce %d, and whether nonce %d is an accepted payment cannot be told here", n, mined, n-1)
	}
	taken, err := r.Taken(ctx, prev)
	if err != nil {
		return 0, err
	}
	if !taken {
		return 0, h402.Errorf(h402.ReasonNonceGap, "transaction nonce %d leaves a gap: the sender's mined nonce is %d and nonce %d is not an accepted payment; send nonce %d first", n, mined, n-1, mined)
	}
	return mined, nil
}

// nonces reads the sender's mined ("latest") and pending nonces in one batch.
func nonces(ctx context.Context, c *ethclient.Client, sender common.Address) ([2]uint64, error) {
	var m, p hexutil.Uint64
	batch := []rpc.BatchElem{
		{Method: "eth_getTransactionCount", Args: []any{sender, "latest"}, Result: &m},
		{Method: "eth_getTransactionCount", Args: []any{sender, "pending"}, Result: &p},
	}
	if err := c.Client().BatchCallContext(ctx, batch); err != nil {
		return [2]uint64{}, err
	}
	for _, b := range batch {
		if b.Error != nil {
			return [2]uint64{}, b.Error
		}
	}
	return [2]uint64{uint64(m), uint64(p)}, nil
}

func (s *StateChecker) checkBroadcast(ctx context.Context, r *chains.Request, p *chains.Payment) (*chains.State, error) {
	hash := common.HexToHash(p.TxHash)
	rcpt, err := failover.Do(ctx, s.pool, "eth_getTransactionReceipt", func(ctx context.Context, c *ethclient.Client) (*types.Receipt, error) {
		return c.TransactionReceipt(ctx, hash)
	})
	if errors.Is(err, ethereum.NotFound) {
		return nil, h402.Errorf(h402.ReasonInvalidTransactionState, "transaction %s is not mined (no receipt)", p.TxHash)
	}
	if err != nil {
		return nil, err
	}
	if rcpt.Status != types.ReceiptStatusSuccessful {
		return nil, h402.Errorf(h402.ReasonInvalidTransactionState, "transaction %s reverted", p.TxHash)
	}
	// Recent only: an old transfer to the seller is not a new payment.
	head, err := failover.Do(ctx, s.pool, "eth_getBlockByHash", func(ctx context.Context, c *ethclient.Client) (*types.Header, error) {
		return c.HeaderByHash(ctx, rcpt.BlockHash)
	})
	if errors.Is(err, ethereum.NotFound) {
		return nil, h402.Errorf(h402.ReasonInvalidTransactionState, "the block %s of transaction %s is not found (reorganised away?)", rcpt.BlockHash.Hex(), p.TxHash)
	}
	if err != nil {
		return nil, err
	}
	if err := chains.CheckBroadcastAge(r, p.TxHash, time.Unix(int64(min(head.Time, math.MaxInt64)), 0)); err != nil {
		return nil, err
	}
	tx, err := failover.Do(ctx, s.pool, "eth_getTransactionByHash", func(ctx context.Context, c *ethclient.Client) (*types.Transaction, error) {
		tx, _, err := c.TransactionByHash(ctx, hash)
		return tx, err
	})
	if err != nil {
		if errors.Is(err, ethereum.NotFound) {
			return nil, h402.Errorf(h402.ReasonInvalidTransactionState, "transaction %s is not found", p.TxHash)
		}
		return nil, err
	}
	from, err := types.Sender(types.LatestSignerForChainID(tx.ChainId()), tx)
	if err != nil {
		return nil, h402.Wrap(h402.ReasonEVMTransaction, err, "transaction sender cannot be recovered")
	}
	if !strings.EqualFold(from.Hex(), p.Payer) {
		return nil, h402.Errorf(h402.ReasonEVMSignedMessage, "signedMessage was signed by %s but the transaction was sent by %s", p.Payer, strings.ToLower(from.Hex()))
	}
	payTo := common.HexToAddress(p.PayTo)
	if r.Token.Kind == config.KindNative {
		if tx.To() == nil || *tx.To() != payTo {
			return nil, h402.Errorf(h402.ReasonEVMRecipientMismatch, "transaction %s does not pay %s", p.TxHash, p.PayTo)
		}
		if tx.Value().Cmp(r.Amount) != 0 {
			return nil, h402.Errorf(h402.ReasonEVMValue, "transaction %s pays %s, want %s", p.TxHash, tx.Value(), r.Amount)
		}
		return &chains.State{}, nil
	}
	token := common.HexToAddress(p.Token)
	var paid *big.Int // what a transfer to payTo moved, when not the amount
	for _, l := range rcpt.Logs {
		if l.Address != token || len(l.Topics) != 3 || l.Topics[0] != topicTransfer {
			continue
		}
		if common.BytesToAddress(l.Topics[1].Bytes()) != from || common.BytesToAddress(l.Topics[2].Bytes()) != payTo {
			continue
		}
		v := new(big.Int).SetBytes(l.Data)
		if v.Cmp(r.Amount) == 0 {
			return &chains.State{}, nil
		}
		paid = v
	}
	if paid != nil {
		return nil, h402.Errorf(h402.ReasonEVMValue, "transaction %s pays %s %s to %s, want %s", p.TxHash, paid, r.Token.Symbol, p.PayTo, r.Amount)
	}
	return nil, h402.Errorf(h402.ReasonEVMRecipientMismatch, "transaction %s has no %s Transfer of %s from %s to %s", p.TxHash, r.Token.Symbol, r.Amount, strings.ToLower(from.Hex()), p.PayTo)
}

func (s *StateChecker) authorizationUsed(ctx context.Context, token common.Address, data []byte) (bool, error) {
	if s.batcher != nil {
		return s.batcher.used(ctx, token, data)
	}
	out, err := s.call(ctx, "authorizationState", token, data)
	if err != nil {
		return false, err
	}
	if len(out) != 32 {
		return false, errNotEIP3009
	}
	return new(big.Int).SetBytes(out).Sign() != 0, nil
}

func (s *StateChecker) call(ctx context.Context, name string, to common.Address, data []byte) ([]byte, error) {
	return failover.Do(ctx, s.pool, "eth_call:"+name, func(ctx context.Context, c *ethclient.Client) ([]byte, error) {
		return c.CallContract(ctx, ethereum.CallMsg{To: &to, Data: data}, nil)
	})
}

// tokenBalance returns owner's balance of token at the latest block, through
// the cache (a value loaded no earlier than notBefore), and when its load began.
func (s *StateChecker) tokenBalance(ctx context.Context, token, owner common.Address, notBefore time.Time) (*big.Int, time.Time, error) {
	return s.balances.GetAt(ctx, "b."+strings.ToLower(token.Hex())+"."+strings.ToLower(owner.Hex()), notBefore, func(ctx context.Context) (*big.Int, error) {
		data := append(append([]byte{}, selBalanceOf...), common.LeftPadBytes(owner.Bytes(), 32)...)
		out, err := s.call(ctx, "balanceOf", token, data)
		if err != nil {
			return nil, err
		}
		if len(out) != 32 {
			return nil, h402.Errorf(h402.ReasonTokenNotSupported, "token %s answered balanceOf with %d bytes", strings.ToLower(token.Hex()), len(out))
		}
		return new(big.Int).SetBytes(out), nil
	})
}

// nativeBalance is tokenBalance for the native coin.
func (s *StateChecker) nativeBalance(ctx context.Context, owner common.Address, notBefore time.Time) (*big.Int, time.Time, error) {
	return s.balances.GetAt(ctx, "native."+strings.ToLower(owner.Hex()), notBefore, func(ctx context.Context) (*big.Int, error) {
		return failover.Do(ctx, s.pool, "eth_getBalance", func(ctx context.Context, c *ethclient.Client) (*big.Int, error) {
			return c.BalanceAt(ctx, owner, nil)
		})
	})
}

// Run refreshes, on each new head, the cached balances of the
// payers seen in the last minute, so their next payments need no RPC. It
// returns when ctx ends.
func (s *StateChecker) Run(ctx context.Context) {
	chains.FollowHeads(ctx, time.Duration(s.network.Finality.PollInterval), func(ctx context.Context) (uint64, error) {
		return failover.Do(ctx, s.pool, "eth_blockNumber", func(ctx context.Context, c *ethclient.Client) (uint64, error) {
			return c.BlockNumber(ctx)
		})
	}, func(ctx context.Context, _ uint64) {
		s.balances.Refresh(ctx, time.Minute, 16)
	})
}
