package h402

import (
	"bytes"
	"encoding/json"
	"errors"
	"math/big"
	"strings"
	"testing"
)

func TestDecodeRequestBadInput(t *testing.T) {
	payload := func(t *testing.T, golden string, fn func(m map[string]any)) []byte {
		t.Helper()
		return edit(t, golden, fn)
	}
	noop := func(map[string]any) {}
	evmReq := readGolden(t, "requirements_evm_smallest_number.json")
	evmPay := readGolden(t, "payload_evm_authorization.json")
	const v1, v2 = "x402v1_request_evm.json", "x402v2_request_evm.json"
	const v1sol, v2sol = "x402v1_request_solana.json", "x402v2_request_solana.json"
	v1req := func(k string, v any) func(m map[string]any) {
		return func(m map[string]any) { at(m, "paymentRequirements")[k] = v }
	}
	v2both := func(k string, v any) func(m map[string]any) {
		return func(m map[string]any) {
			at(m, "paymentRequirements")[k] = v
			at(m, "paymentPayload", "accepted")[k] = v
		}
	}
	tests := []struct {
		name        string
		body        []byte
		want        Reason
		wantDialect Dialect
		wantNetwork string
	}{
		{"too large", append(append([]byte(`{"payload":"`), bytes.Repeat([]byte("A"), MaxRequestLen)...), `"}`...), ReasonPayloadTooLarge, DialectH402, ""},
		{"not json", []byte(`payload=abc`), ReasonInvalidEncoding, DialectH402, ""},
		{"truncated json", evmReq[:len(evmReq)/2], ReasonInvalidEncoding, DialectH402, ""},
		{"array", []byte(`[{"payload":"x"}]`), ReasonInvalidPayload, DialectH402, ""},
		{"null", []byte(`null`), ReasonInvalidPayload, DialectH402, ""},
		{"empty object", []byte(`{}`), ReasonInvalidPayload, DialectH402, ""},
		{"h402 payload as number", []byte(`{"payload":12,"paymentRequirements":` + string(evmReq) + `}`), ReasonInvalidPayload, DialectH402, ""},
		{"h402 payload missing", []byte(`{"paymentRequirements":` + string(evmReq) + `}`), ReasonInvalidPayload, DialectH402, ""},
		{"h402 requirements missing", []byte(`{"payload":"` + EncodeBase64(evmPay) + `"}`), ReasonInvalidPaymentRequirements, DialectH402, ""},
		{"h402 requirements null", []byte(`{"payload":"` + EncodeBase64(evmPay) + `","paymentRequirements":null}`), ReasonInvalidPaymentRequirements, DialectH402, ""},
		{"h402 requirements array", []byte(`{"payload":"` + EncodeBase64(evmPay) + `","paymentRequirements":[]}`), ReasonInvalidPaymentRequirements, DialectH402, ""},
		{"h402 bad base64", []byte(`{"payload":"%%%","paymentRequirements":` + string(evmReq) + `}`), ReasonInvalidEncoding, DialectH402, ""},
		{"h402 wrong payload version", h402Body(t, payload(t, "payload_evm_authorization.json", func(m map[string]any) { m["h402Version"] = 2 }), evmReq), ReasonInvalidVersion, DialectH402, ""},
		{"h402 network mismatch", h402Body(t, payload(t, "payload_evm_authorization.json", func(m map[string]any) { m["networkId"] = "84532" }), evmReq), ReasonInvalidNetwork, DialectH402, ""},
		{"h402 namespace mismatch", h402Body(t, readGolden(t, "payload_solana_sign_and_send.json"), evmReq), ReasonInvalidNetwork, DialectH402, ""},
		{"h402 resource mismatch", h402Body(t, payload(t, "payload_evm_authorization.json", func(m map[string]any) { m["resource"] = "https://evil.example/" }), evmReq), ReasonResourceMismatch, DialectH402, ""},
		{"h402 requirements arkade", h402Body(t, evmPay, edit(t, "requirements_evm_smallest_number.json", func(m map[string]any) { m["namespace"] = "arkade" })), ReasonInvalidNetwork, DialectH402, ""},
		{"mixed dialects", edit(t, v1, func(m map[string]any) { m["payload"] = EncodeBase64(evmPay) }), ReasonInvalidPayload, DialectH402, ""},
		{"x402Version 3", edit(t, v1, func(m map[string]any) { m["x402Version"] = 3 }), ReasonInvalidVersion, DialectH402, ""},
		{"x402Version string", edit(t, v1, func(m map[string]any) { m["x402Version"] = "1" }), ReasonInvalidVersion, DialectH402, ""},
		{"x402Version missing", edit(t, v1, func(m map[string]any) { delete(m, "x402Version") }), ReasonInvalidVersion, DialectH402, ""},
		{"v1 inner version 2", edit(t, v1, func(m map[string]any) { at(m, "paymentPayload")["x402Version"] = 2 }), ReasonInvalidVersion, DialectX402V1, "base"},
		{"v1 unknown network", edit(t, v1, func(m map[string]any) {
			at(m, "paymentRequirements")["network"] = "base-mainnet"
			at(m, "paymentPayload")["network"] = "base-mainnet"
		}), ReasonInvalidNetwork, DialectX402V1, "base-mainnet"},
		{"v1 network arkade", edit(t, v1, func(m map[string]any) {
			at(m, "paymentRequirements")["network"] = "arkade"
			at(m, "paymentPayload")["network"] = "arkade"
		}), ReasonInvalidNetwork, DialectX402V1, "arkade"},
		{"v1 payload network differs", edit(t, v1, func(m map[string]any) { at(m, "paymentPayload")["network"] = "base-sepolia" }), ReasonInvalidNetwork, DialectX402V1, "base"},
		{"v1 scheme upto", edit(t, v1, v1req("scheme", "upto")), ReasonUnsupportedScheme, DialectX402V1, "base"},
		{"v1 payload scheme missing", edit(t, v1, func(m map[string]any) { delete(at(m, "paymentPayload"), "scheme") }), ReasonInvalidScheme, DialectX402V1, "base"},
		{"v1 no maxAmountRequired", edit(t, v1, func(m map[string]any) { delete(at(m, "paymentRequirements"), "maxAmountRequired") }), ReasonInvalidPaymentRequirements, DialectX402V1, "base"},
		{"v1 maxAmountRequired exponent", edit(t, v1, v1req("maxAmountRequired", "1e4")), ReasonInvalidAmount, DialectX402V1, ""},
		{"v1 maxAmountRequired fraction", edit(t, v1, v1req("maxAmountRequired", "0.01")), ReasonInvalidAmount, DialectX402V1, "base"},
		{"v1 maxAmountRequired negative", edit(t, v1, v1req("maxAmountRequired", "-10000")), ReasonInvalidAmount, DialectX402V1, ""},
		{"v1 no asset", edit(t, v1, v1req("asset", "")), ReasonInvalidPaymentRequirements, DialectX402V1, "base"},
		{"v1 no payTo", edit(t, v1, func(m map[string]any) { delete(at(m, "paymentRequirements"), "payTo") }), ReasonInvalidPaymentRequirements, DialectX402V1, "base"},
		{"v1 maxTimeoutSeconds string", edit(t, v1, v1req("maxTimeoutSeconds", "60")), ReasonInvalidPaymentRequirements, DialectX402V1, ""},
		{"v1 extra version number", edit(t, v1, v1req("extra", map[string]any{"version": 2})), ReasonInvalidPaymentRequirements, DialectX402V1, "base"},
		{"v1 permit2 payload", edit(t, v1, func(m map[string]any) {
			p := at(m, "paymentPayload", "payload")
			p["permit2Authorization"] = p["authorization"]
			delete(p, "authorization")
		}), ReasonUnsupportedPayloadType, DialectX402V1, "base"},
		{"v1 evm payload with transaction", edit(t, v1, func(m map[string]any) { at(m, "paymentPayload", "payload")["transaction"] = "AAAA" }), ReasonInvalidPayload, DialectX402V1, "base"},
		{"v1 evm authorization value huge", edit(t, v1, func(m map[string]any) { at(m, "paymentPayload", "payload", "authorization")["value"] = twoTo256 }), ReasonInvalidAmount, DialectX402V1, ""},
		{"v1 evm no signature", edit(t, v1, func(m map[string]any) { delete(at(m, "paymentPayload", "payload"), "signature") }), ReasonInvalidPayload, DialectX402V1, "base"},
		{"v1 solana no transaction", edit(t, v1sol, func(m map[string]any) { delete(at(m, "paymentPayload", "payload"), "transaction") }), ReasonInvalidPayload, DialectX402V1, "solana-devnet"},
		{"v1 solana with signature", edit(t, v1sol, func(m map[string]any) { at(m, "paymentPayload", "payload")["signature"] = "0x00" }), ReasonInvalidPayload, DialectX402V1, "solana-devnet"},
		{"v1 paymentPayload null", edit(t, v1, func(m map[string]any) { m["paymentPayload"] = nil }), ReasonInvalidPayload, DialectX402V1, "base"},
		{"v1 paymentPayload string", edit(t, v1, func(m map[string]any) { m["paymentPayload"] = "eyJ4In0=" }), ReasonInvalidPayload, DialectX402V1, "base"},
		{"v1 payload payload string", edit(t, v1, func(m map[string]any) { at(m, "paymentPayload")["payload"] = "0x00" }), ReasonInvalidPayload, DialectX402V1, "base"},
		{"v1 paymentRequirements string", edit(t, v1, func(m map[string]any) { m["paymentRequirements"] = "base" }), ReasonInvalidPaymentRequirements, DialectX402V1, ""},
		{"v2 eip155 not decimal", edit(t, v2, v2both("network", "eip155:0x2105")), ReasonInvalidNetwork, DialectX402V2, "eip155:0x2105"},
		{"v2 eip155 leading zero", edit(t, v2, v2both("network", "eip155:08453")), ReasonInvalidNetwork, DialectX402V2, "eip155:08453"},
		{"v2 unknown solana cluster", edit(t, v2sol, v2both("network", "solana:4uhcVJyU9pJkvQyS88uRDiswHXSCkY3z")), ReasonInvalidNetwork, DialectX402V2, "solana:4uhcVJyU9pJkvQyS88uRDiswHXSCkY3z"},
		{"v2 network arkade", edit(t, v2, v2both("network", "arkade:1")), ReasonInvalidNetwork, DialectX402V2, "arkade:1"},
		{"v2 inner version 1", edit(t, v2, func(m map[string]any) { at(m, "paymentPayload")["x402Version"] = 1 }), ReasonInvalidVersion, DialectX402V2, "eip155:8453"},
		{"v2 accepted network differs", edit(t, v2, func(m map[string]any) { at(m, "paymentPayload", "accepted")["network"] = "eip155:84532" }), ReasonInvalidNetwork, DialectX402V2, "eip155:8453"},
		{"v2 accepted scheme differs", edit(t, v2, func(m map[string]any) { at(m, "paymentPayload", "accepted")["scheme"] = "upto" }), ReasonInvalidScheme, DialectX402V2, "eip155:8453"},
		{"v2 accepted amount differs", edit(t, v2, func(m map[string]any) { at(m, "paymentPayload", "accepted")["amount"] = "1" }), ReasonInvalidPayload, DialectX402V2, "eip155:8453"},
		{"v2 accepted payTo differs", edit(t, v2, func(m map[string]any) {
			at(m, "paymentPayload", "accepted")["payTo"] = "0x0D66C3ffa38D8AaFa819262CD611FA07e1037EB4"
		}), ReasonInvalidPayload, DialectX402V2, "eip155:8453"},
		{"v2 amount huge", edit(t, v2, v2both("amount", twoTo256)), ReasonInvalidAmount, DialectX402V2, "eip155:8453"},
		{"v2 amount zero", edit(t, v2, v2both("amount", "0")), ReasonInvalidAmount, DialectX402V2, "eip155:8453"},
		{"v2 no amount", edit(t, v2, func(m map[string]any) { delete(at(m, "paymentRequirements"), "amount") }), ReasonInvalidPaymentRequirements, DialectX402V2, "eip155:8453"},
		{"v2 negative timeout", edit(t, v2, v2both("maxTimeoutSeconds", -1)), ReasonInvalidPaymentRequirements, DialectX402V2, "eip155:8453"},
		{"v2 resource as string", edit(t, v2, func(m map[string]any) { at(m, "paymentPayload")["resource"] = "https://api.example.com/weather" }), ReasonInvalidPayload, DialectX402V2, "eip155:8453"},
		{"v2 no paymentPayload", edit(t, v2, func(m map[string]any) { delete(m, "paymentPayload") }), ReasonInvalidPayload, DialectX402V2, "eip155:8453"},
		{"v2 valid", edit(t, v2, noop), "", DialectX402V2, "eip155:8453"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, err := DecodeRequest(tc.body, nil)
			if req == nil {
				t.Fatal("got nil Request, want one carrying the dialect")
			}
			if req.Dialect != tc.wantDialect {
				t.Errorf("got dialect %s, want %s", req.Dialect, tc.wantDialect)
			}
			if tc.wantNetwork != "" && req.Network != tc.wantNetwork {
				t.Errorf("got network %q, want %q", req.Network, tc.wantNetwork)
			}
			if tc.want == "" {
				if err != nil {
					t.Fatalf("got error %v, want none", err)
				}
				return
			}
			wantReason(t, err, tc.want)
			if req.Requirements != nil || req.Payload != nil {
				t.Errorf("rejected request still carries requirements or payload")
			}
		})
	}
}

