package solana

import (
	"crypto/sha256"
	"encoding/hex"

	solanago "github.com/gagliardetto/solana-go"

	"github.com/h402/settlement/pkg/chains"
	"github.com/h402/settlement/pkg/h402"
)

// Replay keys (PROTOCOL.md §6) are NATS subject tokens and KV keys: only
// [A-Za-z0-9_-] inside a token, '.' between tokens.
//
//	signTransaction:        solana.<networkId>.msg.<hex sha256 of the message bytes>
//	signAndSendTransaction: solana.<networkId>.sig.<base58 signature>
//
// A signer can make many valid signatures of one message, so a transaction
// the facilitator submits is keyed by its message, never its signature bytes.

// ReplayKey returns the payment's replay key without checking signatures or
// the instruction layout. It decodes the transaction, so a malformed one
// fails here with the same reason as in Verify.
func (*Verifier) ReplayKey(r *chains.Request) (string, error) {
	if r == nil || r.Payload == nil || r.Payload.Payload == nil {
		return "", h402.Errorf(h402.ReasonInvalidPayload, "request carries no payment payload")
	}
	switch p := r.Payload.Payload.(type) {
	case *h402.SolanaSignTransactionPayload:
		w, err := decodeTransactionText(p.Transaction)
		if err != nil {
			return "", err
		}
		return messageKey(r, w.msg)
	case *h402.SolanaSignAndSendPayload:
		sig, err := parseSignature(p.Signature)
		if err != nil {
			return "", err
		}
		return signatureKey(r, sig)
	default:
		return "", h402.Errorf(h402.ReasonInvalidPayload, "payload type %T is not a Solana payment", r.Payload.Payload)
	}
}

// MessageReplayKey is the replay key of a signTransaction payment on
// networkID whose transaction message bytes are msg.
func MessageReplayKey(networkID string, msg []byte) string {
	sum := sha256.Sum256(msg)
	return "solana." + networkID + ".msg." + hex.EncodeToString(sum[:])
}

// SignatureReplayKey is the replay key of a signAndSendTransaction payment.
func SignatureReplayKey(networkID string, sig solanago.Signature) string {
	return "solana." + networkID + ".sig." + sig.String()
}

func messageKey(r *chains.Request, msg []byte) (string, error) {
	n, err := networkToken(r)
	if err != nil {
		return "", err
	}
	return MessageReplayKey(n, msg), nil
}

func signatureKey(r *chains.Request, sig solanago.Signature) (string, error) {
	n, err := networkToken(r)
	if err != nil {
		return "", err
	}
	return SignatureReplayKey(n, sig), nil
}

// networkToken is the network id for keys: the configured network's, else
// the payload's; it must be a safe subject token.
func networkToken(r *chains.Request) (string, error) {
	id := ""
	if r.Network != nil {
		id = r.Network.NetworkID
	} else if r.Payload != nil {
		id = r.Payload.NetworkID
	}
	if id == "" || len(id) > 64 {
		return "", h402.Errorf(h402.ReasonInvalidNetwork, "network id %q is empty or too long", id)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return "", h402.Errorf(h402.ReasonInvalidNetwork, "network id %q may only hold letters, digits, '_' and '-'", id)
		}
	}
	return id, nil
}

// parseSignature decodes a base58 transaction signature of exactly 64 bytes.
func parseSignature(s string) (solanago.Signature, error) {
	var sig solanago.Signature
	if s == "" {
		return sig, h402.Errorf(h402.ReasonSolanaSignature, "payload.signature is empty")
	}
	if len(s) > 100 { // 64 bytes are at most 88 base58 characters
		return sig, h402.Errorf(h402.ReasonSolanaSignature, "payload.signature is %d characters, too long for a signature", len(s))
	}
	sig, err := solanago.SignatureFromBase58(s)
	if err != nil {
		return sig, h402.Wrap(h402.ReasonSolanaSignature, err, "payload.signature is not the base58 text of a 64-byte signature")
	}
	if sig.IsZero() {
		return sig, h402.Errorf(h402.ReasonSolanaSignature, "payload.signature is all zeros")
	}
	return sig, nil
}
