package receipts_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	bolt "go.etcd.io/bbolt"

	"github.com/h402/settlement/pkg/events"
	"github.com/h402/settlement/pkg/h402"
	"github.com/h402/settlement/pkg/receipts"
)

const (
	sellerEVM = "0x00000000000000000000000000000000000005e1"
	tokenEVM  = "0x0000000000000000000000000000000000000a11"
	payerEVM  = "0x00000000000000000000000000000000000000b0"
)

// handledBucket holds what test handlers applied: key <subject>/<sellerSeq
// as 8 big-endian bytes>, value the payment id; dupBucket what a handler
// saw twice.
var (
	handledBucket = []byte("handled")
	dupBucket     = []byte("dups")
	orderBucket   = []byte("order")
)

// receipt is a finalized receipt i of sellerEVM on network net.
func receipt(i int, net string) events.Receipt {
	return events.Receipt{
		ID:    fmt.Sprintf("evm.%s.auth.%s.%s.0x%064x", net, tokenEVM, payerEVM, i),
		State: events.StateFinalized, Namespace: h402.NamespaceEVM, NetworkID: net,
		Payer: payerEVM, PayTo: sellerEVM, Token: tokenEVM, Amount: fmt.Sprint(1000 + i),
		TxHash: fmt.Sprintf("0x%064x", i), Block: uint64(i), At: time.Unix(1764000000, 0).UTC(),
	}
}

// publisher publishes receipts as the watcher does and remembers them.
type publisher struct {
	js jetstream.JetStream
	mu sync.Mutex
	n  int
	// ids[subject][sellerSeq-1] is the payment id.
	ids map[string][]string
}

func newPublisher(js jetstream.JetStream) *publisher {
	return &publisher{js: js, ids: map[string][]string{}}
}

// publish stores n more receipts, alternating over nets.
func (p *publisher) publish(t testing.TB, ctx context.Context, n int, nets ...string) {
	t.Helper()
	for range n {
		p.mu.Lock()
		i := p.n
		p.n++
		p.mu.Unlock()
		r, err := events.PublishReceipt(ctx, p.js, receipt(i, nets[i%len(nets)]))
		if err != nil {
			t.Errorf("publish receipt %d: %v", i, err)
			return
		}
		subj, _ := events.ReceiptSubject(r.PayTo, r.Namespace, r.NetworkID)
		p.mu.Lock()
		if got := uint64(len(p.ids[subj])) + 1; got != r.SellerSeq {
			t.Errorf("receipt %d got sellerSeq %d, want %d", i, r.SellerSeq, got)
		}
		p.ids[subj] = append(p.ids[subj], r.ID)
		p.mu.Unlock()
	}
}

func handledKey(subj string, seq uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte(subj+"/"), seq)
}

// recordHandler applies a receipt as a seller would: it records it in the
// store's file (a second application lands in dupBucket) and in the order
// the handler saw them.
func recordHandler(_ context.Context, tx *bolt.Tx, r *events.Receipt) error {
	subj, err := events.ReceiptSubject(r.PayTo, r.Namespace, r.NetworkID)
	if err != nil {
		return err
	}
	h, err := tx.CreateBucketIfNotExists(handledBucket)
	if err != nil {
		return err
	}
	k := handledKey(subj, r.SellerSeq)
	if h.Get(k) != nil {
		d, err := tx.CreateBucketIfNotExists(dupBucket)
		if err != nil {
			return err
		}
		n, _ := d.NextSequence()
		if err := d.Put(binary.BigEndian.AppendUint64(nil, n), k); err != nil {
			return err
		}
	}
	if err := h.Put(k, []byte(r.ID)); err != nil {
		return err
	}
	o, err := tx.CreateBucketIfNotExists(orderBucket)
	if err != nil {
		return err
	}
	n, _ := o.NextSequence()
	return o.Put(binary.BigEndian.AppendUint64(nil, n), k)
}

// checkStore wants the store to hold every published receipt exactly once,
// handled in sellerSeq order per subject, with the stream's payment ids.
func checkStore(t *testing.T, store *receipts.BoltStore, want map[string][]string) {
	t.Helper()
	err := store.DB().View(func(tx *bolt.Tx) error {
		if d := tx.Bucket(dupBucket); d != nil && d.Stats().KeyN > 0 {
			_ = d.ForEach(func(_, v []byte) error {
				t.Errorf("handled twice: %s sellerSeq %d", v[:len(v)-9], binary.BigEndian.Uint64(v[len(v)-8:]))
				return nil
			})
		}
		h := tx.Bucket(handledBucket)
		if h == nil {
			return errors.New("nothing handled")
		}
		total := 0
		for subj, ids := range want {
			total += len(ids)
			for i, id := range ids {
				if got := string(h.Get(handledKey(subj, uint64(i+1)))); got != id {
					t.Errorf("%s sellerSeq %d: handled %q, want %q", subj, i+1, got, id)
				}
			}
		}
		if n := h.Stats().KeyN; n != total {
			t.Errorf("handled %d receipts, want %d", n, total)
		}
		next := map[string]uint64{}
		o := tx.Bucket(orderBucket)
		if o == nil {
			return errors.New("no order bucket")
		}
		return o.ForEach(func(_, v []byte) error {
			subj, seq := string(v[:len(v)-9]), binary.BigEndian.Uint64(v[len(v)-8:])
			next[subj]++
			if seq != next[subj] {
				t.Errorf("%s: handled sellerSeq %d when %d was next", subj, seq, next[subj])
				next[subj] = seq
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	cps, err := store.Checkpoints()
	if err != nil {
		t.Fatal(err)
	}
	for subj, ids := range want {
		if got := cps[subj]; got.SellerSeq != uint64(len(ids)) || got.ID != ids[len(ids)-1] {
			t.Errorf("checkpoint of %s: got %+v, want sellerSeq %d id %s", subj, got, len(ids), ids[len(ids)-1])
		}
	}
}

// streamIDs reads the RECEIPTS stream: payment id by subject and sellerSeq.
func streamIDs(t *testing.T, ctx context.Context, js jetstream.JetStream) map[string][]string {
	t.Helper()
	st, err := js.Stream(ctx, events.StreamReceipts)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := st.GetMsg(ctx, seq)
		if err != nil {
			t.Fatalf("stream sequence %d: %v", seq, err)
		}
		r, err := events.DecodeReceipt(m.Data)
		if err != nil {
			t.Fatalf("stream sequence %d: %v", seq, err)
		}
		if uint64(len(out[m.Subject]))+1 != r.SellerSeq {
			t.Fatalf("stream sequence %d: %s sellerSeq %d after %d", seq, m.Subject, r.SellerSeq, len(out[m.Subject]))
		}
		out[m.Subject] = append(out[m.Subject], r.ID)
	}
	return out
}
