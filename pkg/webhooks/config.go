package webhooks

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/gagliardetto/solana-go"

	"github.com/h402/settlement/pkg/config"
	"github.com/h402/settlement/pkg/events"
)

// DefaultSchedule is the Standard Webhooks retry schedule: the delay before
// each attempt (the first is immediate).
var DefaultSchedule = []time.Duration{0, 5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour,
	5 * time.Hour, 10 * time.Hour, 14 * time.Hour, 20 * time.Hour, 24 * time.Hour}

// Config is the `webhooks:` section inside the watcher's section. Present,
// it makes every watcher replica deliver webhooks (the replicas share the
// work). Every field has a default.
type Config struct {
	// Endpoints defined here; more may be added through the admin API
	// (those are stored in the NATS bucket h402_webhooks, secrets included).
	Endpoints []Endpoint `yaml:"endpoints" json:"endpoints"`
	// Schedule is the delay before each attempt; its length is the number
	// of attempts. Default: 0s, 5s, 5m, 30m, 2h, 5h, 10h, 14h, 20h, 24h.
	Schedule []config.Duration `yaml:"schedule" json:"schedule"`
	// Jitter spreads each delay by ± this fraction. Default 0.1.
	Jitter float64 `yaml:"jitter" json:"jitter"`
	// Timeout bounds one HTTP attempt (connect to end of answer); a stopping
	// replica lets attempts in flight finish, so keep it under
	// watcher.shutdownGrace + 5s. Default "10s".
	Timeout config.Duration `yaml:"timeout" json:"timeout"`
	// MaxRetryAfter caps a 429/5xx answer's Retry-After. Default "24h".
	MaxRetryAfter config.Duration `yaml:"maxRetryAfter" json:"maxRetryAfter"`
	// Concurrency is the most requests in flight per endpoint in each
	// replica. Default 4.
	Concurrency int `yaml:"concurrency" json:"concurrency"`
	// MaxPending is each endpoint consumer's MaxAckPending: receipts in
	// flight or waiting for a retry. Default 100000.
	MaxPending int `yaml:"maxPending" json:"maxPending"`
	// LogMaxAge keeps delivery log records this long. Default "720h" (30 days).
	LogMaxAge config.Duration `yaml:"logMaxAge" json:"logMaxAge"`
}

// Endpoint is one seller's webhook receiver.
type Endpoint struct {
	// ID names the endpoint: [A-Za-z0-9_-], at most 64 characters.
	ID string `yaml:"id" json:"id"`
	// URL receives POSTs (http or https).
	URL string `yaml:"url" json:"url"`
	// Sellers are the payTo addresses whose receipts go to this endpoint
	// (every network).
	Sellers []string `yaml:"sellers" json:"sellers"`
	// Secrets sign each delivery; every secret not expired signs, so a
	// rotation adds the new secret and gives the old one an expiresAt.
	Secrets     []SecretSpec `yaml:"secrets" json:"secrets"`
	Description string       `yaml:"description,omitempty" json:"description,omitempty"`
}

// SecretSpec is where a secret comes from: exactly one of Secret (API
// bodies; in files prefer the others), SecretEnv (an environment
// variable's name) or SecretFile (a file holding it).
type SecretSpec struct {
	Secret     string `yaml:"secret,omitempty" json:"secret,omitempty"`
	SecretEnv  string `yaml:"secretEnv,omitempty" json:"secretEnv,omitempty"`
	SecretFile string `yaml:"secretFile,omitempty" json:"secretFile,omitempty"`
	// ExpiresAt ends the secret's signing (RFC 3339); unset: never.
	ExpiresAt *time.Time `yaml:"expiresAt,omitempty" json:"expiresAt,omitempty"`
}

// Default fills unset fields.
func (c *Config) Default() {
	if len(c.Schedule) == 0 {
		for _, d := range DefaultSchedule {
			c.Schedule = append(c.Schedule, config.Duration(d))
		}
	}
	if c.Jitter == 0 {
		c.Jitter = 0.1
	}
	if c.Timeout == 0 {
		c.Timeout = config.Duration(10 * time.Second)
	}
	if c.MaxRetryAfter == 0 {
		c.MaxRetryAfter = config.Duration(24 * time.Hour)
	}
	if c.Concurrency == 0 {
		c.Concurrency = 4
	}
	if c.MaxPending == 0 {
		c.MaxPending = 100_000
	}
	if c.LogMaxAge == 0 {
		c.LogMaxAge = config.Duration(30 * 24 * time.Hour)
	}
}

