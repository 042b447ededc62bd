package solana

import (
	"math/big"

	solanago "github.com/gagliardetto/solana-go"

	"github.com/h402/settlement/pkg/chains"
	"github.com/h402/settlement/pkg/config"
	"github.com/h402/settlement/pkg/h402"
)

// ReasonSolanaComputeLimit rejects a SetComputeUnitLimit above the configured
// cap (h402 has no reason for it; ReasonSolanaComputePrice covers the price).
const ReasonSolanaComputeLimit h402.Reason = "invalid_exact_solana_payload_compute_unit_limit"

// Verifier checks Solana payments locally, without RPC: decoding, every
// signature, the instruction layout, amounts, recipients and fee payers.
// Chain state (blockhash validity, simulation, balances, lookups of
// client-broadcast signatures) is the StateChecker's job. The zero value is
// ready to use and safe for concurrent use.
type Verifier struct {
	ata ataCache
}

var _ chains.Verifier = (*Verifier)(nil)

// NewVerifier returns a Verifier.
func NewVerifier() *Verifier { return new(Verifier) }

// Namespace is solana.
func (*Verifier) Namespace() h402.Namespace { return h402.NamespaceSolana }

// Verify checks a Solana payment against its requirement. The caller has
// done the common checks (version, scheme, network, token, amount).
func (v *Verifier) Verify(r *chains.Request) (*chains.Payment, error) {
	if err := checkRequest(r); err != nil {
		return nil, err
	}
	switch p := r.Payload.Payload.(type) {
	case *h402.SolanaSignTransactionPayload:
		return v.verifySignTransaction(r, p)
	case *h402.SolanaSignAndSendPayload:
		return verifySignAndSend(r, p)
	default:
		return nil, h402.Errorf(h402.ReasonInvalidPayload, "payload type %T is not a Solana payment", r.Payload.Payload)
	}
}

func checkRequest(r *chains.Request) error {
	switch {
	case r == nil || r.Payload == nil || r.Payload.Payload == nil:
		return h402.Errorf(h402.ReasonInvalidPayload, "request carries no payment payload")
	case r.Requirements == nil:
		return h402.Errorf(h402.ReasonInvalidPaymentRequirements, "request carries no payment requirements")
	case r.Network == nil || r.Token == nil:
		return h402.Errorf(h402.ReasonInvalidNetwork, "request carries no configured network or token")
	case r.Amount == nil || r.Amount.Sign() <= 0:
		return h402.Errorf(h402.ReasonInvalidAmount, "request carries no positive required amount")
	}
	_, err := networkToken(r)
	return err
}

// target is what the requirement asks the transaction to do.
type target struct {
	payTo        solanago.PublicKey
	native       bool
	mint         solanago.PublicKey // zero for native SOL
	program      solanago.PublicKey // token program; System for native SOL
	decimals     uint8
	amount       uint64
	feePayer     solanago.PublicKey // zero when the client pays fees
	feePayerText string             // extra.feePayer as written (canonical base58)
}

func (v *Verifier) target(r *chains.Request) (*target, error) {
	t := new(target)
	var err error
	if t.payTo, err = solanago.PublicKeyFromBase58(r.Requirements.PayToAddress); err != nil {
		return nil, h402.Wrap(h402.ReasonInvalidPaymentRequirements, err, "payToAddress is not a base58 Solana public key")
	}
	switch r.Token.Kind {
	case config.KindNative:
		t.native, t.program = true, SystemProgramID
	case config.KindSPL:
		t.program = TokenProgramID
	case config.KindToken2022:
		t.program = Token2022ProgramID
	default:
		return nil, h402.Errorf(h402.ReasonTokenNotSupported, "token kind %q cannot be paid on Solana", r.Token.Kind)
	}
	if !t.native {
		if t.mint, err = solanago.PublicKeyFromBase58(r.Token.Address); err != nil {
			return nil, h402.Wrap(h402.ReasonTokenNotSupported, err, "configured token mint is not a base58 public key")
		}
		if r.Token.Decimals < 0 || r.Token.Decimals > 255 {
			return nil, h402.Errorf(h402.ReasonTokenNotSupported, "configured token decimals %d out of range", r.Token.Decimals)
		}
		t.decimals = uint8(r.Token.Decimals)
	}
	if !r.Amount.IsUint64() {
		return nil, h402.Errorf(h402.ReasonSolanaValue, "required amount %s does not fit a Solana u64 amount", r.Amount)
	}
	t.amount = r.Amount.Uint64()
	extra, err := r.Requirements.ParsedExtra()
	if err != nil {
		return nil, err
	}
	if extra.FeePayer != "" {
		if t.feePayer, err = solanago.PublicKeyFromBase58(extra.FeePayer); err != nil {
			return nil, h402.Wrap(h402.ReasonInvalidPaymentRequirements, err, "extra.feePayer is not a base58 Solana public key")
		}
		t.feePayerText = extra.FeePayer
		if !r.Network.IsFeePayer(extra.FeePayer) {
			return nil, h402.Errorf(h402.ReasonSolanaFeePayer, "extra.feePayer %s is not one of this facilitator's fee payers on %s", t.feePayer, r.Network.NetworkID)
		}
	}
	return t, nil
}

