package evmdev

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"math/big"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/eth/ethconfig"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/ethereum/go-ethereum/ethclient/simulated"
	"github.com/ethereum/go-ethereum/node"
	"github.com/ethereum/go-ethereum/params"
)

// Chain is a running dev chain. Its methods are safe for concurrent use.
type Chain struct {
	cfg          Config
	url, wsURL   string
	client       *ethclient.Client
	payers       []*ecdsa.PrivateKey
	facilitators []*ecdsa.PrivateKey

	// mu serialises everything that changes the chain: Commit, Reorg, Close.
	mu        sync.Mutex
	sim       *simulated.Backend // nil once closed
	head      uint64
	finalized uint64

	stop chan struct{}
	done chan struct{} // closed when the sealing loop has returned
}

// Start launches a dev chain: the simulated node with JSON-RPC on a loopback
// port, the funded dev accounts, TestUSDC and Multicall3 deployed and the
// payers' USDC minted (block 1). It returns once all of that is mined.
func Start(ctx context.Context, cfg Config) (*Chain, error) {
	began := time.Now()
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("evmdev: config: %w", err)
	}
	c := &Chain{cfg: cfg, stop: make(chan struct{}), done: make(chan struct{})}
	for i := range cfg.Payers {
		c.payers = append(c.payers, PayerKey(i))
	}
	for i := range cfg.Facilitators {
		c.facilitators = append(c.facilitators, FacilitatorKey(i))
	}

	sim, port, err := startBackend(cfg, c.genesisAlloc())
	if err != nil {
		return nil, err
	}
	c.sim = sim
	dial := cfg.Host
	if ip := net.ParseIP(dial); ip != nil && ip.IsUnspecified() {
		dial = "127.0.0.1"
	}
	c.url = "http://" + net.JoinHostPort(dial, strconv.Itoa(port))
	c.wsURL = "ws://" + net.JoinHostPort(dial, strconv.Itoa(port))
	if c.client, err = ethclient.DialContext(ctx, c.url); err != nil {
		c.closeBackend()
		return nil, fmt.Errorf("evmdev: dial %s: %w", c.url, err)
	}
	if err := c.deploy(ctx); err != nil {
		close(c.done) // no sealing loop yet
		c.Close()
		return nil, fmt.Errorf("evmdev: deploy contracts: %w", err)
	}
	if cfg.BlockPeriod > 0 {
		go c.sealLoop(cfg.BlockPeriod)
	} else {
		close(c.done)
	}
	cfg.Logger.Info("evm dev chain started", "url", c.url, "chain_id", cfg.ChainID,
		"token", TokenAddress(), "multicall", MulticallAddress(), "took", time.Since(began))
	return c, nil
}

// genesisAlloc funds the deployer, payers and facilitators with ether.
func (c *Chain) genesisAlloc() types.GenesisAlloc {
	alloc := types.GenesisAlloc{Address(DeployerKey()): {Balance: c.cfg.Ether}}
	for _, k := range append(append([]*ecdsa.PrivateKey{}, c.payers...), c.facilitators...) {
		alloc[Address(k)] = types.Account{Balance: c.cfg.Ether}
	}
	return alloc
}

// startBackend starts the simulated node serving HTTP and WebSocket JSON-RPC
// on one loopback port. With Port 0 it picks a free port, retrying when
// another process takes the port between the pick and the bind.
func startBackend(cfg Config, alloc types.GenesisAlloc) (*simulated.Backend, int, error) {
	attempts := 1
	if cfg.Port == 0 {
		attempts = 5
	}
	var lastErr error
	for range attempts {
		port := cfg.Port
		if port == 0 {
			p, err := freePort()
			if err != nil {
				return nil, 0, fmt.Errorf("evmdev: pick a free port: %w", err)
			}
			port = p
		}
		sim, err := newBackend(cfg, alloc, port)
		if err == nil {
			return sim, port, nil
		}
		lastErr = err
	}
	return nil, 0, lastErr
}

