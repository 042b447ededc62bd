package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/h402/settlement/pkg/chains/evm"
	"github.com/h402/settlement/pkg/config"
	"github.com/h402/settlement/pkg/h402"
)

// Config bounds and shapes a run.
type Config struct {
	// URL of the ingest replica (loopback only).
	URL string
	// AdminURL, when set, is sampled for process_resident_memory_bytes and
	// used for a CPU profile (loopback only).
	AdminURL string
	// N payments, Concurrency requests in flight, at most Duration.
	N           int
	Concurrency int
	Duration    time.Duration
	// Network, Token and PayTo of the payments; Payers sign them round-robin.
	Network *config.Network
	Token   *config.Token
	PayTo   string
	Payers  []*ecdsa.PrivateKey
	// Amount in smallest units per payment.
	Amount int64
	// CPUProfile, when set, receives the replica's CPU profile of the first
	// ProfileSeconds of the run (default 5).
	CPUProfile     string
	ProfileSeconds int
	// APIKey, when set, is sent as X-API-Key.
	APIKey string
}

// Report is the outcome of a run.
type Report struct {
	Sent, Accepted int
	Rejected       map[string]int // by reason or HTTP status
	Elapsed        time.Duration
	AcceptedPerSec float64
	P50, P90, P99  time.Duration
	Max            time.Duration
	SignTime       time.Duration
	MaxRSSBytes    float64
	IDs            []string // accepted payment ids
}

// CheckLoopback refuses any target that is not on this machine's loopback.
func CheckLoopback(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("target %q: %w", raw, err)
	}
	host := u.Hostname()
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("target %q is not a loopback address: load is only sent to 127.0.0.0/8 or ::1", raw)
	}
	return nil
}

// Run signs cfg.N payments, then sends them.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := CheckLoopback(cfg.URL); err != nil {
		return nil, err
	}
	if cfg.AdminURL != "" {
		if err := CheckLoopback(cfg.AdminURL); err != nil {
			return nil, err
		}
	}
	if cfg.N <= 0 || cfg.N > 1_000_000 || cfg.Concurrency <= 0 || cfg.Concurrency > 4096 || cfg.Duration <= 0 || cfg.Duration > 30*time.Minute {
		return nil, errors.New("loadgen: N must be 1..1000000, concurrency 1..4096, duration up to 30m")
	}
	if len(cfg.Payers) == 0 {
		return nil, errors.New("loadgen: no payers")
	}
	rep := &Report{Rejected: map[string]int{}}
	start := time.Now()
	payments, err := sign(cfg)
	if err != nil {
		return nil, err
	}
	rep.SignTime = time.Since(start)

	ctx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: cfg.Concurrency, MaxConnsPerHost: cfg.Concurrency}, Timeout: 30 * time.Second}

	var rss atomic.Uint64
	sampleDone := make(chan struct{})
	profDone := make(chan error, 1)
	if cfg.AdminURL != "" {
		go sampleRSS(ctx, client, cfg.AdminURL, &rss, sampleDone)
		if cfg.CPUProfile != "" {
			secs := cfg.ProfileSeconds
			if secs <= 0 {
				secs = 5
			}
			go func() { profDone <- profile(ctx, cfg.AdminURL, cfg.CPUProfile, secs) }()
		}
	} else {
		close(sampleDone)
	}

	var (
		next      atomic.Int64
		mu        sync.Mutex
		latencies = make([]time.Duration, 0, cfg.N)
		wg        sync.WaitGroup
	)
	runStart := time.Now()
	for w := 0; w < cfg.Concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= len(payments) {
					return
				}
				t0 := time.Now()
				outcome, id := send(ctx, client, cfg, payments[i])
				d := time.Since(t0)
				mu.Lock()
				rep.Sent++
				if outcome == "" {
					rep.Accepted++
					latencies = append(latencies, d)
					rep.IDs = append(rep.IDs, id)
				} else {
					rep.Rejected[outcome]++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	rep.Elapsed = time.Since(runStart)
	cancel()
	<-sampleDone
	if cfg.CPUProfile != "" && cfg.AdminURL != "" {
		if err := <-profDone; err != nil {
			return rep, fmt.Errorf("cpu profile: %w", err)
		}
	}
	rep.MaxRSSBytes = float64(rss.Load())
	rep.AcceptedPerSec = float64(rep.Accepted) / rep.Elapsed.Seconds()
	slices.Sort(latencies)
	pct := func(p float64) time.Duration {
		if len(latencies) == 0 {
			return 0
		}
		return latencies[min(len(latencies)-1, int(p*float64(len(latencies))))]
	}
	rep.P50, rep.P90, rep.P99 = pct(0.50), pct(0.90), pct(0.99)
	if len(latencies) > 0 {
		rep.Max = latencies[len(latencies)-1]
	}
	return rep, nil
}