// TestDecodeRequestResolver shows a deployment's resolver mapping a localnet
// CAIP-2 id, and that a resolver's plain error becomes invalid_network.
func TestDecodeRequestResolver(t *testing.T) {
	const localnet = "solana:LocaLnetGenesisPrefix11111111111"
	body := edit(t, "x402v2_request_solana.json", func(m map[string]any) {
		at(m, "paymentRequirements")["network"] = localnet
		at(m, "paymentPayload", "accepted")["network"] = localnet
	})
	table := NetworkTable{localnet: {NamespaceSolana, "localnet"}}
	req, err := DecodeRequest(body, table.Resolve)
	if err != nil {
		t.Fatalf("DecodeRequest with table: %v", err)
	}
	if got, want := req.Requirements.NetworkID, "localnet"; got != want {
		t.Errorf("got networkId %q, want %q", got, want)
	}
	if got, want := req.Payload.NetworkID, "localnet"; got != want {
		t.Errorf("got payload networkId %q, want %q", got, want)
	}
	if got, want := req.Network, localnet; got != want {
		t.Errorf("got network %q, want %q", got, want)
	}
	if _, err := DecodeRequest(body, nil); ReasonOf(err, "") != ReasonInvalidNetwork {
		t.Errorf("default resolver: got %v, want invalid_network", err)
	}
	plain := func(string) (NetworkRef, error) { return NetworkRef{}, errors.New("config has no such network") }
	_, err = DecodeRequest(body, plain)
	wantReason(t, err, ReasonInvalidNetwork)
	if !strings.Contains(err.Error(), "config has no such network") {
		t.Errorf("got %v, want the resolver's cause kept", err)
	}
}

