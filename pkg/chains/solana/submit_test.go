package solana_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	solanago "github.com/gagliardetto/solana-go"
	"github.com/gagliardetto/solana-go/rpc"

	"github.com/h402/settlement/pkg/chains"
	"github.com/h402/settlement/pkg/chains/solana"
	"github.com/h402/settlement/pkg/config"
	"github.com/h402/settlement/pkg/events"
	"github.com/h402/settlement/pkg/failover"
	"github.com/h402/settlement/pkg/h402"
	"github.com/h402/settlement/pkg/settler"
	"github.com/h402/settlement/pkg/settler/settlertest"
	"github.com/h402/settlement/pkg/soldev"
	"github.com/h402/settlement/pkg/testenv"
)

// submitEnv is a localnet behind a counting RPC front, real KV claims on
// embedded JetStream, and a Submitter holding the localnet's fee-payer keys.
type submitEnv struct {
	sol     *settlertest.Solana
	proxy   *settlertest.RPCProxy
	claims  *settlertest.CountingClaims
	network config.Network
	sub     *solana.Submitter
}

func newSubmitEnv(t *testing.T) *submitEnv {
	t.Helper()
	ln := testenv.StartSolana(t, soldev.Config{})
	env := &submitEnv{sol: settlertest.NewSolana(ln), proxy: settlertest.NewRPCProxy(t, ln.URL())}
	env.proxy.Up(t)
	env.network = env.sol.Network
	env.network.RPC = []string{env.proxy.URL()}
	pool, err := solana.Dial(&env.network, failover.Settings{OpenFor: 20 * time.Millisecond, CallTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	js := testenv.StartJetStream(t)
	_, jsc := js.Connect(t)
	claims, err := settler.OpenClaims(context.Background(), jsc, js.Streams)
	if err != nil {
		t.Fatal(err)
	}
	env.claims = settlertest.Count(claims)
	if env.sub, err = solana.NewSubmitter(&env.network, pool, solana.SubmitOptions{FeePayers: ln.FeePayers()}); err != nil {
		t.Fatal(err)
	}
	return env
}

func (env *submitEnv) submit(t *testing.T, batch ...*events.PaymentAccepted) []chains.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := env.sub.Submit(ctx, batch, env.claims)
	if err != nil {
		t.Fatalf("Submit: %v", err)
	}
	if len(res) != len(batch) {
		t.Fatalf("Submit: got %d results, want %d", len(res), len(batch))
	}
	for i := range res {
		if res[i].ID != batch[i].ID {
			t.Fatalf("result %d: got id %s, want %s", i, res[i].ID, batch[i].ID)
		}
	}
	return res
}

func wantSubmitted(t *testing.T, r chains.Result) *chains.Tx {
	t.Helper()
	if r.Err != nil || r.Tx == nil {
		t.Fatalf("result of %s: got err %v tx %v, want submitted", r.ID, r.Err, r.Tx)
	}
	return r.Tx
}

func wantReasonErr(t *testing.T, err error, want h402.Reason) {
	t.Helper()
	var herr *h402.Error
	if !errors.As(err, &herr) {
		t.Fatalf("got error %v (%T), want *h402.Error with reason %s", err, err, want)
	}
	if herr.Reason != want || herr.Message == "" {
		t.Fatalf("got reason %s (%q), want %s with a sentence", herr.Reason, herr.Message, want)
	}
}

func wantRetryable(t *testing.T, err error) {
	t.Helper()
	var herr *h402.Error
	if err == nil || errors.As(err, &herr) {
		t.Fatalf("got %v, want a retryable (non-h402) error", err)
	}
}

func (env *submitEnv) landed(t *testing.T, hash string) *rpc.SignatureStatusesResult {
	t.Helper()
	st := env.sol.Statuses(t, []string{hash})[0]
	if st == nil {
		t.Fatalf("status of %s: unknown, want landed", hash)
	}
	return st
}

func TestSubmitBroadcasts(t *testing.T) {
	t.Parallel()
	env := newSubmitEnv(t)
	before := env.sol.SellerUSDC(t)
	feePayer := env.sol.LN.FeePayers()[0].PublicKey().String()
	tests := []struct {
		name       string
		pay        settlertest.Pay
		wantSigner string
	}{
		{"client pays the fee", settlertest.Pay{Amount: 1_111}, ""},
		{"facilitator pays the fee", settlertest.Pay{Amount: 2_222, FeePayer: true}, feePayer},
	}
	var batch []*events.PaymentAccepted
	for _, tt := range tests {
		batch = append(batch, env.sol.Accepted(t, tt.pay))
	}
	res := env.submit(t, batch...)
	var sum uint64
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tx := wantSubmitted(t, res[i])
			if tx.Signer != tt.wantSigner {
				t.Errorf("signer: got %q, want %q", tx.Signer, tt.wantSigner)
			}
			if batch[i].TxHash != "" && tx.Hash != batch[i].TxHash {
				t.Errorf("hash: got %s, want the client's signature %s", tx.Hash, batch[i].TxHash)
			}
			if got := env.claims.Records()[batch[i].ID]; got != 1 {
				t.Errorf("claims recorded: got %d, want 1", got)
			}
			held, err := env.claims.Lookup(context.Background(), batch[i].ID)
			if err != nil || held == nil || held.Hash != tx.Hash || len(held.Raw) == 0 {
				t.Errorf("claim: got %+v (%v), want the broadcast transaction with its bytes", held, err)
			}
			if got := env.proxy.Sends()[tx.Hash]; got != 1 {
				t.Errorf("sends of %s: got %d, want 1", tx.Hash, got)
			}
			if st := env.landed(t, tx.Hash); st.Err != nil {
				t.Errorf("landed with error %v", st.Err)
			}
		})
		sum += tt.pay.Amount
	}
	if got := env.sol.SellerUSDC(t) - before; got != sum {
		t.Errorf("seller received %d, want %d", got, sum)
	}
}

