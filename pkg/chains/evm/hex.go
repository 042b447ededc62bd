package evm

import (
	"encoding/hex"
	"math/big"
	"strings"

	"github.com/ethereum/go-ethereum/common"

	"github.com/h402/settlement/pkg/h402"
)

// has0x reports whether s starts with 0x or 0X.
func has0x(s string) bool { return len(s) >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') }

// decodeFixedHex decodes s, which must be 0x followed by exactly 2*len(dst)
// hex digits, into dst.
func decodeFixedHex(dst []byte, s string) bool {
	if !has0x(s) || len(s) != 2+2*len(dst) {
		return false
	}
	_, err := hex.Decode(dst, []byte(s[2:]))
	return err == nil
}

// parseAddress parses a 0x-prefixed 20-byte hex address (any letter case).
func parseAddress(field, s string) (common.Address, error) {
	var a common.Address
	if !decodeFixedHex(a[:], s) {
		return a, h402.Errorf(h402.ReasonInvalidPayload, "%s %q is not a 0x-prefixed 20-byte hex address", field, clip(s))
	}
	return a, nil
}

// parseRequirementAddress is parseAddress for fields of the payment requirements.
func parseRequirementAddress(field, s string) (common.Address, error) {
	var a common.Address
	if !decodeFixedHex(a[:], s) {
		return a, h402.Errorf(h402.ReasonInvalidPaymentRequirements, "%s %q is not a 0x-prefixed 20-byte hex address", field, clip(s))
	}
	return a, nil
}

// parseChainID parses an EVM networkId: a decimal chain id without sign or
// leading zeros, at most 78 digits.
func parseChainID(networkID string) (*big.Int, error) {
	bad := networkID == "" || len(networkID) > h402.MaxAmountDigits || (networkID[0] == '0' && len(networkID) > 1)
	for i := 0; !bad && i < len(networkID); i++ {
		bad = networkID[i] < '0' || networkID[i] > '9'
	}
	if bad {
		return nil, h402.Errorf(h402.ReasonInvalidNetwork, "EVM networkId %q is not a decimal chain id", clip(networkID))
	}
	id, _ := new(big.Int).SetString(networkID, 10)
	if id.Sign() == 0 {
		return nil, h402.Errorf(h402.ReasonInvalidNetwork, "EVM chain id 0 is not valid")
	}
	return id, nil
}

// lowerHex returns b as lowercase 0x-prefixed hex.
func lowerHex(b []byte) string {
	buf := make([]byte, 2+2*len(b))
	buf[0], buf[1] = '0', 'x'
	hex.Encode(buf[2:], b)
	return string(buf)
}

// addrHex returns a as lowercase 0x hex, the canonical form in payments and keys.
func addrHex(a common.Address) string { return lowerHex(a[:]) }

// clip shortens hostile input before it goes into an error message.
func clip(s string) string {
	const max = 80
	if len(s) <= max {
		return s
	}
	return s[:max] + "…"
}

// sameAddress compares two hex addresses case-insensitively.
func sameAddress(a, b string) bool { return strings.EqualFold(a, b) }
