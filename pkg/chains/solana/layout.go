package solana

import (
	"encoding/binary"

	solanago "github.com/gagliardetto/solana-go"

	"github.com/h402/settlement/pkg/h402"
)

// layout is what a payment transaction's instructions say, once their shape
// has been checked: ComputeBudget SetComputeUnitLimit, SetComputeUnitPrice,
// then a System Transfer, or an optional CreateAssociatedTokenIdempotent and a
// TransferChecked. Memo instructions may appear anywhere and are skipped.
type layout struct {
	cuLimit uint32
	cuPrice uint64

	native bool // System Transfer; otherwise TransferChecked

	// TransferChecked (and, for native, from/to as source/dest).
	program      solanago.PublicKey // token program
	source       solanago.PublicKey
	mint         solanago.PublicKey
	dest         solanago.PublicKey
	authority    solanago.PublicKey // System from, or token transfer authority
	authorityIdx uint16
	amount       uint64
	decimals     uint8

	create *createATA // nil when absent
}

// createATA is a CreateAssociatedTokenIdempotent instruction's accounts.
type createATA struct {
	funder, ata, wallet, mint, system, program solanago.PublicKey
}

func instructionsErr(format string, args ...any) error {
	return h402.Errorf(h402.ReasonSolanaInstructions, format, args...)
}

// parseLayout checks the order and encoding of the instructions and decodes
// them. It checks nothing against the payment requirement.
func parseLayout(w *wireTx) (*layout, error) {
	m := &w.tx.Message
	keys := m.AccountKeys
	var ixs []*solanago.CompiledInstruction
	for i := range m.Instructions {
		ix := &m.Instructions[i]
		if isMemoProgram(keys[ix.ProgramIDIndex]) {
			continue
		}
		ixs = append(ixs, ix)
	}
	if len(ixs) != 3 && len(ixs) != 4 {
		return nil, instructionsErr("transaction has %d instructions besides memos; a payment has exactly SetComputeUnitLimit, SetComputeUnitPrice, an optional CreateAssociatedTokenIdempotent and one transfer", len(ixs))
	}
	l := new(layout)
	var ok bool
	if l.cuLimit, ok = decodeCULimit(keys, ixs[0]); !ok {
		return nil, instructionsErr("first instruction is not ComputeBudget SetComputeUnitLimit (program %s)", keys[ixs[0].ProgramIDIndex])
	}
	if l.cuPrice, ok = decodeCUPrice(keys, ixs[1]); !ok {
		return nil, instructionsErr("second instruction is not ComputeBudget SetComputeUnitPrice (program %s)", keys[ixs[1].ProgramIDIndex])
	}
	last := ixs[len(ixs)-1]
	if len(ixs) == 4 {
		c, err := decodeCreateATA(keys, ixs[2])
		if err != nil {
			return nil, err
		}
		l.create = c
		if keys[last.ProgramIDIndex] == SystemProgramID {
			return nil, instructionsErr("a native SOL transfer must not be preceded by CreateAssociatedTokenIdempotent")
		}
	}
	switch keys[last.ProgramIDIndex] {
	case SystemProgramID:
		if err := l.decodeSystemTransfer(keys, last); err != nil {
			return nil, err
		}
	case TokenProgramID, Token2022ProgramID:
		if err := l.decodeTransferChecked(keys, last); err != nil {
			return nil, err
		}
	default:
		return nil, instructionsErr("last instruction calls program %s; want a System Transfer or a token TransferChecked", keys[last.ProgramIDIndex])
	}
	return l, nil
}

func decodeCULimit(keys solanago.PublicKeySlice, ix *solanago.CompiledInstruction) (uint32, bool) {
	d := ix.Data
	if keys[ix.ProgramIDIndex] != ComputeBudgetProgramID || len(ix.Accounts) != 0 || len(d) != cbLimitLen || d[0] != cbSetComputeUnitLimit {
		return 0, false
	}
	return binary.LittleEndian.Uint32(d[1:]), true
}

func decodeCUPrice(keys solanago.PublicKeySlice, ix *solanago.CompiledInstruction) (uint64, bool) {
	d := ix.Data
	if keys[ix.ProgramIDIndex] != ComputeBudgetProgramID || len(ix.Accounts) != 0 || len(d) != cbPriceLen || d[0] != cbSetComputeUnitPrice {
		return 0, false
	}
	return binary.LittleEndian.Uint64(d[1:]), true
}

func decodeCreateATA(keys solanago.PublicKeySlice, ix *solanago.CompiledInstruction) (*createATA, error) {
	if p := keys[ix.ProgramIDIndex]; p != AssociatedTokenID {
		return nil, instructionsErr("third instruction calls program %s; only CreateAssociatedTokenIdempotent may precede the transfer", p)
	}
	d := ix.Data
	switch {
	case len(d) == 0 || len(d) == 1 && d[0] == ataCreate:
		return nil, instructionsErr("CreateAssociatedToken must be the idempotent variant")
	case len(d) != 1 || d[0] != ataCreateIdempotent:
		return nil, instructionsErr("associated token account instruction %x is not CreateAssociatedTokenIdempotent", []byte(d))
	case len(ix.Accounts) != 6:
		return nil, instructionsErr("CreateAssociatedTokenIdempotent has %d accounts, want 6", len(ix.Accounts))
	}
	a := ix.Accounts
	return &createATA{
		funder: keys[a[0]], ata: keys[a[1]], wallet: keys[a[2]],
		mint: keys[a[3]], system: keys[a[4]], program: keys[a[5]],
	}, nil
}

func (l *layout) decodeSystemTransfer(keys solanago.PublicKeySlice, ix *solanago.CompiledInstruction) error {
	d := ix.Data
	if len(d) != systemTransferLen || binary.LittleEndian.Uint32(d[:4]) != systemTransfer {
		return instructionsErr("System program instruction is not a Transfer")
	}
	if len(ix.Accounts) != 2 {
		return instructionsErr("System Transfer has %d accounts, want 2", len(ix.Accounts))
	}
	l.native = true
	l.program = SystemProgramID
	l.authorityIdx = ix.Accounts[0]
	l.authority, l.source = keys[ix.Accounts[0]], keys[ix.Accounts[0]]
	l.dest = keys[ix.Accounts[1]]
	l.amount = binary.LittleEndian.Uint64(d[4:])
	return nil
}

func (l *layout) decodeTransferChecked(keys solanago.PublicKeySlice, ix *solanago.CompiledInstruction) error {
	d := ix.Data
	if len(d) != tokenTransferCheckedLen || d[0] != tokenTransferChecked {
		return instructionsErr("token instruction is not TransferChecked")
	}
	if len(ix.Accounts) != 4 {
		return instructionsErr("TransferChecked has %d accounts, want 4 (source, mint, destination, single authority)", len(ix.Accounts))
	}
	a := ix.Accounts
	l.program = keys[ix.ProgramIDIndex]
	l.source, l.mint, l.dest, l.authority = keys[a[0]], keys[a[1]], keys[a[2]], keys[a[3]]
	l.authorityIdx = a[3]
	l.amount = binary.LittleEndian.Uint64(d[1:9])
	l.decimals = d[9]
	return nil
}

// instructionAccounts reports whether key is named by any instruction's
// accounts, memo instructions included.
func instructionAccounts(w *wireTx, key solanago.PublicKey) bool {
	m := &w.tx.Message
	for i := range m.Instructions {
		for _, a := range m.Instructions[i].Accounts {
			if m.AccountKeys[a] == key {
				return true
			}
		}
	}
	return false
}