func TestSubmitRedelivery(t *testing.T) {
	t.Parallel()
	env := newSubmitEnv(t)
	crash := errors.New("simulated crash after recording the claim")

	t.Run("landed is not sent again", func(t *testing.T) {
		e := env.sol.Accepted(t, settlertest.Pay{FeePayer: true})
		first := wantSubmitted(t, env.submit(t, e)[0])
		again := wantSubmitted(t, env.submit(t, e)[0])
		if again.Hash != first.Hash {
			t.Errorf("redelivery: got tx %s, want %s", again.Hash, first.Hash)
		}
		if got := env.proxy.Sends()[first.Hash]; got != 1 {
			t.Errorf("sends: got %d, want 1", got)
		}
		if got := env.claims.Records()[e.ID]; got != 1 {
			t.Errorf("records: got %d, want 1", got)
		}
	})

	for _, feePayer := range []bool{false, true} {
		name := map[bool]string{false: "client-signed", true: "fee payer"}[feePayer]
		t.Run("crash after record sends the recorded bytes/"+name, func(t *testing.T) {
			e := env.sol.Accepted(t, settlertest.Pay{FeePayer: feePayer})
			var recorded chains.Tx
			env.claims.AfterRecord = func(ids []string, tx chains.Tx) error {
				recorded = tx
				return crash
			}
			r := env.submit(t, e)[0]
			env.claims.AfterRecord = nil
			if !errors.Is(r.Err, crash) {
				t.Fatalf("first attempt: got %v, want the simulated crash", r.Err)
			}
			wantRetryable(t, r.Err)
			if got := env.proxy.Sends()[recorded.Hash]; got != 0 {
				t.Fatalf("sends before the retry: got %d, want 0", got)
			}
			tx := wantSubmitted(t, env.submit(t, e)[0])
			if tx.Hash != recorded.Hash || string(tx.Raw) != string(recorded.Raw) {
				t.Errorf("retry: got tx %s, want the recorded %s with its bytes", tx.Hash, recorded.Hash)
			}
			if got := env.claims.Records()[e.ID]; got != 1 {
				t.Errorf("records: got %d, want 1 (no new signing)", got)
			}
			if got := env.proxy.Sends()[recorded.Hash]; got != 1 {
				t.Errorf("sends: got %d, want 1", got)
			}
			env.landed(t, recorded.Hash)
		})
	}

	t.Run("already processed counts as landed", func(t *testing.T) {
		// The client broadcast its own signed transaction before we did.
		e := env.sol.Accepted(t, settlertest.Pay{})
		text := e.Transaction
		stx, err := solanago.TransactionFromBase64(text)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := env.sol.LN.RPC().SendTransaction(context.Background(), stx); err != nil {
			t.Fatalf("client send: %v", err)
		}
		tx := wantSubmitted(t, env.submit(t, e)[0])
		if tx.Hash != stx.Signatures[0].String() {
			t.Errorf("got tx %s, want the client's %s", tx.Hash, stx.Signatures[0])
		}
		if got := env.proxy.Sends()[tx.Hash]; got != 1 {
			t.Errorf("sends through the settler: got %d, want 1 (answered AlreadyProcessed)", got)
		}
	})

	t.Run("landed with an error fails", func(t *testing.T) {
		// An earlier attempt sent it without preflight and it failed on
		// chain: the payer held less than the amount.
		e := env.sol.Accepted(t, settlertest.Pay{Amount: 2_000_000_000_000})
		text := e.Transaction
		stx, err := solanago.TransactionFromBase64(text)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := stx.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		if err := env.claims.Claims.Record(context.Background(), []string{e.ID}, chains.Tx{Hash: stx.Signatures[0].String(), Raw: raw}); err != nil {
			t.Fatal(err)
		}
		if _, err := env.sol.LN.RPC().SendTransactionWithOpts(context.Background(), stx, rpc.TransactionOpts{SkipPreflight: true}); err != nil {
			t.Fatalf("send without preflight: %v", err)
		}
		r := env.submit(t, e)[0]
		wantReasonErr(t, r.Err, h402.ReasonInsufficientFunds)
		if got := env.proxy.Sends()[stx.Signatures[0].String()]; got != 0 {
			t.Errorf("sends through the settler: got %d, want 0", got)
		}
	})
}

