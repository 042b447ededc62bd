package solana

import (
	"fmt"

	solanago "github.com/gagliardetto/solana-go"
	computebudget "github.com/gagliardetto/solana-go/programs/compute-budget"
	"github.com/gagliardetto/solana-go/programs/memo"
	"github.com/gagliardetto/solana-go/programs/system"

	"github.com/h402/settlement/pkg/config"
	"github.com/h402/settlement/pkg/h402"
)

// DefaultComputeUnitLimit is the SetComputeUnitLimit a payment uses when
// PayOptions says nothing: enough for CreateAssociatedTokenIdempotent
// creating a Token-2022 account plus TransferChecked, well under the default cap.
const DefaultComputeUnitLimit = 100_000

// PayOptions tune a payment transaction.
type PayOptions struct {
	// ComputeUnitLimit for SetComputeUnitLimit; 0 means DefaultComputeUnitLimit.
	ComputeUnitLimit uint32
	// ComputeUnitPrice for SetComputeUnitPrice, in micro-lamports per CU (0 is a valid price).
	ComputeUnitPrice uint64
	// Memo, when not empty, adds an SPL Memo signed by the payer after the transfer.
	Memo string
	// SkipCreateATA leaves out CreateAssociatedTokenIdempotent for payTo's
	// token account (when the payer knows it exists).
	SkipCreateATA bool
}

// BuildPayment builds the unsigned payment transaction a client sends for
// req: ComputeBudget limit and price, then a System Transfer (native SOL) or
// CreateAssociatedTokenIdempotent(payTo) and TransferChecked (SPL Token or
// Token-2022, by token.Kind). payer is the transfer authority. When
// req.extra.feePayer is set, that key is the fee payer and appears in no
// instruction; otherwise payer pays the fee.
func BuildPayment(req *h402.PaymentRequirements, token *config.Token, payer solanago.PublicKey, blockhash solanago.Hash, opts PayOptions) (*solanago.Transaction, error) {
	if req == nil || token == nil {
		return nil, fmt.Errorf("build solana payment: requirements and token are required")
	}
	if req.Namespace != h402.NamespaceSolana {
		return nil, fmt.Errorf("build solana payment: requirement namespace is %q", req.Namespace)
	}
	if req.TokenAddress != token.Address {
		return nil, fmt.Errorf("build solana payment: requirement token %s is not the configured token %s", req.TokenAddress, token.Address)
	}
	payTo, err := solanago.PublicKeyFromBase58(req.PayToAddress)
	if err != nil {
		return nil, fmt.Errorf("build solana payment: payToAddress: %w", err)
	}
	amount, err := req.Amount(token.Decimals)
	if err != nil {
		return nil, fmt.Errorf("build solana payment: %w", err)
	}
	if !amount.IsUint64() {
		return nil, fmt.Errorf("build solana payment: amount %s does not fit u64", amount)
	}
	extra, err := req.ParsedExtra()
	if err != nil {
		return nil, fmt.Errorf("build solana payment: %w", err)
	}
	feePayer := payer
	if extra.FeePayer != "" {
		if feePayer, err = solanago.PublicKeyFromBase58(extra.FeePayer); err != nil {
			return nil, fmt.Errorf("build solana payment: extra.feePayer: %w", err)
		}
		if feePayer == payer {
			return nil, fmt.Errorf("build solana payment: extra.feePayer is the payer itself")
		}
	}
	limit := opts.ComputeUnitLimit
	if limit == 0 {
		limit = DefaultComputeUnitLimit
	}
	ixs := []solanago.Instruction{
		computebudget.NewSetComputeUnitLimitInstruction(limit).Build(),
		computebudget.NewSetComputeUnitPriceInstruction(opts.ComputeUnitPrice).Build(),
	}
	switch token.Kind {
	case config.KindNative:
		ixs = append(ixs, system.NewTransferInstruction(amount.Uint64(), payer, payTo).Build())
	case config.KindSPL, config.KindToken2022:
		program := TokenProgramID
		if token.Kind == config.KindToken2022 {
			program = Token2022ProgramID
		}
		mint, err := solanago.PublicKeyFromBase58(token.Address)
		if err != nil {
			return nil, fmt.Errorf("build solana payment: token mint: %w", err)
		}
		if token.Decimals < 0 || token.Decimals > 255 {
			return nil, fmt.Errorf("build solana payment: token decimals %d out of range", token.Decimals)
		}
		source, err := AssociatedTokenAddress(payer, mint, program)
		if err != nil {
			return nil, fmt.Errorf("build solana payment: payer token account: %w", err)
		}
		dest, err := AssociatedTokenAddress(payTo, mint, program)
		if err != nil {
			return nil, fmt.Errorf("build solana payment: payTo token account: %w", err)
		}
		if !opts.SkipCreateATA {
			ixs = append(ixs, createATAIdempotentInstruction(payer, dest, payTo, mint, program))
		}
		ixs = append(ixs, transferCheckedInstruction(program, source, mint, dest, payer, amount.Uint64(), uint8(token.Decimals)))
	default:
		return nil, fmt.Errorf("build solana payment: token kind %q is not a Solana kind", token.Kind)
	}
	if opts.Memo != "" {
		ixs = append(ixs, memo.NewMemoInstruction([]byte(opts.Memo), payer).Build())
	}
	tx, err := solanago.NewTransaction(ixs, blockhash, solanago.TransactionPayer(feePayer))
	if err != nil {
		return nil, fmt.Errorf("build solana payment: %w", err)
	}
	return tx, nil
}

