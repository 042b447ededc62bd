package settler

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/h402/settlement/pkg/config"
)

// Config is the `settler:` section of a settler's config file. Every field
// has a default; durations are Go duration strings ("30s").
type Config struct {
	// BatchSize is the most accepted payments one Fetch takes. Default 64.
	BatchSize int `yaml:"batchSize"`
	// MaxWait is how long one Fetch waits to fill its batch before settling
	// what it has. Default "250ms".
	MaxWait config.Duration `yaml:"maxWait"`
	// AckWait: a delivered payment neither acked nor kept alive for this long
	// is delivered again (to any replica). Default "30s".
	AckWait config.Duration `yaml:"ackWait"`
	// InProgressEvery is how often a batch in flight tells the server it is
	// still being worked on. Default a third of AckWait.
	InProgressEvery config.Duration `yaml:"inProgressEvery"`
	// MaxDeliver caps deliveries of one payment. Default -1: never give up,
	// since a payment whose transaction may still land must not be dropped.
	// When positive, a payment still failing with a retryable error on its
	// last delivery is dead-lettered for an operator (reason
	// unexpected_settle_error) but not marked failed.
	MaxDeliver int `yaml:"maxDeliver"`
	// BackOff are the server's redelivery delays after AckWait expiry (a
	// crashed settler), by delivery; when set, the first replaces AckWait.
	// Default none: AckWait every time.
	BackOff []config.Duration `yaml:"backOff"`
	// RetryDelay is the NakWithDelay delay after a retryable error on the
	// first delivery; it doubles with each delivery up to RetryDelayMax.
	// Defaults "1s" and "30s".
	RetryDelay    config.Duration `yaml:"retryDelay"`
	RetryDelayMax config.Duration `yaml:"retryDelayMax"`
	// UnknownVersionDelay is how long an accepted event of a version this
	// build cannot read waits (NakWithDelay) before it is delivered again,
	// to this or another settler: in a rolling upgrade a settler of the new
	// version settles it. Default "1m".
	UnknownVersionDelay config.Duration `yaml:"unknownVersionDelay"`
	// Parallel bounds the work of one batch done at once: state look-ups,
	// event publishes, and a Submitter's parallel sends. Default 32.
	Parallel int `yaml:"parallel"`
	// ShutdownGrace is how long the batch in flight may finish after a stop
	// signal. Default "20s".
	ShutdownGrace config.Duration `yaml:"shutdownGrace"`
	// AdminListen serves /metrics. Default "127.0.0.1:9403"; "off" disables it.
	AdminListen string `yaml:"adminListen"`
	// Replica names this process in logs. Default: the host name.
	Replica string `yaml:"replica"`
	// SolanaFeePayerKeysFile holds the private keys of the Solana fee payers
	// listed in networks[].feePayers: base58 keys or solana-keygen JSON
	// arrays, one per line (blank lines and # comments ignored). Keys may also
	// come from the H402_SOLANA_FEE_PAYER_KEYS environment variable. Never
	// write keys into the config file; they are never logged.
	SolanaFeePayerKeysFile string `yaml:"solanaFeePayerKeysFile"`
	// EVMSignerKeysFile holds facilitator signing keys for EVM networks, hex,
	// one per line (blank lines and # comments ignored); keys may also come
	// from H402_EVM_SIGNER_KEYS. Each settler replica leases one key per
	// network, so give at least as many keys as replicas. Never write keys
	// into the config file; they are never logged.
	EVMSignerKeysFile string `yaml:"evmSignerKeysFile"`
	// LeaseTTL is how long an EVM signing-key lease lasts without renewal
	// (renewed every third of it, given up a fifth of it before it could
	// expire). A lease lost in a NATS outage longer than that is re-acquired
	// with backoff (metric h402_lease_held). Default "15s".
	LeaseTTL config.Duration `yaml:"leaseTTL"`
	// UnknownMaxTries is how many deliveries a payment failing with an
	// unclassified error (neither a protocol failure nor a known transient
	// one) gets before it goes to the operator queue
	// payments.review.<ns>.<net> (metric h402_settler_review_total, alert on
	// any). Default 10.
	UnknownMaxTries int `yaml:"unknownMaxTries"`
}