func TestSubmitExpiredBlockhash(t *testing.T) {
	t.Parallel()
	env := newSubmitEnv(t)
	old := env.sol.Blockhash(t)
	fresh := env.sol.Accepted(t, settlertest.Pay{Blockhash: old, FeePayer: true})
	recorded := env.sol.Accepted(t, settlertest.Pay{Blockhash: old})
	env.claims.AfterRecord = func([]string, chains.Tx) error { return errors.New("simulated crash") }
	wantRetryable(t, env.submit(t, recorded)[0].Err)
	env.claims.AfterRecord = nil
	if _, err := env.sol.LN.AdvanceSlots(context.Background(), uint64(env.sol.LN.Manifest.BlockhashExpirySlots)+1); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		e    *events.PaymentAccepted
	}{
		{"first broadcast", fresh},
		{"recorded, never sent", recorded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := env.submit(t, tt.e)[0]
			wantReasonErr(t, r.Err, h402.ReasonInvalidTransactionState)
			var herr *h402.Error
			errors.As(r.Err, &herr)
			if herr.Message != "blockhash expired before the transaction landed" {
				t.Errorf("message: got %q, want the blockhash expiry", herr.Message)
			}
		})
	}
}

func TestSubmitPermanentFailures(t *testing.T) {
	t.Parallel()
	env := newSubmitEnv(t)
	payer := env.sol.LN.Payers()[1]
	tampered := env.sol.Accepted(t, settlertest.Pay{Payer: payer})
	stx, err := solanago.TransactionFromBase64(tampered.Transaction)
	if err != nil {
		t.Fatal(err)
	}
	stx.Signatures[0][5] ^= 0xff
	tampered.Transaction, _ = stx.ToBase64()
	tests := []struct {
		name string
		e    *events.PaymentAccepted
		want h402.Reason
	}{
		{"payer lacks the tokens, facilitator pays the fee", env.sol.Accepted(t, settlertest.Pay{Payer: payer, Amount: 2_000_000_000_000, FeePayer: true}), h402.ReasonInsufficientFunds},
		{"payer lacks the tokens and pays the fee", env.sol.Accepted(t, settlertest.Pay{Payer: payer, Amount: 2_000_000_000_000}), h402.ReasonInsufficientFunds},
		{"signature does not verify", tampered, h402.ReasonSolanaSignature},
		{"not a transaction", withTransaction(env.sol.Accepted(t, settlertest.Pay{}), "bm90IGpzb24"), h402.ReasonSolanaTransaction},
	}
	var batch []*events.PaymentAccepted
	for _, tt := range tests {
		batch = append(batch, tt.e)
	}
	res := env.submit(t, batch...)
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantReasonErr(t, res[i].Err, tt.want)
		})
	}
}

