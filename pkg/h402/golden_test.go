package h402

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// -update rewrites the golden files in the canonical form the encoders emit
// (the form the tests then demand byte for byte).
var update = flag.Bool("update", false, "rewrite testdata goldens in canonical form")

// codec decodes a wire object with the package's decoder and encodes it again.
type codec func(b []byte) ([]byte, error)

func jsonCodec[T any](b []byte) ([]byte, error) {
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, err
	}
	return json.Marshal(&v)
}

func requirementsCodec(b []byte) ([]byte, error) {
	r, err := DecodeRequirements(b)
	if err != nil {
		return nil, err
	}
	return json.Marshal(r)
}

func payloadCodec(b []byte) ([]byte, error) {
	p, err := DecodePayload(b)
	if err != nil {
		return nil, err
	}
	return json.Marshal(p)
}

func paymentRequiredCodec(b []byte) ([]byte, error) {
	p, err := DecodePaymentRequired(b)
	if err != nil {
		return nil, err
	}
	return json.Marshal(p)
}

func requestCodec(b []byte) ([]byte, error) {
	r, err := DecodeRequest(b, nil)
	if err != nil {
		return nil, err
	}
	return r.Encode()
}

// goldenCodec picks the codec for a golden file by its name.
func goldenCodec(name string) codec {
	switch {
	case strings.HasPrefix(name, "requirements_"):
		return requirementsCodec
	case strings.HasPrefix(name, "payload_"):
		return payloadCodec
	case name == "payment_required.json":
		return paymentRequiredCodec
	case strings.HasPrefix(name, "verify_"):
		return jsonCodec[VerifyResponse]
	case strings.HasPrefix(name, "settle_"):
		return jsonCodec[SettleResponse]
	case strings.HasPrefix(name, "request_"), strings.HasSuffix(name, "_request_evm.json"), strings.HasSuffix(name, "_request_solana.json"):
		return requestCodec
	case strings.Contains(name, "_verify_"):
		return jsonCodec[X402VerifyResponse]
	case strings.Contains(name, "_settle_"):
		return jsonCodec[X402SettleResponse]
	}
	return nil
}

// canonical is the golden text of encoder output: two-space indentation and a newline.
func canonical(t *testing.T, enc []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Indent(&buf, enc, "", "  "); err != nil {
		t.Fatalf("indent encoder output: %v", err)
	}
	buf.WriteByte('\n')
	return buf.Bytes()
}

func readGolden(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatalf("read golden: %v", err)
	}
	return b
}

// checkGolden compares got with the golden file, or rewrites it with -update.
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(filepath.Join("testdata", name), got, 0o644); err != nil {
			t.Fatalf("write golden: %v", err)
		}
		return
	}
	if want := readGolden(t, name); !bytes.Equal(got, want) {
		t.Errorf("%s: re-encoded\n%s\nwant (golden)\n%s", name, got, want)
	}
}

// TestGoldenRoundTrip decodes every golden wire object with its decoder and
// demands the encoder give back the same bytes.
func TestGoldenRoundTrip(t *testing.T) {
	names, err := filepath.Glob("testdata/*.json")
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, path := range names {
		name := filepath.Base(path)
		if strings.HasSuffix(name, ".mapped.json") {
			continue
		}
		c := goldenCodec(name)
		if c == nil {
			t.Errorf("golden %s has no codec; name it after its wire object", name)
			continue
		}
		seen++
		t.Run(strings.TrimSuffix(name, ".json"), func(t *testing.T) {
			enc, err := c(readGolden(t, name))
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			checkGolden(t, name, canonical(t, enc))
		})
	}
	if seen < 30 {
		t.Errorf("got %d round-trip goldens, want at least 30", seen)
	}
}

// TestGoldenHeader decodes the X-PAYMENT header golden, checks it holds the
// authorization payload golden, and re-encodes it byte for byte.
func TestGoldenHeader(t *testing.T) {
	text := strings.TrimSuffix(string(readGolden(t, "x_payment_header.txt")), "\n")
	p, err := DecodePaymentHeader(text)
	if err != nil {
		t.Fatalf("DecodePaymentHeader: %v", err)
	}
	got, err := EncodePaymentHeader(p)
	if err != nil {
		t.Fatalf("EncodePaymentHeader: %v", err)
	}
	checkGolden(t, "x_payment_header.txt", []byte(got+"\n"))
	enc, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := canonical(t, enc), readGolden(t, "payload_evm_authorization.json"); !bytes.Equal(got, want) {
		t.Errorf("header payload\n%s\nwant payload_evm_authorization.json\n%s", got, want)
	}
	// The h402 request body carries the same header text.
	req, err := DecodeRequest(readGolden(t, "request_h402_evm.json"), nil)
	if err != nil {
		t.Fatalf("DecodeRequest: %v", err)
	}
	if req.Header != text {
		t.Errorf("request header = %q, want the X-PAYMENT golden %q", req.Header, text)
	}
}

