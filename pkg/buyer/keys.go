package buyer

import (
	"crypto/ecdsa"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/ethereum/go-ethereum/crypto"
	solanago "github.com/gagliardetto/solana-go"
)

// readSecret reads a key from path, or else from the environment variable
// env. Errors name the source, never the content.
func readSecret(path, env string) (string, error) {
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return "", fmt.Errorf("read key file: %w", err)
		}
		return strings.TrimSpace(string(b)), nil
	}
	if env != "" {
		if v := strings.TrimSpace(os.Getenv(env)); v != "" {
			return v, nil
		}
		return "", fmt.Errorf("no key: the key file is not given and $%s is empty", env)
	}
	return "", errors.New("no key: give a key file or an environment variable")
}

// LoadEVMKey reads a hex secp256k1 private key (0x optional) from the file
// at path, or when path is "" from the environment variable env (as
// cmd/h402pay: a file or the environment, never a flag).
func LoadEVMKey(path, env string) (*ecdsa.PrivateKey, error) {
	raw, err := readSecret(path, env)
	if err != nil {
		return nil, err
	}
	k, err := crypto.HexToECDSA(strings.TrimPrefix(strings.TrimPrefix(raw, "0x"), "0X"))
	if err != nil {
		return nil, errors.New("the EVM key is not a hex secp256k1 private key") // never echo the key
	}
	return k, nil
}

// LoadSolanaKey reads an ed25519 secret key, base58 or a solana-keygen JSON
// array of 64 bytes, from the file at path or else from env.
func LoadSolanaKey(path, env string) (solanago.PrivateKey, error) {
	raw, err := readSecret(path, env)
	if err != nil {
		return nil, err
	}
	return ParseSolanaKey(raw)
}

// ParseSolanaKey parses a base58 or solana-keygen JSON secret key.
func ParseSolanaKey(raw string) (solanago.PrivateKey, error) {
	if strings.HasPrefix(raw, "[") {
		var ints []int
		if err := json.Unmarshal([]byte(raw), &ints); err != nil || len(ints) != 64 {
			return nil, errors.New("the Solana key is not a 64-byte solana-keygen JSON array")
		}
		b := make([]byte, 64)
		for i, v := range ints {
			if v < 0 || v > 255 {
				return nil, errors.New("the Solana key is not a 64-byte solana-keygen JSON array")
			}
			b[i] = byte(v)
		}
		k := solanago.PrivateKey(b)
		if k.Validate() != nil {
			return nil, errors.New("the Solana key's public half does not match its secret")
		}
		return k, nil
	}
	k, err := solanago.PrivateKeyFromBase58(raw)
	if err != nil || len(k) != 64 || k.Validate() != nil {
		return nil, errors.New("the Solana key is not a base58 ed25519 secret key")
	}
	return k, nil
}
