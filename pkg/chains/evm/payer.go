package evm

import (
	"crypto/ecdsa"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"math/big"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/h402/settlement/pkg/config"
	"github.com/h402/settlement/pkg/h402"
)

// Payer-side defaults.
const (
	// DefaultValidity is the authorization lifetime when the requirement has
	// no estimatedProcessingTime.
	DefaultValidity = 30 * time.Second
	// DefaultSkew is how far before now an authorization's validAfter is
	// put, so that a verifier whose clock is a little behind accepts it.
	DefaultSkew = 5 * time.Second
	// DefaultNativeGas and DefaultTokenGas are the gas limits SignTransaction
	// uses when TxOptions.GasLimit is zero.
	DefaultNativeGas = 21_000
	DefaultTokenGas  = 100_000
)

// DefaultGasTipCap is the priority fee SignTransaction uses when TxOptions
// says none: 1 gwei (a dev chain's miner wants at least 1e6 wei).
var DefaultGasTipCap = big.NewInt(1_000_000_000)

// AuthorizationOptions tune SignAuthorization. The zero value signs the
// required amount with a random nonce for [now-DefaultSkew, now+lifetime],
// lifetime being the requirement's estimatedProcessingTime or DefaultValidity.
type AuthorizationOptions struct {
	// Nonce is the EIP-3009 nonce; nil draws 32 bytes from Rand.
	Nonce *[32]byte
	// Rand is the randomness for the nonce; nil means crypto/rand.
	Rand io.Reader
	// ValidAfter and ValidBefore set the window explicitly, each when
	// non-zero. Dev chains' block times run ahead of the wall clock: take
	// the window from the chain head there.
	ValidAfter, ValidBefore time.Time
	// Skew replaces DefaultSkew when positive.
	Skew time.Duration
	// Value replaces the required amount when non-nil (tests of overpayment).
	Value *big.Int
}

// SignAuthorization signs an EIP-3009 TransferWithAuthorization paying req
// with key, and returns the payment payload and its X-PAYMENT header value.
// The EIP-712 domain is token's EIP712Name/EIP712Version, or the
// requirement's extra.name/version where token leaves them empty; the amount
// is req's, in token's decimals when req does not give them.
func SignAuthorization(req *h402.PaymentRequirements, key *ecdsa.PrivateKey, token *config.Token, now time.Time, opts AuthorizationOptions) (*h402.PaymentPayload, string, error) {
	if req == nil || key == nil || token == nil {
		return nil, "", errors.New("sign authorization: requirements, key and token are required")
	}
	chainID, err := parseChainID(req.NetworkID)
	if err != nil {
		return nil, "", fmt.Errorf("sign authorization: %w", err)
	}
	contract, err := parseRequirementAddress("tokenAddress", req.TokenAddress)
	if err != nil {
		return nil, "", fmt.Errorf("sign authorization: %w", err)
	}
	payTo, err := parseRequirementAddress("payToAddress", req.PayToAddress)
	if err != nil {
		return nil, "", fmt.Errorf("sign authorization: %w", err)
	}
	value := opts.Value
	if value == nil {
		if value, err = req.Amount(token.Decimals); err != nil {
			return nil, "", fmt.Errorf("sign authorization: %w", err)
		}
	}
	if value.Sign() < 0 || value.Cmp(h402.MaxUint256) > 0 {
		return nil, "", fmt.Errorf("sign authorization: value %s is outside 0..2^256-1", value)
	}
	domain, err := payerDomain(req, token, chainID, contract)
	if err != nil {
		return nil, "", fmt.Errorf("sign authorization: %w", err)
	}

	skew := DefaultSkew
	if opts.Skew > 0 {
		skew = opts.Skew
	}
	lifetime := DefaultValidity
	if req.EstimatedProcessingTime != nil && *req.EstimatedProcessingTime > 0 {
		lifetime = time.Duration(*req.EstimatedProcessingTime) * time.Second
	}
	validAfter, validBefore := now.Add(-skew), now.Add(lifetime)
	if !opts.ValidAfter.IsZero() {
		validAfter = opts.ValidAfter
	}
	if !opts.ValidBefore.IsZero() {
		validBefore = opts.ValidBefore
	}
	if validAfter.Unix() < 0 || validBefore.Unix() < 0 {
		return nil, "", errors.New("sign authorization: validity window starts before 1970")
	}

	a := Authorization{
		From:        crypto.PubkeyToAddress(key.PublicKey),
		To:          payTo,
		Value:       value,
		ValidAfter:  big.NewInt(validAfter.Unix()),
		ValidBefore: big.NewInt(validBefore.Unix()),
	}
	if opts.Nonce != nil {
		a.Nonce = *opts.Nonce
	} else {
		r := opts.Rand
		if r == nil {
			r = rand.Reader
		}
		if _, err := io.ReadFull(r, a.Nonce[:]); err != nil {
			return nil, "", fmt.Errorf("sign authorization: draw nonce: %w", err)
		}
	}
	digest := a.Digest(domain.Separator())
	sig, err := signDigest(digest[:], key)
	if err != nil {
		return nil, "", fmt.Errorf("sign authorization: %w", err)
	}
	p := envelope(req, &h402.EVMAuthorizationPayload{
		Type:      h402.TypeAuthorization,
		Signature: sig,
		Authorization: h402.EVMAuthorization{
			From:        addrHex(a.From),
			To:          addrHex(a.To),
			Value:       h402.NewDecimal(a.Value),
			ValidAfter:  h402.NewDecimal(a.ValidAfter),
			ValidBefore: h402.NewDecimal(a.ValidBefore),
			Nonce:       lowerHex(a.Nonce[:]),
			Version:     domain.Version,
		},
	})
	return withHeader(p)
}