// newBackend builds the simulated backend. simulated.NewBackend panics when
// the node cannot start (for example, the port is taken); that is turned into
// an error here.
func newBackend(cfg Config, alloc types.GenesisAlloc, port int) (sim *simulated.Backend, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("evmdev: start node on %s: %v", net.JoinHostPort(cfg.Host, strconv.Itoa(port)), r)
		}
	}()
	chainConfig := *params.AllDevChainProtocolChanges // copy: the original is shared
	chainConfig.ChainID = new(big.Int).SetUint64(cfg.ChainID)
	// Bogota/Amsterdam reprice state access far above mainnet; run Osaka rules.
	chainConfig.BogotaTime = nil
	chainConfig.AmsterdamTime = nil

	modules := []string{"eth", "net", "web3", "txpool"}
	sim = simulated.NewBackend(alloc,
		simulated.WithBlockGasLimit(cfg.GasLimit),
		simulated.WithMinerMinTip(MinTip),
		func(nc *node.Config, ec *ethconfig.Config) {
			ec.Genesis.Config = &chainConfig
			ec.NetworkId = cfg.ChainID
			nc.HTTPHost = cfg.Host
			nc.HTTPPort = port
			nc.HTTPModules = modules
			nc.HTTPVirtualHosts = []string{"localhost"}
			if ip := net.ParseIP(cfg.Host); ip == nil || !ip.IsLoopback() {
				nc.HTTPVirtualHosts = []string{"*"} // other containers call it by service name
			}
			nc.WSHost = cfg.Host
			nc.WSPort = port
			nc.WSModules = modules
			nc.WSOrigins = []string{"*"}
		})
	return sim, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// URL is the HTTP JSON-RPC endpoint, http://127.0.0.1:<port>.
func (c *Chain) URL() string { return c.url }

// WSURL is the WebSocket JSON-RPC endpoint on the same port (subscriptions).
func (c *Chain) WSURL() string { return c.wsURL }

// Client is an ethclient connected to URL. Close closes it.
func (c *Chain) Client() *ethclient.Client { return c.client }

// ChainID is the chain's EIP-155 id.
func (c *Chain) ChainID() *big.Int { return new(big.Int).SetUint64(c.cfg.ChainID) }

// Token is the TestUSDC address.
func (c *Chain) Token() common.Address { return TokenAddress() }

// Multicall is the Multicall3 address.
func (c *Chain) Multicall() common.Address { return MulticallAddress() }

// Deployer is the LOCAL-ONLY key that owns TestUSDC and may mint.
func (c *Chain) Deployer() *ecdsa.PrivateKey { return DeployerKey() }

// Payers are the LOCAL-ONLY payer keys, each holding Config.PayerUSDC test
// USDC and Config.Ether wei at start.
func (c *Chain) Payers() []*ecdsa.PrivateKey { return append([]*ecdsa.PrivateKey(nil), c.payers...) }

// Facilitators are the LOCAL-ONLY facilitator keys, each holding Config.Ether
// wei at start.
func (c *Chain) Facilitators() []*ecdsa.PrivateKey {
	return append([]*ecdsa.PrivateKey(nil), c.facilitators...)
}

// Config is the configuration the chain runs with, defaults filled in.
func (c *Chain) Config() Config { return c.cfg }

// Close stops sealing, closes the client and shuts the node down. It is safe
// to call more than once.
func (c *Chain) Close() error {
	c.mu.Lock()
	if c.sim == nil {
		c.mu.Unlock()
		return nil
	}
	close(c.stop)
	c.mu.Unlock()
	<-c.done // the loop takes mu to seal: wait without holding it

	if c.client != nil {
		c.client.Close()
	}
	return c.closeBackend()
}

func (c *Chain) closeBackend() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sim == nil {
		return nil
	}
	err := c.sim.Close()
	c.sim = nil
	if err != nil {
		return fmt.Errorf("evmdev: close node: %w", err)
	}
	return nil
}

// errClosed is returned by operations on a closed chain.
var errClosed = errors.New("evmdev: chain is closed")
