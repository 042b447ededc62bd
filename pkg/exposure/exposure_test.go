package exposure_test

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/h402/settlement/pkg/events"
	"github.com/h402/settlement/pkg/exposure"
	"github.com/h402/settlement/pkg/h402"
	"github.com/h402/settlement/pkg/testenv"
)

var acct = exposure.Account{Namespace: h402.NamespaceEVM, NetworkID: "1337", Token: "0xTOKEN", Payer: "0xPAYER"}

func pending(t *testing.T, b *exposure.Book) int64 {
	t.Helper()
	v, err := b.Pending(context.Background(), acct)
	if err != nil {
		t.Fatalf("Pending: %v", err)
	}
	return v.Int64()
}

func TestReserveRelease(t *testing.T) {
	env := testenv.StartJetStream(t)
	b := exposure.New(env.KeyValue(t, events.BucketExposure))
	ctx := context.Background()
	balance := big.NewInt(100)

	if err := b.Reserve(ctx, acct, "p1", big.NewInt(60), balance, time.Now()); err != nil {
		t.Fatalf("Reserve p1: %v", err)
	}
	err := b.Reserve(ctx, acct, "p2", big.NewInt(41), balance, time.Now())
	if got := h402.ReasonOf(err, ""); got != h402.ReasonInsufficientFunds {
		t.Fatalf("Reserve p2 over balance: reason %q, want insufficient_funds (err %v)", got, err)
	}
	if err := b.Reserve(ctx, acct, "p3", big.NewInt(40), balance, time.Now()); err != nil {
		t.Fatalf("Reserve p3 (exactly to balance): %v", err)
	}
	if got := pending(t, b); got != 100 {
		t.Fatalf("pending = %d, want 100", got)
	}
	if err := b.Reserve(ctx, acct, "p3", big.NewInt(0), balance, time.Now()); err == nil {
		t.Errorf("a second reservation for p3 succeeded")
	}
	for i := 0; i < 2; i++ { // the second release is a no-op
		if err := b.Release(ctx, "p1"); err != nil {
			t.Fatalf("Release p1 #%d: %v", i+1, err)
		}
	}
	if got := pending(t, b); got != 40 {
		t.Fatalf("pending after releasing p1 twice = %d, want 40", got)
	}
	if err := b.Release(ctx, "never-reserved"); err != nil {
		t.Errorf("Release of an unknown payment: %v", err)
	}
}

// TestTwoReplicasNeverOverReserve drives two books (two ingest replicas with
// their own connections and caches) at one payer concurrently: the sum of
// what they accept never exceeds the balance.
func TestTwoReplicasNeverOverReserve(t *testing.T) {
	env := testenv.StartJetStream(t)
	testTwoReplicasNeverOverReserve(t, []*exposure.Book{
		exposure.New(env.KeyValue(t, events.BucketExposure)),
		exposure.New(env.KeyValue(t, events.BucketExposure)),
	})
}

// The same on a 3-node cluster with a replicated bucket, where an update
// racing another one on the same key is refused with code 10164 instead
// of 10071: before both were recognised, ingest answered such a payer 503
// (seen in the compose staging stack).
func TestTwoReplicasNeverOverReserveR3(t *testing.T) {
	servers := testenv.StartCluster(t, 3)
	cfg := events.DefaultStreams()
	cfg.Replicas = 3
	var books []*exposure.Book
	for i := 0; i < 2; i++ {
		nc, js, err := servers[i].JetStream()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		if err := events.Ensure(ctx, js, cfg); err != nil {
			t.Fatal(err)
		}
		kv, err := js.KeyValue(ctx, events.BucketExposure)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		books = append(books, exposure.New(kv))
	}
	testTwoReplicasNeverOverReserve(t, books)
}

