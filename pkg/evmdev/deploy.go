package evmdev

import (
	"context"
	"fmt"
	"math/big"

	"github.com/ethereum/go-ethereum/accounts/abi/bind/v2"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"

	"github.com/h402/settlement/pkg/contracts"
)

// Gas limits of the start-up transactions, fixed so that all of them can be
// sent before the first one is mined (estimation would need the token).
const (
	deployTokenGas     = 4_000_000
	deployMulticallGas = 1_000_000
	mintGas            = 120_000
)

// deploy sends the TestUSDC and Multicall3 deployments (deployer nonces 0 and
// 1, hence the fixed addresses) and one mint per payer, seals them all into
// block 1, and checks every receipt.
func (c *Chain) deploy(ctx context.Context) error {
	opts := bind.NewKeyedTransactor(DeployerKey(), c.ChainID())
	opts.Context = ctx
	opts.GasTipCap = big.NewInt(1_000_000_000)
	nonce := uint64(0)
	send := func(gas uint64) *bind.TransactOpts {
		o := *opts
		o.Nonce = new(big.Int).SetUint64(nonce)
		o.GasLimit = gas
		nonce++
		return &o
	}

	var txs []*types.Transaction
	usdc := contracts.NewTestUSDC()
	token, tx, err := bind.DeployContract(send(deployTokenGas), common.FromHex(contracts.TestUSDCMetaData.Bin), c.client,
		usdc.PackConstructor(c.cfg.TokenName, c.cfg.TokenSymbol, c.cfg.TokenVersion))
	if err != nil {
		return fmt.Errorf("send TestUSDC deployment: %w", err)
	}
	if token != TokenAddress() {
		return fmt.Errorf("TestUSDC deployed at %s, want %s (deployer nonce was not 0)", token, TokenAddress())
	}
	txs = append(txs, tx)

	mc, tx, err := bind.DeployContract(send(deployMulticallGas), common.FromHex(contracts.Multicall3MetaData.Bin), c.client, nil)
	if err != nil {
		return fmt.Errorf("send Multicall3 deployment: %w", err)
	}
	if mc != MulticallAddress() {
		return fmt.Errorf("Multicall3 deployed at %s, want %s (deployer nonce was not 1)", mc, MulticallAddress())
	}
	txs = append(txs, tx)

	instance := usdc.Instance(c.client, token)
	for _, payer := range c.payers {
		tx, err := bind.Transact(instance, send(mintGas), usdc.PackMint(Address(payer), c.cfg.PayerUSDC))
		if err != nil {
			return fmt.Errorf("send mint to %s: %w", Address(payer), err)
		}
		txs = append(txs, tx)
	}

	c.Commit()
	for i, tx := range txs {
		receipt, err := c.client.TransactionReceipt(ctx, tx.Hash())
		if err != nil {
			return fmt.Errorf("receipt of start-up tx %d/%d %s (head %d): %w", i, len(txs), tx.Hash(), c.Head(), err)
		}
		if receipt.Status != types.ReceiptStatusSuccessful {
			return fmt.Errorf("start-up tx %s failed (gas used %d)", tx.Hash(), receipt.GasUsed)
		}
	}
	return nil
}
