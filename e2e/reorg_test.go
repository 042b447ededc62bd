package e2e

import (
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"math/big"
	"net/http"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/h402/settlement/pkg/chains/evm"
	"github.com/h402/settlement/pkg/contracts"
	"github.com/h402/settlement/pkg/events"
	"github.com/h402/settlement/pkg/evmdev"
	"github.com/h402/settlement/pkg/h402"
)

// paymentStatus reads GET /payments/{id}.
func (p *pipeline) paymentStatus(t *testing.T, id string) (status, bool) {
	t.Helper()
	a := p.get(t, "/payments/"+id)
	if a.Status != http.StatusOK {
		return status{}, false
	}
	var s status
	if err := json.Unmarshal(a.Raw, &s); err != nil {
		t.Fatalf("GET /payments/%s: %v: %s", id, err, a.Raw)
	}
	return s, true
}

// waitStates waits until every payment is in one of states, calling tick
// (which may seal a block) between looks.
func (p *pipeline) waitStates(t *testing.T, ids []string, timeout time.Duration, tick func(), states ...events.State) map[string]status {
	t.Helper()
	out := map[string]status{}
	eventually(t, timeout, "payments reach "+string(states[0]), func() (bool, string) {
		for _, id := range ids {
			s, ok := p.paymentStatus(t, id)
			in := false
			for _, st := range states {
				in = in || s.State == st
			}
			if !ok || !in {
				if tick != nil {
					tick()
				}
				return false, id + " is " + string(s.State)
			}
			out[id] = s
		}
		return true, ""
	})
	return out
}

// payAuthorizations settles one EIP-3009 payment per key to seller and
// returns the payment ids and authorization nonces.
func (p *pipeline) payAuthorizations(t *testing.T, keys []*ecdsa.PrivateKey, seller common.Address, amount *big.Int) ([]string, [][32]byte) {
	t.Helper()
	var ids []string
	var nonces [][32]byte
	for _, key := range keys {
		req := p.evmReq(seller, amount)
		pp, header, err := evm.SignAuthorization(&req, key, p.usdc(), time.Now(), evm.AuthorizationOptions{})
		if err != nil {
			t.Fatal(err)
		}
		a := p.post(t, "/settle", h402Body(t, header, req))
		if a.Status != http.StatusOK || a.Body["success"] != true {
			t.Fatalf("settle: %s", a)
		}
		ids = append(ids, a.str("paymentId"))
		nonces = append(nonces, common.HexToHash(pp.Payload.(*h402.EVMAuthorizationPayload).Authorization.Nonce))
	}
	return ids, nonces
}

// cancelAuthorization sends the payer's EIP-3009 cancelAuthorization with a
// tip far above the settler's, so the miner puts it first in the next block.
func (p *pipeline) cancelAuthorization(t *testing.T, key *ecdsa.PrivateKey, nonce [32]byte) common.Hash {
	t.Helper()
	tok := p.usdc()
	sep := evm.Domain{Name: tok.EIP712Name, Version: tok.EIP712Version, ChainID: p.evm.ChainID(), VerifyingContract: p.evm.Token()}.Separator()
	authorizer := crypto.PubkeyToAddress(key.PublicKey)
	typeHash := crypto.Keccak256Hash([]byte("CancelAuthorization(address authorizer,bytes32 nonce)"))
	structHash := crypto.Keccak256Hash(typeHash[:], common.LeftPadBytes(authorizer[:], 32), nonce[:])
	digest := crypto.Keccak256Hash([]byte{0x19, 0x01}, sep[:], structHash[:])
	sig, err := crypto.Sign(digest[:], key)
	if err != nil {
		t.Fatal(err)
	}
	var r, s [32]byte
	copy(r[:], sig[:32])
	copy(s[:], sig[32:64])
	data := contracts.NewTestUSDC().PackCancelAuthorization(authorizer, nonce, sig[64]+27, r, s)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	token := p.evm.Token()
	tx := types.NewTx(&types.DynamicFeeTx{
		ChainID: p.evm.ChainID(), Nonce: p.pendingNonce(t, key), To: &token, Data: data, Gas: 200_000,
		GasTipCap: big.NewInt(500_000_000_000), GasFeeCap: big.NewInt(1_000_000_000_000),
	})
	signed, err := types.SignTx(tx, types.LatestSignerForChainID(p.evm.ChainID()), key)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.evm.Client().SendTransaction(ctx, signed); err != nil {
		t.Fatalf("send cancelAuthorization: %v", err)
	}
	return signed.Hash()
}

