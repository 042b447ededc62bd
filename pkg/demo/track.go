package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.etcd.io/bbolt"

	"github.com/h402/settlement/pkg/events"
	"github.com/h402/settlement/pkg/h402"
	"github.com/h402/settlement/pkg/ledger"
	"github.com/h402/settlement/pkg/receipts"
)

// tracker holds what the demo saw: requests, payment states, receipts and
// webhook deliveries.
type tracker struct {
	mu         sync.Mutex
	kinds      []Kind
	results    []Result
	servedN    int
	states     map[string]string // payment id -> last state seen at ingest
	receipts   map[string]int    // payment id -> receipts handled
	hooks      map[string]int    // webhook-id -> verified deliveries
	hookBad    int
	gas        []ledger.NetworkGas
	receiptErr error
}

func newTracker(kinds []Kind) *tracker {
	return &tracker{kinds: kinds, states: map[string]string{}, receipts: map[string]int{}, hooks: map[string]int{}}
}

func (t *tracker) add(r Result) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.results = append(t.results, r)
	if r.PaymentID != "" {
		if _, ok := t.states[r.PaymentID]; !ok {
			t.states[r.PaymentID] = string(events.StateAccepted)
		}
	}
}

func (t *tracker) served() { t.mu.Lock(); t.servedN++; t.mu.Unlock() }

func (t *tracker) hook(id string) { t.mu.Lock(); t.hooks[id]++; t.mu.Unlock() }

func (t *tracker) hookRejected() { t.mu.Lock(); t.hookBad++; t.mu.Unlock() }

func (t *tracker) receipt(id string) { t.mu.Lock(); t.receipts[id]++; t.mu.Unlock() }

// Results returns a copy of the requests' results.
func (t *tracker) Results() []Result {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]Result(nil), t.results...)
}

func terminal(state string) bool {
	return state == string(events.StateFinalized) || state == string(events.StateFailed)
}

// pending returns the ids not yet terminal.
func (t *tracker) pending() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []string
	for id, s := range t.states {
		if !terminal(s) {
			out = append(out, id)
		}
	}
	return out
}

// poll reads each pending payment's state from ingest, and the ledger's gas.
func (t *tracker) poll(ctx context.Context, cfg *Config) {
	ids := t.pending()
	work := make(chan string)
	var wg sync.WaitGroup
	for w := 0; w < 16; w++ { // GET /payments/{id} of the pending ones, 16 at a time
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := range work {
				var st struct {
					State string `json:"state"`
				}
				if getJSON(ctx, cfg.Facilitator+"/payments/"+id, &st) == nil && st.State != "" {
					t.mu.Lock()
					t.states[id] = st.State
					t.mu.Unlock()
				}
			}
		}()
	}
	for _, id := range ids {
		work <- id
	}
	close(work)
	wg.Wait()
	if cfg.Ledger != "" {
		var g struct {
			Networks []ledger.NetworkGas `json:"networks"`
		}
		if getJSON(ctx, cfg.Ledger+"/ledger/gas", &g) == nil {
			t.mu.Lock()
			t.gas = g.Networks
			t.mu.Unlock()
		}
	}
}

var httpClient = &http.Client{Timeout: 10 * time.Second}

func getJSON(ctx context.Context, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(v)
}

// counts is one progress snapshot.
type counts struct {
	requests, served, failedRequests int
	states                           map[string]int
	receipts, hooks, hookBad         int
	evmTxs, solanaTxs                uint64
	evmGas                           *big.Int
}

func (t *tracker) counts() counts {
	t.mu.Lock()
	defer t.mu.Unlock()
	c := counts{requests: len(t.results), states: map[string]int{}, hookBad: t.hookBad, evmGas: new(big.Int)}
	for _, r := range t.results {
		if r.Served {
			c.served++
		} else {
			c.failedRequests++
		}
	}
	for id, s := range t.states {
		c.states[s]++
		if t.receipts[id] > 0 {
			c.receipts++
		}
		if t.hooks[id] > 0 {
			c.hooks++
		}
	}
	for _, g := range t.gas {
		switch {
		case strings.HasPrefix(g.Network, string(h402.NamespaceEVM)+"."):
			c.evmTxs += g.Facilitator.Txs + g.Client.Txs
			if v, ok := new(big.Int).SetString(g.Facilitator.GasUsed, 10); ok {
				c.evmGas.Add(c.evmGas, v)
			}
		case strings.HasPrefix(g.Network, string(h402.NamespaceSolana)+"."):
			c.solanaTxs += g.Facilitator.Txs + g.Client.Txs
		}
	}
	return c
}

