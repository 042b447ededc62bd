package solana

import (
	"sync"
	"testing"

	solanago "github.com/gagliardetto/solana-go"

	"github.com/h402/settlement/pkg/config"
)

func TestAssociatedTokenAddressMatchesSolanaGo(t *testing.T) {
	owner, mint := newKey(t).PublicKey(), newKey(t).PublicKey()
	want, _, err := solanago.FindAssociatedTokenAddress(owner, mint) // SPL Token program only
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ { // second call is served from the cache
		got, err := AssociatedTokenAddress(owner, mint, TokenProgramID)
		if err != nil || got != want {
			t.Fatalf("call %d: got %s, %v, want %s", i, got, err, want)
		}
	}
	t22, err := AssociatedTokenAddress(owner, mint, Token2022ProgramID)
	if err != nil || t22 == want {
		t.Fatalf("Token-2022 ATA: got %s, %v, want an address different from the SPL one %s", t22, err, want)
	}
}

func TestATACacheBounded(t *testing.T) {
	var c ataCache
	mint := newKey(t).PublicKey()
	for i := 0; i < ataCacheMax+10; i++ {
		var owner solanago.PublicKey
		owner[0], owner[1] = byte(i), byte(i>>8)
		if _, err := c.get(owner, mint, TokenProgramID); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(c.m); n > ataCacheMax {
		t.Fatalf("cache holds %d entries, want at most %d", n, ataCacheMax)
	}
}

func TestVerifyConcurrent(t *testing.T) {
	f := newFixture(t)
	v := NewVerifier()
	req := f.requirements(config.KindToken2022, true)
	p := f.signed(t, req, config.KindToken2022, PayOptions{})
	r := f.request(t, req, config.KindToken2022, p)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rc := *r
			if _, err := v.Verify(&rc); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent Verify: %v", err)
	}
}
