package h402

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// twoTo256 is 2^256, one more than any token amount.
const twoTo256 = "115792089237316195423570985008687907853269984665640564039457584007913129639936"

// edit decodes a golden into generic JSON (numbers kept as text), applies
// fn, and encodes it again.
func edit(t *testing.T, golden string, fn func(m map[string]any)) []byte {
	t.Helper()
	return editBytes(t, readGolden(t, golden), fn)
}

func editBytes(t *testing.T, b []byte, fn func(m map[string]any)) []byte {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		t.Fatalf("edit: %v", err)
	}
	fn(m)
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatalf("edit: %v", err)
	}
	return out
}

// at walks nested objects of m by key.
func at(m map[string]any, keys ...string) map[string]any {
	for _, k := range keys {
		m = m[k].(map[string]any)
	}
	return m
}

// h402Body builds an h402 request body from payload JSON and requirements JSON.
func h402Body(t *testing.T, payload, requirements []byte) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{"payload": EncodeBase64(payload), "paymentRequirements": json.RawMessage(requirements)})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// wantReason asserts err is an *Error with the reason and a sentence.
func wantReason(t *testing.T, err error, want Reason) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %s", want)
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("got %T %v, want an *h402.Error with reason %s", err, err, want)
	}
	if e.Reason != want {
		t.Errorf("got reason %s (%s), want %s", e.Reason, e.Message, want)
	}
	if e.Message == "" {
		t.Errorf("error with reason %s has no human sentence", e.Reason)
	}
}

func TestDecodePaymentHeaderBadInput(t *testing.T) {
	good := strings.TrimSpace(string(readGolden(t, "x_payment_header.txt")))
	cut := len(good) / 8 * 4 // a multiple of 4, about half
	tests := []struct {
		name   string
		header string
		want   Reason
	}{
		{"empty", "", ReasonInvalidEncoding},
		{"blank", "   ", ReasonInvalidEncoding},
		{"truncated mid-quantum", good[:cut+1], ReasonInvalidEncoding},
		{"truncated at quantum", good[:cut], ReasonInvalidPayload},
		{"mixed alphabets", "eyJ+a-Jz", ReasonInvalidEncoding},
		{"not base64", "!!!!", ReasonInvalidEncoding},
		{"padding inside", "ey==Jh", ReasonInvalidEncoding},
		{"oversize", strings.Repeat("A", MaxHeaderLen+1), ReasonPayloadTooLarge},
		{"array", EncodeBase64([]byte(`[1,2]`)), ReasonInvalidPayload},
		{"json string", EncodeBase64([]byte(`"x"`)), ReasonInvalidPayload},
		{"not json", EncodeBase64([]byte(`h402Version=1`)), ReasonInvalidPayload},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := DecodePaymentHeader(tc.header)
			if p != nil {
				t.Errorf("got payload %+v, want nil", p)
			}
			wantReason(t, err, tc.want)
		})
	}
}