// TestDecodeRequestDialects checks each dialect's mapped fields that the
// ingest service relies on.
func TestDecodeRequestDialects(t *testing.T) {
	tests := []struct {
		golden      string
		dialect     Dialect
		network     string
		payloadType PayloadType
		amount      int64
	}{
		{"request_h402_evm.json", DialectH402, "", TypeAuthorization, 10000},
		{"request_h402_solana.json", DialectH402, "", TypeSignTransaction, 10000},
		{"x402v1_request_evm.json", DialectX402V1, "base", TypeAuthorization, 10000},
		{"x402v1_request_solana.json", DialectX402V1, "solana-devnet", TypeSignTransaction, 10000},
		{"x402v2_request_evm.json", DialectX402V2, "eip155:8453", TypeAuthorization, 10000},
		{"x402v2_request_solana.json", DialectX402V2, CAIP2SolanaDevnet, TypeSignTransaction, 10000},
	}
	for _, tc := range tests {
		t.Run(tc.golden, func(t *testing.T) {
			req, err := DecodeRequest(readGolden(t, tc.golden), nil)
			if err != nil {
				t.Fatalf("DecodeRequest: %v", err)
			}
			if req.Dialect != tc.dialect || req.Network != tc.network {
				t.Errorf("got dialect %s network %q, want %s %q", req.Dialect, req.Network, tc.dialect, tc.network)
			}
			if got := req.Payload.Payload.PayloadType(); got != tc.payloadType {
				t.Errorf("got payload type %s, want %s", got, tc.payloadType)
			}
			amt, err := req.Requirements.Amount(6)
			if err != nil {
				t.Fatalf("Amount: %v", err)
			}
			if amt.Cmp(big.NewInt(tc.amount)) != 0 {
				t.Errorf("got amount %s, want %d", amt, tc.amount)
			}
			if req.Payload.NetworkID != req.Requirements.NetworkID || req.Payload.Namespace != req.Requirements.Namespace {
				t.Errorf("payload on %s/%s, requirements on %s/%s", req.Payload.Namespace, req.Payload.NetworkID, req.Requirements.Namespace, req.Requirements.NetworkID)
			}
			if req.Header == "" {
				t.Error("Header is empty")
			}
			// The header must decode with the same codec clients use.
			if _, err := DecodeBase64(req.Header); err != nil {
				t.Errorf("Header does not decode: %v", err)
			}
		})
	}
}

