package ledger

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/h402/settlement/pkg/events"
)

// StatusOptions bound what Status reads. Zero fields take the defaults;
// larger values are cut to the maximums.
type StatusOptions struct {
	// Minutes of throughput, ending with the current minute (default 15,
	// at most 120).
	Minutes int
	// Receipts is how many of the most recent receipts (default 30, at
	// most 200).
	Receipts int
	// SellerRows is how many seller totals rows (seller, network, token)
	// are read, in key order (default 100, at most 1000).
	SellerRows int
}

const (
	maxStatusMinutes  = 120
	maxStatusReceipts = 200
	maxStatusSellers  = 1000
	maxStatusNetworks = 64
	// aheadLimit bounds how far past now the throughput window may end
	// (block times that run ahead of the wall clock).
	aheadLimit = time.Hour
)

func (o StatusOptions) norm() StatusOptions {
	clamp := func(v, def, max int) int {
		switch {
		case v <= 0:
			return def
		case v > max:
			return max
		}
		return v
	}
	o.Minutes = clamp(o.Minutes, 15, maxStatusMinutes)
	o.Receipts = clamp(o.Receipts, 30, maxStatusReceipts)
	o.SellerRows = clamp(o.SellerRows, 100, maxStatusSellers)
	return o
}

// Status is an overview of the ledger, read in one transaction from
// counters and indexes kept at Apply time: it costs the same on a ledger
// of ten payments or of a hundred million.
type Status struct {
	// Applied and Skipped are each stream's last applied sequence and its
	// count of messages that could not be projected.
	Applied map[string]uint64 `json:"applied"`
	Skipped map[string]uint64 `json:"skipped"`
	// Networks are the networks (ns.networkId) with payments, by name;
	// NetworksMore is set when more than it holds exist.
	Networks     []NetworkStatus `json:"networks"`
	NetworksMore bool            `json:"networksMore,omitempty"`
	// Minutes are the starts of the throughput window's minutes, oldest
	// first; each network's PerMinute is aligned with it. The window ends
	// with the current minute, or later when payments are stamped ahead
	// of the clock (at most an hour).
	Minutes []time.Time `json:"minutes"`
	// Sellers are per seller, network and token totals in key order;
	// SellersMore is set when the ledger has more rows.
	Sellers     []SellerStatus `json:"sellers"`
	SellersMore bool           `json:"sellersMore,omitempty"`
	// Receipts are the most recent receipts, newest first (by their time).
	Receipts []events.Receipt `json:"receipts"`
	Gas      []NetworkGas     `json:"gas"`
}

// NetworkStatus is one network's payments by state and per minute.
type NetworkStatus struct {
	Network   string                  `json:"network"`
	States    map[events.State]uint64 `json:"states"`
	Total     uint64                  `json:"total"`
	PerMinute []MinuteCount           `json:"perMinute"`
}

// MinuteCount is what happened on a network in one minute: payments
// accepted (by their acceptance time), finalized and failed (by the time
// of their terminal transition). Payments count once, in their current
// state: one sent back and settled again counts at its last finality.
type MinuteCount struct {
	Accepted  uint64 `json:"accepted"`
	Finalized uint64 `json:"finalized"`
	Failed    uint64 `json:"failed"`
}

// SellerStatus is a seller's totals on one network and token.
type SellerStatus struct {
	PayTo string `json:"payTo"`
	SellerTotal
}

// States lists the payment states in their order.
var States = []events.State{events.StateAccepted, events.StateBatched, events.StateSubmitted,
	events.StateConfirmed, events.StateFinalized, events.StateFailed}

