package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/h402/settlement/pkg/chains/evm"
	"github.com/h402/settlement/pkg/chains/solana"
	"github.com/h402/settlement/pkg/events"
	"github.com/h402/settlement/pkg/h402"
)

// paid is one payment ingest accepted.
type paid struct {
	id     string
	amount int64
	ns     h402.Namespace
}

// settleAll posts bodies to /settle from workers goroutines and returns the
// accepted payments; any refusal ends the test.
func (p *pipeline) settleAll(t *testing.T, workers int, bodies [][]byte, amounts []int64, ns h402.Namespace) []paid {
	t.Helper()
	out := make([]paid, len(bodies))
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan string, len(bodies))
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(bodies) {
					return
				}
				a := p.postQuiet(bodies[i])
				if a.Status != http.StatusOK || a.Body["success"] != true {
					errs <- fmt.Sprintf("payment %d: %s", i, a)
					continue
				}
				out[i] = paid{id: a.str("paymentId"), amount: amounts[i], ns: ns}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
	return out
}

// postQuiet is post for worker goroutines (no t.Fatal off the test goroutine).
func (p *pipeline) postQuiet(body []byte) answer {
	req, _ := http.NewRequest(http.MethodPost, p.url+"/settle", strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return answer{Status: 0, Raw: []byte(err.Error())}
	}
	defer resp.Body.Close()
	var a answer
	a.Status = resp.StatusCode
	_ = json.NewDecoder(resp.Body).Decode(&a.Body)
	a.Raw, _ = json.Marshal(a.Body)
	return a
}

// evmAuthorizations signs n EIP-3009 payments to seller, spread over the
// dev payers, amounts base+i.
func (p *pipeline) evmAuthorizations(t *testing.T, n int, seller common.Address, base int64) ([][]byte, []int64) {
	t.Helper()
	payers := p.evm.Payers()
	bodies, amounts := make([][]byte, n), make([]int64, n)
	for i := range n {
		amounts[i] = base + int64(i)
		req := p.evmReq(seller, big.NewInt(amounts[i]))
		_, header, err := evm.SignAuthorization(&req, payers[i%len(payers)], p.usdc(), time.Now(), evm.AuthorizationOptions{})
		if err != nil {
			t.Fatal(err)
		}
		bodies[i] = h402Body(t, header, req)
	}
	return bodies, amounts
}

// solanaPayments signs n co-signed (facilitator fee payer) payments to the
// localnet's seller, amounts base+i.
func (p *pipeline) solanaPayments(t *testing.T, n int, base int64) ([][]byte, []int64) {
	t.Helper()
	payers := p.sol.Payers()
	bodies, amounts := make([][]byte, n), make([]int64, n)
	bh := p.blockhash(t)
	for i := range n {
		amounts[i] = base + int64(i)
		req := p.solReq(p.sol.Seller(), amounts[i], true)
		pp, err := solana.SignPayment(&req, p.solUSDC(), payers[i%len(payers)], bh, solana.PayOptions{})
		if err != nil {
			t.Fatal(err)
		}
		header, err := h402.EncodePaymentHeader(pp)
		if err != nil {
			t.Fatal(err)
		}
		bodies[i] = h402Body(t, header, req)
	}
	return bodies, amounts
}

// receiptWatch counts receipts as they are stored (a core subscription on
// the receipt subjects, made before any payment).
type receiptWatch struct {
	mu     sync.Mutex
	byID   map[string][]events.Receipt
	change chan struct{}
}

