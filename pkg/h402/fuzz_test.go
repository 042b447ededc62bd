package h402

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// The fuzz targets demand: no panic; a rejection is an *Error with a reason
// and a sentence; anything accepted re-encodes to something that decodes
// again to an equal value (compared by its encoding where raw JSON such as
// extra may be re-spaced). The only allowed failure of the second decode is
// payload_too_large when the encoder's escaping made the text longer than
// the limit.

func seedGoldens(f *testing.F, pattern string, add func(b []byte)) {
	f.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", pattern))
	if err != nil || len(paths) == 0 {
		f.Fatalf("no seeds for %s: %v", pattern, err)
	}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		add(b)
	}
}

func checkRejection(t *testing.T, err error) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("rejection is %T %v, want *h402.Error", err, err)
	}
	if e.Reason == "" || e.Message == "" {
		t.Fatalf("rejection %#v lacks a reason or a sentence", e)
	}
}

// grewPastLimit tolerates a second-decode failure caused only by size.
func grewPastLimit(err error, enc []byte, limit int) bool {
	return ReasonOf(err, "") == ReasonPayloadTooLarge && len(enc) > limit
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("marshal %T: %v", v, err)
	}
	return b
}

func FuzzDecodePaymentHeader(f *testing.F) {
	seedGoldens(f, "x_payment_header.txt", func(b []byte) {
		s := strings.TrimSpace(string(b))
		f.Add(s)
		f.Add(strings.TrimRight(s, "="))
		f.Add(strings.NewReplacer("+", "-", "/", "_").Replace(s))
		f.Add(s[:len(s)/2])
	})
	seedGoldens(f, "payload_*.json", func(b []byte) { f.Add(EncodeBase64(b)) })
	f.Add("")
	f.Add("eyJ+a-Jz")
	f.Fuzz(func(t *testing.T, s string) {
		p, err := DecodePaymentHeader(s)
		if err != nil {
			checkRejection(t, err)
			return
		}
		enc, err := EncodePaymentHeader(p)
		if err != nil {
			t.Fatalf("EncodePaymentHeader of a decoded payload: %v", err)
		}
		p2, err := DecodePaymentHeader(enc)
		if err != nil {
			if grewPastLimit(err, []byte(enc), MaxHeaderLen) {
				return
			}
			t.Fatalf("re-encoded header %q does not decode: %v", enc, err)
		}
		if !reflect.DeepEqual(p, p2) {
			t.Fatalf("round trip changed the payload:\n%#v\n%#v", p, p2)
		}
	})
}

func FuzzDecodePayload(f *testing.F) {
	seedGoldens(f, "payload_*.json", func(b []byte) { f.Add(b) })
	f.Add([]byte(`{"h402Version":1,"scheme":"exact","namespace":"evm","networkId":"1","payload":{"type":"authorization"}}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := DecodePayload(b)
		if err != nil {
			checkRejection(t, err)
			return
		}
		enc := mustJSON(t, p)
		p2, err := DecodePayload(enc)
		if err != nil {
			if grewPastLimit(err, enc, MaxPayloadLen) {
				return
			}
			t.Fatalf("re-encoded payload %s does not decode: %v", enc, err)
		}
		if !reflect.DeepEqual(p, p2) {
			t.Fatalf("round trip changed the payload:\n%#v\n%#v", p, p2)
		}
	})
}

func FuzzDecodeRequirements(f *testing.F) {
	seedGoldens(f, "requirements_*.json", func(b []byte) { f.Add(b) })
	f.Add([]byte(`{"namespace":"evm","scheme":"exact","networkId":"1","tokenAddress":"t","payToAddress":"p","amountRequired":"1.5","extra":{"version":"2"}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeRequirements(b)
		if err != nil {
			checkRejection(t, err)
			return
		}
		enc := mustJSON(t, r)
		r2, err := DecodeRequirements(enc)
		if err != nil {
			if grewPastLimit(err, enc, MaxRequirementsLen) {
				return
			}
			t.Fatalf("re-encoded requirements %s do not decode: %v", enc, err)
		}
		if enc2 := mustJSON(t, r2); !bytes.Equal(enc, enc2) {
			t.Fatalf("round trip changed the requirements:\n%s\n%s", enc, enc2)
		}
		// A valid requirement's amount either converts or fails with a reason.
		if _, err := r.Amount(6); err != nil {
			checkRejection(t, err)
		}
	})
}

func FuzzDecodePaymentRequired(f *testing.F) {
	seedGoldens(f, "payment_required.json", func(b []byte) { f.Add(b) })
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := DecodePaymentRequired(b)
		if err != nil {
			checkRejection(t, err)
			return
		}
		enc := mustJSON(t, p)
		p2, err := DecodePaymentRequired(enc)
		if err != nil {
			if grewPastLimit(err, enc, MaxRequirementsLen) {
				return
			}
			t.Fatalf("re-encoded 402 body %s does not decode: %v", enc, err)
		}
		if enc2 := mustJSON(t, p2); !bytes.Equal(enc, enc2) {
			t.Fatalf("round trip changed the 402 body:\n%s\n%s", enc, enc2)
		}
	})
}

