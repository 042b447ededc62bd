package e2e

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/crypto"

	"github.com/h402/settlement/pkg/demo"
	"github.com/h402/settlement/pkg/events"
	"github.com/h402/settlement/pkg/webhooks"
)

// demoPayments is how many requests TestDemo's buyer pays (H402_DEMO_PAYMENTS overrides).
const demoPayments = 500

// TestDemo is the must-show run: the real cmd/h402demo (the demo seller
// behind pkg/seller, the demo buyer with pkg/buyer's RoundTripper) pays
// 500 requests of mixed payload types on both chains (EVM EIP-3009 in
// h402 and x402 v2, Solana signTransaction with the buyer's fee and with
// the facilitator's fee payer) through the ingest, settler and watcher
// processes. Every request is served (200 with content); every payment
// reaches finalized with exactly one receipt in stream RECEIPTS, one
// entry in the watcher's ledger and exactly one 2xx webhook delivery to a
// receiver verifying signatures with npm standardwebhooks.
func TestDemo(t *testing.T) {
	n := demoPayments
	if v, err := strconv.Atoi(os.Getenv("H402_DEMO_PAYMENTS")); err == nil && v > 0 {
		n = v
	}
	start := time.Now()
	p := startPipelineWith(t, pipelineOptions{solana: true, blockPeriod: time.Second})
	secret := newSecret(t)
	recv := startReceiver(t, "demo", []string{secret}, "204")
	hooks := p.hooksConfig(t, webhooks.Config{
		Endpoints: []webhooks.Endpoint{{
			ID: "demo-seller", URL: recv.url, Sellers: []string{demoEVMPayTo, demoSolanaPayTo},
			Secrets: []webhooks.SecretSpec{{Secret: secret}},
		}},
		Schedule: testSchedule, Concurrency: 16,
	})
	p.startSettler(t)
	w := p.startHooksWatcher(t, "watcher-demo", hooks, filepath.Join(t.TempDir(), "ledger.db"))
	t.Logf("pipeline up in %s", time.Since(start).Round(time.Millisecond))

	report := filepath.Join(t.TempDir(), "report.json")
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bins.demo, "-config", p.cfgPath, "-facilitator", p.url,
		"-ledger", "http://"+w.admin, "-nats", p.js.Server.ClientURL(), "-listen", "127.0.0.1:0",
		"-payments", strconv.Itoa(n), "-concurrency", "16", "-evm-payto", demoEVMPayTo, "-solana-payto", demoSolanaPayTo,
		"-exit", "-wait", "2m", "-report", report, "-state-dir", t.TempDir())
	cmd.Env = append(os.Environ(),
		"H402_DEMO_EVM_KEY="+hex.EncodeToString(crypto.FromECDSA(p.evm.Payers()[0])),
		"H402_DEMO_SOLANA_KEY="+p.sol.Payers()[0].String())
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	payStart := time.Now()
	err := cmd.Run()
	t.Logf("h402demo ran %s:\n%s", time.Since(payStart).Round(time.Millisecond), out.tail(25))
	if err != nil {
		t.Fatalf("h402demo -exit: %v", err)
	}

	var sum demo.Summary
	b, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &sum); err != nil {
		t.Fatalf("report: %v", err)
	}
	if len(sum.Results) != n {
		t.Fatalf("report has %d results, want %d", len(sum.Results), n)
	}
	kinds := map[demo.Kind]int{}
	var ids []string
	seen := map[string]bool{}
	for _, r := range sum.Results {
		kinds[r.Kind]++
		if !r.Served || r.Status != http.StatusOK || r.Bytes == 0 {
			t.Errorf("request %s (%s) not served: %d, %d bytes, %s", r.Path, r.Kind, r.Status, r.Bytes, r.Error)
		}
		if r.PaymentID == "" || seen[r.PaymentID] {
			t.Errorf("request %s: payment id %q missing or repeated", r.Path, r.PaymentID)
			continue
		}
		seen[r.PaymentID] = true
		ids = append(ids, r.PaymentID)
	}
	for _, k := range demo.AllKinds {
		if want := n / len(demo.AllKinds); kinds[k] < want {
			t.Errorf("kind %s: %d payments, want at least %d", k, kinds[k], want)
		}
	}

	// Finalized, at ingest.
	p.waitStates(t, ids, 30*time.Second, nil, events.StateFinalized)
	// Exactly one receipt each, finalized, in stream RECEIPTS.
	rcpts := p.streamReceipts(t)
	for _, id := range ids {
		if rs := rcpts[id]; len(rs) != 1 || rs[0].State != events.StateFinalized {
			t.Errorf("payment %s: receipts %+v, want exactly one finalized", id, rs)
		}
	}
	// One ledger entry each, finalized, in the watcher's ledger.
	entries := 0
	for _, id := range ids {
		a := p.getURL(t, "http://"+w.admin+"/ledger/payments/"+id)
		if a.Status != http.StatusOK || !strings.Contains(string(a.Raw), `"finalized"`) {
			t.Errorf("ledger entry of %s: %s", id, a)
			continue
		}
		entries++
	}
	// The ledger lists each payment once under its seller.
	listed := map[string]int{}
	for _, payTo := range []string{demoEVMPayTo, demoSolanaPayTo} {
		cursor := ""
		for {
			var page struct {
				Payments []struct {
					ID string `json:"id"`
				} `json:"payments"`
				Next string `json:"next"`
			}
			u := "http://" + w.admin + "/ledger/payments?limit=100&payTo=" + payTo
			if cursor != "" {
				u += "&cursor=" + url.QueryEscape(cursor)
			}
			a := p.getURL(t, u)
			if err := json.Unmarshal(a.Raw, &page); err != nil || a.Status != http.StatusOK {
				t.Fatalf("ledger payments of %s: %s", payTo, a)
			}
			for _, e := range page.Payments {
				listed[e.ID]++
			}
			if page.Next == "" || len(page.Payments) == 0 {
				break
			}
			cursor = page.Next
		}
	}
	for _, id := range ids {
		if listed[id] != 1 {
			t.Errorf("ledger lists payment %s %d times under its seller, want once", id, listed[id])
		}
	}
	// Exactly one 2xx webhook delivery each, verified by npm standardwebhooks.
	recv.waitN(t, ids, 1, 60*time.Second)
	checkOnce(t, "demo-seller", recv, ids, []int{204}, 1)
	if d := len(recv.byID()); d != len(ids) {
		t.Errorf("webhook receiver got %d webhook-ids, want %d", d, len(ids))
	}
	if sum.Receipts != n || sum.Served != n {
		t.Errorf("demo summary: receipts %d served %d, want %d", sum.Receipts, sum.Served, n)
	}
	t.Logf("%d payments (%v): served, finalized, %d receipts, %d ledger entries, %d webhook deliveries; whole test %s",
		n, kinds, len(rcpts), entries, len(recv.byID()), time.Since(start).Round(time.Millisecond))
}

// The demo seller's payTo addresses in TestDemo.
const (
	demoEVMPayTo    = "0x00000000000000000000000000000000000de110"
	demoSolanaPayTo = "DemoSe11er1111111111111111111111111111111111"
)

// syncBuffer is a bytes.Buffer safe for a process's two output pipes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) tail(n int) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	lines := strings.Split(strings.TrimRight(s.b.String(), "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{fmt.Sprintf("… %d lines", len(lines)-n)}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}
