package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/h402/settlement/pkg/events"
	"github.com/h402/settlement/pkg/ledger"
	"github.com/h402/settlement/pkg/statuspage"
	"github.com/h402/settlement/pkg/testenv"
)

const (
	token  = "0x833589fcd6edb6e08f4c7c32d4f71b54bda02913"
	seller = "0xaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	payer  = "0x1111111111111111111111111111111111111111"
)

var t0 = time.Date(2026, 11, 24, 4, 0, 0, 0, time.UTC)

// history writes n payments to seller through the real event functions:
// every one accepted, the even ones finalized with a receipt, the odd ones
// left pending.
func history(t *testing.T, ctx context.Context, js jetstream.JetStream, n int) []string {
	t.Helper()
	sl, err := events.OpenStateLog(ctx, js)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i := 0; i < n; i++ {
		e := testenv.EVMPayment(i, token, payer, seller, "10", t0.Add(time.Duration(i)*time.Minute))
		ids = append(ids, e.ID)
		testenv.PublishAccepted(t, ctx, js, e)
		if i%2 == 1 {
			continue
		}
		tx := fmt.Sprintf("0x%064x", 0xf000+i)
		at := t0.Add(time.Duration(i) * time.Hour)
		testenv.Finalize(t, ctx, sl, e, tx, 5, at)
		if _, err := events.PublishReceipt(ctx, js, events.Receipt{ID: e.ID, State: events.StateFinalized, Namespace: e.Namespace,
			NetworkID: e.NetworkID, Payer: payer, PayTo: seller, Token: token, Amount: "10", TxHash: tx, Block: 5, At: at}); err != nil {
			t.Fatal(err)
		}
	}
	return ids
}

func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	m := NewMain()
	var out, errOut bytes.Buffer
	m.Stdout, m.Stderr, m.Getenv = &out, &errOut, func(string) string { return "" }
	if err := m.ParseFlags(args); err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := m.Run(ctx)
	if cerr := m.Close(); err == nil {
		err = cerr
	}
	return out.String(), err
}

type fixture struct {
	env   *testenv.JetStream
	path  string
	ids   []string
	dump  string
	nats  string
	httpU string
}

func setup(t *testing.T, n int) *fixture {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	env := testenv.StartJetStream(t)
	_, js := env.Connect(t)
	f := &fixture{env: env, path: filepath.Join(t.TempDir(), "ledger.db"), nats: env.Server.ClientURL()}
	f.ids = history(t, ctx, js, n)
	l, err := ledger.Open(f.path, ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := ledger.CatchUp(ctx, js, l); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := l.Dump(&b); err != nil {
		t.Fatal(err)
	}
	f.dump = b.String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	// The API server reads the same file, read-only like the CLI's --db.
	ro, err := ledger.Open(f.path, ledger.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ro.Close() })
	mux := http.NewServeMux()
	mux.Handle("/ledger/", ledger.Handler(ro))
	mux.Handle("GET /status", statuspage.Handler(ro, statuspage.Options{}))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	f.httpU = srv.URL
	return f
}

// TestCommands runs every read command against the HTTP API and against
// the file: same output.
func TestCommands(t *testing.T) {
	f := setup(t, 6)
	for _, src := range [][]string{{"--url", f.httpU}, {"--db", f.path}} {
		t.Run(src[0], func(t *testing.T) {
			cmd := func(args ...string) string {
				t.Helper()
				out, err := run(t, append(append([]string{}, src...), args...)...)
				if err != nil {
					t.Fatalf("%v: %v", args, err)
				}
				return out
			}
			var p struct {
				Payment ledger.Payment      `json:"payment"`
				History []events.Transition `json:"history"`
			}
			if err := json.Unmarshal([]byte(cmd("payment", f.ids[0])), &p); err != nil || p.Payment.State != events.StateFinalized || len(p.History) != 3 {
				t.Errorf("payment: got %+v (%v)", p, err)
			}
			lines := strings.Split(strings.TrimSpace(cmd("receipts", "--payto", seller, "--from", t0.Format(time.RFC3339))), "\n")
			if len(lines) != 3 {
				t.Errorf("receipts: got %d lines, want 3", len(lines))
			}
			var tot struct{ Totals []ledger.SellerTotal }
			if err := json.Unmarshal([]byte(cmd("totals", "--payto", seller)), &tot); err != nil || len(tot.Totals) != 1 ||
				tot.Totals[0].Settled != "30" || tot.Totals[0].Pending != "30" {
				t.Errorf("totals: got %+v (%v), want 30 settled and 30 pending", tot, err)
			}
			rows, err := csv.NewReader(strings.NewReader(cmd("export", "--payto", seller, "--to", t0.Add(3*time.Hour).Format(time.RFC3339)))).ReadAll()
			if err != nil || len(rows) != 3 || rows[1][0] != f.ids[0] || rows[2][0] != f.ids[2] || rows[2][11] != "2" {
				t.Errorf("export: got %v (%v), want a header and payments 0 and 2", rows, err)
			}
			page := cmd("status")
			if !strings.Contains(page, "<title>h402 ledger status</title>") || !strings.Contains(page, `<tr data-network="evm.8453">`) ||
				strings.Count(page, `class="receipt"`) != 3 {
				t.Errorf("status: got\n%s\nwant the page with evm.8453 and 3 receipts", page)
			}
			if got := cmd("dump"); got != f.dump {
				t.Errorf("dump: got\n%s\nwant\n%s", got, f.dump)
			}
			if _, err := run(t, append(append([]string{}, src...), "payment", "evm.8453.nope")...); err == nil || !strings.Contains(err.Error(), "not_found") {
				t.Errorf("missing payment: got %v, want a not_found error", err)
			}
		})
	}
}

// TestLockedFile: a read-only open of a file its writer holds gives up
// after --lock-timeout.
func TestLockedFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ledger.db")
	l, err := ledger.Open(path, ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	start := time.Now()
	_, err = run(t, "--db", path, "--lock-timeout", "200ms", "dump")
	if err == nil || !strings.Contains(err.Error(), "locked") {
		t.Errorf("got %v, want an error about the lock", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("took %v", d)
	}
	if _, err := run(t, "rebuild", "--db", path, "--lock-timeout", "200ms", "--nats", "nats://127.0.0.1:1"); err == nil || !strings.Contains(err.Error(), "watcher running") {
		t.Errorf("rebuild of a held file: got %v, want a refusal", err)
	}
}

// TestRebuild replaces a ledger file with one rebuilt from the streams.
func TestRebuild(t *testing.T) {
	f := setup(t, 4)
	path := filepath.Join(t.TempDir(), "stale.db")
	l, err := ledger.Open(path, ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	_ = l.Apply(events.StreamPayments, 1, "x", []byte("y")) // content to be thrown away
	_ = l.Close()
	if _, err := run(t, "rebuild", "--db", path, "--nats", f.nats); err != nil {
		t.Fatal(err)
	}
	out, err := run(t, "--db", path, "dump")
	if err != nil {
		t.Fatal(err)
	}
	if out != f.dump {
		t.Errorf("rebuilt dump:\n%s\nwant\n%s", out, f.dump)
	}
}

func TestFlags(t *testing.T) {
	for _, args := range [][]string{
		{}, {"nope"}, {"payment"}, {"receipts"}, {"totals"}, {"export", "--payto", "x", "--from", "yesterday"}, {"rebuild"}, {"dump", "extra"},
	} {
		if err := NewMain().ParseFlags(args); err == nil {
			t.Errorf("%q: got no error", args)
		}
	}
}
