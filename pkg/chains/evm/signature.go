package evm

import (
	"bytes"
	"errors"
	"math/big"
	"strconv"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/h402/settlement/pkg/h402"
)

// SignatureLength is the length of an [R || S || V] secp256k1 signature.
const SignatureLength = 65

// The secp256k1 group order n and n/2, big-endian, for byte comparisons.
var (
	secpN     [32]byte
	secpHalfN [32]byte
)

func init() {
	n := crypto.S256().Params().N
	n.FillBytes(secpN[:])
	new(big.Int).Rsh(n, 1).FillBytes(secpHalfN[:])
}

// Signature is a secp256k1 signature split as Solidity's ecrecover and
// EIP-3009's transferWithAuthorization take it: V is 27 or 28.
type Signature struct {
	V uint8
	R [32]byte
	S [32]byte
}

// DecodeSignature parses a 0x-prefixed 65-byte hex signature as Verify does
// (v in {27,28} or {0,1}, r and s non-zero, r < n, low s) and returns it with
// V normalised to 27 or 28. Errors are *h402.Error with reason
// invalid_exact_evm_payload_signature.
func DecodeSignature(s string) (Signature, error) {
	sig, err := parseSignature("signature", s, h402.ReasonEVMSignature)
	if err != nil {
		return Signature{}, err
	}
	var out Signature
	copy(out.R[:], sig[:32])
	copy(out.S[:], sig[32:64])
	out.V = sig[64] + 27
	return out, nil
}

// parseSignature decodes a hex [R || S || V] signature, checks it is
// canonical and returns it with V in {0, 1}, ready for crypto.Ecrecover.
// Every failure carries reason.
func parseSignature(field, s string, reason h402.Reason) ([SignatureLength]byte, error) {
	var sig [SignatureLength]byte
	if !decodeFixedHex(sig[:], s) {
		return sig, h402.Errorf(reason, "%s is not 0x followed by %d hex-encoded bytes (got %d characters)", field, SignatureLength, len(s))
	}
	switch v := sig[64]; v {
	case 0, 1:
	case 27, 28:
		sig[64] = v - 27
	default:
		return sig, h402.Errorf(reason, "%s has recovery id v=%d; want 27, 28, 0 or 1", field, v)
	}
	r, sv := sig[:32], sig[32:64]
	var zero [32]byte
	if bytes.Equal(r, zero[:]) || bytes.Equal(sv, zero[:]) {
		return sig, h402.Errorf(reason, "%s has a zero r or s", field)
	}
	if bytes.Compare(r, secpN[:]) >= 0 {
		return sig, h402.Errorf(reason, "%s has r outside the secp256k1 group order", field)
	}
	if bytes.Compare(sv, secpHalfN[:]) > 0 {
		return sig, h402.Errorf(reason, "%s has a high s value (malleable signature); want s <= n/2", field)
	}
	return sig, nil
}

// recoverAddress returns the address whose key made sig over digest.
func recoverAddress(digest []byte, sig *[SignatureLength]byte) (common.Address, error) {
	var a common.Address
	pub, err := crypto.Ecrecover(digest, sig[:])
	if err != nil {
		return a, err
	}
	if len(pub) != 65 || pub[0] != 4 {
		return a, errBadPubkey
	}
	copy(a[:], crypto.Keccak256(pub[1:])[12:])
	return a, nil
}

var errBadPubkey = errors.New("recovered public key is not an uncompressed point")

// personalHash is the EIP-191 (version 0x45, personal_sign) hash of msg.
func personalHash(msg string) []byte {
	prefix := make([]byte, 0, 48)
	prefix = append(prefix, "\x19Ethereum Signed Message:\n"...)
	prefix = strconv.AppendInt(prefix, int64(len(msg)), 10)
	return crypto.Keccak256(prefix, []byte(msg))
}

// recoverPersonal checks a 65-byte EIP-191 signature over msg and returns its signer.
func recoverPersonal(field, sigHex, msg string) (common.Address, error) {
	sig, err := parseSignature(field, sigHex, h402.ReasonEVMSignedMessage)
	if err != nil {
		return common.Address{}, err
	}
	a, err := recoverAddress(personalHash(msg), &sig)
	if err != nil {
		return a, h402.Wrap(h402.ReasonEVMSignedMessage, err, field+" does not recover a signer")
	}
	return a, nil
}
