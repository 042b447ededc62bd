package evm

import (
	"math/big"
	"strconv"

	"github.com/ethereum/go-ethereum/common"
)

// Replay keys (PROTOCOL.md §6). Every part is lowercase: the decimal chain
// id, fixed words, and 0x-prefixed lowercase hex, joined by dots, so a key is
// a valid NATS subject (several tokens) and JetStream KV key.

// AuthorizationKey is the key of an EIP-3009 authorization:
// evm.<chainId>.auth.<token>.<from>.<nonce>.
func AuthorizationKey(chainID *big.Int, token, from common.Address, nonce [32]byte) string {
	return "evm." + chainID.String() + ".auth." + addrHex(token) + "." + addrHex(from) + "." + lowerHex(nonce[:])
}

// TransactionKey is the key of a client-signed transaction:
// evm.<chainId>.tx.<sender>.<txnonce>. Two transactions with one nonce exclude each other.
func TransactionKey(chainID *big.Int, sender common.Address, nonce uint64) string {
	return "evm." + chainID.String() + ".tx." + addrHex(sender) + "." + strconv.FormatUint(nonce, 10)
}

// TxHashKey is the key of a client-broadcast transaction: evm.<chainId>.hash.<txhash>.
func TxHashKey(chainID *big.Int, hash common.Hash) string {
	return "evm." + chainID.String() + ".hash." + lowerHex(hash[:])
}
