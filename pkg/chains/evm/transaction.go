package evm

import (
	"bytes"
	"encoding/hex"
	"math/big"
	"strconv"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"

	"github.com/h402/settlement/pkg/chains"
	"github.com/h402/settlement/pkg/config"
	"github.com/h402/settlement/pkg/h402"
)

// MaxSignedTxLen bounds the hex text of a signed transaction (geth's pool
// refuses transactions over 128 KiB; a payment is a few hundred bytes).
const MaxSignedTxLen = 2 + 2*(32<<10)

// TransferSelector is the ERC-20 transfer(address,uint256) selector.
var TransferSelector = [4]byte{0xa9, 0x05, 0x9c, 0xbb}

// transferCallLen is selector + address word + amount word.
const transferCallLen = 4 + 32 + 32

// minTxGas is the intrinsic gas of the cheapest transaction.
const minTxGas = 21000

// signedTx is a decoded client transaction and its recovered sender.
type signedTx struct {
	tx     *types.Transaction
	sender common.Address
}

// decodeSignedTx decodes a raw signed transaction, checks its type and chain
// id, and recovers its sender.
func decodeSignedTx(q *request, raw string) (*signedTx, error) {
	if len(raw) > MaxSignedTxLen {
		return nil, h402.Errorf(h402.ReasonEVMTransaction, "signedTransaction is %d characters, more than the %d allowed", len(raw), MaxSignedTxLen)
	}
	if has0x(raw) {
		raw = raw[2:]
	}
	if raw == "" {
		return nil, h402.Errorf(h402.ReasonEVMTransaction, "signedTransaction is empty")
	}
	b, err := hex.DecodeString(raw)
	if err != nil {
		return nil, h402.Wrap(h402.ReasonEVMTransaction, err, "signedTransaction is not hex")
	}
	tx := new(types.Transaction)
	if err := tx.UnmarshalBinary(b); err != nil {
		return nil, h402.Wrap(h402.ReasonEVMTransaction, err, "signedTransaction is not a valid signed transaction")
	}
	switch tx.Type() {
	case types.LegacyTxType, types.AccessListTxType, types.DynamicFeeTxType:
	default:
		return nil, h402.Errorf(h402.ReasonEVMTransaction, "signedTransaction has type %d; want legacy (0), access-list (1) or dynamic-fee (2)", tx.Type())
	}
	if !tx.Protected() {
		return nil, h402.Errorf(h402.ReasonEVMChainID, "signedTransaction is a legacy transaction without an EIP-155 chain id")
	}
	if tx.ChainId().Cmp(q.chainID) != 0 {
		return nil, h402.Errorf(h402.ReasonEVMChainID, "signedTransaction is for chain %s, not %s", tx.ChainId(), q.chainID)
	}
	sender, err := types.LatestSignerForChainID(q.chainID).Sender(tx)
	if err != nil {
		return nil, h402.Wrap(h402.ReasonEVMSignature, err, "signedTransaction's signature does not recover a sender")
	}
	return &signedTx{tx: tx, sender: sender}, nil
}

// verifySignedTransaction checks that a client-signed transaction pays
// exactly the requirement, and that signedMessage is by the same sender.
func verifySignedTransaction(q *request, p *h402.EVMSignedTransactionPayload) (*chains.Payment, error) {
	st, err := decodeSignedTx(q, p.SignedTransaction)
	if err != nil {
		return nil, err
	}
	tx := st.tx
	if tx.Gas() < minTxGas {
		return nil, h402.Errorf(h402.ReasonEVMTransaction, "signedTransaction has gas limit %d, below the intrinsic %d", tx.Gas(), minTxGas)
	}
	to := tx.To()
	if to == nil {
		return nil, h402.Errorf(h402.ReasonEVMTransaction, "signedTransaction creates a contract instead of paying")
	}
	if q.Token.Kind == config.KindNative {
		err = checkNativeTransfer(q, tx, *to)
	} else {
		err = checkTokenTransfer(q, tx, *to)
	}
	if err != nil {
		return nil, err
	}
	resource, err := q.resource()
	if err != nil {
		return nil, err
	}
	signer, err := recoverPersonal("signedMessage", p.SignedMessage, resource)
	if err != nil {
		return nil, err
	}
	if signer != st.sender {
		return nil, h402.Errorf(h402.ReasonEVMSignedMessage, "signedMessage was signed by %s, not by the transaction's sender %s", addrHex(signer), addrHex(st.sender))
	}
	hash := tx.Hash()
	pay := q.payment(TransactionKey(q.chainID, st.sender, tx.Nonce()), h402.TypeSignedTransaction, st.sender, q.Amount)
	pay.Nonce = strconv.FormatUint(tx.Nonce(), 10)
	pay.TxHash = lowerHex(hash[:])
	pay.Settle = true
	return pay, nil
}