// payerDomain picks the EIP-712 domain a payer signs under.
func payerDomain(req *h402.PaymentRequirements, token *config.Token, chainID *big.Int, contract common.Address) (Domain, error) {
	d := Domain{Name: token.EIP712Name, Version: token.EIP712Version, ChainID: chainID, VerifyingContract: contract}
	if d.Name == "" || d.Version == "" {
		extra, err := req.ParsedExtra()
		if err != nil {
			return d, err
		}
		if d.Name == "" {
			d.Name = extra.Name
		}
		if d.Version == "" {
			d.Version = extra.Version
		}
	}
	if d.Name == "" || d.Version == "" {
		return d, errors.New("no EIP-712 name and version in the token config or the requirement's extra")
	}
	return d, nil
}

// TxOptions are the transaction fields SignTransaction cannot know.
type TxOptions struct {
	// Nonce is the sender's next account nonce.
	Nonce uint64
	// GasTipCap defaults to DefaultGasTipCap; GasFeeCap to twice the tip.
	GasTipCap, GasFeeCap *big.Int
	// GasLimit defaults to DefaultNativeGas or DefaultTokenGas.
	GasLimit uint64
}

// SignTransaction signs a dynamic-fee transaction paying req (a native
// transfer to payTo when token is native, else token.transfer(payTo,
// amount)), with the chain id from req.networkId, and returns the
// signedTransaction payload (with its EIP-191 signedMessage over req.resource)
// and its X-PAYMENT header value.
func SignTransaction(req *h402.PaymentRequirements, key *ecdsa.PrivateKey, token *config.Token, opts TxOptions) (*h402.PaymentPayload, string, error) {
	if req == nil || key == nil || token == nil {
		return nil, "", errors.New("sign transaction: requirements, key and token are required")
	}
	chainID, err := parseChainID(req.NetworkID)
	if err != nil {
		return nil, "", fmt.Errorf("sign transaction: %w", err)
	}
	contract, err := parseRequirementAddress("tokenAddress", req.TokenAddress)
	if err != nil {
		return nil, "", fmt.Errorf("sign transaction: %w", err)
	}
	payTo, err := parseRequirementAddress("payToAddress", req.PayToAddress)
	if err != nil {
		return nil, "", fmt.Errorf("sign transaction: %w", err)
	}
	amount, err := req.Amount(token.Decimals)
	if err != nil {
		return nil, "", fmt.Errorf("sign transaction: %w", err)
	}
	tip := opts.GasTipCap
	if tip == nil {
		tip = DefaultGasTipCap
	}
	feeCap := opts.GasFeeCap
	if feeCap == nil {
		feeCap = new(big.Int).Lsh(tip, 1)
	}
	txd := &types.DynamicFeeTx{ChainID: chainID, Nonce: opts.Nonce, GasTipCap: tip, GasFeeCap: feeCap, Gas: opts.GasLimit}
	if token.Kind == config.KindNative || contract == (common.Address{}) {
		txd.To, txd.Value = &payTo, amount
		if txd.Gas == 0 {
			txd.Gas = DefaultNativeGas
		}
	} else {
		txd.To, txd.Value, txd.Data = &contract, new(big.Int), TransferCalldata(payTo, amount)
		if txd.Gas == 0 {
			txd.Gas = DefaultTokenGas
		}
	}
	tx, err := types.SignNewTx(key, types.LatestSignerForChainID(chainID), txd)
	if err != nil {
		return nil, "", fmt.Errorf("sign transaction: %w", err)
	}
	return SignedTransactionPayload(req, key, tx)
}