// SignPayment builds the payment transaction for req (see BuildPayment),
// signs it with key as transfer authority (and as fee payer unless the
// requirement names a facilitator fee payer, whose slot is left empty), and
// returns the signTransaction payment payload. Encode it for the X-PAYMENT
// header with h402.EncodePaymentHeader, or use PaymentHeader.
func SignPayment(req *h402.PaymentRequirements, token *config.Token, key solanago.PrivateKey, blockhash solanago.Hash, opts PayOptions) (*h402.PaymentPayload, error) {
	if err := key.Validate(); err != nil {
		return nil, fmt.Errorf("sign solana payment: %w", err)
	}
	payer := key.PublicKey()
	tx, err := BuildPayment(req, token, payer, blockhash, opts)
	if err != nil {
		return nil, err
	}
	if _, err := tx.PartialSign(func(k solanago.PublicKey) *solanago.PrivateKey {
		if k == payer {
			return &key
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("sign solana payment: %w", err)
	}
	for i, s := range tx.Signatures {
		if i > 0 && s.IsZero() {
			return nil, fmt.Errorf("sign solana payment: signer %s is not the payer", tx.Message.AccountKeys[i])
		}
	}
	b64, err := tx.ToBase64()
	if err != nil {
		return nil, fmt.Errorf("sign solana payment: encode: %w", err)
	}
	sig := ""
	if !tx.Signatures[0].IsZero() {
		sig = tx.Signatures[0].String()
	}
	return &h402.PaymentPayload{
		H402Version: h402.Version,
		Scheme:      h402.SchemeExact,
		Namespace:   h402.NamespaceSolana,
		NetworkID:   req.NetworkID,
		Resource:    req.Resource,
		Payload: &h402.SolanaSignTransactionPayload{
			Type:        h402.TypeSignTransaction,
			Transaction: b64,
			Signature:   sig,
		},
	}, nil
}

// PaymentHeader is SignPayment encoded as an X-PAYMENT header value.
func PaymentHeader(req *h402.PaymentRequirements, token *config.Token, key solanago.PrivateKey, blockhash solanago.Hash, opts PayOptions) (string, error) {
	p, err := SignPayment(req, token, key, blockhash, opts)
	if err != nil {
		return "", err
	}
	return h402.EncodePaymentHeader(p)
}

// SignAndSendPayment is the payload naming a transaction the client already
// broadcast, identified by its first signature, and bound to req by key (a
// signer of that transaction, normally the payer) signing BindingMessage
// of the signature and req's resource.
func SignAndSendPayment(req *h402.PaymentRequirements, key solanago.PrivateKey, sig solanago.Signature) (*h402.PaymentPayload, error) {
	if req.Resource == "" {
		return nil, fmt.Errorf("sign and send payment: the requirement names no resource to bind the payment to")
	}
	bound, err := SignBinding(key, req.Resource, sig)
	if err != nil {
		return nil, fmt.Errorf("sign and send payment: %w", err)
	}
	return &h402.PaymentPayload{
		H402Version: h402.Version,
		Scheme:      h402.SchemeExact,
		Namespace:   h402.NamespaceSolana,
		NetworkID:   req.NetworkID,
		Resource:    req.Resource,
		Payload: &h402.SolanaSignAndSendPayload{
			Type:          h402.TypeSignAndSendTransaction,
			Signature:     sig.String(),
			SignedMessage: bound,
		},
	}, nil
}
