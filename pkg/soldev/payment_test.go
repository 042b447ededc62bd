package soldev

import (
	"encoding/binary"
	"testing"

	"github.com/gagliardetto/solana-go"
)

// payment describes a client-signed h402 Solana payment.
type payment struct {
	payer   solana.PrivateKey
	payTo   solana.PublicKey
	mint    *Mint // nil: native SOL
	amount  uint64
	cuLimit uint32
	cuPrice uint64 // micro-lamports per compute unit
}

// buildPaymentTx builds and signs the h402 client layout: ComputeBudget
// SetComputeUnitLimit and SetComputeUnitPrice, then a System transfer (native
// SOL) or CreateAssociatedTokenIdempotent(payTo) + TransferChecked. The
// payer signs and pays the fee. This is the only transaction builder in
// these tests; pkg/chains/solana's payer signer replaces it at merge.
func buildPaymentTx(t testing.TB, blockhash solana.Hash, p payment) *solana.Transaction {
	t.Helper()
	payer := p.payer.PublicKey()
	limit := make([]byte, 5)
	limit[0] = 2 // SetComputeUnitLimit
	binary.LittleEndian.PutUint32(limit[1:], p.cuLimit)
	price := make([]byte, 9)
	price[0] = 3 // SetComputeUnitPrice
	binary.LittleEndian.PutUint64(price[1:], p.cuPrice)
	ixs := []solana.Instruction{
		solana.NewInstruction(solana.ComputeBudget, nil, limit),
		solana.NewInstruction(solana.ComputeBudget, nil, price),
	}
	if p.mint == nil {
		data := make([]byte, 12)
		binary.LittleEndian.PutUint32(data, 2) // SystemInstruction::Transfer
		binary.LittleEndian.PutUint64(data[4:], p.amount)
		ixs = append(ixs, solana.NewInstruction(solana.SystemProgramID, solana.AccountMetaSlice{
			solana.Meta(payer).WRITE().SIGNER(),
			solana.Meta(p.payTo).WRITE(),
		}, data))
	} else {
		src, err := p.mint.ATA(payer)
		if err != nil {
			t.Fatalf("payer ATA: %v", err)
		}
		dst, err := p.mint.ATA(p.payTo)
		if err != nil {
			t.Fatalf("payTo ATA: %v", err)
		}
		ixs = append(ixs, solana.NewInstruction(solana.SPLAssociatedTokenAccountProgramID, solana.AccountMetaSlice{
			solana.Meta(payer).WRITE().SIGNER(),
			solana.Meta(dst).WRITE(),
			solana.Meta(p.payTo),
			solana.Meta(p.mint.Address),
			solana.Meta(solana.SystemProgramID),
			solana.Meta(p.mint.TokenProgram),
		}, []byte{1})) // CreateIdempotent
		data := make([]byte, 10)
		data[0] = 12 // TransferChecked
		binary.LittleEndian.PutUint64(data[1:], p.amount)
		data[9] = p.mint.Decimals
		ixs = append(ixs, solana.NewInstruction(p.mint.TokenProgram, solana.AccountMetaSlice{
			solana.Meta(src).WRITE(),
			solana.Meta(p.mint.Address),
			solana.Meta(dst).WRITE(),
			solana.Meta(payer).SIGNER(),
		}, data))
	}
	tx, err := solana.NewTransaction(ixs, blockhash, solana.TransactionPayer(payer))
	if err != nil {
		t.Fatalf("build payment tx: %v", err)
	}
	if _, err := tx.Sign(func(k solana.PublicKey) *solana.PrivateKey {
		if k.Equals(payer) {
			return &p.payer
		}
		return nil
	}); err != nil {
		t.Fatalf("sign payment tx: %v", err)
	}
	return tx
}

// expectedFee is Solana's fee for a transaction with one signature and an
// explicit compute unit limit: 5000 lamports plus the priority fee, rounded up.
func expectedFee(p payment) uint64 {
	return 5000 + (p.cuPrice*uint64(p.cuLimit)+999_999)/1_000_000
}
