package events

import (
	"fmt"
	"strings"

	"github.com/h402/settlement/pkg/h402"
)

// Subject roots.
const (
	rootPayments    = "payments"
	rootSettlements = "settlements"
	rootReceipts    = "receipts"
)

// checkToken makes sure s is one NATS subject token (and one KV key segment).
func checkToken(what, s string) error {
	if s == "" {
		return fmt.Errorf("subject token %s is empty", what)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'
		if !ok {
			return fmt.Errorf("subject token %s %q has character %q outside [A-Za-z0-9_-]", what, s, c)
		}
	}
	return nil
}

func subject(parts ...string) (string, error) {
	for i, p := range parts[1:] {
		if err := checkToken(fmt.Sprintf("#%d", i+1), p); err != nil {
			return "", err
		}
	}
	return strings.Join(parts, "."), nil
}

// PaymentAcceptedSubject is where ingest publishes one accepted payment:
// payments.accepted.<payment id>. Payment ids start with
// <namespace>.<networkId>, so a network's accepted payments match
// PaymentAcceptedFilters, and the stream's last message on this subject
// tells whether a payment's accepted event is stored, without a dedup window.
func PaymentAcceptedSubject(ns h402.Namespace, networkID, paymentID string) (string, error) {
	if _, err := subject(rootPayments, "accepted", string(ns), networkID); err != nil {
		return "", err
	}
	if err := CheckPaymentID(paymentID); err != nil {
		return "", err
	}
	if !strings.HasPrefix(paymentID, string(ns)+"."+networkID+".") {
		return "", fmt.Errorf("payment id %q does not start with %s.%s", paymentID, ns, networkID)
	}
	return rootPayments + ".accepted." + paymentID, nil
}

// PaymentAcceptedFilters match a network's accepted payments: the subjects
// of this version, and payments.accepted.<namespace>.<networkId> where
// earlier versions published.
func PaymentAcceptedFilters(ns h402.Namespace, networkID string) ([]string, error) {
	base, err := subject(rootPayments, "accepted", string(ns), networkID)
	if err != nil {
		return nil, err
	}
	return []string{base, base + ".>"}, nil
}

// PaymentDeadSubject is the dead-letter subject of a network's payments:
// payments.dead.<namespace>.<networkId>.
func PaymentDeadSubject(ns h402.Namespace, networkID string) (string, error) {
	return subject(rootPayments, "dead", string(ns), networkID)
}

// PaymentReviewSubject is the operator queue of a network's payments:
// payments.review.<namespace>.<networkId>. A payment lands there when it
// kept failing with an error nobody could classify (neither final nor known
// to pass); it is not failed, and an operator decides (send it back, or fail it).
func PaymentReviewSubject(ns h402.Namespace, networkID string) (string, error) {
	return subject(rootPayments, "review", string(ns), networkID)
}

// StateSubject carries the state transitions of one payment:
// payments.state.<namespace>.<networkId>.<payment id>. Payment ids are
// dot-separated tokens, so the latest state of a payment is the stream's last
// message on this subject.
func StateSubject(ns h402.Namespace, networkID, paymentID string) (string, error) {
	base, err := subject(rootPayments, "state", string(ns), networkID)
	if err != nil {
		return "", err
	}
	if err := CheckPaymentID(paymentID); err != nil {
		return "", err
	}
	return base + "." + paymentID, nil
}

// StateWildcard matches every state transition of every network.
const StateWildcard = rootPayments + ".state.>"

// CheckPaymentID makes sure a payment id is dot-separated subject tokens
// (it is then also a valid KV key).
func CheckPaymentID(id string) error {
	if len(id) > 255 {
		return fmt.Errorf("payment id is %d characters, more than 255", len(id))
	}
	for _, tok := range strings.Split(id, ".") {
		if err := checkToken("of payment id", tok); err != nil {
			return err
		}
	}
	return nil
}

// SettlementSubmittedSubject is where settlers report broadcasts:
// settlements.submitted.<namespace>.<networkId>.
func SettlementSubmittedSubject(ns h402.Namespace, networkID string) (string, error) {
	return subject(rootSettlements, "submitted", string(ns), networkID)
}

// ReceiptSubject is a seller's receipts on a network: receipts.<payTo>.<namespace>.<networkId>.
// EVM addresses are lowercased so that one seller has one subject.
func ReceiptSubject(payTo string, ns h402.Namespace, networkID string) (string, error) {
	if ns == h402.NamespaceEVM {
		payTo = strings.ToLower(payTo)
	}
	return subject(rootReceipts, payTo, string(ns), networkID)
}

// ReceiptsOfSeller is the wildcard subject of all of one seller's receipts.
func ReceiptsOfSeller(payTo string, ns h402.Namespace) (string, error) {
	if ns == h402.NamespaceEVM {
		payTo = strings.ToLower(payTo)
	}
	if err := checkToken("payTo", payTo); err != nil {
		return "", err
	}
	return rootReceipts + "." + payTo + "." + string(ns) + ".>", nil
}

// PaymentIDOfAcceptedSubject returns the payment id an accepted subject
// (PaymentAcceptedSubject) names, and false for any other subject (such as
// the per-network subject of version 1 events).
func PaymentIDOfAcceptedSubject(ns h402.Namespace, networkID, subj string) (string, bool) {
	id, ok := strings.CutPrefix(subj, rootPayments+".accepted.")
	if !ok {
		return "", false
	}
	if want, err := PaymentAcceptedSubject(ns, networkID, id); err != nil || want != subj {
		return "", false
	}
	return id, true
}

// PaymentIDOfStateSubject returns the payment id a state subject
// (StateSubject) names, and false for any other subject. A transition is
// about the payment of its subject: a reader must not trust the id in its
// body alone.
func PaymentIDOfStateSubject(subj string) (string, bool) {
	rest, ok := strings.CutPrefix(subj, rootPayments+".state.")
	if !ok {
		return "", false
	}
	parts := strings.SplitN(rest, ".", 3)
	if len(parts) != 3 {
		return "", false
	}
	if want, err := StateSubject(h402.Namespace(parts[0]), parts[1], parts[2]); err != nil || want != subj {
		return "", false
	}
	return parts[2], true
}
