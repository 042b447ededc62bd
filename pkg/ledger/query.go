package ledger

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/h402/settlement/pkg/events"
)

// Page sizes.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
)

// Query errors.
var (
	ErrNotFound  = errors.New("ledger: not found")
	ErrBadCursor = errors.New("ledger: bad cursor")
)

// Range selects a page of a time-ordered index: times in [From, To) (zero:
// unbounded), after Cursor (opaque, from the previous page), at most Limit
// entries (0: DefaultLimit; more than MaxLimit: MaxLimit).
type Range struct {
	From, To time.Time
	Cursor   string
	Limit    int
}

func (r Range) limit() int {
	switch {
	case r.Limit <= 0:
		return DefaultLimit
	case r.Limit > MaxLimit:
		return MaxLimit
	}
	return r.Limit
}

// scanRange calls fn with the id of each entry of b under prefix in r, and
// returns the cursor of the next page ("" when there is none).
func scanRange(b *bolt.Bucket, prefix []byte, r Range, fn func(id []byte) error) (string, error) {
	start := prefix
	if !r.From.IsZero() {
		start = key(prefix, timeKey(r.From))
	}
	var after []byte
	if r.Cursor != "" {
		raw, err := base64.RawURLEncoding.DecodeString(r.Cursor)
		if err != nil || len(raw) < 9 {
			return "", fmt.Errorf("%w %q", ErrBadCursor, r.Cursor)
		}
		after = key(prefix, raw)
		if bytes.Compare(after, start) > 0 {
			start = after
		}
	}
	var end []byte
	if !r.To.IsZero() {
		end = key(prefix, timeKey(r.To))
	}
	limit, n := r.limit(), 0
	var last []byte
	c := b.Cursor()
	for k, _ := c.Seek(start); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		if end != nil && bytes.Compare(k, end) >= 0 {
			break
		}
		if after != nil && bytes.Equal(k, after) {
			continue
		}
		if len(k) < len(prefix)+9 {
			continue
		}
		if n == limit {
			return base64.RawURLEncoding.EncodeToString(last[len(prefix):]), nil
		}
		if err := fn(k[len(prefix)+8:]); err != nil {
			return "", err
		}
		n++
		last = k
	}
	return "", nil
}

// Payment returns a payment and its transitions, or ErrNotFound.
func (l *Ledger) Payment(id string) (*Payment, []events.Transition, error) {
	var (
		p    *Payment
		hist []events.Transition
	)
	err := l.db.View(func(tx *bolt.Tx) error {
		var err error
		if p, err = loadPayment(tx, id); err != nil || p == nil {
			return err
		}
		hist, err = history(tx, id)
		return err
	})
	if err == nil && p == nil {
		err = fmt.Errorf("%w: payment %s", ErrNotFound, id)
	}
	return p, hist, err
}

// Receipt returns a payment's receipt, or ErrNotFound.
func (l *Ledger) Receipt(id string) (*events.Receipt, error) {
	var r *events.Receipt
	err := l.db.View(func(tx *bolt.Tx) error {
		var err error
		r, err = loadReceipt(tx, id)
		return err
	})
	if err == nil && r == nil {
		err = fmt.Errorf("%w: receipt of %s", ErrNotFound, id)
	}
	return r, err
}

func loadReceipt(tx *bolt.Tx, id string) (*events.Receipt, error) {
	v := tx.Bucket(bucketReceipts).Get([]byte(id))
	if v == nil {
		return nil, nil
	}
	var r events.Receipt
	if err := json.Unmarshal(v, &r); err != nil {
		return nil, fmt.Errorf("receipt of %s: %w", id, err)
	}
	return &r, nil
}

// Receipts returns a page of a seller's receipts ordered by their time (At).
func (l *Ledger) Receipts(payTo string, r Range) ([]events.Receipt, string, error) {
	var (
		out  []events.Receipt
		next string
	)
	err := l.db.View(func(tx *bolt.Tx) error {
		var err error
		next, err = scanRange(tx.Bucket(bucketReceiptsBySeller), lp(Addr(payTo)), r, func(id []byte) error {
			rc, err := loadReceipt(tx, string(id))
			if err != nil || rc == nil {
				return err
			}
			out = append(out, *rc)
			return nil
		})
		return err
	})
	return out, next, err
}

// Party selects the payments index: by seller or by payer.
type Party int

// Parties.
const (
	PayTo Party = iota
	Payer
)

// Payments returns a page of a seller's or payer's payments ordered by
// acceptance time.
func (l *Ledger) Payments(by Party, who string, r Range) ([]Payment, string, error) {
	bucket := bucketByPayTo
	if by == Payer {
		bucket = bucketByPayer
	}
	rows, next, err := l.page(bucket, lp(Addr(who)), r, false)
	ps := make([]Payment, len(rows))
	for i := range rows {
		ps[i] = rows[i].p
	}
	return ps, next, err
}

