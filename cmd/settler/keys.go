package main

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	solanago "github.com/gagliardetto/solana-go"
)

// EnvSolanaFeePayerKeys holds Solana fee-payer private keys (base58),
// separated by commas or white space.
const EnvSolanaFeePayerKeys = "H402_SOLANA_FEE_PAYER_KEYS"

// loadSolanaKeys reads private keys from file (one per line: base58, or a
// solana-keygen JSON array; blank lines and # comments ignored) and from
// the environment. Errors name the line, never the key.
func loadSolanaKeys(file string, lookup func(string) (string, bool)) ([]solanago.PrivateKey, error) {
	var keys []solanago.PrivateKey
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("settler.solanaFeePayerKeysFile: %w", err)
		}
		for i, line := range strings.Split(string(b), "\n") {
			line = strings.TrimSpace(line)
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			k, err := parseSolanaKey(line)
			if err != nil {
				return nil, fmt.Errorf("settler.solanaFeePayerKeysFile line %d: %w", i+1, err)
			}
			keys = append(keys, k)
		}
	}
	if v, ok := lookup(EnvSolanaFeePayerKeys); ok {
		for i, f := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\t' }) {
			k, err := parseSolanaKey(f)
			if err != nil {
				return nil, fmt.Errorf("%s key %d: %w", EnvSolanaFeePayerKeys, i+1, err)
			}
			keys = append(keys, k)
		}
	}
	return keys, nil
}

// parseSolanaKey reads one private key; its error never contains the input.
func parseSolanaKey(s string) (solanago.PrivateKey, error) {
	var k solanago.PrivateKey
	if strings.HasPrefix(s, "[") {
		var raw []byte
		var nums []int
		if err := json.Unmarshal([]byte(s), &nums); err != nil {
			return nil, fmt.Errorf("not a JSON array of 64 bytes")
		}
		for _, n := range nums {
			if n < 0 || n > 255 {
				return nil, fmt.Errorf("not a JSON array of 64 bytes")
			}
			raw = append(raw, byte(n))
		}
		k = solanago.PrivateKey(raw)
	} else {
		var err error
		if k, err = solanago.PrivateKeyFromBase58(s); err != nil {
			return nil, fmt.Errorf("not a base58 private key")
		}
	}
	if len(k) != 64 || k.Validate() != nil {
		return nil, fmt.Errorf("not a 64-byte ed25519 private key (seed and public key)")
	}
	// The second half must be the seed's public key, or every signature
	// would be made for another key than the one announced.
	if !bytes.Equal(ed25519.NewKeyFromSeed(k[:ed25519.SeedSize]), k) {
		return nil, fmt.Errorf("the public half does not match the seed")
	}
	return k, nil
}
