package buyer

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"strings"
	"sync"
	"time"

	ethereum "github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient"
	solanago "github.com/gagliardetto/solana-go"
	"github.com/gagliardetto/solana-go/rpc"

	"github.com/h402/settlement/pkg/chains/evm"
	"github.com/h402/settlement/pkg/chains/solana"
	"github.com/h402/settlement/pkg/config"
	"github.com/h402/settlement/pkg/h402"
)

// EVM is the buyer's EVM key and how to reach its chains.
type EVM struct {
	Key *ecdsa.PrivateKey
	// RPC, optional, is a JSON-RPC URL of the chain paid on: the EIP-3009
	// validity window is then taken from the chain head when it runs ahead
	// of the wall clock (dev chains do), and a token's EIP-712 domain is
	// read from its name() and version() when neither the requirement's
	// extra nor Domains give it. Both for offers on the RPC's own chain
	// (eth_chainId) only: another chain's offers use the wall clock.
	RPC string
	// Domains gives the EIP-712 domain per token address, for h402
	// requirements that do not carry extra.name/version.
	Domains map[string]Domain
	// MaxValidity caps how long a signed authorization stays valid: the
	// seller's maxTimeoutSeconds (h402: estimatedProcessingTime) when
	// shorter. A longer window is time in which a seller may still settle
	// a payment the buyer has given up on. Default DefaultMaxValidity.
	MaxValidity time.Duration
}

// DefaultMaxValidity is EVM.MaxValidity's default. It is shorter than
// ingest's verify.maxValidity default (1h), so what this buyer signs for a
// seller whose maxTimeoutSeconds is longer is still accepted by our
// facilitator.
const DefaultMaxValidity = 10 * time.Minute

// Domain is a token's EIP-712 domain name and version.
type Domain struct{ Name, Version string }

// Solana is the buyer's Solana key and RPC.
type Solana struct {
	Key solanago.PrivateKey
	// RPC is a JSON-RPC URL of the cluster paid on (recent blockhash, the
	// mint's token program and decimals). Required.
	RPC string
	// ComputeUnitPrice in micro-lamports per CU (default 1).
	ComputeUnitPrice uint64
	// FundSellerAccount lets a payment create the seller's token account
	// when it does not exist yet, its rent (about 0.002 SOL) paid by this
	// key on top of the price and outside every Budget; the seller can
	// close the account and keep that rent. By default such a requirement
	// is refused, and a payment to an existing account creates none.
	FundSellerAccount bool
}

// signed is a payment ready to send.
type signed struct {
	header, value string
	payer         string
}

// x402V2Payment is the PAYMENT-SIGNATURE content, in @x402/core's field
// order; Accepted, Resource and Extensions are echoed as the seller sent them.
type x402V2Payment struct {
	X402Version int                   `json:"x402Version"`
	Payload     h402.X402ExactPayload `json:"payload"`
	Extensions  json.RawMessage       `json:"extensions,omitempty"`
	Resource    json.RawMessage       `json:"resource,omitempty"`
	Accepted    json.RawMessage       `json:"accepted"`
}

// encode wraps an exact payload in the offer's dialect.
func encode(pr *PaymentRequired, o *Offer, p h402.X402ExactPayload, h402Header string) (string, string, error) {
	switch o.Dialect {
	case DialectH402:
		return h402.HeaderPayment, h402Header, nil
	case DialectX402V1:
		b, err := json.Marshal(h402.X402V1PaymentPayload{X402Version: h402.X402V1, Scheme: o.Scheme, Network: o.Network, Payload: p})
		return h402.HeaderPayment, h402.EncodeBase64(b), err
	case DialectX402V2:
		b, err := json.Marshal(x402V2Payment{X402Version: h402.X402V2, Payload: p, Extensions: nonNull(pr.Extensions), Resource: nonNull(pr.Resource), Accepted: o.raw})
		return h402.HeaderPaymentSig, h402.EncodeBase64(b), err
	}
	return "", "", fmt.Errorf("dialect %q", o.Dialect)
}