// progress prints a line every cfg.Interval until ctx ends.
func progress(ctx context.Context, cfg *Config, t *tracker, start time.Time) {
	tick := time.NewTicker(cfg.Interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		t.poll(ctx, cfg)
		if ctx.Err() != nil {
			return
		}
		c := t.counts()
		line := fmt.Sprintf("demo: %5.1fs  paid %d/%d served %d | accepted %d submitted %d confirmed %d finalized %d failed %d | receipts %d",
			time.Since(start).Seconds(), c.requests, cfg.Payments, c.served,
			c.states[string(events.StateAccepted)]+c.states[string(events.StateBatched)], c.states[string(events.StateSubmitted)],
			c.states[string(events.StateConfirmed)], c.states[string(events.StateFinalized)], c.states[string(events.StateFailed)], c.receipts)
		if cfg.WebhookSecret != "" {
			line += fmt.Sprintf(" webhooks %d", c.hooks)
		}
		if cfg.Ledger != "" {
			line += fmt.Sprintf(" | EVM batches %d gas %s, Solana txs %d", c.evmTxs, c.evmGas, c.solanaTxs)
		}
		fmt.Fprintln(cfg.Out, line)
	}
}

// waitDone waits until every paid request's payment is terminal, with
// its receipt and webhook when followed, and says what is missing ("" when nothing).
func waitDone(ctx context.Context, cfg *Config, t *tracker) string {
	deadline := time.Now().Add(cfg.Wait)
	for {
		t.poll(ctx, cfg)
		missing := t.missing(cfg)
		if missing == "" || ctx.Err() != nil || time.Now().After(deadline) {
			if ctx.Err() != nil && missing != "" {
				missing = "stopped: " + missing
			}
			return missing
		}
		select {
		case <-ctx.Done():
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func (t *tracker) missing(cfg *Config) string {
	c := t.counts()
	var m []string
	if c.failedRequests > 0 {
		m = append(m, fmt.Sprintf("%d of %d requests not served", c.failedRequests, c.requests))
	}
	if c.requests < cfg.Payments {
		m = append(m, fmt.Sprintf("%d of %d requests made", c.requests, cfg.Payments))
	}
	n := len(t.pending())
	if n > 0 {
		m = append(m, fmt.Sprintf("%d payments not final", n))
	}
	t.mu.Lock()
	ids := len(t.states)
	rerr := t.receiptErr
	t.mu.Unlock()
	if f := c.states[string(events.StateFailed)]; f > 0 {
		m = append(m, fmt.Sprintf("%d payments failed", f))
	}
	if cfg.NATS != "" && c.receipts < ids {
		m = append(m, fmt.Sprintf("%d of %d receipts", c.receipts, ids))
	}
	if rerr != nil {
		m = append(m, "receipts: "+rerr.Error())
	}
	if cfg.WebhookSecret != "" && c.hooks < ids {
		m = append(m, fmt.Sprintf("%d of %d webhook deliveries", c.hooks, ids))
	}
	return strings.Join(m, "; ")
}

// followReceipts runs a pkg/receipts client per sold seller and namespace.
func followReceipts(ctx context.Context, cfg *Config, t *tracker, wg *sync.WaitGroup) (stop func(), err error) {
	dir := cfg.StateDir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "h402demo-"); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	store, err := receipts.OpenBolt(filepath.Join(dir, "demo-receipts.db"))
	if err != nil {
		return nil, fmt.Errorf("demo: receipts store: %w", err)
	}
	nc, err := nats.Connect(cfg.NATS, nats.Name("h402demo"))
	if err != nil {
		store.Close()
		return nil, fmt.Errorf("demo: connect to NATS for receipts: %w", err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		store.Close()
		return nil, err
	}
	var subs []receipts.Config
	evm, sol := false, false
	for _, k := range cfg.Kinds {
		evm, sol = evm || !k.solana(), sol || k.solana()
	}
	if evm {
		subs = append(subs, receipts.Config{PayTo: cfg.EVMPayTo, Namespace: h402.NamespaceEVM, Consumer: "h402demo-evm"})
	}
	if sol {
		subs = append(subs, receipts.Config{PayTo: cfg.SolanaPayTo, Namespace: h402.NamespaceSolana, Consumer: "h402demo-solana"})
	}
	for _, rc := range subs {
		c, err := receipts.New[*bbolt.Tx](js, rc, store, func(_ context.Context, _ *bbolt.Tx, r *events.Receipt) error {
			t.receipt(r.ID)
			return nil
		})
		if err != nil {
			nc.Close()
			store.Close()
			return nil, fmt.Errorf("demo: receipts client: %w", err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := c.Run(ctx); err != nil {
				t.mu.Lock()
				t.receiptErr = err
				t.mu.Unlock()
			}
		}()
	}
	return func() {
		wg.Wait()
		nc.Close()
		store.Close()
		if cfg.StateDir == "" {
			os.RemoveAll(dir)
		}
	}, nil
}

// Summary is what a run did.
type Summary struct {
	Payments     int            `json:"payments"`
	Served       int            `json:"served"`
	ByKind       map[Kind]int   `json:"byKind"`
	States       map[string]int `json:"states"`
	Receipts     int            `json:"receipts"`
	Webhooks     int            `json:"webhooks"`
	WebhookBad   int            `json:"webhookRejected"`
	EVMBatches   uint64         `json:"evmBatches"`
	EVMGas       string         `json:"evmGas"`
	EVMPayments  int            `json:"evmPayments"`
	SolanaTxs    uint64         `json:"solanaTxs"`
	WallTime     time.Duration  `json:"wallTime"`
	Results      []Result       `json:"results"`
	evmGasPerPay string
}

func (t *tracker) summary(_ context.Context, _ *Config, wall time.Duration) *Summary {
	c := t.counts()
	s := &Summary{Payments: c.requests, Served: c.served, ByKind: map[Kind]int{}, States: c.states, Receipts: c.receipts,
		Webhooks: c.hooks, WebhookBad: c.hookBad, EVMBatches: c.evmTxs, EVMGas: c.evmGas.String(), SolanaTxs: c.solanaTxs,
		WallTime: wall, Results: t.Results()}
	for _, r := range s.Results {
		s.ByKind[r.Kind]++
		if !r.Kind.solana() && r.PaymentID != "" {
			s.EVMPayments++
		}
	}
	if s.EVMPayments > 0 && c.evmGas.Sign() > 0 {
		s.evmGasPerPay = new(big.Int).Div(c.evmGas, big.NewInt(int64(s.EVMPayments))).String()
	}
	return s
}

func (s *Summary) print(w io.Writer, cfg *Config) {
	fmt.Fprintf(w, "demo: summary after %s\n", s.WallTime.Round(100*time.Millisecond))
	var kinds []string
	for k, n := range s.ByKind {
		kinds = append(kinds, fmt.Sprintf("%s %d", k, n))
	}
	sort.Strings(kinds)
	fmt.Fprintf(w, "demo:   payments      %d (%s)\n", s.Payments, strings.Join(kinds, ", "))
	fmt.Fprintf(w, "demo:   served        %d requests answered 200 with content\n", s.Served)
	fmt.Fprintf(w, "demo:   finalized     %d (failed %d)\n", s.States[string(events.StateFinalized)], s.States[string(events.StateFailed)])
	if cfg.NATS != "" {
		fmt.Fprintf(w, "demo:   receipts      %d (pkg/receipts on stream RECEIPTS)\n", s.Receipts)
	}
	if cfg.WebhookSecret != "" {
		fmt.Fprintf(w, "demo:   webhooks      %d payments delivered, signatures verified (%d rejected)\n", s.Webhooks, s.WebhookBad)
	}
	if cfg.Ledger != "" {
		per := s.evmGasPerPay
		if per == "" {
			per = "-"
		}
		fmt.Fprintf(w, "demo:   EVM           %d batch transactions, %s gas, %s gas per EVM payment\n", s.EVMBatches, s.EVMGas, per)
		fmt.Fprintf(w, "demo:   Solana        %d transactions (one per payment)\n", s.SolanaTxs)
	}
	fmt.Fprintf(w, "demo:   wall time     %s\n", s.WallTime.Round(100*time.Millisecond))
	if len(cfg.Links) > 0 {
		fmt.Fprintln(w, "demo: where to look:")
		for _, l := range cfg.Links {
			fmt.Fprintf(w, "demo:   %s\n", l)
		}
	}
}