func sign(cfg Config) ([][]byte, error) {
	out := make([][]byte, cfg.N)
	amount := h402.Decimal{Text: strconv.FormatInt(cfg.Amount, 10), Quoted: true}
	req := h402.PaymentRequirements{
		Namespace: cfg.Network.Namespace, Scheme: h402.SchemeExact, NetworkID: cfg.Network.NetworkID,
		TokenAddress: cfg.Token.Address, PayToAddress: cfg.PayTo, AmountRequired: &amount,
		AmountRequiredFormat: h402.FormatSmallestUnit, Resource: "http://127.0.0.1/loadgen",
	}
	now := time.Now()
	opts := evm.AuthorizationOptions{ValidAfter: now.Add(-time.Minute), ValidBefore: now.Add(cfg.Duration + 10*time.Minute)}
	var (
		wg       sync.WaitGroup
		firstErr atomic.Value
	)
	workers := runtime.NumCPU()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < cfg.N; i += workers {
				_, header, err := evm.SignAuthorization(&req, cfg.Payers[i%len(cfg.Payers)], cfg.Token, now, opts)
				if err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
				b, _ := json.Marshal(h402.RequestBody{Payload: header, PaymentRequirements: req})
				out[i] = b
			}
		}(w)
	}
	wg.Wait()
	if err, _ := firstErr.Load().(error); err != nil {
		return nil, fmt.Errorf("sign payments: %w", err)
	}
	return out, nil
}

// send posts one payment; outcome is "" when accepted, else the reason.
func send(ctx context.Context, client *http.Client, cfg Config, body []byte) (outcome, id string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(cfg.URL, "/")+"/settle", bytes.NewReader(body))
	if err != nil {
		return "request_error", ""
	}
	req.Header.Set("Content-Type", "application/json")
	if cfg.APIKey != "" {
		req.Header.Set("X-API-Key", cfg.APIKey)
	}
	resp, err := client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return "cancelled", ""
		}
		return "transport_error", ""
	}
	defer resp.Body.Close()
	var a struct {
		Success     bool   `json:"success"`
		PaymentID   string `json:"paymentId"`
		ErrorReason string `json:"errorReason"`
		Reason      string `json:"reason"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&a); err != nil {
		return "status_" + strconv.Itoa(resp.StatusCode), ""
	}
	if resp.StatusCode == http.StatusOK && a.Success {
		return "", a.PaymentID
	}
	if a.ErrorReason != "" {
		return a.ErrorReason, ""
	}
	if a.Reason != "" {
		return a.Reason, ""
	}
	return "status_" + strconv.Itoa(resp.StatusCode), ""
}

func sampleRSS(ctx context.Context, client *http.Client, admin string, max *atomic.Uint64, done chan<- struct{}) {
	defer close(done)
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		if v, err := readRSS(client, admin); err == nil && v > max.Load() {
			max.Store(v)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func readRSS(client *http.Client, admin string) (uint64, error) {
	resp, err := client.Get(strings.TrimRight(admin, "/") + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "process_resident_memory_bytes "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				return 0, err
			}
			return uint64(f), nil
		}
	}
	return 0, errors.New("no process_resident_memory_bytes in /metrics")
}

func profile(ctx context.Context, admin, path string, secs int) error {
	d := time.Duration(secs) * time.Second
	req, err := http.NewRequestWithContext(context.WithoutCancel(ctx), http.MethodGet, fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", strings.TrimRight(admin, "/"), secs), nil)
	if err != nil {
		return err
	}
	resp, err := (&http.Client{Timeout: d + 30*time.Second}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(f, resp.Body)
	return err
}