// TestWatcherBatchWithCanceledAuthorizationAndReorg, on a dev chain that
// seals only when the test says so:
//   - a batch carrying one payment whose authorization the payer canceled
//     after the settler simulated it (the cancel mined first in the same
//     block) finalizes the others and fails that one (nonce_already_used,
//     with a failed receipt), although the batch transaction succeeded;
//   - a reorg that drops a confirmed batch sends its payments back
//     (`accepted` after `confirmed`), the settler puts them on chain again,
//     and each finalizes exactly once with one receipt, paid once.
func TestWatcherBatchWithCanceledAuthorizationAndReorg(t *testing.T) {
	p := startPipelineWith(t, pipelineOptions{blockPeriod: 0, finalityDepth: 3})
	receipts := p.watchReceipts(t)
	p.startWatcher(t, "watcher", t.TempDir()+"/ledger.db")
	payers := p.evm.Payers()
	amount := big.NewInt(25_000)
	seal := func() { p.evm.Commit() }
	outer := t // the settler outlives the first subtest

	t.Run("canceled authorization", func(t *testing.T) {
		seller := freshAddress()
		// Paid before the settler starts, so that one fetch takes all three
		// into one batch.
		ids, nonces := p.payAuthorizations(t, payers[:3], seller, amount)
		p.startSettler(outer)
		sub := p.waitStates(t, ids, 60*time.Second, nil, events.StateSubmitted)
		batch := sub[ids[0]].TxHash
		for _, id := range ids {
			if sub[id].TxHash != batch {
				t.Fatalf("payments went into different transactions (%v); the test needs one batch", sub)
			}
		}
		p.cancelAuthorization(t, payers[1], nonces[1])
		final := p.waitStates(t, ids, 60*time.Second, seal, events.StateFinalized, events.StateFailed)
		if r := p.receipt(t, common.HexToHash(batch)); r.Status != types.ReceiptStatusSuccessful {
			t.Fatalf("batch %s status %d; the case needs a successful batch carrying a failed payment", batch, r.Status)
		}
		for i, id := range ids {
			want := events.StateFinalized
			if i == 1 {
				want = events.StateFailed
			}
			if final[id].State != want {
				t.Errorf("payment %d (%s) is %s (%s), want %s", i, id, final[id].State, final[id].Reason, want)
			}
		}
		if got := final[ids[1]].Reason; got != string(h402.ReasonNonceAlreadyUsed) {
			t.Errorf("canceled payment failed with %q, want %s", got, h402.ReasonNonceAlreadyUsed)
		}
		receipts.wait(t, ids, 30*time.Second)
		for i, id := range ids {
			rs := receipts.of(id)
			if len(rs) != 1 || (i == 1) != (rs[0].State == events.StateFailed) {
				t.Errorf("payment %d has receipts %+v, want one (failed for the canceled one)", i, rs)
			}
		}
		if got, want := p.tokenBalance(t, seller), new(big.Int).Mul(amount, big.NewInt(2)); got.Cmp(want) != 0 {
			t.Errorf("seller holds %s, want %s (two payments)", got, want)
		}
	})

	t.Run("reorg drops a confirmed batch", func(t *testing.T) {
		// The dev chain's JSON-RPC `finalized` is the last multiple of 32
		// blocks, below which no reorg may go: keep the batch above it.
		for (p.evm.Head()+1)%32 == 0 {
			seal()
		}
		seller := freshAddress()
		ids, nonces := p.payAuthorizations(t, payers[3:6], seller, amount)
		p.waitStates(t, ids, 60*time.Second, nil, events.StateSubmitted)
		seal()
		conf := p.waitStates(t, ids, 60*time.Second, nil, events.StateConfirmed)
		mined := p.receipt(t, common.HexToHash(conf[ids[0]].TxHash)).BlockNumber.Uint64()
		res, err := p.evm.Reorg(context.Background(), evmdev.ReorgOptions{Depth: p.evm.Head() - mined + 1})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("reorg from block %d removed %d transactions", res.Ancestor, len(res.Removed))
		// Sent back, settled again, final: seal blocks as the pipeline goes.
		p.waitStates(t, ids, 90*time.Second, seal, events.StateFinalized)
		trs := p.streamTransitions(t)
		for _, id := range ids {
			var states []events.State
			for _, tr := range trs[id] {
				states = append(states, tr.State)
			}
			if !sentBackAfterConfirmed(states) {
				t.Errorf("payment %s went %v; want a send-back (accepted) after confirmed", id, states)
			}
		}
		receipts.wait(t, ids, 30*time.Second)
		for i, id := range ids {
			if rs := receipts.of(id); len(rs) != 1 || rs[0].State != events.StateFinalized {
				t.Errorf("payment %d has receipts %+v, want one finalized", i, rs)
			}
			from := crypto.PubkeyToAddress(payers[3+i].PublicKey)
			if !p.authorizationUsed(t, from, nonces[i]) {
				t.Errorf("payment %d: authorization not used on the canonical chain", i)
			}
		}
		if got, want := p.tokenBalance(t, seller), new(big.Int).Mul(amount, big.NewInt(3)); got.Cmp(want) != 0 {
			t.Errorf("seller holds %s, want %s (each payment once)", got, want)
		}
	})
}

func sentBackAfterConfirmed(states []events.State) bool {
	confirmed := false
	for _, s := range states {
		if s == events.StateConfirmed {
			confirmed = true
		}
		if confirmed && s == events.StateAccepted {
			return true
		}
	}
	return false
}

// of returns the receipts seen for id.
func (rw *receiptWatch) of(id string) []events.Receipt {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	return append([]events.Receipt(nil), rw.byID[id]...)
}
