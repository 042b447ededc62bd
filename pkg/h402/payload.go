package h402

import (
	"bytes"
	"encoding/json"
	"errors"
)

// PayloadType discriminates the payload of a PaymentPayload.
type PayloadType string

// Payload types.
const (
	TypeAuthorization          PayloadType = "authorization"          // EVM EIP-3009
	TypeSignedTransaction      PayloadType = "signedTransaction"      // EVM raw tx the facilitator broadcasts
	TypeSignAndSendTransaction PayloadType = "signAndSendTransaction" // EVM or Solana, already broadcast
	TypeSignTransaction        PayloadType = "signTransaction"        // Solana wire tx the facilitator broadcasts
)

// PaymentPayload is the decoded X-PAYMENT header.
type PaymentPayload struct {
	H402Version int       `json:"h402Version"`
	Scheme      string    `json:"scheme"`
	Namespace   Namespace `json:"namespace"`
	NetworkID   string    `json:"networkId"`
	Resource    string    `json:"resource,omitempty"`
	Payload     Payload   `json:"payload"`
}

// Payload is one of the payload variants below.
type Payload interface {
	PayloadType() PayloadType
}

// EVMAuthorization is an EIP-3009 TransferWithAuthorization message.
type EVMAuthorization struct {
	From        string  `json:"from"`
	To          string  `json:"to"`
	Value       Decimal `json:"value"`
	ValidAfter  Decimal `json:"validAfter"`
	ValidBefore Decimal `json:"validBefore"`
	Nonce       string  `json:"nonce"`
	Version     string  `json:"version,omitempty"`
}

// EVMAuthorizationPayload carries a signed EIP-3009 authorization.
type EVMAuthorizationPayload struct {
	Type          PayloadType      `json:"type"`
	Signature     string           `json:"signature"`
	Authorization EVMAuthorization `json:"authorization"`
}

// EVMSignedTransactionPayload carries a raw signed transaction for the facilitator to broadcast.
type EVMSignedTransactionPayload struct {
	Type              PayloadType `json:"type"`
	SignedTransaction string      `json:"signedTransaction"`
	SignedMessage     string      `json:"signedMessage"`
}

// EVMSignAndSendPayload names a transaction the client already broadcast.
type EVMSignAndSendPayload struct {
	Type            PayloadType `json:"type"`
	TransactionHash string      `json:"transactionHash"`
	SignedMessage   string      `json:"signedMessage"`
}

// SolanaSignTransactionPayload carries a base64 wire transaction.
type SolanaSignTransactionPayload struct {
	Type        PayloadType `json:"type"`
	Transaction string      `json:"transaction"`
	Signature   string      `json:"signature,omitempty"`
}

// SolanaSignAndSendPayload names a transaction the client already broadcast.
// SignedMessage binds it to the request: the base58 ed25519 signature, by a
// signer of the transaction, of the binding message (see
// pkg/chains/solana.BindingMessage: the transaction's signature and the resource).
type SolanaSignAndSendPayload struct {
	Type          PayloadType `json:"type"`
	Signature     string      `json:"signature"`
	SignedMessage string      `json:"signedMessage,omitempty"`
}

func (*EVMAuthorizationPayload) PayloadType() PayloadType     { return TypeAuthorization }
func (*EVMSignedTransactionPayload) PayloadType() PayloadType { return TypeSignedTransaction }
func (*EVMSignAndSendPayload) PayloadType() PayloadType       { return TypeSignAndSendTransaction }
func (*SolanaSignTransactionPayload) PayloadType() PayloadType {
	return TypeSignTransaction
}
func (*SolanaSignAndSendPayload) PayloadType() PayloadType { return TypeSignAndSendTransaction }

// payloadUnion holds the fields of every payload variant, so that a
// well-formed payload decodes in one pass.
type payloadUnion struct {
	Type              PayloadType       `json:"type"`
	Signature         string            `json:"signature"`
	Authorization     *EVMAuthorization `json:"authorization"`
	SignedTransaction string            `json:"signedTransaction"`
	SignedMessage     string            `json:"signedMessage"`
	TransactionHash   string            `json:"transactionHash"`
	Transaction       string            `json:"transaction"`
}

// variant returns the typed payload, or nil when namespace and type name none.
func (u *payloadUnion) variant(ns Namespace) Payload {
	switch {
	case ns == NamespaceEVM && u.Type == TypeAuthorization && u.Authorization != nil:
		return &EVMAuthorizationPayload{Type: u.Type, Signature: u.Signature, Authorization: *u.Authorization}
	case ns == NamespaceEVM && u.Type == TypeSignedTransaction:
		return &EVMSignedTransactionPayload{Type: u.Type, SignedTransaction: u.SignedTransaction, SignedMessage: u.SignedMessage}
	case ns == NamespaceEVM && u.Type == TypeSignAndSendTransaction:
		return &EVMSignAndSendPayload{Type: u.Type, TransactionHash: u.TransactionHash, SignedMessage: u.SignedMessage}
	case ns == NamespaceSolana && u.Type == TypeSignTransaction:
		return &SolanaSignTransactionPayload{Type: u.Type, Transaction: u.Transaction, Signature: u.Signature}
	case ns == NamespaceSolana && u.Type == TypeSignAndSendTransaction:
		return &SolanaSignAndSendPayload{Type: u.Type, Signature: u.Signature, SignedMessage: u.SignedMessage}
	}
	return nil
}

