package main

import (
	"context"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/h402/settlement/pkg/chains"
	"github.com/h402/settlement/pkg/chains/evm"
	"github.com/h402/settlement/pkg/config"
	"github.com/h402/settlement/pkg/events"
	"github.com/h402/settlement/pkg/evmdev"
	"github.com/h402/settlement/pkg/h402"
	"github.com/h402/settlement/pkg/lease"
	"github.com/h402/settlement/pkg/natsembed"
	"github.com/h402/settlement/pkg/settler"
	"github.com/h402/settlement/pkg/settler/settlertest"
	"github.com/h402/settlement/pkg/testenv"
	"github.com/h402/settlement/pkg/verify"
)

// restartableJetStream is an embedded server on a fixed loopback port and
// store, so that it can be stopped (an outage) and started again.
type restartableJetStream struct {
	cfg natsembed.Config
	srv *natsembed.Server
}

func startRestartable(t *testing.T) *restartableJetStream {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	r := &restartableJetStream{cfg: natsembed.Config{StoreDir: t.TempDir(), Port: port}}
	r.start(t)
	t.Cleanup(func() {
		if r.srv != nil {
			r.srv.Close()
		}
	})
	_, js, err := r.srv.JetStream()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := events.Ensure(ctx, js, events.DefaultStreams()); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *restartableJetStream) start(t *testing.T) {
	t.Helper()
	s, err := natsembed.Start(r.cfg)
	if err != nil {
		t.Fatalf("start embedded JetStream: %v", err)
	}
	r.srv = s
}

func (r *restartableJetStream) stop() {
	r.srv.Close()
	r.srv = nil
}

// connect opens a client connection to the server (closed at the end of
// the test, or earlier by the caller).
func (r *restartableJetStream) connect(t *testing.T) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := nats.Connect(r.url())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return nc, js
}

func (r *restartableJetStream) url() string { return "nats://127.0.0.1:" + strconv.Itoa(r.cfg.Port) }

// TestLeaseLostInOutageIsReacquired: a settler settles a payment; the NATS
// server goes away for longer than the lease TTL, so the signing-key lease
// is lost on the settler's side; when the server is back, the settler takes
// a lease again by itself (no restart) and settles the next payment.
func TestLeaseLostInOutageIsReacquired(t *testing.T) {
	js := startRestartable(t)
	chain := testenv.StartEVM(t, evmdev.Config{})
	network := testenv.EVMNetwork(chain)
	netLabel := "evm." + network.NetworkID

	key := hex.EncodeToString(crypto.FromECDSA(chain.Facilitators()[0]))
	m, err := startSettler(t, js.url(), network, key, "s1")
	if err != nil {
		t.Fatalf("Run: %v", err)
	}

	held := func() float64 { return metricValue(t, m, "h402_lease_held", netLabel) }
	if held() != 1 {
		t.Fatalf("h402_lease_held %v, want 1 after start", held())
	}

	pay := evmPayment(t, chain, network)
	nc1, jsc1 := js.connect(t)
	states1 := settlertest.WatchStates(t, nc1)
	settlertest.Publish(t, jsc1, pay(0))
	states1.Wait(t, []string{pay(0).ID}, 60*time.Second, events.StateSubmitted)
	nc1.Close()

	// The outage: longer than the lease TTL.
	js.stop()
	// The lease ends on the settler's side without any event we can wait
	// on from here: poll its gauge, bounded.
	waitFor(t, 30*time.Second, "the lease to be lost during the outage", func() bool { return held() == 0 })
	js.start(t)

	nc2, jsc2 := js.connect(t)
	states2 := settlertest.WatchStates(t, nc2)
	settlertest.Publish(t, jsc2, pay(1))
	states2.Wait(t, []string{pay(1).ID}, 90*time.Second, events.StateSubmitted)

	if got := held(); got != 1 {
		t.Errorf("h402_lease_held %v after recovery, want 1", got)
	}
	if got := metricValue(t, m, "h402_lease_lost_total", netLabel); got < 1 {
		t.Errorf("h402_lease_lost_total %v, want at least 1", got)
	}
	tr := states2.Latest(pay(1).ID)
	tx, _, err := chain.Client().TransactionByHash(context.Background(), common.HexToHash(tr.TxHash))
	if err != nil {
		t.Fatalf("the payment's transaction %s is unknown to the node: %v", tr.TxHash, err)
	}
	if tx == nil {
		t.Fatal("no transaction")
	}
}