func (p *pipeline) watchReceipts(t *testing.T) *receiptWatch {
	t.Helper()
	nc, _ := p.js.Connect(t)
	rw := &receiptWatch{byID: map[string][]events.Receipt{}, change: make(chan struct{}, 1)}
	_, err := nc.Subscribe("receipts.>", func(m *nats.Msg) {
		r, err := events.DecodeReceipt(m.Data)
		if err != nil {
			t.Errorf("undecodable receipt on %s: %v", m.Subject, err)
			return
		}
		rw.mu.Lock()
		rw.byID[r.ID] = append(rw.byID[r.ID], *r)
		rw.mu.Unlock()
		select {
		case rw.change <- struct{}{}:
		default:
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return rw
}

// wait blocks until every id has a receipt, or fails after timeout.
func (rw *receiptWatch) wait(t *testing.T, ids []string, timeout time.Duration) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		rw.mu.Lock()
		missing := 0
		var example string
		for _, id := range ids {
			if len(rw.byID[id]) == 0 {
				missing++
				example = id
			}
		}
		rw.mu.Unlock()
		if missing == 0 {
			return
		}
		select {
		case <-rw.change:
		case <-deadline.C:
			t.Fatalf("%d of %d payments have no receipt after %s (e.g. %s)", missing, len(ids), timeout, example)
		}
	}
}

// streamReceipts reads every receipt the RECEIPTS stream holds.
func (p *pipeline) streamReceipts(t *testing.T) map[string][]events.Receipt {
	t.Helper()
	return readStream(t, p, events.StreamReceipts, "receipts.>", func(subject string, b []byte) (string, events.Receipt, bool) {
		r, err := events.DecodeReceipt(b)
		if err != nil {
			t.Errorf("stored receipt on %s: %v", subject, err)
			return "", events.Receipt{}, false
		}
		return r.ID, *r, true
	})
}

// streamTransitions reads every state transition the PAYMENTS stream holds, by payment.
func (p *pipeline) streamTransitions(t *testing.T) map[string][]events.Transition {
	t.Helper()
	return readStream(t, p, events.StreamPayments, events.StateWildcard, func(subject string, b []byte) (string, events.Transition, bool) {
		tr, err := events.DecodeTransition(b)
		if err != nil {
			t.Errorf("stored transition on %s: %v", subject, err)
			return "", events.Transition{}, false
		}
		return tr.ID, *tr, true
	})
}

func readStream[V any](t *testing.T, p *pipeline, stream, filter string, decode func(string, []byte) (string, V, bool)) map[string][]V {
	t.Helper()
	_, js := p.js.Connect(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]V{}
	if info.State.Msgs == 0 {
		return out
	}
	cons, err := js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{FilterSubjects: []string{filter}})
	if err != nil {
		t.Fatal(err)
	}
	last := info.State.LastSeq
	for {
		m, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second))
		if err != nil {
			// No more matching messages before the stream's end.
			return out
		}
		if id, v, ok := decode(m.Subject(), m.Data()); ok {
			out[id] = append(out[id], v)
		}
		meta, _ := m.Metadata()
		if meta != nil && meta.Sequence.Stream >= last {
			return out
		}
	}
}