// UnmarshalJSON decodes the envelope and then the payload variant chosen by
// namespace and payload.type. Unknown discriminators fail with a specific
// reason. A well-formed payload decodes in one pass; anything else takes the
// careful path, which says precisely what is wrong.
func (p *PaymentPayload) UnmarshalJSON(b []byte) error {
	var fast struct {
		H402Version *int          `json:"h402Version"`
		Scheme      string        `json:"scheme"`
		Namespace   Namespace     `json:"namespace"`
		NetworkID   string        `json:"networkId"`
		Resource    string        `json:"resource"`
		Payload     *payloadUnion `json:"payload"`
	}
	if json.Unmarshal(b, &fast) == nil && fast.H402Version != nil && fast.Payload != nil {
		if inner := fast.Payload.variant(fast.Namespace); inner != nil {
			*p = PaymentPayload{
				H402Version: *fast.H402Version,
				Scheme:      fast.Scheme,
				Namespace:   fast.Namespace,
				NetworkID:   fast.NetworkID,
				Resource:    fast.Resource,
				Payload:     inner,
			}
			return nil
		}
	}
	return p.unmarshalCareful(b)
}

func (p *PaymentPayload) unmarshalCareful(b []byte) error {
	var env struct {
		H402Version json.RawMessage `json:"h402Version"`
		Scheme      string          `json:"scheme"`
		Namespace   Namespace       `json:"namespace"`
		NetworkID   string          `json:"networkId"`
		Resource    string          `json:"resource"`
		Payload     json.RawMessage `json:"payload"`
	}
	if err := json.Unmarshal(b, &env); err != nil {
		return Wrap(ReasonInvalidPayload, err, "payment payload is not a valid JSON object")
	}
	if len(env.H402Version) == 0 || isJSONNull(env.H402Version) {
		return Errorf(ReasonInvalidVersion, "payment payload has no h402Version")
	}
	var version int
	if err := json.Unmarshal(env.H402Version, &version); err != nil {
		return Wrap(ReasonInvalidVersion, err, "payment payload h402Version is not an integer")
	}
	if len(env.Payload) == 0 || isJSONNull(env.Payload) {
		return Errorf(ReasonInvalidPayload, "payment payload has no payload object")
	}
	if t := bytes.TrimSpace(env.Payload); t[0] != '{' {
		return Errorf(ReasonInvalidPayload, "payload is not a JSON object")
	}
	var head struct {
		Type PayloadType `json:"type"`
	}
	if err := json.Unmarshal(env.Payload, &head); err != nil {
		return Wrap(ReasonInvalidPayload, err, "payload type is not a string")
	}
	var inner Payload
	switch env.Namespace {
	case NamespaceEVM:
		switch head.Type {
		case TypeAuthorization:
			inner = new(EVMAuthorizationPayload)
		case TypeSignedTransaction:
			inner = new(EVMSignedTransactionPayload)
		case TypeSignAndSendTransaction:
			inner = new(EVMSignAndSendPayload)
		}
	case NamespaceSolana:
		switch head.Type {
		case TypeSignTransaction:
			inner = new(SolanaSignTransactionPayload)
		case TypeSignAndSendTransaction:
			inner = new(SolanaSignAndSendPayload)
		}
	case "":
		return Errorf(ReasonInvalidNetwork, "payment payload has no namespace")
	default:
		return Errorf(ReasonInvalidNetwork, "namespace %q is not supported (want evm or solana)", string(env.Namespace))
	}
	if inner == nil {
		if head.Type == "" {
			return Errorf(ReasonInvalidPayload, "payload has no type")
		}
		return Errorf(ReasonUnsupportedPayloadType, "payload type %q is not known for namespace %s", string(head.Type), env.Namespace)
	}
	if err := json.Unmarshal(env.Payload, inner); err != nil {
		var e *Error
		if errors.As(err, &e) {
			return e
		}
		return Wrap(ReasonInvalidPayload, err, "payload fields have the wrong types")
	}
	*p = PaymentPayload{
		H402Version: version,
		Scheme:      env.Scheme,
		Namespace:   env.Namespace,
		NetworkID:   env.NetworkID,
		Resource:    env.Resource,
		Payload:     inner,
	}
	return nil
}
