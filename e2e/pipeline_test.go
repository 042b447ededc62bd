package e2e

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/crypto"
	"gopkg.in/yaml.v3"

	"github.com/h402/settlement/pkg/config"
	"github.com/h402/settlement/pkg/events"
	"github.com/h402/settlement/pkg/evmdev"
	"github.com/h402/settlement/pkg/h402"
	"github.com/h402/settlement/pkg/settler"
	"github.com/h402/settlement/pkg/soldev"
	"github.com/h402/settlement/pkg/testenv"
	"github.com/h402/settlement/pkg/watcher"
)

// pipeline is one deployment under test: embedded JetStream, the EVM dev
// chain at chain id 84532 sealing a block every second, optionally the
// Solana localnet, one ingest process and (when started) one settler process.
type pipeline struct {
	t       *testing.T
	js      *testenv.JetStream
	evm     *evmdev.Chain
	sol     *soldev.Localnet
	cfg     *config.Config
	cfgPath string
	env     []string
	ingest  *proc
	url     string // ingest's API, http://host:port
	settler *proc
}

// watcherProc is one watcher replica: its process, its ledger file and
// its admin listener (metrics, ledger API).
type watcherProc struct {
	*proc
	name   string
	ledger string
	admin  string
}

// startWatcher starts a watcher replica keeping its ledger in ledgerPath.
func (p *pipeline) startWatcher(t *testing.T, name, ledgerPath string) *watcherProc {
	t.Helper()
	env := append(append([]string(nil), p.env...), "H402_REPLICA="+name)
	w := &watcherProc{name: name, ledger: ledgerPath}
	w.proc = startProc(t, name, bins.watcher, env, "-config", p.cfgPath, "-ledger", ledgerPath)
	running := w.waitLog(t, "watcher running", 60*time.Second)
	w.admin, _ = running["admin"].(string)
	return w
}

// startPipeline starts the chains, the event log and ingest. The settler is
// started by startSettler, so a test can look at a payment before it lands.
func startPipeline(t *testing.T, withSolana bool) *pipeline {
	return startPipelineWith(t, pipelineOptions{solana: withSolana, blockPeriod: time.Second})
}

// pipelineOptions vary a pipeline.
type pipelineOptions struct {
	solana bool
	// blockPeriod seals an EVM block this often; 0: only the test's Commit
	// and Reorg calls seal blocks.
	blockPeriod time.Duration
	// finalityDepth is the EVM dev chain's finality depth, which the
	// network config's `depth` commitment follows (0: the dev chain's default).
	finalityDepth uint64
	// settleWait is ingest's settleWait (default none).
	settleWait string
}

func startPipelineWith(t *testing.T, o pipelineOptions) *pipeline {
	t.Helper()
	withSolana := o.solana
	p := &pipeline{t: t, js: testenv.StartJetStream(t)}
	p.evm = testenv.StartEVM(t, evmdev.Config{ChainID: 84532, BlockPeriod: o.blockPeriod, FinalityDepth: o.finalityDepth})
	evmNet := testenv.EVMNetwork(p.evm)
	// Final at the dev chain's own depth (its JSON-RPC `finalized` tag is
	// the last multiple of 32 blocks).
	evmNet.Finality = config.Finality{Commitment: "depth", Depth: p.evm.Config().FinalityDepth, PollInterval: config.Duration(200 * time.Millisecond)}
	networks := []config.Network{evmNet}
	facilitator := p.evm.Facilitators()[0]
	p.env = []string{"H402_EVM_SIGNER_KEYS=" + hex.EncodeToString(crypto.FromECDSA(facilitator))}
	if withSolana {
		p.sol = testenv.StartSolana(t, soldev.Config{SlotInterval: 200 * time.Millisecond})
		sol := testenv.SolanaNetwork(p.sol)
		// @x402/svm pays only the three public Solana networks (it refuses
		// any other CAIP-2 id, even with an RPC URL given), so the localnet
		// is served under the devnet's id; h402 payments name it "localnet".
		sol.CAIP2 = h402.CAIP2SolanaDevnet
		sol.Finality.PollInterval = config.Duration(200 * time.Millisecond)
		networks = append(networks, sol)
		var keys []string
		for _, k := range p.sol.FeePayers() {
			keys = append(keys, k.String())
		}
		p.env = append(p.env, "H402_SOLANA_FEE_PAYER_KEYS="+strings.Join(keys, ","))
	}
	p.cfg = testenv.Config(t, p.js.Server.ClientURL(), networks...)
	if o.settleWait != "" {
		p.cfg.Ingest.SettleWait, p.cfg.Ingest.SettleWaitTimeout = o.settleWait, config.Duration(90*time.Second)
	}
	p.cfgPath = p.writeConfig()

	p.ingest = startProc(t, "ingest", bins.ingest, p.env, "-config", p.cfgPath)
	serving := p.ingest.waitLog(t, "ingest serving", 60*time.Second)
	addr, _ := serving["addr"].(string)
	if addr == "" {
		t.Fatalf("ingest logged no address: %v", serving)
	}
	p.url = "http://" + addr
	p.waitReady()
	return p
}

