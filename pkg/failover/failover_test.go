package failover_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/rpc"
	"github.com/h402/settlement/pkg/failover"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// chainService is a real JSON-RPC service (go-ethereum's rpc server) that
// answers like a node: a number, or an application error.
type chainService struct{ calls atomic.Int64 }

type appError struct{}

func (appError) Error() string  { return "execution reverted" }
func (appError) ErrorCode() int { return 3 }

func (s *chainService) BlockNumber() (uint64, error) { s.calls.Add(1); return 42, nil }
func (s *chainService) Revert() (uint64, error)      { s.calls.Add(1); return 0, appError{} }

func startNode(t *testing.T) (*chainService, string) {
	t.Helper()
	svc := &chainService{}
	srv := rpc.NewServer()
	if err := srv.RegisterName("eth", svc); err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(func() { hs.Close(); srv.Stop() })
	return svc, hs.URL
}

// deadURL is a loopback address where nothing listens: an endpoint that is down.
func deadURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}

func dial(t *testing.T, urls ...string) []*rpc.Client {
	t.Helper()
	var cs []*rpc.Client
	for _, u := range urls {
		c, err := rpc.DialOptions(context.Background(), u, rpc.WithHTTPClient(&http.Client{Timeout: 2 * time.Second}))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		cs = append(cs, c)
	}
	return cs
}

func isChainAnswer(err error) bool {
	var e rpc.Error
	return errors.As(err, &e)
}

func blockNumber(ctx context.Context, c *rpc.Client) (uint64, error) {
	var n uint64
	err := c.CallContext(ctx, &n, "eth_blockNumber")
	return n, err
}

func TestFailoverAndBreaker(t *testing.T) {
	svc, live := startNode(t)
	dead := deadURL(t)
	reg := prometheus.NewRegistry()
	m := failover.NewMetrics(reg)
	pool, err := failover.New("evm-1337", []string{"dead", "live"}, dial(t, dead, live), failover.Settings{
		Failures: 3, OpenFor: time.Hour, IsChainAnswer: isChainAnswer, Metrics: m,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := 0; i < 5; i++ {
		n, err := failover.Do(ctx, pool, "eth_blockNumber", blockNumber)
		if err != nil || n != 42 {
			t.Fatalf("call %d: got %d, %v; want 42 from the live endpoint", i, n, err)
		}
	}
	if got := svc.calls.Load(); got != 5 {
		t.Errorf("live endpoint served %d calls, want 5", got)
	}
	if got := testutil.ToFloat64(m.StateGauge().WithLabelValues("evm-1337", "dead")); got != 2 {
		t.Errorf("dead endpoint breaker state = %v, want 2 (open) after 3 failures", got)
	}
	if got := testutil.ToFloat64(m.StateGauge().WithLabelValues("evm-1337", "live")); got != 0 {
		t.Errorf("live endpoint breaker state = %v, want 0 (closed)", got)
	}
	if got := testutil.CollectAndCount(m.CallHistogram(), "h402_rpc_call_seconds"); got < 3 {
		t.Errorf("call histogram has %d series, want ok, failure and breaker_open", got)
	}
}

func TestChainAnswerIsNotAFailure(t *testing.T) {
	first, u1 := startNode(t)
	second, u2 := startNode(t)
	pool, err := failover.New("evm-1337", []string{"a", "b"}, dial(t, u1, u2), failover.Settings{Failures: 1, IsChainAnswer: isChainAnswer})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		_, err := failover.Do(context.Background(), pool, "revert", func(ctx context.Context, c *rpc.Client) (uint64, error) {
			var n uint64
			return n, c.CallContext(ctx, &n, "eth_revert")
		})
		if !isChainAnswer(err) {
			t.Fatalf("call %d: err = %v, want the chain's revert", i, err)
		}
	}
	if first.calls.Load() != 3 || second.calls.Load() != 0 {
		t.Errorf("calls: first %d, second %d; want 3 and 0 (a revert is an answer, not a reason to fail over)", first.calls.Load(), second.calls.Load())
	}
}

func TestAllDownIsRetryable(t *testing.T) {
	pool, err := failover.New("evm-1337", []string{"x", "y"}, dial(t, deadURL(t), deadURL(t)), failover.Settings{Failures: 1, OpenFor: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ { // the second round finds both breakers open
		_, err := failover.Do(context.Background(), pool, "eth_blockNumber", blockNumber)
		var u *failover.Unavailable
		if !errors.As(err, &u) || !errors.Is(err, failover.ErrUnavailable) || !u.Retryable() {
			t.Fatalf("round %d: err = %v, want a retryable *Unavailable", i, err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := failover.Do(ctx, pool, "eth_blockNumber", blockNumber); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled call: err = %v, want context.Canceled", err)
	}
}
