package solana

import (
	"fmt"

	solanago "github.com/gagliardetto/solana-go"
)

// AddFeePayerSignature fills tx's fee-payer signature slot with feePayer's
// signature. It refuses when feePayer is not the transaction's fee payer, or
// when feePayer appears in any instruction's accounts (it would pay more than
// the fee). The settler calls it on a verified fee-payer-variant payment.
func AddFeePayerSignature(tx *solanago.Transaction, feePayer solanago.PrivateKey) error {
	if err := feePayer.Validate(); err != nil {
		return fmt.Errorf("co-sign: fee payer key: %w", err)
	}
	pub := feePayer.PublicKey()
	m := &tx.Message
	if len(m.AccountKeys) == 0 || m.AccountKeys[0] != pub {
		return fmt.Errorf("co-sign: %s is not the transaction's fee payer", pub)
	}
	if m.Header.NumRequiredSignatures == 0 || len(tx.Signatures) != int(m.Header.NumRequiredSignatures) {
		return fmt.Errorf("co-sign: transaction carries %d signatures for %d signers", len(tx.Signatures), m.Header.NumRequiredSignatures)
	}
	for i := range m.Instructions {
		for _, a := range m.Instructions[i].Accounts {
			if int(a) >= len(m.AccountKeys) || m.AccountKeys[a] == pub {
				return fmt.Errorf("co-sign: instruction %d names the fee payer %s or an unknown account", i, pub)
			}
		}
	}
	msg, err := m.MarshalBinary()
	if err != nil {
		return fmt.Errorf("co-sign: encode message: %w", err)
	}
	sig, err := feePayer.Sign(msg)
	if err != nil {
		return fmt.Errorf("co-sign: %w", err)
	}
	tx.Signatures[0] = sig
	return nil
}

// CoSign decodes a base64 signTransaction transaction, adds feePayer's
// signature, checks that every signature now verifies, and returns the wire
// bytes to broadcast and the transaction's id (its first signature).
func CoSign(txBase64 string, feePayer solanago.PrivateKey) ([]byte, solanago.Signature, error) {
	w, err := decodeTransactionText(txBase64)
	if err != nil {
		return nil, solanago.Signature{}, fmt.Errorf("co-sign: %w", err)
	}
	if err := AddFeePayerSignature(w.tx, feePayer); err != nil {
		return nil, solanago.Signature{}, err
	}
	if err := w.verifySignatures(false); err != nil {
		return nil, solanago.Signature{}, fmt.Errorf("co-sign: %w", err)
	}
	wire, err := w.tx.MarshalBinary()
	if err != nil {
		return nil, solanago.Signature{}, fmt.Errorf("co-sign: encode: %w", err)
	}
	return wire, w.tx.Signatures[0], nil
}
