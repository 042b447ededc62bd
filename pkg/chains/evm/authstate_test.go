package evm_test

import (
	"context"
	"math/big"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/h402/settlement/pkg/chains"
	"github.com/h402/settlement/pkg/chains/evm"
	"github.com/h402/settlement/pkg/config"
	"github.com/h402/settlement/pkg/contracts"
	"github.com/h402/settlement/pkg/evmdev"
	"github.com/h402/settlement/pkg/failover"
	"github.com/h402/settlement/pkg/h402"
	"github.com/h402/settlement/pkg/testenv"
)

// TestBatchedAuthorizationState: concurrent on-chain nonce checks are
// answered correctly and share aggregate3 calls.
func TestBatchedAuthorizationState(t *testing.T) {
	chain := testenv.StartEVM(t, evmdev.Config{})
	network := testenv.EVMNetwork(chain)
	token := &network.Tokens[0]
	reg := prometheus.NewRegistry()
	m := failover.NewMetrics(reg)
	pool, err := evm.Dial(context.Background(), &network, failover.Settings{Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	checker := evm.NewStateChecker(&network, pool, evm.StateOptions{Multicall: chain.Multicall(), BatchWait: 20 * time.Millisecond})

	// One authorization is used on chain before the checks.
	req := func() h402.PaymentRequirements {
		d := h402.Decimal{Text: "100", Quoted: true}
		return h402.PaymentRequirements{Namespace: h402.NamespaceEVM, Scheme: "exact", NetworkID: network.NetworkID, TokenAddress: token.Address,
			PayToAddress: "0x00000000000000000000000000000000000000aa", AmountRequired: &d, AmountRequiredFormat: h402.FormatSmallestUnit}
	}
	payer := chain.Payers()[0]
	used := req()
	p, _, err := evm.SignAuthorization(&used, payer, token, time.Now(), evm.AuthorizationOptions{})
	if err != nil {
		t.Fatal(err)
	}
	a := p.Payload.(*h402.EVMAuthorizationPayload)
	va, _ := a.Authorization.ValidAfter.Uint()
	vb, _ := a.Authorization.ValidBefore.Uint()
	data := contracts.NewTestUSDC().PackTransferWithAuthorizationBytes(common.HexToAddress(a.Authorization.From), common.HexToAddress(a.Authorization.To),
		big.NewInt(100), va, vb, [32]byte(hexutil.MustDecode(a.Authorization.Nonce)), hexutil.MustDecode(a.Signature))
	ctx := context.Background()
	c := chain.Client()
	fac := chain.Facilitators()[0]
	nonce, _ := c.PendingNonceAt(ctx, evmdev.Address(fac))
	to := chain.Token()
	tx := types.MustSignNewTx(fac, types.LatestSignerForChainID(chain.ChainID()), &types.DynamicFeeTx{ChainID: chain.ChainID(), Nonce: nonce, To: &to, Data: data, Gas: 200_000, GasTipCap: big.NewInt(1e9), GasFeeCap: big.NewInt(1e11)})
	if err := c.SendTransaction(ctx, tx); err != nil {
		t.Fatal(err)
	}
	chain.Commit()

	payment := func(p *h402.PaymentPayload) *chains.Payment {
		a := p.Payload.(*h402.EVMAuthorizationPayload)
		return &chains.Payment{Type: h402.TypeAuthorization, Token: token.Address, Payer: a.Authorization.From, Nonce: a.Authorization.Nonce, Amount: big.NewInt(100)}
	}
	const n = 40
	payments := []*chains.Payment{payment(p)}
	for i := 0; i < n; i++ {
		r := req()
		fresh, _, err := evm.SignAuthorization(&r, chain.Payers()[1+i%4], token, time.Now(), evm.AuthorizationOptions{})
		if err != nil {
			t.Fatal(err)
		}
		payments = append(payments, payment(fresh))
	}
	notToken := &chains.Payment{Type: h402.TypeAuthorization, Token: chain.Multicall().Hex(), Payer: payments[1].Payer, Nonce: payments[1].Nonce}
	payments = append(payments, notToken)

	errs := make([]error, len(payments))
	var wg sync.WaitGroup
	for i, pay := range payments {
		wg.Add(1)
		go func(i int, pay *chains.Payment) {
			defer wg.Done()
			_, errs[i] = checker.CheckState(ctx, &chains.Request{Token: &config.Token{Kind: config.KindEIP3009}}, pay)
		}(i, pay)
	}
	wg.Wait()
	if got := h402.ReasonOf(errs[0], ""); got != h402.ReasonNonceAlreadyUsed {
		t.Errorf("used authorization: reason %q, want nonce_already_used (err %v)", got, errs[0])
	}
	for i := 1; i <= n; i++ {
		if errs[i] != nil {
			t.Errorf("fresh authorization %d: %v", i, errs[i])
		}
	}
	if got := h402.ReasonOf(errs[n+1], ""); got != h402.ReasonTokenNotSupported {
		t.Errorf("a contract without authorizationState: reason %q, want token_not_supported", got)
	}
	var metric dto.Metric
	if err := m.CallHistogram().WithLabelValues(network.CAIP2, "rpc0", "eth_call:aggregate3(authorizationState)", "ok").(prometheus.Metric).Write(&metric); err != nil {
		t.Fatal(err)
	}
	calls := metric.GetHistogram().GetSampleCount()
	if calls < 1 || calls > 10 {
		t.Errorf("%d concurrent checks took %v aggregate3 calls; want them batched into a few", len(payments), calls)
	}
}