func testTwoReplicasNeverOverReserve(t *testing.T, books []*exposure.Book) {
	balance := big.NewInt(1000)
	amount := big.NewInt(7) // 142 fit, the 143rd would exceed
	const attemptsPerReplica = 100
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		accepted int
	)
	for r, b := range books {
		wg.Add(1)
		go func(r int, b *exposure.Book) {
			defer wg.Done()
			for i := 0; i < attemptsPerReplica; i++ {
				err := b.Reserve(context.Background(), acct, fmt.Sprintf("r%d-%d", r, i), amount, balance, time.Now())
				switch {
				case err == nil:
					mu.Lock()
					accepted++
					mu.Unlock()
				case h402.ReasonOf(err, "") == h402.ReasonInsufficientFunds:
				default:
					t.Errorf("replica %d reserve %d: %v", r, i, err)
				}
			}
		}(r, b)
	}
	wg.Wait()
	if want := 1000 / 7; accepted != want {
		t.Errorf("accepted %d reservations, want exactly %d (balance/amount)", accepted, want)
	}
	if got, want := pending(t, books[0]), int64(accepted)*7; got != want {
		t.Errorf("pending = %d, want %d", got, want)
	}
}

func TestStaleCacheRereads(t *testing.T) {
	env := testenv.StartJetStream(t)
	a := exposure.New(env.KeyValue(t, events.BucketExposure))
	b := exposure.New(env.KeyValue(t, events.BucketExposure))
	ctx := context.Background()
	balance := big.NewInt(10)
	if err := a.Reserve(ctx, acct, "a1", big.NewInt(5), balance, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := b.Reserve(ctx, acct, "b1", big.NewInt(5), balance, time.Now()); err != nil {
		t.Fatal(err) // b read fresh: 5 + 5 = 10 fits
	}
	// a's cache says 5; the truth is 10. a must not accept 5 more.
	err := a.Reserve(ctx, acct, "a2", big.NewInt(5), balance, time.Now())
	if got := h402.ReasonOf(err, ""); got != h402.ReasonInsufficientFunds {
		t.Fatalf("reserve on a stale cache: reason %q, want insufficient_funds", got)
	}
	// b releases; a's refusal came from a fresh read, so a now sees room.
	if err := b.Release(ctx, "b1"); err != nil {
		t.Fatal(err)
	}
	if err := a.Reserve(ctx, acct, "a2", big.NewInt(5), balance, time.Now()); err != nil {
		t.Fatalf("reserve after b released: %v", err)
	}
}

// twoReplicas returns two books (two ingest replicas) over one bucket, on clock.
func twoReplicas(t *testing.T, clock func() time.Time) (*exposure.Book, *exposure.Book) {
	t.Helper()
	env := testenv.StartJetStream(t)
	kv := env.KeyValue(t, events.BucketExposure)
	b, other := exposure.New(kv), exposure.New(kv)
	b.SetClock(clock)
	other.SetClock(clock)
	return b, other
}

// TestBlockKeepsReservation: a payment that failed by its payer's doing is
// blocked instead of released: its amount keeps counting, the payer is
// refused payer_blocked (by Check and by Reserve, also on a replica whose
// cache predates the block), a late Release gives nothing back, and when the
// block expires the held amount is given back and the payer may pay again.
func TestBlockKeepsReservation(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	b, other := twoReplicas(t, func() time.Time { return now })
	ctx := context.Background()
	balance := big.NewInt(100)
	if err := b.Reserve(ctx, acct, "p1", big.NewInt(60), balance, now); err != nil {
		t.Fatal(err)
	}
	if err := other.Reserve(ctx, acct, "p2", big.NewInt(10), balance, now); err != nil { // other caches the record
		t.Fatal(err)
	}
	until := now.Add(time.Hour)
	for i := 0; i < 2; i++ { // blocking twice holds p1 once
		if err := b.Block(ctx, acct, "p1", until); err != nil {
			t.Fatalf("Block #%d: %v", i+1, err)
		}
	}
	if err := b.Release(ctx, "p1"); err != nil {
		t.Fatal(err)
	}
	if got := pending(t, b); got != 70 {
		t.Fatalf("pending after blocking p1 and a late release = %d, want 70 (p1 kept)", got)
	}
	err := b.Check(ctx, acct, big.NewInt(1), balance, now)
	if got := h402.ReasonOf(err, ""); got != h402.ReasonPayerBlocked || !strings.Contains(h402.MessageOf(err), until.UTC().Format(time.RFC3339)) {
		t.Fatalf("Check of a blocked payer: %v, want payer_blocked naming %s", err, until.UTC().Format(time.RFC3339))
	}
	if err := other.Reserve(ctx, acct, "p3", big.NewInt(1), balance, now); h402.ReasonOf(err, "") != h402.ReasonPayerBlocked {
		t.Fatalf("Reserve on a replica with a stale cache: %v, want payer_blocked", err)
	}
	if got, err := b.BlockedUntil(ctx, acct); err != nil || !got.Equal(until) {
		t.Errorf("BlockedUntil = %v, %v; want %v", got, err, until)
	}
	if err := other.Release(ctx, "p2"); err != nil { // releases still work while blocked
		t.Fatal(err)
	}
	if got := pending(t, b); got != 60 {
		t.Fatalf("pending after releasing p2 = %d, want 60", got)
	}
	now = until
	if got := pending(t, b); got != 0 {
		t.Errorf("pending when the block expires = %d, want 0 (p1 given back)", got)
	}
	if err := other.Reserve(ctx, acct, "p4", big.NewInt(100), balance, now); err != nil {
		t.Fatalf("Reserve after the block expired: %v", err)
	}
	if got := pending(t, b); got != 100 {
		t.Errorf("pending = %d, want 100", got)
	}
	if got, _ := b.BlockedUntil(ctx, acct); !got.IsZero() {
		t.Errorf("BlockedUntil after expiry = %v, want zero", got)
	}
}

// TestReleaseRefusesOlderBalance: after a release, a reservation (and a
// Check) against a balance loaded before the release is refused with
// ErrStaleBalance and reserves nothing — that balance may still count the
// released payment's money — on this replica and on another whose cache
// predates the release; a balance loaded after the release is accepted.
func TestReleaseRefusesOlderBalance(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	b, other := twoReplicas(t, func() time.Time { return now })
	ctx := context.Background()
	balance := big.NewInt(100)
	loaded := now.Add(-time.Second) // before any release: fine
	if err := b.Reserve(ctx, acct, "p1", big.NewInt(60), balance, loaded); err != nil {
		t.Fatal(err)
	}
	if err := other.Reserve(ctx, acct, "p2", big.NewInt(10), balance, loaded); err != nil { // other caches the record
		t.Fatal(err)
	}
	now = now.Add(time.Minute)
	releasedAt := now
	if err := b.Release(ctx, "p1"); err != nil {
		t.Fatal(err)
	}
	now = now.Add(time.Minute)
	tests := []struct {
		name string
		book *exposure.Book
		at   time.Time
	}{
		{"loaded before the release", b, releasedAt.Add(-time.Nanosecond)},
		{"loaded at the release", b, releasedAt},
		{"load time unknown", b, time.Time{}},
		{"replica cached before the release", other, loaded},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.book.Reserve(ctx, acct, fmt.Sprintf("s%d", i), big.NewInt(1), balance, tt.at)
			var se *exposure.StaleBalanceError
			if !errors.Is(err, exposure.ErrStaleBalance) || !errors.As(err, &se) || !se.ReleasedAt.Equal(releasedAt) {
				t.Fatalf("Reserve = %v; want ErrStaleBalance naming the release at %v", err, releasedAt)
			}
			if err := tt.book.Check(ctx, acct, big.NewInt(1), balance, tt.at); !errors.Is(err, exposure.ErrStaleBalance) {
				t.Errorf("Check = %v; want ErrStaleBalance", err)
			}
			if reserved, err := tt.book.Reserved(ctx, fmt.Sprintf("s%d", i)); err != nil || reserved {
				t.Errorf("a refused reservation was recorded (%v, %v)", reserved, err)
			}
		})
	}
	if got := pending(t, b); got != 10 {
		t.Fatalf("pending = %d, want 10 (refusals reserved nothing)", got)
	}
	fresh := releasedAt.Add(time.Millisecond)
	if err := other.Check(ctx, acct, big.NewInt(90), balance, fresh); err != nil {
		t.Errorf("Check with a balance loaded after the release: %v", err)
	}
	if err := other.Reserve(ctx, acct, "p3", big.NewInt(90), balance, fresh); err != nil {
		t.Fatalf("Reserve with a balance loaded after the release: %v", err)
	}
	if err := b.Reserve(ctx, acct, "p4", big.NewInt(1), balance, fresh); h402.ReasonOf(err, "") != h402.ReasonInsufficientFunds {
		t.Errorf("Reserve over a fresh balance: %v; want insufficient_funds", err)
	}
	// A block after a release keeps both in the record.
	if err := b.Block(ctx, acct, "p3", now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := b.Reserve(ctx, acct, "p5", big.NewInt(1), balance, loaded); !errors.Is(err, exposure.ErrStaleBalance) && h402.ReasonOf(err, "") != h402.ReasonPayerBlocked {
		t.Errorf("Reserve of a blocked payer with an old balance: %v", err)
	}
	if got, err := b.BlockedUntil(ctx, acct); err != nil || !got.Equal(now.Add(time.Hour)) {
		t.Errorf("BlockedUntil = %v, %v; want %v", got, err, now.Add(time.Hour))
	}
	if err := other.Check(ctx, acct, big.NewInt(1), balance, loaded); !errors.Is(err, exposure.ErrStaleBalance) && h402.ReasonOf(err, "") != h402.ReasonPayerBlocked {
		t.Errorf("Check = %v", err)
	}
}

