package e2e

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/crypto"

	"github.com/h402/settlement/pkg/events"
	"github.com/h402/settlement/pkg/ledger"
)

// dumpLedger opens a ledger file read-only and returns its deterministic dump.
func dumpLedger(t *testing.T, path string) []byte {
	t.Helper()
	l, err := ledger.Open(path, ledger.Options{ReadOnly: true, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("open ledger %s: %v", path, err)
	}
	defer l.Close()
	var b bytes.Buffer
	if err := l.Dump(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// checkLedgers stops the watchers and checks their ledgers: both hold the
// same content, equal to a ledger rebuilt from the streams in a new file;
// every payment is there, finalized; reconciliation with the chains finds
// no difference, and finds the payment removed on purpose from a copy.
func (p *pipeline) checkLedgers(t *testing.T, ws []*watcherProc, all []paid) {
	t.Helper()
	// The ledger API as the watcher process serves it.
	sample := all[0]
	a := p.getURL(t, "http://"+ws[1].admin+"/ledger/payments/"+sample.id)
	if pay, _ := a.Body["payment"].(map[string]any); a.Status != http.StatusOK || pay["state"] != string(events.StateFinalized) {
		t.Errorf("GET /ledger/payments/%s on %s: %s, want 200 with the payment finalized", sample.id, ws[1].name, a)
	}
	for _, w := range ws {
		w.stop(t)
	}
	live := dumpLedger(t, ws[0].ledger)
	for _, w := range ws[1:] {
		if other := dumpLedger(t, w.ledger); !bytes.Equal(live, other) {
			t.Errorf("ledgers of %s and %s differ (%d and %d bytes of dump)", ws[0].name, w.name, len(live), len(other))
		}
	}
	rebuilt := filepath.Join(t.TempDir(), "rebuilt.db")
	l, err := ledger.Open(rebuilt, ledger.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	_, js := p.js.Connect(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := ledger.CatchUp(ctx, js, l); err != nil {
		t.Fatalf("rebuild: %v", err)
	}
	for _, x := range all {
		pay, _, err := l.Payment(x.id)
		if err != nil || pay.State != events.StateFinalized || pay.TxHash == "" {
			t.Errorf("ledger: payment %s is %+v (%v), want finalized with its tx", x.id, pay, err)
			break
		}
	}
	// What the watcher wrote for the ledger beside the transitions: each
	// payment's receipt, and the cost of every final transaction.
	bySeller := map[string]int{}
	for _, x := range all {
		if _, err := l.Receipt(x.id); err != nil {
			t.Errorf("ledger: receipt of %s: %v", x.id, err)
			break
		}
		pay, _, _ := l.Payment(x.id)
		if pay != nil {
			bySeller[pay.PayTo]++
		}
	}
	for payTo, n := range bySeller {
		rs, _, err := l.Receipts(payTo, ledger.Range{Limit: 1000})
		if err != nil || len(rs) != min(n, 1000) {
			t.Errorf("ledger: receipts of seller %s: %d (%v), want %d", payTo, len(rs), err, min(n, 1000))
		}
	}
	gas, err := l.Gas()
	if err != nil {
		t.Fatal(err)
	}
	paidNets := map[string]bool{}
	for _, g := range gas {
		if g.Facilitator.Txs > 0 && g.Facilitator.Fee != "" && g.Facilitator.Fee != "0" {
			paidNets[g.Network] = true
		}
	}
	if len(paidNets) != 2 {
		t.Errorf("ledger: facilitator gas and fees recorded for %v, want both networks: %+v", paidNets, gas)
	}
	var b bytes.Buffer
	if err := l.Dump(&b); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(live, b.Bytes()) {
		t.Errorf("the rebuilt ledger differs from the live one (%d and %d bytes of dump)", b.Len(), len(live))
	}

	// Reconciliation over the whole run: none, then the removed payment.
	facilitator := crypto.PubkeyToAddress(p.evm.Facilitators()[0].PublicKey).Hex()
	recon := func(db string) (string, int) {
		from := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
		to := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
		cmd := exec.Command(bins.recon, "--config", p.cfgPath, "--db", db, "--from", from, "--to", to,
			"--account", "evm:"+p.cfg.Networks[0].NetworkID+"="+facilitator)
		out, err := cmd.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatalf("h402recon: %v", err)
		}
		return string(out), code
	}
	if out, code := recon(ws[0].ledger); code != 0 {
		t.Fatalf("reconciliation of the live ledger: exit %d\n%s", code, out)
	}
	drill := filepath.Join(t.TempDir(), "drill.db")
	copyFile(t, ws[0].ledger, drill)
	removed := all[len(all)/2]
	dl, err := ledger.Open(drill, ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	pay, _, err := dl.Payment(removed.id)
	if err != nil {
		t.Fatal(err)
	}
	if err := dl.Forget(removed.id); err != nil {
		t.Fatal(err)
	}
	if err := dl.Close(); err != nil {
		t.Fatal(err)
	}
	out, code := recon(drill)
	if code != 1 || !strings.Contains(out, pay.TxHash) || !strings.Contains(out, "unknown_transfer") {
		t.Errorf("reconciliation of a ledger missing payment %s (tx %s): exit %d, want 1 and an unknown_transfer line naming the tx\n%s", removed.id, pay.TxHash, code, out)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	src, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.Create(to)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
}