func nonNull(r json.RawMessage) json.RawMessage {
	if len(r) == 0 || string(r) == "null" {
		return nil
	}
	return r
}

// requirement is the offer as an h402 requirement for the chain signers.
func requirement(o *Offer, amount *big.Int) *h402.PaymentRequirements {
	if o.h402 != nil {
		r := *o.h402
		return &r
	}
	d := h402.NewDecimal(amount)
	return &h402.PaymentRequirements{
		Namespace: o.Namespace, Scheme: h402.SchemeExact, NetworkID: o.NetworkID,
		TokenAddress: o.Token, PayToAddress: o.PayTo, AmountRequired: &d, AmountRequiredFormat: h402.FormatSmallestUnit,
		Resource: o.Resource, Extra: o.Extra,
	}
}

// validity is how long an authorization for o stays valid: the seller's
// timeout (evm.DefaultValidity when it gives none), at most MaxValidity.
func (s *evmSigner) validity(o *Offer) time.Duration {
	d := evm.DefaultValidity
	if o.MaxTimeoutSeconds > 0 { // bounded first: seconds × 1e9 must not overflow
		d = time.Duration(min(int64(o.MaxTimeoutSeconds), math.MaxInt64/int64(time.Second))) * time.Second
	}
	limit := s.cfg.MaxValidity
	if limit <= 0 {
		limit = DefaultMaxValidity
	}
	return min(d, limit)
}

// evmSigner signs EIP-3009 authorizations.
type evmSigner struct {
	cfg EVM

	mu      sync.Mutex
	client  *ethclient.Client
	chainID *big.Int          // the RPC's, once read
	domains map[string]Domain // read from chain
}

// onRPCChain reports whether o is on the chain EVM.RPC serves (false
// without an RPC): only that chain's head is o's clock, and only its
// contracts are o's token.
func (s *evmSigner) onRPCChain(ctx context.Context, o *Offer) (bool, error) {
	if s.cfg.RPC == "" {
		return false, nil
	}
	s.mu.Lock()
	id := s.chainID
	s.mu.Unlock()
	if id == nil {
		c, err := s.rpc(ctx)
		if err != nil {
			return false, err
		}
		if id, err = c.ChainID(ctx); err != nil {
			return false, fmt.Errorf("read the RPC's chain id: %w", err)
		}
		s.mu.Lock()
		s.chainID = id
		s.mu.Unlock()
	}
	return id.String() == o.NetworkID, nil
}

func (s *evmSigner) rpc(ctx context.Context) (*ethclient.Client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.client == nil {
		c, err := ethclient.DialContext(ctx, s.cfg.RPC)
		if err != nil {
			return nil, fmt.Errorf("dial EVM RPC: %w", err)
		}
		s.client = c
	}
	return s.client, nil
}

// now is the later of the wall clock and the chain head's time.
func (s *evmSigner) now(ctx context.Context, o *Offer) (time.Time, error) {
	now := time.Now()
	if on, err := s.onRPCChain(ctx, o); err != nil || !on {
		return now, err
	}
	c, err := s.rpc(ctx)
	if err != nil {
		return now, err
	}
	head, err := c.HeaderByNumber(ctx, nil)
	if err != nil {
		return now, fmt.Errorf("read the chain head: %w", err)
	}
	if t := time.Unix(int64(head.Time), 0); t.After(now) {
		now = t
	}
	return now, nil
}

