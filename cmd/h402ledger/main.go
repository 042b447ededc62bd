// Command h402ledger reads the ledger: from a watcher's admin port (--url,
// the HTTP API of pkg/ledger) or from a ledger file (--db, opened
// read-only). It can also rebuild a ledger file from the event streams.
//
//	h402ledger [--url URL | --db FILE] payment <id>
//	h402ledger [--url URL | --db FILE] receipts --payto X [--from T] [--to T]
//	h402ledger [--url URL | --db FILE] totals --payto X
//	h402ledger [--url URL | --db FILE] export --payto X [--from T] [--to T] > file.csv
//	h402ledger [--url URL | --db FILE] dump
//	h402ledger [--url URL | --db FILE] status > status.html
//	h402ledger rebuild --db FILE [--nats URL]
//
// status writes the status page (pkg/statuspage) as one HTML file: from
// --db it is the page of a ledger file (a copy, a backup) without a watcher.
// Times are RFC 3339. receipts prints one JSON receipt a line, following
// every page. rebuild takes H402_NATS_USER and H402_NATS_PASSWORD from the
// environment.
//
// bbolt locks its file: the watcher holds an exclusive lock for as long as
// it has the ledger open, and a read-only open waits for it. --db therefore
// gives up after --lock-timeout (default 2s) instead of hanging; read a
// running watcher's ledger through --url, or a copy of the file.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"time"

	"log/slog"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/h402/settlement/internal/cli"
	"github.com/h402/settlement/pkg/ledger"
	"github.com/h402/settlement/pkg/statuspage"
)

func main() { cli.Main("h402ledger", NewMain()) }

// Main is the program, driven by main and by tests.
type Main struct {
	URL         string
	DB          string
	LockTimeout time.Duration
	NATS        string

	Cmd    string
	ID     string
	PayTo  string
	From   string
	To     string
	Stdout io.Writer
	Stderr io.Writer
	Getenv func(string) string
	Logger *slog.Logger

	led *ledger.Ledger
}

// NewMain returns a Main with defaults.
func NewMain() *Main {
	return &Main{URL: "http://127.0.0.1:9404", LockTimeout: 2 * time.Second, NATS: nats.DefaultURL,
		Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv}
}

const usage = `usage: h402ledger [--url URL | --db FILE] payment <id> | receipts --payto X [--from T] [--to T] |
       totals --payto X | export --payto X [--from T] [--to T] | dump | status
       h402ledger rebuild --db FILE [--nats URL]`

// ParseFlags reads the global flags, the subcommand and its flags.
func (m *Main) ParseFlags(args []string) error {
	global := flag.NewFlagSet("h402ledger", flag.ContinueOnError)
	global.SetOutput(m.Stderr)
	global.Usage = func() { fmt.Fprintln(m.Stderr, usage); global.PrintDefaults() }
	m.globalFlags(global)
	if err := global.Parse(args); err != nil {
		return err
	}
	rest := global.Args()
	if len(rest) == 0 {
		global.Usage()
		return errors.New("no subcommand")
	}
	m.Cmd = rest[0]
	sub := flag.NewFlagSet(m.Cmd, flag.ContinueOnError)
	sub.SetOutput(m.Stderr)
	m.globalFlags(sub) // also accepted after the subcommand
	switch m.Cmd {
	case "payment", "dump", "status", "rebuild":
	case "receipts", "export":
		sub.StringVar(&m.PayTo, "payto", "", "the seller's address (required)")
		sub.StringVar(&m.From, "from", "", "from this time, inclusive (RFC 3339)")
		sub.StringVar(&m.To, "to", "", "to this time, exclusive (RFC 3339)")
	case "totals":
		sub.StringVar(&m.PayTo, "payto", "", "the seller's address (required)")
	default:
		return fmt.Errorf("unknown subcommand %q\n%s", m.Cmd, usage)
	}
	if err := sub.Parse(rest[1:]); err != nil {
		return err
	}
	switch {
	case m.Cmd == "payment":
		if sub.NArg() != 1 {
			return errors.New("payment: give one payment id")
		}
		m.ID = sub.Arg(0)
	case sub.NArg() != 0:
		return fmt.Errorf("%s: unexpected arguments %q", m.Cmd, sub.Args())
	}
	if (m.Cmd == "receipts" || m.Cmd == "export" || m.Cmd == "totals") && m.PayTo == "" {
		return fmt.Errorf("%s: --payto is required", m.Cmd)
	}
	if m.Cmd == "rebuild" && m.DB == "" {
		return errors.New("rebuild: --db is required")
	}
	for _, t := range []string{m.From, m.To} {
		if t != "" {
			if _, err := time.Parse(time.RFC3339Nano, t); err != nil {
				return fmt.Errorf("%s: time %q is not RFC 3339", m.Cmd, t)
			}
		}
	}
	return nil
}

func (m *Main) globalFlags(fs *flag.FlagSet) {
	fs.StringVar(&m.URL, "url", m.URL, "ledger HTTP API (the watcher's admin port)")
	fs.StringVar(&m.DB, "db", m.DB, "ledger file, read directly (read-only) instead of --url; the file to rebuild")
	fs.DurationVar(&m.LockTimeout, "lock-timeout", m.LockTimeout, "give up on a ledger file locked by its writer after this long")
	fs.StringVar(&m.NATS, "nats", m.NATS, "NATS URL (rebuild)")
}

