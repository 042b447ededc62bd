package evm

import (
	"context"
	"fmt"
	"math/big"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/ethclient"

	"github.com/h402/settlement/pkg/chains"
	"github.com/h402/settlement/pkg/config"
	"github.com/h402/settlement/pkg/contracts"
	"github.com/h402/settlement/pkg/events"
	"github.com/h402/settlement/pkg/failover"
	"github.com/h402/settlement/pkg/h402"
)

// authItem is one decoded authorization of a batch.
type authItem struct {
	idx   int // in the batch
	id    string
	token common.Address
	from  common.Address
	nonce [32]byte
	call  []byte   // token.transferWithAuthorization(...)
	dead  []string // hashes of its earlier claim that cannot land
}

// DecodeAuthorization decodes the authorization of an accepted payment and
// returns the transferWithAuthorization calldata that settles it (the v, r, s
// form every FiatToken version has), with the authorizer and its nonce.
// Errors are *h402.Error.
func DecodeAuthorization(e *events.PaymentAccepted) (call []byte, from common.Address, nonce [32]byte, err error) {
	a := e.Authorization
	if a == nil || e.Namespace != h402.NamespaceEVM {
		return nil, from, nonce, h402.Errorf(h402.ReasonInvalidPayload, "payment %s carries no EVM authorization", e.ID)
	}
	if from, err = parseAddress("authorization.from", a.From); err != nil {
		return nil, from, nonce, err
	}
	to, err := parseAddress("authorization.to", a.To)
	if err != nil {
		return nil, from, nonce, err
	}
	var nums [3]*big.Int
	for i, d := range []string{a.Value, a.ValidAfter, a.ValidBefore} {
		v, ok := new(big.Int).SetString(d, 10)
		if !ok || v.Sign() < 0 || v.Cmp(h402.MaxUint256) > 0 {
			return nil, from, nonce, h402.Errorf(h402.ReasonInvalidPayload, "authorization value or window %q is not a uint256", clip(d))
		}
		nums[i] = v
	}
	if nonce, err = parseNonce(a.Nonce); err != nil {
		return nil, from, nonce, err
	}
	sig, err := DecodeSignature(a.Signature)
	if err != nil {
		return nil, from, nonce, err
	}
	call = contracts.NewTestUSDC().PackTransferWithAuthorization(from, to, nums[0], nums[1], nums[2], nonce, sig.V, sig.R, sig.S)
	return call, from, nonce, nil
}

// allowedAuthorizationToken refuses (permanently, *h402.Error) a token that
// is not on the network's allow-list as an EIP-3009 token.
func (s *Submitter) allowedAuthorizationToken(address string) error {
	tok, err := s.network.Token(address)
	if err != nil {
		return err
	}
	if tok.Kind != config.KindEIP3009 {
		return h402.Errorf(h402.ReasonTokenNotSupported, "token %s (%s) is configured as %s, not an EIP-3009 token: no authorization is settled for it", tok.Symbol, tok.Address, tok.Kind)
	}
	return nil
}

// submitAuthorizations settles the authorizations at idx: by token, in
// chunks of MaxPerTx, one simulated and sent transaction per chunk.
func (s *Submitter) submitAuthorizations(ctx context.Context, batch []*events.PaymentAccepted, idx []int, dead map[int][]string, results []chains.Result, claims chains.Claims) {
	groups := map[common.Address][]authItem{}
	var order []common.Address
	for _, i := range idx {
		e := batch[i]
		if !common.IsHexAddress(e.Token) {
			results[i].Err = h402.Errorf(h402.ReasonInvalidPayload, "payment token %q is not an address", clip(e.Token))
			continue
		}
		// The log is not trusted: only a configured EIP-3009 token may be
		// called with the facilitator key, whatever the event says.
		if err := s.allowedAuthorizationToken(e.Token); err != nil {
			results[i].Err = err
			continue
		}
		call, from, nonce, err := DecodeAuthorization(e)
		if err != nil {
			results[i].Err = err
			continue
		}
		token := common.HexToAddress(e.Token)
		if _, ok := groups[token]; !ok {
			order = append(order, token)
		}
		groups[token] = append(groups[token], authItem{idx: i, id: e.ID, token: token, from: from, nonce: nonce, call: call, dead: dead[i]})
	}
	for _, token := range order {
		items := groups[token]
		for len(items) > 0 {
			n := min(len(items), s.opts.MaxPerTx)
			s.settleChunk(ctx, items[:n], results, claims)
			items = items[n:]
		}
	}
}