// domain finds the token's EIP-712 domain: the requirement's extra, the
// configured Domains, then the token contract.
func (s *evmSigner) domain(ctx context.Context, o *Offer) (Domain, error) {
	var extra h402.Extra
	if len(o.Extra) > 0 && string(o.Extra) != "null" {
		if err := json.Unmarshal(o.Extra, &extra); err != nil {
			return Domain{}, fmt.Errorf("extra: %w", err)
		}
	}
	if extra.Name != "" && extra.Version != "" {
		return Domain{extra.Name, extra.Version}, nil
	}
	key := tokenKey(o.Token)
	for k, d := range s.cfg.Domains {
		if tokenKey(k) == key {
			return d, nil
		}
	}
	if s.cfg.RPC == "" {
		return Domain{}, errors.New("the requirement gives no EIP-712 name/version, EVM.Domains has none for the token, and there is no RPC to read them")
	}
	if on, err := s.onRPCChain(ctx, o); err != nil {
		return Domain{}, err
	} else if !on {
		return Domain{}, fmt.Errorf("the requirement gives no EIP-712 name/version, EVM.Domains has none for the token, and EVM.RPC serves another chain than %s", clip(o.NetworkID))
	}
	s.mu.Lock()
	d, ok := s.domains[key]
	s.mu.Unlock()
	if ok {
		return d, nil
	}
	c, err := s.rpc(ctx)
	if err != nil {
		return Domain{}, err
	}
	token := common.HexToAddress(o.Token)
	if d.Name, err = callString(ctx, c, token, "06fdde03"); err != nil { // name()
		return Domain{}, fmt.Errorf("read the token's name(): %w", err)
	}
	if d.Version, err = callString(ctx, c, token, "54fd4d50"); err != nil { // version()
		return Domain{}, fmt.Errorf("read the token's version(): %w", err)
	}
	s.mu.Lock()
	if s.domains == nil {
		s.domains = map[string]Domain{}
	}
	s.domains[key] = d
	s.mu.Unlock()
	return d, nil
}

var stringArgs = func() abi.Arguments {
	t, _ := abi.NewType("string", "", nil)
	return abi.Arguments{{Type: t}}
}()

func callString(ctx context.Context, c *ethclient.Client, to common.Address, selector string) (string, error) {
	data, _ := hex.DecodeString(selector)
	out, err := c.CallContract(ctx, ethereum.CallMsg{To: &to, Data: data}, nil)
	if err != nil {
		return "", err
	}
	vals, err := stringArgs.Unpack(out)
	if err != nil || len(vals) != 1 {
		return "", fmt.Errorf("answer is not an ABI string: %v", err)
	}
	s, _ := vals[0].(string)
	return s, nil
}

func (s *evmSigner) sign(ctx context.Context, pr *PaymentRequired, o *Offer, amount *big.Int) (signed, error) {
	if _, ok := new(big.Int).SetString(o.NetworkID, 10); !ok {
		return signed{}, fmt.Errorf("EVM network %q has no decimal chain id", o.NetworkID)
	}
	if !common.IsHexAddress(o.Token) || !common.IsHexAddress(o.PayTo) {
		return signed{}, errors.New("token or payTo is not an EVM address")
	}
	d, err := s.domain(ctx, o)
	if err != nil {
		return signed{}, err
	}
	now, err := s.now(ctx, o)
	if err != nil {
		return signed{}, err
	}
	opts := evm.AuthorizationOptions{Value: amount, ValidBefore: now.Add(s.validity(o))}
	switch o.Dialect {
	case DialectX402V1: // as @x402/evm's v1 client: ten minutes back
		opts.ValidAfter = now.Add(-600 * time.Second)
	case DialectX402V2: // as @x402/evm's client: validAfter 0
		opts.ValidAfter = time.Unix(0, 0)
	}
	token := &config.Token{Address: o.Token, Kind: config.KindEIP3009, EIP712Name: d.Name, EIP712Version: d.Version}
	p, header, err := evm.SignAuthorization(requirement(o, amount), s.cfg.Key, token, now, opts)
	if err != nil {
		return signed{}, err
	}
	a := p.Payload.(*h402.EVMAuthorizationPayload)
	x := h402.X402ExactPayload{Signature: a.Signature, Authorization: &h402.X402Authorization{
		From:        common.HexToAddress(a.Authorization.From).Hex(),
		To:          common.HexToAddress(a.Authorization.To).Hex(),
		Value:       a.Authorization.Value,
		ValidAfter:  a.Authorization.ValidAfter,
		ValidBefore: a.Authorization.ValidBefore,
		Nonce:       a.Authorization.Nonce,
	}}
	name, value, err := encode(pr, o, x, header)
	return signed{header: name, value: value, payer: crypto.PubkeyToAddress(s.cfg.Key.PublicKey).Hex()}, err
}

