package soldev

import (
	"strconv"
	"testing"

	"github.com/gagliardetto/solana-go"

	chainsolana "github.com/h402/settlement/pkg/chains/solana"
	"github.com/h402/settlement/pkg/config"
	"github.com/h402/settlement/pkg/h402"
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

// buildPaymentTx builds and signs the h402 client layout with the
// foundation's payer signer (pkg/chains/solana): ComputeBudget limit and
// price, then a System transfer (native SOL) or
// CreateAssociatedTokenIdempotent(payTo) + TransferChecked. The payer signs
// and pays the fee.
func buildPaymentTx(t testing.TB, blockhash solana.Hash, p payment) *solana.Transaction {
	t.Helper()
	token := &config.Token{Symbol: "SOL", Address: h402.SolanaNativeToken, Decimals: 9, Kind: config.KindNative}
	if p.mint != nil {
		token = &config.Token{Symbol: p.mint.Symbol, Address: p.mint.Address.String(), Decimals: int(p.mint.Decimals), Kind: config.KindSPL}
		if p.mint.TokenProgram.Equals(solana.Token2022ProgramID) {
			token.Kind = config.KindToken2022
		}
	}
	amount := h402.Decimal{Text: strconv.FormatUint(p.amount, 10), Quoted: true}
	req := &h402.PaymentRequirements{
		Namespace: h402.NamespaceSolana, Scheme: h402.SchemeExact, NetworkID: "localnet",
		TokenAddress: token.Address, PayToAddress: p.payTo.String(),
		AmountRequired: &amount, AmountRequiredFormat: h402.FormatSmallestUnit,
	}
	payload, err := chainsolana.SignPayment(req, token, p.payer, blockhash, chainsolana.PayOptions{ComputeUnitLimit: p.cuLimit, ComputeUnitPrice: p.cuPrice})
	if err != nil {
		t.Fatalf("sign payment: %v", err)
	}
	tx, err := solana.TransactionFromBase64(payload.Payload.(*h402.SolanaSignTransactionPayload).Transaction)
	if err != nil {
		t.Fatalf("decode signed payment: %v", err)
	}
	return tx
}

// expectedFee is Solana's fee for a transaction with one signature and an
// explicit compute unit limit: 5000 lamports plus the priority fee, rounded up.
func expectedFee(p payment) uint64 {
	return 5000 + (p.cuPrice*uint64(p.cuLimit)+999_999)/1_000_000
}
