package settler_test

import (
	"bytes"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/h402/settlement/pkg/events"
	"github.com/h402/settlement/pkg/settler/settlertest"
)

// lockedBuffer is a log sink shared by the loop's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestRPCCredentialsNeverLeak: an RPC endpoint whose URL carries an API key
// (in the path and the query) is down; the settler retries (logging each
// retry) and finally dead-letters the payment. Neither the log nor the dead
// letter may contain the key: the failover pool redacts the URL in every
// error it returns.
func TestRPCCredentialsNeverLeak(t *testing.T) {
	const key = "k3yS3cr3tAbCdEf0123456789zzQQ"
	h := newHarness(t)
	h.cfg.MaxDeliver = 3
	logs := &lockedBuffer{}
	h.logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens: the endpoint is down
	h.network.RPC = []string{"http://" + addr + "/v3/" + key + "?api-key=" + key + "&chain=solana"}

	nc, _ := h.js.Connect(t)
	deadSub, err := events.PaymentDeadSubject(h.network.Namespace, h.network.NetworkID)
	if err != nil {
		t.Fatal(err)
	}
	sub, err := nc.SubscribeSync(deadSub)
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}

	e := h.sol.Accepted(t, settlertest.Pay{Payer: h.sol.LN.Payers()[0], Amount: 1234})
	h.start(t, nil)
	settlertest.Publish(t, h.jsc, e)

	msg, err := sub.NextMsg(60 * time.Second)
	if err != nil {
		t.Fatalf("no dead letter: %v", err)
	}
	if strings.Contains(string(msg.Data), key) {
		t.Errorf("dead letter carries the RPC key: %s", msg.Data)
	}
	if !strings.Contains(string(msg.Data), addr) {
		t.Errorf("dead letter %s: want the endpoint's host %s kept for the operator", msg.Data, addr)
	}
	out := logs.String()
	if !strings.Contains(out, "settlement will be retried") {
		t.Fatalf("got no retry log line, want some; log:\n%s", out)
	}
	if strings.Contains(out, key) {
		for _, line := range strings.Split(out, "\n") {
			if strings.Contains(line, key) {
				t.Errorf("log line carries the RPC key: %s", line)
			}
		}
	}
}