// SignedTransactionPayload wraps an already signed transaction into a
// signedTransaction payload, signing req.resource with key (which must be the
// transaction's sender for the payment to verify).
func SignedTransactionPayload(req *h402.PaymentRequirements, key *ecdsa.PrivateKey, tx *types.Transaction) (*h402.PaymentPayload, string, error) {
	if req == nil || key == nil || tx == nil {
		return nil, "", errors.New("signed transaction payload: requirements, key and transaction are required")
	}
	raw, err := tx.MarshalBinary()
	if err != nil {
		return nil, "", fmt.Errorf("signed transaction payload: encode transaction: %w", err)
	}
	msg, err := SignResource(key, req.Resource)
	if err != nil {
		return nil, "", fmt.Errorf("signed transaction payload: %w", err)
	}
	return withHeader(envelope(req, &h402.EVMSignedTransactionPayload{
		Type:              h402.TypeSignedTransaction,
		SignedTransaction: lowerHex(raw),
		SignedMessage:     msg,
	}))
}

// SignAndSendPayload builds the signAndSendTransaction payload for a
// transaction the payer already broadcast: its hash and an EIP-191
// signature over req.resource by key, the transaction's sender.
func SignAndSendPayload(req *h402.PaymentRequirements, key *ecdsa.PrivateKey, txHash common.Hash) (*h402.PaymentPayload, string, error) {
	if req == nil || key == nil {
		return nil, "", errors.New("sign-and-send payload: requirements and key are required")
	}
	msg, err := SignResource(key, req.Resource)
	if err != nil {
		return nil, "", fmt.Errorf("sign-and-send payload: %w", err)
	}
	return withHeader(envelope(req, &h402.EVMSignAndSendPayload{
		Type:            h402.TypeSignAndSendTransaction,
		TransactionHash: lowerHex(txHash[:]),
		SignedMessage:   msg,
	}))
}

// SignResource returns the EIP-191 personal_sign signature of resource by
// key, as 0x hex with v in {27, 28}.
func SignResource(key *ecdsa.PrivateKey, resource string) (string, error) {
	if resource == "" {
		return "", errors.New("sign resource: the requirement names no resource")
	}
	return signDigest(personalHash(resource), key)
}

// signDigest signs a 32-byte digest: low s (libsecp256k1 normalises), v in {27, 28}.
func signDigest(digest []byte, key *ecdsa.PrivateKey) (string, error) {
	sig, err := crypto.Sign(digest, key)
	if err != nil {
		return "", fmt.Errorf("sign: %w", err)
	}
	sig[64] += 27
	return lowerHex(sig), nil
}

// envelope wraps an EVM payload variant for req.
func envelope(req *h402.PaymentRequirements, p h402.Payload) *h402.PaymentPayload {
	return &h402.PaymentPayload{
		H402Version: h402.Version,
		Scheme:      h402.SchemeExact,
		Namespace:   h402.NamespaceEVM,
		NetworkID:   req.NetworkID,
		Resource:    req.Resource,
		Payload:     p,
	}
}

// withHeader returns p with its X-PAYMENT header value.
func withHeader(p *h402.PaymentPayload) (*h402.PaymentPayload, string, error) {
	h, err := h402.EncodePaymentHeader(p)
	if err != nil {
		return nil, "", fmt.Errorf("encode payment header: %w", err)
	}
	return p, h, nil
}