func TestDecodePayloadBadInput(t *testing.T) {
	const auth = "payload_evm_authorization.json"
	setAuth := func(k string, v any) func(m map[string]any) {
		return func(m map[string]any) { at(m, "payload", "authorization")[k] = v }
	}
	tests := []struct {
		name string
		in   []byte
		want Reason
	}{
		{"invalid json", []byte(`{"h402Version":1,`), ReasonInvalidPayload},
		{"not an object", []byte(`[{"h402Version":1}]`), ReasonInvalidPayload},
		{"null", []byte(`null`), ReasonInvalidPayload},
		{"too large", append(append([]byte(`{"x":"`), bytes.Repeat([]byte("a"), MaxPayloadLen)...), `"}`...), ReasonPayloadTooLarge},
		{"wrong version", edit(t, auth, func(m map[string]any) { m["h402Version"] = 2 }), ReasonInvalidVersion},
		{"version zero", edit(t, auth, func(m map[string]any) { m["h402Version"] = 0 }), ReasonInvalidVersion},
		{"missing version", edit(t, auth, func(m map[string]any) { delete(m, "h402Version") }), ReasonInvalidVersion},
		{"null version", edit(t, auth, func(m map[string]any) { m["h402Version"] = nil }), ReasonInvalidVersion},
		{"version as string", edit(t, auth, func(m map[string]any) { m["h402Version"] = "1" }), ReasonInvalidVersion},
		{"version fractional", edit(t, auth, func(m map[string]any) { m["h402Version"] = json.Number("1.5") }), ReasonInvalidVersion},
		{"missing scheme", edit(t, auth, func(m map[string]any) { delete(m, "scheme") }), ReasonInvalidScheme},
		{"unknown scheme", edit(t, auth, func(m map[string]any) { m["scheme"] = "upto" }), ReasonUnsupportedScheme},
		{"namespace arkade", edit(t, auth, func(m map[string]any) { m["namespace"] = "arkade" }), ReasonInvalidNetwork},
		{"missing namespace", edit(t, auth, func(m map[string]any) { delete(m, "namespace") }), ReasonInvalidNetwork},
		{"missing networkId", edit(t, auth, func(m map[string]any) { delete(m, "networkId") }), ReasonInvalidNetwork},
		{"networkId as number", edit(t, auth, func(m map[string]any) { m["networkId"] = 8453 }), ReasonInvalidPayload},
		{"null payload", edit(t, auth, func(m map[string]any) { m["payload"] = nil }), ReasonInvalidPayload},
		{"missing payload", edit(t, auth, func(m map[string]any) { delete(m, "payload") }), ReasonInvalidPayload},
		{"payload as string", edit(t, auth, func(m map[string]any) { m["payload"] = "0xdead" }), ReasonInvalidPayload},
		{"payload type missing", edit(t, auth, func(m map[string]any) { delete(at(m, "payload"), "type") }), ReasonInvalidPayload},
		{"payload type as number", edit(t, auth, func(m map[string]any) { at(m, "payload")["type"] = 1 }), ReasonInvalidPayload},
		{"unknown payload type", edit(t, auth, func(m map[string]any) { at(m, "payload")["type"] = "permit2" }), ReasonUnsupportedPayloadType},
		{"solana type in evm", edit(t, auth, func(m map[string]any) { at(m, "payload")["type"] = "signTransaction" }), ReasonUnsupportedPayloadType},
		{"evm type in solana", edit(t, "payload_solana_sign_transaction.json", func(m map[string]any) { at(m, "payload")["type"] = "authorization" }), ReasonUnsupportedPayloadType},
		{"missing signature", edit(t, auth, func(m map[string]any) { delete(at(m, "payload"), "signature") }), ReasonInvalidPayload},
		{"signature as number", edit(t, auth, func(m map[string]any) { at(m, "payload")["signature"] = 12 }), ReasonInvalidPayload},
		{"authorization as array", edit(t, auth, func(m map[string]any) { at(m, "payload")["authorization"] = []int{1} }), ReasonInvalidPayload},
		{"missing nonce", edit(t, auth, func(m map[string]any) { delete(at(m, "payload", "authorization"), "nonce") }), ReasonInvalidPayload},
		{"missing value", edit(t, auth, func(m map[string]any) { delete(at(m, "payload", "authorization"), "value") }), ReasonInvalidPayload},
		{"value negative", edit(t, auth, setAuth("value", "-1")), ReasonInvalidAmount},
		{"value negative number", edit(t, auth, setAuth("value", json.Number("-1"))), ReasonInvalidAmount},
		{"value exponent", edit(t, auth, setAuth("value", json.Number("1e4"))), ReasonInvalidAmount},
		{"value fraction", edit(t, auth, setAuth("value", "1.5")), ReasonInvalidAmount},
		{"value huge", edit(t, auth, setAuth("value", twoTo256)), ReasonInvalidAmount},
		{"value hex", edit(t, auth, setAuth("value", "0x2710")), ReasonInvalidAmount},
		{"value null", edit(t, auth, setAuth("value", nil)), ReasonInvalidAmount},
		{"value bool", edit(t, auth, setAuth("value", true)), ReasonInvalidAmount},
		{"validBefore fraction", edit(t, auth, setAuth("validBefore", "1767225660.5")), ReasonInvalidPayload},
		{"signedTransaction empty", edit(t, "payload_evm_signed_transaction.json", func(m map[string]any) { at(m, "payload")["signedTransaction"] = "" }), ReasonInvalidPayload},
		{"transactionHash missing", edit(t, "payload_evm_sign_and_send.json", func(m map[string]any) { delete(at(m, "payload"), "transactionHash") }), ReasonInvalidPayload},
		{"solana transaction missing", edit(t, "payload_solana_sign_transaction.json", func(m map[string]any) { delete(at(m, "payload"), "transaction") }), ReasonInvalidPayload},
		{"solana signature missing", edit(t, "payload_solana_sign_and_send.json", func(m map[string]any) { delete(at(m, "payload"), "signature") }), ReasonInvalidPayload},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := DecodePayload(tc.in)
			if p != nil {
				t.Errorf("got payload %+v, want nil", p)
			}
			wantReason(t, err, tc.want)
		})
	}
}

