package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/rpc"

	"github.com/h402/settlement/pkg/chains/evm"
	"github.com/h402/settlement/pkg/config"
	"github.com/h402/settlement/pkg/contracts"
	"github.com/h402/settlement/pkg/events"
	"github.com/h402/settlement/pkg/evmdev"
	"github.com/h402/settlement/pkg/exposure"
	"github.com/h402/settlement/pkg/failover"
	"github.com/h402/settlement/pkg/guard"
	"github.com/h402/settlement/pkg/h402"
	"github.com/h402/settlement/pkg/ingest"
	"github.com/h402/settlement/pkg/settler"
	"github.com/h402/settlement/pkg/settler/settlertest"
	"github.com/h402/settlement/pkg/testenv"
	"github.com/h402/settlement/pkg/verify"
)

// TestPayerCausedFailureBlocksPayer: ingest accepts EIP-3009 payments, then
// before settlement one payer moves its tokens away and another cancels its
// authorization on chain, and the settler fails both (insufficient_funds,
// nonce_already_used). The payer must not get that for free: the
// failure is visible to the seller with the block's end, the reservation is
// kept, and the payer's next payment is refused payer_blocked by /verify and
// /settle even once its balance is back.
func TestPayerCausedFailureBlocksPayer(t *testing.T) {
	js := testenv.StartJetStream(t)
	chain := testenv.StartEVM(t, evmdev.Config{})
	network := testenv.EVMNetwork(chain)
	token := &network.Tokens[0]
	ctx := context.Background()

	// Ingest, as cmd/ingest wires it, over the same JetStream and chain.
	cfg := &config.Config{Networks: config.Networks{network}}
	cfg.Default()
	pool, err := evm.Dial(ctx, &cfg.Networks[0], failover.Settings{})
	if err != nil {
		t.Fatal(err)
	}
	book := exposure.New(js.KeyValue(t, events.BucketExposure))
	_, jsc := js.Connect(t)
	svc := ingest.New(verify.New(cfg, evm.NewVerifier()),
		[]ingest.NetworkState{{Namespace: network.Namespace, NetworkID: network.NetworkID,
			Checker: evm.NewStateChecker(&cfg.Networks[0], pool, evm.StateOptions{CacheTTL: time.Millisecond})}},
		guard.New(js.KeyValue(t, events.BucketReplay), js.KeyValue(t, events.BucketUsed)), book, jsc, nil, ingest.Options{})
	api := httptest.NewServer(ingest.NewHandler(svc, ingest.HandlerOptions{Networks: cfg.Networks}))
	t.Cleanup(api.Close)

	// Two payers with 5000 token units each and an authorization for 1000
	// accepted; then, before any settler runs, one moves its tokens away and
	// the other cancels its authorization on chain (EIP-3009).
	d := h402.Decimal{Text: "1000", Quoted: true}
	req := h402.PaymentRequirements{Namespace: h402.NamespaceEVM, Scheme: "exact", NetworkID: network.NetworkID, TokenAddress: token.Address,
		PayToAddress: "0x5e11e70000000000000000000000000000000001", AmountRequired: &d, AmountRequiredFormat: h402.FormatSmallestUnit}
	authorize := func(payer *ecdsa.PrivateKey) (string, [32]byte) {
		t.Helper()
		p, header, err := evm.SignAuthorization(&req, payer, token, time.Now(),
			// Valid long enough for the blocks mined to finalize a cancel
			// (dev chain time runs ahead of the clock under fast commits).
			evm.AuthorizationOptions{ValidBefore: time.Now().Add(10 * time.Minute)})
		if err != nil {
			t.Fatal(err)
		}
		var nonce [32]byte
		copy(nonce[:], common.FromHex(p.Payload.(*h402.EVMAuthorizationPayload).Authorization.Nonce))
		return header, nonce
	}
	funder := chain.Payers()[0]
	type sabotage struct {
		name   string
		reason h402.Reason
		do     func(payer *ecdsa.PrivateKey, nonce [32]byte)
		payer  *ecdsa.PrivateKey
		id     string
		acct   exposure.Account
	}
	cases := []*sabotage{
		{name: "moves its tokens away", reason: h402.ReasonInsufficientFunds, do: func(payer *ecdsa.PrivateKey, _ [32]byte) {
			sendTx(t, chain, payer, chain.Token(), nil, evm.TransferCalldata(common.HexToAddress("0x00000000000000000000000000000000000000bb"), big.NewInt(5000)))
		}},
		{name: "cancels its authorization", reason: h402.ReasonNonceAlreadyUsed, do: func(payer *ecdsa.PrivateKey, nonce [32]byte) {
			sendTx(t, chain, payer, chain.Token(), nil, cancelAuthorization(t, chain, token, payer, nonce))
		}},
	}
	for _, c := range cases {
		c.payer, _ = crypto.GenerateKey()
		addr := crypto.PubkeyToAddress(c.payer.PublicKey)
		sendTx(t, chain, funder, addr, big.NewInt(1e18), nil)
		sendTx(t, chain, funder, chain.Token(), nil, evm.TransferCalldata(addr, big.NewInt(5000)))
		header, nonce := authorize(c.payer)
		a := postJSON(t, api.URL+"/settle", h402.RequestBody{Payload: header, PaymentRequirements: req})
		c.id, _ = a["paymentId"].(string)
		if a["success"] != true || c.id == "" {
			t.Fatalf("%s: payment not accepted: %v", c.name, a)
		}
		c.acct = exposure.Account{Namespace: h402.NamespaceEVM, NetworkID: network.NetworkID, Token: token.Address, Payer: addr.Hex()}
		c.do(c.payer, nonce)
	}
	// A used authorization fails a payment only once its use is final
	// (issue 9 item 8): mine until the node's "finalized" tag passes it.
	for used := chain.Head(); ; chain.Commit() {
		h, err := chain.Client().HeaderByNumber(ctx, big.NewInt(int64(rpc.FinalizedBlockNumber)))
		if err == nil && h.Number.Uint64() >= used {
			break
		}
	}

	// The settler, with payer blocking on, fails the payment.
	f := settler.File{}
	f.Networks = config.Networks{network}
	f.NATS.URL = js.Server.ClientURL()
	f.Log.Level = "warn"
	block := config.Duration(time.Hour)
	f.Verify.PayerBlockDuration = &block
	f.Settler = settler.Config{MaxWait: config.Duration(50 * time.Millisecond), AdminListen: "off", ShutdownGrace: config.Duration(5 * time.Second)}
	path := writeFile(t, t.TempDir(), f)
	m := NewMain()
	if err := m.ParseFlags([]string{"-config", path}); err != nil {
		t.Fatal(err)
	}
	m.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	signer := hex.EncodeToString(crypto.FromECDSA(chain.Facilitators()[0]))
	m.LookupEnv = func(k string) (string, bool) { return signer, k == EnvEVMSignerKeys }
	nc, _ := js.Connect(t)
	states := settlertest.WatchStates(t, nc)
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := m.Run(rctx); err != nil {
		t.Fatalf("settler Run: %v", err)
	}
	t.Cleanup(func() { _ = m.Close() })
	states.Wait(t, []string{cases[0].id, cases[1].id}, 30*time.Second, events.StateFailed, events.StateSubmitted)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tr := states.Latest(c.id)
			if tr.State != events.StateFailed || tr.Reason != c.reason || !strings.Contains(tr.Message, "the payer is blocked until") {
				t.Fatalf("transition = %+v, want failed %s saying the payer is blocked", tr, c.reason)
			}

			// The seller sees it.
			resp, err := http.Get(api.URL + "/payments/" + c.id)
			if err != nil {
				t.Fatal(err)
			}
			var status ingest.PaymentStatus
			_ = json.NewDecoder(resp.Body).Decode(&status)
			resp.Body.Close()
			if status.State != events.StateFailed || status.Reason != c.reason || !strings.Contains(status.Message, "blocked until") {
				t.Errorf("GET /payments/%s = %+v, want failed with the reason and the block", c.id, status)
			}

			// The reservation was kept, not released.
			if p, err := book.Pending(ctx, c.acct); err != nil || p.Int64() != 1000 {
				t.Errorf("pending exposure after the failure = %v, %v; want 1000 kept", p, err)
			}

			// With its balance back, the payer's next payment is still refused.
			sendTx(t, chain, funder, chain.Token(), nil, evm.TransferCalldata(common.HexToAddress(c.acct.Payer), big.NewInt(5000)))
			header, _ := authorize(c.payer)
			next := h402.RequestBody{Payload: header, PaymentRequirements: req}
			for _, route := range []string{"/verify", "/settle"} {
				a := postJSON(t, api.URL+route, next)
				reason, _ := a["invalidReason"].(string)
				msg, _ := a["errorMessage"].(string)
				if route == "/settle" {
					reason, _ = a["errorReason"].(string)
					msg, _ = a["error"].(string)
				}
				if reason != string(h402.ReasonPayerBlocked) || !strings.Contains(msg, "refused until") {
					t.Errorf("%s for the blocked payer = %v, want payer_blocked saying until when", route, a)
				}
			}
			if until, err := book.BlockedUntil(ctx, c.acct); err != nil || until.Before(time.Now().Add(59*time.Minute)) {
				t.Errorf("BlockedUntil = %v, %v; want about an hour from now", until, err)
			}
		})
	}
}