func FuzzDecodeRequest(f *testing.F) {
	seedGoldens(f, "request_*.json", func(b []byte) { f.Add(b) })
	seedGoldens(f, "x402v*_request_evm.json", func(b []byte) { f.Add(b) })
	seedGoldens(f, "x402v*_request_solana.json", func(b []byte) { f.Add(b) })
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"x402Version":2}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		req, err := DecodeRequest(b, nil)
		if req == nil {
			t.Fatal("DecodeRequest returned a nil Request")
		}
		if err != nil {
			checkRejection(t, err)
			if _, err := req.VerifyAnswer(&VerifyResponse{InvalidReason: ReasonOf(err, ""), ErrorMessage: MessageOf(err)}); err != nil {
				t.Fatalf("VerifyAnswer for a rejection: %v", err)
			}
			return
		}
		enc, err := req.Encode()
		if err != nil {
			t.Fatalf("Encode of a decoded request: %v", err)
		}
		req2, err := DecodeRequest(enc, nil)
		if err != nil {
			if grewPastLimit(err, enc, MaxRequestLen) || ReasonOf(err, "") == ReasonPayloadTooLarge {
				// An inner limit (header, requirements) can be crossed the same way.
				return
			}
			t.Fatalf("re-encoded request %s does not decode: %v", enc, err)
		}
		if enc2, err := req2.Encode(); err != nil || !bytes.Equal(enc, enc2) {
			t.Fatalf("round trip changed the body (%v):\n%s\n%s", err, enc, enc2)
		}
		if req.Dialect != req2.Dialect || req.Network != req2.Network {
			t.Fatalf("round trip changed dialect/network: %s %q → %s %q", req.Dialect, req.Network, req2.Dialect, req2.Network)
		}
		if a, b := mustJSON(t, req.Requirements), mustJSON(t, req2.Requirements); !bytes.Equal(a, b) {
			t.Fatalf("round trip changed the mapped requirements:\n%s\n%s", a, b)
		}
		if !reflect.DeepEqual(req.Payload, req2.Payload) {
			t.Fatalf("round trip changed the mapped payload:\n%#v\n%#v", req.Payload, req2.Payload)
		}
		if req.Dialect == DialectH402 && req.Header != req2.Header {
			t.Fatalf("round trip changed the header %q → %q", req.Header, req2.Header)
		}
		if _, _, err := req.SettleHeader(&SettleResponse{Success: true, Transaction: "0x01"}); err != nil {
			t.Fatalf("SettleHeader: %v", err)
		}
	})
}

func FuzzDecimal(f *testing.F) {
	for _, s := range []string{`10000`, `"10000"`, `0.01`, `"0.0100"`, `"1e6"`, `-1`, `"` + twoTo256 + `"`, `null`, `"1."`} {
		f.Add(s, 6)
	}
	f.Fuzz(func(t *testing.T, s string, decimals int) {
		var d Decimal
		if err := json.Unmarshal([]byte(s), &d); err != nil {
			var e *Error
			var se *json.SyntaxError
			if !errors.As(err, &e) && !errors.As(err, &se) {
				t.Fatalf("rejection is %T %v, want *h402.Error (or a JSON syntax error)", err, err)
			}
			return
		}
		enc := mustJSON(t, d)
		var d2 Decimal
		if err := json.Unmarshal(enc, &d2); err != nil || d2 != d {
			t.Fatalf("round trip of %s: %s gives %+v (%v), want %+v", s, enc, d2, err, d)
		}
		for _, format := range []AmountFormat{FormatSmallestUnit, FormatHumanReadable} {
			v, err := d.Units(format, decimals)
			if err != nil {
				checkRejection(t, err)
				continue
			}
			if v.Sign() < 0 || v.Cmp(MaxUint256) > 0 {
				t.Fatalf("Units(%q, %s, %d) = %s is out of range", d.Text, format, decimals, v)
			}
		}
		whole, errW := d.Units(FormatSmallestUnit, 0)
		human, errH := d.Units(FormatHumanReadable, 0)
		if (errW == nil) != (errH == nil) || (errW == nil && whole.Cmp(human) != 0) {
			t.Fatalf("smallestUnit %v (%v) and humanReadable with 0 decimals %v (%v) disagree on %q", whole, errW, human, errH, d.Text)
		}
	})
}
