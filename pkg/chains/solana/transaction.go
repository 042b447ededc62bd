package solana

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"strings"

	bin "github.com/gagliardetto/binary"
	solanago "github.com/gagliardetto/solana-go"

	"github.com/h402/settlement/pkg/h402"
)

// MaxTransactionSize is the largest Solana wire transaction (the packet data size).
const MaxTransactionSize = 1232

// maxTransactionText is the longest base64 text of a MaxTransactionSize transaction.
var maxTransactionText = base64.StdEncoding.EncodedLen(MaxTransactionSize)

// wireTx is a decoded Solana transaction whose encoding is canonical: the
// bytes that were signed (msg) are exactly what solana-go re-encodes, so one
// message has one byte form and one replay key.
type wireTx struct {
	tx  *solanago.Transaction
	msg []byte // the message bytes every signature covers
}

// decodeTransactionText decodes the base64 transaction of a signTransaction
// payload (standard alphabet, padded or not).
func decodeTransactionText(s string) (*wireTx, error) {
	if s == "" {
		return nil, h402.Errorf(h402.ReasonSolanaTransaction, "payload.transaction is empty")
	}
	if len(s) > maxTransactionText {
		return nil, h402.Errorf(h402.ReasonSolanaTransaction, "payload.transaction is %d base64 characters, longer than a %d-byte transaction can be", len(s), MaxTransactionSize)
	}
	b, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(s, "="))
	if err != nil {
		return nil, h402.Wrap(h402.ReasonSolanaTransaction, err, "payload.transaction is not valid base64")
	}
	return decodeWire(b)
}

// decodeWire decodes and structurally checks a wire transaction. It does not
// verify signatures.
func decodeWire(b []byte) (w *wireTx, err error) {
	if len(b) == 0 {
		return nil, h402.Errorf(h402.ReasonSolanaTransaction, "transaction is empty")
	}
	if len(b) > MaxTransactionSize {
		return nil, h402.Errorf(h402.ReasonSolanaTransaction, "transaction is %d bytes, more than the %d a Solana transaction may have", len(b), MaxTransactionSize)
	}
	// solana-go's decoder is third-party code fed hostile bytes; a panic in
	// it must become a rejection, not a crashed ingest.
	defer func() {
		if p := recover(); p != nil {
			w, err = nil, h402.Errorf(h402.ReasonSolanaTransaction, "transaction could not be decoded (%v)", p)
		}
	}()
	dec := bin.NewBinDecoder(b)
	tx := new(solanago.Transaction)
	if err := tx.UnmarshalWithDecoder(dec); err != nil {
		return nil, h402.Wrap(h402.ReasonSolanaTransaction, err, "transaction is not a valid Solana wire transaction")
	}
	if dec.Remaining() != 0 {
		return nil, h402.Errorf(h402.ReasonSolanaTransaction, "transaction has %d trailing bytes", dec.Remaining())
	}
	msg, err := tx.Message.MarshalBinary()
	if err != nil {
		return nil, h402.Wrap(h402.ReasonSolanaTransaction, err, "transaction message has an unsupported version")
	}
	var canon []byte
	bin.EncodeCompactU16Length(&canon, len(tx.Signatures))
	for i := range tx.Signatures {
		canon = append(canon, tx.Signatures[i][:]...)
	}
	if len(canon)+len(msg) != len(b) || !bytes.Equal(canon, b[:len(canon)]) || !bytes.Equal(msg, b[len(canon):]) {
		return nil, h402.Errorf(h402.ReasonSolanaTransaction, "transaction is not canonically encoded")
	}
	w = &wireTx{tx: tx, msg: b[len(canon):]}
	if err := w.checkStructure(); err != nil {
		return nil, err
	}
	return w, nil
}

// checkStructure enforces what the runtime's sanitizer would, so that later
// index lookups cannot go out of range.
func (w *wireTx) checkStructure() error {
	m := &w.tx.Message
	h := m.Header
	nkeys := len(m.AccountKeys)
	switch {
	case len(m.AddressTableLookups) > 0:
		return h402.Errorf(h402.ReasonSolanaTransaction, "transaction uses %d address lookup tables; payments must list every account", len(m.AddressTableLookups))
	case h.NumRequiredSignatures == 0:
		return h402.Errorf(h402.ReasonSolanaTransaction, "transaction requires no signatures")
	case int(h.NumRequiredSignatures) != len(w.tx.Signatures):
		return h402.Errorf(h402.ReasonSolanaTransaction, "transaction carries %d signatures but its message requires %d", len(w.tx.Signatures), h.NumRequiredSignatures)
	case int(h.NumRequiredSignatures) > nkeys:
		return h402.Errorf(h402.ReasonSolanaTransaction, "transaction requires %d signatures but lists %d accounts", h.NumRequiredSignatures, nkeys)
	case h.NumReadonlySignedAccounts >= h.NumRequiredSignatures:
		return h402.Errorf(h402.ReasonSolanaTransaction, "transaction's fee payer is read-only")
	case int(h.NumReadonlyUnsignedAccounts) > nkeys-int(h.NumRequiredSignatures):
		return h402.Errorf(h402.ReasonSolanaTransaction, "transaction header counts %d read-only unsigned accounts of %d", h.NumReadonlyUnsignedAccounts, nkeys-int(h.NumRequiredSignatures))
	}
	seen := make(map[solanago.PublicKey]struct{}, nkeys)
	for _, k := range m.AccountKeys {
		if _, dup := seen[k]; dup {
			return h402.Errorf(h402.ReasonSolanaTransaction, "transaction lists account %s twice", k)
		}
		seen[k] = struct{}{}
	}
	for i, ix := range m.Instructions {
		if ix.ProgramIDIndex == 0 || int(ix.ProgramIDIndex) >= nkeys {
			return h402.Errorf(h402.ReasonSolanaTransaction, "instruction %d names program index %d of %d accounts", i, ix.ProgramIDIndex, nkeys)
		}
		for _, a := range ix.Accounts {
			if int(a) >= nkeys {
				return h402.Errorf(h402.ReasonSolanaTransaction, "instruction %d names account index %d of %d accounts", i, a, nkeys)
			}
		}
	}
	return nil
}

// feePayer is the transaction's fee payer, its first account.
func (w *wireTx) feePayer() solanago.PublicKey { return w.tx.Message.AccountKeys[0] }

// isSigner reports whether account index i must sign.
func (w *wireTx) isSigner(i uint16) bool {
	return int(i) < int(w.tx.Message.Header.NumRequiredSignatures)
}

// verifySignatures checks every required signature over the message bytes.
// With emptyFeePayer, the fee payer's slot may be all zeros (the facilitator
// signs it at settlement); every other signature must be present and valid.
func (w *wireTx) verifySignatures(emptyFeePayer bool) error {
	keys := w.tx.Message.AccountKeys
	for i := range w.tx.Signatures {
		sig := &w.tx.Signatures[i]
		if sig.IsZero() {
			if i == 0 && emptyFeePayer {
				continue
			}
			return h402.Errorf(h402.ReasonSolanaSignature, "signature %d (by %s) is missing", i, keys[i])
		}
		if !ed25519.Verify(keys[i][:], w.msg, sig[:]) {
			return h402.Errorf(h402.ReasonSolanaSignature, "signature %d (by %s) does not verify over the transaction message", i, keys[i])
		}
	}
	return nil
}

// firstSignature is the transaction id, or "" when the fee payer has not signed yet.
func (w *wireTx) firstSignature() string {
	if w.tx.Signatures[0].IsZero() {
		return ""
	}
	return w.tx.Signatures[0].String()
}