// cancelAuthorization returns the calldata of TestUSDC's
// cancelAuthorization(authorizer, nonce, v, r, s), signed by payer over the
// EIP-712 CancelAuthorization message of the token's domain.
func cancelAuthorization(t *testing.T, chain *evmdev.Chain, token *config.Token, payer *ecdsa.PrivateKey, nonce [32]byte) []byte {
	t.Helper()
	from := crypto.PubkeyToAddress(payer.PublicKey)
	sep := evm.Domain{Name: token.EIP712Name, Version: token.EIP712Version, ChainID: chain.ChainID(), VerifyingContract: chain.Token()}.Separator()
	typeHash := crypto.Keccak256Hash([]byte("CancelAuthorization(address authorizer,bytes32 nonce)"))
	structHash := crypto.Keccak256Hash(typeHash[:], common.LeftPadBytes(from[:], 32), nonce[:])
	digest := crypto.Keccak256Hash([]byte{0x19, 0x01}, sep[:], structHash[:])
	sig, err := crypto.Sign(digest[:], payer)
	if err != nil {
		t.Fatal(err)
	}
	var r, s [32]byte
	copy(r[:], sig[:32])
	copy(s[:], sig[32:64])
	return contracts.NewTestUSDC().PackCancelAuthorization(from, nonce, sig[64]+27, r, s)
}

