package ledger

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/big"
	"sort"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/h402/settlement/pkg/events"
	"github.com/h402/settlement/pkg/h402"
)

// Payment is one payment as the ledger sees it: its accepted event (when
// read) folded with its state transitions.
type Payment struct {
	ID string `json:"id"`
	// Known is true once the accepted event was read; before that the
	// payment has only transitions and counts in no totals or indexes but
	// by_tx.
	Known      bool             `json:"known"`
	Namespace  h402.Namespace   `json:"namespace,omitempty"`
	NetworkID  string           `json:"networkId,omitempty"`
	Type       h402.PayloadType `json:"type,omitempty"`
	Token      string           `json:"token,omitempty"`
	Payer      string           `json:"payer,omitempty"`
	PayTo      string           `json:"payTo,omitempty"`
	Amount     string           `json:"amount,omitempty"`
	Resource   string           `json:"resource,omitempty"`
	AcceptedAt time.Time        `json:"acceptedAt,omitzero"`
	// ClientTxHash is the transaction of a client-broadcast payment.
	ClientTxHash string `json:"clientTxHash,omitempty"`

	// State is the latest state and Seq the transition that set it (0: the
	// accepted event). A terminal state is kept: transitions after it are
	// counted in Ignored.
	State   events.State `json:"state"`
	Seq     uint64       `json:"seq"`
	StateAt time.Time    `json:"stateAt,omitzero"`
	TxHash  string       `json:"txHash,omitempty"`
	Block   uint64       `json:"block,omitempty"`
	// FinalAt is the time of the terminal transition (finalized or failed).
	FinalAt time.Time   `json:"finalAt,omitzero"`
	Reason  h402.Reason `json:"reason,omitempty"`
	Message string      `json:"message,omitempty"`
	Ignored int         `json:"ignored,omitempty"`
}

// Network is ns.networkId.
func (p *Payment) Network() string { return string(p.Namespace) + "." + p.NetworkID }

// projectPayments applies a PAYMENTS message.
func projectPayments(tx *bolt.Tx, subject string, data []byte) (outcome, error) {
	if id, ok := events.PaymentIDOfStateSubject(subject); ok {
		return applyTransition(tx, id, data)
	}
	if parts := strings.Split(subject, "."); len(parts) == 4 {
		ns, net := h402.Namespace(parts[2]), parts[3]
		dead, _ := events.PaymentDeadSubject(ns, net)
		review, _ := events.PaymentReviewSubject(ns, net)
		if subject == dead || subject == review {
			return ignored, nil
		}
	}
	e, err := events.DecodePaymentAccepted(data)
	if err != nil {
		return skipf("not a transition, dead letter or readable accepted event: %w", err)
	}
	id, ok := events.PaymentIDOfAcceptedSubject(e.Namespace, e.NetworkID, subject)
	if !ok {
		// Version 1 events were published on the network's subject.
		filters, err := events.PaymentAcceptedFilters(e.Namespace, e.NetworkID)
		if err != nil || subject != filters[0] {
			return skipf("accepted event of %s on subject %s", e.ID, subject)
		}
		id = e.ID
	}
	if id != e.ID {
		return skipf("accepted event of %s on the subject of %s", e.ID, id)
	}
	if err := checkFields(e.Token, e.Payer, e.PayTo, e.TxHash); err != nil {
		return skipf("accepted event of %s: %w", e.ID, err)
	}
	if len(e.Amount) > 80 {
		return skipf("accepted event of %s: amount of %d digits", e.ID, len(e.Amount))
	}
	return applyAccepted(tx, e)
}

func applyAccepted(tx *bolt.Tx, e *events.PaymentAccepted) (outcome, error) {
	old, err := loadPayment(tx, e.ID)
	if err != nil {
		return 0, err
	}
	if old != nil && old.Known {
		// A send-back republishes the same event: the first one stands.
		return ignored, nil
	}
	p := Payment{ID: e.ID}
	if old != nil {
		p = *old
	}
	p.Known = true
	p.Namespace, p.NetworkID, p.Type = e.Namespace, e.NetworkID, e.Type
	p.Token, p.Payer, p.PayTo, p.Amount = e.Token, e.Payer, e.PayTo, e.Amount
	p.Resource, p.AcceptedAt = e.Resource, e.AcceptedAt
	if !e.Settle {
		p.ClientTxHash = e.TxHash
	}
	return applied, savePayment(tx, old, &p)
}

