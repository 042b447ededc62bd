// Command h402hooks manages webhook endpoints through a watcher's admin API
// (pkg/webhooks, mounted under /webhooks/ on the watcher's admin listener):
//
//	h402hooks [--url URL] endpoints                         list endpoints (secrets redacted), one JSON a line
//	h402hooks [--url URL] add --file endpoint.json          add an endpoint ("-": stdin; secrets only in the file)
//	h402hooks [--url URL] update --file endpoint.json       replace an endpoint added through the API
//	h402hooks [--url URL] delete <id>                       delete an endpoint added through the API
//	h402hooks [--url URL] enable <id>                       enable an endpoint (also after a 410)
//	h402hooks [--url URL] disable <id>                      stop deliveries to an endpoint
//	h402hooks [--url URL] log <id> [--after N] [--limit N]  delivery attempts, one JSON a line, every page
//	h402hooks [--url URL] redeliver <id> --receipt ID       send one receipt again (same webhook-id)
//	h402hooks [--url URL] redeliver <id> --from T --to T    send the receipts stored in [from, to) again
//
// --url defaults to $H402_WATCHER_ADMIN or http://127.0.0.1:9404. Times
// are RFC 3339. Secrets are never taken from the command line.
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
	"strings"
	"time"

	"github.com/h402/settlement/internal/cli"
	"github.com/h402/settlement/pkg/webhooks"
)

func main() { cli.Main("h402hooks", NewMain()) }

// Main is the program, driven by main and by tests.
type Main struct {
	URL     string
	Cmd     string
	ID      string
	File    string
	Receipt string
	From    time.Time
	To      time.Time
	After   uint64
	Limit   int
	Stdin   io.Reader
	Stdout  io.Writer
	Client  *http.Client

	last []byte // the last call's answer
}

// NewMain returns a Main with defaults.
func NewMain() *Main {
	u := os.Getenv("H402_WATCHER_ADMIN")
	if u == "" {
		u = "http://127.0.0.1:9404"
	}
	return &Main{URL: u, Limit: 500, Stdin: os.Stdin, Stdout: os.Stdout, Client: &http.Client{Timeout: 90 * time.Second}}
}

// ParseFlags reads the global flags, the command and its arguments.
func (m *Main) ParseFlags(args []string) error {
	fs := flag.NewFlagSet("h402hooks", flag.ContinueOnError)
	fs.StringVar(&m.URL, "url", m.URL, "watcher admin URL")
	if err := fs.Parse(args); err != nil {
		return err
	}
	rest := fs.Args()
	if len(rest) == 0 {
		return errors.New("want a command: endpoints, add, update, delete, enable, disable, log, redeliver")
	}
	m.Cmd, rest = rest[0], rest[1:]
	sub := flag.NewFlagSet(m.Cmd, flag.ContinueOnError)
	var from, to string
	switch m.Cmd {
	case "endpoints":
	case "add", "update":
		sub.StringVar(&m.File, "file", "", `endpoint JSON file ("-": stdin)`)
	case "delete", "enable", "disable":
	case "log":
		sub.Uint64Var(&m.After, "after", 0, "start after this stream sequence")
		sub.IntVar(&m.Limit, "limit", m.Limit, "records per page")
	case "redeliver":
		sub.StringVar(&m.Receipt, "receipt", "", "payment id of the receipt to send again")
		sub.StringVar(&from, "from", "", "send the receipts stored from this time (RFC 3339)")
		sub.StringVar(&to, "to", "", "... until this time, exclusive (RFC 3339)")
	default:
		return fmt.Errorf("unknown command %q", m.Cmd)
	}
	// The endpoint id comes first, flags after it.
	if m.Cmd != "endpoints" && m.Cmd != "add" && m.Cmd != "update" {
		if len(rest) == 0 || strings.HasPrefix(rest[0], "-") {
			return fmt.Errorf("%s: want an endpoint id", m.Cmd)
		}
		m.ID, rest = rest[0], rest[1:]
	}
	if err := sub.Parse(rest); err != nil {
		return err
	}
	if sub.NArg() > 0 {
		return fmt.Errorf("%s: unexpected arguments %v", m.Cmd, sub.Args())
	}
	if (m.Cmd == "add" || m.Cmd == "update") && m.File == "" {
		return fmt.Errorf("%s: --file is required (secrets are never taken from the command line)", m.Cmd)
	}
	for _, t := range []struct {
		s   string
		dst *time.Time
	}{{from, &m.From}, {to, &m.To}} {
		if t.s == "" {
			continue
		}
		v, err := time.Parse(time.RFC3339, t.s)
		if err != nil {
			return fmt.Errorf("redeliver: time %q is not RFC 3339", t.s)
		}
		*t.dst = v
	}
	if m.Cmd == "redeliver" {
		if _, err := webhooks.DecodeRedeliverRequest(m.redeliverBody()); err != nil {
			return fmt.Errorf("redeliver: %v", err)
		}
	}
	return nil
}

