package evm_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/h402/settlement/pkg/chains"
	"github.com/h402/settlement/pkg/chains/evm"
	"github.com/h402/settlement/pkg/config"
	"github.com/h402/settlement/pkg/contracts"
	"github.com/h402/settlement/pkg/events"
	"github.com/h402/settlement/pkg/evmdev"
	"github.com/h402/settlement/pkg/failover"
	"github.com/h402/settlement/pkg/h402"
	"github.com/h402/settlement/pkg/settler"
	"github.com/h402/settlement/pkg/testenv"
)

// countedClaims is the real claims store (settler.Claims over the
// h402_claims bucket of an embedded JetStream) that counts Record calls. A
// "crash" in these tests keeps it, as the real store survives a process.
type countedClaims struct {
	*settler.Claims
	mu      sync.Mutex
	records int
}

// newClaims opens the claims bucket on a fresh embedded JetStream.
func newClaims(t *testing.T) *countedClaims {
	t.Helper()
	js := testenv.StartJetStream(t)
	return openClaims(t, js)
}

// openClaims opens the claims bucket of js on a new connection (one per
// simulated settler process).
func openClaims(t *testing.T, js *testenv.JetStream) *countedClaims {
	t.Helper()
	_, jsc := js.Connect(t)
	c, err := settler.OpenClaims(t.Context(), jsc, js.Streams)
	if err != nil {
		t.Fatalf("open claims: %v", err)
	}
	return &countedClaims{Claims: c}
}

func (c *countedClaims) Record(ctx context.Context, ids []string, tx chains.Tx) error {
	c.mu.Lock()
	c.records++
	c.mu.Unlock()
	return c.Claims.Record(ctx, ids, tx)
}

func (c *countedClaims) recordCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.records
}

// rpcCounter is a reverse proxy in front of the dev chain's JSON-RPC that
// counts calls by method (a real HTTP hop, not a fake node).
type rpcCounter struct {
	srv  *httptest.Server
	mu   sync.Mutex
	n    map[string]int
	reqs int // HTTP requests (a batch is one)
}

func newRPCCounter(t *testing.T, target string) *rpcCounter {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatalf("parse %s: %v", target, err)
	}
	c := &rpcCounter{n: map[string]int{}}
	proxy := httputil.NewSingleHostReverseProxy(u)
	c.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.Host = u.Host
		var one struct{ Method string }
		var many []struct{ Method string }
		c.mu.Lock()
		c.reqs++
		if json.Unmarshal(body, &one) == nil && one.Method != "" {
			c.n[one.Method]++
		} else if json.Unmarshal(body, &many) == nil {
			for _, m := range many {
				c.n[m.Method]++
			}
		}
		c.mu.Unlock()
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(c.srv.Close)
	return c
}

// requests is the number of HTTP requests so far.
func (c *rpcCounter) requests() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reqs
}

func (c *rpcCounter) count(method string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[method]
}

// deadURL is a loopback URL nothing listens on.
func deadURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}

// bench is a dev chain with the pieces a Submitter needs.
type bench struct {
	chain   *evmdev.Chain
	network config.Network
	token   config.Token
	rpc     *rpcCounter
	payTo   common.Address
	usdc    *contracts.TestUSDC
	seq     int
}

func newBench(t *testing.T, payers int) *bench {
	t.Helper()
	chain := testenv.StartEVM(t, evmdev.Config{Payers: payers})
	b := &bench{chain: chain, network: testenv.EVMNetwork(chain), usdc: contracts.NewTestUSDC()}
	if b.network.CAIP2 == "" {
		b.network.CAIP2 = "eip155:" + b.network.NetworkID
	}
	b.token = b.network.Tokens[0]
	b.rpc = newRPCCounter(t, chain.URL())
	b.payTo = crypto.PubkeyToAddress(mustGenKey(t).PublicKey)
	return b
}

func mustGenKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := crypto.GenerateKey()
	if err != nil {
		t.Fatalf("generate key: %v", err)
	}
	return k
}

