package ledger

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/h402/settlement/pkg/events"
)

// Handler serves the ledger as JSON (mounted by the watcher on its admin port):
//
//	GET /ledger/payments/{id}                  payment and history
//	GET /ledger/payments?payer=|payTo=&from=&to=&cursor=&limit=
//	GET /ledger/sellers/{payTo}/receipts?from=&to=&cursor=&limit=
//	GET /ledger/sellers/{payTo}/totals
//	GET /ledger/gas
//	GET /ledger/export.csv?payTo=&from=&to=   CSV, one row per terminal payment
//	GET /ledger/dump                          every bucket (text, see Dump; one
//	                                          read transaction for the whole body)
//
// Times are RFC 3339; from is inclusive, to exclusive. Pages carry an
// opaque "next" cursor while more entries remain. A bad parameter is a 400
// with {"error": "<machine reason>", "message": "<sentence>"}.
func Handler(l *Ledger) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ledger/payments/{id}", func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		if err := events.CheckPaymentID(id); err != nil {
			writeError(w, http.StatusBadRequest, "invalid_payment_id", err.Error())
			return
		}
		p, hist, err := l.Payment(id)
		if err != nil {
			writeLedgerError(w, err)
			return
		}
		if hist == nil {
			hist = []events.Transition{}
		}
		resp := struct {
			Payment *Payment            `json:"payment"`
			History []events.Transition `json:"history"`
			Receipt *events.Receipt     `json:"receipt,omitempty"`
		}{Payment: p, History: hist}
		if rc, err := l.Receipt(id); err == nil {
			resp.Receipt = rc
		}
		writeJSON(w, resp)
	})
	mux.HandleFunc("GET /ledger/payments", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		payer, payTo := q.Get("payer"), q.Get("payTo")
		if (payer == "") == (payTo == "") {
			writeError(w, http.StatusBadRequest, "invalid_party", "give exactly one of payer and payTo")
			return
		}
		rg, ok := parseRange(w, r)
		if !ok {
			return
		}
		by, who := PayTo, payTo
		if payer != "" {
			by, who = Payer, payer
		}
		ps, next, err := l.Payments(by, who, rg)
		if err != nil {
			writeLedgerError(w, err)
			return
		}
		if ps == nil {
			ps = []Payment{}
		}
		writeJSON(w, struct {
			Payments []Payment `json:"payments"`
			Next     string    `json:"next,omitempty"`
		}{ps, next})
	})
	mux.HandleFunc("GET /ledger/sellers/{payTo}/receipts", func(w http.ResponseWriter, r *http.Request) {
		rg, ok := parseRange(w, r)
		if !ok {
			return
		}
		rs, next, err := l.Receipts(r.PathValue("payTo"), rg)
		if err != nil {
			writeLedgerError(w, err)
			return
		}
		if rs == nil {
			rs = []events.Receipt{}
		}
		writeJSON(w, struct {
			Receipts []events.Receipt `json:"receipts"`
			Next     string           `json:"next,omitempty"`
		}{rs, next})
	})
	mux.HandleFunc("GET /ledger/sellers/{payTo}/totals", func(w http.ResponseWriter, r *http.Request) {
		ts, err := l.SellerTotals(r.PathValue("payTo"))
		if err != nil {
			writeLedgerError(w, err)
			return
		}
		if ts == nil {
			ts = []SellerTotal{}
		}
		writeJSON(w, struct {
			PayTo  string        `json:"payTo"`
			Totals []SellerTotal `json:"totals"`
		}{r.PathValue("payTo"), ts})
	})
	mux.HandleFunc("GET /ledger/gas", func(w http.ResponseWriter, r *http.Request) {
		g, err := l.Gas()
		if err != nil {
			writeLedgerError(w, err)
			return
		}
		if g == nil {
			g = []NetworkGas{}
		}
		writeJSON(w, struct {
			Networks []NetworkGas `json:"networks"`
		}{g})
	})
	mux.HandleFunc("GET /ledger/export.csv", func(w http.ResponseWriter, r *http.Request) {
		payTo := r.URL.Query().Get("payTo")
		if payTo == "" {
			writeError(w, http.StatusBadRequest, "invalid_party", "payTo is required")
			return
		}
		rg, ok := parseRange(w, r)
		if !ok {
			return
		}
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		cw := csv.NewWriter(w)
		_ = cw.Write(CSVHeader)
		err := l.Terminal(payTo, rg.From, rg.To, func(p *Payment, rc *events.Receipt) error {
			if err := cw.Write(CSVRow(p, rc)); err != nil {
				return err
			}
			cw.Flush()
			return cw.Error()
		})
		cw.Flush()
		if err != nil {
			// The header is sent: all that can be done is to cut the body short.
			l.log.Warn("ledger: export cut short", "pay_to", payTo, "err", err)
		}
	})
	mux.HandleFunc("GET /ledger/dump", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if err := l.Dump(w); err != nil {
			l.log.Warn("ledger: dump cut short", "err", err)
		}
	})
	mux.HandleFunc("/ledger/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", "no such ledger resource: "+r.URL.Path)
	})
	return mux
}

// CSVHeader names the export's columns.
var CSVHeader = []string{"id", "network", "token", "payer", "payTo", "amount", "state", "txHash", "block", "at", "reason", "sellerSeq"}

// CSVRow is a terminal payment's export row: at is the time of its terminal
// transition; block is empty for a payment that never made it into one,
// sellerSeq when the ledger has no receipt for it yet.
func CSVRow(p *Payment, rc *events.Receipt) []string {
	seq, block := "", ""
	if rc != nil {
		seq = strconv.FormatUint(rc.SellerSeq, 10)
	}
	if p.Block != 0 {
		block = strconv.FormatUint(p.Block, 10)
	}
	return []string{p.ID, p.Network(), p.Token, p.Payer, p.PayTo, p.Amount, string(p.State), p.TxHash,
		block, p.FinalAt.UTC().Format(time.RFC3339Nano), string(p.Reason), seq}
}

func parseRange(w http.ResponseWriter, r *http.Request) (Range, bool) {
	q := r.URL.Query()
	var rg Range
	for _, f := range []struct {
		name string
		dst  *time.Time
	}{{"from", &rg.From}, {"to", &rg.To}} {
		if v := q.Get(f.name); v != "" {
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				writeError(w, http.StatusBadRequest, "invalid_time", f.name+" is not an RFC 3339 time: "+strconv.Quote(v))
				return rg, false
			}
			*f.dst = t
		}
	}
	if !rg.From.IsZero() && !rg.To.IsZero() && !rg.From.Before(rg.To) {
		writeError(w, http.StatusBadRequest, "invalid_range", "from must be before to")
		return rg, false
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxLimit {
			writeError(w, http.StatusBadRequest, "invalid_limit", "limit must be an integer from 1 to "+strconv.Itoa(MaxLimit))
			return rg, false
		}
		rg.Limit = n
	}
	rg.Cursor = q.Get("cursor")
	return rg, true
}

func writeLedgerError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, ErrNotFound):
		writeError(w, http.StatusNotFound, "not_found", err.Error())
	case errors.Is(err, ErrBadCursor):
		writeError(w, http.StatusBadRequest, "invalid_cursor", "the cursor is not one this ledger gave out")
	default:
		writeError(w, http.StatusInternalServerError, "ledger_unavailable", "the ledger could not be read")
	}
}

func writeError(w http.ResponseWriter, status int, reason, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(struct {
		Error   string `json:"error"`
		Message string `json:"message"`
	}{reason, msg})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
