package evm

import (
	"math/big"

	"github.com/ethereum/go-ethereum/common"

	"github.com/h402/settlement/pkg/chains"
	"github.com/h402/settlement/pkg/config"
	"github.com/h402/settlement/pkg/h402"
)

var _ chains.Verifier = (*Verifier)(nil)

// Verifier checks EVM payments locally, without chain state. The zero value
// is ready to use and safe for concurrent use; it caches EIP-712 domain
// separators per token.
type Verifier struct {
	domains domainCache
}

// NewVerifier returns a Verifier.
func NewVerifier() *Verifier { return new(Verifier) }

// Namespace returns evm.
func (*Verifier) Namespace() h402.Namespace { return h402.NamespaceEVM }

// Verify checks an EVM payment as far as no chain state is needed and returns
// what it establishes, with the replay key as Payment.ID. The caller has done
// the common checks (version, scheme, network, token allow-list, amount).
// Errors are *h402.Error with a specific reason.
//
// A zero Policy.MaxValidity means config.DefaultVerify's maximum, never "no
// limit"; a negative MinValidBeforeMargin counts as zero.
func (v *Verifier) Verify(r *chains.Request) (*chains.Payment, error) {
	q, err := prepare(r, true)
	if err != nil {
		return nil, err
	}
	switch p := r.Payload.Payload.(type) {
	case *h402.EVMAuthorizationPayload:
		return v.verifyAuthorization(q, p)
	case *h402.EVMSignedTransactionPayload:
		return verifySignedTransaction(q, p)
	case *h402.EVMSignAndSendPayload:
		return verifySignAndSend(q, p)
	default:
		return nil, wrongVariant(r.Payload.Payload)
	}
}

// ReplayKey returns the payment's replay key (PROTOCOL.md §6) without checking
// signatures; for a signedTransaction it decodes the transaction and recovers
// its sender. Keys hold only [a-z0-9.] and lowercase hex, so they are valid
// NATS subject tokens and JetStream KV keys.
func (*Verifier) ReplayKey(r *chains.Request) (string, error) {
	q, err := prepare(r, false)
	if err != nil {
		return "", err
	}
	switch p := r.Payload.Payload.(type) {
	case *h402.EVMAuthorizationPayload:
		from, err := parseAddress("authorization.from", p.Authorization.From)
		if err != nil {
			return "", err
		}
		nonce, err := parseNonce(p.Authorization.Nonce)
		if err != nil {
			return "", err
		}
		return AuthorizationKey(q.chainID, q.token, from, nonce), nil
	case *h402.EVMSignedTransactionPayload:
		tx, err := decodeSignedTx(q, p.SignedTransaction)
		if err != nil {
			return "", err
		}
		return TransactionKey(q.chainID, tx.sender, tx.tx.Nonce()), nil
	case *h402.EVMSignAndSendPayload:
		hash, err := parseTxHash(p.TransactionHash)
		if err != nil {
			return "", err
		}
		return TxHashKey(q.chainID, hash), nil
	default:
		return "", wrongVariant(r.Payload.Payload)
	}
}

// request is a chains.Request with its EVM fields parsed.
type request struct {
	*chains.Request
	chainID *big.Int
	token   common.Address
	payTo   common.Address // set for verification only
}

