package e2e

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"gopkg.in/yaml.v3"

	"github.com/h402/settlement/pkg/config"
	"github.com/h402/settlement/pkg/events"
	"github.com/h402/settlement/pkg/h402"
	"github.com/h402/settlement/pkg/natsembed"
	"github.com/h402/settlement/pkg/webhooks"
)

// hookReq is one request the node receiver (x402js/webhook-receiver.mjs)
// got, verified there by npm standardwebhooks once per secret alone.
type hookReq struct {
	ID          string   `json:"id"`
	Timestamp   string   `json:"timestamp"`
	N           int      `json:"n"`
	Status      int      `json:"status"`
	Verified    []int    `json:"verified"`
	Errors      []string `json:"errors"`
	Type        string   `json:"type"`
	DataID      string   `json:"dataId"`
	ContentType string   `json:"contentType"`
	// At is when the test read the request's line.
	At time.Time `json:"-"`
}

// receiver is a running webhook-receiver.mjs.
type receiver struct {
	url    string
	stdin  io.WriteCloser
	mu     sync.Mutex
	reqs   []hookReq
	change chan struct{}
}

func newSecret(t *testing.T) string {
	t.Helper()
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return webhooks.SecretPrefix + base64.StdEncoding.EncodeToString(b)
}

// startReceiver runs the node receiver verifying with secrets and
// answering each webhook-id's requests with answers (the last repeats).
func startReceiver(t *testing.T, name string, secrets []string, answers string) *receiver {
	t.Helper()
	cmd := exec.Command("node", "webhook-receiver.mjs", "--answers", answers)
	cmd.Dir = x402jsDir
	cmd.Env = append(os.Environ(), "WEBHOOK_SECRETS="+strings.Join(secrets, ","))
	cmd.Stderr = os.Stderr
	stdin, _ := cmd.StdinPipe()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start receiver %s: %v", name, err)
	}
	t.Cleanup(func() { _ = stdin.Close(); _ = cmd.Process.Kill(); _ = cmd.Wait() })
	r := &receiver{change: make(chan struct{}, 1), stdin: stdin}
	sc := bufio.NewScanner(stdout)
	if !sc.Scan() {
		t.Fatalf("receiver %s printed nothing", name)
	}
	var l struct{ Listening int }
	if err := json.Unmarshal(sc.Bytes(), &l); err != nil || l.Listening == 0 {
		t.Fatalf("receiver %s: first line %q", name, sc.Text())
	}
	r.url = fmt.Sprintf("http://127.0.0.1:%d/hook/%s", l.Listening, name)
	go func() {
		for sc.Scan() {
			var q hookReq
			if json.Unmarshal(sc.Bytes(), &q) != nil {
				continue
			}
			q.At = time.Now()
			r.mu.Lock()
			r.reqs = append(r.reqs, q)
			r.mu.Unlock()
			select {
			case r.change <- struct{}{}:
			default:
			}
		}
	}()
	return r
}

// setAnswers replaces the receiver's script.
func (r *receiver) setAnswers(t *testing.T, answers string) {
	t.Helper()
	if _, err := io.WriteString(r.stdin, "answers "+answers+"\n"); err != nil {
		t.Fatal(err)
	}
}

// byID returns the requests so far, by webhook-id.
func (r *receiver) byID() map[string][]hookReq {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string][]hookReq{}
	for _, q := range r.reqs {
		out[q.ID] = append(out[q.ID], q)
	}
	return out
}

// waitN waits until every id has had at least n requests.
func (r *receiver) waitN(t *testing.T, ids []string, n int, timeout time.Duration) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		got := r.byID()
		missing := ""
		for _, id := range ids {
			if len(got[id]) < n {
				missing = fmt.Sprintf("%s has %d requests", id, len(got[id]))
				break
			}
		}
		if missing == "" {
			return
		}
		select {
		case <-r.change:
		case <-deadline.C:
			t.Fatalf("not every payment had %d webhook requests within %s: %s", n, timeout, missing)
		}
	}
}

