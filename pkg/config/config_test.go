package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/h402/settlement/pkg/h402"
)

const validYAML = `
networks:
  - namespace: evm
    networkId: "84532"
    x402Name: base-sepolia
    rpc: ["${EVM_RPC}", "http://127.0.0.1:8546"]
    tokens:
      - {symbol: USDC, address: "0x036CbD53842c5426634e7929541eC2318f3dCF7e", decimals: 6, kind: eip3009, eip712Name: USDC, eip712Version: "2"}
  - namespace: solana
    networkId: localnet
    caip2: solana:localnet
    rpc: ["${SOL_RPC:-http://127.0.0.1:8899}"]
    feePayers: ["9xQeWvG816bUx9EPjHmaT23yvVM2ZWbrrpZb9PusVFin"]
    finality: {commitment: confirmed}
    tokens:
      - {symbol: USDC, address: "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v", decimals: 6, kind: spl}
      - {symbol: SOL, address: "11111111111111111111111111111111", decimals: 9, kind: native}
verify:
  maxValidity: 10m
`

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestParseValid(t *testing.T) {
	c, err := Parse([]byte(validYAML), env(map[string]string{"EVM_RPC": "https://rpc.example/key"}))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	evm, err := c.Networks.Lookup(h402.NamespaceEVM, "84532")
	if err != nil {
		t.Fatalf("Lookup evm: %v", err)
	}
	if got, want := evm.RPC[0], "https://rpc.example/key"; got != want {
		t.Errorf("rpc[0] = %q, want %q", got, want)
	}
	if got, want := evm.CAIP2, "eip155:84532"; got != want {
		t.Errorf("default caip2 = %q, want %q", got, want)
	}
	if got, want := evm.Finality.Commitment, "finalized"; got != want {
		t.Errorf("default commitment = %q, want %q", got, want)
	}
	sol, err := c.Networks.LookupCAIP2("solana:localnet")
	if err != nil {
		t.Fatalf("LookupCAIP2: %v", err)
	}
	if got, want := sol.RPC[0], "http://127.0.0.1:8899"; got != want {
		t.Errorf("default-expanded rpc = %q, want %q", got, want)
	}
	if got, want := time.Duration(c.Verify.MaxValidity), 10*time.Minute; got != want {
		t.Errorf("maxValidity = %v, want %v", got, want)
	}
	if got, want := time.Duration(c.Verify.MinValidBeforeMargin), 6*time.Second; got != want {
		t.Errorf("default minValidBeforeMargin = %v, want %v", got, want)
	}
	if got, want := time.Duration(c.Verify.ClientBroadcastMaxAge), 5*time.Minute; got != want {
		t.Errorf("default clientBroadcastMaxAge = %v, want %v", got, want)
	}
	if _, err := c.Networks.LookupX402Name("base-sepolia"); err != nil {
		t.Errorf("LookupX402Name: %v", err)
	}
}

func TestTokenLookup(t *testing.T) {
	c, err := Parse([]byte(validYAML), env(map[string]string{"EVM_RPC": "http://x"}))
	if err != nil {
		t.Fatal(err)
	}
	evm, _ := c.Networks.Lookup(h402.NamespaceEVM, "84532")
	sol, _ := c.Networks.Lookup(h402.NamespaceSolana, "localnet")
	tests := []struct {
		name    string
		net     *Network
		address string
		want    h402.Reason // "" = found
	}{
		{"evm exact case", evm, "0x036CbD53842c5426634e7929541eC2318f3dCF7e", ""},
		{"evm lower case", evm, "0x036cbd53842c5426634e7929541ec2318f3dcf7e", ""},
		{"evm unknown", evm, "0x0000000000000000000000000000000000000001", h402.ReasonTokenNotSupported},
		{"solana exact", sol, "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v", ""},
		{"solana case differs", sol, "epjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v", h402.ReasonTokenNotSupported},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.net.Token(tt.address)
			if got := h402.ReasonOf(err, ""); got != tt.want {
				t.Errorf("Token(%q) reason = %q, want %q (err %v)", tt.address, got, tt.want, err)
			}
		})
	}
	_, err = c.Networks.Lookup(h402.NamespaceEVM, "1")
	if got := h402.ReasonOf(err, ""); got != h402.ReasonInvalidNetwork {
		t.Errorf("Lookup unknown network reason = %q, want %q", got, h402.ReasonInvalidNetwork)
	}
}