func TestRequestSettleHeader(t *testing.T) {
	s := &SettleResponse{Success: false, ErrorReason: ReasonInvalidVersion, Error: "version 3 is not supported", Namespace: NamespaceEVM}
	tests := []struct {
		golden     string
		wantHeader string
		wantReason string
	}{
		{"request_h402_evm.json", HeaderPaymentResponse, "invalid_h402_version"},
		{"x402v1_request_evm.json", HeaderPaymentResponse, "invalid_x402_version"},
		{"x402v2_request_evm.json", HeaderPaymentResp2, "invalid_x402_version"},
	}
	for _, tc := range tests {
		t.Run(tc.golden, func(t *testing.T) {
			req, err := DecodeRequest(readGolden(t, tc.golden), nil)
			if err != nil {
				t.Fatal(err)
			}
			name, value, err := req.SettleHeader(s)
			if err != nil {
				t.Fatal(err)
			}
			if name != tc.wantHeader {
				t.Errorf("got header %s, want %s", name, tc.wantHeader)
			}
			b, err := DecodeBase64(value)
			if err != nil {
				t.Fatal(err)
			}
			var got struct {
				ErrorReason string  `json:"errorReason"`
				Network     *string `json:"network"`
				Transaction *string `json:"transaction"`
			}
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatal(err)
			}
			if got.ErrorReason != tc.wantReason {
				t.Errorf("got errorReason %q, want %q", got.ErrorReason, tc.wantReason)
			}
			if req.Dialect != DialectH402 {
				if got.Network == nil || *got.Network != req.Network {
					t.Errorf("got network %v, want %q", got.Network, req.Network)
				}
				if got.Transaction == nil || *got.Transaction != "" {
					t.Errorf("got transaction %v, want present and empty", got.Transaction)
				}
			}
		})
	}
}

func TestX402AnswersFillReason(t *testing.T) {
	v := ToX402Verify(&VerifyResponse{IsValid: false})
	if v.InvalidReason != string(ReasonUnexpectedVerifyError) {
		t.Errorf("got invalidReason %q, want %q", v.InvalidReason, ReasonUnexpectedVerifyError)
	}
	s := ToX402Settle("base", &SettleResponse{Success: false})
	if s.ErrorReason != string(ReasonUnexpectedSettleError) {
		t.Errorf("got errorReason %q, want %q", s.ErrorReason, ReasonUnexpectedSettleError)
	}
	ok := ToX402Verify(&VerifyResponse{IsValid: true, InvalidReason: ReasonInvalidPayload})
	if ok.InvalidReason != "" {
		t.Errorf("valid answer carries invalidReason %q", ok.InvalidReason)
	}
}
