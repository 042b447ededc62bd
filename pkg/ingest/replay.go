package ingest

import (
	"context"
	"errors"

	"github.com/h402/settlement/pkg/chains"
	"github.com/h402/settlement/pkg/events"
	"github.com/h402/settlement/pkg/guard"
	"github.com/h402/settlement/pkg/h402"
)

// refused handles a payment that failed verification (locally or against
// chain state). A payment that is already ours fails verification once it is
// used on chain, or once its window has passed: when its replay key is
// taken, the answer is the replay answer (the same one again for the
// identical /settle; payment_already_used otherwise), never a flip to
// "nonce used" or "expired". cause is returned as is otherwise.
func (s *Service) refused(ctx context.Context, o *Outcome, req *h402.Request, fp, idem string, cause error, settle bool) *Outcome {
	var he *h402.Error
	if !errors.As(cause, &he) {
		return classify(o, cause) // retryable: nothing was decided
	}
	key := ""
	if o.Payment != nil {
		key = o.Payment.ID
	} else if k, err := s.local.ReplayKey(req.Requirements, req.Payload); err == nil {
		key = k
	}
	if key == "" {
		return classify(o, cause)
	}
	held, err := s.guard.LookupKind(ctx, key, chains.KeptForGood(req.Payload.Payload.PayloadType()))
	if err != nil || held == nil {
		return classify(o, cause)
	}
	if settle && held.Claim.Same(fp, idem) {
		return s.repeat(ctx, o, held, cause)
	}
	return s.taken(ctx, o, held)
}

// replayed answers a request whose replay key is held: the identical
// /settle (same payment, requirements and idempotency key) is repeated;
// anything else, and every /verify, is payment_already_used. ev and st are
// this request's verified event and chain state (nil on /verify).
func (s *Service) replayed(ctx context.Context, o *Outcome, held *guard.Held, fp, idem string, ev *events.PaymentAccepted, st *checked, settle bool) *Outcome {
	if !settle || !held.Claim.Same(fp, idem) {
		return s.taken(ctx, o, held)
	}
	stored, err := s.storedAccepted(ctx, o.Payment.Namespace, o.Payment.NetworkID, held.Key)
	if err != nil {
		return classify(o, err)
	}
	if stored == nil {
		// The first attempt claimed the key but its event is not in the
		// stream (its publish failed and the claim stayed): finish it now,
		// as that attempt, so that "accepted" is true.
		ev.AcceptedAt = held.Claim.At
		return s.accept(ctx, o, ev, st, held.Claim, held.Revision, false)
	}
	return s.repeatStored(ctx, o, held, stored)
}

// repeat answers the identical /settle of a payment that now fails
// verification: the stored answer when its event is in the stream, else the
// verification failure (it was never accepted).
func (s *Service) repeat(ctx context.Context, o *Outcome, held *guard.Held, cause error) *Outcome {
	ns, networkID, err := splitID(held.Key)
	if err != nil {
		return classify(o, cause)
	}
	stored, err := s.storedAccepted(ctx, ns, networkID, held.Key)
	if err != nil {
		return classify(o, err)
	}
	if stored == nil {
		return classify(o, cause)
	}
	return s.repeatStored(ctx, o, held, stored)
}

// repeatStored repeats the first answer with where the payment stands now.
func (s *Service) repeatStored(ctx context.Context, o *Outcome, held *guard.Held, stored *events.PaymentAccepted) *Outcome {
	if o.Payment == nil {
		o.Payment = paymentOf(stored)
	}
	o.State = events.StateAccepted
	tr, err := s.LatestState(ctx, stored.Namespace, stored.NetworkID, held.Key)
	if err != nil {
		return classify(o, err)
	}
	if tr != nil {
		o.State, o.TxHash, o.Last = tr.State, tr.TxHash, tr
	}
	if o.State == events.StateFailed {
		return o
	}
	return s.wait(ctx, o)
}

// taken refuses a request for a payment another request holds, telling the
// payment's id and state so an honest seller can look it up.
func (s *Service) taken(ctx context.Context, o *Outcome, held *guard.Held) *Outcome {
	ns, networkID, err := splitID(held.Key)
	if err == nil {
		stored, err := s.storedAccepted(ctx, ns, networkID, held.Key)
		if err == nil && stored != nil {
			if o.Payment == nil {
				o.Payment = paymentOf(stored)
			}
			o.State = events.StateAccepted
			if tr, err := s.LatestState(ctx, ns, networkID, held.Key); err == nil && tr != nil {
				o.State, o.TxHash = tr.State, tr.TxHash
			}
		}
	}
	if o.Payment == nil {
		o.Payment = &chains.Payment{ID: held.Key, Namespace: ns, NetworkID: networkID}
	}
	o.Payment.ID = held.Key
	return classify(o, alreadyUsed(held.Key, o.State))
}

// paymentOf is what an answer needs of a stored payment.
func paymentOf(e *events.PaymentAccepted) *chains.Payment {
	p := &chains.Payment{
		ID: e.ID, Namespace: e.Namespace, NetworkID: e.NetworkID, Type: e.Type,
		Token: e.Token, Payer: e.Payer, PayTo: e.PayTo, Nonce: e.Nonce, TxHash: e.TxHash, Settle: e.Settle,
	}
	p.Amount, _ = e.AmountInt()
	return p
}