// solanaSigner signs payment transactions.
type solanaSigner struct {
	cfg    Solana
	client *rpc.Client

	mu      sync.Mutex
	mints   map[string]config.Token
	genesis string // the RPC's genesis hash, once read
}

// cluster checks that o is on mainnet exactly when the RPC is. A Solana
// transaction is bound to a cluster only by its recent blockhash, read from
// the RPC, whatever network the offer names: signed for an offer naming a
// test cluster while the RPC is mainnet's, it pays real funds, counted
// under the budget of the named network (Budget.Network); an offer naming
// mainnet paid on a test cluster counts test funds under mainnet's budget.
// Test clusters are not told apart: a deployment may serve its localnet
// under devnet's id (the published @x402/svm pays only public clusters).
func (s *solanaSigner) cluster(ctx context.Context, o *Offer) error {
	s.mu.Lock()
	genesis := s.genesis
	s.mu.Unlock()
	if genesis == "" {
		h, err := s.client.GetGenesisHash(ctx)
		if err != nil {
			return fmt.Errorf("read the RPC's genesis hash: %w", err)
		}
		genesis = h.String()
		s.mu.Lock()
		s.genesis = genesis
		s.mu.Unlock()
	}
	mainnet := strings.TrimPrefix(h402.CAIP2SolanaMainnet, "solana:")
	offerMainnet := o.NetworkID == "mainnet" || strings.HasPrefix(strings.TrimPrefix(o.NetworkID, "solana:"), mainnet)
	rpcMainnet := strings.HasPrefix(genesis, mainnet)
	switch {
	case rpcMainnet && !offerMainnet:
		return fmt.Errorf("the offer is on Solana %q, but Solana.RPC serves mainnet", clip(o.NetworkID))
	case offerMainnet && !rpcMainnet:
		return fmt.Errorf("the offer is on Solana mainnet, but Solana.RPC serves another cluster (genesis hash %s)", genesis)
	}
	return nil
}

// mint reads a mint's token program and decimals (cached).
func (s *solanaSigner) mint(ctx context.Context, address string) (config.Token, error) {
	if address == h402.SolanaNativeToken {
		return config.Token{Address: address, Decimals: 9, Kind: config.KindNative}, nil
	}
	s.mu.Lock()
	t, ok := s.mints[address]
	s.mu.Unlock()
	if ok {
		return t, nil
	}
	key, err := solanago.PublicKeyFromBase58(address)
	if err != nil {
		return t, fmt.Errorf("mint %q: %w", clip(address), err)
	}
	out, err := s.client.GetAccountInfo(ctx, key)
	if err != nil {
		return t, fmt.Errorf("read mint %s: %w", address, err)
	}
	data := out.GetBinary()
	if out.Value == nil || len(data) < 45 {
		return t, fmt.Errorf("mint %s: account is not a mint", address)
	}
	t = config.Token{Address: address, Decimals: int(data[44])}
	switch out.Value.Owner {
	case solana.TokenProgramID:
		t.Kind = config.KindSPL
	case solana.Token2022ProgramID:
		t.Kind = config.KindToken2022
	default:
		return t, fmt.Errorf("mint %s is owned by %s, not a token program", address, out.Value.Owner)
	}
	s.mu.Lock()
	if s.mints == nil {
		s.mints = map[string]config.Token{}
	}
	s.mints[address] = t
	s.mu.Unlock()
	return t, nil
}

