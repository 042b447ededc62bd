// Command h402health is a container healthcheck for images without a shell
// or curl (FROM scratch): it GETs each URL given and exits 0 when every one
// answers 2xx within the timeout, 1 otherwise (the reason on stderr).
//
//	HEALTHCHECK CMD ["/h402health", "http://127.0.0.1:9402/health"]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"time"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

func run(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("h402health", flag.ContinueOnError)
	fs.SetOutput(stderr)
	timeout := fs.Duration("timeout", 3*time.Second, "time allowed for all checks")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(stderr, "h402health: usage: h402health [-timeout 3s] URL...")
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	for _, u := range fs.Args() {
		if err := check(ctx, u); err != nil {
			fmt.Fprintln(stderr, "h402health:", err)
			return 1
		}
	}
	return 0
}

// check GETs u and wants a 2xx answer.
func check(ctx context.Context, u string) error {
	p, err := url.Parse(u)
	if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
		return fmt.Errorf("bad URL %q: want http(s)://host[:port]/path", u)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fmt.Errorf("request %s: %w", p.Redacted(), err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("GET %s: %w", p.Redacted(), err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("GET %s: status %d", p.Redacted(), resp.StatusCode)
	}
	return nil
}