func (m *Main) redeliverBody() []byte {
	b, _ := json.Marshal(webhooks.RedeliverRequest{ReceiptID: m.Receipt, From: m.From, To: m.To})
	return b
}

// Run executes the command.
func (m *Main) Run(ctx context.Context) error {
	ep := "/webhooks/endpoints/" + url.PathEscape(m.ID)
	switch m.Cmd {
	case "endpoints":
		var out struct {
			Endpoints []json.RawMessage `json:"endpoints"`
		}
		if err := m.call(ctx, http.MethodGet, "/webhooks/endpoints", nil, &out); err != nil {
			return err
		}
		return m.lines(out.Endpoints)
	case "add", "update":
		body, err := m.readFile()
		if err != nil {
			return err
		}
		e, err := webhooks.DecodeEndpoint(body)
		if err != nil {
			return err
		}
		method, path := http.MethodPost, "/webhooks/endpoints"
		if m.Cmd == "update" {
			method, path = http.MethodPut, "/webhooks/endpoints/"+url.PathEscape(e.ID)
		}
		return m.print(m.call(ctx, method, path, body, nil))
	case "delete":
		return m.print(m.call(ctx, http.MethodDelete, ep, nil, nil))
	case "enable", "disable":
		return m.print(m.call(ctx, http.MethodPost, ep+"/"+m.Cmd, nil, nil))
	case "redeliver":
		return m.print(m.call(ctx, http.MethodPost, ep+"/redeliver", m.redeliverBody(), nil))
	case "log":
		after := m.After
		for {
			var page struct {
				Records []json.RawMessage `json:"records"`
				Next    string            `json:"next"`
			}
			q := url.Values{"after": {strconv.FormatUint(after, 10)}, "limit": {strconv.Itoa(m.Limit)}}
			if err := m.call(ctx, http.MethodGet, ep+"/log?"+q.Encode(), nil, &page); err != nil {
				return err
			}
			if err := m.lines(page.Records); err != nil {
				return err
			}
			if page.Next == "" {
				return nil
			}
			n, err := strconv.ParseUint(page.Next, 10, 64)
			if err != nil || n <= after {
				return fmt.Errorf("log: bad next cursor %q", page.Next)
			}
			after = n
		}
	}
	return fmt.Errorf("unknown command %q", m.Cmd)
}

func (m *Main) readFile() ([]byte, error) {
	if m.File == "-" {
		return io.ReadAll(io.LimitReader(m.Stdin, 64<<10+1))
	}
	return os.ReadFile(m.File)
}

func (m *Main) print(err error) error {
	if err != nil {
		return err
	}
	_, err = m.Stdout.Write(append(bytes.TrimSpace(m.last), '\n'))
	return err
}

func (m *Main) lines(rs []json.RawMessage) error {
	for _, r := range rs {
		if _, err := fmt.Fprintf(m.Stdout, "%s\n", bytes.TrimSpace(r)); err != nil {
			return err
		}
	}
	return nil
}

// call sends a request and decodes a 2xx answer into out (when not nil);
// any other answer becomes an error with the server's reason and sentence.
func (m *Main) call(ctx context.Context, method, path string, body []byte, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(m.URL, "/")+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := m.Client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		var e struct{ Error, Message string }
		if json.Unmarshal(raw, &e) == nil && e.Error != "" {
			return fmt.Errorf("%s %s: %d %s: %s", method, path, resp.StatusCode, e.Error, e.Message)
		}
		return fmt.Errorf("%s %s: %d", method, path, resp.StatusCode)
	}
	m.last = raw
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("%s %s: answer is not JSON: %w", method, path, err)
		}
	}
	return nil
}