func TestValidateErrors(t *testing.T) {
	tests := []struct {
		name string
		edit func(string) string
		want string // substring of the error
	}{
		{"bad namespace", func(s string) string { return strings.Replace(s, "namespace: evm", "namespace: arkade", 1) }, `networks[0].namespace: must be evm or solana (got "arkade")`},
		{"bad chain id", func(s string) string { return strings.Replace(s, `networkId: "84532"`, `networkId: "base"`, 1) }, `networks[0].networkId: an EVM network id is a positive decimal chain id (got "base")`},
		{"bad solana network", func(s string) string { return strings.Replace(s, "networkId: localnet", "networkId: moon", 1) }, `networks[1].networkId`},
		{"bad evm address", func(s string) string {
			return strings.Replace(s, "0x036CbD53842c5426634e7929541eC2318f3dCF7e", "0x123", 1)
		}, `networks[0].tokens[0].address: must be a 0x-prefixed 20-byte hex address (got "0x123")`},
		{"eip3009 without domain", func(s string) string { return strings.Replace(s, `eip712Name: USDC, `, ``, 1) }, `networks[0].tokens[0].eip712Name`},
		{"bad kind", func(s string) string { return strings.Replace(s, "kind: spl", "kind: erc20", 1) }, `networks[1].tokens[0].kind: a Solana token kind is spl, token2022 or native (got "erc20")`},
		{"native sol wrong address", func(s string) string {
			return strings.Replace(s, `address: "11111111111111111111111111111111"`, `address: "So11111111111111111111111111111111111111112"`, 1)
		}, `networks[1].tokens[1].address: native SOL's address`},
		{"bad fee payer", func(s string) string {
			return strings.Replace(s, "9xQeWvG816bUx9EPjHmaT23yvVM2ZWbrrpZb9PusVFin", "not-a-key", 1)
		}, `networks[1].feePayers[0]: not a base58 public key`},
		{"bad rpc url hides secrets", func(s string) string {
			return strings.Replace(s, `"${EVM_RPC}"`, `"ftp://user:secret@host/path?apikey=secret"`, 1)
		}, `networks[0].rpc[0]: must be an http(s) or ws(s) URL (got "ftp://…@host/path?…")`},
		{"bad multicall", func(s string) string {
			return strings.Replace(s, "x402Name: base-sepolia", "x402Name: base-sepolia\n    multicall: \"0x12\"", 1)
		}, `networks[0].multicall: must be a 0x-prefixed 20-byte hex address`},
		{"bad commitment", func(s string) string { return strings.Replace(s, "commitment: confirmed", "commitment: soon", 1) }, `networks[1].finality.commitment`},
		{"validity shorter than margin", func(s string) string { return strings.Replace(s, "maxValidity: 10m", "maxValidity: 1s", 1) }, `verify.maxValidity: must be longer than minValidBeforeMargin`},
		{"duplicate network", func(s string) string {
			return strings.Replace(s, "verify:", "  - {namespace: solana, networkId: localnet, caip2: x, rpc: [\"http://a\"], tokens: [{address: \"11111111111111111111111111111111\", decimals: 9, kind: native}]}\nverify:", 1)
		}, `networks[2]: network listed twice (got solana/localnet)`},
		{"negative broadcast age", func(s string) string {
			return strings.Replace(s, "maxValidity: 10m", "maxValidity: 10m\n  clientBroadcastMaxAge: -1s", 1)
		}, `verify.clientBroadcastMaxAge: must not be negative`},
		{"unknown field", func(s string) string { return strings.Replace(s, "maxValidity: 10m", "maxValidty: 10m", 1) }, `field maxValidty not found`},
		{"bad duration", func(s string) string { return strings.Replace(s, "maxValidity: 10m", "maxValidity: ten", 1) }, `time: invalid duration`},
		{"negative payer block", func(s string) string {
			return strings.Replace(s, "maxValidity: 10m", "maxValidity: 10m\n  payerBlockDuration: -1h", 1)
		}, `verify.payerBlockDuration: must not be negative (0s disables blocking) (got -1h0m0s)`},
		{"bad sponsored minimum", func(s string) string {
			return strings.Replace(s, "kind: spl}", "kind: spl, minSponsoredAmount: \"0.5\"}", 1)
		}, `networks[1].tokens[0].minSponsoredAmount: must be a non-negative integer in the token's smallest units (got "0.5")`},
		{"embedded server on a public address", func(s string) string {
			return s + "nats:\n  embedded:\n    host: 0.0.0.0\n"
		}, `nats.embedded.host: the embedded server is one process's private log and must listen on loopback`},
		{"embedded user without a service", func(s string) string {
			return s + "nats:\n  embedded:\n    users: [{user: a, password: \"0123456789abcdef\", service: root}]\n"
		}, `nats.embedded.users[0].service: must be ingest, settler, watcher or admin (got "root")`},
		{"embedded user with a short password", func(s string) string {
			return s + "nats:\n  embedded:\n    users: [{user: a, password: short, service: ingest}]\n"
		}, `nats.embedded.users[0]: needs a user and a password of at least 16 characters`},
		{"negative miss budget", func(s string) string { return s + "ingest:\n  missBudgetPerSecond: -1\n" }, `ingest.missBudgetPerSecond: must not be negative (0 disables the budget) (got -1)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.edit(validYAML)), env(map[string]string{"EVM_RPC": "http://127.0.0.1:8545"}))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Parse error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestExpandMissingVariable(t *testing.T) {
	_, err := Parse([]byte(validYAML), env(nil))
	if err == nil || !strings.Contains(err.Error(), "EVM_RPC") {
		t.Fatalf("Parse without EVM_RPC: err = %v, want it to name EVM_RPC", err)
	}
	got, err := Expand("a=${A} b=${B:-dflt} c=${C:-}", env(map[string]string{"A": "1"}))
	if err != nil {
		t.Fatal(err)
	}
	if want := "a=1 b=dflt c="; got != want {
		t.Errorf("Expand = %q, want %q", got, want)
	}
}

func TestValidateReportsAll(t *testing.T) {
	c := &Config{Networks: Networks{{Namespace: "x"}}}
	c.Default()
	err := c.Validate()
	var joined interface{ Unwrap() []error }
	if !errors.As(err, &joined) || len(joined.Unwrap()) < 3 {
		t.Fatalf("Validate = %v, want several problems reported together", err)
	}
}

// TestShippedConfigs keeps every file in configs/ loadable with its documented defaults.
func TestShippedConfigs(t *testing.T) {
	files, err := filepath.Glob("../../configs/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no configs/*.yaml found")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := Parse(b, ShippedConfigEnv); err != nil {
				t.Fatalf("%s does not load with its documented defaults and the variables it requires: %v", f, err)
			}
		})
	}
}

func TestExpandTypesPlainScalars(t *testing.T) {
	y := strings.Replace(validYAML, "maxValidity: 10m", "maxValidity: 10m\n  maxComputeUnitLimit: ${CU_LIMIT:-300000}\n  allowOverpay: ${OVERPAY}", 1)
	c, err := Parse([]byte(y), env(map[string]string{"EVM_RPC": "http://a", "OVERPAY": "true"}))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if got, want := c.Verify.MaxComputeUnitLimit, uint32(300000); got != want {
		t.Errorf("maxComputeUnitLimit = %d, want %d", got, want)
	}
	if !c.Verify.AllowOverpay {
		t.Errorf("allowOverpay = false, want true from ${OVERPAY}")
	}
}

// TestOtherSectionsRideAlong: one file serves every binary; ingest's parse
// accepts the settler's and watcher's sections and still refuses typos.
func TestOtherSectionsRideAlong(t *testing.T) {
	y := validYAML + "settler:\n  batchSize: 10\nwatcher:\n  anything: true\n"
	if _, err := Parse([]byte(y), env(map[string]string{"EVM_RPC": "http://a"})); err != nil {
		t.Fatalf("Parse with other binaries' sections: %v", err)
	}
	if _, err := Parse([]byte(validYAML+"settlr: {}\n"), env(map[string]string{"EVM_RPC": "http://a"})); err == nil || !strings.Contains(err.Error(), "field settlr not found") {
		t.Errorf("a misspelt section: err = %v, want field settlr not found", err)
	}
}

// TestNewFieldDefaults: payer blocking, the miss budget and the sponsored
// minimum have defaults, and an explicit 0 disables what it disables.
func TestNewFieldDefaults(t *testing.T) {
	c, err := Parse([]byte(validYAML), env(map[string]string{"EVM_RPC": "http://127.0.0.1:8545"}))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Verify.PayerBlock(); got != 24*time.Hour {
		t.Errorf("payerBlockDuration default = %v, want 24h", got)
	}
	if got := *c.Ingest.MissBudgetPerSecond; got != 20 || c.Ingest.MissBudgetBurst != 40 {
		t.Errorf("miss budget default = %v/s burst %d, want 20/s burst 40", got, c.Ingest.MissBudgetBurst)
	}
	if c.Networks[0].Tokens[0].MinSponsored() != nil {
		t.Errorf("minSponsoredAmount default = %v, want none", c.Networks[0].Tokens[0].MinSponsored())
	}
	off := validYAML + "ingest:\n  missBudgetPerSecond: 0\n"
	off = strings.Replace(off, "maxValidity: 10m", "maxValidity: 10m\n  payerBlockDuration: 0s", 1)
	if c, err = Parse([]byte(off), env(map[string]string{"EVM_RPC": "http://127.0.0.1:8545"})); err != nil {
		t.Fatal(err)
	}
	if c.Verify.PayerBlock() != 0 || *c.Ingest.MissBudgetPerSecond != 0 {
		t.Errorf("explicit 0: payerBlock %v, missBudget %v; want both 0 (disabled)", c.Verify.PayerBlock(), *c.Ingest.MissBudgetPerSecond)
	}
}

// TestCheckOpenAccess: a non-loopback listen address needs API keys (or an
// explicit allowOpenAccess); loopback stays open for development.
func TestCheckOpenAccess(t *testing.T) {
	tests := []struct {
		listen string
		keys   []string
		allow  bool
		ok     bool
	}{
		{"127.0.0.1:8402", nil, false, true},
		{"[::1]:8402", nil, false, true},
		{"localhost:8402", nil, false, true},
		{"0.0.0.0:8402", nil, false, false},
		{":8402", nil, false, false},
		{"10.1.2.3:8402", nil, false, false},
		{"0.0.0.0:8402", []string{"0123456789abcdef"}, false, true},
		{"0.0.0.0:8402", nil, true, true},
	}
	for _, tt := range tests {
		i := Ingest{Listen: tt.listen, AllowOpenAccess: tt.allow}
		err := i.CheckOpenAccess(tt.keys)
		if (err == nil) != tt.ok {
			t.Errorf("listen %s, %d keys, allow %v: err = %v, want ok %v", tt.listen, len(tt.keys), tt.allow, err, tt.ok)
		}
		if err != nil && !strings.HasPrefix(err.Error(), "ingest.listen: ") || err != nil && !strings.Contains(err.Error(), "(got "+tt.listen+")") {
			t.Errorf("message %q is not field: problem (got value)", err)
		}
	}
}
