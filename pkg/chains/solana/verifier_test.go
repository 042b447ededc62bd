package solana

import (
	"math/big"
	"regexp"
	"testing"

	solanago "github.com/gagliardetto/solana-go"
	"github.com/gagliardetto/solana-go/programs/memo"

	"github.com/h402/settlement/pkg/chains"

	"github.com/h402/settlement/pkg/config"
	"github.com/h402/settlement/pkg/h402"
)

var msgKeyRE = regexp.MustCompile(`^solana\.localnet\.msg\.[0-9a-f]{64}$`)

func TestVerifyAcceptsEachVariant(t *testing.T) {
	f := newFixture(t)
	cases := []struct {
		name         string
		kind         config.TokenKind
		withFeePayer bool
		opts         PayOptions
	}{
		{"native SOL", config.KindNative, false, PayOptions{ComputeUnitPrice: 5}},
		{"SPL with CreateATA", config.KindSPL, false, PayOptions{ComputeUnitPrice: 1000}},
		{"SPL without CreateATA", config.KindSPL, false, PayOptions{SkipCreateATA: true}},
		{"Token-2022 with CreateATA", config.KindToken2022, false, PayOptions{}},
		{"SPL with memo", config.KindSPL, false, PayOptions{Memo: "order 42"}},
		{"fee payer SPL", config.KindSPL, true, PayOptions{ComputeUnitLimit: 50_000, ComputeUnitPrice: 10}},
		{"fee payer Token-2022", config.KindToken2022, true, PayOptions{}},
		{"fee payer native SOL", config.KindNative, true, PayOptions{}},
	}
	v := NewVerifier()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req := f.requirements(c.kind, c.withFeePayer)
			p := f.signed(t, req, c.kind, c.opts)
			r := f.request(t, req, c.kind, p)
			got, err := v.Verify(r)
			if err != nil {
				t.Fatalf("Verify: got %v, want nil", err)
			}
			if want := f.client.PublicKey().String(); got.Payer != want {
				t.Errorf("Payer: got %s, want %s", got.Payer, want)
			}
			if got.PayTo != f.payTo.String() {
				t.Errorf("PayTo: got %s, want %s", got.PayTo, f.payTo)
			}
			if want := f.token(c.kind).Address; got.Token != want {
				t.Errorf("Token: got %s, want %s", got.Token, want)
			}
			if got.Amount.Cmp(big.NewInt(testAmount)) != 0 {
				t.Errorf("Amount: got %s, want %d", got.Amount, testAmount)
			}
			if got.Namespace != h402.NamespaceSolana || got.NetworkID != "localnet" || got.Type != h402.TypeSignTransaction || !got.Settle {
				t.Errorf("got namespace %s network %s type %s settle %v, want solana localnet signTransaction true", got.Namespace, got.NetworkID, got.Type, got.Settle)
			}
			if !msgKeyRE.MatchString(got.ID) {
				t.Errorf("ID: got %q, want solana.localnet.msg.<sha256 hex>", got.ID)
			}
			key, err := v.ReplayKey(r)
			if err != nil || key != got.ID {
				t.Errorf("ReplayKey: got %q, %v, want %q", key, err, got.ID)
			}
			sig := p.Payload.(*h402.SolanaSignTransactionPayload).Signature
			if c.withFeePayer {
				if got.TxHash != "" || sig != "" {
					t.Errorf("fee-payer variant: got TxHash %q and payload.signature %q, want both empty until co-signed", got.TxHash, sig)
				}
			} else if got.TxHash == "" || got.TxHash != sig {
				t.Errorf("TxHash: got %q, want the first signature %q", got.TxHash, sig)
			}
		})
	}
}

