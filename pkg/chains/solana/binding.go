package solana

import (
	"crypto/ed25519"

	solanago "github.com/gagliardetto/solana-go"

	"github.com/h402/settlement/pkg/chains"
	"github.com/h402/settlement/pkg/h402"
)

// A client-broadcast payment (signAndSendTransaction) names a transaction
// already on chain. Anyone can see a transfer of the right amount to the
// seller and report it, so the transaction alone proves nothing about who
// asks for the service (PROTOCOL.md §3, stricter than the reference). The
// payload's signedMessage binds it to the request: an ed25519 signature, by
// one of the transaction's signers, of BindingMessage. That signer is the
// payer. The signature travels only in the X-PAYMENT header, never on chain,
// so an observer of the chain cannot produce it (a Memo on chain could be
// copied by whoever claims the transaction first), and it names the
// transaction, so it cannot be reused for another one.

// bindingPrefix starts every binding message. No Solana transaction message
// starts with these bytes that also verify as one, and it tells a wallet's
// signMessage prompt what is being signed.
const bindingPrefix = "h402 signAndSendTransaction "

// BindingMessage is the message a client-broadcast payment's payer signs:
//
//	"h402 signAndSendTransaction " + <transaction signature, base58> + " " + <resource URL>
//
// as UTF-8 bytes, where resource is the requirement's resource (or the
// payload's when the requirement names none).
func BindingMessage(resource string, tx solanago.Signature) []byte {
	return []byte(bindingPrefix + tx.String() + " " + resource)
}

// SignBinding signs the binding message of transaction tx for resource with
// key and returns the payload's signedMessage (base58).
func SignBinding(key solanago.PrivateKey, resource string, tx solanago.Signature) (string, error) {
	sig, err := key.Sign(BindingMessage(resource, tx))
	if err != nil {
		return "", err
	}
	return sig.String(), nil
}

// resourceOf is the text a client-broadcast payment binds: the requirement's
// resource, or the payload's when the requirement has none.
func resourceOf(r *chains.Request) (string, error) {
	if r.Requirements.Resource != "" {
		return r.Requirements.Resource, nil
	}
	if r.Payload.Resource != "" {
		return r.Payload.Resource, nil
	}
	return "", h402.Errorf(h402.ReasonInvalidPaymentRequirements, "payment requirements name no resource for a client-broadcast payment to be bound to")
}

// parseBinding decodes a payload's signedMessage: base58 of 64 bytes.
func parseBinding(s string) (solanago.Signature, error) {
	if s == "" {
		return solanago.Signature{}, h402.Errorf(h402.ReasonPaymentNotBound, "signAndSendTransaction has no signedMessage: sign the binding message (transaction signature and resource) with the paying key")
	}
	if len(s) > 100 {
		return solanago.Signature{}, h402.Errorf(h402.ReasonInvalidPayload, "payload.signedMessage is %d characters, too long for a signature", len(s))
	}
	sig, err := solanago.SignatureFromBase58(s)
	if err != nil {
		return sig, h402.Wrap(h402.ReasonInvalidPayload, err, "payload.signedMessage is not the base58 text of a 64-byte signature")
	}
	return sig, nil
}

// boundSigner returns the signer of tx whose signature of the binding
// message is bound, or payment_not_bound.
func boundSigner(r *chains.Request, tx *solanago.Transaction, txSig solanago.Signature, bound solanago.Signature) (solanago.PublicKey, error) {
	resource, err := resourceOf(r)
	if err != nil {
		return solanago.PublicKey{}, err
	}
	msg := BindingMessage(resource, txSig)
	keys := tx.Message.AccountKeys
	n := min(int(tx.Message.Header.NumRequiredSignatures), len(keys))
	for _, k := range keys[:n] {
		if ed25519.Verify(ed25519.PublicKey(k[:]), msg, bound[:]) {
			return k, nil
		}
	}
	return solanago.PublicKey{}, h402.Errorf(h402.ReasonPaymentNotBound, "signedMessage is not a signature by any signer of transaction %s over its binding message for resource %q", txSig, clip(resource))
}
