package statuspage_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/h402/settlement/pkg/events"
	"github.com/h402/settlement/pkg/h402"
	"github.com/h402/settlement/pkg/ledger"
	"github.com/h402/settlement/pkg/statuspage"
	"github.com/h402/settlement/pkg/testenv"
)

const (
	token   = "0x833589fcd6edb6e08f4c7c32d4f71b54bda02913"
	sellerA = "0xaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	sellerB = "0xbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	payer   = "0x1111111111111111111111111111111111111111"
	hostile = `<script>alert("x")</script>`
)

// now is the page's clock: payments happen in the minutes before it.
var now = time.Date(2026, 11, 30, 12, 30, 20, 0, time.UTC)

// filler publishes events as the pipeline does (the real pkg/events
// functions) into an embedded JetStream, and projects them into a ledger
// file through ledger.CatchUp (the Apply path the watcher runs).
type filler struct {
	t   *testing.T
	ctx context.Context
	js  jetstream.JetStream
	log *events.StateLog
}

func newFiller(t *testing.T) *filler {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	env := testenv.StartJetStream(t)
	_, js := env.Connect(t)
	sl, err := events.OpenStateLog(ctx, js)
	if err != nil {
		t.Fatal(err)
	}
	return &filler{t: t, ctx: ctx, js: js, log: sl}
}

// payment i on network evm.<net>, accepted at at.
func payment(i int, net, payTo, amount, resource string, at time.Time) *events.PaymentAccepted {
	e := testenv.EVMPayment(i, token, payer, payTo, amount, at)
	e.NetworkID = net
	e.ID = strings.Replace(e.ID, "evm.8453.", "evm."+net+".", 1)
	e.Resource = resource
	return e
}

func (f *filler) accept(e *events.PaymentAccepted) { testenv.PublishAccepted(f.t, f.ctx, f.js, e) }

func (f *filler) finalize(e *events.PaymentAccepted, i int, at time.Time) {
	tx := fmt.Sprintf("0x%064x", 0xf000+i)
	testenv.Finalize(f.t, f.ctx, f.log, e, tx, uint64(100+i), at)
	f.receipt(e, events.StateFinalized, tx, uint64(100+i), at, "")
}

func (f *filler) fail(e *events.PaymentAccepted, reason h402.Reason, at time.Time) {
	if _, err := f.log.Append(f.ctx, e.Namespace, e.NetworkID, events.Transition{ID: e.ID, State: events.StateFailed, Reason: reason, Message: hostile, At: at}); err != nil {
		f.t.Fatal(err)
	}
	f.receipt(e, events.StateFailed, "", 0, at, reason)
}

func (f *filler) receipt(e *events.PaymentAccepted, st events.State, tx string, block uint64, at time.Time, reason h402.Reason) {
	_, err := events.PublishReceipt(f.ctx, f.js, events.Receipt{ID: e.ID, State: st, Namespace: e.Namespace, NetworkID: e.NetworkID,
		Payer: e.Payer, PayTo: e.PayTo, Token: e.Token, Amount: e.Amount, TxHash: tx, Block: block, At: at,
		Resource: e.Resource, Reason: reason, Message: hostile})
	if err != nil {
		f.t.Fatalf("receipt of %s: %v", e.ID, err)
	}
}

func (f *filler) ledger() *ledger.Ledger {
	f.t.Helper()
	l, err := ledger.Open(filepath.Join(f.t.TempDir(), "ledger.db"), ledger.Options{NoSync: true})
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { _ = l.Close() })
	if err := ledger.CatchUp(f.ctx, f.js, l); err != nil {
		f.t.Fatalf("catch up: %v", err)
	}
	return l
}