// settleChunk simulates one chunk of authorizations of one token, fails the
// ones that would revert and sends one transaction with the rest.
func (s *Submitter) settleChunk(ctx context.Context, items []authItem, results []chains.Result, claims chains.Claims) {
	fail := func(items []authItem, err error) {
		for _, it := range items {
			results[it.idx].Err = fmt.Errorf("settle %s: %w", it.id, err)
		}
	}
	verdicts, err := s.simulate(ctx, items)
	if err != nil {
		fail(items, err)
		return
	}
	var good []authItem
	for k, it := range items {
		if verdicts[k] != nil {
			results[it.idx].Err = s.usedOnlyAtHead(ctx, it.id, it.token, it.from, it.nonce, verdicts[k])
			if h402.ReasonOf(verdicts[k], "") == h402.ReasonEVMValidAfter {
				// The chain's clock has not reached validAfter yet (block time
				// can lag the clock ingest checked against): not a failure,
				// only too early. Retried, it settles, or expires and fails then.
				results[it.idx].Err = &notYetValid{id: it.id, cause: verdicts[k]}
			}
			continue
		}
		good = append(good, it)
	}
	if len(good) == 0 {
		return
	}
	rec, err := s.sendBatch(ctx, good, claims)
	if err != nil {
		fail(good, err)
		return
	}
	for _, it := range good {
		results[it.idx].Tx = rec
	}
}

// aggregate3 is the Multicall3 calldata running every item's call with allowFailure.
func (s *Submitter) aggregate3(items []authItem) []byte {
	calls := make([]contracts.Multicall3Call3, len(items))
	for k, it := range items {
		calls[k] = contracts.Multicall3Call3{Target: it.token, AllowFailure: true, CallData: it.call}
	}
	return s.mc.PackAggregate3(calls)
}

// simulate runs the chunk through aggregate3 with eth_call and returns, per
// item, nil when its transfer would succeed or the *h402.Error it reverts with.
func (s *Submitter) simulate(ctx context.Context, items []authItem) ([]error, error) {
	data := s.aggregate3(items)
	to := s.opts.Multicall
	out, err := failover.Do(ctx, s.pool, "eth_call:aggregate3", func(ctx context.Context, c *ethclient.Client) ([]byte, error) {
		return c.CallContract(ctx, ethereum.CallMsg{From: s.from, To: &to, Data: data}, nil)
	})
	if err != nil {
		return nil, fmt.Errorf("simulate %d authorizations: %w", len(items), err)
	}
	res, err := s.mc.UnpackAggregate3(out)
	if err != nil || len(res) != len(items) {
		return nil, fmt.Errorf("simulate %d authorizations: multicall %s answered %d bytes (%d results): is Multicall3 deployed there? %v",
			len(items), to.Hex(), len(out), len(res), err)
	}
	verdicts := make([]error, len(items))
	for k, r := range res {
		if !r.Success {
			verdicts[k] = RevertVerdict(r.ReturnData)
		}
	}
	return verdicts, nil
}