// row is a payment and, when asked for, its receipt.
type row struct {
	p Payment
	r *events.Receipt
}

// page reads one page of payments of an index, with their receipts when
// receipts is set.
func (l *Ledger) page(bucket, prefix []byte, r Range, receipts bool) ([]row, string, error) {
	var (
		out  []row
		next string
	)
	err := l.db.View(func(tx *bolt.Tx) error {
		var err error
		next, err = scanRange(tx.Bucket(bucket), prefix, r, func(id []byte) error {
			p, err := loadPayment(tx, string(id))
			if err != nil || p == nil {
				return err
			}
			var rc *events.Receipt
			if receipts {
				if rc, err = loadReceipt(tx, p.ID); err != nil {
					return err
				}
			}
			out = append(out, row{*p, rc})
			return nil
		})
		return err
	})
	return out, next, err
}

// Terminal calls fn for each of a seller's terminal payments whose terminal
// transition is in [from, to), in time order, with its receipt when the
// ledger has it. It reads in pages, one read transaction each, so a slow fn
// never holds the file.
func (l *Ledger) Terminal(payTo string, from, to time.Time, fn func(*Payment, *events.Receipt) error) error {
	return l.eachPage(bucketTerminalByPayTo, lp(Addr(payTo)), from, to, fn)
}

// FinalizedIn calls fn for each payment of network (ns.networkId) finalized
// in [from, to), in time order.
func (l *Ledger) FinalizedIn(network string, from, to time.Time, fn func(*Payment) error) error {
	return l.eachPage(bucketTerminalByNet, lp(network), from, to, func(p *Payment, _ *events.Receipt) error {
		if p.State != events.StateFinalized {
			return nil
		}
		return fn(p)
	})
}

func (l *Ledger) eachPage(bucket, prefix []byte, from, to time.Time, fn func(*Payment, *events.Receipt) error) error {
	r := Range{From: from, To: to, Limit: MaxLimit}
	for {
		rows, next, err := l.page(bucket, prefix, r, true)
		if err != nil {
			return err
		}
		for i := range rows {
			if err := fn(&rows[i].p, rows[i].r); err != nil {
				return err
			}
		}
		if next == "" {
			return nil
		}
		r.Cursor = next
	}
}

// PaymentsByTx returns the payments whose current transaction is txHash.
func (l *Ledger) PaymentsByTx(txHash string) ([]Payment, error) {
	var out []Payment
	err := l.db.View(func(tx *bolt.Tx) error {
		prefix := lp(txHash)
		c := tx.Bucket(bucketByTx).Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			p, err := loadPayment(tx, string(k[len(prefix):]))
			if err != nil {
				return err
			}
			if p != nil {
				out = append(out, *p)
			}
		}
		return nil
	})
	return out, err
}

// SellerTotal is a seller's totals on one network (ns.networkId) and token.
type SellerTotal struct {
	Network string `json:"network"`
	Token   string `json:"token"`
	Totals
}

// SellerTotals returns a seller's totals, by network and token.
func (l *Ledger) SellerTotals(payTo string) ([]SellerTotal, error) {
	var out []SellerTotal
	err := l.db.View(func(tx *bolt.Tx) error {
		prefix := lp(Addr(payTo))
		c := tx.Bucket(bucketTotals).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			rest := k[len(prefix):]
			network, token, ok := cutLP(rest)
			if !ok {
				return fmt.Errorf("totals: bad key %q", k)
			}
			st := SellerTotal{Network: network, Token: token}
			if err := json.Unmarshal(v, &st.Totals); err != nil {
				return fmt.Errorf("totals of %s: %w", payTo, err)
			}
			out = append(out, st)
		}
		return nil
	})
	return out, err
}

// cutLP splits a length-prefixed string off b.
func cutLP(b []byte) (string, string, bool) {
	n, w := uvarint(b)
	if w <= 0 || uint64(len(b)-w) < n {
		return "", "", false
	}
	return string(b[w : w+int(n)]), string(b[w+int(n):]), true
}

// NetworkGas is the gas of one network (ns.networkId).
type NetworkGas struct {
	Network string `json:"network"`
	Gas
}

// Gas returns what final transactions cost, per network in name order.
func (l *Ledger) Gas() ([]NetworkGas, error) {
	var out []NetworkGas
	err := l.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketGas).ForEach(func(k, v []byte) error {
			g := NetworkGas{Network: string(k)}
			if err := json.Unmarshal(v, &g.Gas); err != nil {
				return fmt.Errorf("gas of %s: %w", k, err)
			}
			out = append(out, g)
			return nil
		})
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Network < out[j].Network })
	return out, err
}