func applyTransition(tx *bolt.Tx, id string, data []byte) (outcome, error) {
	tr, err := events.DecodeTransition(data)
	if err != nil {
		return skipf("transition of %s: %w", id, err)
	}
	if err := checkFields(tr.TxHash); err != nil {
		return skipf("transition of %s: %w", id, err)
	}
	tr.ID = id // the subject names the payment
	h := tx.Bucket(bucketHistory)
	hk := historyKey(id, tr.Seq)
	if h.Get(hk) != nil {
		return ignored, nil // one transition per Seq: the first stands
	}
	b, err := json.Marshal(tr)
	if err != nil {
		return 0, err
	}
	if err := h.Put(hk, b); err != nil {
		return 0, err
	}
	old, err := loadPayment(tx, id)
	if err != nil {
		return 0, err
	}
	p := Payment{ID: id}
	if old != nil {
		p = *old
	}
	return applied, savePayment(tx, old, &p)
}

func historyKey(id string, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(lp(id), seq)
}

// history returns a payment's transitions in Seq order.
func history(tx *bolt.Tx, id string) ([]events.Transition, error) {
	var out []events.Transition
	prefix := lp(id)
	c := tx.Bucket(bucketHistory).Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		var tr events.Transition
		if err := json.Unmarshal(v, &tr); err != nil {
			return nil, fmt.Errorf("history of %s: %w", id, err)
		}
		out = append(out, tr)
	}
	return out, nil
}

func loadPayment(tx *bolt.Tx, id string) (*Payment, error) {
	v := tx.Bucket(bucketPayments).Get([]byte(id))
	if v == nil {
		return nil, nil
	}
	var p Payment
	if err := json.Unmarshal(v, &p); err != nil {
		return nil, fmt.Errorf("payment %s: %w", id, err)
	}
	return &p, nil
}

// fold recomputes the state fields of p from its history (Seq order).
func fold(p *Payment, hist []events.Transition) {
	p.State, p.Seq, p.StateAt, p.Block, p.FinalAt = events.StateAccepted, 0, p.AcceptedAt, 0, time.Time{}
	p.TxHash, p.Reason, p.Message, p.Ignored = p.ClientTxHash, "", "", 0
	for _, tr := range hist {
		if p.State.Terminal() {
			p.Ignored++
			continue
		}
		p.State, p.Seq, p.StateAt = tr.State, tr.Seq, tr.At
		p.Reason, p.Message = tr.Reason, tr.Message
		switch {
		case tr.State == events.StateAccepted:
			p.TxHash, p.Block = p.ClientTxHash, 0 // sent back
		case tr.TxHash != "" && tr.TxHash != p.TxHash:
			p.TxHash, p.Block = tr.TxHash, 0
		}
		if tr.Block != 0 {
			p.Block = tr.Block
		}
		if tr.State.Terminal() {
			p.FinalAt = tr.At
		}
	}
}

// savePayment folds p's history, stores it, and moves its index entries and
// its share of the totals from what old had to what p has.
func savePayment(tx *bolt.Tx, old, p *Payment) error {
	hist, err := history(tx, p.ID)
	if err != nil {
		return err
	}
	fold(p, hist)
	b, err := json.Marshal(p)
	if err != nil {
		return err
	}
	if err := tx.Bucket(bucketPayments).Put([]byte(p.ID), b); err != nil {
		return err
	}
	if old != nil {
		for _, e := range indexEntries(old) {
			if err := tx.Bucket(e.bucket).Delete(e.key); err != nil {
				return err
			}
		}
		if err := addTotals(tx, old, -1); err != nil {
			return err
		}
	}
	for _, e := range indexEntries(p) {
		if err := tx.Bucket(e.bucket).Put(e.key, nil); err != nil {
			return err
		}
	}
	if err := moveCounters(tx, old, p); err != nil {
		return err
	}
	return addTotals(tx, p, +1)
}

type indexEntry struct {
	bucket, key []byte
}