// Validate reports every problem as "watcher.webhooks.field: problem (got value)".
func (c *Config) Validate() error {
	var errs []error
	bad := func(field, problem string, got any) {
		errs = append(errs, fmt.Errorf("watcher.webhooks.%s: %s (got %v)", field, problem, got))
	}
	if len(c.Schedule) > 50 {
		bad("schedule", "has more than 50 attempts", len(c.Schedule))
	}
	for i, d := range c.Schedule {
		if d < 0 {
			bad(fmt.Sprintf("schedule[%d]", i), "must not be negative", d)
		}
	}
	if c.Jitter < 0 || c.Jitter > 0.5 {
		bad("jitter", "must be between 0 and 0.5", c.Jitter)
	}
	if c.Timeout < config.Duration(100*time.Millisecond) {
		bad("timeout", "must be at least 100ms", c.Timeout)
	}
	if c.MaxRetryAfter < 0 {
		bad("maxRetryAfter", "must not be negative", c.MaxRetryAfter)
	}
	if c.Concurrency < 1 || c.Concurrency > 256 {
		bad("concurrency", "must be between 1 and 256", c.Concurrency)
	}
	if c.MaxPending < 1 {
		bad("maxPending", "must be positive", c.MaxPending)
	}
	if c.LogMaxAge < config.Duration(time.Minute) {
		bad("logMaxAge", "must be at least 1m", c.LogMaxAge)
	}
	seen := map[string]bool{}
	for i, e := range c.Endpoints {
		if err := e.Check(true); err != nil {
			bad(fmt.Sprintf("endpoints[%d]", i), err.Error(), e.ID)
		}
		if seen[e.ID] {
			bad(fmt.Sprintf("endpoints[%d].id", i), "is used twice", e.ID)
		}
		seen[e.ID] = true
	}
	return errors.Join(errs...)
}

// schedule returns the delays as durations.
func (c *Config) schedule() []time.Duration {
	out := make([]time.Duration, len(c.Schedule))
	for i, d := range c.Schedule {
		out[i] = time.Duration(d)
	}
	return out
}

// Check validates an endpoint's shape; fromFile allows SecretEnv and
// SecretFile (an API body may only carry the secret itself). Errors never
// contain a secret.
func (e *Endpoint) Check(fromFile bool) error {
	if err := events.CheckEndpointID(e.ID); err != nil {
		return fmt.Errorf("id: %v", err)
	}
	u, err := url.Parse(e.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("url: want an absolute http or https URL, got %q", truncate(e.URL, 200))
	}
	if len(e.Sellers) == 0 || len(e.Sellers) > 100 {
		return fmt.Errorf("sellers: want 1 to 100 payTo addresses, got %d", len(e.Sellers))
	}
	for _, s := range e.Sellers {
		if err := checkSeller(s); err != nil {
			return fmt.Errorf("sellers: %v", err)
		}
		if _, err := events.WebhookReceiptFilter(s); err != nil {
			return fmt.Errorf("sellers: %v", err)
		}
	}
	if len(e.Secrets) == 0 || len(e.Secrets) > 10 {
		return fmt.Errorf("secrets: want 1 to 10, got %d", len(e.Secrets))
	}
	for i, s := range e.Secrets {
		n := 0
		for _, v := range []string{s.Secret, s.SecretEnv, s.SecretFile} {
			if v != "" {
				n++
			}
		}
		if n != 1 {
			return fmt.Errorf("secrets[%d]: give exactly one of secret, secretEnv, secretFile", i)
		}
		if !fromFile && s.Secret == "" {
			return fmt.Errorf("secrets[%d]: the admin API takes only secret (whsec_...), not secretEnv or secretFile", i)
		}
		if s.Secret != "" {
			if _, err := ParseSecret(s.Secret); err != nil {
				return fmt.Errorf("secrets[%d]: %v", i, err)
			}
		}
	}
	// Once every secret expired nothing could sign, and each receipt put
	// back for later uses up one of its consumer's deliveries until the
	// server drops it: the current secret never expires (a rotation gives
	// the old one an expiresAt).
	current := false
	for _, s := range e.Secrets {
		current = current || s.ExpiresAt == nil
	}
	if !current {
		return errors.New("secrets: every secret has an expiresAt; keep the current one without expiresAt (rotation expires only the old one)")
	}
	if len(e.Description) > 500 {
		return fmt.Errorf("description: more than 500 characters")
	}
	return nil
}

