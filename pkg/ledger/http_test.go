package ledger_test

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/h402/settlement/pkg/events"
	"github.com/h402/settlement/pkg/ledger"
)

func getJSON(t *testing.T, srv *httptest.Server, path string, wantStatus int, v any) {
	t.Helper()
	resp, err := http.Get(srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != wantStatus {
		t.Fatalf("GET %s: got status %d, want %d", path, resp.StatusCode, wantStatus)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
}

// TestHTTP serves a ledger of 25 settled payments of one seller and one
// failed payment of another.
func TestHTTP(t *testing.T) {
	w := newWorld(t)
	const n = 25
	var ps []*events.PaymentAccepted
	for i := 0; i < n; i++ {
		payer := payer1
		if i%2 == 1 {
			payer = payer2
		}
		e := pay(i, payer, sellerA, fmt.Sprint(10+i))
		ps = append(ps, e)
		w.accept(e)
		w.settle(e, txHash(i), uint64(100+i), t0.Add(time.Duration(i)*time.Hour))
	}
	failed := pay(99, payer1, sellerB, "5")
	w.accept(failed)
	w.fail(failed, "insufficient_funds", t0)
	w.final(txHash(0), 50000, "1000", false, events.SettlementFinalMsgID(txHash(0)))
	l := w.rebuild()
	srv := httptest.NewServer(ledger.Handler(l))
	t.Cleanup(srv.Close)

	t.Run("receipts paged", func(t *testing.T) {
		var got []string
		cursor, pages := "", 0
		for {
			var page struct {
				Receipts []events.Receipt `json:"receipts"`
				Next     string           `json:"next"`
			}
			getJSON(t, srv, "/ledger/sellers/"+sellerA+"/receipts?limit=10&cursor="+url.QueryEscape(cursor), 200, &page)
			pages++
			for _, r := range page.Receipts {
				got = append(got, r.ID)
			}
			if page.Next == "" {
				break
			}
			cursor = page.Next
		}
		if pages != 3 || len(got) != n {
			t.Fatalf("got %d receipts in %d pages, want %d in 3", len(got), pages, n)
		}
		for i, id := range got {
			if id != ps[i].ID {
				t.Fatalf("receipt %d: got %s, want %s (time order)", i, id, ps[i].ID)
			}
		}
	})
	t.Run("receipts in a time range", func(t *testing.T) {
		var page struct {
			Receipts []events.Receipt `json:"receipts"`
		}
		q := url.Values{"from": {t0.Add(3 * time.Hour).Format(time.RFC3339)}, "to": {t0.Add(6 * time.Hour).Format(time.RFC3339)}}
		getJSON(t, srv, "/ledger/sellers/"+strings.ToUpper(sellerA[:2])+sellerA[2:]+"/receipts?"+q.Encode(), 200, &page)
		if len(page.Receipts) != 3 || page.Receipts[0].ID != ps[3].ID || page.Receipts[0].SellerSeq != 4 {
			t.Errorf("got %d receipts, want 3 from payment 3 (seller seq 4): %+v", len(page.Receipts), page.Receipts)
		}
	})
	t.Run("payments of a payer paged", func(t *testing.T) {
		var all []ledger.Payment
		cursor := ""
		for {
			var page struct {
				Payments []ledger.Payment `json:"payments"`
				Next     string           `json:"next"`
			}
			getJSON(t, srv, "/ledger/payments?payer="+payer1+"&limit=4&cursor="+url.QueryEscape(cursor), 200, &page)
			all = append(all, page.Payments...)
			if page.Next == "" {
				break
			}
			cursor = page.Next
		}
		if len(all) != 14 { // 13 even-numbered payments and the failed one
			t.Errorf("got %d payments of payer1, want 14", len(all))
		}
		for i := 1; i < len(all); i++ {
			if all[i].AcceptedAt.Before(all[i-1].AcceptedAt) {
				t.Errorf("payments out of time order at %d", i)
			}
		}
	})
	t.Run("payment with history", func(t *testing.T) {
		var got struct {
			Payment ledger.Payment      `json:"payment"`
			History []events.Transition `json:"history"`
			Receipt *events.Receipt     `json:"receipt"`
		}
		getJSON(t, srv, "/ledger/payments/"+ps[2].ID, 200, &got)
		if got.Payment.State != events.StateFinalized || got.Payment.Block != 102 || len(got.History) != 4 || got.Receipt == nil || got.Receipt.SellerSeq != 3 {
			t.Errorf("got %+v", got)
		}
	})
	t.Run("totals", func(t *testing.T) {
		var got struct {
			Totals []ledger.SellerTotal `json:"totals"`
		}
		getJSON(t, srv, "/ledger/sellers/"+sellerA+"/totals", 200, &got)
		// 10+11+...+34 = 25*22 = 550
		if len(got.Totals) != 1 || got.Totals[0].Settled != "550" || got.Totals[0].SettledCount != n || got.Totals[0].Pending != "0" {
			t.Errorf("got %+v, want 550 settled in %d payments", got.Totals, n)
		}
	})
	t.Run("gas", func(t *testing.T) {
		var got struct {
			Networks []ledger.NetworkGas `json:"networks"`
		}
		getJSON(t, srv, "/ledger/gas", 200, &got)
		if len(got.Networks) != 1 || got.Networks[0].Network != "evm.8453" || got.Networks[0].Facilitator.Fee != "1000" {
			t.Errorf("got %+v", got)
		}
	})
	t.Run("export", func(t *testing.T) {
		resp, err := http.Get(srv.URL + "/ledger/export.csv?payTo=" + sellerA + "&from=" + url.QueryEscape(t0.Format(time.RFC3339)))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		rows, err := csv.NewReader(resp.Body).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != n+1 || strings.Join(rows[0], ",") != strings.Join(ledger.CSVHeader, ",") {
			t.Fatalf("got %d rows, header %v; want %d and %v", len(rows), rows[0], n+1, ledger.CSVHeader)
		}
		want := []string{ps[5].ID, "evm.8453", token, payer2, sellerA, "15", "finalized", txHash(5), "105",
			t0.Add(5 * time.Hour).Format(time.RFC3339Nano), "", "6"}
		if got := rows[6]; strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("row 6: got %v, want %v", got, want)
		}
	})
	t.Run("not found", func(t *testing.T) {
		var e struct{ Error string }
		getJSON(t, srv, "/ledger/payments/evm.8453.nope", 404, &e)
		if e.Error != "not_found" {
			t.Errorf("got %q", e.Error)
		}
	})
	for _, tc := range []struct{ name, path, reason string }{
		{"bad from", "/ledger/sellers/x/receipts?from=yesterday", "invalid_time"},
		{"bad to", "/ledger/payments?payTo=x&to=2026-13-01", "invalid_time"},
		{"range backwards", "/ledger/sellers/x/receipts?from=2026-11-02T00:00:00Z&to=2026-11-01T00:00:00Z", "invalid_range"},
		{"limit zero", "/ledger/sellers/x/receipts?limit=0", "invalid_limit"},
		{"limit too big", "/ledger/sellers/x/receipts?limit=5000", "invalid_limit"},
		{"limit not a number", "/ledger/payments?payer=x&limit=ten", "invalid_limit"},
		{"cursor not base64", "/ledger/sellers/x/receipts?cursor=!!", "invalid_cursor"},
		{"cursor too short", "/ledger/payments?payer=x&cursor=AAAA", "invalid_cursor"},
		{"no party", "/ledger/payments", "invalid_party"},
		{"both parties", "/ledger/payments?payer=x&payTo=y", "invalid_party"},
		{"bad payment id", "/ledger/payments/a%20b", "invalid_payment_id"},
		{"export without payTo", "/ledger/export.csv", "invalid_party"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var e struct{ Error, Message string }
			getJSON(t, srv, tc.path, 400, &e)
			if e.Error != tc.reason || e.Message == "" {
				t.Errorf("got error %q message %q, want %q and a message", e.Error, e.Message, tc.reason)
			}
		})
	}
}
