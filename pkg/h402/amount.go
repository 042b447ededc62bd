package h402

import (
	"bytes"
	"encoding/json"
	"math/big"
	"strings"
)

// MaxAmountDigits bounds the number of digits an amount may have, so that a
// hostile value cannot make exact arithmetic expensive. 2^256 has 78 digits.
const MaxAmountDigits = 78

// MaxUint256 is the largest amount a token contract can hold.
var MaxUint256 = new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 256), big.NewInt(1))

// AmountFormat says how amountRequired is written.
type AmountFormat string

// Amount formats.
const (
	FormatHumanReadable AmountFormat = "humanReadable"
	FormatSmallestUnit  AmountFormat = "smallestUnit"
)

// Decimal is a non-negative decimal number as written on the wire, either as a
// JSON number or a JSON string. It keeps its text and its form so that
// encoding reproduces the input byte for byte, and it is never parsed through
// float64.
type Decimal struct {
	Text   string // digits with an optional fraction, e.g. "10000" or "0.01"
	Quoted bool   // written as a JSON string
}

// NewDecimal returns a quoted Decimal for a whole number.
func NewDecimal(v *big.Int) Decimal { return Decimal{Text: v.String(), Quoted: true} }

// IsZero reports whether d holds nothing (was absent).
func (d Decimal) IsZero() bool { return d.Text == "" }

// UnmarshalJSON accepts a JSON number or a JSON string holding a plain decimal.
func (d *Decimal) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	quoted := len(b) > 0 && b[0] == '"'
	var text string
	if quoted {
		if err := json.Unmarshal(b, &text); err != nil {
			return Wrap(ReasonInvalidAmount, err, "amount is not a valid JSON string")
		}
	} else {
		text = string(b)
	}
	if err := checkDecimal(text); err != nil {
		return err
	}
	d.Text, d.Quoted = text, quoted
	return nil
}

// MarshalJSON writes d in the form it was read.
func (d Decimal) MarshalJSON() ([]byte, error) {
	if d.Text == "" {
		return []byte(`"0"`), nil
	}
	if d.Quoted {
		return json.Marshal(d.Text)
	}
	return []byte(d.Text), nil
}

func checkDecimal(s string) error {
	if s == "" {
		return Errorf(ReasonInvalidAmount, "amount is empty")
	}
	if len(s) > MaxAmountDigits+1 {
		return Errorf(ReasonInvalidAmount, "amount has more than %d digits", MaxAmountDigits)
	}
	if s[0] == '-' {
		return Errorf(ReasonInvalidAmount, "amount %q is negative", s)
	}
	dot := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
		case c == '.' && !dot && i > 0 && i < len(s)-1:
			dot = true
		default:
			return Errorf(ReasonInvalidAmount, "amount %q is not a plain decimal number (digits with an optional fraction)", s)
		}
	}
	return nil
}

// Units converts d to an exact integer count of smallest units. With
// FormatHumanReadable (or an empty format), d is in whole tokens and is scaled by
// 10^decimals; a fraction finer than the token's decimals is an error, never a
// rounding. With FormatSmallestUnit, d must be a whole number.
func (d Decimal) Units(format AmountFormat, decimals int) (*big.Int, error) {
	if err := checkDecimal(d.Text); err != nil {
		return nil, err
	}
	whole, frac, _ := strings.Cut(d.Text, ".")
	switch format {
	case FormatSmallestUnit:
		if strings.Trim(frac, "0") != "" {
			return nil, Errorf(ReasonInvalidAmount, "amount %q in smallest units has a fraction", d.Text)
		}
		frac = ""
	case FormatHumanReadable, "":
		if decimals < 0 || decimals > 36 {
			return nil, Errorf(ReasonInvalidPaymentRequirements, "token decimals %d out of range 0..36", decimals)
		}
		trimmed := strings.TrimRight(frac, "0")
		if len(trimmed) > decimals {
			return nil, Errorf(ReasonInvalidAmount, "amount %q has %d fraction digits but the token has %d decimals", d.Text, len(trimmed), decimals)
		}
		frac = trimmed + strings.Repeat("0", decimals-len(trimmed))
	default:
		return nil, Errorf(ReasonInvalidPaymentRequirements, "amountRequiredFormat %q is neither humanReadable nor smallestUnit", string(format))
	}
	v, ok := new(big.Int).SetString(whole+frac, 10)
	if !ok {
		return nil, Errorf(ReasonInvalidAmount, "amount %q is not a number", d.Text)
	}
	if v.Cmp(MaxUint256) > 0 {
		return nil, Errorf(ReasonInvalidAmount, "amount %q exceeds 2^256-1 smallest units", d.Text)
	}
	return v, nil
}

// Uint parses d as a whole number (timestamps, values) within 256 bits.
func (d Decimal) Uint() (*big.Int, error) { return d.Units(FormatSmallestUnit, 0) }
