package h402

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func v2WithExtensions(ext string) *Request {
	return &Request{Dialect: DialectX402V2, X402V2: &X402V2Request{X402Version: 2,
		PaymentPayload: X402V2PaymentPayload{X402Version: 2, Extensions: json.RawMessage(ext)}}}
}

func TestIdempotencyKey(t *testing.T) {
	tests := []struct {
		name   string
		req    *Request
		header string
		want   string
		reason Reason
	}{
		{"header wins", v2WithExtensions(`{"payment-identifier":{"info":{"id":"pay_0123456789abcdef"}}}`), "order-1", "order-1", ""},
		{"x402 v2 payment-identifier", v2WithExtensions(`{"payment-identifier":{"info":{"required":false,"id":"pay_0123456789abcdef"}}}`), "", "pay_0123456789abcdef", ""},
		{"other extensions only", v2WithExtensions(`{"padding":"xxxx"}`), "", "", ""},
		{"no extensions", &Request{Dialect: DialectH402}, "", "", ""},
		{"declared, no id added", v2WithExtensions(`{"payment-identifier":{"info":{"required":false},"schema":{}}}`), "", "", ""},
		{"not an object", v2WithExtensions(`{"payment-identifier":"pay_0123456789abcdef"}`), "", "", ReasonInvalidIdempotencyKey},
		{"id not a string", v2WithExtensions(`{"payment-identifier":{"info":{"id":42}}}`), "", "", ReasonInvalidIdempotencyKey},
		{"id with a space", v2WithExtensions(`{"payment-identifier":{"info":{"id":"a b"}}}`), "", "", ReasonInvalidIdempotencyKey},
		{"header too long", &Request{}, strings.Repeat("k", MaxIdempotencyKeyLen+1), "", ReasonInvalidIdempotencyKey},
		{"header with a newline", &Request{}, "a\nb", "", ReasonInvalidIdempotencyKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.req.IdempotencyKey(tt.header)
			if tt.reason != "" {
				var he *Error
				if !errors.As(err, &he) || he.Reason != tt.reason || he.Message == "" {
					t.Fatalf("got %q, %v; want reason %s with a sentence", got, err, tt.reason)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func FuzzIdempotencyKey(f *testing.F) {
	f.Add(`{"payment-identifier":{"info":{"id":"pay_0123456789abcdef"}}}`, "")
	f.Add(`{"payment-identifier":null}`, "")
	f.Add(`[]`, "key")
	f.Fuzz(func(t *testing.T, ext, header string) {
		got, err := v2WithExtensions(ext).IdempotencyKey(header)
		if err != nil {
			var he *Error
			if !errors.As(err, &he) || he.Message == "" {
				t.Fatalf("error %v is not an *Error with a sentence", err)
			}
			return
		}
		if len(got) > MaxIdempotencyKeyLen || strings.ContainsAny(got, " \n\t\"") {
			t.Fatalf("accepted key %q breaks the bounds", got)
		}
	})
}
