package evm

import (
	"strings"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common/hexutil"

	"github.com/h402/settlement/pkg/chains"
	"github.com/h402/settlement/pkg/h402"
)

// maxRevertData bounds how much undecodable revert data a message quotes.
const maxRevertData = 64

// RevertVerdict is RevertError sorted for the settler (issue 9 item 8):
// the reasons RevertError recognises stay final (*h402.Error); a paused
// token (OpenZeppelin's "Pausable: paused", FiatToken's "Pausable: paused")
// is retryable, since unpausing lets it settle; any other revert is
// unknown (chains.Unknown): retried a few times, then an operator looks.
func RevertVerdict(data []byte) error {
	herr := RevertError(data)
	if herr.Reason != h402.ReasonUnexpectedSettleError {
		return herr
	}
	if msg, err := abi.UnpackRevert(data); err == nil {
		l := strings.ToLower(msg)
		if strings.Contains(l, "paused") || strings.Contains(l, "enforcedpause") {
			return &chains.Transient{Err: herr}
		}
	}
	return &chains.Unknown{Err: herr}
}

// RevertError turns the revert data of a failed transferWithAuthorization
// (an Error(string) as USDC's FiatToken reverts with, a Panic(uint256), a
// custom error or nothing) into the payment's failure. The reason is as
// specific as the revert text allows; anything unrecognised is
// unexpected_settle_error quoting the text. It never returns nil.
func RevertError(data []byte) *h402.Error {
	msg, err := abi.UnpackRevert(data)
	if err != nil {
		if len(data) == 0 {
			return h402.Errorf(h402.ReasonUnexpectedSettleError, "the token reverted the transfer without a reason")
		}
		shown := data
		if len(shown) > maxRevertData {
			shown = shown[:maxRevertData]
		}
		return h402.Errorf(h402.ReasonUnexpectedSettleError, "the token reverted the transfer with undecodable data %s", hexutil.Encode(shown))
	}
	msg = strings.ToValidUTF8(clip(msg), "?")
	l := strings.ToLower(msg)
	switch {
	case strings.Contains(l, "used or canceled"), strings.Contains(l, "used or cancelled"):
		return h402.Errorf(h402.ReasonNonceAlreadyUsed, "the authorization's nonce was already used or canceled on chain (token: %q)", msg)
	case strings.Contains(l, "expired"):
		return h402.Errorf(h402.ReasonEVMValidBefore, "the authorization expired before it could settle (token: %q)", msg)
	case strings.Contains(l, "not yet valid"):
		return h402.Errorf(h402.ReasonEVMValidAfter, "the authorization is not valid yet (token: %q)", msg)
	case strings.Contains(l, "signature"):
		return h402.Errorf(h402.ReasonEVMSignature, "the token rejected the authorization's signature (token: %q)", msg)
	case strings.Contains(l, "balance"):
		return h402.Errorf(h402.ReasonInsufficientFunds, "the payer's balance does not cover the payment (token: %q)", msg)
	default:
		return h402.Errorf(h402.ReasonUnexpectedSettleError, "the token reverted the transfer: %q", msg)
	}
}