// Status reads the overview at time now.
func (l *Ledger) Status(now time.Time, opts StatusOptions) (*Status, error) {
	opts = opts.norm()
	s := &Status{Applied: map[string]uint64{}, Skipped: map[string]uint64{}}
	err := l.db.View(func(tx *bolt.Tx) error {
		if m := tx.Bucket(bucketMeta); m != nil {
			for _, st := range Streams {
				s.Applied[st] = getUint(m, seqKey(st))
				s.Skipped[st] = getUint(m, []byte("skipped/"+st))
			}
		}
		if tx.Bucket(bucketCounts) == nil || tx.Bucket(bucketPerMinute) == nil || tx.Bucket(bucketReceiptsByTime) == nil {
			return fmt.Errorf("%w: the file was written by an older build (open it writable once to add the status counters)", ErrNotFound)
		}
		if err := s.readNetworks(tx, now, opts); err != nil {
			return err
		}
		if err := s.readSellers(tx, opts); err != nil {
			return err
		}
		if err := s.readReceipts(tx, opts); err != nil {
			return err
		}
		return tx.Bucket(bucketGas).ForEach(func(k, v []byte) error {
			g := NetworkGas{Network: string(k)}
			if err := json.Unmarshal(v, &g.Gas); err != nil {
				return fmt.Errorf("gas of %s: %w", k, err)
			}
			s.Gas = append(s.Gas, g)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("ledger: status: %w", err)
	}
	return s, nil
}

func (s *Status) readNetworks(tx *bolt.Tx, now time.Time, opts StatusOptions) error {
	c := tx.Bucket(bucketCounts).Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		net, state, ok := cutLP(k)
		if !ok {
			return fmt.Errorf("counts: bad key %q", k)
		}
		if n := len(s.Networks); n == 0 || s.Networks[n-1].Network != net {
			if n == maxStatusNetworks {
				s.NetworksMore = true
				break
			}
			s.Networks = append(s.Networks, NetworkStatus{Network: net, States: map[events.State]uint64{}})
		}
		ns := &s.Networks[len(s.Networks)-1]
		if len(v) == 8 {
			cnt := binary.BigEndian.Uint64(v)
			ns.States[events.State(state)] += cnt
			ns.Total += cnt
		}
	}
	sort.Slice(s.Networks, func(i, j int) bool { return s.Networks[i].Network < s.Networks[j].Network })

	// The window ends with the current minute, or with the newest counted
	// minute when that is ahead of it (block times that run ahead).
	pm := tx.Bucket(bucketPerMinute)
	end := now.UTC().Truncate(time.Minute)
	for _, ns := range s.Networks {
		prefix := lp(ns.Network)
		pc := pm.Cursor()
		k, _ := pc.Seek(key(prefix, timeKey(now.Add(aheadLimit))))
		if k == nil {
			k, _ = pc.Last()
		} else {
			k, _ = pc.Prev()
		}
		if hasPrefix(k, prefix) {
			if t, _, ok := minuteOf(k[len(prefix):]); ok && t.After(end) {
				end = t
			}
		}
	}
	start := end.Add(-time.Duration(opts.Minutes-1) * time.Minute)
	for i := range opts.Minutes {
		s.Minutes = append(s.Minutes, start.Add(time.Duration(i)*time.Minute))
	}
	for i := range s.Networks {
		ns := &s.Networks[i]
		ns.PerMinute = make([]MinuteCount, opts.Minutes)
		prefix := lp(ns.Network)
		stop := key(prefix, timeKey(end.Add(time.Minute)))
		pc := pm.Cursor()
		for k, _ := pc.Seek(key(prefix, timeKey(start))); hasPrefix(k, prefix) && bytes.Compare(k, stop) < 0; k, _ = pc.Next() {
			t, kind, ok := minuteOf(k[len(prefix):])
			if !ok {
				continue
			}
			idx := int(t.Sub(start) / time.Minute)
			if idx < 0 || idx >= opts.Minutes {
				continue
			}
			n := getUint(pm, k)
			switch kind {
			case kindAccepted:
				ns.PerMinute[idx].Accepted += n
			case kindFinalized:
				ns.PerMinute[idx].Finalized += n
			case kindFailed:
				ns.PerMinute[idx].Failed += n
			}
		}
	}
	return nil
}

func (s *Status) readSellers(tx *bolt.Tx, opts StatusOptions) error {
	c := tx.Bucket(bucketTotals).Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if len(s.Sellers) == opts.SellerRows {
			s.SellersMore = true
			return nil
		}
		payTo, rest, ok := cutLP(k)
		if !ok {
			return fmt.Errorf("totals: bad key %q", k)
		}
		network, token, ok := cutLP([]byte(rest))
		if !ok {
			return fmt.Errorf("totals: bad key %q", k)
		}
		row := SellerStatus{PayTo: payTo, SellerTotal: SellerTotal{Network: network, Token: token}}
		if err := json.Unmarshal(v, &row.Totals); err != nil {
			return fmt.Errorf("totals of %s: %w", payTo, err)
		}
		s.Sellers = append(s.Sellers, row)
	}
	return nil
}

func (s *Status) readReceipts(tx *bolt.Tx, opts StatusOptions) error {
	c := tx.Bucket(bucketReceiptsByTime).Cursor()
	for k, _ := c.Last(); k != nil && len(s.Receipts) < opts.Receipts; k, _ = c.Prev() {
		if len(k) < 9 {
			continue
		}
		r, err := loadReceipt(tx, string(k[8:]))
		if err != nil {
			return err
		}
		if r != nil {
			s.Receipts = append(s.Receipts, *r)
		}
	}
	return nil
}
