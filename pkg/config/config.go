package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"regexp"
	"strconv"
	"strings"

	"github.com/h402/settlement/pkg/h402"
	"gopkg.in/yaml.v3"
)

// Config is the part of a facilitator's configuration every binary shares:
// the networks it serves, their tokens, and the verification policy.
type Config struct {
	// Networks served, each with its token allow-list.
	Networks Networks `yaml:"networks"`
	// Verify is the verification policy.
	Verify Verify `yaml:"verify"`
	// NATS says where the event log lives (embedded by default).
	NATS NATS `yaml:"nats"`
	// Ingest configures the facilitator endpoint.
	Ingest Ingest `yaml:"ingest"`
	// Log configures logging.
	Log Log `yaml:"log"`
}

// Load reads a YAML config file, expands ${VAR} from the environment, applies
// defaults and validates.
func Load(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	c, err := Parse(b, os.LookupEnv)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return c, nil
}

// Parse decodes YAML, expanding ${VAR} and ${VAR:-default} inside scalar
// values with lookup (never in comments or keys, and a value cannot inject YAML
// structure), rejecting unknown fields, then applies defaults and validates.
func Parse(b []byte, lookup func(string) (string, bool)) (*Config, error) {
	expanded, err := ExpandYAML(b, lookup)
	if err != nil {
		return nil, err
	}
	// Other binaries' sections ride along in the same file; each binary
	// decodes its own section strictly.
	var file struct {
		*Config `yaml:",inline"`
		Settler yaml.Node `yaml:"settler"`
		Watcher yaml.Node `yaml:"watcher"`
	}
	c := &Config{Verify: DefaultVerify()}
	file.Config = c
	if err := DecodeStrict(expanded, &file); err != nil {
		return nil, err
	}
	c.Default()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// ExpandYAML expands ${VAR} and ${VAR:-default} inside the scalar values of
// a YAML document (never in comments or keys, and a value cannot inject YAML
// structure) and returns the document re-encoded. An unset variable without
// a default is an error naming it.
func ExpandYAML(b []byte, lookup func(string) (string, bool)) ([]byte, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(b, &root); err != nil {
		return nil, fmt.Errorf("decode yaml: %w", err)
	}
	var missing []string
	expandNode(&root, lookup, &missing)
	if len(missing) > 0 {
		return nil, fmt.Errorf("environment variables not set: %s", strings.Join(missing, ", "))
	}
	if root.Kind == 0 {
		return nil, nil
	}
	out, err := yaml.Marshal(&root)
	if err != nil {
		return nil, fmt.Errorf("re-encode yaml: %w", err)
	}
	return out, nil
}

// DecodeStrict decodes YAML into v, refusing fields v does not have.
func DecodeStrict(b []byte, v any) error {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("decode yaml: %w", err)
	}
	return nil
}

func expandNode(n *yaml.Node, lookup func(string) (string, bool), missing *[]string) {
	if n.Kind == yaml.ScalarNode {
		if strings.Contains(n.Value, "${") {
			v, err := Expand(n.Value, lookup)
			if err != nil {
				*missing = append(*missing, varRef.FindStringSubmatch(n.Value)[1])
				return
			}
			n.Value = v
			if n.Style == 0 {
				n.Tag = "" // a plain scalar is typed by its expanded text ("8080" is a number)
			}
		}
		return
	}
	for i, c := range n.Content {
		if n.Kind == yaml.MappingNode && i%2 == 0 {
			continue // keys are not expanded
		}
		expandNode(c, lookup, missing)
	}
}

var varRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\}`)

// Expand replaces ${VAR} and ${VAR:-default}. An unset variable without a
// default is an error naming the variable; its value is never echoed.
func Expand(s string, lookup func(string) (string, bool)) (string, error) {
	var missing []string
	out := varRef.ReplaceAllStringFunc(s, func(m string) string {
		sub := varRef.FindStringSubmatch(m)
		if v, ok := lookup(sub[1]); ok {
			return v
		}
		if sub[2] != "" {
			return sub[3]
		}
		missing = append(missing, sub[1])
		return ""
	})
	if len(missing) > 0 {
		return "", fmt.Errorf("environment variables not set: %s", strings.Join(missing, ", "))
	}
	return out, nil
}

// Default fills unset fields with their defaults.
func (c *Config) Default() {
	d := DefaultVerify()
	if c.Verify.MinValidBeforeMargin == 0 {
		c.Verify.MinValidBeforeMargin = d.MinValidBeforeMargin
	}
	if c.Verify.MaxValidity == 0 {
		c.Verify.MaxValidity = d.MaxValidity
	}
	if c.Verify.ClientBroadcastMaxAge == 0 {
		c.Verify.ClientBroadcastMaxAge = d.ClientBroadcastMaxAge
	}
	if c.Verify.MaxComputeUnitPrice == 0 {
		c.Verify.MaxComputeUnitPrice = d.MaxComputeUnitPrice
	}
	if c.Verify.MaxComputeUnitLimit == 0 {
		c.Verify.MaxComputeUnitLimit = d.MaxComputeUnitLimit
	}
	if c.Verify.PayerBlockDuration == nil {
		b := Duration(c.Verify.PayerBlock())
		c.Verify.PayerBlockDuration = &b
	}
	c.NATS.defaults()
	c.Ingest.defaults()
	for i := range c.Networks {
		n := &c.Networks[i]
		if n.CAIP2 == "" && n.Namespace == h402.NamespaceEVM {
			n.CAIP2 = "eip155:" + n.NetworkID
		}
		if n.Finality.Commitment == "" {
			n.Finality.Commitment = "finalized"
		}
		if n.Finality.PollInterval == 0 {
			n.Finality.PollInterval = Duration(1e9)
		}
	}
}

var (
	evmAddress = regexp.MustCompile(`^0x[0-9a-fA-F]{40}$`)
	base58Key  = regexp.MustCompile(`^[1-9A-HJ-NP-Za-km-z]{32,44}$`)
)

// Validate checks every field and reports all problems as
// "field: problem (got value)" lines.
func (c *Config) Validate() error {
	var errs []error
	bad := func(field, problem string, got any) {
		errs = append(errs, fmt.Errorf("%s: %s (got %v)", field, problem, got))
	}
	if len(c.Networks) == 0 {
		bad("networks", "at least one network is required", "none")
	}
	seen := map[string]bool{}
	for i := range c.Networks {
		n := &c.Networks[i]
		f := fmt.Sprintf("networks[%d]", i)
		key := string(n.Namespace) + "/" + n.NetworkID
		if seen[key] {
			bad(f, "network listed twice", key)
		}
		seen[key] = true
		switch n.Namespace {
		case h402.NamespaceEVM:
			if id, err := strconv.ParseUint(n.NetworkID, 10, 64); err != nil || id == 0 {
				bad(f+".networkId", "an EVM network id is a positive decimal chain id", strconv.Quote(n.NetworkID))
			}
		case h402.NamespaceSolana:
			switch n.NetworkID {
			case "mainnet", "devnet", "testnet", "localnet":
			default:
				bad(f+".networkId", "a Solana network id is mainnet, devnet, testnet or localnet", strconv.Quote(n.NetworkID))
			}
			if n.CAIP2 == "" {
				bad(f+".caip2", "a Solana network needs its CAIP-2 id (solana:<genesis hash prefix>)", `""`)
			}
			for j, k := range n.FeePayers {
				if !base58Key.MatchString(k) {
					bad(fmt.Sprintf("%s.feePayers[%d]", f, j), "not a base58 public key", strconv.Quote(k))
				}
			}
		default:
			bad(f+".namespace", "must be evm or solana", strconv.Quote(string(n.Namespace)))
		}
		if n.Multicall != "" && (n.Namespace != h402.NamespaceEVM || !evmAddress.MatchString(n.Multicall)) {
			bad(f+".multicall", "must be a 0x-prefixed 20-byte hex address on an EVM network", strconv.Quote(n.Multicall))
		}
		if len(n.RPC) == 0 {
			bad(f+".rpc", "at least one RPC endpoint is required", "none")
		}
		for j, u := range n.RPC {
			if !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") && !strings.HasPrefix(u, "ws://") && !strings.HasPrefix(u, "wss://") {
				bad(fmt.Sprintf("%s.rpc[%d]", f, j), "must be an http(s) or ws(s) URL", strconv.Quote(redactURL(u)))
			}
		}
		switch n.Finality.Commitment {
		case "finalized", "safe", "confirmed", "depth":
		default:
			bad(f+".finality.commitment", "must be finalized, safe, confirmed or depth", strconv.Quote(n.Finality.Commitment))
		}
		if n.Finality.Commitment == "depth" && n.Finality.Depth == 0 {
			bad(f+".finality.depth", "must be positive when commitment is depth", 0)
		}
		if len(n.Tokens) == 0 {
			bad(f+".tokens", "at least one token is required", "none")
		}
		for j := range n.Tokens {
			errs = append(errs, n.Tokens[j].validate(fmt.Sprintf("%s.tokens[%d]", f, j), n.Namespace)...)
		}
	}
	v := c.Verify
	if v.MinValidBeforeMargin < 0 {
		bad("verify.minValidBeforeMargin", "must not be negative", v.MinValidBeforeMargin)
	}
	if v.PayerBlock() < 0 {
		bad("verify.payerBlockDuration", "must not be negative (0s disables blocking)", v.PayerBlock())
	}
	if v.MaxValidity <= v.MinValidBeforeMargin {
		bad("verify.maxValidity", "must be longer than minValidBeforeMargin", v.MaxValidity)
	}
	if v.ClientBroadcastMaxAge < 0 {
		bad("verify.clientBroadcastMaxAge", "must not be negative", v.ClientBroadcastMaxAge)
	}
	errs = append(errs, c.validateServices()...)
	return errors.Join(errs...)
}

func (t *Token) validate(f string, ns h402.Namespace) []error {
	var errs []error
	bad := func(field, problem string, got any) {
		errs = append(errs, fmt.Errorf("%s.%s: %s (got %v)", f, field, problem, got))
	}
	if t.Decimals < 0 || t.Decimals > 36 {
		bad("decimals", "must be between 0 and 36", t.Decimals)
	}
	if t.MinSponsoredAmount != "" {
		if v, ok := new(big.Int).SetString(t.MinSponsoredAmount, 10); !ok || v.Sign() < 0 {
			bad("minSponsoredAmount", "must be a non-negative integer in the token's smallest units", strconv.Quote(t.MinSponsoredAmount))
		}
	}
	switch ns {
	case h402.NamespaceEVM:
		if !evmAddress.MatchString(t.Address) {
			bad("address", "must be a 0x-prefixed 20-byte hex address", strconv.Quote(t.Address))
		}
		switch t.Kind {
		case KindEIP3009:
			if t.EIP712Name == "" || t.EIP712Version == "" {
				bad("eip712Name", "an eip3009 token needs its EIP-712 domain name and version", strconv.Quote(t.EIP712Name))
			}
		case KindERC20:
		case KindNative:
			if t.Address != h402.EVMNativeToken {
				bad("address", "a native token's address is "+h402.EVMNativeToken, strconv.Quote(t.Address))
			}
		default:
			bad("kind", "an EVM token kind is eip3009, erc20 or native", strconv.Quote(string(t.Kind)))
		}
	case h402.NamespaceSolana:
		if !base58Key.MatchString(t.Address) {
			bad("address", "must be a base58 mint address", strconv.Quote(t.Address))
		}
		switch t.Kind {
		case KindSPL, KindToken2022:
		case KindNative:
			if t.Address != h402.SolanaNativeToken {
				bad("address", "native SOL's address is "+h402.SolanaNativeToken, strconv.Quote(t.Address))
			}
		default:
			bad("kind", "a Solana token kind is spl, token2022 or native", strconv.Quote(string(t.Kind)))
		}
	}
	return errs
}

// redactURL drops the userinfo and query of an RPC URL, where API keys live.
func redactURL(u string) string {
	if i := strings.IndexAny(u, "?#"); i >= 0 {
		u = u[:i] + "?…"
	}
	if at := strings.LastIndex(u, "@"); at >= 0 {
		if s := strings.Index(u, "://"); s >= 0 && s < at {
			u = u[:s+3] + "…@" + u[at+1:]
		}
	}
	return u
}

// Section is a binary's own section of a shared config file.
type Section interface {
	Default()
	Validate() error
}

// DecodeFile decodes a binary's config file as Parse does a shared one into
// f, a struct embedding base (the shared sections, inline) beside the
// binary's own section: ${VAR} and ${VAR:-default} expand inside scalar
// values only, unknown fields are refused, then both parts get defaults
// and are validated.
func DecodeFile(b []byte, lookup func(string) (string, bool), f any, base *Config, own Section) error {
	expanded, err := ExpandYAML(b, lookup)
	if err != nil {
		return err
	}
	base.Verify = DefaultVerify()
	if err := DecodeStrict(expanded, f); err != nil {
		return err
	}
	base.Default()
	own.Default()
	return errors.Join(base.Validate(), own.Validate())
}

// ReadFile reads a config file and decodes it with parse, naming the file
// in errors.
func ReadFile[T any](path string, lookup func(string) (string, bool), parse func([]byte, func(string) (string, bool)) (*T, error)) (*T, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	f, err := parse(b, lookup)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return f, nil
}