// startSettler runs a settler replica over natsURL with one EVM signing
// key and a 2s lease TTL.
func startSettler(t *testing.T, natsURL string, network config.Network, key, replica string) (*Main, error) {
	t.Helper()
	f := settler.File{}
	f.Networks = []config.Network{network}
	f.NATS.URL = natsURL
	f.Log.Level = "warn"
	f.Settler = settler.Config{BatchSize: 10, MaxWait: config.Duration(50 * time.Millisecond), AdminListen: "off",
		ShutdownGrace: config.Duration(5 * time.Second), RetryDelay: config.Duration(100 * time.Millisecond),
		RetryDelayMax: config.Duration(500 * time.Millisecond), LeaseTTL: config.Duration(2 * time.Second)}
	path := writeFile(t, t.TempDir(), f)
	m := NewMain()
	if err := m.ParseFlags([]string{"-config", path}); err != nil {
		t.Fatal(err)
	}
	m.File.Settler.Replica = replica
	m.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	m.LookupEnv = func(k string) (string, bool) {
		if k == EnvEVMSignerKeys {
			return key, true
		}
		return "", false
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	t.Cleanup(func() { _ = m.Close() })
	return m, m.Run(ctx)
}

// TestNoFreeKeyStopsStartUp: a replica that finds every key leased stops
// at start (as before leases were kept), instead of hanging.
func TestNoFreeKeyStopsStartUp(t *testing.T) {
	js := testenv.StartJetStream(t)
	chain := testenv.StartEVM(t, evmdev.Config{})
	network := testenv.EVMNetwork(chain)
	key := hex.EncodeToString(crypto.FromECDSA(chain.Facilitators()[0]))
	if _, err := startSettler(t, js.Server.ClientURL(), network, key, "s1"); err != nil {
		t.Fatalf("first replica: %v", err)
	}
	_, err := startSettler(t, js.Server.ClientURL(), network, key, "s2")
	if err == nil || !errors.Is(err, lease.ErrNoneFree) {
		t.Fatalf("second replica: got %v, want ErrNoneFree", err)
	}
}

// waitFor polls cond (for state that changes without an event), bounded.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: no %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// evmPayment returns a function making the i-th accepted EIP-3009 payment
// (made once, then the same event).
func evmPayment(t *testing.T, chain *evmdev.Chain, network config.Network) func(i int) *events.PaymentAccepted {
	t.Helper()
	token := &network.Tokens[0]
	local := verify.New(&config.Config{Networks: config.Networks{network}, Verify: config.DefaultVerify()}, evm.NewVerifier())
	payTo := common.HexToAddress("0x5e11e70000000000000000000000000000000002")
	made := map[int]*events.PaymentAccepted{}
	return func(i int) *events.PaymentAccepted {
		if e := made[i]; e != nil {
			return e
		}
		now := time.Now()
		d := h402.Decimal{Text: strconv.Itoa(1000 + i), Quoted: true}
		req := h402.PaymentRequirements{Namespace: h402.NamespaceEVM, Scheme: "exact", NetworkID: network.NetworkID, TokenAddress: token.Address,
			PayToAddress: payTo.Hex(), AmountRequired: &d, AmountRequiredFormat: h402.FormatSmallestUnit}
		p, _, err := evm.SignAuthorization(&req, chain.Payers()[i%len(chain.Payers())], token, now,
			evm.AuthorizationOptions{ValidAfter: now.Add(-time.Minute), ValidBefore: now.Add(30 * time.Minute)})
		if err != nil {
			t.Fatal(err)
		}
		pl, _, err := local.Verify(&req, p, now)
		if err != nil {
			t.Fatal(err)
		}
		e, err := chains.AcceptedEvent(pl, p, req.Resource, "", now)
		if err != nil {
			t.Fatal(err)
		}
		made[i] = e
		return e
	}
}

// metricValue reads a gauge or counter of m's registry with label network.
func metricValue(t *testing.T, m *Main, name, network string) float64 {
	t.Helper()
	families, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, mt := range f.GetMetric() {
			for _, lp := range mt.GetLabel() {
				if lp.GetName() == "network" && lp.GetValue() == network {
					if g := mt.GetGauge(); g != nil {
						return g.GetValue()
					}
					return mt.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}
