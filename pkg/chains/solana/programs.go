package solana

import (
	"encoding/binary"

	solanago "github.com/gagliardetto/solana-go"
)

// Program ids the payment layout may use.
var (
	SystemProgramID        = solanago.SystemProgramID
	ComputeBudgetProgramID = solanago.ComputeBudget
	TokenProgramID         = solanago.TokenProgramID
	Token2022ProgramID     = solanago.Token2022ProgramID
	AssociatedTokenID      = solanago.SPLAssociatedTokenAccountProgramID
	MemoProgramID          = solanago.MemoProgramID // SPL Memo v2
	MemoV1ProgramID        = solanago.MustPublicKeyFromBase58("Memo1UhkJRfHyvLMcVucJwxXeuD728EqVDDwQDxFMNo")
)

// Instruction discriminators and data sizes (little-endian layouts).
const (
	cbSetComputeUnitLimit = 2 // ComputeBudget: u8 tag + u32 units
	cbSetComputeUnitPrice = 3 // ComputeBudget: u8 tag + u64 micro-lamports
	cbLimitLen            = 1 + 4
	cbPriceLen            = 1 + 8

	systemTransfer    = 2 // System: u32 tag + u64 lamports
	systemTransferLen = 4 + 8

	tokenTransferChecked    = 12 // Token / Token-2022: u8 tag + u64 amount + u8 decimals
	tokenTransferCheckedLen = 1 + 8 + 1

	ataCreate           = 0 // ATA program: empty data or 0
	ataCreateIdempotent = 1
)

func isMemoProgram(p solanago.PublicKey) bool {
	return p == MemoProgramID || p == MemoV1ProgramID
}

// transferCheckedData encodes TransferChecked; the layout is the same under
// SPL Token and Token-2022.
func transferCheckedData(amount uint64, decimals uint8) []byte {
	b := make([]byte, tokenTransferCheckedLen)
	b[0] = tokenTransferChecked
	binary.LittleEndian.PutUint64(b[1:9], amount)
	b[9] = decimals
	return b
}

// transferCheckedInstruction builds TransferChecked under tokenProgram.
// Accounts: source (w), mint, destination (w), authority (signer).
func transferCheckedInstruction(tokenProgram, source, mint, destination, authority solanago.PublicKey, amount uint64, decimals uint8) solanago.Instruction {
	return solanago.NewInstruction(tokenProgram, solanago.AccountMetaSlice{
		solanago.Meta(source).WRITE(),
		solanago.Meta(mint),
		solanago.Meta(destination).WRITE(),
		solanago.Meta(authority).SIGNER(),
	}, transferCheckedData(amount, decimals))
}

// createATAIdempotentInstruction builds the ATA program's CreateIdempotent.
// Accounts: funder (w, signer), ata (w), wallet, mint, system program, token program.
func createATAIdempotentInstruction(funder, ata, wallet, mint, tokenProgram solanago.PublicKey) solanago.Instruction {
	return solanago.NewInstruction(AssociatedTokenID, solanago.AccountMetaSlice{
		solanago.Meta(funder).WRITE().SIGNER(),
		solanago.Meta(ata).WRITE(),
		solanago.Meta(wallet),
		solanago.Meta(mint),
		solanago.Meta(SystemProgramID),
		solanago.Meta(tokenProgram),
	}, []byte{ataCreateIdempotent})
}