func (v *Verifier) verifySignTransaction(r *chains.Request, p *h402.SolanaSignTransactionPayload) (*chains.Payment, error) {
	w, err := decodeTransactionText(p.Transaction)
	if err != nil {
		return nil, err
	}
	t, err := v.target(r)
	if err != nil {
		return nil, err
	}
	fp := w.feePayer().String()
	if err := checkFeePayerIdentity(r, fp, t); err != nil {
		return nil, err
	}
	if err := w.verifySignatures(!t.feePayer.IsZero()); err != nil {
		return nil, err
	}
	first := w.firstSignature()
	if p.Signature != "" && first != "" && first != p.Signature {
		return nil, h402.Errorf(h402.ReasonSolanaSignature, "payload.signature %q is not the transaction's first signature %s", p.Signature, first)
	}
	l, err := parseLayout(w)
	if err != nil {
		return nil, err
	}
	if err := v.checkLayout(r, w, l, t); err != nil {
		return nil, err
	}
	if err := checkFeePayerUse(w, l, t); err != nil {
		return nil, err
	}
	id, err := messageKey(r, w.msg)
	if err != nil {
		return nil, err
	}
	// Base58 text is canonical for a fixed-length key (decoding checked the
	// length), so the requirement's and configuration's strings are reused
	// rather than re-encoded; in the client-paid variant the payer is the fee payer.
	token := h402.SolanaNativeToken
	if !t.native {
		token = r.Token.Address
	}
	payer := fp
	if !t.feePayer.IsZero() {
		payer = l.authority.String()
	}
	return &chains.Payment{
		ID:        id,
		Namespace: h402.NamespaceSolana,
		NetworkID: r.Network.NetworkID,
		Type:      h402.TypeSignTransaction,
		Token:     token,
		Payer:     payer,
		PayTo:     r.Requirements.PayToAddress,
		Amount:    new(big.Int).SetUint64(l.amount),
		TxHash:    first,
		Settle:    true,
	}, nil
}

// checkFeePayerIdentity checks who pays the fee before any signature is
// checked: our key exactly when the requirement offers it, never otherwise.
func checkFeePayerIdentity(r *chains.Request, fp string, t *target) error {
	if t.feePayer.IsZero() {
		if r.Network.IsFeePayer(fp) {
			return h402.Errorf(h402.ReasonSolanaFeePayer, "transaction's fee payer %s is the facilitator's, but the requirement offers no fee payer", fp)
		}
		return nil
	}
	if want := t.feePayerText; fp != want {
		return h402.Errorf(h402.ReasonSolanaFeePayer, "transaction's fee payer is %s, want extra.feePayer %s", fp, want)
	}
	return nil
}

// checkFeePayerUse checks that a facilitator fee payer only pays the fee,
// and that a client fee payer is the one paying.
func checkFeePayerUse(w *wireTx, l *layout, t *target) error {
	fp := w.feePayer()
	if t.feePayer.IsZero() {
		if fp != l.authority {
			return h402.Errorf(h402.ReasonSolanaFeePayer, "transaction's fee payer %s is not the transfer authority %s", fp, l.authority)
		}
		return nil
	}
	if instructionAccounts(w, fp) {
		return h402.Errorf(h402.ReasonSolanaFeePayer, "facilitator fee payer %s appears in an instruction's accounts; it may only pay the fee", fp)
	}
	return nil
}

// checkComputeCaps refuses a compute-unit limit or price above the policy's
// caps (zero: config.DefaultVerify's); note ends the error message.
func checkComputeCaps(policy config.Verify, l *layout, note string) error {
	maxLimit, maxPrice := policy.MaxComputeUnitLimit, policy.MaxComputeUnitPrice
	def := config.DefaultVerify()
	if maxLimit == 0 {
		maxLimit = def.MaxComputeUnitLimit
	}
	if maxPrice == 0 {
		maxPrice = def.MaxComputeUnitPrice
	}
	if l.cuLimit > maxLimit {
		return h402.Errorf(ReasonSolanaComputeLimit, "SetComputeUnitLimit %d is above the cap of %d%s", l.cuLimit, maxLimit, note)
	}
	if l.cuPrice > maxPrice {
		return h402.Errorf(h402.ReasonSolanaComputePrice, "SetComputeUnitPrice %d micro-lamports is above the cap of %d%s", l.cuPrice, maxPrice, note)
	}
	return nil
}