// writeConfig writes the one YAML file both binaries read.
func (p *pipeline) writeConfig() string {
	p.t.Helper()
	dir := p.t.TempDir()
	f := settler.File{Config: *p.cfg}
	f.Ingest.Replica = "e2e-ingest"
	f.Log = config.Log{Level: "info", Format: "json"}
	f.Settler = settler.Config{
		AdminListen:   "off",
		MaxWait:       config.Duration(50 * time.Millisecond),
		RetryDelay:    config.Duration(200 * time.Millisecond),
		ShutdownGrace: config.Duration(10 * time.Second),
		Replica:       "e2e-settler",
	}
	b, err := yaml.Marshal(f)
	if err != nil {
		p.t.Fatal(err)
	}
	// The watcher's section, beside the settler's in the one file.
	var doc map[string]any
	if err := yaml.Unmarshal(b, &doc); err != nil {
		p.t.Fatal(err)
	}
	doc["watcher"] = watcher.Config{
		AckWait:       config.Duration(3 * time.Second),
		AdminListen:   "127.0.0.1:0",
		ShutdownGrace: config.Duration(5 * time.Second),
	}
	if b, err = yaml.Marshal(doc); err != nil {
		p.t.Fatal(err)
	}
	path := filepath.Join(dir, "pipeline.yaml")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		p.t.Fatal(err)
	}
	return path
}

// waitReady waits until ingest answers /ready with 200.
func (p *pipeline) waitReady() {
	p.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(p.url + "/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) || p.ingest.exited() {
			p.t.Fatalf("ingest not ready within 30s (last error %v)", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// startSettler starts the settler unless it runs.
func (p *pipeline) startSettler(t *testing.T) {
	t.Helper()
	if p.settler != nil && !p.settler.exited() {
		return
	}
	p.settler = startProc(t, "settler", bins.settler, p.env, "-config", p.cfgPath)
}

// stopSettler stops the settler gracefully, so the next payment waits in
// the stream until startSettler.
func (p *pipeline) stopSettler(t *testing.T) {
	t.Helper()
	if p.settler != nil {
		p.settler.stop(t)
	}
}

// answer is one HTTP answer of ingest.
type answer struct {
	Status int
	Raw    []byte
	Body   map[string]any
}

func (a answer) str(k string) string { s, _ := a.Body[k].(string); return s }

func (a answer) String() string { return fmt.Sprintf("%d %s", a.Status, a.Raw) }

// post sends body to route with headers given as name, value pairs.
func (p *pipeline) post(t *testing.T, route string, body []byte, headers ...string) answer {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, p.url+route, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	return do(t, req)
}

func (p *pipeline) get(t *testing.T, route string) answer {
	t.Helper()
	return p.getURL(t, p.url+route)
}

// getURL gets a JSON object from any process of the pipeline.
func (p *pipeline) getURL(t *testing.T, url string) answer {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	return do(t, req)
}

func do(t *testing.T, req *http.Request) answer {
	t.Helper()
	ctx, cancel := context.WithTimeout(req.Context(), 30*time.Second)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := answer{Status: resp.StatusCode, Raw: raw, Body: map[string]any{}}
	if err := json.Unmarshal(raw, &a.Body); err != nil {
		t.Fatalf("%s %s: answer %d is not a JSON object: %s", req.Method, req.URL, resp.StatusCode, raw)
	}
	return a
}

// status is GET /payments/{id}.
type status struct {
	ID     string       `json:"id"`
	State  events.State `json:"state"`
	TxHash string       `json:"txHash"`
	Reason string       `json:"reason"`
	Msg    string       `json:"message"`
}

// waitSubmitted waits until ingest reports the payment submitted (or a
// later state) with a transaction hash; a failed payment ends the test.
func (p *pipeline) waitSubmitted(t *testing.T, id string) status {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	var last answer
	for {
		last = p.get(t, "/payments/"+id)
		if last.Status == http.StatusOK {
			var s status
			if err := json.Unmarshal(last.Raw, &s); err != nil {
				t.Fatalf("GET /payments/%s: %v: %s", id, err, last.Raw)
			}
			switch s.State {
			case events.StateFailed:
				t.Fatalf("payment %s failed: %s (%s)", id, s.Reason, s.Msg)
			case events.StateSubmitted, events.StateConfirmed, events.StateFinalized:
				if s.TxHash == "" {
					t.Fatalf("payment %s is %s without a transaction hash: %s", id, s.State, last.Raw)
				}
				return s
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("payment %s not submitted within 60s; last GET /payments: %s", id, last)
		}
		if p.settler != nil && p.settler.exited() {
			t.Fatalf("settler exited (%v) while payment %s was %s", p.settler.err, id, last.Raw)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// eventually polls cond until it holds or the timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, detail := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s (%s)", what, timeout, detail)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
