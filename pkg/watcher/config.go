package watcher

import (
	"errors"
	"fmt"
	"os"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/h402/settlement/pkg/config"
	"github.com/h402/settlement/pkg/webhooks"
)

// Config is the `watcher:` section of a config file. Every field has a
// default; durations are Go duration strings ("30s").
type Config struct {
	// AckWait: a submitted payment a watcher holds without telling the
	// server it is still following it (InProgress, every third of AckWait)
	// goes to another replica after this long: how soon the others carry
	// the payments of a watcher that died. Default "30s".
	AckWait config.Duration `yaml:"ackWait"`
	// MaxFollowing caps the payments (submitted or confirmed, not final)
	// all replicas follow at once per network: the consumer's
	// MaxAckPending. At 1,000 payments/s and 20 minutes to finality (Base)
	// that is 1.2 million; size it to throughput × finality lag. Default 200000.
	MaxFollowing int `yaml:"maxFollowing"`
	// FetchBatch is the most transitions fetched at once. Default 512.
	FetchBatch int `yaml:"fetchBatch"`
	// ConfirmBatch is the most payments asked about in one Confirm call.
	// Default 256 (Solana's getSignatureStatuses limit).
	ConfirmBatch int `yaml:"confirmBatch"`
	// Parallel bounds the transitions and receipts written at once. Default 32.
	Parallel int `yaml:"parallel"`
	// ResendMargin: an EIP-3009 authorization whose transaction left the
	// chain is sent back for settlement only when it stays valid at least
	// this long; otherwise it fails once expired (until then the
	// transaction may still be mined). Default "30s".
	ResendMargin config.Duration `yaml:"resendMargin"`
	// AdminListen serves /metrics and the ledger's HTTP API (/ledger/...).
	// Default "127.0.0.1:9404"; "off" disables it.
	AdminListen string `yaml:"adminListen"`
	// LedgerPath is this process's ledger file (bbolt), a projection of the
	// streams that it keeps up to date and serves. Default
	// "data/ledger.db"; "off" runs no ledger.
	LedgerPath string `yaml:"ledgerPath"`
	// Replica names this process in logs. Default: the host name.
	Replica string `yaml:"replica"`
	// ShutdownGrace bounds a clean stop. Default "10s".
	ShutdownGrace config.Duration `yaml:"shutdownGrace"`
	// Webhooks, when present, makes this replica deliver receipts to
	// sellers' webhook endpoints (pkg/webhooks; every replica shares the work).
	Webhooks *webhooks.Config `yaml:"webhooks,omitempty"`
}

// Default fills unset fields with their defaults.
func (c *Config) Default() {
	if c.AckWait == 0 {
		c.AckWait = config.Duration(30 * time.Second)
	}
	if c.MaxFollowing == 0 {
		c.MaxFollowing = 200_000
	}
	if c.FetchBatch == 0 {
		c.FetchBatch = 512
	}
	if c.ConfirmBatch == 0 {
		c.ConfirmBatch = 256
	}
	if c.Parallel == 0 {
		c.Parallel = 32
	}
	if c.ResendMargin == 0 {
		c.ResendMargin = config.Duration(30 * time.Second)
	}
	if c.AdminListen == "" {
		c.AdminListen = "127.0.0.1:9404"
	}
	if c.LedgerPath == "" {
		c.LedgerPath = "data/ledger.db"
	}
	if c.Replica == "" {
		c.Replica, _ = os.Hostname()
	}
	if c.ShutdownGrace == 0 {
		c.ShutdownGrace = config.Duration(10 * time.Second)
	}
	if c.Webhooks != nil {
		c.Webhooks.Default()
	}
}

// Validate reports every problem as "watcher.field: problem (got value)".
func (c *Config) Validate() error {
	var errs []error
	bad := func(field, problem string, got any) {
		errs = append(errs, fmt.Errorf("watcher.%s: %s (got %v)", field, problem, got))
	}
	if time.Duration(c.AckWait) < 300*time.Millisecond {
		bad("ackWait", "must be at least 300ms", c.AckWait)
	}
	if c.MaxFollowing < 1 {
		bad("maxFollowing", "must be positive", c.MaxFollowing)
	}
	if c.FetchBatch < 1 || c.FetchBatch > 10_000 {
		bad("fetchBatch", "must be between 1 and 10000", c.FetchBatch)
	}
	if c.ConfirmBatch < 1 || c.ConfirmBatch > 256 {
		bad("confirmBatch", "must be between 1 and 256", c.ConfirmBatch)
	}
	if c.Parallel < 1 || c.Parallel > 1024 {
		bad("parallel", "must be between 1 and 1024", c.Parallel)
	}
	if c.ResendMargin < 0 {
		bad("resendMargin", "must not be negative", c.ResendMargin)
	}
	if c.ShutdownGrace < 0 {
		bad("shutdownGrace", "must not be negative", c.ShutdownGrace)
	}
	if c.Webhooks != nil {
		errs = append(errs, c.Webhooks.Validate())
	}
	return errors.Join(errs...)
}

// File is a watcher's config file: the shared sections every binary reads
// plus the `watcher:` section (the settler's rides along, skipped).
type File struct {
	config.Config `yaml:",inline"`
	Watcher       Config    `yaml:"watcher"`
	Settler       yaml.Node `yaml:"settler,omitempty"`
}

// LoadFile reads a watcher config file (see ParseFile).
func LoadFile(path string) (*File, error) { return config.ReadFile(path, os.LookupEnv, ParseFile) }

// ParseFile decodes a watcher config as config.Parse does a shared one:
// ${VAR} and ${VAR:-default} expand inside scalar values only, unknown
// fields are refused, then both parts get defaults and are validated.
func ParseFile(b []byte, lookup func(string) (string, bool)) (*File, error) {
	f := &File{}
	if err := config.DecodeFile(b, lookup, f, &f.Config, &f.Watcher); err != nil {
		return nil, err
	}
	return f, nil
}
