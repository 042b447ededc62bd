package config

import (
	"fmt"
	"net"
	"os"
	"strings"
	"time"
)

// NATS says where the event log lives.
type NATS struct {
	// URL of an external NATS server or cluster (nats://host:4222, comma-separated
	// for several seeds). Empty: start an embedded JetStream server in process.
	URL string `yaml:"url"`
	// CredsFile is a NATS credentials file (JWT and nkey seed) for an external server.
	CredsFile string `yaml:"credsFile"`
	// User and Password authenticate this process (each service has its own
	// user and permissions: configs/nats-auth.conf). Use ${VAR} for the
	// password, never the file itself. Default none.
	User     string `yaml:"user"`
	Password string `yaml:"password"`
	// NKeySeedFile authenticates with a user nkey seed (SU...) instead. Default none.
	NKeySeedFile string `yaml:"nkeySeedFile"`
	// Embedded configures the in-process server used when URL is empty.
	Embedded Embedded `yaml:"embedded"`
	// Replicas of every stream and bucket: 1 on one server, 3 in a cluster. Default 1.
	Replicas int `yaml:"replicas"`
	// MaxAge keeps the event log for audit, replay and ledger rebuild. Default "2160h" (90 days).
	MaxAge Duration `yaml:"maxAge"`
	// Duplicates is the Nats-Msg-Id window. Default "10m".
	Duplicates Duration `yaml:"duplicates"`
	// ReplayTTL keeps replay keys; must exceed verify.maxValidity. Default "48h".
	ReplayTTL Duration `yaml:"replayTTL"`
}

// Embedded configures the in-process JetStream server.
type Embedded struct {
	// StoreDir holds JetStream's files. Default "data/jetstream".
	StoreDir string `yaml:"storeDir"`
	// Host and Port to listen on so other processes (settlers, watchers) can
	// connect. Default 127.0.0.1:4222; port -1 listens on no port.
	Host string `yaml:"host"`
	Port int    `yaml:"port"`
	// SyncAlways fsyncs every write (DESIGN.md: production durability). Default true.
	SyncAlways *bool `yaml:"syncAlways"`
	// Users, when set, are the only clients the embedded server accepts,
	// each with its service's permissions (pkg/natsembed, auth.go): ingest
	// may publish payments.accepted.>, settlers may not. Default none (no
	// authentication; the server must then listen on loopback).
	Users []EmbeddedUser `yaml:"users"`
}

// EmbeddedUser is one client identity of the embedded server.
type EmbeddedUser struct {
	// User and Password (use ${VAR}), or NKey (a public user nkey, U...).
	User     string `yaml:"user"`
	Password string `yaml:"password"`
	NKey     string `yaml:"nkey"`
	// Service is ingest, settler, watcher or admin: its permission set.
	Service string `yaml:"service"`
}

// Ingest configures the facilitator endpoint.
type Ingest struct {
	// Listen is the API address. Default "127.0.0.1:8402".
	Listen string `yaml:"listen"`
	// AdminListen serves /metrics. Default "127.0.0.1:9402"; "off" disables it.
	AdminListen string `yaml:"adminListen"`
	// APIKeys, when any are set, are required from sellers in the
	// X-API-Key header (or Authorization: Bearer). Use ${VAR} or apiKeysFile;
	// never write keys into this file.
	APIKeys []string `yaml:"apiKeys"`
	// APIKeysFile holds one API key per line (blank lines and # comments ignored).
	APIKeysFile string `yaml:"apiKeysFile"`
	// MaxBodyBytes bounds a request body. Default 65536.
	MaxBodyBytes int64 `yaml:"maxBodyBytes"`
	// ReadTimeout and WriteTimeout bound one request. Defaults "5s" and "30s".
	ReadTimeout  Duration `yaml:"readTimeout"`
	WriteTimeout Duration `yaml:"writeTimeout"`
	// ShutdownGrace is how long in-flight requests may finish after a stop signal. Default "20s".
	ShutdownGrace Duration `yaml:"shutdownGrace"`
	// SettleWait makes /settle wait for a state before answering: "none"
	// (answer at acceptance), "submitted" or "finalized". Default "none".
	SettleWait string `yaml:"settleWait"`
	// SettleWaitTimeout bounds that wait; past it the answer is
	// settlement_pending with the payment id. Default "10s".
	SettleWaitTimeout Duration `yaml:"settleWaitTimeout"`
	// StateCacheTTL is how long a payer's balance and nonce are reused
	// without an RPC call. Default "2s".
	StateCacheTTL Duration `yaml:"stateCacheTTL"`
	// Replica names this process in claims and logs. Default: the host name.
	Replica string `yaml:"replica"`
	// AllowOpenAccess lets ingest serve a non-loopback listen address without
	// API keys. Default false: ingest refuses to start that way, since anyone
	// who reaches it could use it; set it only on a closed network.
	AllowOpenAccess bool `yaml:"allowOpenAccess"`
	// MissBudgetPerSecond is each caller's budget (per API key, or per remote
	// IP when no keys are configured) of payments from payers whose chain state
	// is not cached: each costs RPC calls. Over budget: 429 rate_limited with
	// Retry-After. Payers already cached are never limited. Default 20; 0
	// disables the budget.
	MissBudgetPerSecond *float64 `yaml:"missBudgetPerSecond"`
	// MissBudgetBurst is how many such payments a caller may make at once
	// before the per-second budget applies. Default 40.
	MissBudgetBurst int `yaml:"missBudgetBurst"`
}

