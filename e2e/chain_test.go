package e2e

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	solanago "github.com/gagliardetto/solana-go"
	"github.com/gagliardetto/solana-go/rpc"

	"github.com/h402/settlement/pkg/chains/solana"
	"github.com/h402/settlement/pkg/config"
	"github.com/h402/settlement/pkg/contracts"
)

// transferTopic is the ERC-20 Transfer event signature.
var transferTopic = crypto.Keccak256Hash([]byte("Transfer(address,address,uint256)"))

func (p *pipeline) usdc() *config.Token { return &p.cfg.Networks[0].Tokens[0] }

func (p *pipeline) call(t *testing.T, data []byte) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	token := p.evm.Token()
	out, err := p.evm.Client().CallContract(ctx, ethereum.CallMsg{To: &token, Data: data}, nil)
	if err != nil {
		t.Fatalf("eth_call on the token: %v", err)
	}
	return out
}

// tokenBalance is holder's test USDC balance at the head.
func (p *pipeline) tokenBalance(t *testing.T, holder common.Address) *big.Int {
	t.Helper()
	c := contracts.NewTestUSDC()
	b, err := c.UnpackBalanceOf(p.call(t, c.PackBalanceOf(holder)))
	if err != nil {
		t.Fatalf("balanceOf: %v", err)
	}
	return b
}

// authorizationUsed is the token's authorizationState(from, nonce).
func (p *pipeline) authorizationUsed(t *testing.T, from common.Address, nonce [32]byte) bool {
	t.Helper()
	c := contracts.NewTestUSDC()
	used, err := c.UnpackAuthorizationState(p.call(t, c.PackAuthorizationState(from, nonce)))
	if err != nil {
		t.Fatalf("authorizationState: %v", err)
	}
	return used
}

// tokenTransfersTo counts the token's Transfer logs paying to, over the whole chain.
func (p *pipeline) tokenTransfersTo(t *testing.T, to common.Address) []types.Log {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	logs, err := p.evm.Client().FilterLogs(ctx, ethereum.FilterQuery{
		FromBlock: big.NewInt(0),
		Addresses: []common.Address{p.evm.Token()},
		Topics:    [][]common.Hash{{transferTopic}, nil, {common.BytesToHash(to.Bytes())}},
	})
	if err != nil {
		t.Fatalf("filter Transfer logs: %v", err)
	}
	return logs
}

// waitBlocks waits until the chain head is n blocks past its current one.
func (p *pipeline) waitBlocks(t *testing.T, n uint64) {
	t.Helper()
	target := p.evm.Head() + n
	eventually(t, time.Duration(n)*time.Second+30*time.Second, fmt.Sprintf("EVM head reaches %d", target), func() (bool, string) {
		h := p.evm.Head()
		return h >= target, fmt.Sprintf("head %d", h)
	})
}

// authorizationLanded checks an EIP-3009 authorization payment once
// settled: the seller was paid once, by the transaction ingest reports, and
// the authorization is used on chain.
func (p *pipeline) authorizationLanded(seller common.Address, amount *big.Int, from common.Address, nonce common.Hash) func(t *testing.T, tx string) {
	return func(t *testing.T, tx string) {
		log := p.landsOnceEVM(t, seller, amount)
		if !strings.EqualFold(log.TxHash.Hex(), tx) {
			t.Errorf("the seller was paid by tx %s, ingest reports %s", log.TxHash.Hex(), tx)
		}
		if !p.authorizationUsed(t, from, nonce) {
			t.Errorf("authorizationState(%s, %s) is false after settlement", from.Hex(), nonce.Hex())
		}
	}
}

// landsOnceEVM waits until seller holds exactly amount of test USDC (it held
// none before), lets a few more blocks pass, and checks it was paid by
// exactly one Transfer.
func (p *pipeline) landsOnceEVM(t *testing.T, seller common.Address, amount *big.Int) types.Log {
	t.Helper()
	eventually(t, 60*time.Second, "seller paid on chain", func() (bool, string) {
		b := p.tokenBalance(t, seller)
		return b.Sign() > 0, "balance " + b.String()
	})
	p.waitBlocks(t, 3)
	if b := p.tokenBalance(t, seller); b.Cmp(amount) != 0 {
		t.Errorf("seller balance: got %s, want exactly %s (paid once)", b, amount)
	}
	logs := p.tokenTransfersTo(t, seller)
	if len(logs) != 1 {
		t.Fatalf("Transfer logs to the seller: got %d, want exactly 1: %+v", len(logs), logs)
	}
	if v := new(big.Int).SetBytes(logs[0].Data); v.Cmp(amount) != 0 {
		t.Errorf("Transfer value: got %s, want %s", v, amount)
	}
	return logs[0]
}

