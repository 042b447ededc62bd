package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/h402/settlement/pkg/chains"
	"github.com/h402/settlement/pkg/config"
	"github.com/h402/settlement/pkg/events"
	"github.com/h402/settlement/pkg/h402"
	"github.com/h402/settlement/pkg/ledger"
	"github.com/h402/settlement/pkg/testenv"
)

const (
	token  = "0x833589fcd6edb6e08f4c7c32d4f71b54bda02913"
	seller = "0xaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	payer  = "0x1111111111111111111111111111111111111111"
)

var (
	t0 = time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)
	tx = fmt.Sprintf("0x%064x", 0xf001)
)

// ledgerFile applies one finalized payment's messages (encoded by pkg/events)
// to a ledger file and closes it.
func ledgerFile(t *testing.T) string {
	t.Helper()
	e := testenv.EVMPayment(1, token, payer, seller, "10", t0)
	acc, err := e.Encode()
	if err != nil {
		t.Fatal(err)
	}
	accSubj, _ := events.PaymentAcceptedSubject(e.Namespace, e.NetworkID, e.ID)
	stSubj, _ := events.StateSubject(e.Namespace, e.NetworkID, e.ID)
	fin, _ := json.Marshal(events.Transition{Version: events.TransitionVersion, ID: e.ID, Seq: 1, State: events.StateFinalized, TxHash: tx, Block: 3, At: t0.Add(time.Hour)})
	path := filepath.Join(t.TempDir(), "ledger.db")
	l, err := ledger.Open(path, ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range []struct {
		subj string
		data []byte
	}{{accSubj, acc}, {stSubj, fin}} {
		if err := l.Apply(events.StreamPayments, uint64(i+1), m.subj, m.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// chain stands in for a network's chain.
type chain struct{ transfers []chains.Transfer }

func (c chain) Namespace() h402.Namespace { return h402.NamespaceEVM }
func (c chain) TransfersIn(_ context.Context, h string) ([]chains.Transfer, error) {
	var out []chains.Transfer
	for _, t := range c.transfers {
		if t.TxHash == h {
			out = append(out, t)
		}
	}
	return out, nil
}
func (c chain) SentBy(context.Context, []string, time.Time, time.Time) ([]chains.Transfer, error) {
	return c.transfers, nil
}

func TestRun(t *testing.T) {
	path := ledgerFile(t)
	cfg := &config.Config{Networks: config.Networks{{Namespace: h402.NamespaceEVM, NetworkID: "8453"}}}
	good := chains.Transfer{TxHash: tx, Block: 3, At: t0, Token: token, From: payer, To: seller, Amount: "10"}
	bad := good
	bad.Amount = "9"
	for _, tc := range []struct {
		name      string
		transfers []chains.Transfer
		wantErr   error
		wantKinds []string
	}{
		{"agree", []chains.Transfer{good}, nil, nil},
		{"differ", []chains.Transfer{bad}, ErrDifferences, []string{"missing_transfer", "unknown_transfer"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := NewMain()
			var out bytes.Buffer
			m.Stdout, m.Config = &out, cfg
			m.NewAuditor = func(context.Context, config.Network) (chains.Auditor, error) { return chain{tc.transfers}, nil }
			if err := m.ParseFlags([]string{"--config", "unused.yaml", "--db", path, "--from", t0.Format(time.RFC3339),
				"--to", t0.Add(24 * time.Hour).Format(time.RFC3339), "--account", "evm:8453=0x9999999999999999999999999999999999999999"}); err != nil {
				t.Fatal(err)
			}
			err := m.Run(context.Background())
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("got %v, want %v", err, tc.wantErr)
			}
			var kinds []string
			for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
				if line != "" {
					kinds = append(kinds, strings.Split(line, "\t")[0])
				}
			}
			if strings.Join(kinds, ",") != strings.Join(tc.wantKinds, ",") {
				t.Errorf("got lines %q, want kinds %v", out.String(), tc.wantKinds)
			}
		})
	}
}

func TestFlags(t *testing.T) {
	for _, args := range [][]string{
		{}, {"--config", "c"}, {"--config", "c", "--db", "d"},
		{"--config", "c", "--db", "d", "--from", "2026-11-02T00:00:00Z", "--to", "2026-11-01T00:00:00Z"},
		{"--config", "c", "--db", "d", "--from", "yesterday", "--to", "2026-11-01T00:00:00Z"},
		{"--account", "nonsense"},
	} {
		m := NewMain()
		if err := m.ParseFlags(args); err == nil {
			t.Errorf("%q: got no error", args)
		}
	}
}