// Log configures logging.
type Log struct {
	// Level: debug, info, warn or error. Default info.
	Level string `yaml:"level"`
	// Format: json or text; default json, text when stderr is a terminal.
	Format string `yaml:"format"`
}

func (n *NATS) defaults() {
	if n.Embedded.StoreDir == "" {
		n.Embedded.StoreDir = "data/jetstream"
	}
	if n.Embedded.Host == "" {
		n.Embedded.Host = "127.0.0.1"
	}
	if n.Embedded.Port == 0 {
		n.Embedded.Port = 4222
	}
	if n.Embedded.SyncAlways == nil {
		t := true
		n.Embedded.SyncAlways = &t
	}
	if n.Replicas == 0 {
		n.Replicas = 1
	}
	if n.MaxAge == 0 {
		n.MaxAge = Duration(90 * 24 * time.Hour)
	}
	if n.Duplicates == 0 {
		n.Duplicates = Duration(10 * time.Minute)
	}
	if n.ReplayTTL == 0 {
		n.ReplayTTL = Duration(48 * time.Hour)
	}
}

func (i *Ingest) defaults() {
	if i.Listen == "" {
		i.Listen = "127.0.0.1:8402"
	}
	if i.AdminListen == "" {
		i.AdminListen = "127.0.0.1:9402"
	}
	if i.MaxBodyBytes == 0 {
		i.MaxBodyBytes = 64 << 10
	}
	if i.ReadTimeout == 0 {
		i.ReadTimeout = Duration(5 * time.Second)
	}
	if i.WriteTimeout == 0 {
		i.WriteTimeout = Duration(30 * time.Second)
	}
	if i.ShutdownGrace == 0 {
		i.ShutdownGrace = Duration(20 * time.Second)
	}
	if i.SettleWait == "" {
		i.SettleWait = "none"
	}
	if i.SettleWaitTimeout == 0 {
		i.SettleWaitTimeout = Duration(10 * time.Second)
	}
	if i.StateCacheTTL == 0 {
		i.StateCacheTTL = Duration(2 * time.Second)
	}
	if i.Replica == "" {
		i.Replica, _ = os.Hostname()
	}
	if i.MissBudgetPerSecond == nil {
		v := 20.0
		i.MissBudgetPerSecond = &v
	}
	if i.MissBudgetBurst == 0 {
		i.MissBudgetBurst = 40
	}
}

// CheckOpenAccess refuses to serve a non-loopback listen address without API
// keys (keys are the loaded ones, LoadAPIKeys), unless allowOpenAccess is set.
func (i *Ingest) CheckOpenAccess(keys []string) error {
	if len(keys) > 0 || i.AllowOpenAccess || IsLoopback(i.Listen) {
		return nil
	}
	return fmt.Errorf("ingest.listen: a non-loopback address without API keys lets anyone use this facilitator; "+
		"configure ingest.apiKeys or ingest.apiKeysFile, listen on 127.0.0.1, or set ingest.allowOpenAccess on a closed network (got %s)", i.Listen)
}