// sendBatch signs, records and broadcasts one transaction settling items:
// the token call itself for one item, aggregate3 for several.
func (s *Submitter) sendBatch(ctx context.Context, items []authItem, claims chains.Claims) (*chains.Tx, error) {
	to, data := s.opts.Multicall, s.aggregate3(items)
	if len(items) == 1 {
		to, data = items[0].token, items[0].call
	}
	s.sendMu.Lock()
	defer s.sendMu.Unlock()

	head, err := latestHead(ctx, s.pool)
	if err != nil {
		return nil, err
	}
	fees := s.opts.Fees.For(head.BaseFee)
	est, err := failover.Do(ctx, s.pool, "eth_estimateGas", func(ctx context.Context, c *ethclient.Client) (uint64, error) {
		return c.EstimateGas(ctx, ethereum.CallMsg{From: s.from, To: &to, Data: data})
	})
	if err != nil {
		return nil, fmt.Errorf("estimate gas of %d authorizations: %w", len(items), err)
	}
	gas := est + est*uint64(s.opts.GasMarginPermille)/1000
	if gas > s.opts.MaxGas {
		if est > s.opts.MaxGas {
			return nil, fmt.Errorf("%d authorizations need %d gas, above the %d limit: lower MaxPerTx", len(items), est, s.opts.MaxGas)
		}
		gas = s.opts.MaxGas
	}
	if len(items) > 1 {
		// With allowFailure, a gas limit too low does not revert the batch:
		// its calls fail one by one. So run it at the chosen limit too.
		if gas, err = s.checkGas(ctx, items, data, gas); err != nil {
			return nil, err
		}
	}
	if err := s.canSign(); err != nil {
		return nil, err
	}
	nonce, err := s.nonces.Next(ctx)
	if err != nil {
		return nil, err
	}
	tx, err := types.SignNewTx(s.key, s.signer, &types.DynamicFeeTx{
		ChainID: s.chainID, Nonce: nonce, GasTipCap: fees.Tip, GasFeeCap: fees.FeeCap, Gas: gas, To: &to, Data: data,
	})
	if err != nil {
		s.nonces.Rollback(nonce)
		return nil, fmt.Errorf("sign batch transaction: %w", err)
	}
	rec, err := s.record(tx, s.signerHex(), nil)
	if err != nil {
		s.nonces.Rollback(nonce)
		return nil, err
	}
	ids := make([]string, len(items))
	var dead []string
	for k, it := range items {
		ids[k] = it.id
		dead = append(dead, it.dead...)
	}
	withDead := rec
	withDead.Dead = dead
	// All or none: when Record fails nothing of this transaction is claimed
	// (or, if its undo failed too, the claims left point at a transaction
	// whose nonce goes to the next one: provably dead, superseded then).
	if err := claims.Record(ctx, ids, withDead); err != nil {
		s.nonces.Rollback(nonce)
		return nil, fmt.Errorf("record claim of tx %s: %w", rec.Hash, err)
	}
	// From here the transaction exists as far as recovery is concerned: it
	// is tracked until mined, re-broadcast or replaced, never signed anew.
	s.tracker.add(ids, rec, tx, fees, head.Number, claims)
	log := s.opts.Logger.With("network", s.network.CAIP2, "tx_hash", rec.Hash, "nonce", nonce, "batch", len(items))
	if s.opts.BeforeBroadcast != nil {
		if err := s.opts.BeforeBroadcast(ctx, rec); err != nil {
			return nil, fmt.Errorf("before broadcast of %s: %w", rec.Hash, err)
		}
	}
	out, err := s.broadcast(ctx, "batch", tx)
	switch out {
	case sentOK:
		log.Info("batch transaction broadcast", "gas_limit", gas, "gas_estimate_per_payment", est/uint64(len(items)), "fees", fees.String())
		return &rec, nil
	case sentNonceTooLow, sentUnderpriced:
		// The local nonce was behind the node: this transaction can never
		// land. Redelivery finds its record, sees the nonce used and the
		// authorizations unused, and settles them again.
		s.nonces.Resync()
		s.tracker.remove(nonce, rec.Hash)
		log.Warn("batch transaction refused: nonce out of sync", "err", err)
		return nil, &chains.Transient{Err: fmt.Errorf("broadcast %s: nonce %d out of sync: %w", rec.Hash, nonce, err)}
	case sentRejected:
		log.Error("batch transaction rejected", "err", err)
		return nil, fmt.Errorf("broadcast %s: %w", rec.Hash, err)
	default:
		log.Warn("batch transaction broadcast failed; tracked for re-broadcast", "err", err)
		return nil, fmt.Errorf("broadcast %s: %w", rec.Hash, err)
	}
}

// checkGas runs the aggregate3 batch at gas limit gas and returns gas when
// every call succeeds there; otherwise it tries MaxGas once. A gas
// estimate of an allowFailure batch can come out too low without the node
// noticing: the outer call succeeds while inner calls run out of gas.
func (s *Submitter) checkGas(ctx context.Context, items []authItem, data []byte, gas uint64) (uint64, error) {
	to := s.opts.Multicall
	for _, limit := range []uint64{gas, s.opts.MaxGas} {
		out, err := failover.Do(ctx, s.pool, "eth_call:aggregate3", func(ctx context.Context, c *ethclient.Client) ([]byte, error) {
			return c.CallContract(ctx, ethereum.CallMsg{From: s.from, To: &to, Data: data, Gas: limit}, nil)
		})
		if err != nil {
			return 0, fmt.Errorf("check gas of %d authorizations: %w", len(items), err)
		}
		res, err := s.mc.UnpackAggregate3(out)
		if err == nil && len(res) == len(items) && allSucceed(res) {
			return limit, nil
		}
	}
	return 0, fmt.Errorf("%d authorizations do not all succeed even at %d gas: retry with a new simulation", len(items), s.opts.MaxGas)
}

func allSucceed(res []contracts.Multicall3Result) bool {
	for _, r := range res {
		if !r.Success {
			return false
		}
	}
	return true
}

// notYetValid is the retryable result of an authorization the chain does
// not yet consider valid.
type notYetValid struct {
	id    string
	cause error
}

func (e *notYetValid) Error() string {
	return "settle " + e.id + ": not yet valid on chain, retry later: " + e.cause.Error()
}

// Retryable is true: the authorization becomes valid with time.
func (e *notYetValid) Retryable() bool { return true }
