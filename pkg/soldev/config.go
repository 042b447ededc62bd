package soldev

import (
	"fmt"
	"io"
	"time"
)

// Config tunes a Localnet. The zero value is ready for tests.
type Config struct {
	// Dir is the localnet folder holding server.js and package.json. Empty:
	// $SOLDEV_LOCALNET_DIR, else the repository's localnet/ found from this
	// package's source location, else from the working directory upwards.
	Dir string
	// Node and Npm name the executables. Empty: "node" and "npm" from PATH.
	Node, Npm string
	// SlotInterval advances one slot per interval. Zero: slots advance only
	// through AdvanceSlots, which keeps tests deterministic.
	SlotInterval time.Duration
	// Port is the JSON-RPC port on 127.0.0.1; zero picks a free one.
	Port int
	// Host is the address the JSON-RPC server listens on. Empty: 127.0.0.1.
	// A container network needs "0.0.0.0" (docker-compose.yml); never on a
	// shared host: the dev keys are well known.
	Host string
	// BlockhashExpirySlots is how many slots a blockhash stays valid. Zero: 150, as on Solana.
	BlockhashExpirySlots int
	// FinalityDepthSlots is how many slots a transaction needs to be finalized. Zero: 32.
	FinalityDepthSlots int
	// Payers and FeePayers are how many funded payer and fee-payer keypairs
	// the genesis creates. Zero: 4 and 2.
	Payers, FeePayers int
	// StartTimeout bounds Start, including `npm ci` when node_modules is
	// missing. Zero: 2 minutes.
	StartTimeout time.Duration
	// Log receives the server's standard error. Nil: the last lines are kept
	// and reported if the server fails.
	Log io.Writer
}

const (
	defaultBlockhashExpiry = 150
	defaultFinalityDepth   = 32
	defaultPayers          = 4
	defaultFeePayers       = 2
	defaultStartTimeout    = 2 * time.Minute
	maxKeypairs            = 256
)

func (c Config) withDefaults() Config {
	if c.Node == "" {
		c.Node = "node"
	}
	if c.Host == "" {
		c.Host = "127.0.0.1"
	}
	if c.Npm == "" {
		c.Npm = "npm"
	}
	if c.BlockhashExpirySlots == 0 {
		c.BlockhashExpirySlots = defaultBlockhashExpiry
	}
	if c.FinalityDepthSlots == 0 {
		c.FinalityDepthSlots = defaultFinalityDepth
	}
	if c.Payers == 0 {
		c.Payers = defaultPayers
	}
	if c.FeePayers == 0 {
		c.FeePayers = defaultFeePayers
	}
	if c.StartTimeout == 0 {
		c.StartTimeout = defaultStartTimeout
	}
	return c
}

// Validate reports the first field out of range as "field: problem (got value)".
func (c Config) Validate() error {
	switch {
	case c.SlotInterval < 0 || (c.SlotInterval > 0 && c.SlotInterval < time.Millisecond):
		return fmt.Errorf("SlotInterval: must be 0 or at least 1ms (got %s)", c.SlotInterval)
	case c.BlockhashExpirySlots < 0:
		return fmt.Errorf("BlockhashExpirySlots: must not be negative (got %d)", c.BlockhashExpirySlots)
	case c.FinalityDepthSlots < 0:
		return fmt.Errorf("FinalityDepthSlots: must not be negative (got %d)", c.FinalityDepthSlots)
	case c.Payers < 0 || c.Payers > maxKeypairs:
		return fmt.Errorf("Payers: must be in [0, %d] (got %d)", maxKeypairs, c.Payers)
	case c.FeePayers < 0 || c.FeePayers > maxKeypairs:
		return fmt.Errorf("FeePayers: must be in [0, %d] (got %d)", maxKeypairs, c.FeePayers)
	case c.StartTimeout < 0:
		return fmt.Errorf("StartTimeout: must not be negative (got %s)", c.StartTimeout)
	}
	return nil
}