// checkNativeTransfer: the transaction sends exactly the amount to payTo and calls nothing.
func checkNativeTransfer(q *request, tx *types.Transaction, to common.Address) error {
	if to != q.payTo {
		return h402.Errorf(h402.ReasonEVMRecipientMismatch, "signedTransaction pays %s but the requirements pay %s", addrHex(to), addrHex(q.payTo))
	}
	if v := tx.Value(); v.Cmp(q.Amount) != 0 {
		return h402.Errorf(h402.ReasonEVMValue, "signedTransaction sends %s wei, not the required %s", v, q.Amount)
	}
	if n := len(tx.Data()); n != 0 {
		return h402.Errorf(h402.ReasonEVMTransaction, "signedTransaction of a native payment carries %d bytes of call data; want none", n)
	}
	return nil
}

// checkTokenTransfer: the transaction calls token.transfer(payTo, amount),
// sends no coin, and carries exactly that call data.
func checkTokenTransfer(q *request, tx *types.Transaction, to common.Address) error {
	if to != q.token {
		return h402.Errorf(h402.ReasonEVMTransaction, "signedTransaction calls %s, not the token contract %s", addrHex(to), addrHex(q.token))
	}
	if tx.Value().Sign() != 0 {
		return h402.Errorf(h402.ReasonEVMTransaction, "signedTransaction of a token payment also sends %s wei; want 0", tx.Value())
	}
	data := tx.Data()
	if len(data) < 4 || !bytes.Equal(data[:4], TransferSelector[:]) {
		return h402.Errorf(h402.ReasonEVMTransaction, "signedTransaction does not call transfer(address,uint256)")
	}
	if len(data) != transferCallLen {
		return h402.Errorf(h402.ReasonEVMTransaction, "signedTransaction's transfer call data is %d bytes; want exactly %d", len(data), transferCallLen)
	}
	var zero [12]byte
	if !bytes.Equal(data[4:16], zero[:]) {
		return h402.Errorf(h402.ReasonEVMTransaction, "signedTransaction's transfer recipient is not a clean 20-byte address")
	}
	if recipient := common.BytesToAddress(data[16:36]); recipient != q.payTo {
		return h402.Errorf(h402.ReasonEVMRecipientMismatch, "signedTransaction transfers to %s but the requirements pay %s", addrHex(recipient), addrHex(q.payTo))
	}
	if amount := new(big.Int).SetBytes(data[36:68]); amount.Cmp(q.Amount) != 0 {
		return h402.Errorf(h402.ReasonEVMValue, "signedTransaction transfers %s, not the required %s", amount, q.Amount)
	}
	return nil
}

// TransferCalldata returns the call data of ERC-20 transfer(to, amount).
// amount must fit in 256 bits.
func TransferCalldata(to common.Address, amount *big.Int) []byte {
	data := make([]byte, transferCallLen)
	copy(data, TransferSelector[:])
	copy(data[16:36], to[:])
	amount.FillBytes(data[36:68])
	return data
}

// verifySignAndSend checks a client-broadcast payment's hash and signed
// message. Whether the transaction exists and pays is a chain-state check.
func verifySignAndSend(q *request, p *h402.EVMSignAndSendPayload) (*chains.Payment, error) {
	hash, err := parseTxHash(p.TransactionHash)
	if err != nil {
		return nil, err
	}
	resource, err := q.resource()
	if err != nil {
		return nil, err
	}
	payer, err := recoverPersonal("signedMessage", p.SignedMessage, resource)
	if err != nil {
		return nil, err
	}
	pay := q.payment(TxHashKey(q.chainID, hash), h402.TypeSignAndSendTransaction, payer, q.Amount)
	pay.TxHash = lowerHex(hash[:])
	return pay, nil
}

// parseTxHash parses a 0x-prefixed 32-byte transaction hash.
func parseTxHash(s string) (common.Hash, error) {
	var h common.Hash
	if !decodeFixedHex(h[:], s) {
		return h, h402.Errorf(h402.ReasonInvalidPayload, "transactionHash %q is not 0x followed by 32 hex-encoded bytes", clip(s))
	}
	return h, nil
}
