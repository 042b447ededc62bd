package h402

import (
	"encoding/json"
	"math/big"
	"testing"
)

func TestDecimalUnits(t *testing.T) {
	maxU := MaxUint256.String()
	tests := []struct {
		name     string
		text     string
		format   AmountFormat
		decimals int
		want     string // "" means an error is wanted
		reason   Reason
	}{
		{"human cents", "0.01", FormatHumanReadable, 6, "10000", ""},
		{"human default format", "0.01", "", 6, "10000", ""},
		{"human whole", "12", FormatHumanReadable, 6, "12000000", ""},
		{"human exact at decimals", "1.000001", FormatHumanReadable, 6, "1000001", ""},
		{"human trailing zeros beyond decimals", "0.0100000000", FormatHumanReadable, 6, "10000", ""},
		{"human trailing zeros zero decimals", "7.000", FormatHumanReadable, 0, "7", ""},
		{"human 18 decimals", "0.000000000000000001", FormatHumanReadable, 18, "1", ""},
		{"human leading zeros", "007.5", FormatHumanReadable, 1, "75", ""},
		{"human too many fraction digits", "0.0000001", FormatHumanReadable, 6, "", ReasonInvalidAmount},
		{"human one digit too many", "1.0000015", FormatHumanReadable, 6, "", ReasonInvalidAmount},
		{"human fraction with zero decimals", "1.5", FormatHumanReadable, 0, "", ReasonInvalidAmount},
		{"human decimals out of range", "1", FormatHumanReadable, 37, "", ReasonInvalidPaymentRequirements},
		{"human negative decimals", "1", FormatHumanReadable, -1, "", ReasonInvalidPaymentRequirements},
		{"human overflow after scaling", "115792089237316195423570985008687907853269984665640564039457584007913129639.935", FormatHumanReadable, 3, maxU, ""},
		{"human one past max", "115792089237316195423570985008687907853269984665640564039457584007913129639.936", FormatHumanReadable, 3, "", ReasonInvalidAmount},
		{"smallest whole", "10000", FormatSmallestUnit, 6, "10000", ""},
		{"smallest ignores decimals", "10000", FormatSmallestUnit, 99, "10000", ""},
		{"smallest zero fraction allowed", "10000.00", FormatSmallestUnit, 6, "10000", ""},
		{"smallest fraction", "10000.5", FormatSmallestUnit, 6, "", ReasonInvalidAmount},
		{"smallest max", maxU, FormatSmallestUnit, 0, maxU, ""},
		{"smallest 2^256", twoTo256, FormatSmallestUnit, 0, "", ReasonInvalidAmount},
		{"negative", "-1", FormatSmallestUnit, 0, "", ReasonInvalidAmount},
		{"exponent", "1e6", FormatSmallestUnit, 0, "", ReasonInvalidAmount},
		{"empty", "", FormatSmallestUnit, 0, "", ReasonInvalidAmount},
		{"unknown format", "1", "tokens", 6, "", ReasonInvalidPaymentRequirements},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Decimal{Text: tc.text}.Units(tc.format, tc.decimals)
			if tc.want == "" {
				wantReason(t, err, tc.reason)
				return
			}
			if err != nil {
				t.Fatalf("Units(%q, %s, %d): %v", tc.text, tc.format, tc.decimals, err)
			}
			if got.String() != tc.want {
				t.Errorf("Units(%q, %s, %d) = %s, want %s", tc.text, tc.format, tc.decimals, got, tc.want)
			}
		})
	}
}

// TestDecimalJSON checks that a Decimal keeps its JSON form.
func TestDecimalJSON(t *testing.T) {
	tests := []struct {
		in     string
		text   string
		quoted bool
	}{
		{`10000`, "10000", false},
		{`"10000"`, "10000", true},
		{`0.5`, "0.5", false},
		{`"0.50"`, "0.50", true},
		{` 42 `, "42", false},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			var d Decimal
			if err := json.Unmarshal([]byte(tc.in), &d); err != nil {
				t.Fatalf("Unmarshal: %v", err)
			}
			if d.Text != tc.text || d.Quoted != tc.quoted {
				t.Errorf("got %+v, want text %q quoted %v", d, tc.text, tc.quoted)
			}
			out, err := json.Marshal(d)
			if err != nil {
				t.Fatal(err)
			}
			var back Decimal
			if err := json.Unmarshal(out, &back); err != nil || back != d {
				t.Errorf("re-decoded %s as %+v (%v), want %+v", out, back, err, d)
			}
		})
	}
	for _, bad := range []string{`-1`, `1e3`, `"1E3"`, `"0x10"`, `" 1"`, `"1."`, `".1"`, `true`, `null`, `{}`, `"1_000"`, `"１"`} {
		t.Run("bad "+bad, func(t *testing.T) {
			var d Decimal
			wantReason(t, json.Unmarshal([]byte(bad), &d), ReasonInvalidAmount)
		})
	}
}

func TestRequirementsAmount(t *testing.T) {
	tests := []struct {
		golden   string
		decimals int
		want     int64
	}{
		{"requirements_evm_smallest_number.json", 6, 10000},
		{"requirements_evm_human_string.json", 18, 10000}, // tokenDecimals 6 wins over the configured 18
		{"requirements_evm_human_number.json", 18, 500000000000000000},
		{"requirements_max_amount.json", 6, 250000},
		{"requirements_solana_feepayer.json", 6, 10000},
	}
	for _, tc := range tests {
		t.Run(tc.golden, func(t *testing.T) {
			r, err := DecodeRequirements(readGolden(t, tc.golden))
			if err != nil {
				t.Fatal(err)
			}
			got, err := r.Amount(tc.decimals)
			if err != nil {
				t.Fatalf("Amount: %v", err)
			}
			if got.Cmp(big.NewInt(tc.want)) != 0 {
				t.Errorf("got %s, want %d", got, tc.want)
			}
		})
	}
}

// TestValidateBuiltRequirements covers requirements built in Go rather than
// decoded, whose Decimal text never went through UnmarshalJSON.
func TestValidateBuiltRequirements(t *testing.T) {
	for _, text := range []string{"1.2.3", "1e5", "-1", "", "0x10"} {
		t.Run(text, func(t *testing.T) {
			r := PaymentRequirements{
				Namespace: NamespaceEVM, Scheme: SchemeExact, NetworkID: "8453",
				TokenAddress: "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913", PayToAddress: "0x209693Bc6afc0C5328bA36FaF03C514EF312287C",
				AmountRequired: &Decimal{Text: text}, AmountRequiredFormat: FormatHumanReadable,
			}
			want := ReasonInvalidAmount
			if text == "" {
				want = ReasonInvalidPaymentRequirements // an empty Decimal is an absent amount
			}
			wantReason(t, r.Validate(), want)
		})
	}
}
