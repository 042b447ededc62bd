package receipts_test

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	bolt "go.etcd.io/bbolt"

	"github.com/h402/settlement/pkg/events"
	"github.com/h402/settlement/pkg/h402"
	"github.com/h402/settlement/pkg/receipts"
	"github.com/h402/settlement/pkg/testenv"
)

// The crash test runs the client in a separate process: this test binary
// started again with helperEnv set runs helperMain instead of the tests.
const (
	helperEnv  = "H402_RECEIPTS_HELPER"
	helperURL  = "H402_RECEIPTS_HELPER_NATS"
	helperDB   = "H402_RECEIPTS_HELPER_DB"
	helperName = "H402_RECEIPTS_HELPER_CONSUMER"
)

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) == "1" {
		os.Exit(helperMain())
	}
	os.Exit(m.Run())
}

// announcingStore prints "handled <subject> <sellerSeq>" after each commit
// that handled a receipt, so the test knows how far the process got.
type announcingStore struct {
	*receipts.BoltStore
	pending string
}

func (s *announcingStore) Update(ctx context.Context, fn func(tx *bolt.Tx) error) error {
	s.pending = ""
	err := s.BoltStore.Update(ctx, fn)
	if err == nil && s.pending != "" {
		fmt.Println(s.pending)
	}
	return err
}

// helperMain runs a receipts client on a bbolt file until SIGTERM (exit 0)
// or SIGKILL.
func helperMain() int {
	store, err := receipts.OpenBolt(os.Getenv(helperDB))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	defer store.Close()
	as := &announcingStore{BoltStore: store}
	nc, err := nats.Connect(os.Getenv(helperURL))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	handle := func(ctx context.Context, tx *bolt.Tx, r *events.Receipt) error {
		if err := recordHandler(ctx, tx, r); err != nil {
			return err
		}
		subj, _ := events.ReceiptSubject(r.PayTo, r.Namespace, r.NetworkID)
		as.pending = fmt.Sprintf("handled %s %d", subj, r.SellerSeq)
		return nil
	}
	c, err := receipts.New[*bolt.Tx](js, receipts.Config{PayTo: sellerEVM, Namespace: h402.NamespaceEVM,
		Consumer: os.Getenv(helperName), FetchWait: time.Second}, as, handle)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	fmt.Println("ready")
	if err := c.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "run:", err)
		return 1
	}
	return 0
}

// child is one run of the helper process.
type child struct {
	cmd   *exec.Cmd
	lines chan string
}

func startChild(t *testing.T, url, db, consumer string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"=1", helperURL+"="+url, helperDB+"="+db, helperName+"="+consumer)
	cmd.Stderr = &testWriter{t: t}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, lines: make(chan string, 1024)}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
		close(c.lines)
	}()
	return c
}

// testWriter logs a child's stderr.
type testWriter struct{ t *testing.T }

func (w *testWriter) Write(b []byte) (int, error) {
	w.t.Logf("helper: %s", strings.TrimSpace(string(b)))
	return len(b), nil
}

// progress follows "handled" lines: the highest sellerSeq committed per subject.
type progress map[string]uint64

// next waits for one handled line and records it; false when the child
// ended first.
func (p progress) next(t *testing.T, c *child) bool {
	t.Helper()
	for {
		select {
		case l, ok := <-c.lines:
			if !ok {
				return false
			}
			f := strings.Fields(l)
			if len(f) != 3 || f[0] != "handled" {
				continue
			}
			seq, err := strconv.ParseUint(f[2], 10, 64)
			if err != nil {
				t.Fatalf("helper line %q: %v", l, err)
			}
			p[f[1]] = max(p[f[1]], seq)
			return true
		case <-time.After(60 * time.Second):
			t.Fatal("helper handled nothing for 60s")
		}
	}
}

// TestKilledClientDeliversExactlyOnce: a receipts client in its own process
// is SIGKILLed at random points and started again while 500 receipts on two
// subjects are published (before it starts, while it runs, while it is
// dead); in the end its store holds every receipt exactly once, handled in
// sellerSeq order per subject, with the ids the stream holds.
func TestKilledClientDeliversExactlyOnce(t *testing.T) {
	env := testenv.StartJetStream(t)
	_, js := env.Connect(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	db := filepath.Join(t.TempDir(), "seller.db")
	nets := []string{"1337", "8453"}
	pub := newPublisher(js)
	const (
		before, rounds, running, dead, last = 100, 4, 60, 20, 80
		total                               = before + rounds*(running+dead) + last
	)
	pub.publish(t, ctx, before, nets...)
	seen := progress{}
	for round := range rounds {
		c := startChild(t, env.Server.ClientURL(), db, "seller-crash")
		done := make(chan struct{})
		go func() { defer close(done); pub.publish(t, ctx, running, nets...) }()
		kill := 1 + rng.IntN(40)
		for range kill {
			if !seen.next(t, c) {
				t.Fatalf("round %d: helper exited: %v", round, c.cmd.Wait())
			}
		}
		if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		_ = c.cmd.Wait()
		<-done
		t.Logf("round %d: killed after %d handled; progress %v", round, kill, seen)
		pub.publish(t, ctx, dead, nets...)
	}
	c := startChild(t, env.Server.ClientURL(), db, "seller-crash")
	go pub.publish(t, ctx, last, nets...)
	for {
		complete := len(seen) == len(nets)
		for _, n := range seen {
			complete = complete && n == total/uint64(len(nets))
		}
		if complete {
			break
		}
		if !seen.next(t, c) {
			t.Fatalf("final run: helper exited: %v", c.cmd.Wait())
		}
	}
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Wait(); err != nil {
		t.Fatalf("helper stopped with %v, want exit 0", err)
	}
	want := streamIDs(t, ctx, js)
	if n := len(want[mustSubject(t, nets[0])]) + len(want[mustSubject(t, nets[1])]); n != total {
		t.Fatalf("stream holds %d receipts, want %d", n, total)
	}
	for subj, ids := range pub.ids {
		if fmt.Sprint(ids) != fmt.Sprint(want[subj]) {
			t.Errorf("%s: published ids differ from the stream's", subj)
		}
	}
	store, err := receipts.OpenBolt(db)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	checkStore(t, store, want)
}

func mustSubject(t testing.TB, net string) string {
	t.Helper()
	s, err := events.ReceiptSubject(sellerEVM, h402.NamespaceEVM, net)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
