package ledger

import (
	"bytes"
	"encoding/binary"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/h402/settlement/pkg/events"
)

// Counters kept at Apply time for the status page (Status), so that it
// reads a bounded number of keys whatever the size of the ledger. Like the
// totals, a payment's contribution is moved from what it had to what it
// has in the same Update, and a counter that comes back to zero is
// deleted, so a live ledger and a rebuilt one hold the same keys.
var (
	bucketCounts         = []byte("counts")
	bucketPerMinute      = []byte("per_minute")
	bucketReceiptsByTime = []byte("receipts_by_time")
)

// Per-minute counter kinds (the last byte of a per_minute key).
const (
	kindAccepted  = 'a'
	kindFinalized = 'f'
	kindFailed    = 'x'
)

// minuteKey is the key of a network's counter of kind in the minute of t.
func minuteKey(network string, t time.Time, kind byte) []byte {
	return append(key(lp(network), timeKey(t.Truncate(time.Minute))), kind)
}

// counter is one counter a payment adds 1 to.
type counter struct {
	bucket string
	key    string
}

// counters are the counters p adds 1 to: its network's count of its
// state, the minute it was accepted in, and the minute it became final.
// A payment whose accepted event was not read counts nowhere.
func counters(p *Payment) []counter {
	if p == nil || !p.Known {
		return nil
	}
	net := p.Network()
	out := []counter{
		{string(bucketCounts), string(key(lp(net), []byte(p.State)))},
		{string(bucketPerMinute), string(minuteKey(net, p.AcceptedAt, kindAccepted))},
	}
	switch p.State {
	case events.StateFinalized:
		out = append(out, counter{string(bucketPerMinute), string(minuteKey(net, p.FinalAt, kindFinalized))})
	case events.StateFailed:
		out = append(out, counter{string(bucketPerMinute), string(minuteKey(net, p.FinalAt, kindFailed))})
	}
	return out
}

// moveCounters takes old's counters down by one and p's up by one (either
// may be nil), touching only those that change.
func moveCounters(tx *bolt.Tx, old, p *Payment) error {
	delta := map[counter]int64{}
	for _, c := range counters(old) {
		delta[c]--
	}
	for _, c := range counters(p) {
		delta[c]++
	}
	for c, d := range delta {
		if d == 0 {
			continue
		}
		if err := addCounter(tx.Bucket([]byte(c.bucket)), []byte(c.key), d); err != nil {
			return err
		}
	}
	return nil
}

// addCounter adds d to the counter at k, deleting it at zero (never below).
func addCounter(b *bolt.Bucket, k []byte, d int64) error {
	n := int64(getUint(b, k)) + d
	if n <= 0 {
		return b.Delete(k)
	}
	return putUint(b, k, uint64(n))
}

// receiptTimeKey is a receipt's key in receipts_by_time.
func receiptTimeKey(r *events.Receipt) []byte { return key(timeKey(r.At), []byte(r.ID)) }

// backfillCounters fills the status buckets of a file written before they
// existed (Open calls it once, when it creates them): from the payments and
// receipts buckets, which hold what they are derived from.
func backfillCounters(tx *bolt.Tx, counts, receipts bool) error {
	if counts {
		err := tx.Bucket(bucketPayments).ForEach(func(k, _ []byte) error {
			p, err := loadPayment(tx, string(k))
			if err != nil || p == nil {
				return err
			}
			return moveCounters(tx, nil, p)
		})
		if err != nil {
			return err
		}
	}
	if receipts {
		rb := tx.Bucket(bucketReceiptsByTime)
		err := tx.Bucket(bucketReceipts).ForEach(func(k, _ []byte) error {
			r, err := loadReceipt(tx, string(k))
			if err != nil || r == nil {
				return err
			}
			return rb.Put(receiptTimeKey(r), nil)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// hasPrefix reports whether k starts with prefix (k may be nil).
func hasPrefix(k, prefix []byte) bool { return k != nil && bytes.HasPrefix(k, prefix) }

// minuteOf decodes the time of a per_minute key after its network prefix.
func minuteOf(rest []byte) (time.Time, byte, bool) {
	if len(rest) != 9 {
		return time.Time{}, 0, false
	}
	n := int64(binary.BigEndian.Uint64(rest[:8]) ^ (1 << 63))
	return time.Unix(0, n).UTC(), rest[8], true
}