func TestVerifyRejects(t *testing.T) {
	f := newFixture(t)
	client, fp, other := f.client.PublicKey(), f.feePayer.PublicKey(), f.other.PublicKey()
	mint, payTo := f.mint, f.payTo
	spl, t22 := TokenProgramID, Token2022ProgramID

	// splIxs is the valid SPL layout with the last instruction replaced by transfer.
	splIxs := func(transfer solanago.Instruction) []solanago.Instruction {
		return []solanago.Instruction{cuLimit(100_000), cuPrice(1), createATAIx(t, client, payTo, mint, spl), transfer}
	}
	goodTransfer := tokenTransfer(t, spl, client, mint, payTo, testAmount, 6)
	splValid := f.signed(t, f.requirements(config.KindSPL, false), config.KindSPL, PayOptions{})
	splValidText := txText(t, splValid)
	splBytes, err := h402.DecodeBase64(splValidText)
	if err != nil {
		t.Fatal(err)
	}
	b64 := func(b []byte) *h402.PaymentPayload { return payloadOf(h402.EncodeBase64(b), "") }
	tampered := append([]byte(nil), splBytes...)
	tampered[len(tampered)-3] ^= 0x01 // inside TransferChecked's amount
	lookupTx := func() *h402.PaymentPayload {
		tx, err := solanago.NewTransaction(splIxs(goodTransfer), f.blockhash, solanago.TransactionPayer(client))
		if err != nil {
			t.Fatal(err)
		}
		tx.Message.SetVersion(solanago.MessageVersionV0)
		tx.Message.AddAddressTableLookup(solanago.MessageAddressTableLookup{AccountKey: other, WritableIndexes: []uint8{0}})
		return f.signTx(t, tx, f.client)
	}
	withSig := func(p *h402.PaymentPayload, sig string) *h402.PaymentPayload {
		return payloadOf(txText(t, p), sig)
	}
	// nonSignerAuthority pays from client's ATA but names the authority without the signer flag.
	nonSignerAuthority := solanago.NewInstruction(spl, solanago.AccountMetaSlice{
		solanago.Meta(ata(t, other, mint, spl)).WRITE(), solanago.Meta(mint),
		solanago.Meta(ata(t, payTo, mint, spl)).WRITE(), solanago.Meta(other),
	}, transferCheckedData(testAmount, 6))
	evm := &h402.PaymentPayload{H402Version: 1, Scheme: "exact", Namespace: h402.NamespaceSolana, NetworkID: "localnet",
		Payload: &h402.EVMAuthorizationPayload{Type: h402.TypeAuthorization}}
	sendPayload := func(sig string) *h402.PaymentPayload {
		return &h402.PaymentPayload{H402Version: 1, Scheme: "exact", Namespace: h402.NamespaceSolana, NetworkID: "localnet",
			Payload: &h402.SolanaSignAndSendPayload{Type: h402.TypeSignAndSendTransaction, Signature: sig}}
	}
	oversized := make([]byte, MaxTransactionSize+1)

	cases := []struct {
		name         string
		kind         config.TokenKind
		withFeePayer bool
		extra        string // raw extra JSON overriding withFeePayer
		payload      *h402.PaymentPayload
		policy       *config.Verify
		want         h402.Reason
	}{
		{name: "wrong payload variant", kind: config.KindSPL, payload: evm, want: h402.ReasonInvalidPayload},
		{name: "bad base64", kind: config.KindSPL, payload: payloadOf("not base64 !!", ""), want: h402.ReasonSolanaTransaction},
		{name: "empty transaction", kind: config.KindSPL, payload: payloadOf("", ""), want: h402.ReasonSolanaTransaction},
		{name: "truncated", kind: config.KindSPL, payload: b64(splBytes[:len(splBytes)-7]), want: h402.ReasonSolanaTransaction},
		{name: "trailing bytes", kind: config.KindSPL, payload: b64(append(append([]byte(nil), splBytes...), 0)), want: h402.ReasonSolanaTransaction},
		{name: "larger than a packet", kind: config.KindSPL, payload: b64(oversized), want: h402.ReasonSolanaTransaction},
		{name: "non-canonical signature count", kind: config.KindSPL, payload: b64(append([]byte{0x81, 0x00}, splBytes[1:]...)), want: h402.ReasonSolanaTransaction},
		{name: "unknown message version", kind: config.KindSPL, payload: b64(append(append([]byte{1}, splBytes[1:65]...), append(append([]byte{0x81}, splBytes[65:]...), 0)...)), want: h402.ReasonSolanaTransaction},
		{name: "signature count mismatch", kind: config.KindSPL, payload: b64(append([]byte{2}, append(make([]byte, 64), splBytes[1:]...)...)), want: h402.ReasonSolanaTransaction},
		{name: "address lookup table", kind: config.KindSPL, payload: lookupTx(), want: h402.ReasonSolanaTransaction},
		{name: "tampered message", kind: config.KindSPL, payload: b64(tampered), want: h402.ReasonSolanaSignature},
		{name: "missing signature", kind: config.KindSPL, payload: f.txPayload(t, client, splIxs(goodTransfer)), want: h402.ReasonSolanaSignature},
		{name: "signed by the wrong key", kind: config.KindSPL, payload: func() *h402.PaymentPayload {
			p := f.txPayload(t, client, splIxs(goodTransfer), f.client)
			q := f.txPayload(t, client, []solanago.Instruction{cuLimit(1), cuPrice(1), goodTransfer}, f.client)
			a, _ := h402.DecodeBase64(txText(t, p))
			b, _ := h402.DecodeBase64(txText(t, q))
			copy(a[1:65], b[1:65]) // a signature by the right key over another message
			return b64(a)
		}(), want: h402.ReasonSolanaSignature},
		{name: "payload.signature not the first signature", kind: config.KindSPL, payload: withSig(splValid, solanago.Signature{1, 2, 3}.String()), want: h402.ReasonSolanaSignature},
		{name: "authority does not sign", kind: config.KindSPL, payload: f.txPayload(t, client, splIxs(nonSignerAuthority), f.client), want: h402.ReasonSolanaSignature},
		{name: "second transfer", kind: config.KindSPL, payload: f.txPayload(t, client, append(splIxs(goodTransfer), goodTransfer), f.client), want: h402.ReasonSolanaInstructions},
		{name: "System transfer added to SPL payment", kind: config.KindSPL, payload: f.txPayload(t, client, append(splIxs(goodTransfer), sysTransfer(client, payTo, 1)), f.client), want: h402.ReasonSolanaInstructions},
		{name: "CU limit and price swapped", kind: config.KindSPL, payload: f.txPayload(t, client, []solanago.Instruction{cuPrice(1), cuLimit(100_000), createATAIx(t, client, payTo, mint, spl), goodTransfer}, f.client), want: h402.ReasonSolanaInstructions},
		{name: "transfer before CreateATA", kind: config.KindSPL, payload: f.txPayload(t, client, []solanago.Instruction{cuLimit(100_000), cuPrice(1), goodTransfer, createATAIx(t, client, payTo, mint, spl)}, f.client), want: h402.ReasonSolanaInstructions},
		{name: "missing CU instructions", kind: config.KindSPL, payload: f.txPayload(t, client, []solanago.Instruction{createATAIx(t, client, payTo, mint, spl), goodTransfer}, f.client), want: h402.ReasonSolanaInstructions},
		{name: "unknown program", kind: config.KindSPL, payload: f.txPayload(t, client, []solanago.Instruction{cuLimit(1), cuPrice(1), solanago.NewInstruction(other, solanago.AccountMetaSlice{solanago.Meta(client).SIGNER()}, []byte{1}), goodTransfer}, f.client), want: h402.ReasonSolanaInstructions},
		{name: "CU price above cap", kind: config.KindSPL, payload: f.txPayload(t, client, []solanago.Instruction{cuLimit(100_000), cuPrice(1_000_001), createATAIx(t, client, payTo, mint, spl), goodTransfer}, f.client), want: h402.ReasonSolanaComputePrice},
		{name: "zero policy caps mean the defaults", kind: config.KindSPL, payload: splValid, policy: &config.Verify{MaxComputeUnitPrice: 0, MaxComputeUnitLimit: 200_000}, want: ""},
		{name: "CU limit above cap", kind: config.KindSPL, payload: f.txPayload(t, client, []solanago.Instruction{cuLimit(200_001), cuPrice(1), createATAIx(t, client, payTo, mint, spl), goodTransfer}, f.client), want: ReasonSolanaComputeLimit},
		{name: "CU limit above a lowered cap", kind: config.KindSPL, payload: splValid, policy: &config.Verify{MaxComputeUnitPrice: 1, MaxComputeUnitLimit: 50_000}, want: ReasonSolanaComputeLimit},
		{name: "wrong mint", kind: config.KindSPL, payload: f.txPayload(t, client, []solanago.Instruction{cuLimit(1), cuPrice(1), tokenTransfer(t, spl, client, other, payTo, testAmount, 6)}, f.client), want: h402.ReasonSolanaMint},
		{name: "wrong decimals", kind: config.KindSPL, payload: f.txPayload(t, client, splIxs(tokenTransfer(t, spl, client, mint, payTo, testAmount, 9)), f.client), want: h402.ReasonSolanaMint},
		{name: "destination is another owner's ATA", kind: config.KindSPL, payload: f.txPayload(t, client, []solanago.Instruction{cuLimit(1), cuPrice(1), tokenTransfer(t, spl, client, mint, other, testAmount, 6)}, f.client), want: h402.ReasonSolanaRecipientMismatch},
		{name: "destination is the Token-2022 ATA of an SPL mint", kind: config.KindSPL, payload: f.txPayload(t, client, []solanago.Instruction{cuLimit(1), cuPrice(1),
			transferCheckedInstruction(spl, ata(t, client, mint, spl), mint, ata(t, payTo, mint, t22), client, testAmount, 6)}, f.client), want: h402.ReasonSolanaRecipientMismatch},
		{name: "TransferChecked under Token-2022 for an SPL mint", kind: config.KindSPL, payload: f.txPayload(t, client, []solanago.Instruction{cuLimit(1), cuPrice(1), tokenTransfer(t, t22, client, mint, payTo, testAmount, 6)}, f.client), want: h402.ReasonSolanaInstructions},
		{name: "TransferChecked under SPL for a Token-2022 mint", kind: config.KindToken2022, payload: splValid, want: h402.ReasonSolanaInstructions},
		{name: "wrong amount", kind: config.KindSPL, payload: f.txPayload(t, client, splIxs(tokenTransfer(t, spl, client, mint, payTo, testAmount-1, 6)), f.client), want: h402.ReasonSolanaValue},
		{name: "CreateATA for someone else", kind: config.KindSPL, payload: f.txPayload(t, client, []solanago.Instruction{cuLimit(1), cuPrice(1), createATAIx(t, client, other, mint, spl), goodTransfer}, f.client), want: h402.ReasonSolanaInstructions},
		{name: "CreateATA for the wrong token program", kind: config.KindSPL, payload: f.txPayload(t, client, []solanago.Instruction{cuLimit(1), cuPrice(1), createATAIx(t, client, payTo, mint, t22), goodTransfer}, f.client), want: h402.ReasonSolanaInstructions},
		{name: "non-idempotent CreateATA", kind: config.KindSPL, payload: f.txPayload(t, client, []solanago.Instruction{cuLimit(1), cuPrice(1),
			solanago.NewInstruction(AssociatedTokenID, createATAIx(t, client, payTo, mint, spl).Accounts(), []byte{}), goodTransfer}, f.client), want: h402.ReasonSolanaInstructions},
		{name: "native: SPL transfer for SOL", kind: config.KindNative, payload: splValid, want: h402.ReasonSolanaInstructions},
		{name: "SPL: SOL transfer for a mint", kind: config.KindSPL, payload: f.txPayload(t, client, []solanago.Instruction{cuLimit(1), cuPrice(1), sysTransfer(client, payTo, testAmount)}, f.client), want: h402.ReasonSolanaInstructions},
		{name: "native: wrong recipient", kind: config.KindNative, payload: f.txPayload(t, client, []solanago.Instruction{cuLimit(1), cuPrice(1), sysTransfer(client, other, testAmount)}, f.client), want: h402.ReasonSolanaRecipientMismatch},
		{name: "native: wrong amount", kind: config.KindNative, payload: f.txPayload(t, client, []solanago.Instruction{cuLimit(1), cuPrice(1), sysTransfer(client, payTo, testAmount+1)}, f.client), want: h402.ReasonSolanaValue},
		{name: "extra.feePayer not ours", kind: config.KindSPL, extra: `{"feePayer":"` + other.String() + `"}`, payload: f.txPayload(t, other, splIxs(goodTransfer), f.client), want: h402.ReasonSolanaFeePayer},
		{name: "extra.feePayer not a key", kind: config.KindSPL, extra: `{"feePayer":"0OIl"}`, payload: splValid, want: h402.ReasonInvalidPaymentRequirements},
		{name: "tx fee payer is not extra.feePayer", kind: config.KindSPL, withFeePayer: true, payload: splValid, want: h402.ReasonSolanaFeePayer},
		{name: "fee payer is the transfer authority", kind: config.KindSPL, withFeePayer: true, payload: f.txPayload(t, fp,
			[]solanago.Instruction{cuLimit(1), cuPrice(1), createATAIx(t, client, payTo, mint, spl), tokenTransfer(t, spl, fp, mint, payTo, testAmount, 6)}, f.client), want: h402.ReasonSolanaFeePayer},
		{name: "fee payer funds the ATA", kind: config.KindSPL, withFeePayer: true, payload: f.txPayload(t, fp,
			[]solanago.Instruction{cuLimit(1), cuPrice(1), createATAIx(t, fp, payTo, mint, spl), goodTransfer}, f.client), want: h402.ReasonSolanaFeePayer},
		{name: "fee payer pays native SOL", kind: config.KindNative, withFeePayer: true, payload: f.txPayload(t, fp,
			[]solanago.Instruction{cuLimit(1), cuPrice(1), sysTransfer(fp, payTo, testAmount)}), want: h402.ReasonSolanaFeePayer},
		{name: "fee payer signs a memo", kind: config.KindSPL, withFeePayer: true, payload: f.txPayload(t, fp,
			[]solanago.Instruction{cuLimit(1), cuPrice(1), createATAIx(t, client, payTo, mint, spl), goodTransfer, memo.NewMemoInstruction([]byte("hi"), fp).Build()}, f.client), want: h402.ReasonSolanaFeePayer},
		{name: "client tx names our fee payer without extra.feePayer", kind: config.KindSPL, payload: f.txPayload(t, fp, splIxs(goodTransfer), f.client), want: h402.ReasonSolanaFeePayer},
		{name: "client fee payer is not the authority", kind: config.KindSPL, payload: f.txPayload(t, other, splIxs(goodTransfer), f.client, f.other), want: h402.ReasonSolanaFeePayer},
		{name: "signAndSend: not base58", kind: config.KindSPL, payload: sendPayload("0OIl"), want: h402.ReasonSolanaSignature},
		{name: "signAndSend: 32 bytes", kind: config.KindSPL, payload: sendPayload(other.String()), want: h402.ReasonSolanaSignature},
		{name: "signAndSend: zero signature", kind: config.KindSPL, payload: sendPayload(solanago.Signature{}.String()), want: h402.ReasonSolanaSignature},
		{name: "signAndSend: empty", kind: config.KindSPL, payload: sendPayload(""), want: h402.ReasonSolanaSignature},
	}
	v := NewVerifier()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req := f.requirements(c.kind, c.withFeePayer)
			if c.extra != "" {
				req.Extra = []byte(c.extra)
			}
			r := f.request(t, req, c.kind, c.payload)
			if c.policy != nil {
				r.Policy = *c.policy
			}
			got, err := v.Verify(r)
			if c.want == "" {
				if err != nil {
					t.Fatalf("got %v, want acceptance", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("got accepted payment %+v, want reason %s", got, c.want)
			}
			t.Log(err)
			wantReason(t, err, c.want)
		})
	}
}

