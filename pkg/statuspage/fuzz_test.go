package statuspage_test

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/h402/settlement/pkg/events"
	"github.com/h402/settlement/pkg/h402"
	"github.com/h402/settlement/pkg/ledger"
	"github.com/h402/settlement/pkg/statuspage"
	"github.com/h402/settlement/pkg/testenv"
)

// render applies a failed payment whose resource, reason and message are
// the given strings (accepted event, transition, receipt: the Apply path of
// the watcher) to a new ledger and renders the page. ok is false when the
// ledger skipped one of the messages.
func render(t *testing.T, dir, resource, reason, message string) (page string, ok bool) {
	t.Helper()
	path := filepath.Join(dir, "l.db")
	l, err := ledger.Open(path, ledger.Options{NoSync: true, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close(); _ = os.Remove(path) }()
	e := testenv.EVMPayment(1, token, payer, sellerA, "100", now.Add(-2*time.Minute))
	e.Resource = resource
	acc, err := e.Encode()
	if err != nil {
		return "", false
	}
	accSubj, _ := events.PaymentAcceptedSubject(e.Namespace, e.NetworkID, e.ID)
	stSubj, _ := events.StateSubject(e.Namespace, e.NetworkID, e.ID)
	tr, _ := json.Marshal(events.Transition{Version: events.TransitionVersion, ID: e.ID, Seq: 1, State: events.StateFailed,
		Reason: h402.Reason(reason), Message: message, At: now.Add(-time.Minute)})
	rc, _ := json.Marshal(events.Receipt{Version: events.ReceiptVersion, ID: e.ID, State: events.StateFailed, Namespace: e.Namespace,
		NetworkID: e.NetworkID, Payer: e.Payer, PayTo: e.PayTo, Token: e.Token, Amount: e.Amount, At: now.Add(-time.Minute),
		Resource: resource, Reason: h402.Reason(reason), Message: message, SellerSeq: 1})
	rcSubj, _ := events.ReceiptSubject(e.PayTo, e.Namespace, e.NetworkID)
	for _, m := range []struct {
		stream, subject string
		seq             uint64
		data            []byte
	}{
		{events.StreamPayments, accSubj, 1, acc}, {events.StreamPayments, stSubj, 2, tr}, {events.StreamReceipts, rcSubj, 1, rc},
	} {
		if err := l.Apply(m.stream, m.seq, m.subject, m.data); err != nil {
			t.Fatal(err)
		}
		if n, _ := l.Skipped(m.stream); n != 0 {
			return "", false
		}
	}
	rec := httptest.NewRecorder()
	statuspage.Handler(l, statuspage.Options{Now: func() time.Time { return now }}).
		ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/status", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /status: %d %s", rec.Code, rec.Body)
	}
	return rec.Body.String(), true
}

// scratch is a directory for one ledger file at a time: in memory
// (/dev/shm) where there is one, since each input opens a new file.
func scratch(f *testing.F) string {
	dir, err := os.MkdirTemp("/dev/shm", "statuspage-fuzz-")
	if err != nil {
		return f.TempDir()
	}
	f.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

// FuzzStatusPage puts arbitrary strings where the event log carries text
// the page shows (a receipt's resource, reason and message): the page is
// always rendered, and the strings never add markup: it has exactly the
// tags and attributes-quotes of the page rendered with plain words.
func FuzzStatusPage(f *testing.F) {
	f.Add("https://api.example/r", "insufficient_funds", "balance too low")
	f.Add("https://api.example/<script>alert(1)</script>", `"><img src=x onerror=alert(1)>`, "</td></tr></table><b>")
	f.Add("javascript:alert(1)", "'; background: url(x)", "<!-- -->")
	dir := scratch(f)
	f.Fuzz(func(t *testing.T, resource, reason, message string) {
		if reason == "" {
			reason = "x"
		}
		page, ok := render(t, dir, resource, reason, message)
		if !ok {
			t.Skip("the ledger does not project these messages")
		}
		plain, ok := render(t, dir, "https://api.example/r", "x", "y")
		if !ok {
			t.Fatal("the plain messages were skipped")
		}
		for _, c := range []string{"<", ">", `"`} {
			if got, want := strings.Count(page, c), strings.Count(plain, c); got != want {
				t.Fatalf("%d %q in the page, %d with plain strings: the strings added markup\n%s", got, c, want, page)
			}
		}
	})
}
