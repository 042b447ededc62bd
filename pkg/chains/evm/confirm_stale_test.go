package evm_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/h402/settlement/pkg/chains"
	"github.com/h402/settlement/pkg/evmdev"
)

// laggingNode is a JSON-RPC front of the dev chain that, once frozen,
// keeps answering transaction and receipt look-ups with what it last saw:
// an endpoint behind a load balancer that lags the chain's head. The node
// behind it is real; only its index of transactions is stale.
type laggingNode struct {
	srv    *httptest.Server
	mu     sync.Mutex
	seen   map[string]json.RawMessage // method + params → last result
	frozen bool
}

type rpcMsg struct {
	ID      json.RawMessage `json:"id"`
	Method  string          `json:"method,omitempty"`
	Params  json.RawMessage `json:"params,omitempty"`
	Result  json.RawMessage `json:"result,omitempty"`
	Error   json.RawMessage `json:"error,omitempty"`
	JSONRPC string          `json:"jsonrpc"`
}

func newLaggingNode(t *testing.T, target string) *laggingNode {
	t.Helper()
	n := &laggingNode{seen: map[string]json.RawMessage{}}
	n.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		resp, err := http.Post(target, "application/json", bytes.NewReader(body))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		out, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var reqs, answers []rpcMsg
		if json.Unmarshal(body, &reqs) == nil && json.Unmarshal(out, &answers) == nil && len(reqs) == len(answers) {
			byID := map[string]int{}
			for i, a := range answers {
				byID[string(a.ID)] = i
			}
			n.mu.Lock()
			for _, q := range reqs {
				if q.Method != "eth_getTransactionReceipt" && q.Method != "eth_getTransactionByHash" {
					continue
				}
				i, ok := byID[string(q.ID)]
				if !ok {
					continue
				}
				key := q.Method + string(q.Params)
				if old, ok := n.seen[key]; ok && n.frozen {
					answers[i].Result, answers[i].Error = old, nil
				} else if !n.frozen {
					n.seen[key] = answers[i].Result
				}
			}
			n.mu.Unlock()
			out, _ = json.Marshal(answers)
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(out)
	}))
	t.Cleanup(n.srv.Close)
	return n
}

func (n *laggingNode) freeze() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.frozen = true
}

// TestConfirmIgnoresStaleReceipt: after a reorg drops a confirmed batch, an
// endpoint that still serves the old receipt and transaction (in a block
// that is no longer canonical) does not make the Confirmer report the old
// block: the receipt's block hash is checked against the canonical chain.
func TestConfirmIgnoresStaleReceipt(t *testing.T) {
	b, _, subs := submittedBatch(t, 2, 8_000)
	lag := newLaggingNode(t, b.chain.URL())
	c := b.confirmer(t, lag.srv.URL)
	b.chain.Commit()
	wantStatus(t, confirm(t, c, subs), chains.Confirmed)

	lag.freeze()
	if _, err := b.chain.Reorg(t.Context(), evmdev.ReorgOptions{Depth: 1}); err != nil {
		t.Fatalf("reorg: %v", err)
	}
	if r := b.receipt(t, subs[0].Tx.Hash); r != nil {
		t.Fatalf("the node itself still has the receipt after the reorg: %+v", r)
	}
	got := confirm(t, c, subs)
	for _, g := range got {
		if g.Status != chains.Dropped || !strings.Contains(g.Message, "reorg") {
			t.Fatalf("payment %s: got %+v, want dropped (its block left the canonical chain)", g.ID, g)
		}
	}
}