// hooksConfig writes the pipeline's config with watcher.webhooks set and
// returns its path.
func (p *pipeline) hooksConfig(t *testing.T, hc webhooks.Config) string {
	t.Helper()
	b, err := os.ReadFile(p.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	hb, err := yaml.Marshal(hc)
	if err != nil {
		t.Fatal(err)
	}
	var hm map[string]any
	if err := yaml.Unmarshal(hb, &hm); err != nil {
		t.Fatal(err)
	}
	doc["watcher"].(map[string]any)["webhooks"] = hm
	if b, err = yaml.Marshal(doc); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "hooks.yaml")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// startHooksWatcher starts a watcher with the webhooks config at cfgPath.
func (p *pipeline) startHooksWatcher(t *testing.T, name, cfgPath, ledgerPath string, env ...string) *watcherProc {
	t.Helper()
	env = append(append(append([]string(nil), p.env...), "H402_REPLICA="+name), env...)
	w := &watcherProc{name: name, ledger: ledgerPath}
	w.proc = startProc(t, name, bins.watcher, env, "-config", cfgPath, "-ledger", ledgerPath)
	running := w.waitLog(t, "watcher running", 60*time.Second)
	w.admin, _ = running["admin"].(string)
	w.waitLog(t, "webhooks running", 30*time.Second)
	return w
}

// pay settles n EVM payments to seller and returns their ids.
func (p *pipeline) pay(t *testing.T, n int, seller common.Address, base int64) []string {
	t.Helper()
	bodies, amounts := p.evmAuthorizations(t, n, seller, base)
	var ids []string
	for _, x := range p.settleAll(t, 4, bodies, amounts, h402.NamespaceEVM) {
		ids = append(ids, x.id)
	}
	return ids
}

var testSchedule = []config.Duration{0, config.Duration(200 * time.Millisecond), config.Duration(200 * time.Millisecond),
	config.Duration(200 * time.Millisecond), config.Duration(200 * time.Millisecond), config.Duration(200 * time.Millisecond)}

// checkOnce asserts each id got its requests answered per answers, every
// one verified by standardwebhooks with every secret alone (nSecrets), and
// exactly one 2xx.
func checkOnce(t *testing.T, name string, r *receiver, ids []string, wantStatuses []int, nSecrets int) {
	t.Helper()
	got := r.byID()
	for _, id := range ids {
		reqs := got[id]
		var statuses []int
		ok2xx := 0
		for _, q := range reqs {
			statuses = append(statuses, q.Status)
			if q.Status >= 200 && q.Status < 300 {
				ok2xx++
			}
			if len(q.Verified) != nSecrets {
				t.Errorf("%s: request %d for %s verified by secrets %v of %d (errors %v)", name, q.N, id, q.Verified, nSecrets, q.Errors)
			}
			if q.DataID != id || q.Type != webhooks.TypeFinalized || q.ContentType != "application/json" {
				t.Errorf("%s: request for %s carries %s %s (%s)", name, id, q.Type, q.DataID, q.ContentType)
			}
		}
		if fmt.Sprint(statuses) != fmt.Sprint(wantStatuses) || ok2xx != 1 {
			t.Errorf("%s: payment %s answered %v, want %v with exactly one 2xx", name, id, statuses, wantStatuses)
		}
	}
}

// TestWebhooks: through the real ingest, settler and watcher processes, an
// endpoint failing three times (500) then succeeding receives each receipt
// exactly once as a 2xx delivery, every attempt verified by npm
// standardwebhooks; an endpoint answering 410 is disabled after one request
// while another endpoint of the same seller keeps receiving, and once
// enabled again (h402hooks) gets the receipt it answered 410 for and the
// one that waited; an endpoint in a
// secret rotation (old secret expiring later, new one) is verified by the
// old secret alone and by the new one alone.
func TestWebhooks(t *testing.T) {
	p := startPipelineWith(t, pipelineOptions{blockPeriod: 300 * time.Millisecond})
	sellerA, sellerB, sellerC := freshAddress(), freshAddress(), freshAddress()
	sFlaky, sGone, sOther, sOld, sNew := newSecret(t), newSecret(t), newSecret(t), newSecret(t), newSecret(t)
	flaky := startReceiver(t, "flaky", []string{sFlaky}, "500,500,500,200")
	gone := startReceiver(t, "gone", []string{sGone}, "410")
	other := startReceiver(t, "other", []string{sOther}, "204")
	rotate := startReceiver(t, "rotate", []string{sOld, sNew}, "200")
	secretFile := filepath.Join(t.TempDir(), "other.secret")
	if err := os.WriteFile(secretFile, []byte(sOther+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	overlapEnd := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	cfg := p.hooksConfig(t, webhooks.Config{
		Schedule: testSchedule,
		Timeout:  config.Duration(5 * time.Second),
		Endpoints: []webhooks.Endpoint{
			{ID: "flaky", URL: flaky.url, Sellers: []string{sellerA.Hex()}, Secrets: []webhooks.SecretSpec{{SecretEnv: "H402_HOOK_FLAKY"}}},
			{ID: "gone", URL: gone.url, Sellers: []string{sellerB.Hex()}, Secrets: []webhooks.SecretSpec{{SecretEnv: "H402_HOOK_GONE"}}},
			{ID: "other", URL: other.url, Sellers: []string{sellerB.Hex()}, Secrets: []webhooks.SecretSpec{{SecretFile: secretFile}}},
			{ID: "rotate", URL: rotate.url, Sellers: []string{sellerC.Hex()}, Secrets: []webhooks.SecretSpec{
				{SecretEnv: "H402_HOOK_OLD", ExpiresAt: &overlapEnd}, {SecretEnv: "H402_HOOK_NEW"}}},
		},
	})
	p.startSettler(t)
	w := p.startHooksWatcher(t, "watcher-hooks", cfg, filepath.Join(t.TempDir(), "ledger.db"),
		"H402_HOOK_FLAKY="+sFlaky, "H402_HOOK_GONE="+sGone, "H402_HOOK_OLD="+sOld, "H402_HOOK_NEW="+sNew)

	idsA := p.pay(t, 2, sellerA, 1000)
	idsC := p.pay(t, 1, sellerC, 3000)
	firstB := p.pay(t, 1, sellerB, 2000)
	// 410: the gone endpoint is disabled (shared state), the other keeps going.
	gone.waitN(t, firstB, 1, 90*time.Second)
	eventually(t, 20*time.Second, "endpoint gone disabled", func() (bool, string) {
		a := p.getURL(t, "http://"+w.admin+"/webhooks/endpoints")
		for _, e := range a.Body["endpoints"].([]any) {
			m := e.(map[string]any)
			if m["id"] == "gone" && m["disabled"] != nil {
				return true, ""
			}
		}
		return false, string(a.Raw)
	})
	secondB := p.pay(t, 1, sellerB, 2100)
	idsB := append(append([]string(nil), firstB...), secondB...)
	other.waitN(t, idsB, 1, 90*time.Second)
	flaky.waitN(t, idsA, 4, 90*time.Second)
	rotate.waitN(t, idsC, 1, 90*time.Second)

	checkOnce(t, "flaky", flaky, idsA, []int{500, 500, 500, 200}, 1)
	checkOnce(t, "other", other, idsB, []int{204}, 1)
	checkOnce(t, "rotate", rotate, idsC, []int{200}, 2)
	if got := gone.byID(); len(got) != 1 || len(got[firstB[0]]) != 1 {
		t.Errorf("gone endpoint got %v, want one request (for %s), then nothing", got, firstB[0])
	}
	// Nothing is left to deliver (so no further attempt can come), and
	// still one 2xx per receipt.
	p.hooksIdle(t, "flaky", "other", "rotate")
	checkOnce(t, "flaky (idle)", flaky, idsA, []int{500, 500, 500, 200}, 1)

	// The delivery log over the admin API: retry, retry, retry, delivered.
	a := p.getURL(t, "http://"+w.admin+"/webhooks/endpoints/flaky/log")
	byID := map[string][]string{}
	for _, x := range a.Body["records"].([]any) {
		r := x.(map[string]any)
		byID[r["receiptId"].(string)] = append(byID[r["receiptId"].(string)], r["outcome"].(string))
		if strings.Contains(fmt.Sprint(r), "whsec_") || strings.Contains(fmt.Sprint(r), "v1,") {
			t.Errorf("log record shows a secret or signature: %v", r)
		}
	}
	for _, id := range idsA {
		if got := strings.Join(byID[id], ","); got != "retry,retry,retry,delivered" {
			t.Errorf("log of %s: %s, want retry,retry,retry,delivered", id, got)
		}
	}
	// Metrics carry the attempts.
	eventually(t, 10*time.Second, "webhook metrics", func() (bool, string) {
		metrics := httpGetText(t, "http://"+w.admin+"/metrics")
		ok := strings.Contains(metrics, `h402_webhook_attempts_total{endpoint="flaky",outcome="retry"} 6`) &&
			strings.Contains(metrics, `h402_webhook_attempts_total{endpoint="flaky",outcome="delivered"} 2`) &&
			strings.Contains(metrics, `h402_webhook_endpoints_disabled 1`)
		return ok, grepLines(metrics, "h402_webhook")
	})
	if strings.Contains(w.tail(400), strings.TrimPrefix(sFlaky, "whsec_")) {
		t.Error("the watcher logged a secret")
	}

	// Enabled again with the CLI, the 410 endpoint gets the receipt it
	// answered 410 for and the one that waited in its consumer while it
	// was disabled; the CLI shows its log.
	cli := buildCLI(t)
	gone.setAnswers(t, "200")
	if out, err := exec.Command(cli, "--url", "http://"+w.admin, "enable", "gone").CombinedOutput(); err != nil {
		t.Fatalf("h402hooks enable gone: %v: %s", err, out)
	}
	gone.waitN(t, secondB, 1, 30*time.Second)
	gone.waitN(t, firstB, 2, 30*time.Second)
	p.hooksIdle(t, "gone")
	checkOnce(t, "gone (enabled)", gone, secondB, []int{200}, 1)
	checkOnce(t, "gone (enabled, the 410 one)", gone, firstB, []int{410, 200}, 1)
	out, err := exec.Command(cli, "--url", "http://"+w.admin, "log", "gone").CombinedOutput()
	if err != nil || strings.Count(string(out), "\n") != 3 || !strings.Contains(string(out), `"status":410`) ||
		!strings.Contains(string(out), `"outcome":"disabled"`) || strings.Count(string(out), `"outcome":"delivered"`) != 2 {
		t.Errorf("h402hooks log gone: %v:\n%s\nwant the 410 (disabled) and then two deliveries", err, out)
	}
}

// buildCLI builds cmd/h402hooks into a temporary directory.
func buildCLI(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "h402hooks")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/h402hooks")
	cmd.Dir = filepath.Dir(filepath.Dir(x402jsDir)) // the module root (x402jsDir is <root>/e2e/x402js)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build h402hooks: %v\n%s", err, out)
	}
	return bin
}

// TestWebhooksSurviveRestarts: an endpoint failing three times then
// succeeding receives each receipt exactly once as a 2xx, while between
// the failures every pipeline process (ingest, settler, watcher) and the
// JetStream server (same store directory) are stopped and started again:
// the retry state lives in JetStream.
func TestWebhooksSurviveRestarts(t *testing.T) {
	p := startPipelineWith(t, pipelineOptions{blockPeriod: 300 * time.Millisecond})
	seller := freshAddress()
	secret := newSecret(t)
	flaky := startReceiver(t, "flaky", []string{secret}, "500,500,500,200")
	// Retries 4 s apart: longer than stopping every process takes, so each
	// attempt falls in a different life of the pipeline.
	delay := config.Duration(4 * time.Second)
	cfg := p.hooksConfig(t, webhooks.Config{
		Schedule: []config.Duration{0, delay, delay, delay, delay}, Timeout: config.Duration(5 * time.Second),
		Endpoints: []webhooks.Endpoint{{ID: "flaky", URL: flaky.url, Sellers: []string{seller.Hex()},
			Secrets: []webhooks.SecretSpec{{SecretEnv: "H402_HOOK_SECRET"}}}},
	})
	ledger := filepath.Join(t.TempDir(), "ledger.db")
	p.startSettler(t)
	w := p.startHooksWatcher(t, "watcher-hooks", cfg, ledger, "H402_HOOK_SECRET="+secret)
	ids := p.pay(t, 2, seller, 5000)

	var downAt []time.Time
	for round := 1; round <= 2; round++ {
		flaky.waitN(t, ids, round, 90*time.Second)
		// Every process down, the event log too; then everything up again.
		w.stop(t)
		downAt = append(downAt, time.Now())
		p.stopSettler(t)
		p.ingest.stop(t)
		p.restartJetStream(t)
		p.ingest = startProc(t, "ingest", bins.ingest, p.env, "-config", p.cfgPath)
		serving := p.ingest.waitLog(t, "ingest serving", 60*time.Second)
		p.url = "http://" + serving["addr"].(string)
		p.waitReady()
		p.startSettler(t)
		w = p.startHooksWatcher(t, "watcher-hooks", cfg, ledger, "H402_HOOK_SECRET="+secret)
	}
	flaky.waitN(t, ids, 4, 90*time.Second)
	p.hooksIdle(t, "flaky")
	checkOnce(t, "flaky", flaky, ids, []int{500, 500, 500, 200}, 1)
	// Attempt 1 before the first restart, 2 between the restarts, 3 and 4 after.
	for id, reqs := range flaky.byID() {
		if len(reqs) < 3 || !reqs[0].At.Before(downAt[0]) || !reqs[1].At.After(downAt[0]) || !reqs[1].At.Before(downAt[1]) || !reqs[2].At.After(downAt[1]) {
			t.Errorf("payment %s: attempts at %v, restarts at %v: want one failure in each life of the pipeline", id, reqTimes(reqs), downAt)
		}
		// webhook-timestamp is the time of each attempt (4 s and more apart).
		for i := 1; i < len(reqs); i++ {
			prev, _ := strconv.ParseInt(reqs[i-1].Timestamp, 10, 64)
			cur, _ := strconv.ParseInt(reqs[i].Timestamp, 10, 64)
			if cur <= prev {
				t.Errorf("payment %s: webhook-timestamp %s after %s, want a later one per attempt", id, reqs[i].Timestamp, reqs[i-1].Timestamp)
			}
		}
	}
}

func reqTimes(reqs []hookReq) []string {
	var out []string
	for _, q := range reqs {
		out = append(out, q.At.Format("15:04:05.000"))
	}
	return out
}

// restartJetStream stops the embedded server and starts it again on the
// same store directory and port.
func (p *pipeline) restartJetStream(t *testing.T) {
	t.Helper()
	old := p.js.Server
	dir := old.StoreDir()
	_, portStr, _ := net.SplitHostPort(strings.TrimPrefix(old.ClientURL(), "nats://"))
	port, _ := strconv.Atoi(portStr)
	old.Close()
	s, err := natsembed.Start(natsembed.Config{StoreDir: dir, Port: port})
	if err != nil {
		t.Fatalf("restart JetStream on %s: %v", dir, err)
	}
	t.Cleanup(s.Close)
	p.js.Server = s
}

// hooksIdle waits until the endpoints' consumers hold nothing pending or
// in flight (every receipt delivered, failed or exhausted, and acked).
func (p *pipeline) hooksIdle(t *testing.T, endpoints ...string) {
	t.Helper()
	_, js := p.js.Connect(t)
	for _, id := range endpoints {
		eventually(t, 30*time.Second, "consumer of "+id+" idle", func() (bool, string) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			c, err := js.Consumer(ctx, events.StreamReceipts, events.WebhookConsumerName(id))
			if err != nil {
				return false, err.Error()
			}
			info, err := c.Info(ctx)
			if err != nil {
				return false, err.Error()
			}
			return info.NumPending == 0 && info.NumAckPending == 0 && info.Delivered.Consumer > 0,
				fmt.Sprintf("pending %d, ack pending %d", info.NumPending, info.NumAckPending)
		})
	}
}

func httpGetText(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		b.WriteString(sc.Text())
		b.WriteByte('\n')
	}
	return b.String()
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