func (s *solanaSigner) sign(ctx context.Context, pr *PaymentRequired, o *Offer, amount *big.Int) (signed, error) {
	if err := s.cluster(ctx, o); err != nil {
		return signed{}, err
	}
	token, err := s.mint(ctx, o.Token)
	if err != nil {
		return signed{}, err
	}
	req := requirement(o, amount)
	if got, err := req.Amount(token.Decimals); err != nil || got.Cmp(amount) != 0 {
		return signed{}, fmt.Errorf("the amount in the mint's %d decimals is %v (%v), not the %s the policy accepted", token.Decimals, got, err, amount)
	}
	if o.Dialect != DialectH402 {
		if e, err := req.ParsedExtra(); err != nil || e.FeePayer == "" {
			return signed{}, errors.New("an x402 Solana requirement names its fee payer in extra.feePayer; this one does not")
		}
	}
	bh, err := s.client.GetLatestBlockhash(ctx, rpc.CommitmentConfirmed)
	if err != nil {
		return signed{}, fmt.Errorf("read a recent blockhash: %w", err)
	}
	// A random memo, as @x402/svm adds: two payments of the same amount to
	// the same seller within one blockhash are then different messages.
	var nonce [16]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return signed{}, err
	}
	price := s.cfg.ComputeUnitPrice
	if price == 0 {
		price = 1
	}
	opts := solana.PayOptions{ComputeUnitPrice: price, Memo: hex.EncodeToString(nonce[:])}
	if token.Kind != config.KindNative {
		if opts.SkipCreateATA, err = s.sellerAccount(ctx, req.PayToAddress, token); err != nil {
			return signed{}, err
		}
	}
	p, err := solana.SignPayment(req, &token, s.cfg.Key, bh.Value.Blockhash, opts)
	if err != nil {
		return signed{}, err
	}
	header, err := h402.EncodePaymentHeader(p)
	if err != nil {
		return signed{}, err
	}
	x := h402.X402ExactPayload{Transaction: p.Payload.(*h402.SolanaSignTransactionPayload).Transaction}
	name, value, err := encode(pr, o, x, header)
	return signed{header: name, value: value, payer: s.cfg.Key.PublicKey().String()}, err
}

// sellerAccount reports whether payTo's token account for the mint exists,
// so the payment need not create it. A missing one is an error unless
// FundSellerAccount: creating it would cost this key the account's rent,
// outside every budget, and the seller could close it and keep the rent.
func (s *solanaSigner) sellerAccount(ctx context.Context, payTo string, token config.Token) (exists bool, err error) {
	owner, err := solanago.PublicKeyFromBase58(payTo)
	if err != nil {
		return false, fmt.Errorf("payTo %q: %w", clip(payTo), err)
	}
	program := solana.TokenProgramID
	if token.Kind == config.KindToken2022 {
		program = solana.Token2022ProgramID
	}
	mint, err := solanago.PublicKeyFromBase58(token.Address)
	if err != nil {
		return false, fmt.Errorf("mint %q: %w", clip(token.Address), err)
	}
	ata, err := solana.AssociatedTokenAddress(owner, mint, program)
	if err != nil {
		return false, fmt.Errorf("payTo's token account: %w", err)
	}
	out, err := s.client.GetAccountInfoWithOpts(ctx, ata, &rpc.GetAccountInfoOpts{Commitment: rpc.CommitmentConfirmed})
	switch {
	case errors.Is(err, rpc.ErrNotFound) || (err == nil && (out == nil || out.Value == nil)):
		if s.cfg.FundSellerAccount {
			return false, nil
		}
		return false, fmt.Errorf("the seller's token account %s (payTo %s, mint %s) does not exist: paying would also pay its rent, outside the budget (set Solana.FundSellerAccount to allow)", ata, owner, mint)
	case err != nil:
		return false, fmt.Errorf("read the seller's token account %s: %w", ata, err)
	}
	return true, nil
}