func withTransaction(e *events.PaymentAccepted, text string) *events.PaymentAccepted {
	e.Transaction = text
	return e
}

func TestSubmitEndpointDown(t *testing.T) {
	t.Parallel()
	env := newSubmitEnv(t)
	e := env.sol.Accepted(t, settlertest.Pay{FeePayer: true})
	env.proxy.Down(t)
	for i := 0; i < 3; i++ {
		r := env.submit(t, e)[0]
		wantRetryable(t, r.Err)
		if !errors.Is(r.Err, failover.ErrUnavailable) {
			t.Errorf("attempt %d: got %v, want it to wrap failover.ErrUnavailable", i+1, r.Err)
		}
	}
	if got := env.claims.Records()[e.ID]; got != 1 {
		t.Errorf("records while down: got %d, want 1 (recorded once, before the first send)", got)
	}
	env.proxy.Up(t)
	tx := wantSubmitted(t, env.submit(t, e)[0])
	env.landed(t, tx.Hash)
	if got := env.proxy.Sends()[tx.Hash]; got != 1 {
		t.Errorf("sends: got %d, want 1", got)
	}
}

func TestNewSubmitterKeys(t *testing.T) {
	t.Parallel()
	ours, stranger := solanago.NewWallet().PrivateKey, solanago.NewWallet().PrivateKey
	network := config.Network{Namespace: h402.NamespaceSolana, NetworkID: "localnet", RPC: []string{"http://127.0.0.1:1"}, FeePayers: []string{ours.PublicKey().String()}}
	pool, err := solana.Dial(&network, failover.Settings{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		keys    []solanago.PrivateKey
		wantErr bool
	}{
		{"every fee payer has its key", []solanago.PrivateKey{ours}, false},
		{"a configured fee payer has no key", nil, true},
		{"a key that is not a configured fee payer", []solanago.PrivateKey{ours, stranger}, true},
		{"a malformed key", []solanago.PrivateKey{ours, ours[:10]}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := solana.NewSubmitter(&network, pool, solana.SubmitOptions{FeePayers: tt.keys})
			if (err != nil) != tt.wantErr {
				t.Fatalf("got err %v, want error %v", err, tt.wantErr)
			}
			if err != nil && containsKey(err.Error(), ours, stranger) {
				t.Errorf("error %q shows a private key", err)
			}
		})
	}
}

func containsKey(s string, keys ...solanago.PrivateKey) bool {
	for _, k := range keys {
		if len(k) == 64 && strings.Contains(s, k.String()) {
			return true
		}
	}
	return false
}