// mapped is the h402 form DecodeRequest gives an x402 body.
type mapped struct {
	Dialect      Dialect              `json:"dialect"`
	Network      string               `json:"network"`
	Requirements *PaymentRequirements `json:"requirements"`
	Payload      *PaymentPayload      `json:"payload"`
}

// TestGoldenX402Mapping checks the h402 form of each x402 request golden
// against its hand-written .mapped.json, and the Header against the body's
// paymentPayload.
func TestGoldenX402Mapping(t *testing.T) {
	for _, name := range []string{"x402v1_request_evm", "x402v1_request_solana", "x402v2_request_evm", "x402v2_request_solana"} {
		t.Run(name, func(t *testing.T) {
			body := readGolden(t, name+".json")
			req, err := DecodeRequest(body, nil)
			if err != nil {
				t.Fatalf("DecodeRequest: %v", err)
			}
			enc, err := json.Marshal(mapped{req.Dialect, req.Network, req.Requirements, req.Payload})
			if err != nil {
				t.Fatal(err)
			}
			checkGolden(t, name+".mapped.json", canonical(t, enc))

			var raw struct{ PaymentPayload json.RawMessage }
			if err := json.Unmarshal(body, &raw); err != nil {
				t.Fatal(err)
			}
			var want bytes.Buffer
			if err := json.Compact(&want, raw.PaymentPayload); err != nil {
				t.Fatal(err)
			}
			got, err := DecodeBase64(req.Header)
			if err != nil {
				t.Fatalf("Header is not base64: %v", err)
			}
			if !bytes.Equal(got, want.Bytes()) {
				t.Errorf("Header decodes to\n%s\nwant the compacted paymentPayload\n%s", got, want.Bytes())
			}
		})
	}
}

// TestGoldenAnswers turns the h402 answer goldens into each dialect and
// compares with the x402 answer goldens.
func TestGoldenAnswers(t *testing.T) {
	load := func(t *testing.T, name string, v any) {
		t.Helper()
		if err := json.Unmarshal(readGolden(t, name), v); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	verify := []struct{ from, to string }{
		{"verify_valid.json", "x402v1_verify_valid.json"},
		{"verify_valid_transaction.json", "x402v1_verify_valid.json"},
		{"verify_invalid.json", "x402v1_verify_invalid.json"},
		{"verify_invalid.json", "x402v2_verify_invalid.json"},
	}
	for _, tc := range verify {
		t.Run(tc.from+"→"+tc.to, func(t *testing.T) {
			var v VerifyResponse
			load(t, tc.from, &v)
			d := DialectX402V1
			if strings.HasPrefix(tc.to, "x402v2") {
				d = DialectX402V2
			}
			enc, err := EncodeVerifyResponse(d, &v)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := canonical(t, enc), readGolden(t, tc.to); !bytes.Equal(got, want) {
				t.Errorf("got\n%s\nwant\n%s", got, want)
			}
		})
	}
	settle := []struct {
		from, to string
		d        Dialect
		network  string
	}{
		{"settle_sync.json", "x402v1_settle_success.json", DialectX402V1, "base"},
		{"settle_failed.json", "x402v1_settle_failed.json", DialectX402V1, "base"},
		{"settle_sync.json", "x402v2_settle_success.json", DialectX402V2, "eip155:8453"},
		{"settle_failed.json", "x402v2_settle_failed.json", DialectX402V2, "eip155:8453"},
		{"settle_finalized.json", "x402v2_settle_finalized.json", DialectX402V2, "eip155:8453"},
	}
	for _, tc := range settle {
		t.Run(tc.from+"→"+tc.to, func(t *testing.T) {
			var s SettleResponse
			load(t, tc.from, &s)
			enc, err := EncodeSettleResponse(tc.d, tc.network, &s)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := canonical(t, enc), readGolden(t, tc.to); !bytes.Equal(got, want) {
				t.Errorf("got\n%s\nwant\n%s", got, want)
			}
		})
	}
	// In the h402 dialect the answers are the h402 objects themselves.
	for _, name := range []string{"verify_invalid.json", "settle_async_accepted.json", "settle_finalized.json"} {
		t.Run("h402 "+name, func(t *testing.T) {
			var enc []byte
			var err error
			if strings.HasPrefix(name, "verify") {
				var v VerifyResponse
				load(t, name, &v)
				enc, err = EncodeVerifyResponse(DialectH402, &v)
			} else {
				var s SettleResponse
				load(t, name, &s)
				enc, err = EncodeSettleResponse(DialectH402, "ignored", &s)
			}
			if err != nil {
				t.Fatal(err)
			}
			if got, want := canonical(t, enc), readGolden(t, name); !bytes.Equal(got, want) {
				t.Errorf("got\n%s\nwant\n%s", got, want)
			}
		})
	}
}