// TestRecordFormats: records written before release times existed
// ("<sum>", "<sum> <blockedUntil> <held>") are still read.
func TestRecordFormats(t *testing.T) {
	env := testenv.StartJetStream(t)
	kv := env.KeyValue(t, events.BucketExposure)
	ctx := context.Background()
	now := time.Unix(1_800_000_000, 0)
	b := exposure.New(kv)
	b.SetClock(func() time.Time { return now })
	tests := []struct {
		name        string
		value       string
		wantPending int64
		wantBlocked bool
	}{
		{"sum", "42", 42, false},
		{"blocked", fmt.Sprintf("50 %d 20", now.Add(time.Hour).UnixNano()), 50, true},
		{"block expired", fmt.Sprintf("50 %d 20", now.Add(-time.Hour).UnixNano()), 30, false},
		{"released", fmt.Sprintf("7 0 0 %d", now.Add(-time.Hour).UnixNano()), 7, false},
		{"released and blocked", fmt.Sprintf("9 %d 4 %d", now.Add(time.Hour).UnixNano(), now.Add(-time.Hour).UnixNano()), 9, true},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := acct
			a.Payer = fmt.Sprintf("0xformat%d", i)
			if _, err := kv.Put(ctx, a.Key(), []byte(tt.value)); err != nil {
				t.Fatal(err)
			}
			got, err := b.Pending(ctx, a)
			if err != nil || got.Int64() != tt.wantPending {
				t.Fatalf("Pending of %q = %v, %v; want %d", tt.value, got, err, tt.wantPending)
			}
			until, err := b.BlockedUntil(ctx, a)
			if err != nil || until.IsZero() == tt.wantBlocked {
				t.Errorf("BlockedUntil of %q = %v, %v; want blocked %v", tt.value, until, err, tt.wantBlocked)
			}
		})
	}
	for _, bad := range []string{"1 2", "1 2 3 x", "1 0 0 0", "x"} {
		a := acct
		a.Payer = "0xbad"
		if _, err := kv.Put(ctx, a.Key(), []byte(bad)); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Pending(ctx, a); err == nil {
			t.Errorf("Pending of %q: no error", bad)
		}
	}
}