func indexEntries(p *Payment) []indexEntry {
	var out []indexEntry
	id := []byte(p.ID)
	if p.TxHash != "" {
		out = append(out, indexEntry{bucketByTx, key(lp(p.TxHash), id)})
	}
	if !p.Known {
		return out
	}
	at := timeKey(p.AcceptedAt)
	out = append(out,
		indexEntry{bucketByPayTo, key(lp(Addr(p.PayTo)), at, id)},
		indexEntry{bucketByPayer, key(lp(Addr(p.Payer)), at, id)})
	if p.State.Terminal() {
		fin := timeKey(p.FinalAt)
		out = append(out,
			indexEntry{bucketTerminalByPayTo, key(lp(Addr(p.PayTo)), fin, id)},
			indexEntry{bucketTerminalByNet, key(lp(p.Network()), fin, id)})
	}
	return out
}

// Totals are one seller's amounts on one network and token, in smallest
// units (decimal strings), and the number of payments in each.
type Totals struct {
	Settled      string `json:"settled"`
	Pending      string `json:"pending"`
	Failed       string `json:"failed"`
	SettledCount int64  `json:"settledCount"`
	PendingCount int64  `json:"pendingCount"`
	FailedCount  int64  `json:"failedCount"`
}

func totalsKey(payTo, network, token string) []byte {
	return key(lp(Addr(payTo)), lp(network), []byte(Addr(token)))
}

// addTotals adds (sign +1) or removes (-1) p's amount in the column of its state.
func addTotals(tx *bolt.Tx, p *Payment, sign int64) error {
	if !p.Known {
		return nil
	}
	amt, ok := new(big.Int).SetString(p.Amount, 10)
	if !ok {
		return fmt.Errorf("payment %s: stored amount %q", p.ID, p.Amount)
	}
	if sign < 0 {
		amt.Neg(amt)
	}
	b := tx.Bucket(bucketTotals)
	k := totalsKey(p.PayTo, p.Network(), p.Token)
	t := Totals{Settled: "0", Pending: "0", Failed: "0"}
	if v := b.Get(k); v != nil {
		if err := json.Unmarshal(v, &t); err != nil {
			return fmt.Errorf("totals of %s: %w", p.PayTo, err)
		}
	}
	col, n := &t.Pending, &t.PendingCount
	switch p.State {
	case events.StateFinalized:
		col, n = &t.Settled, &t.SettledCount
	case events.StateFailed:
		col, n = &t.Failed, &t.FailedCount
	}
	cur, ok := new(big.Int).SetString(*col, 10)
	if !ok {
		return fmt.Errorf("totals of %s: stored %q", p.PayTo, *col)
	}
	*col = cur.Add(cur, amt).String()
	*n += sign
	if t.SettledCount == 0 && t.PendingCount == 0 && t.FailedCount == 0 {
		return b.Delete(k)
	}
	v, err := json.Marshal(&t)
	if err != nil {
		return err
	}
	return b.Put(k, v)
}

// sortIDs sorts and deduplicates ids.
func sortIDs(ids []string) []string {
	sort.Strings(ids)
	out := ids[:0]
	for i, id := range ids {
		if i == 0 || id != ids[i-1] {
			out = append(out, id)
		}
	}
	return out
}

// Forget removes a payment from this copy of the ledger: its record, its
// history, its index entries and its share of the totals (receipts and
// settlement records stay). It is a repair and drill tool (a reconciliation
// drill removes a payment on purpose and expects it to be reported); the
// streams still hold the payment, and a rebuild brings it back.
func (l *Ledger) Forget(id string) error {
	return l.db.Update(func(tx *bolt.Tx) error {
		p, err := loadPayment(tx, id)
		if err != nil {
			return err
		}
		if p == nil {
			return fmt.Errorf("%w: payment %s", ErrNotFound, id)
		}
		for _, e := range indexEntries(p) {
			if err := tx.Bucket(e.bucket).Delete(e.key); err != nil {
				return err
			}
		}
		if err := addTotals(tx, p, -1); err != nil {
			return err
		}
		if err := moveCounters(tx, p, nil); err != nil {
			return err
		}
		prefix := lp(id)
		c := tx.Bucket(bucketHistory).Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Seek(prefix) {
			if err := c.Delete(); err != nil {
				return err
			}
		}
		return tx.Bucket(bucketPayments).Delete([]byte(id))
	})
}