// pool dials the given endpoints (default: the counting proxy).
func (b *bench) pool(t *testing.T, rpcs ...string) *evm.Pool {
	t.Helper()
	if len(rpcs) == 0 {
		rpcs = []string{b.rpc.srv.URL}
	}
	n := b.network
	n.RPC = rpcs
	p, err := evm.Dial(t.Context(), &n, failover.Settings{Failures: 1, OpenFor: time.Minute, CallTimeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	return p
}

// submitter builds a Submitter signing with facilitator key i.
func (b *bench) submitter(t *testing.T, pool *evm.Pool, i int, o evm.SubmitterOptions) *evm.Submitter {
	t.Helper()
	o.Multicall = b.chain.Multicall()
	s, err := evm.NewSubmitter(&b.network, pool, b.chain.Facilitators()[i], o)
	if err != nil {
		t.Fatalf("new submitter: %v", err)
	}
	return s
}

// headTime is the newest block's timestamp (dev chain time runs ahead of the wall clock).
func (b *bench) headTime(t *testing.T) time.Time {
	t.Helper()
	h, err := b.chain.Client().HeaderByNumber(t.Context(), nil)
	if err != nil {
		t.Fatalf("head: %v", err)
	}
	return time.Unix(int64(h.Time), 0)
}

func (b *bench) requirements(amount *big.Int) *h402.PaymentRequirements {
	d := h402.NewDecimal(amount)
	return &h402.PaymentRequirements{
		Namespace: h402.NamespaceEVM, Scheme: h402.SchemeExact, NetworkID: b.network.NetworkID,
		TokenAddress: b.token.Address, PayToAddress: b.payTo.Hex(),
		AmountRequired: &d, AmountRequiredFormat: h402.FormatSmallestUnit,
		Resource: "https://api.example.com/weather",
	}
}

// authorization signs an authorization by payer key and returns its accepted event.
func (b *bench) authorization(t *testing.T, payer *ecdsa.PrivateKey, amount int64, o evm.AuthorizationOptions) *events.PaymentAccepted {
	t.Helper()
	now := b.headTime(t)
	if o.ValidAfter.IsZero() {
		o.ValidAfter = now.Add(-time.Minute)
	}
	if o.ValidBefore.IsZero() {
		o.ValidBefore = now.Add(time.Hour)
	}
	p, _, err := evm.SignAuthorization(b.requirements(big.NewInt(amount)), payer, &b.token, now, o)
	if err != nil {
		t.Fatalf("sign authorization: %v", err)
	}
	a := p.Payload.(*h402.EVMAuthorizationPayload)
	return b.event(t, h402.TypeAuthorization, a.Authorization.From, p, amount, a.Authorization.Nonce)
}

// signedTransaction signs a token transfer by payer with its next nonce + offset.
func (b *bench) signedTransaction(t *testing.T, payer *ecdsa.PrivateKey, amount int64, offset uint64) (*events.PaymentAccepted, common.Hash) {
	t.Helper()
	from := crypto.PubkeyToAddress(payer.PublicKey)
	n, err := b.chain.Client().PendingNonceAt(t.Context(), from)
	if err != nil {
		t.Fatalf("nonce: %v", err)
	}
	p, _, err := evm.SignTransaction(b.requirements(big.NewInt(amount)), payer, &b.token, evm.TxOptions{Nonce: n + offset, GasFeeCap: big.NewInt(50_000_000_000)})
	if err != nil {
		t.Fatalf("sign transaction: %v", err)
	}
	tx := new(types.Transaction)
	if err := tx.UnmarshalBinary(common.FromHex(p.Payload.(*h402.EVMSignedTransactionPayload).SignedTransaction)); err != nil {
		t.Fatalf("decode own tx: %v", err)
	}
	return b.event(t, h402.TypeSignedTransaction, strings.ToLower(from.Hex()), p, amount, ""), tx.Hash()
}

func (b *bench) event(t *testing.T, typ h402.PayloadType, payer string, p *h402.PaymentPayload, amount int64, nonce string) *events.PaymentAccepted {
	t.Helper()
	b.seq++
	e := &events.PaymentAccepted{
		Version: events.PaymentAcceptedVersion, ID: fmt.Sprintf("evm.%s.pay-%04d", b.network.NetworkID, b.seq),
		Namespace: h402.NamespaceEVM, NetworkID: b.network.NetworkID, Type: typ,
		Token: strings.ToLower(b.token.Address), Payer: payer, PayTo: strings.ToLower(b.payTo.Hex()),
		Amount: fmt.Sprint(amount), Nonce: nonce, Settle: true, AcceptedAt: time.Now(),
	}
	if err := e.SetPayload(p); err != nil {
		t.Fatalf("event: %v", err)
	}
	return e
}

// balance is owner's test USDC balance.
func (b *bench) balance(t *testing.T, owner common.Address) *big.Int {
	t.Helper()
	tok := b.chain.Token()
	out, err := b.chain.Client().CallContract(t.Context(), callMsg(tok, b.usdc.PackBalanceOf(owner)), nil)
	if err != nil {
		t.Fatalf("balanceOf: %v", err)
	}
	v, err := b.usdc.UnpackBalanceOf(out)
	if err != nil {
		t.Fatalf("balanceOf: %v", err)
	}
	return v
}

// receipt returns the receipt of hash, or nil when it is not mined.
func (b *bench) receipt(t *testing.T, hash string) *types.Receipt {
	t.Helper()
	r, err := b.chain.Client().TransactionReceipt(t.Context(), common.HexToHash(hash))
	if err != nil {
		return nil
	}
	return r
}

// authorizationsUsed counts the AuthorizationUsed events in r.
func (b *bench) authorizationsUsed(r *types.Receipt) int {
	n := 0
	for _, l := range r.Logs {
		if _, err := b.usdc.UnpackAuthorizationUsedEvent(l); err == nil {
			n++
		}
	}
	return n
}

// submit runs Submit and fails on a whole-batch error.
func submit(t *testing.T, s *evm.Submitter, batch []*events.PaymentAccepted, claims chains.Claims) []chains.Result {
	t.Helper()
	res, err := s.Submit(t.Context(), batch, claims)
	if err != nil {
		t.Fatalf("submit: %v", err)
	}
	if len(res) != len(batch) {
		t.Fatalf("got %d results for %d payments", len(res), len(batch))
	}
	for i, r := range res {
		if r.ID != batch[i].ID {
			t.Fatalf("result %d is for %s, want %s", i, r.ID, batch[i].ID)
		}
	}
	return res
}

// wantSubmitted fails unless every result carries a tx and no error; it
// returns the distinct hashes.
func wantSubmitted(t *testing.T, res []chains.Result) []string {
	t.Helper()
	var hashes []string
	for _, r := range res {
		if r.Err != nil || r.Tx == nil {
			t.Fatalf("payment %s: got err %v tx %v, want submitted", r.ID, r.Err, r.Tx)
		}
		if !slices.Contains(hashes, r.Tx.Hash) {
			hashes = append(hashes, r.Tx.Hash)
		}
	}
	return hashes
}

// wantReason fails unless err is an *h402.Error with reason want.
func wantReason(t *testing.T, id string, err error, want h402.Reason) {
	t.Helper()
	var he *h402.Error
	if !errors.As(err, &he) {
		t.Fatalf("payment %s: got error %v, want *h402.Error %s", id, err, want)
	}
	if he.Reason != want || strings.TrimSpace(he.Message) == "" {
		t.Fatalf("payment %s: got reason %s (%q), want %s with a sentence", id, he.Reason, he.Message, want)
	}
}

func callMsg(to common.Address, data []byte) ethereum.CallMsg {
	return ethereum.CallMsg{To: &to, Data: data}
}

// tamper returns the event with its authorization changed by f (the
// signature no longer matches).
func tamper(t *testing.T, e *events.PaymentAccepted, f func(a *events.EVMAuthorization)) *events.PaymentAccepted {
	t.Helper()
	out := *e
	a := *e.Authorization
	f(&a)
	out.Authorization = &a
	return &out
}

func hashOf(s string) common.Hash { return common.HexToHash(s) }

// fixedNow is a fixed wall-clock time for tests off chain.
var fixedNow = time.Unix(1_750_000_000, 0)

// testTokenConfig is a USDC-like EIP-3009 token config for tests off chain.
func testTokenConfig() config.Token {
	return config.Token{Symbol: "USDC", Address: "0x5FbDB2315678afecb367f032d93F642f64180aa3", Decimals: 6,
		Kind: config.KindEIP3009, EIP712Name: "USD Coin", EIP712Version: "2"}
}

// testenvJetStream starts an embedded JetStream shared by several simulated
// settler processes.
func testenvJetStream(t *testing.T) *testenv.JetStream {
	t.Helper()
	return testenv.StartJetStream(t)
}
