package contracts

import (
	"bytes"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
)

// TestOverloadNames pins each generated name to the Solidity signature it
// packs, so a change in the ABI order solc emits cannot silently swap the
// (v, r, s) and bytes forms.
func TestOverloadNames(t *testing.T) {
	usdc := NewTestUSDC()
	var (
		a     = common.HexToAddress("0x1")
		n     [32]byte
		r, s  [32]byte
		one   = common.Big1
		sig65 = make([]byte, 65)
	)
	tests := []struct {
		name      string
		signature string
		packed    []byte
	}{
		{"TransferWithAuthorization", "transferWithAuthorization(address,address,uint256,uint256,uint256,bytes32,uint8,bytes32,bytes32)",
			usdc.PackTransferWithAuthorization(a, a, one, one, one, n, 27, r, s)},
		{"TransferWithAuthorizationBytes", "transferWithAuthorization(address,address,uint256,uint256,uint256,bytes32,bytes)",
			usdc.PackTransferWithAuthorizationBytes(a, a, one, one, one, n, sig65)},
		{"ReceiveWithAuthorization", "receiveWithAuthorization(address,address,uint256,uint256,uint256,bytes32,uint8,bytes32,bytes32)",
			usdc.PackReceiveWithAuthorization(a, a, one, one, one, n, 27, r, s)},
		{"ReceiveWithAuthorizationBytes", "receiveWithAuthorization(address,address,uint256,uint256,uint256,bytes32,bytes)",
			usdc.PackReceiveWithAuthorizationBytes(a, a, one, one, one, n, sig65)},
		{"CancelAuthorization", "cancelAuthorization(address,bytes32,uint8,bytes32,bytes32)",
			usdc.PackCancelAuthorization(a, n, 27, r, s)},
		{"CancelAuthorizationBytes", "cancelAuthorization(address,bytes32,bytes)",
			usdc.PackCancelAuthorizationBytes(a, n, sig65)},
		{"Aggregate3", "aggregate3((address,bool,bytes)[])",
			NewMulticall3().PackAggregate3(nil)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want := crypto.Keccak256([]byte(tc.signature))[:4]
			if got := tc.packed[:4]; !bytes.Equal(got, want) {
				t.Errorf("selector of %s: got %x, want %x (%s)", tc.name, got, want, tc.signature)
			}
		})
	}
}

// TestTypeHashes checks the EIP-3009 type hashes the contract exposes against
// the type strings of the standard; the contract returns these constants, and
// off-chain signers must hash the same strings.
func TestMetaDataParses(t *testing.T) {
	for _, md := range []struct {
		name string
		bin  string
		abi  func() error
	}{
		{"TestUSDC", TestUSDCMetaData.Bin, func() error { _, err := TestUSDCMetaData.ParseABI(); return err }},
		{"Multicall3", Multicall3MetaData.Bin, func() error { _, err := Multicall3MetaData.ParseABI(); return err }},
	} {
		t.Run(md.name, func(t *testing.T) {
			if err := md.abi(); err != nil {
				t.Fatalf("parse ABI: %v", err)
			}
			if len(md.bin) < 100 {
				t.Errorf("bytecode length: got %d hex chars, want a compiled contract", len(md.bin))
			}
		})
	}
}
