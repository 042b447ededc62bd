package statuspage

import (
	"bytes"
	"embed"
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/h402/settlement/pkg/events"
	"github.com/h402/settlement/pkg/ledger"
)

//go:embed status.html
var files embed.FS

var page = template.Must(template.New("status.html").Funcs(template.FuncMap{
	"paymentURL": func(id string) string { return "/ledger/payments/" + url.PathEscape(id) },
	"totalsURL":  func(payTo string) string { return "/ledger/sellers/" + url.PathEscape(payTo) + "/totals" },
	"receiptsURL": func(payTo string) string {
		return "/ledger/sellers/" + url.PathEscape(payTo) + "/receipts"
	},
	"clock": func(t time.Time) string { return t.UTC().Format("15:04") },
	"when": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format("2006-01-02 15:04:05Z")
	},
	"short": short,
}).ParseFS(files, "status.html"))

// short cuts a long string (a hash, an address) to its ends for display;
// the whole string stays in the element's title.
func short(s string) string {
	if len(s) <= 22 {
		return s
	}
	return s[:10] + "…" + s[len(s)-8:]
}

// Options configure the page.
type Options struct {
	// Title names the deployment (default "h402 ledger").
	Title string
	// Refresh reloads the page this often (meta refresh; default 5s,
	// negative: never).
	Refresh time.Duration
	// Status bounds what is read (see ledger.StatusOptions).
	Status ledger.StatusOptions
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Logger receives read errors (default slog.Default()).
	Logger *slog.Logger
}

// Handler serves the page at GET /status and redirects GET / to it.
func Handler(l *ledger.Ledger, o Options) http.Handler {
	if o.Title == "" {
		o.Title = "h402 ledger"
	}
	if o.Refresh == 0 {
		o.Refresh = 5 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/status", http.StatusFound)
	})
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		now := o.Now()
		st, err := l.Status(now, o.Status)
		if err != nil {
			o.Logger.Warn("status page: ledger not readable", "err", err)
			msg := "The ledger could not be read."
			if errors.Is(err, ledger.ErrNotFound) {
				msg = "The ledger file was written by an older build; restart the watcher to add the status counters."
			}
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("ledger_unavailable: " + msg + "\n"))
			return
		}
		var b bytes.Buffer
		if err := page.Execute(&b, view(st, o, now)); err != nil {
			o.Logger.Error("status page: render", "err", err)
			http.Error(w, "status_render_failed: the status page could not be rendered", http.StatusInternalServerError)
			return
		}
		h := w.Header()
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Cache-Control", "no-store")
		// Nothing on the page runs or loads from elsewhere.
		h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:")
		h.Set("X-Content-Type-Options", "nosniff")
		_, _ = w.Write(b.Bytes())
	})
	return mux
}

// data is what the template renders.
type data struct {
	Title    string
	Refresh  int // seconds; 0: none
	Now      time.Time
	Streams  []streamRow
	States   []events.State
	Networks []networkRow
	Totals   networkRow
	Minutes  []time.Time
	Chart    chart
	*ledger.Status
}

type streamRow struct {
	Name             string
	Applied, Skipped uint64
}

type networkRow struct {
	Network string
	Counts  []uint64 // aligned with States
	Total   uint64
}

// chart is the inline SVG of finalized payments per minute, one series
// per network.
type chart struct {
	Width, Height int
	Max           uint64
	Series        []series
	Labels        []label
}

type series struct {
	Network string
	Color   string
	Bars    []bar
	Rows    []ledger.MinuteCount
}

type bar struct {
	X, Y, W, H int
	Title      string
}

type label struct {
	X    int
	Text string
}

var colors = []string{"#2b6cb0", "#c05621", "#2f855a", "#6b46c1", "#b83280", "#4a5568"}

const (
	chartHeight = 120
	slotWidth   = 36
)

func view(st *ledger.Status, o Options, now time.Time) *data {
	d := &data{Title: o.Title, Now: now.UTC(), States: ledger.States, Minutes: st.Minutes, Status: st}
	if o.Refresh > 0 {
		d.Refresh = max(1, int(o.Refresh/time.Second))
	}
	for _, s := range ledger.Streams {
		d.Streams = append(d.Streams, streamRow{s, st.Applied[s], st.Skipped[s]})
	}
	d.Totals = networkRow{Network: "all", Counts: make([]uint64, len(ledger.States))}
	for _, n := range st.Networks {
		row := networkRow{Network: n.Network, Total: n.Total}
		for i, s := range ledger.States {
			row.Counts = append(row.Counts, n.States[s])
			d.Totals.Counts[i] += n.States[s]
		}
		d.Totals.Total += n.Total
		d.Networks = append(d.Networks, row)
	}
	d.Chart = makeChart(st)
	return d
}

func makeChart(st *ledger.Status) chart {
	c := chart{Height: chartHeight + 20}
	for _, n := range st.Networks {
		for _, m := range n.PerMinute {
			c.Max = max(c.Max, m.Finalized)
		}
	}
	nets := max(1, len(st.Networks))
	barW := max(2, (slotWidth-4)/nets)
	c.Width = slotWidth * max(1, len(st.Minutes))
	for i, t := range st.Minutes {
		if i%3 == 0 || i == len(st.Minutes)-1 {
			c.Labels = append(c.Labels, label{X: i*slotWidth + 2, Text: t.UTC().Format("15:04")})
		}
	}
	for j, n := range st.Networks {
		s := series{Network: n.Network, Color: colors[j%len(colors)], Rows: n.PerMinute}
		for i, m := range n.PerMinute {
			h := 0
			if c.Max > 0 {
				h = int(m.Finalized * chartHeight / c.Max)
			}
			if m.Finalized > 0 && h < 1 {
				h = 1
			}
			s.Bars = append(s.Bars, bar{X: i*slotWidth + 2 + j*barW, Y: chartHeight - h, W: barW - 1, H: h,
				Title: n.Network + " " + st.Minutes[i].UTC().Format("15:04") + ": " + strconv.FormatUint(m.Finalized, 10) + " finalized"})
		}
		c.Series = append(c.Series, s)
	}
	return c
}
