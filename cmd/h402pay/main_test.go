package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/crypto"
	solanago "github.com/gagliardetto/solana-go"

	"github.com/h402/settlement/pkg/chains/evm"
	"github.com/h402/settlement/pkg/chains/solana"
	"github.com/h402/settlement/pkg/config"
	"github.com/h402/settlement/pkg/failover"
	"github.com/h402/settlement/pkg/h402"
	"github.com/h402/settlement/pkg/soldev"
	"github.com/h402/settlement/pkg/testenv"
	"github.com/h402/settlement/pkg/verify"
)

const token = "0x5FbDB2315678afecb367f032d93F642f64180aa3"

func testConfig(t *testing.T, feePayer string) *config.Config {
	t.Helper()
	y := `
networks:
  - namespace: evm
    networkId: "1337"
    rpc: ["http://127.0.0.1:8545"]
    tokens:
      - {symbol: USDC, address: "` + token + `", decimals: 6, kind: eip3009, eip712Name: USD Coin, eip712Version: "2"}
      - {symbol: ETH, address: "0x0000000000000000000000000000000000000000", decimals: 18, kind: native}
  - namespace: solana
    networkId: localnet
    caip2: solana:localnet
    rpc: ["http://127.0.0.1:8899"]
    feePayers: ["` + feePayer + `"]
    tokens:
      - {symbol: USDC, address: "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v", decimals: 6, kind: spl}
`
	c, err := config.Parse([]byte(y), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func pay(t *testing.T, reqJSON string, key string, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := run(context.Background(), append([]string{"-requirements", "-"}, args...), strings.NewReader(reqJSON), &out, env(map[string]string{"H402_PAYER_KEY": key}))
	return strings.TrimSpace(out.String()), err
}

// decodePrinted reads the requirements h402pay was given and the header it
// printed.
func decodePrinted(t *testing.T, reqJSON, header string) (*h402.PaymentRequirements, *h402.PaymentPayload) {
	t.Helper()
	var req h402.PaymentRequirements
	if err := json.Unmarshal([]byte(reqJSON), &req); err != nil {
		t.Fatal(err)
	}
	p, err := h402.DecodePaymentHeader(header)
	if err != nil {
		t.Fatalf("printed header does not decode: %v", err)
	}
	return &req, p
}

func verifyHeader(t *testing.T, c *config.Config, reqJSON, header string) {
	t.Helper()
	req, p := decodePrinted(t, reqJSON, header)
	v := verify.New(c, evm.NewVerifier(), solana.NewVerifier())
	if _, _, err := v.Verify(req, p, time.Now()); err != nil {
		t.Fatalf("printed header does not verify: %v", err)
	}
}

func TestEVMHeaders(t *testing.T) {
	key, _ := crypto.GenerateKey()
	hexKey := hex.EncodeToString(crypto.FromECDSA(key))
	c := testConfig(t, solanago.NewWallet().PublicKey().String())
	usdc := `{"namespace":"evm","scheme":"exact","networkId":"1337","tokenAddress":"` + token + `","payToAddress":"0x00000000000000000000000000000000000000aa","amountRequired":"0.01","amountRequiredFormat":"humanReadable","tokenDecimals":6,"resource":"https://api.example/x","extra":{"name":"USD Coin","version":"2"}}`
	eth := `{"namespace":"evm","scheme":"exact","networkId":"1337","tokenAddress":"0x0000000000000000000000000000000000000000","payToAddress":"0x00000000000000000000000000000000000000aa","amountRequired":"1000","amountRequiredFormat":"smallestUnit","resource":"https://api.example/x"}`
	tests := []struct {
		name string
		req  string
		args []string
	}{
		{"authorization from requirement alone", usdc, nil},
		{"authorization with config", usdc, []string{"-config", writeConfig(t)}},
		{"authorization in a 402 body", `{"h402Version":1,"error":"pay","accepts":[` + eth + `,` + usdc + `]}`, []string{"-accept", "1"}},
		{"native signedTransaction", eth, []string{"-type", "signedTransaction", "-nonce", "0"}},
		{"erc20 signedTransaction", usdc, []string{"-type", "signedTransaction", "-nonce", "3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			header, err := pay(t, tt.req, hexKey, tt.args...)
			if err != nil {
				t.Fatalf("run: %v", err)
			}
			req := tt.req
			if strings.Contains(req, "accepts") {
				req = usdc
			}
			cc := c
			if strings.Contains(strings.Join(tt.args, " "), "signedTransaction") && strings.Contains(req, token) {
				cc = testConfig(t, solanago.NewWallet().PublicKey().String())
				cc.Networks[0].Tokens[0].Kind = config.KindERC20
			}
			verifyHeader(t, cc, req, header)
		})
	}
}

func writeConfig(t *testing.T) string {
	t.Helper()
	path := t.TempDir() + "/c.yaml"
	y := `networks:
  - namespace: evm
    networkId: "1337"
    rpc: ["http://127.0.0.1:8545"]
    tokens:
      - {symbol: USDC, address: "` + token + `", decimals: 6, kind: eip3009, eip712Name: USD Coin, eip712Version: "2"}
`
	if err := os.WriteFile(path, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestSolanaHeaders(t *testing.T) {
	payer := solanago.NewWallet().PrivateKey
	feePayer := solanago.NewWallet().PublicKey().String()
	c := testConfig(t, feePayer)
	seller := solanago.NewWallet().PublicKey().String()
	base := `{"namespace":"solana","scheme":"exact","networkId":"localnet","tokenAddress":"EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v","payToAddress":"` + seller + `","amountRequired":"250000","amountRequiredFormat":"smallestUnit","tokenDecimals":6,"resource":"https://api.example/x"`
	bh := solanago.HashFromBytes(bytes.Repeat([]byte{7}, 32)).String()
	keyJSON, _ := json.Marshal(toInts(payer))
	tests := []struct {
		name, req, key string
	}{
		{"client pays fees, base58 key", base + `}`, payer.String()},
		{"facilitator fee payer, keygen JSON key", base + `,"extra":{"feePayer":"` + feePayer + `"}}`, string(keyJSON)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			header, err := pay(t, tt.req, tt.key, "-blockhash", bh)
			if err != nil {
				t.Fatalf("run: %v", err)
			}
			verifyHeader(t, c, tt.req, header)
		})
	}
}

func toInts(b []byte) []int {
	out := make([]int, len(b))
	for i, v := range b {
		out[i] = int(v)
	}
	return out
}

func TestErrors(t *testing.T) {
	key, _ := crypto.GenerateKey()
	hexKey := hex.EncodeToString(crypto.FromECDSA(key))
	usdc := `{"namespace":"evm","scheme":"exact","networkId":"1337","tokenAddress":"` + token + `","payToAddress":"0x00000000000000000000000000000000000000aa","amountRequired":"10000","amountRequiredFormat":"smallestUnit","extra":{"name":"USD Coin","version":"2"}}`
	sol := `{"namespace":"solana","scheme":"exact","networkId":"localnet","tokenAddress":"EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v","payToAddress":"11111111111111111111111111111112","amountRequired":"1","amountRequiredFormat":"smallestUnit"}`
	secret := "not-a-key-but-secret-looking-value"
	tests := []struct {
		name, req, key string
		args           []string
		want           string
	}{
		{"no key", usdc, "", nil, "no payer key"},
		{"bad evm key not echoed", usdc, secret, nil, "not a hex secp256k1 private key"},
		{"bad solana key not echoed", sol, secret, []string{"-blockhash", "11111111111111111111111111111111"}, "not a base58 ed25519 secret key"},
		{"signAndSend is not client-signed here", usdc, hexKey, []string{"-type", "signAndSendTransaction"}, "signs authorization or signedTransaction"},
		{"signed tx needs a nonce", usdc, hexKey, []string{"-type", "signedTransaction"}, "needs -nonce or -rpc"},
		{"solana needs a blockhash", sol, solanago.NewWallet().PrivateKey.String(), nil, "needs -blockhash or -rpc"},
		{"accept out of range", `{"accepts":[` + usdc + `]}`, hexKey, []string{"-accept", "2"}, "has 1 requirements"},
		{"not requirements", `[1,2]`, hexKey, nil, "neither a 402 body nor PaymentRequirements"},
		{"humanReadable without decimals", strings.Replace(usdc, `"smallestUnit"`, `"humanReadable"`, 1), hexKey, nil, "no tokenDecimals"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := pay(t, tt.req, tt.key, tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("the error echoes the key: %v", err)
			}
		})
	}
}

// TestSolanaSignAndSend: h402pay sends a Solana payment itself on the
// localnet, waits for it, and prints a signAndSendTransaction header bound
// to the resource by the payer, which the facilitator's checks accept.
func TestSolanaSignAndSend(t *testing.T) {
	ln := testenv.StartSolana(t, soldev.Config{SlotInterval: 20 * time.Millisecond})
	network := testenv.SolanaNetwork(ln)
	payer := ln.Payers()[0]
	reqJSON := `{"namespace":"solana","scheme":"exact","networkId":"localnet","tokenAddress":"` + network.Tokens[0].Address + `","payToAddress":"` + ln.Seller().String() +
		`","amountRequired":"1234","amountRequiredFormat":"smallestUnit","tokenDecimals":6,"resource":"https://api.example/x"}`
	header, err := pay(t, reqJSON, payer.String(), "-type", "signAndSendTransaction", "-rpc", ln.URL(), "-wait", "30s")
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	req, p := decodePrinted(t, reqJSON, header)
	c := &config.Config{Networks: []config.Network{network}}
	c.Default()
	r, err := verify.New(c, solana.NewVerifier()).Prepare(req, p, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	pool, err := solana.Dial(&network, failover.Settings{})
	if err != nil {
		t.Fatal(err)
	}
	pm, err := solana.NewVerifier().Verify(r)
	if err != nil {
		t.Fatalf("local verify: %v", err)
	}
	if _, err := solana.NewStateChecker(&network, pool, solana.StateOptions{}).CheckState(context.Background(), r, pm); err != nil {
		t.Fatalf("chain check: %v", err)
	}
	if pm.Payer != payer.PublicKey().String() {
		t.Errorf("payer %s, want %s", pm.Payer, payer.PublicKey())
	}
}
