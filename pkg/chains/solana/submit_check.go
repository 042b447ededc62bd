package solana

import (
	"github.com/h402/settlement/pkg/config"
	"github.com/h402/settlement/pkg/events"
	"github.com/h402/settlement/pkg/h402"
)

// checkBeforeCoSign re-applies, to a transaction our fee payer is about to
// sign, the rules ingest applied when it accepted the payment: the settler
// does not trust the log (an injected event must not make a fee payer pay
// for an arbitrary or overpriced transaction). The instruction layout, the
// compute-unit caps of the verify policy, a fee payer that only pays the
// fee, and a token on the network's allow-list that is the event's token.
// Errors are *h402.Error (permanent).
func (s *Submitter) checkBeforeCoSign(e *events.PaymentAccepted, w *wireTx) error {
	l, err := parseLayout(w)
	if err != nil {
		return err
	}
	if err := checkComputeCaps(s.opts.Policy, l, "; not co-signed"); err != nil {
		return err
	}
	fp := w.feePayer()
	if instructionAccounts(w, fp) {
		return h402.Errorf(h402.ReasonSolanaFeePayer, "facilitator fee payer %s appears in an instruction's accounts; it may only pay the fee", fp)
	}
	if !w.isSigner(l.authorityIdx) || l.authority == fp {
		return h402.Errorf(h402.ReasonSolanaSignature, "transfer authority %s is not a client signer of the transaction", l.authority)
	}
	if l.native {
		if e.Token != h402.SolanaNativeToken || !s.hasKind(config.KindNative) {
			return h402.Errorf(h402.ReasonTokenNotSupported, "transaction transfers native SOL, which is not the payment's token %s or not accepted on network %s", e.Token, s.network.NetworkID)
		}
		return nil
	}
	mint := l.mint.String()
	tok, err := s.network.Token(mint)
	if err != nil {
		return err
	}
	want := TokenProgramID
	if tok.Kind == config.KindToken2022 {
		want = Token2022ProgramID
	} else if tok.Kind != config.KindSPL {
		return h402.Errorf(h402.ReasonTokenNotSupported, "token %s is configured as %s, not an SPL mint", mint, tok.Kind)
	}
	switch {
	case l.program != want:
		return instructionsErr("TransferChecked runs under program %s, but token %s's program is %s", l.program, mint, want)
	case mint != e.Token:
		return h402.Errorf(h402.ReasonSolanaMint, "transaction moves mint %s, the payment's token is %s", mint, e.Token)
	case int(l.decimals) != tok.Decimals:
		return h402.Errorf(h402.ReasonSolanaMint, "TransferChecked says %d decimals, the token has %d", l.decimals, tok.Decimals)
	}
	if c := l.create; c != nil && (c.mint != l.mint || c.program != l.program || c.system != SystemProgramID) {
		return instructionsErr("CreateAssociatedTokenIdempotent is for mint %s under %s, want the transfer's %s under %s", c.mint, c.program, l.mint, l.program)
	}
	return nil
}

// hasKind reports whether the network accepts a token of kind k.
func (s *Submitter) hasKind(k config.TokenKind) bool {
	for _, t := range s.network.Tokens {
		if t.Kind == k {
			return true
		}
	}
	return false
}