// Default fills unset fields with their defaults.
func (c *Config) Default() {
	if c.BatchSize == 0 {
		c.BatchSize = 64
	}
	if c.MaxWait == 0 {
		c.MaxWait = config.Duration(250 * time.Millisecond)
	}
	if c.AckWait == 0 {
		c.AckWait = config.Duration(30 * time.Second)
	}
	if c.InProgressEvery == 0 {
		c.InProgressEvery = c.AckWait / 3
	}
	if c.MaxDeliver == 0 {
		c.MaxDeliver = -1
	}
	if c.RetryDelay == 0 {
		c.RetryDelay = config.Duration(time.Second)
	}
	if c.RetryDelayMax == 0 {
		c.RetryDelayMax = config.Duration(30 * time.Second)
	}
	if c.Parallel == 0 {
		c.Parallel = 32
	}
	if c.UnknownVersionDelay == 0 {
		c.UnknownVersionDelay = config.Duration(time.Minute)
	}
	if c.ShutdownGrace == 0 {
		c.ShutdownGrace = config.Duration(20 * time.Second)
	}
	if c.AdminListen == "" {
		c.AdminListen = "127.0.0.1:9403"
	}
	if c.Replica == "" {
		c.Replica, _ = os.Hostname()
	}
	if c.LeaseTTL == 0 {
		c.LeaseTTL = config.Duration(15 * time.Second)
	}
	if c.UnknownMaxTries == 0 {
		c.UnknownMaxTries = 10
	}
}

// Validate reports every problem as "settler.field: problem (got value)".
func (c *Config) Validate() error {
	var errs []error
	bad := func(field, problem string, got any) {
		errs = append(errs, fmt.Errorf("settler.%s: %s (got %v)", field, problem, got))
	}
	if c.BatchSize < 1 || c.BatchSize > 10_000 {
		bad("batchSize", "must be between 1 and 10000", c.BatchSize)
	}
	if time.Duration(c.MaxWait) < time.Millisecond {
		bad("maxWait", "must be at least 1ms", c.MaxWait)
	}
	if time.Duration(c.AckWait) < 100*time.Millisecond {
		bad("ackWait", "must be at least 100ms", c.AckWait)
	}
	ackWait := c.AckWait
	if len(c.BackOff) > 0 {
		ackWait = c.BackOff[0] // the server replaces AckWait with it
	}
	if c.InProgressEvery <= 0 || c.InProgressEvery >= ackWait {
		bad("inProgressEvery", "must be positive and shorter than ackWait (or backOff[0])", c.InProgressEvery)
	}
	if c.MaxDeliver < -1 || c.MaxDeliver == 0 {
		bad("maxDeliver", "must be -1 (unlimited) or positive", c.MaxDeliver)
	}
	for i, d := range c.BackOff {
		if d <= 0 {
			bad(fmt.Sprintf("backOff[%d]", i), "must be positive", d)
		}
	}
	if c.MaxDeliver > 0 && len(c.BackOff) > c.MaxDeliver {
		bad("backOff", "must not list more delays than maxDeliver", len(c.BackOff))
	}
	if c.RetryDelay <= 0 {
		bad("retryDelay", "must be positive", c.RetryDelay)
	}
	if c.RetryDelayMax < c.RetryDelay {
		bad("retryDelayMax", "must be at least retryDelay", c.RetryDelayMax)
	}
	if c.UnknownVersionDelay <= 0 {
		bad("unknownVersionDelay", "must be positive", c.UnknownVersionDelay)
	}
	if c.Parallel < 1 || c.Parallel > 1024 {
		bad("parallel", "must be between 1 and 1024", c.Parallel)
	}
	if c.ShutdownGrace < 0 {
		bad("shutdownGrace", "must not be negative", c.ShutdownGrace)
	}
	if time.Duration(c.LeaseTTL) < time.Second {
		bad("leaseTTL", "must be at least 1s", c.LeaseTTL)
	}
	if c.UnknownMaxTries < 1 {
		bad("unknownMaxTries", "must be at least 1", c.UnknownMaxTries)
	}
	return errors.Join(errs...)
}

// retryDelay is the NakWithDelay delay after the given delivery (1-based).
func (c *Config) retryDelay(delivery uint64) time.Duration {
	d, limit := time.Duration(c.RetryDelay), time.Duration(c.RetryDelayMax)
	for i := uint64(1); i < delivery && d < limit; i++ {
		d *= 2
	}
	return min(d, limit)
}
