package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	solanago "github.com/gagliardetto/solana-go"
	"gopkg.in/yaml.v3"

	"github.com/h402/settlement/pkg/chains"
	"github.com/h402/settlement/pkg/config"
	"github.com/h402/settlement/pkg/events"
	"github.com/h402/settlement/pkg/h402"
	"github.com/h402/settlement/pkg/settler"
	"github.com/h402/settlement/pkg/settler/settlertest"
	"github.com/h402/settlement/pkg/soldev"
	"github.com/h402/settlement/pkg/testenv"
)

// writeConfig writes a settler config over networks with an embedded
// JetStream (no port) in a temp dir and returns its path.
func writeConfig(t *testing.T, keysFile string, networks ...config.Network) string {
	t.Helper()
	dir := t.TempDir()
	f := settler.File{}
	f.Networks = networks
	f.NATS.Embedded = config.Embedded{StoreDir: filepath.Join(dir, "js"), Port: -1}
	f.Log.Level = "warn"
	f.Settler = settler.Config{
		AdminListen:            "127.0.0.1:0",
		MaxWait:                config.Duration(50 * time.Millisecond),
		ShutdownGrace:          config.Duration(5 * time.Second),
		SolanaFeePayerKeysFile: keysFile,
	}
	return writeFile(t, dir, f)
}

// writeFile writes f as settler.yaml in dir and returns its path.
func writeFile(t *testing.T, dir string, f settler.File) string {
	t.Helper()
	b, err := yaml.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "settler.yaml")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func writeKeys(t *testing.T, lines ...string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "fee-payers.keys")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func keygenJSON(k solanago.PrivateKey) string {
	nums := make([]int, len(k))
	for i, b := range k {
		nums[i] = int(b)
	}
	out, _ := json.Marshal(nums)
	return string(out)
}

func newTestMain(t *testing.T, path string) *Main {
	t.Helper()
	m := NewMain()
	if err := m.ParseFlags([]string{"-config", path}); err != nil {
		t.Fatalf("ParseFlags: %v", err)
	}
	m.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	m.LookupEnv = func(string) (string, bool) { return "", false }
	t.Cleanup(func() { _ = m.Close() })
	return m
}

