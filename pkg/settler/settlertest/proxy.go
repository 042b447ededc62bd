package settlertest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"

	solanago "github.com/gagliardetto/solana-go"
)

// RPCProxy is a JSON-RPC front on a fixed loopback port that forwards to a
// real node and counts sendTransaction calls per signature and every call
// per method. It starts down
// (the port refuses connections) until Up, and Down closes it again: an RPC
// endpoint outage, which the real node cannot simulate.
type RPCProxy struct {
	target string
	addr   string

	mu    sync.Mutex
	srv   *http.Server
	sends map[string]int
	calls map[string][]int
	once  map[string]func()
}

// NewRPCProxy reserves a loopback port for a front to target; it is down.
func NewRPCProxy(t testing.TB, target string) *RPCProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	p := &RPCProxy{target: target, addr: addr, sends: map[string]int{}, calls: map[string][]int{}, once: map[string]func(){}}
	t.Cleanup(func() { p.Down(t) })
	return p
}

// URL is the front's address.
func (p *RPCProxy) URL() string { return "http://" + p.addr }

// Up starts serving on the reserved port.
func (p *RPCProxy) Up(t testing.TB) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.srv != nil {
		return
	}
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		t.Fatalf("proxy listen on %s again: %v", p.addr, err)
	}
	p.srv = &http.Server{Handler: http.HandlerFunc(p.serve)}
	go func() { _ = p.srv.Serve(ln) }()
}

// Down closes the listener and every open connection.
func (p *RPCProxy) Down(t testing.TB) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.srv == nil {
		return
	}
	if err := p.srv.Close(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		t.Errorf("proxy close: %v", err)
	}
	p.srv = nil
}

// Sends returns how many times each signature was sent.
func (p *RPCProxy) Sends() map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[string]int, len(p.sends))
	for k, v := range p.sends {
		out[k] = v
	}
	return out
}

// Calls returns, for each call of method so far, the length of its first
// parameter when that is an array (the signatures of a
// getSignatureStatuses), else 0.
func (p *RPCProxy) Calls(method string) []int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]int(nil), p.calls[method]...)
}

// Once runs fn before forwarding the next call of method, once: a chain
// event placed between two calls of a client (a transaction landing just
// before a look-up).
func (p *RPCProxy) Once(method string, fn func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.once[method] = fn
}

func (p *RPCProxy) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	p.count(body)
	resp, err := http.Post(p.target, "application/json", bytes.NewReader(body))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	w.Header().Set("Content-Type", resp.Header.Get("Content-Type"))
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, resp.Body)
}

// count records the call, and a sendTransaction's first signature.
func (p *RPCProxy) count(body []byte) {
	var req struct {
		Method string            `json:"method"`
		Params []json.RawMessage `json:"params"`
	}
	if json.Unmarshal(body, &req) != nil {
		return
	}
	var list []json.RawMessage
	if len(req.Params) > 0 && json.Unmarshal(req.Params[0], &list) != nil {
		list = nil
	}
	p.mu.Lock()
	p.calls[req.Method] = append(p.calls[req.Method], len(list))
	fn := p.once[req.Method]
	delete(p.once, req.Method)
	p.mu.Unlock()
	if fn != nil {
		fn()
	}
	if req.Method != "sendTransaction" || len(req.Params) == 0 {
		return
	}
	var text string
	if json.Unmarshal(req.Params[0], &text) != nil {
		return
	}
	raw, err := base64.StdEncoding.DecodeString(text)
	if err != nil {
		return
	}
	tx, err := solanago.TransactionFromBytes(raw)
	if err != nil || len(tx.Signatures) == 0 {
		return
	}
	p.mu.Lock()
	p.sends[tx.Signatures[0].String()]++
	p.mu.Unlock()
}
