package ledger_test

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/h402/settlement/pkg/events"
	"github.com/h402/settlement/pkg/ledger"
)

func status(t *testing.T, l *ledger.Ledger, now time.Time, o ledger.StatusOptions) *ledger.Status {
	t.Helper()
	s, err := l.Status(now, o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// perMinute lists the non-zero minutes of a network's window as
// "index:accepted/finalized/failed".
func perMinute(s *ledger.Status, network string) string {
	var out []string
	for _, n := range s.Networks {
		if n.Network != network {
			continue
		}
		for i, m := range n.PerMinute {
			if m != (ledger.MinuteCount{}) {
				out = append(out, fmt.Sprintf("%d:%d/%d/%d", i, m.Accepted, m.Finalized, m.Failed))
			}
		}
	}
	return strings.Join(out, " ")
}

// TestStatus reads the overview of the mixed history from the counters
// kept at Apply time, live and rebuilt.
func TestStatus(t *testing.T) {
	w := newWorld(t)
	live := tempLedger(t)
	w.follow(live)
	m := w.mixedHistory()
	w.waitAll(live)
	for name, l := range map[string]*ledger.Ledger{"live": live, "rebuilt": w.rebuild()} {
		t.Run(name, func(t *testing.T) {
			s := status(t, l, t0.Add(2*time.Hour), ledger.StatusOptions{Minutes: 120})
			if len(s.Networks) != 1 || s.Networks[0].Network != "evm.8453" {
				t.Fatalf("networks: %+v, want evm.8453", s.Networks)
			}
			n := s.Networks[0]
			want := map[events.State]uint64{events.StateAccepted: 1, events.StateFinalized: 3, events.StateFailed: 1}
			if len(n.States) != len(want) || n.Total != 5 {
				t.Errorf("states: %v (total %d), want %v (total 5)", n.States, n.Total, want)
			}
			for st, c := range want {
				if n.States[st] != c {
					t.Errorf("%s: got %d, want %d", st, n.States[st], c)
				}
			}
			if len(s.Minutes) != 120 || !s.Minutes[0].Equal(t0.Add(time.Minute)) || !s.Minutes[119].Equal(t0.Add(2*time.Hour)) {
				t.Errorf("window %v to %v, want %v to %v", s.Minutes[0], s.Minutes[len(s.Minutes)-1], t0.Add(time.Minute), t0.Add(2*time.Hour))
			}
			// Accepted at t0+1..5m; v1 final at t0+7m, p1 at 1h, p3 failed at 90m, p2 final at 2h.
			if got, want := perMinute(s, "evm.8453"), "0:1/0/0 1:1/0/0 2:1/0/0 3:1/0/0 4:1/0/0 6:0/1/0 59:0/1/0 89:0/0/1 119:0/1/0"; got != want {
				t.Errorf("per minute:\n got  %s\n want %s", got, want)
			}
			var ids []string
			for _, r := range s.Receipts {
				ids = append(ids, r.ID)
			}
			if got, want := strings.Join(ids, " "), strings.Join([]string{m.p2.ID, m.p3.ID, m.p1.ID, m.v1ID}, " "); got != want {
				t.Errorf("receipts, newest first:\n got  %s\n want %s", got, want)
			}
			if len(s.Sellers) != 2 || s.Sellers[0].PayTo != sellerA || s.Sellers[0].Settled != "307" || s.Sellers[0].PendingCount != 1 ||
				s.Sellers[1].PayTo != sellerB || s.Sellers[1].Failed != "300" || s.SellersMore {
				t.Errorf("sellers: %+v", s.Sellers)
			}
			if len(s.Gas) != 1 || s.Gas[0].Facilitator.Txs != 2 || s.Gas[0].Client.Txs != 1 {
				t.Errorf("gas: %+v", s.Gas)
			}
			if s.Applied[events.StreamPayments] == 0 || s.Skipped[events.StreamPayments] != 1 {
				t.Errorf("applied %v skipped %v, want PAYMENTS applied and 1 skipped", s.Applied, s.Skipped)
			}
		})
	}

	t.Run("bounds", func(t *testing.T) {
		s := status(t, live, t0.Add(2*time.Hour), ledger.StatusOptions{Minutes: 1, Receipts: 2, SellerRows: 1})
		if len(s.Minutes) != 1 || len(s.Receipts) != 2 || s.Receipts[0].ID != m.p2.ID || len(s.Sellers) != 1 || !s.SellersMore {
			t.Errorf("bounded status: %d minutes, %d receipts, %d sellers (more %v), want 1, 2 (newest first), 1 and more",
				len(s.Minutes), len(s.Receipts), len(s.Sellers), s.SellersMore)
		}
	})

	t.Run("window ahead of the clock", func(t *testing.T) {
		// At t0+30m the newest minute less than an hour ahead is p1's
		// finality at t0+1h: the window ends there.
		s := status(t, live, t0.Add(30*time.Minute), ledger.StatusOptions{Minutes: 15})
		if last := s.Minutes[len(s.Minutes)-1]; !last.Equal(t0.Add(time.Hour)) {
			t.Errorf("window ends %v, want %v", last, t0.Add(time.Hour))
		}
		if got := perMinute(s, "evm.8453"); got != "14:0/1/0" {
			t.Errorf("per minute: %s, want 14:0/1/0", got)
		}
	})

	t.Run("forget", func(t *testing.T) {
		l := w.rebuild()
		if err := l.Forget(m.p1.ID); err != nil {
			t.Fatal(err)
		}
		s := status(t, l, t0.Add(2*time.Hour), ledger.StatusOptions{Minutes: 120})
		if n := s.Networks[0]; n.States[events.StateFinalized] != 2 || n.Total != 4 {
			t.Errorf("after forgetting p1: %v total %d, want 2 finalized of 4", n.States, n.Total)
		}
		if got := perMinute(s, "evm.8453"); strings.Contains(got, "59:") || strings.HasPrefix(got, "0:") {
			t.Errorf("after forgetting p1 its minutes still count: %s", got)
		}
	})
}

// TestStatusBackfill opens a file written before the status counters
// existed: they are filled once, equal to those kept live.
func TestStatusBackfill(t *testing.T) {
	w := newWorld(t)
	w.mixedHistory()
	path := filepath.Join(t.TempDir(), "old.db")
	l, err := ledger.Open(path, ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := ledger.CatchUp(w.ctx, w.js, l); err != nil {
		t.Fatal(err)
	}
	want := dump(t, l)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := ledger.DropStatusBuckets(path); err != nil {
		t.Fatal(err)
	}
	ro, err := ledger.Open(path, ledger.Options{ReadOnly: true, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ro.Status(t0, ledger.StatusOptions{}); !errors.Is(err, ledger.ErrNotFound) {
		t.Errorf("status of an old file opened read-only: %v, want ErrNotFound", err)
	}
	if err := ro.Close(); err != nil {
		t.Fatal(err)
	}
	diffDumps(t, dump(t, openLedger(t, path)), want)
}
