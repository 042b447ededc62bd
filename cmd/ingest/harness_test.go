package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"io"
	"math/big"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	solanago "github.com/gagliardetto/solana-go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/h402/settlement/pkg/chains/evm"
	"github.com/h402/settlement/pkg/config"
	"github.com/h402/settlement/pkg/evmdev"
	"github.com/h402/settlement/pkg/h402"
	"github.com/h402/settlement/pkg/soldev"
	"github.com/h402/settlement/pkg/testenv"
)

// harness runs ingest replicas over one embedded JetStream, the EVM dev
// chain (chain id 84532, so x402 v1 clients can name it) and the Solana
// localnet.
type harness struct {
	t   *testing.T
	js  *testenv.JetStream
	evm *evmdev.Chain
	sol *soldev.Localnet
	cfg *config.Config
}

func newHarness(t *testing.T, withSolana bool) *harness {
	t.Helper()
	h := &harness{t: t, js: testenv.StartJetStream(t)}
	h.evm = testenv.StartEVM(t, evmdev.Config{ChainID: 84532})
	networks := []config.Network{testenv.EVMNetwork(h.evm)}
	if withSolana {
		h.sol = testenv.StartSolana(t, soldev.Config{})
		networks = append(networks, testenv.SolanaNetwork(h.sol))
	}
	h.cfg = testenv.Config(t, h.js.Server.ClientURL(), networks...)
	return h
}

// ingest starts a replica with the harness config, edited by mutate.
func (h *harness) ingest(name string, mutate func(*config.Config)) (*Main, string) {
	h.t.Helper()
	return h.ingestWith(name, mutate, nil)
}

// ingestWith starts a replica whose event log client is wrapped.
func (h *harness) ingestWith(name string, mutate func(*config.Config), wrap func(jetstream.JetStream) jetstream.JetStream) (*Main, string) {
	h.t.Helper()
	c := *h.cfg
	c.Ingest.Replica = name
	if mutate != nil {
		mutate(&c)
	}
	m := NewMain()
	m.Config = &c
	m.WrapJetStream = wrap
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := m.Run(ctx); err != nil {
		m.Close()
		h.t.Fatalf("start ingest %s: %v", name, err)
	}
	h.t.Cleanup(func() { m.Close() })
	return m, "http://" + m.Addr()
}

func (h *harness) evmToken() *config.Token { return &h.cfg.Networks[0].Tokens[0] }

func (h *harness) evmReq(token, amount string) h402.PaymentRequirements {
	d := h402.Decimal{Text: amount, Quoted: true}
	return h402.PaymentRequirements{
		Namespace: h402.NamespaceEVM, Scheme: "exact", NetworkID: h.cfg.Networks[0].NetworkID,
		TokenAddress: token, PayToAddress: strings.ToLower(evmdev.Address(evmdev.DevKey("seller")).Hex()),
		AmountRequired: &d, AmountRequiredFormat: h402.FormatSmallestUnit, Resource: "https://api.example/report",
	}
}

func (h *harness) solReq(mint string, amount string, feePayer bool) h402.PaymentRequirements {
	d := h402.Decimal{Text: amount, Quoted: true}
	r := h402.PaymentRequirements{
		Namespace: h402.NamespaceSolana, Scheme: "exact", NetworkID: "localnet",
		TokenAddress: mint, PayToAddress: h.sol.Seller().String(),
		AmountRequired: &d, AmountRequiredFormat: h402.FormatSmallestUnit, Resource: "https://api.example/report",
	}
	if feePayer {
		r.Extra = json.RawMessage(`{"feePayer":"` + h.sol.FeePayers()[0].PublicKey().String() + `"}`)
	}
	return r
}

func (h *harness) authorize(req h402.PaymentRequirements, key *ecdsa.PrivateKey) string {
	h.t.Helper()
	_, header, err := evm.SignAuthorization(&req, key, h.evmToken(), time.Now(), evm.AuthorizationOptions{})
	if err != nil {
		h.t.Fatalf("sign authorization: %v", err)
	}
	return header
}

func (h *harness) blockhash() solanago.Hash {
	h.t.Helper()
	out, err := h.sol.RPC().GetLatestBlockhash(context.Background(), "confirmed")
	if err != nil {
		h.t.Fatalf("latest blockhash: %v", err)
	}
	return out.Value.Blockhash
}

// sendTx signs and sends a transaction to the dev chain, mines it, and
// checks it succeeded.
func (h *harness) sendTx(key *ecdsa.PrivateKey, to common.Address, value *big.Int, data []byte) *types.Transaction {
	h.t.Helper()
	ctx := context.Background()
	c := h.evm.Client()
	from := crypto.PubkeyToAddress(key.PublicKey)
	nonce, err := c.PendingNonceAt(ctx, from)
	if err != nil {
		h.t.Fatal(err)
	}
	tx := types.MustSignNewTx(key, types.LatestSignerForChainID(h.evm.ChainID()), &types.DynamicFeeTx{
		ChainID: h.evm.ChainID(), Nonce: nonce, To: &to, Value: value, Data: data,
		Gas: 300_000, GasTipCap: big.NewInt(1e9), GasFeeCap: big.NewInt(1e11),
	})
	if err := c.SendTransaction(ctx, tx); err != nil {
		h.t.Fatalf("send tx: %v", err)
	}
	h.evm.Commit()
	r, err := c.TransactionReceipt(ctx, tx.Hash())
	if err != nil || r.Status != types.ReceiptStatusSuccessful {
		h.t.Fatalf("tx %s: receipt %+v, %v", tx.Hash(), r, err)
	}
	return tx
}

type answer struct {
	Status int
	Body   map[string]any
	Header http.Header
}

func (a answer) str(k string) string { s, _ := a.Body[k].(string); return s }

func post(t *testing.T, url string, body any, headers ...string) answer {
	t.Helper()
	var b []byte
	switch v := body.(type) {
	case []byte:
		b = v
	default:
		var err error
		if b, err = json.Marshal(v); err != nil {
			t.Fatal(err)
		}
	}
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	return do(t, req)
}

func get(t *testing.T, url string) answer {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	return do(t, req)
}

func do(t *testing.T, req *http.Request) answer {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := answer{Status: resp.StatusCode, Header: resp.Header, Body: map[string]any{}}
	if err := json.Unmarshal(raw, &a.Body); err != nil {
		t.Fatalf("%s %s: answer is not a JSON object: %s", req.Method, req.URL, raw)
	}
	return a
}

func body(header string, req h402.PaymentRequirements) h402.RequestBody {
	return h402.RequestBody{Payload: header, PaymentRequirements: req}
}

// freshKey is a new EVM key funded with ether (and tokens when usdc > 0)
// from the first dev payer.
func (h *harness) freshKey(usdc int64) *ecdsa.PrivateKey {
	h.t.Helper()
	key, _ := crypto.GenerateKey()
	to := crypto.PubkeyToAddress(key.PublicKey)
	payer := h.evm.Payers()[0]
	h.sendTx(payer, to, big.NewInt(1e18), nil)
	if usdc > 0 {
		h.sendTx(payer, h.evm.Token(), nil, evm.TransferCalldata(to, big.NewInt(usdc)))
	}
	return key
}
