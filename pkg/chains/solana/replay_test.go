package solana

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha512"
	"encoding/base64"
	"regexp"
	"strings"
	"testing"

	"filippo.io/edwards25519"
	solanago "github.com/gagliardetto/solana-go"

	"github.com/h402/settlement/pkg/config"
	"github.com/h402/settlement/pkg/h402"
)

// resign makes a second valid ed25519 signature of msg by key, using a
// random nonce instead of the deterministic one of RFC 8032: R = rB,
// S = r + H(R || A || msg)·a. Both signatures verify; they differ in bytes.
func resign(t *testing.T, key solanago.PrivateKey, msg []byte) solanago.Signature {
	t.Helper()
	h := sha512.Sum512(key[:32])
	a, err := edwards25519.NewScalar().SetBytesWithClamping(h[:32])
	if err != nil {
		t.Fatal(err)
	}
	var seed [64]byte
	if _, err := rand.Read(seed[:]); err != nil {
		t.Fatal(err)
	}
	r, err := edwards25519.NewScalar().SetUniformBytes(seed[:])
	if err != nil {
		t.Fatal(err)
	}
	R := new(edwards25519.Point).ScalarBaseMult(r).Bytes()
	pub := key.PublicKey()
	kh := sha512.New()
	kh.Write(R)
	kh.Write(pub[:])
	kh.Write(msg)
	k, err := edwards25519.NewScalar().SetUniformBytes(kh.Sum(nil))
	if err != nil {
		t.Fatal(err)
	}
	S := edwards25519.NewScalar().MultiplyAdd(k, a, r)
	var sig solanago.Signature
	copy(sig[:32], R)
	copy(sig[32:], S.Bytes())
	if !ed25519.Verify(pub[:], msg, sig[:]) {
		t.Fatal("re-signed signature does not verify")
	}
	return sig
}

func TestReplayKeyDependsOnlyOnMessage(t *testing.T) {
	f := newFixture(t)
	v := NewVerifier()
	req := f.requirements(config.KindSPL, false)
	orig := f.signed(t, req, config.KindSPL, PayOptions{})
	text := txText(t, orig)
	tx, err := solanago.TransactionFromBase64(text)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := tx.Message.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	alt := resign(t, f.client, msg)
	if alt == tx.Signatures[0] {
		t.Fatal("re-signing produced the same signature bytes")
	}
	tx.Signatures[0] = alt
	resigned := payloadOf(tx.MustToBase64(), alt.String())
	unpadded := payloadOf(strings.TrimRight(text, "="), "")

	first, err := v.Verify(f.request(t, req, config.KindSPL, orig))
	if err != nil {
		t.Fatalf("original: %v", err)
	}
	for name, p := range map[string]*h402.PaymentPayload{"re-signed": resigned, "unpadded base64": unpadded} {
		got, err := v.Verify(f.request(t, req, config.KindSPL, p))
		if err != nil {
			t.Fatalf("%s: Verify: %v", name, err)
		}
		if got.ID != first.ID {
			t.Errorf("%s: got key %s, want %s (same message)", name, got.ID, first.ID)
		}
	}
	if text == strings.TrimRight(text, "=") {
		t.Log("encoding had no padding; the unpadded case re-tested the same text")
	}

	// Different messages: another amount, another blockhash.
	other := f.requirements(config.KindSPL, false)
	other.AmountRequired = &h402.Decimal{Text: "10001", Quoted: true}
	p2 := f.signed(t, other, config.KindSPL, PayOptions{})
	k2, err := v.ReplayKey(f.request(t, other, config.KindSPL, p2))
	if err != nil {
		t.Fatal(err)
	}
	f.blockhash[0] ^= 1
	p3 := f.signed(t, req, config.KindSPL, PayOptions{})
	k3, err := v.ReplayKey(f.request(t, req, config.KindSPL, p3))
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{k2, k3} {
		if k == first.ID {
			t.Errorf("different message: got the same key %s", k)
		}
	}
	if k2 == k3 {
		t.Errorf("two different messages share key %s", k2)
	}
	sum := MessageReplayKey("localnet", msg)
	if sum != first.ID {
		t.Errorf("MessageReplayKey: got %s, want %s", sum, first.ID)
	}
}

func TestReplayKeyFeePayerCoSignKeepsKey(t *testing.T) {
	f := newFixture(t)
	v := NewVerifier()
	req := f.requirements(config.KindToken2022, true)
	p := f.signed(t, req, config.KindToken2022, PayOptions{})
	before, err := v.ReplayKey(f.request(t, req, config.KindToken2022, p))
	if err != nil {
		t.Fatal(err)
	}
	wire, sig, err := CoSign(txText(t, p), f.feePayer)
	if err != nil {
		t.Fatalf("CoSign: %v", err)
	}
	cosigned := payloadOf(base64.StdEncoding.EncodeToString(wire), sig.String())
	got, err := v.Verify(f.request(t, req, config.KindToken2022, cosigned))
	if err != nil {
		t.Fatalf("Verify co-signed: %v", err)
	}
	if got.ID != before {
		t.Errorf("co-signing changed the key: got %s, want %s", got.ID, before)
	}
	if got.TxHash != sig.String() {
		t.Errorf("TxHash: got %s, want the fee payer's signature %s", got.TxHash, sig)
	}
}

func TestReplayKeyFormat(t *testing.T) {
	f := newFixture(t)
	v := NewVerifier()
	safe := regexp.MustCompile(`^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$`)
	req := f.requirements(config.KindNative, false)
	sig := solanago.Signature{9, 8, 7}
	for name, p := range map[string]*h402.PaymentPayload{
		"signTransaction": f.signed(t, req, config.KindNative, PayOptions{}),
		"signAndSend":     sendPayment(t, req, f.client, sig),
	} {
		k, err := v.ReplayKey(f.request(t, req, config.KindNative, p))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !safe.MatchString(k) || !strings.HasPrefix(k, "solana.localnet.") {
			t.Errorf("%s: key %q is not a safe solana.localnet.* subject", name, k)
		}
	}
	k, _ := v.ReplayKey(f.request(t, req, config.KindNative, sendPayment(t, req, f.client, sig)))
	if want := "solana.localnet.sig." + sig.String(); k != want {
		t.Errorf("signAndSend key: got %s, want %s", k, want)
	}
	r := f.request(t, req, config.KindNative, sendPayment(t, req, f.client, sig))
	n := f.network
	n.NetworkID = "local>net"
	r.Network = &n
	_, err := v.ReplayKey(r)
	wantReason(t, err, h402.ReasonInvalidNetwork)
	_, err = v.ReplayKey(f.request(t, req, config.KindNative, payloadOf("AAAA", "")))
	wantReason(t, err, h402.ReasonSolanaTransaction)
}