func TestDecodeRequirementsBadInput(t *testing.T) {
	const evm = "requirements_evm_smallest_number.json"
	const human = "requirements_evm_human_string.json"
	set := func(k string, v any) func(m map[string]any) { return func(m map[string]any) { m[k] = v } }
	del := func(k string) func(m map[string]any) { return func(m map[string]any) { delete(m, k) } }
	tests := []struct {
		name string
		in   []byte
		want Reason
	}{
		{"not an object", []byte(`"evm"`), ReasonInvalidPaymentRequirements},
		{"invalid json", []byte(`{"namespace":`), ReasonInvalidPaymentRequirements},
		{"too large", append(append([]byte(`{"x":"`), bytes.Repeat([]byte("a"), MaxRequirementsLen)...), `"}`...), ReasonPayloadTooLarge},
		{"namespace arkade", edit(t, evm, set("namespace", "arkade")), ReasonInvalidNetwork},
		{"namespace missing", edit(t, evm, del("namespace")), ReasonInvalidNetwork},
		{"scheme missing", edit(t, evm, del("scheme")), ReasonInvalidScheme},
		{"scheme upto", edit(t, evm, set("scheme", "upto")), ReasonUnsupportedScheme},
		{"networkId empty", edit(t, evm, set("networkId", "")), ReasonInvalidNetwork},
		{"tokenAddress missing", edit(t, evm, del("tokenAddress")), ReasonInvalidPaymentRequirements},
		{"payToAddress missing", edit(t, evm, del("payToAddress")), ReasonInvalidPaymentRequirements},
		{"amount missing", edit(t, evm, del("amountRequired")), ReasonInvalidPaymentRequirements},
		{"amount empty string", edit(t, evm, set("amountRequired", "")), ReasonInvalidAmount},
		{"amount negative", edit(t, evm, set("amountRequired", json.Number("-10000"))), ReasonInvalidAmount},
		{"amount exponent", edit(t, evm, set("amountRequired", json.Number("1e4"))), ReasonInvalidAmount},
		{"amount exponent string", edit(t, evm, set("amountRequired", "1E4")), ReasonInvalidAmount},
		{"amount zero", edit(t, evm, set("amountRequired", json.Number("0"))), ReasonInvalidAmount},
		{"amount smallest with fraction", edit(t, evm, set("amountRequired", "100.5")), ReasonInvalidAmount},
		{"amount huge", edit(t, evm, set("amountRequired", twoTo256)), ReasonInvalidAmount},
		{"amount too many digits", edit(t, evm, set("amountRequired", strings.Repeat("9", 100))), ReasonInvalidAmount},
		{"amount bool", edit(t, evm, set("amountRequired", true)), ReasonInvalidAmount},
		{"amount leading dot", edit(t, evm, set("amountRequired", ".5")), ReasonInvalidAmount},
		{"human too many decimals", edit(t, human, set("amountRequired", "0.0000001")), ReasonInvalidAmount},
		{"human zero", edit(t, human, set("amountRequired", "0.000")), ReasonInvalidAmount},
		{"human huge after scaling", edit(t, human, set("amountRequired", twoTo256[:75])), ReasonInvalidAmount},
		{"human huge without decimals", edit(t, human, func(m map[string]any) { delete(m, "tokenDecimals"); m["amountRequired"] = twoTo256 }), ReasonInvalidAmount},
		{"human zero without decimals", edit(t, human, func(m map[string]any) { delete(m, "tokenDecimals"); m["amountRequired"] = "0.0" }), ReasonInvalidAmount},
		{"maxAmountRequired fraction", edit(t, "requirements_max_amount.json", set("maxAmountRequired", "2.5")), ReasonInvalidAmount},
		{"format unknown", edit(t, evm, set("amountRequiredFormat", "tokens")), ReasonInvalidPaymentRequirements},
		{"tokenDecimals out of range", edit(t, human, set("tokenDecimals", 40)), ReasonInvalidPaymentRequirements},
		{"tokenDecimals negative", edit(t, human, set("tokenDecimals", -1)), ReasonInvalidPaymentRequirements},
		{"tokenDecimals as string", edit(t, human, set("tokenDecimals", "6")), ReasonInvalidPaymentRequirements},
		{"estimatedProcessingTime negative", edit(t, human, set("estimatedProcessingTime", -5)), ReasonInvalidPaymentRequirements},
		{"extra as array", edit(t, human, set("extra", []string{"USD Coin"})), ReasonInvalidPaymentRequirements},
		{"extra version as number", edit(t, human, set("extra", map[string]any{"version": 2})), ReasonInvalidPaymentRequirements},
		{"payToAddress as number", edit(t, evm, set("payToAddress", 5)), ReasonInvalidPaymentRequirements},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := DecodeRequirements(tc.in)
			if r != nil {
				t.Errorf("got requirements %+v, want nil", r)
			}
			wantReason(t, err, tc.want)
		})
	}
}

func TestDecodePaymentRequiredBadInput(t *testing.T) {
	const g = "payment_required.json"
	tests := []struct {
		name string
		in   []byte
		want Reason
	}{
		{"wrong version", edit(t, g, func(m map[string]any) { m["h402Version"] = 2 }), ReasonInvalidVersion},
		{"no version", edit(t, g, func(m map[string]any) { delete(m, "h402Version") }), ReasonInvalidVersion},
		{"no accepts", edit(t, g, func(m map[string]any) { m["accepts"] = []any{} }), ReasonInvalidPaymentRequirements},
		{"accepts not array", edit(t, g, func(m map[string]any) { m["accepts"] = "evm" }), ReasonInvalidPaymentRequirements},
		{"second accept bad", edit(t, g, func(m map[string]any) { m["accepts"].([]any)[1].(map[string]any)["namespace"] = "arkade" }), ReasonInvalidNetwork},
		{"array body", []byte(`[]`), ReasonInvalidPaymentRequirements},
		{"truncated", []byte(`{"h402Version":1,"accepts":[`), ReasonInvalidPaymentRequirements},
		{"version as string", edit(t, g, func(m map[string]any) { m["h402Version"] = "1" }), ReasonInvalidVersion},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodePaymentRequired(tc.in)
			wantReason(t, err, tc.want)
		})
	}
}
