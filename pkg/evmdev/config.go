package evmdev

import (
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"time"
)

// MinTip is the smallest priority fee (wei) the dev chain's miner includes.
// Transactions with a lower tip stay in the pool forever.
var MinTip = big.NewInt(1_000_000)

// Config sets up a dev chain. The zero value is usable: every zero field takes
// the default named in its comment, except Port (zero: a free port) and
// BlockPeriod (zero: blocks are sealed only by Commit).
type Config struct {
	// ChainID is the EIP-155 chain id (default 1337). 84532 (Base Sepolia)
	// lets x402 v1 clients, which know only fixed network names, pay it.
	ChainID uint64
	// Port is the loopback TCP port serving JSON-RPC over HTTP and WebSocket;
	// 0 picks a free port.
	Port int
	// Host is the address JSON-RPC listens on (default 127.0.0.1). A
	// container network needs "0.0.0.0" (docker-compose.yml); any host name
	// is then accepted in the Host header. Never on a shared host: the dev
	// keys are well known.
	Host string
	// BlockPeriod seals a block (possibly empty) every period; 0 seals only on
	// Commit and Reorg.
	BlockPeriod time.Duration
	// FinalityDepth is how many blocks Finalized trails the head (default 3;
	// the head itself is never final, so Reorg always has room).
	FinalityDepth uint64
	// Payers is the number of payer accounts funded with ether and test USDC
	// (default 8).
	Payers int
	// Facilitators is the number of facilitator accounts funded with ether
	// (default 4).
	Facilitators int
	// PayerUSDC is each payer's test USDC balance in smallest units (default
	// 1,000,000 USDC = 1e12).
	PayerUSDC *big.Int
	// Ether is the wei balance of every dev account (default 1000 ether).
	Ether *big.Int
	// GasLimit is the block gas limit (default 100,000,000). Osaka also caps
	// one transaction at 2^24 gas.
	GasLimit uint64
	// TokenName, TokenSymbol and TokenVersion set TestUSDC's ERC-20 name
	// (also its EIP-712 domain name), symbol and EIP-712 domain version
	// (defaults "USD Coin", "USDC", "2", as USDC on Ethereum mainnet).
	TokenName, TokenSymbol, TokenVersion string
	// Logger receives start-up and sealing messages (default: discarded).
	Logger *slog.Logger
}

// DefaultConfig returns the settings cmd/devnet starts with: chain id 1337,
// a free port, a block every second, finality 3 blocks behind the head.
func DefaultConfig() Config {
	return Config{ChainID: 1337, BlockPeriod: time.Second, FinalityDepth: 3}
}

// withDefaults fills zero fields and checks the rest.
func (c Config) withDefaults() (Config, error) {
	if c.ChainID == 0 {
		c.ChainID = 1337
	}
	if c.Host == "" {
		c.Host = "127.0.0.1"
	}
	if c.FinalityDepth == 0 {
		c.FinalityDepth = 3
	}
	if c.Payers == 0 {
		c.Payers = 8
	}
	if c.Facilitators == 0 {
		c.Facilitators = 4
	}
	if c.PayerUSDC == nil {
		c.PayerUSDC = big.NewInt(1_000_000_000_000)
	}
	if c.Ether == nil {
		c.Ether = new(big.Int).Mul(big.NewInt(1000), big.NewInt(1e18))
	}
	if c.GasLimit == 0 {
		c.GasLimit = 100_000_000
	}
	if c.TokenName == "" {
		c.TokenName = "USD Coin"
	}
	if c.TokenSymbol == "" {
		c.TokenSymbol = "USDC"
	}
	if c.TokenVersion == "" {
		c.TokenVersion = "2"
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	var errs []error
	if c.Port < 0 || c.Port > 65535 {
		errs = append(errs, fmt.Errorf("port: must be 0..65535 (got %d)", c.Port))
	}
	if c.BlockPeriod < 0 {
		errs = append(errs, fmt.Errorf("block period: must not be negative (got %s)", c.BlockPeriod))
	}
	if c.Payers < 0 || c.Payers > 10_000 {
		errs = append(errs, fmt.Errorf("payers: must be 0..10000 (got %d)", c.Payers))
	}
	if c.Facilitators < 0 || c.Facilitators > 10_000 {
		errs = append(errs, fmt.Errorf("facilitators: must be 0..10000 (got %d)", c.Facilitators))
	}
	if c.PayerUSDC.Sign() <= 0 {
		errs = append(errs, fmt.Errorf("payer USDC: must be positive (got %s)", c.PayerUSDC))
	}
	if c.Ether.Sign() <= 0 {
		errs = append(errs, fmt.Errorf("ether: must be positive (got %s)", c.Ether))
	}
	if c.GasLimit < 5_000_000 {
		errs = append(errs, fmt.Errorf("gas limit: must be at least 5000000 (got %d)", c.GasLimit))
	}
	return c, errors.Join(errs...)
}
