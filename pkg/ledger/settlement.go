package ledger

import (
	"encoding/json"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/h402/settlement/pkg/events"
	"github.com/h402/settlement/pkg/h402"
)

// Settlement is what the submitted records of one transaction say: the
// union of their payments.
type Settlement struct {
	Namespace       h402.Namespace `json:"namespace"`
	NetworkID       string         `json:"networkId"`
	TxHash          string         `json:"txHash"`
	Signer          string         `json:"signer,omitempty"`
	ClientBroadcast bool           `json:"clientBroadcast,omitempty"`
	Payments        []string       `json:"payments"`
	// SubmittedAt is the first record's.
	SubmittedAt time.Time `json:"submittedAt"`
}

// GasPart sums the final transactions one party paid for.
type GasPart struct {
	Txs     uint64 `json:"txs"`
	GasUsed string `json:"gasUsed"`
	Fee     string `json:"fee"`
}

// Gas is what a network's final transactions cost, split by who paid.
type Gas struct {
	Facilitator GasPart `json:"facilitator"`
	Client      GasPart `json:"client"`
}

// projectSettlements applies a SETTLEMENTS message.
func projectSettlements(tx *bolt.Tx, subject string, data []byte) (outcome, error) {
	parts := strings.Split(subject, ".")
	if len(parts) != 4 {
		return skipf("subject %s is not a settlement subject", subject)
	}
	ns, net := h402.Namespace(parts[2]), parts[3]
	if s, _ := events.SettlementSubmittedSubject(ns, net); s == subject {
		return applySubmitted(tx, ns, net, data)
	}
	if s, _ := events.SettlementFinalSubject(ns, net); s == subject {
		return applyFinal(tx, ns, net, data)
	}
	return skipf("subject %s is not a settlement subject", subject)
}

func netKey(ns h402.Namespace, net string) string { return string(ns) + "." + net }

func applySubmitted(tx *bolt.Tx, ns h402.Namespace, net string, data []byte) (outcome, error) {
	s, err := events.DecodeSettlement(data)
	if err != nil {
		return skipf("settlement: %w", err)
	}
	if s.Namespace != ns || s.NetworkID != net {
		return skipf("settlement of %s on %s.%s names network %s.%s", s.TxHash, ns, net, s.Namespace, s.NetworkID)
	}
	if err := checkFields(s.TxHash, s.Signer); err != nil {
		return skipf("settlement: %w", err)
	}
	for _, id := range s.Payments {
		if err := events.CheckPaymentID(id); err != nil {
			return skipf("settlement of %s: %w", s.TxHash, err)
		}
	}
	b := tx.Bucket(bucketSettlements)
	k := key(lp(netKey(ns, net)), []byte(s.TxHash))
	cur := Settlement{Namespace: ns, NetworkID: net, TxHash: s.TxHash, Signer: s.Signer,
		ClientBroadcast: s.ClientBroadcast, SubmittedAt: s.SubmittedAt}
	if v := b.Get(k); v != nil {
		if err := json.Unmarshal(v, &cur); err != nil {
			return 0, fmt.Errorf("settlement %s: %w", s.TxHash, err)
		}
	}
	ids := sortIDs(append(slices.Clone(cur.Payments), s.Payments...))
	if slices.Equal(ids, cur.Payments) {
		return ignored, nil
	}
	cur.Payments = ids
	v, err := json.Marshal(&cur)
	if err != nil {
		return 0, err
	}
	return applied, b.Put(k, v)
}

func applyFinal(tx *bolt.Tx, ns h402.Namespace, net string, data []byte) (outcome, error) {
	f, err := events.DecodeSettlementFinal(data)
	if err != nil {
		return skipf("settlement-final: %w", err)
	}
	if f.Namespace != ns || f.NetworkID != net {
		return skipf("settlement-final of %s on %s.%s names network %s.%s", f.TxHash, ns, net, f.Namespace, f.NetworkID)
	}
	if err := checkFields(f.TxHash, f.FeePayer, f.BlockHash); err != nil {
		return skipf("settlement-final: %w", err)
	}
	fb := tx.Bucket(bucketFinals)
	k := key(lp(netKey(ns, net)), []byte(f.TxHash))
	if fb.Get(k) != nil {
		return ignored, nil // a transaction counts once
	}
	v, err := json.Marshal(f)
	if err != nil {
		return 0, err
	}
	if err := fb.Put(k, v); err != nil {
		return 0, err
	}
	gb := tx.Bucket(bucketGas)
	gk := []byte(netKey(ns, net))
	g := Gas{Facilitator: GasPart{GasUsed: "0", Fee: "0"}, Client: GasPart{GasUsed: "0", Fee: "0"}}
	if v := gb.Get(gk); v != nil {
		if err := json.Unmarshal(v, &g); err != nil {
			return 0, fmt.Errorf("gas of %s: %w", gk, err)
		}
	}
	part := &g.Facilitator
	if f.ClientBroadcast {
		part = &g.Client
	}
	part.Txs++
	fee := f.Fee
	if fee == "" {
		fee = "0"
	}
	if part.GasUsed, err = addDecimal(part.GasUsed, new(big.Int).SetUint64(f.GasUsed).String()); err != nil {
		return 0, err
	}
	if part.Fee, err = addDecimal(part.Fee, fee); err != nil {
		return 0, err
	}
	if v, err = json.Marshal(&g); err != nil {
		return 0, err
	}
	return applied, gb.Put(gk, v)
}

func addDecimal(a, b string) (string, error) {
	x, ok1 := new(big.Int).SetString(a, 10)
	y, ok2 := new(big.Int).SetString(b, 10)
	if !ok1 || !ok2 {
		return "", fmt.Errorf("ledger: add %q and %q: not integers", a, b)
	}
	return x.Add(x, y).String(), nil
}