// server serves the status page beside the ledger API, as the watcher does.
func server(t *testing.T, l *ledger.Ledger) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("/ledger/", ledger.Handler(l))
	sp := statuspage.Handler(l, statuspage.Options{Title: "test <deployment>", Now: func() time.Time { return now }})
	mux.Handle("GET /status", sp)
	mux.Handle("GET /{$}", sp)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func get(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

// cell returns the text of the element with attributes attrs (in order)
// that holds only text; "" when there is none.
func cell(page, rowAttr, cellAttr string) string {
	row := regexp.MustCompile(`(?s)<tr ` + regexp.QuoteMeta(rowAttr) + `[^>]*>(.*?)</tr>`).FindStringSubmatch(page)
	if row == nil {
		return ""
	}
	c := regexp.MustCompile(`<t[dh] [^>]*` + regexp.QuoteMeta(cellAttr) + `[^>]*>([^<]*)</t[dh]>`).FindStringSubmatch(row[1])
	if c == nil {
		return ""
	}
	return c[1]
}

func TestStatusPage(t *testing.T) {
	f := newFiller(t)
	// evm.8453: two finalized two minutes ago, one pending, one failed
	// (seller B, hostile resource and reason); evm.1337: one finalized
	// this minute.
	a1 := payment(1, "8453", sellerA, "100", "https://api.example/a", now.Add(-5*time.Minute))
	a2 := payment(2, "8453", sellerA, "250", "https://api.example/a", now.Add(-4*time.Minute))
	a3 := payment(3, "8453", sellerA, "7", "https://api.example/a", now.Add(-3*time.Minute))
	b1 := payment(4, "8453", sellerB, "40", "https://api.example/"+hostile, now.Add(-3*time.Minute))
	c1 := payment(5, "1337", sellerA, "9", "https://api.example/c", now.Add(-time.Minute))
	for _, e := range []*events.PaymentAccepted{a1, a2, a3, b1, c1} {
		f.accept(e)
	}
	f.finalize(a1, 1, now.Add(-2*time.Minute))
	f.finalize(a2, 2, now.Add(-2*time.Minute).Add(10*time.Second))
	f.fail(b1, h402.Reason(hostile), now.Add(-90*time.Second))
	f.finalize(c1, 5, now.Add(-10*time.Second))
	l := f.ledger()
	srv := server(t, l)

	resp, page := get(t, srv.URL+"/")
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/status" {
		t.Fatalf("GET /: %d at %s, want 200 after a redirect to /status", resp.StatusCode, resp.Request.URL.Path)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("content type %q", ct)
	}

	t.Run("escaping", func(t *testing.T) {
		if strings.Contains(page, "<script") || strings.Contains(page, "alert(\"x\")") {
			t.Errorf("the page carries a hostile string unescaped:\n%s", page)
		}
		for _, want := range []string{"&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;", "test &lt;deployment&gt; status"} {
			if !strings.Contains(page, want) {
				t.Errorf("the page lacks the escaped text %s", want)
			}
		}
		if !strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'none'") {
			t.Errorf("no restrictive Content-Security-Policy: %q", resp.Header.Get("Content-Security-Policy"))
		}
	})

	t.Run("states", func(t *testing.T) {
		for _, c := range []struct{ network, state, want string }{
			{"evm.8453", "finalized", "2"}, {"evm.8453", "accepted", "1"}, {"evm.8453", "failed", "1"},
			{"evm.8453", "submitted", "0"}, {"evm.8453", "total", "4"},
			{"evm.1337", "finalized", "1"}, {"evm.1337", "total", "1"},
			{"all", "finalized", "3"}, {"all", "total", "5"},
		} {
			if got := cell(page, `data-network="`+c.network+`"`, `data-state="`+c.state+`"`); got != c.want {
				t.Errorf("%s %s: got %q, want %s", c.network, c.state, got, c.want)
			}
		}
	})

	t.Run("per minute", func(t *testing.T) {
		// 15 columns ending with 12:30: 12:28 is the 13th.
		rowOf := func(network, kind string) []string {
			m := regexp.MustCompile(`<tr data-network="` + network + `" data-kind="` + kind + `">(.*?)</tr>`).FindStringSubmatch(page)
			if m == nil {
				t.Fatalf("no %s row of %s", kind, network)
			}
			var out []string
			for _, c := range regexp.MustCompile(`<td class="n">(\d+)</td>`).FindAllStringSubmatch(m[1], -1) {
				out = append(out, c[1])
			}
			return out
		}
		fin := rowOf("evm.8453", "finalized")
		if len(fin) != 15 || fin[12] != "2" || strings.Count(strings.Join(fin, ","), "0") != 14 {
			t.Errorf("evm.8453 finalized per minute: %v, want 2 at 12:28 only", fin)
		}
		acc := rowOf("evm.8453", "accepted")
		if want := "0,0,0,0,0,0,0,0,0,1,1,2,0,0,0"; strings.Join(acc, ",") != want {
			t.Errorf("evm.8453 accepted per minute: %v, want %s", acc, want)
		}
		if failed := rowOf("evm.8453", "failed"); failed[12] != "1" {
			t.Errorf("evm.8453 failed per minute: %v, want 1 at 12:28", failed)
		}
		if fin := rowOf("evm.1337", "finalized"); fin[14] != "1" {
			t.Errorf("evm.1337 finalized per minute: %v, want 1 at 12:30", fin)
		}
		if !strings.Contains(page, `<th class="n">12:16</th>`) || !strings.Contains(page, `<th class="n">12:30</th>`) {
			t.Errorf("the window is not 12:16 to 12:30")
		}
		if n := strings.Count(page, "<rect "); n != 2 {
			t.Errorf("%d bars in the chart, want 2 (evm.8453 at 12:28, evm.1337 at 12:30)", n)
		}
	})

	t.Run("sellers", func(t *testing.T) {
		for _, c := range []struct{ payTo, network, col, want string }{
			{sellerA, "evm.8453", "settled", "350"}, {sellerA, "evm.8453", "settledCount", "2"},
			{sellerA, "evm.8453", "pending", "7"}, {sellerA, "evm.8453", "pendingCount", "1"},
			{sellerA, "evm.1337", "settled", "9"},
			{sellerB, "evm.8453", "failed", "40"}, {sellerB, "evm.8453", "failedCount", "1"}, {sellerB, "evm.8453", "settled", "0"},
		} {
			if got := cell(page, `data-payto="`+c.payTo+`" data-network="`+c.network+`"`, `data-col="`+c.col+`"`); got != c.want {
				t.Errorf("seller %s on %s, %s: got %q, want %s", c.payTo[:6], c.network, c.col, got, c.want)
			}
		}
	})

	t.Run("receipts link to their JSON", func(t *testing.T) {
		hrefs := regexp.MustCompile(`<a class="receipt" href="([^"]+)"`).FindAllStringSubmatch(page, -1)
		var got []string
		for _, h := range hrefs {
			got = append(got, h[1])
		}
		want := []string{"/ledger/payments/" + c1.ID, "/ledger/payments/" + b1.ID, "/ledger/payments/" + a2.ID, "/ledger/payments/" + a1.ID}
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Fatalf("receipt links:\n got  %v\n want %v (newest first)", got, want)
		}
		resp, body := get(t, srv.URL+got[1])
		var v struct {
			Receipt *events.Receipt `json:"receipt"`
		}
		if err := json.Unmarshal([]byte(body), &v); resp.StatusCode != http.StatusOK || err != nil || v.Receipt == nil ||
			v.Receipt.ID != b1.ID || v.Receipt.Reason != h402.Reason(hostile) {
			t.Errorf("GET %s: %d %s, want the failed receipt of %s", got[1], resp.StatusCode, body, b1.ID)
		}
	})

	t.Run("refresh", func(t *testing.T) {
		if !strings.Contains(page, `<meta http-equiv="refresh" content="5">`) {
			t.Errorf("no refresh meta tag")
		}
	})
}

func TestStatusPageEmpty(t *testing.T) {
	l, err := ledger.Open(filepath.Join(t.TempDir(), "ledger.db"), ledger.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	resp, page := get(t, server(t, l).URL+"/status")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /status: %d %s", resp.StatusCode, page)
	}
	for _, want := range []string{"No payments yet.", "No receipts yet.", "No sellers yet."} {
		if !strings.Contains(page, want) {
			t.Errorf("an empty ledger's page lacks %q", want)
		}
	}
}