// checkLayout checks the decoded instructions against the requirement.
func (v *Verifier) checkLayout(r *chains.Request, w *wireTx, l *layout, t *target) error {
	if err := checkComputeCaps(r.Policy, l, ""); err != nil {
		return err
	}
	if l.native != t.native {
		if t.native {
			return instructionsErr("token is native SOL but the transaction makes a token transfer")
		}
		return instructionsErr("token is an SPL mint but the transaction transfers native SOL")
	}
	if !w.isSigner(l.authorityIdx) {
		return h402.Errorf(h402.ReasonSolanaSignature, "transfer authority %s does not sign the transaction", l.authority)
	}
	if t.native {
		if l.dest != t.payTo {
			return h402.Errorf(h402.ReasonSolanaRecipientMismatch, "transfer pays %s, want payToAddress %s", l.dest, t.payTo)
		}
		return checkAmount(l, t)
	}
	if l.program != t.program {
		return instructionsErr("TransferChecked runs under program %s, but the token's program is %s", l.program, t.program)
	}
	if l.mint != t.mint {
		return h402.Errorf(h402.ReasonSolanaMint, "TransferChecked moves mint %s, want %s", l.mint, t.mint)
	}
	if l.decimals != t.decimals {
		return h402.Errorf(h402.ReasonSolanaMint, "TransferChecked says %d decimals, the token has %d", l.decimals, t.decimals)
	}
	ata, err := v.ata.get(t.payTo, t.mint, t.program)
	if err != nil {
		return h402.Wrap(h402.ReasonInvalidPaymentRequirements, err, "cannot derive payToAddress's associated token account")
	}
	if l.dest != ata {
		return h402.Errorf(h402.ReasonSolanaRecipientMismatch, "TransferChecked pays token account %s, want %s (the associated token account of %s)", l.dest, ata, t.payTo)
	}
	if c := l.create; c != nil {
		switch {
		case c.wallet != t.payTo:
			return instructionsErr("CreateAssociatedTokenIdempotent creates an account for %s; only payToAddress %s's is allowed", c.wallet, t.payTo)
		case c.mint != t.mint:
			return instructionsErr("CreateAssociatedTokenIdempotent is for mint %s, want %s", c.mint, t.mint)
		case c.program != t.program:
			return instructionsErr("CreateAssociatedTokenIdempotent names token program %s, want %s", c.program, t.program)
		case c.system != SystemProgramID:
			return instructionsErr("CreateAssociatedTokenIdempotent names %s as the System program", c.system)
		case c.ata != ata:
			return instructionsErr("CreateAssociatedTokenIdempotent creates %s, want %s", c.ata, ata)
		}
	}
	return checkAmount(l, t)
}

func checkAmount(l *layout, t *target) error {
	if l.amount != t.amount {
		return h402.Errorf(h402.ReasonSolanaValue, "transfer moves %d smallest units, the requirement asks for %d", l.amount, t.amount)
	}
	return nil
}

func verifySignAndSend(r *chains.Request, p *h402.SolanaSignAndSendPayload) (*chains.Payment, error) {
	sig, err := parseSignature(p.Signature)
	if err != nil {
		return nil, err
	}
	if _, err := solanago.PublicKeyFromBase58(r.Requirements.PayToAddress); err != nil {
		return nil, h402.Wrap(h402.ReasonInvalidPaymentRequirements, err, "payToAddress is not a base58 Solana public key")
	}
	id, err := signatureKey(r, sig)
	if err != nil {
		return nil, err
	}
	// Who signed the binding is known only once the transaction is fetched
	// (StateChecker); here it must be present and well formed.
	if _, err := resourceOf(r); err != nil {
		return nil, err
	}
	if _, err := parseBinding(p.SignedMessage); err != nil {
		return nil, err
	}
	token := h402.SolanaNativeToken
	if r.Token.Kind != config.KindNative {
		if _, err := solanago.PublicKeyFromBase58(r.Token.Address); err != nil {
			return nil, h402.Wrap(h402.ReasonTokenNotSupported, err, "configured token mint is not a base58 public key")
		}
		token = r.Token.Address
	}
	return &chains.Payment{
		ID:        id,
		Namespace: h402.NamespaceSolana,
		NetworkID: r.Network.NetworkID,
		Type:      h402.TypeSignAndSendTransaction,
		Token:     token,
		PayTo:     r.Requirements.PayToAddress,
		Amount:    new(big.Int).Set(r.Amount),
		TxHash:    sig.String(),
		Settle:    false,
	}, nil
}
