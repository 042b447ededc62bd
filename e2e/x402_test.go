package e2e

import (
	"encoding/json"
	"math/big"
	"testing"

	"github.com/ethereum/go-ethereum/common"

	"github.com/h402/settlement/pkg/chains/evm"
)

// TestX402EVM pays the dev chain (chain id 84532) with the published x402
// clients, as a new user would, and checks each payment lands exactly once.
func TestX402EVM(t *testing.T) {
	p := startPipeline(t, false)
	token := p.usdc()
	payers := p.evm.Payers()
	amount := big.NewInt(10_000)
	tests := []struct {
		name        string
		client      string // package that makes the payment
		version     int
		network     string
		facilitator string // package whose facilitator client calls ingest
		paymentID   string // x402 v2 payment-identifier extension, when set
	}{
		{name: "v1 x402 1.2.0", client: "x402", version: 1, network: "base-sepolia", facilitator: "x402"},
		{name: "v2 @x402/evm 2.27", client: "@x402/evm", version: 2, network: "eip155:84532", facilitator: "@x402/core"},
		{name: "v2 @x402/evm 2.27 with payment-identifier", client: "@x402/evm", version: 2, network: "eip155:84532", facilitator: "@x402/core", paymentID: "pay_e2e0123456789abcdef0123456789ab"},
		{name: "v1 @x402/evm 2.27", client: "@x402/evm", version: 1, network: "base-sepolia", facilitator: "@x402/core"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seller := freshAddress()
			req := map[string]any{
				"scheme": "exact", "network": tt.network, "payTo": seller.Hex(), "maxTimeoutSeconds": 300,
				"asset": p.evm.Token().Hex(), "extra": map[string]any{"name": token.EIP712Name, "version": token.EIP712Version},
			}
			if tt.version == 1 {
				req["maxAmountRequired"] = amount.String()
				req["resource"] = "https://api.example/report"
				req["description"] = "e2e report"
				req["mimeType"] = "application/json"
			} else {
				req["amount"] = amount.String()
			}
			job := map[string]any{"client": tt.client, "x402Version": tt.version, "privateKey": keyHex(payers[i]), "paymentRequirements": req}
			if tt.paymentID != "" {
				job["paymentIdentifier"] = tt.paymentID
			}
			body, pp := nodePay(t, job)
			payload, _ := pp["payload"].(map[string]any)
			auth, _ := payload["authorization"].(map[string]any)
			fromHex, _ := auth["from"].(string)
			nonceHex, _ := auth["nonce"].(string)
			if !common.IsHexAddress(fromHex) || len(nonceHex) != 66 {
				t.Fatalf("client made no EIP-3009 authorization: %v", pp)
			}
			from, nonce := common.HexToAddress(fromHex), common.HexToHash(nonceHex)
			id := evm.AuthorizationKey(p.evm.ChainID(), p.evm.Token(), from, nonce)
			var replays func(t *testing.T)
			if tt.paymentID != "" {
				// The same payment under another payment-identifier is
				// another seller request: refused, never paid again.
				other := withPaymentIdentifier(t, body, "pay_e2eother0123456789abcdef012345")
				replays = func(t *testing.T) { p.settleRefused(t, dialectX402, other, id) }
			}
			p.run(t, payment{
				dialect: dialectX402, body: body, network: tt.network, viaNode: tt.facilitator,
				id: id, replays: replays,
				landed: p.authorizationLanded(seller, amount, from, nonce),
			})
		})
	}
}

// withPaymentIdentifier is body with its payment-identifier extension id
// (paymentPayload.extensions["payment-identifier"].info.id) replaced.
func withPaymentIdentifier(t *testing.T, body []byte, id string) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	pp, _ := m["paymentPayload"].(map[string]any)
	ext, _ := pp["extensions"].(map[string]any)
	pi, _ := ext["payment-identifier"].(map[string]any)
	info, _ := pi["info"].(map[string]any)
	if info == nil {
		t.Fatalf("payload carries no payment-identifier extension: %s", body)
	}
	info["id"] = id
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
