package solana

import (
	"strings"
	"testing"

	solanago "github.com/gagliardetto/solana-go"

	"github.com/h402/settlement/pkg/config"
	"github.com/h402/settlement/pkg/h402"
)

func TestPaymentHeaderRoundTrip(t *testing.T) {
	f := newFixture(t)
	for _, kind := range []config.TokenKind{config.KindNative, config.KindSPL, config.KindToken2022} {
		t.Run(string(kind), func(t *testing.T) {
			req := f.requirements(kind, false)
			hdr, err := PaymentHeader(req, f.token(kind), f.client, f.blockhash, PayOptions{ComputeUnitPrice: 7, Memo: "x"})
			if err != nil {
				t.Fatalf("PaymentHeader: %v", err)
			}
			p, err := h402.DecodePaymentHeader(hdr)
			if err != nil {
				t.Fatalf("DecodePaymentHeader: %v", err)
			}
			if p.Resource != req.Resource || p.NetworkID != "localnet" || p.Namespace != h402.NamespaceSolana {
				t.Errorf("envelope: got %+v, want resource %s on solana localnet", p, req.Resource)
			}
			got, err := NewVerifier().Verify(f.request(t, req, kind, p))
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			tx, err := solanago.TransactionFromBase64(txText(t, p))
			if err != nil {
				t.Fatal(err)
			}
			if tx.Message.RecentBlockhash != f.blockhash {
				t.Errorf("blockhash: got %s, want %s", tx.Message.RecentBlockhash, f.blockhash)
			}
			if err := tx.VerifySignatures(); err != nil {
				t.Errorf("client-paid tx is not fully signed: %v", err)
			}
			if got.Payer != f.client.PublicKey().String() {
				t.Errorf("Payer: got %s, want %s", got.Payer, f.client.PublicKey())
			}
		})
	}
}

func TestSignPaymentFeePayerVariant(t *testing.T) {
	f := newFixture(t)
	req := f.requirements(config.KindSPL, true)
	p := f.signed(t, req, config.KindSPL, PayOptions{})
	tx, err := solanago.TransactionFromBase64(txText(t, p))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := tx.Message.AccountKeys[0], f.feePayer.PublicKey(); got != want {
		t.Fatalf("fee payer: got %s, want %s", got, want)
	}
	if len(tx.Signatures) != 2 || !tx.Signatures[0].IsZero() || tx.Signatures[1].IsZero() {
		t.Fatalf("signatures: got %v, want [empty fee payer, client]", tx.Signatures)
	}

	if err := AddFeePayerSignature(tx, f.other); err == nil || !strings.Contains(err.Error(), "not the transaction's fee payer") {
		t.Errorf("AddFeePayerSignature with a foreign key: got %v, want refusal", err)
	}
	if err := AddFeePayerSignature(tx, f.feePayer); err != nil {
		t.Fatalf("AddFeePayerSignature: %v", err)
	}
	if err := tx.VerifySignatures(); err != nil {
		t.Errorf("co-signed tx: %v", err)
	}
}

func TestCoSignRefuses(t *testing.T) {
	f := newFixture(t)
	fp, client := f.feePayer.PublicKey(), f.client.PublicKey()
	// The fee payer is the transfer authority: co-signing would let the client spend it.
	abusive := f.txPayload(t, fp, []solanago.Instruction{cuLimit(1), cuPrice(1),
		tokenTransfer(t, TokenProgramID, fp, f.mint, f.payTo, 1, 6)}, f.client)
	clientPaid := f.signed(t, f.requirements(config.KindSPL, false), config.KindSPL, PayOptions{})
	unsignedClient := f.txPayload(t, fp, []solanago.Instruction{cuLimit(1), cuPrice(1),
		tokenTransfer(t, TokenProgramID, client, f.mint, f.payTo, 1, 6)})
	cases := []struct {
		name string
		tx   string
		want string
	}{
		{"fee payer in instruction accounts", txText(t, abusive), "names the fee payer"},
		{"not our transaction", txText(t, clientPaid), "not the transaction's fee payer"},
		{"client signature missing", txText(t, unsignedClient), "missing"},
		{"garbage", "AAAA", "invalid_exact_solana_payload_transaction"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := CoSign(c.tx, f.feePayer)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error containing %q", err, c.want)
			}
		})
	}
}

func TestBuildPaymentRejectsBadInput(t *testing.T) {
	f := newFixture(t)
	good := f.requirements(config.KindSPL, false)
	cases := []struct {
		name  string
		req   func() *h402.PaymentRequirements
		token *config.Token
	}{
		{"token mismatch", func() *h402.PaymentRequirements { return good }, f.token(config.KindNative)},
		{"evm namespace", func() *h402.PaymentRequirements { r := *good; r.Namespace = h402.NamespaceEVM; return &r }, f.token(config.KindSPL)},
		{"bad payTo", func() *h402.PaymentRequirements { r := *good; r.PayToAddress = "0xabc"; return &r }, f.token(config.KindSPL)},
		{"fee payer is the payer", func() *h402.PaymentRequirements {
			r := *good
			r.Extra = []byte(`{"feePayer":"` + f.client.PublicKey().String() + `"}`)
			return &r
		}, f.token(config.KindSPL)},
		{"amount beyond u64", func() *h402.PaymentRequirements {
			r := *good
			r.AmountRequired = &h402.Decimal{Text: "18446744073709551616", Quoted: true}
			return &r
		}, f.token(config.KindSPL)},
		{"evm token kind", func() *h402.PaymentRequirements { return good }, &config.Token{Address: f.mint.String(), Kind: config.KindERC20, Decimals: 6}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := SignPayment(c.req(), c.token, f.client, f.blockhash, PayOptions{}); err == nil {
				t.Fatal("got nil error, want a refusal")
			}
		})
	}
}