// TestWatcherFinalizesEveryPayment: 1,000 EVM and 200 Solana payments
// through the real ingest, settler and two watcher processes reach
// `finalized` with exactly one receipt each, while one watcher is killed
// (SIGKILL) mid-stream and restarted; every seller's receipts are numbered
// 1..n without gap; the chain paid each payment once.
func TestWatcherFinalizesEveryPayment(t *testing.T) {
	if testing.Short() {
		t.Skip("1,200 payments through every process")
	}
	p := startPipelineWith(t, pipelineOptions{solana: true, blockPeriod: time.Second})
	receipts := p.watchReceipts(t)
	sellerEVM := freshAddress()
	solBefore := p.splBalance(t, p.sol.Seller())
	evmBodies, evmAmounts := p.evmAuthorizations(t, 1000, sellerEVM, 10_000)
	solBodies, solAmounts := p.solanaPayments(t, 200, 20_000)

	dir := t.TempDir()
	p.startSettler(t)
	wa := p.startWatcher(t, "watcher-a", dir+"/a.db")
	wb := p.startWatcher(t, "watcher-b", dir+"/b.db")

	var all []paid
	all = append(all, p.settleAll(t, 16, evmBodies[:500], evmAmounts[:500], h402.NamespaceEVM)...)
	all = append(all, p.settleAll(t, 8, solBodies, solAmounts, h402.NamespaceSolana)...)
	// Kill watcher a once it holds payments (it published receipts or follows
	// some), mid-stream, then go on paying.
	receipts.waitAny(t, 60*time.Second)
	_ = wa.cmd.Process.Signal(syscall.SIGKILL)
	<-wa.done
	all = append(all, p.settleAll(t, 16, evmBodies[500:], evmAmounts[500:], h402.NamespaceEVM)...)
	wa = p.startWatcher(t, "watcher-a", dir+"/a.db")

	ids := make([]string, len(all))
	for i, x := range all {
		ids[i] = x.id
	}
	receipts.wait(t, ids, 5*time.Minute)

	// Exactly one receipt per payment, stored once, finalized, numbered per seller.
	stored := p.streamReceipts(t)
	if len(stored) != len(all) {
		t.Errorf("RECEIPTS holds receipts of %d payments, want %d", len(stored), len(all))
	}
	bySeller := map[string][]uint64{}
	for _, x := range all {
		rs := stored[x.id]
		if len(rs) != 1 {
			t.Errorf("payment %s has %d stored receipts, want 1", x.id, len(rs))
			continue
		}
		r := rs[0]
		if r.State != events.StateFinalized || r.TxHash == "" || r.Block == 0 || r.Amount != big.NewInt(x.amount).String() {
			t.Errorf("receipt of %s: %+v, want finalized with tx, block and amount %d", x.id, r, x.amount)
		}
		key := r.PayTo + "/" + r.NetworkID
		bySeller[key] = append(bySeller[key], r.SellerSeq)
	}
	for seller, seqs := range bySeller {
		sort.Slice(seqs, func(i, j int) bool { return seqs[i] < seqs[j] })
		for i, s := range seqs {
			if s != uint64(i+1) {
				t.Errorf("seller %s: receipt sequence %v is not 1..%d", seller, seqs[:min(len(seqs), 10)], len(seqs))
				break
			}
		}
	}
	// No duplicate transition: per payment, one finalized and distinct seqs.
	trs := p.streamTransitions(t)
	for _, x := range all {
		seen := map[uint64]bool{}
		finals := 0
		for _, tr := range trs[x.id] {
			if seen[tr.Seq] {
				t.Errorf("payment %s has two transitions at seq %d", x.id, tr.Seq)
			}
			seen[tr.Seq] = true
			if tr.State == events.StateFinalized {
				finals++
			}
		}
		if finals != 1 {
			t.Errorf("payment %s has %d finalized transitions, want 1: %+v", x.id, finals, trs[x.id])
		}
	}
	// The chain paid each payment once.
	var evmSum, solSum int64
	for _, a := range evmAmounts {
		evmSum += a
	}
	for _, a := range solAmounts {
		solSum += a
	}
	if got := p.tokenBalance(t, sellerEVM); got.Cmp(big.NewInt(evmSum)) != 0 {
		t.Errorf("EVM seller holds %s, want %d (each payment once)", got, evmSum)
	}
	if got := p.splBalance(t, p.sol.Seller()); got != solBefore+uint64(solSum) {
		t.Errorf("Solana seller holds %d, want %d", got, solBefore+uint64(solSum))
	}
	p.checkLedgers(t, []*watcherProc{wa, wb}, all)
}

// waitAny blocks until some receipt was seen.
func (rw *receiptWatch) waitAny(t *testing.T, timeout time.Duration) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		rw.mu.Lock()
		n := len(rw.byID)
		rw.mu.Unlock()
		if n > 0 {
			return
		}
		select {
		case <-rw.change:
		case <-deadline.C:
			t.Fatalf("no receipt within %s", timeout)
		}
	}
}