// prepare checks what the EVM checks rely on, defending against a caller
// that skipped the common checks. full adds what Verify needs beyond the key.
func prepare(r *chains.Request, full bool) (*request, error) {
	if r == nil || r.Requirements == nil {
		return nil, h402.Errorf(h402.ReasonInvalidPaymentRequirements, "no payment requirements given")
	}
	if r.Payload == nil || isNilPayload(r.Payload.Payload) {
		return nil, h402.Errorf(h402.ReasonInvalidPayload, "no payment payload given")
	}
	if r.Requirements.Namespace != h402.NamespaceEVM {
		return nil, h402.Errorf(h402.ReasonInvalidNetwork, "payment requirements are for namespace %q, not evm", clip(string(r.Requirements.Namespace)))
	}
	if r.Payload.Namespace != h402.NamespaceEVM {
		return nil, h402.Errorf(h402.ReasonInvalidPayload, "payment payload is for namespace %q, not evm", clip(string(r.Payload.Namespace)))
	}
	if r.Payload.NetworkID != r.Requirements.NetworkID {
		return nil, h402.Errorf(h402.ReasonInvalidNetwork, "payment payload is for network %q but the requirements are for %q", clip(r.Payload.NetworkID), clip(r.Requirements.NetworkID))
	}
	if r.Network != nil && (r.Network.Namespace != h402.NamespaceEVM || r.Network.NetworkID != r.Requirements.NetworkID) {
		return nil, h402.Errorf(h402.ReasonInvalidNetwork, "configured network %s %q does not match the requirements' evm network %q", r.Network.Namespace, r.Network.NetworkID, clip(r.Requirements.NetworkID))
	}
	chainID, err := parseChainID(r.Requirements.NetworkID)
	if err != nil {
		return nil, err
	}
	token, err := parseRequirementAddress("tokenAddress", r.Requirements.TokenAddress)
	if err != nil {
		return nil, err
	}
	q := &request{Request: r, chainID: chainID, token: token}
	if !full {
		return q, nil
	}
	if q.payTo, err = parseRequirementAddress("payToAddress", r.Requirements.PayToAddress); err != nil {
		return nil, err
	}
	if r.Token == nil {
		return nil, h402.Errorf(h402.ReasonTokenNotSupported, "token %s is not configured on evm network %s", addrHex(token), chainID)
	}
	if !sameAddress(r.Token.Address, r.Requirements.TokenAddress) {
		return nil, h402.Errorf(h402.ReasonTokenNotSupported, "configured token %s is not the required token %s", clip(r.Token.Address), addrHex(token))
	}
	native := token == (common.Address{})
	switch r.Token.Kind {
	case config.KindNative:
		if !native {
			return nil, h402.Errorf(h402.ReasonTokenNotSupported, "token %s is configured as native but is not the native marker %s", addrHex(token), h402.EVMNativeToken)
		}
	case config.KindEIP3009, config.KindERC20:
		if native {
			return nil, h402.Errorf(h402.ReasonTokenNotSupported, "the native marker %s is configured as token kind %s", h402.EVMNativeToken, r.Token.Kind)
		}
	default:
		return nil, h402.Errorf(h402.ReasonTokenNotSupported, "token kind %q is not an EVM token kind", clip(string(r.Token.Kind)))
	}
	if r.Amount == nil || r.Amount.Sign() <= 0 || r.Amount.Cmp(h402.MaxUint256) > 0 {
		return nil, h402.Errorf(h402.ReasonInvalidPaymentRequirements, "required amount is missing or outside 1..2^256-1")
	}
	return q, nil
}

// resource returns the text a client-broadcast payment signs: the
// requirement's resource, or the payload's when the requirement has none.
func (q *request) resource() (string, error) {
	if q.Requirements.Resource != "" {
		return q.Requirements.Resource, nil
	}
	if q.Payload.Resource != "" {
		return q.Payload.Resource, nil
	}
	return "", h402.Errorf(h402.ReasonInvalidPaymentRequirements, "payment requirements name no resource for signedMessage to sign")
}

// payment fills the fields every EVM payment shares.
func (q *request) payment(id string, t h402.PayloadType, payer common.Address, amount *big.Int) *chains.Payment {
	return &chains.Payment{
		ID:        id,
		Namespace: h402.NamespaceEVM,
		NetworkID: q.chainID.String(),
		Type:      t,
		Token:     addrHex(q.token),
		Payer:     addrHex(payer),
		PayTo:     addrHex(q.payTo),
		Amount:    new(big.Int).Set(amount),
	}
}

func wrongVariant(p h402.Payload) error {
	return h402.Errorf(h402.ReasonInvalidPayload, "payload type %q is not an EVM payload", clip(string(p.PayloadType())))
}

// isNilPayload reports a missing payload, including a typed nil pointer.
func isNilPayload(p h402.Payload) bool {
	switch p := p.(type) {
	case nil:
		return true
	case *h402.EVMAuthorizationPayload:
		return p == nil
	case *h402.EVMSignedTransactionPayload:
		return p == nil
	case *h402.EVMSignAndSendPayload:
		return p == nil
	}
	return false
}