func TestVerifySignAndSend(t *testing.T) {
	f := newFixture(t)
	sig, err := f.client.Sign([]byte("some broadcast transaction"))
	if err != nil {
		t.Fatal(err)
	}
	req := f.requirements(config.KindSPL, false)
	r := f.request(t, req, config.KindSPL, sendPayment(t, req, f.client, sig))
	got, err := NewVerifier().Verify(r)
	if err != nil {
		t.Fatalf("Verify: got %v, want nil", err)
	}
	if want := "solana.localnet.sig." + sig.String(); got.ID != want {
		t.Errorf("ID: got %q, want %q", got.ID, want)
	}
	if got.TxHash != sig.String() || got.Settle || got.Payer != "" || got.Type != h402.TypeSignAndSendTransaction {
		t.Errorf("got TxHash %q Settle %v Payer %q Type %s, want %q false \"\" signAndSendTransaction", got.TxHash, got.Settle, got.Payer, got.Type, sig)
	}
	if got.Token != f.mint.String() {
		t.Errorf("Token: got %s, want %s", got.Token, f.mint)
	}
}

func TestVerifyRejectsIncompleteRequest(t *testing.T) {
	f := newFixture(t)
	req := f.requirements(config.KindSPL, false)
	good := f.request(t, req, config.KindSPL, f.signed(t, req, config.KindSPL, PayOptions{}))
	cases := []struct {
		name   string
		mutate func(r *chains.Request)
		want   h402.Reason
	}{
		{"nil payload", func(r *chains.Request) { r.Payload = nil }, h402.ReasonInvalidPayload},
		{"nil requirements", func(r *chains.Request) { r.Requirements = nil }, h402.ReasonInvalidPaymentRequirements},
		{"nil token", func(r *chains.Request) { r.Token = nil }, h402.ReasonInvalidNetwork},
		{"zero amount", func(r *chains.Request) { r.Amount = new(big.Int) }, h402.ReasonInvalidAmount},
		{"amount beyond u64", func(r *chains.Request) { r.Amount = new(big.Int).Lsh(big.NewInt(1), 64) }, h402.ReasonSolanaValue},
		{"EVM token kind", func(r *chains.Request) { r.Token = &config.Token{Address: f.mint.String(), Kind: config.KindEIP3009} }, h402.ReasonTokenNotSupported},
		{"unsafe network id", func(r *chains.Request) { n := f.network; n.NetworkID = "local.net"; r.Network = &n }, h402.ReasonInvalidNetwork},
		{"payTo not base58", func(r *chains.Request) { q := *r.Requirements; q.PayToAddress = "0x12"; r.Requirements = &q }, h402.ReasonInvalidPaymentRequirements},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := *good
			c.mutate(&r)
			_, err := NewVerifier().Verify(&r)
			wantReason(t, err, c.want)
		})
	}
	if _, err := (*Verifier)(nil).Verify(nil); err == nil {
		t.Fatalf("Verify(nil): got nil error, want invalid_payload")
	}
}