// receipt waits for a mined receipt of hash.
func (p *pipeline) receipt(t *testing.T, hash common.Hash) *types.Receipt {
	t.Helper()
	var r *types.Receipt
	eventually(t, 30*time.Second, "receipt of "+hash.Hex(), func() (bool, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var err error
		r, err = p.evm.Client().TransactionReceipt(ctx, hash)
		if errors.Is(err, ethereum.NotFound) {
			return false, "not mined"
		}
		if err != nil {
			return false, err.Error()
		}
		return true, ""
	})
	return r
}

// freshAddress is a new EVM address that holds nothing.
func freshAddress() common.Address {
	k, _ := crypto.GenerateKey()
	return crypto.PubkeyToAddress(k.PublicKey)
}

func keyHex(k *ecdsa.PrivateKey) string { return "0x" + common.Bytes2Hex(crypto.FromECDSA(k)) }

// Solana

func (p *pipeline) solNetwork() *config.Network { return &p.cfg.Networks[1] }

func (p *pipeline) solUSDC() *config.Token { return &p.solNetwork().Tokens[0] }

// splBalance is owner's balance on its associated account of the network's
// USDC mint (0 when the account does not exist).
func (p *pipeline) splBalance(t *testing.T, owner solanago.PublicKey) uint64 {
	t.Helper()
	mint := solanago.MustPublicKeyFromBase58(p.solUSDC().Address)
	ata, err := solana.AssociatedTokenAddress(owner, mint, solana.TokenProgramID)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := p.sol.RPC().GetTokenAccountBalance(ctx, ata, rpc.CommitmentConfirmed)
	if err != nil || out == nil || out.Value == nil {
		return 0 // no account yet
	}
	var v uint64
	if _, err := fmt.Sscan(out.Value.Amount, &v); err != nil {
		t.Fatalf("token balance %q: %v", out.Value.Amount, err)
	}
	return v
}

// landsOnceSolana waits until seller holds more than before, checks the
// settlement transaction succeeded on chain, lets more slots pass, and
// checks the seller holds exactly before + amount.
func (p *pipeline) landsOnceSolana(t *testing.T, seller solanago.PublicKey, before, amount uint64, txSig string) {
	t.Helper()
	eventually(t, 60*time.Second, "seller paid on chain", func() (bool, string) {
		b := p.splBalance(t, seller)
		return b > before, fmt.Sprintf("balance %d", b)
	})
	sig, err := solanago.SignatureFromBase58(txSig)
	if err != nil {
		t.Fatalf("transaction %q is not a Solana signature: %v", txSig, err)
	}
	eventually(t, 60*time.Second, "settlement transaction confirmed", func() (bool, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		out, err := p.sol.RPC().GetSignatureStatuses(ctx, true, sig)
		if err != nil || out == nil || len(out.Value) == 0 || out.Value[0] == nil {
			return false, fmt.Sprintf("status %v %v", out, err)
		}
		if out.Value[0].Err != nil {
			t.Fatalf("settlement transaction %s failed on chain: %v", txSig, out.Value[0].Err)
		}
		return out.Value[0].ConfirmationStatus == rpc.ConfirmationStatusConfirmed || out.Value[0].ConfirmationStatus == rpc.ConfirmationStatusFinalized, string(out.Value[0].ConfirmationStatus)
	})
	// Some slots later the seller still holds exactly one payment.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start, err := p.sol.RPC().GetSlot(ctx, rpc.CommitmentProcessed)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "10 more slots", func() (bool, string) {
		s, err := p.sol.RPC().GetSlot(ctx, rpc.CommitmentProcessed)
		return err == nil && s >= start+10, fmt.Sprintf("slot %d, %v", s, err)
	})
	if b := p.splBalance(t, seller); b != before+amount {
		t.Errorf("seller balance: got %d, want exactly %d + %d (paid once)", b, before, amount)
	}
}