func TestMainSettlesAndStops(t *testing.T) {
	t.Parallel()
	ln := testenv.StartSolana(t, soldev.Config{})
	sol := settlertest.NewSolana(ln)
	fp := ln.FeePayers()
	keys := writeKeys(t, "# local dev fee payers", fp[0].String(), "", keygenJSON(fp[1]))
	m := newTestMain(t, writeConfig(t, keys, sol.Network))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := m.Run(ctx); err != nil {
		t.Fatalf("Run: %v", err)
	}
	states := settlertest.WatchStates(t, m.conn.NC)
	es := []*events.PaymentAccepted{
		sol.Accepted(t, settlertest.Pay{FeePayer: true}),
		sol.Accepted(t, settlertest.Pay{}),
	}
	settlertest.Publish(t, m.conn.JS, es...)
	states.Wait(t, []string{es[0].ID, es[1].ID}, 20*time.Second, events.StateSubmitted, events.StateFailed)
	for _, e := range es {
		if tr := states.Latest(e.ID); tr.State != events.StateSubmitted {
			t.Errorf("payment %s: got %+v, want submitted", e.ID, tr)
		}
	}

	resp, err := http.Get("http://" + m.AdminAddr() + "/metrics")
	if err != nil {
		t.Fatalf("metrics: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "h402_rpc_breaker_state") || !strings.Contains(string(body), "h402_rpc_call_seconds") {
		t.Errorf("metrics: want the RPC series")
	}
	if err := m.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := m.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	// Once stopped, every outcome has been counted.
	if got := submittedCount(t, m); got != 2 {
		t.Errorf("submitted results: got %v, want 2", got)
	}
	if _, err := http.Get("http://" + m.AdminAddr() + "/metrics"); err == nil {
		t.Error("metrics still served after Close")
	}
}

func evmNetwork() config.Network {
	return config.Network{
		Namespace: h402.NamespaceEVM, NetworkID: "1337", RPC: []string{"http://127.0.0.1:1"},
		Tokens: []config.Token{{Symbol: "ETH", Address: h402.EVMNativeToken, Decimals: 18, Kind: config.KindNative}},
	}
}

// evmStub stands in for the EVM submitter another package will provide: it
// only shows that a constructor registered in Main.Submitters is used.
type evmStub struct{}

func (evmStub) Namespace() h402.Namespace { return h402.NamespaceEVM }
func (evmStub) Submit(_ context.Context, batch []*events.PaymentAccepted, _ chains.Claims) ([]chains.Result, error) {
	return nil, errors.New("stub")
}

func TestMainEVMRegistration(t *testing.T) {
	t.Parallel()
	t.Run("not built in", func(t *testing.T) {
		m := newTestMain(t, writeConfig(t, "", evmNetwork()))
		delete(m.Submitters, h402.NamespaceEVM)
		err := m.Run(context.Background())
		if !errors.Is(err, ErrEVMNotBuiltIn) || !strings.Contains(err.Error(), "EVM settlement is not built into this binary yet") {
			t.Fatalf("Run: got %v, want ErrEVMNotBuiltIn", err)
		}
	})
	t.Run("no signing keys", func(t *testing.T) {
		m := newTestMain(t, writeConfig(t, "", evmNetwork()))
		err := m.Run(context.Background())
		if err == nil || !strings.Contains(err.Error(), "no EVM signing keys") {
			t.Fatalf("Run: got %v, want a missing-keys error", err)
		}
	})
	t.Run("registered constructor", func(t *testing.T) {
		m := newTestMain(t, writeConfig(t, "", evmNetwork()))
		var built *config.Network
		m.Submitters[h402.NamespaceEVM] = func(_ context.Context, n *config.Network, env *SubmitterEnv) (chains.Submitter, error) {
			if env.Conn == nil || env.File == nil || env.Failover == nil {
				t.Errorf("constructor env lacks the event log, config or failover metrics: %+v", env)
			}
			built = n
			return evmStub{}, nil
		}
		if err := m.Run(context.Background()); err != nil {
			t.Fatalf("Run: %v", err)
		}
		if built == nil || built.NetworkID != "1337" {
			t.Errorf("constructor called with %+v, want network 1337", built)
		}
	})
}

func TestMainDefaultConfigPath(t *testing.T) {
	m := NewMain()
	if m.ConfigPath != "configs/devnet.yaml" {
		t.Errorf("default config path: got %q, want configs/devnet.yaml", m.ConfigPath)
	}
	if err := m.ParseFlags([]string{"-config", filepath.Join(t.TempDir(), "missing.yaml")}); err == nil || !strings.Contains(err.Error(), "read config") {
		t.Errorf("missing config: got %v, want a read error", err)
	}
}

func TestSolanaFeePayerKeys(t *testing.T) {
	a, b, stranger := solanago.NewWallet().PrivateKey, solanago.NewWallet().PrivateKey, solanago.NewWallet().PrivateKey
	network := &config.Network{Namespace: h402.NamespaceSolana, NetworkID: "localnet", FeePayers: []string{a.PublicKey().String(), b.PublicKey().String()}}
	mismatched := append(solanago.PrivateKey(nil), a[:32]...)
	mismatched = append(mismatched, b[32:]...)
	noEnv := func(string) (string, bool) { return "", false }
	tests := []struct {
		name    string
		file    []string
		env     string
		want    int
		wantErr string
	}{
		{"base58 and keygen json with comments", []string{"# fee payers", a.String(), "", keygenJSON(b)}, "", 2, ""},
		{"environment", nil, a.String() + ", " + b.String(), 2, ""},
		{"keys of other networks are ignored", []string{a.String(), stranger.String()}, "", 1, ""},
		{"no key for the network", []string{stranger.String()}, "", 0, "no private key"},
		{"malformed line", []string{a.String(), "not-a-key" + b.String()[5:]}, "", 0, "line 2: not a base58 private key"},
		{"public half does not match", []string{mismatched.String()}, "", 0, "line 1: the public half does not match the seed"},
		{"json out of range", []string{"[300]"}, "", 0, "not a JSON array of 64 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := ""
			if tt.file != nil {
				file = writeKeys(t, tt.file...)
			}
			lookup := noEnv
			if tt.env != "" {
				lookup = func(k string) (string, bool) { return tt.env, k == EnvSolanaFeePayerKeys }
			}
			keys, err := solanaFeePayerKeys(network, file, lookup)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %v, want an error containing %q", err, tt.wantErr)
				}
				for _, k := range []solanago.PrivateKey{a, b, stranger, mismatched} {
					if strings.Contains(err.Error(), k.String()) || strings.Contains(err.Error(), k.String()[5:]) {
						t.Errorf("error %q shows private key material", err)
					}
				}
				return
			}
			if err != nil || len(keys) != tt.want {
				t.Fatalf("got %d keys, %v; want %d", len(keys), err, tt.want)
			}
		})
	}
}

func submittedCount(t *testing.T, m *Main) float64 {
	t.Helper()
	families, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "h402_settler_results_total" {
			continue
		}
		for _, metric := range f.GetMetric() {
			for _, l := range metric.GetLabel() {
				if l.GetName() == "outcome" && l.GetValue() == settler.OutcomeSubmitted {
					return metric.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}