// checkSeller refuses a seller that no receipt could name: an endpoint
// listing one would wait for receipts that never come.
func checkSeller(s string) error {
	if strings.HasPrefix(s, "0x") || strings.HasPrefix(s, "0X") {
		if !common.IsHexAddress(s) {
			return fmt.Errorf("%q is not an EVM address (0x and 40 hex digits)", truncate(s, 100))
		}
		return nil
	}
	if common.IsHexAddress(s) {
		return fmt.Errorf("%q: write an EVM address with its 0x (receipts name it so)", truncate(s, 100))
	}
	if _, err := solana.PublicKeyFromBase58(s); err != nil {
		return fmt.Errorf("%q is neither an EVM address (0x and 40 hex digits) nor a Solana address (base58 of 32 bytes)", truncate(s, 100))
	}
	return nil
}

// serves tells whether payTo is one of the endpoint's sellers: EVM hex
// addresses compare case-insensitively, anything else (Solana base58)
// exactly.
func (e *Endpoint) serves(payTo string) bool {
	evm := strings.HasPrefix(payTo, "0x") || strings.HasPrefix(payTo, "0X")
	for _, s := range e.Sellers {
		if s == payTo || evm && strings.EqualFold(s, payTo) {
			return true
		}
	}
	return false
}

// keyedSecret is a resolved secret with its expiry.
type keyedSecret struct {
	secret    Secret
	expiresAt *time.Time
}

// resolve reads each secret (environment, file or inline).
func (e *Endpoint) resolve(lookup func(string) (string, bool)) ([]keyedSecret, error) {
	out := make([]keyedSecret, 0, len(e.Secrets))
	for i, s := range e.Secrets {
		raw := s.Secret
		switch {
		case s.SecretEnv != "":
			v, ok := lookup(s.SecretEnv)
			if !ok {
				return nil, fmt.Errorf("endpoint %s: secrets[%d]: environment variable %s is not set", e.ID, i, s.SecretEnv)
			}
			raw = v
		case s.SecretFile != "":
			b, err := os.ReadFile(s.SecretFile)
			if err != nil {
				return nil, fmt.Errorf("endpoint %s: secrets[%d]: %w", e.ID, i, err)
			}
			raw = string(bytes.TrimSpace(b))
		}
		sec, err := ParseSecret(raw)
		if err != nil {
			return nil, fmt.Errorf("endpoint %s: secrets[%d]: %w", e.ID, i, err)
		}
		out = append(out, keyedSecret{secret: sec, expiresAt: s.ExpiresAt})
	}
	return out, nil
}

// active returns the secrets that sign at now.
func active(ks []keyedSecret, now time.Time) []Secret {
	var out []Secret
	for _, k := range ks {
		if k.expiresAt == nil || now.Before(*k.expiresAt) {
			out = append(out, k.secret)
		}
	}
	return out
}

// DecodeEndpoint decodes and checks an endpoint from an admin API body
// (unknown fields refused, at most 64 KiB).
func DecodeEndpoint(b []byte) (*Endpoint, error) {
	if len(b) > 64<<10 {
		return nil, fmt.Errorf("endpoint body is %d bytes, more than 64 KiB", len(b))
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var e Endpoint
	if err := dec.Decode(&e); err != nil {
		return nil, fmt.Errorf("endpoint body: %v", redactJSONError(err))
	}
	if dec.More() {
		return nil, errors.New("endpoint body: trailing data after the JSON object")
	}
	if err := e.Check(false); err != nil {
		return nil, err
	}
	return &e, nil
}

// redactJSONError keeps a decode error's kind without echoing input.
func redactJSONError(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("invalid JSON at offset %d", se.Offset)
	case errors.As(err, &te):
		return fmt.Sprintf("field %s: wrong type %s", te.Field, te.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field"):
		return err.Error()
	default:
		return "invalid JSON"
	}
}

// Redacted returns e with the secrets replaced by where they come from.
func (e Endpoint) Redacted() Endpoint {
	r := e
	r.Secrets = make([]SecretSpec, len(e.Secrets))
	for i, s := range e.Secrets {
		r.Secrets[i] = SecretSpec{SecretEnv: s.SecretEnv, SecretFile: s.SecretFile, ExpiresAt: s.ExpiresAt}
		if s.Secret != "" {
			r.Secrets[i].Secret = SecretPrefix + "…"
		}
	}
	return r
}