// IsLoopback reports whether a host:port listen address accepts loopback
// connections only (an empty host listens everywhere).
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (c *Config) validateServices() []error {
	var errs []error
	bad := func(field, problem string, got any) {
		errs = append(errs, fmt.Errorf("%s: %s (got %v)", field, problem, got))
	}
	if c.NATS.Replicas != 1 && c.NATS.Replicas != 3 && c.NATS.Replicas != 5 {
		bad("nats.replicas", "must be 1, 3 or 5", c.NATS.Replicas)
	}
	if c.NATS.URL == "" && c.NATS.Embedded.Port >= 0 && c.NATS.Embedded.Host != "" && !IsLoopback(net.JoinHostPort(c.NATS.Embedded.Host, "0")) {
		bad("nats.embedded.host", "the embedded server is one process's private log and must listen on loopback; "+
			"a deployment of several processes or machines runs a NATS cluster and sets nats.url", c.NATS.Embedded.Host)
	}
	for i, u := range c.NATS.Embedded.Users {
		switch u.Service {
		case "ingest", "settler", "watcher", "admin":
		default:
			bad(fmt.Sprintf("nats.embedded.users[%d].service", i), "must be ingest, settler, watcher or admin", fmt.Sprintf("%q", u.Service))
		}
		if u.NKey == "" && (u.User == "" || len(u.Password) < 16) {
			bad(fmt.Sprintf("nats.embedded.users[%d]", i), "needs a user and a password of at least 16 characters, or an nkey", fmt.Sprintf("user %q", u.User))
		}
	}
	if c.NATS.URL == "" && c.NATS.Replicas != 1 {
		bad("nats.replicas", "the embedded server is one node: replicas must be 1", c.NATS.Replicas)
	}
	if time.Duration(c.NATS.ReplayTTL) <= time.Duration(c.Verify.MaxValidity) {
		bad("nats.replayTTL", "must be longer than verify.maxValidity, or a replayed payment could still settle", c.NATS.ReplayTTL)
	}
	switch c.Ingest.SettleWait {
	case "none", "submitted", "finalized":
	default:
		bad("ingest.settleWait", "must be none, submitted or finalized", fmt.Sprintf("%q", c.Ingest.SettleWait))
	}
	if c.Ingest.MaxBodyBytes < 1024 {
		bad("ingest.maxBodyBytes", "must be at least 1024", c.Ingest.MaxBodyBytes)
	}
	if c.Ingest.MissBudgetPerSecond != nil && *c.Ingest.MissBudgetPerSecond < 0 {
		bad("ingest.missBudgetPerSecond", "must not be negative (0 disables the budget)", *c.Ingest.MissBudgetPerSecond)
	}
	if c.Ingest.MissBudgetBurst < 1 {
		bad("ingest.missBudgetBurst", "must be at least 1", c.Ingest.MissBudgetBurst)
	}
	for i, k := range c.Ingest.APIKeys {
		if len(k) < 16 {
			// Never echo a key, even a bad one.
			bad(fmt.Sprintf("ingest.apiKeys[%d]", i), "an API key must have at least 16 characters", fmt.Sprintf("%d characters", len(k)))
		}
	}
	switch strings.ToLower(c.Log.Level) {
	case "", "debug", "info", "warn", "error":
	default:
		bad("log.level", "must be debug, info, warn or error", fmt.Sprintf("%q", c.Log.Level))
	}
	switch c.Log.Format {
	case "", "json", "text":
	default:
		bad("log.format", "must be json or text", fmt.Sprintf("%q", c.Log.Format))
	}
	return errs
}

// LoadAPIKeys returns the configured API keys, from apiKeys and apiKeysFile.
func (i *Ingest) LoadAPIKeys() ([]string, error) {
	keys := append([]string(nil), i.APIKeys...)
	if i.APIKeysFile == "" {
		return keys, nil
	}
	b, err := os.ReadFile(i.APIKeysFile)
	if err != nil {
		return nil, fmt.Errorf("ingest.apiKeysFile: %w", err)
	}
	for n, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if len(line) < 16 {
			return nil, fmt.Errorf("ingest.apiKeysFile line %d: an API key must have at least 16 characters", n+1)
		}
		keys = append(keys, line)
	}
	return keys, nil
}