// Run runs the subcommand.
func (m *Main) Run(ctx context.Context) error {
	if m.Logger == nil {
		m.Logger = slog.New(slog.NewTextHandler(m.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	if m.Cmd == "rebuild" {
		return m.rebuild(ctx)
	}
	q := url.Values{}
	for k, v := range map[string]string{"payTo": m.PayTo, "from": m.From, "to": m.To} {
		if v != "" {
			q.Set(k, v)
		}
	}
	switch m.Cmd {
	case "payment":
		return m.get(ctx, "/ledger/payments/"+url.PathEscape(m.ID), nil, m.Stdout)
	case "totals":
		return m.get(ctx, "/ledger/sellers/"+url.PathEscape(m.PayTo)+"/totals", nil, m.Stdout)
	case "export":
		return m.get(ctx, "/ledger/export.csv", q, m.Stdout)
	case "dump":
		return m.get(ctx, "/ledger/dump", nil, m.Stdout)
	case "status":
		return m.get(ctx, "/status", nil, m.Stdout)
	case "receipts":
		return m.receipts(ctx)
	}
	return fmt.Errorf("unknown subcommand %q", m.Cmd)
}

// Close closes the ledger file, if one is open.
func (m *Main) Close() error {
	if m.led != nil {
		err := m.led.Close()
		m.led = nil
		return err
	}
	return nil
}

// do sends the request to the API, or serves it from the file, and copies
// a successful body to out; an error's body is returned in the error.
func (m *Main) do(req *http.Request, out io.Writer) error {
	rw := &writer{out: out, header: http.Header{}}
	if m.DB == "" {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		rw.WriteHeader(resp.StatusCode)
		if _, err := io.Copy(rw, resp.Body); err != nil {
			return err
		}
	} else {
		if m.led == nil {
			l, err := ledger.Open(m.DB, ledger.Options{ReadOnly: true, Timeout: m.LockTimeout, Logger: m.Logger})
			if err != nil {
				return fmt.Errorf("%w (a running watcher holds its ledger file locked: use --url, or a copy of the file)", err)
			}
			m.led = l
		}
		h := ledger.Handler(m.led)
		if req.URL.Path == "/status" {
			h = statuspage.Handler(m.led, statuspage.Options{Refresh: -1, Logger: m.Logger})
		}
		h.ServeHTTP(rw, req)
	}
	if rw.code/100 != 2 {
		return fmt.Errorf("%s: %d %s", req.URL.Path, rw.code, bytes.TrimSpace(rw.errBody.Bytes()))
	}
	return nil
}

func (m *Main) get(ctx context.Context, path string, q url.Values, out io.Writer) error {
	u := m.URL + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	return m.do(req, out)
}

// writer is an http.ResponseWriter that streams a successful body to out
// and keeps an error's body.
type writer struct {
	out     io.Writer
	header  http.Header
	code    int
	errBody bytes.Buffer
}

func (w *writer) Header() http.Header { return w.header }

func (w *writer) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
}

func (w *writer) Write(b []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	if w.code/100 != 2 {
		return w.errBody.Write(b)
	}
	return w.out.Write(b)
}

// receipts prints every receipt in the range, one JSON object a line.
func (m *Main) receipts(ctx context.Context) error {
	cursor := ""
	for {
		q := url.Values{"limit": {strconv.Itoa(ledger.MaxLimit)}}
		for k, v := range map[string]string{"from": m.From, "to": m.To, "cursor": cursor} {
			if v != "" {
				q.Set(k, v)
			}
		}
		var b bytes.Buffer
		if err := m.get(ctx, "/ledger/sellers/"+url.PathEscape(m.PayTo)+"/receipts", q, &b); err != nil {
			return err
		}
		var page struct {
			Receipts []json.RawMessage `json:"receipts"`
			Next     string            `json:"next"`
		}
		if err := json.Unmarshal(b.Bytes(), &page); err != nil {
			return fmt.Errorf("receipts: %w", err)
		}
		for _, r := range page.Receipts {
			if _, err := fmt.Fprintf(m.Stdout, "%s\n", r); err != nil {
				return err
			}
		}
		if page.Next == "" {
			return nil
		}
		cursor = page.Next
	}
}

// rebuild replays the streams into a new file and puts it in place of
// --db. It first takes the file's lock, so it refuses while a watcher has
// the ledger open.
func (m *Main) rebuild(ctx context.Context) error {
	if _, err := os.Stat(m.DB); err == nil {
		l, err := ledger.Open(m.DB, ledger.Options{Timeout: m.LockTimeout, Logger: m.Logger})
		if err != nil {
			return fmt.Errorf("rebuild: %w (is the watcher running?)", err)
		}
		if err := l.Close(); err != nil {
			return err
		}
	}
	var opts []nats.Option
	if user := m.Getenv("H402_NATS_USER"); user != "" {
		opts = append(opts, nats.UserInfo(user, m.Getenv("H402_NATS_PASSWORD")))
	}
	nc, err := nats.Connect(m.NATS, append(opts, nats.Name("h402ledger rebuild"))...)
	if err != nil {
		return fmt.Errorf("rebuild: connect %s: %w", m.NATS, err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	tmp := m.DB + ".rebuild"
	if err := os.Remove(tmp); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	l, err := ledger.Open(tmp, ledger.Options{NoSync: true, Logger: m.Logger})
	if err != nil {
		return err
	}
	if err := ledger.CatchUp(ctx, js, l); err != nil {
		_ = l.Close()
		return fmt.Errorf("rebuild: %w", err)
	}
	if err := l.Sync(); err != nil {
		_ = l.Close()
		return err
	}
	if err := l.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, m.DB); err != nil {
		return err
	}
	fmt.Fprintf(m.Stderr, "rebuilt %s\n", m.DB)
	return nil
}