func postJSON(t *testing.T, url string, body any) map[string]any {
	t.Helper()
	b, _ := json.Marshal(body)
	resp, err := http.Post(url, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]any{}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	return out
}

// sendTx signs and sends a transaction on the dev chain, mines it and
// checks it succeeded.
func sendTx(t *testing.T, chain *evmdev.Chain, key *ecdsa.PrivateKey, to common.Address, value *big.Int, data []byte) {
	t.Helper()
	ctx := context.Background()
	c := chain.Client()
	nonce, err := c.PendingNonceAt(ctx, crypto.PubkeyToAddress(key.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	tx := types.MustSignNewTx(key, types.LatestSignerForChainID(chain.ChainID()), &types.DynamicFeeTx{
		ChainID: chain.ChainID(), Nonce: nonce, To: &to, Value: value, Data: data,
		Gas: 300_000, GasTipCap: big.NewInt(1e9), GasFeeCap: big.NewInt(1e11),
	})
	if err := c.SendTransaction(ctx, tx); err != nil {
		t.Fatalf("send tx: %v", err)
	}
	chain.Commit()
	r, err := c.TransactionReceipt(ctx, tx.Hash())
	if err != nil || r.Status != types.ReceiptStatusSuccessful {
		t.Fatalf("tx %s: receipt %+v, %v", tx.Hash(), r, err)
	}
}
