package h402

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"
)

// TestDecodeBase64Alphabets checks that standard and URL-safe base64, padded
// or not, decode to the same bytes, for every length modulo 3 and for bytes
// that make the two alphabets differ.
func TestDecodeBase64Alphabets(t *testing.T) {
	inputs := [][]byte{
		[]byte(`{"a":1}`),        // 7 bytes: one pad char
		[]byte(`{"ab":1}`),       // 8 bytes: two pad chars
		[]byte(`{"abc":1}`),      // 9 bytes: no padding
		{0xfb, 0xff, 0xbf, 0xfe}, // encodes with + and / (- and _ URL-safe)
	}
	for _, in := range inputs {
		encodings := map[string]string{
			"std padded":      base64.StdEncoding.EncodeToString(in),
			"std unpadded":    base64.RawStdEncoding.EncodeToString(in),
			"url padded":      base64.URLEncoding.EncodeToString(in),
			"url unpadded":    base64.RawURLEncoding.EncodeToString(in),
			"std with spaces": " " + base64.StdEncoding.EncodeToString(in) + "\t",
		}
		for name, s := range encodings {
			t.Run(name+" "+s, func(t *testing.T) {
				got, err := DecodeBase64(s)
				if err != nil {
					t.Fatalf("DecodeBase64(%q): %v", s, err)
				}
				if !bytes.Equal(got, in) {
					t.Errorf("DecodeBase64(%q) = %x, want %x", s, got, in)
				}
			})
		}
		if got, want := EncodeBase64(in), base64.StdEncoding.EncodeToString(in); got != want {
			t.Errorf("EncodeBase64(%x) = %q, want standard padded %q", in, got, want)
		}
	}
}

// TestPaymentHeaderVariants decodes the X-PAYMENT golden written in each
// base64 form and checks every form gives the same payload and that
// re-encoding emits standard padded base64.
func TestPaymentHeaderVariants(t *testing.T) {
	std := strings.TrimSpace(string(readGolden(t, "x_payment_header.txt")))
	raw, err := base64.StdEncoding.DecodeString(std)
	if err != nil {
		t.Fatal(err)
	}
	variants := map[string]string{
		"std padded":   std,
		"std unpadded": strings.TrimRight(std, "="),
		"url padded":   base64.URLEncoding.EncodeToString(raw),
		"url unpadded": base64.RawURLEncoding.EncodeToString(raw),
	}
	for name, s := range variants {
		t.Run(name, func(t *testing.T) {
			p, err := DecodePaymentHeader(s)
			if err != nil {
				t.Fatalf("DecodePaymentHeader: %v", err)
			}
			got, err := EncodePaymentHeader(p)
			if err != nil {
				t.Fatal(err)
			}
			if got != std {
				t.Errorf("re-encoded %q, want standard padded %q", got, std)
			}
		})
	}
}
