package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/h402/settlement/pkg/config"
	"github.com/h402/settlement/pkg/events"
	"github.com/h402/settlement/pkg/h402"
	"github.com/h402/settlement/pkg/testenv"
	"github.com/h402/settlement/pkg/webhooks"
)

const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

func run(t *testing.T, adminURL string, stdin string, args ...string) (string, error) {
	t.Helper()
	m := NewMain()
	var out bytes.Buffer
	m.Stdout, m.Stdin = &out, strings.NewReader(stdin)
	if err := m.ParseFlags(append([]string{"--url", adminURL}, args...)); err != nil {
		t.Fatalf("%v: %v", args, err)
	}
	err := m.Run(context.Background())
	return out.String(), err
}

// TestCommands drives every command against a real dispatcher (embedded
// JetStream) behind the admin API, and an endpoint counting requests.
func TestCommands(t *testing.T) {
	env := testenv.StartJetStream(t)
	var hits atomic.Int64
	got := make(chan string, 10)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		got <- r.Header.Get("webhook-id")
	}))
	defer hook.Close()
	cfg := webhooks.Config{Schedule: []config.Duration{0, config.Duration(10 * time.Millisecond)}}
	cfg.Default()
	_, js := env.Connect(t)
	d, err := webhooks.New(context.Background(), js, webhooks.Options{Config: &cfg, Streams: env.Streams})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = d.Run(ctx) }()
	defer func() { cancel(); <-done }()
	if err := d.WaitSynced(context.Background()); err != nil {
		t.Fatal(err)
	}
	admin := httptest.NewServer(d.Handler())
	defer admin.Close()

	const seller = "0x00000000000000000000000000000000000000aa"
	body := `{"id":"shop","url":"` + hook.URL + `","sellers":["` + seller + `"],"secrets":[{"secret":"` + secret + `"}]}`
	if out, err := run(t, admin.URL, body, "add", "--file", "-"); err != nil || !strings.Contains(out, `"shop"`) {
		t.Fatalf("add: %q %v", out, err)
	}
	out, err := run(t, admin.URL, "", "endpoints")
	if err != nil || strings.Count(out, "\n") != 1 || strings.Contains(out, "MfKQ9r8") {
		t.Fatalf("endpoints: %q %v, want one line, secret redacted", out, err)
	}
	publish := func(n int) string {
		id := "evm.84532.cli" + time.Now().Format("150405") + string(rune('a'+n))
		_, err := events.PublishReceipt(context.Background(), js, events.Receipt{ID: id, State: events.StateFinalized,
			Namespace: h402.NamespaceEVM, NetworkID: "84532", Payer: "0x01", PayTo: seller, Token: "0x02", Amount: "5",
			TxHash: "0xab", Block: 1, At: time.Now().UTC()})
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	wait := func(want string) {
		t.Helper()
		select {
		case id := <-got:
			if id != want {
				t.Fatalf("request for %s, want %s", id, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no request for %s", want)
		}
	}
	id := publish(0)
	wait(id)
	if _, err := run(t, admin.URL, "", "redeliver", "shop", "--receipt", id); err != nil {
		t.Fatal(err)
	}
	wait(id)
	from, to := time.Now().Add(-time.Hour).Format(time.RFC3339), time.Now().Add(time.Hour).Format(time.RFC3339)
	if out, err := run(t, admin.URL, "", "redeliver", "shop", "--from", from, "--to", to); err != nil || !strings.Contains(out, `"queued":1`) {
		t.Fatalf("redeliver range: %q %v", out, err)
	}
	wait(id)
	// Every page of the log (one record a page).
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, err = run(t, admin.URL, "", "log", "shop", "--limit", "1")
		if err != nil {
			t.Fatal(err)
		}
		if strings.Count(out, `"outcome":"delivered"`) == 3 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if strings.Count(out, `"outcome":"delivered"`) != 3 || strings.Count(out, `"redelivery":true`) != 2 {
		t.Errorf("log: %s, want 3 delivered, 2 of them redeliveries", out)
	}
	for _, c := range []string{"disable", "enable"} {
		if _, err := run(t, admin.URL, "", c, "shop"); err != nil {
			t.Errorf("%s: %v", c, err)
		}
	}
	if _, err := run(t, admin.URL, "", "delete", "shop"); err != nil {
		t.Fatal(err)
	}
	_, err = run(t, admin.URL, "", "enable", "shop")
	if err == nil || !strings.Contains(err.Error(), "unknown_endpoint") {
		t.Errorf("enable a deleted endpoint: %v, want unknown_endpoint", err)
	}
}

func TestFlags(t *testing.T) {
	for _, args := range [][]string{
		{}, {"nope"}, {"add"}, {"enable"}, {"log", "--after", "1"},
		{"redeliver", "shop"}, {"redeliver", "shop", "--receipt", "a b"},
		{"redeliver", "shop", "--from", "2026-01-02T00:00:00Z", "--to", "2026-01-01T00:00:00Z"},
		{"delete", "shop", "extra"},
	} {
		if err := NewMain().ParseFlags(args); err == nil {
			t.Errorf("ParseFlags(%q): no error", args)
		}
	}
}
