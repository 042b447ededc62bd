package buyer

import (
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/crypto"
	solanago "github.com/gagliardetto/solana-go"
)

func TestLoadKeys(t *testing.T) {
	dir := t.TempDir()
	ek := newKey(t)
	evmHex := "0x" + hex.EncodeToString(crypto.FromECDSA(ek))
	evmFile := filepath.Join(dir, "evm.key")
	os.WriteFile(evmFile, []byte(evmHex+"\n"), 0o600)
	if k, err := LoadEVMKey(evmFile, ""); err != nil || !k.Equal(ek) {
		t.Fatalf("EVM key from file: %v", err)
	}
	t.Setenv("BUYER_TEST_EVM_KEY", evmHex)
	if k, err := LoadEVMKey("", "BUYER_TEST_EVM_KEY"); err != nil || !k.Equal(ek) {
		t.Fatalf("EVM key from env: %v", err)
	}

	sk := solanago.NewWallet().PrivateKey
	ints := make([]int, len(sk))
	for i, b := range sk {
		ints[i] = int(b)
	}
	arr, _ := json.Marshal(ints)
	solFile := filepath.Join(dir, "sol.json")
	os.WriteFile(solFile, arr, 0o600)
	if k, err := LoadSolanaKey(solFile, ""); err != nil || k.String() != sk.String() {
		t.Fatalf("Solana keygen file: %v", err)
	}
	t.Setenv("BUYER_TEST_SOL_KEY", sk.String())
	if k, err := LoadSolanaKey("", "BUYER_TEST_SOL_KEY"); err != nil || k.String() != sk.String() {
		t.Fatalf("Solana base58 from env: %v", err)
	}

	// Bad keys: the error never repeats the secret.
	secret := "0xnot-a-key-but-a-secret-" + strings.Repeat("z", 20)
	t.Setenv("BUYER_TEST_BAD", secret)
	for _, load := range []func() error{
		func() error { _, err := LoadEVMKey("", "BUYER_TEST_BAD"); return err },
		func() error { _, err := LoadSolanaKey("", "BUYER_TEST_BAD"); return err },
	} {
		err := load()
		if err == nil || strings.Contains(err.Error(), secret[2:12]) {
			t.Errorf("got %v, want an error that does not quote the key", err)
		}
	}
	if _, err := LoadEVMKey("", "BUYER_TEST_UNSET"); err == nil || !strings.Contains(err.Error(), "$BUYER_TEST_UNSET is empty") {
		t.Errorf("unset variable: got %v", err)
	}
}
