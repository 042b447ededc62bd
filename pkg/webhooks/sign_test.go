package webhooks

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// The Standard Webhooks reference vector (also what npm standardwebhooks
// 1.1.1 signs for it).
const (
	vecSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	vecID     = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	vecTS     = 1614265330
	vecBody   = `{"test": 2432232314}`
	vecSig    = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

func mustSecret(t testing.TB, s string) Secret {
	t.Helper()
	k, err := ParseSecret(s)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestSignKnownVector(t *testing.T) {
	s := mustSecret(t, vecSecret)
	if got := Sign([]Secret{s}, vecID, vecTS, []byte(vecBody)); got != vecSig {
		t.Errorf("Sign = %s, want %s", got, vecSig)
	}
	// Two secrets: both signatures, space-separated, in order.
	other := mustSecret(t, "whsec_"+strings.Repeat("QUFB", 8))
	two := Sign([]Secret{other, s}, vecID, vecTS, []byte(vecBody))
	parts := strings.Split(two, " ")
	if len(parts) != 2 || parts[1] != vecSig || !strings.HasPrefix(parts[0], "v1,") || parts[0] == vecSig {
		t.Errorf("Sign with two secrets = %q, want <other> %s", two, vecSig)
	}
}

func TestVerify(t *testing.T) {
	s := mustSecret(t, vecSecret)
	other := mustSecret(t, "whsec_"+strings.Repeat("QUFB", 8))
	now := time.Unix(vecTS+10, 0)
	tests := []struct {
		name    string
		secrets []Secret
		ts      string
		body    string
		header  string
		want    int
		wantErr error
	}{
		{"reference vector", []Secret{s}, "1614265330", vecBody, vecSig, 0, nil},
		{"second of two signatures", []Secret{s}, "1614265330", vecBody, "v1,AAAA " + vecSig, 0, nil},
		{"second secret verifies", []Secret{other, s}, "1614265330", vecBody, vecSig, 1, nil},
		{"other version ignored", []Secret{s}, "1614265330", vecBody, "v2," + strings.TrimPrefix(vecSig, "v1,"), -1, ErrNoSignature},
		{"body changed", []Secret{s}, "1614265330", vecBody + " ", vecSig, -1, ErrNoSignature},
		{"timestamp changed", []Secret{s}, "1614265331", vecBody, vecSig, -1, ErrNoSignature},
		{"wrong secret", []Secret{other}, "1614265330", vecBody, vecSig, -1, ErrNoSignature},
		{"timestamp not a number", []Secret{s}, "x", vecBody, vecSig, -1, ErrBadTimestamp},
		{"timestamp too old", []Secret{s}, "1614260000", vecBody, vecSig, -1, ErrBadTimestamp},
		{"empty header", []Secret{s}, "1614265330", vecBody, "", -1, ErrNoSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Verify(tt.secrets, vecID, tt.ts, []byte(tt.body), tt.header, now, 5*time.Minute)
			if !errors.Is(err, tt.wantErr) || got != tt.want {
				t.Errorf("Verify = %d, %v; want %d, %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestParseSecret(t *testing.T) {
	tests := []struct{ name, in string }{
		{"no prefix", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"},
		{"not base64", "whsec_!!!!"},
		{"too short", "whsec_QUFB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseSecret(tt.in)
			if !errors.Is(err, ErrBadSecret) {
				t.Fatalf("err = %v, want ErrBadSecret", err)
			}
			if b64 := strings.TrimPrefix(tt.in, "whsec_"); len(b64) > 3 && strings.Contains(err.Error(), b64) {
				t.Errorf("error %q shows the secret", err)
			}
		})
	}
	s := mustSecret(t, vecSecret)
	for _, str := range []string{s.String(), s.GoString()} {
		if strings.Contains(str, "MfKQ") {
			t.Errorf("Secret prints its key: %s", str)
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", -1}, {"3", 3 * time.Second}, {"0", 0}, {"-1", -1}, {"soon", -1},
		{now.Add(90 * time.Second).Format(timeFormatHTTP), 90 * time.Second},
		{now.Add(-time.Hour).Format(timeFormatHTTP), 0},
	}
	for _, tt := range tests {
		if got := parseRetryAfter(tt.in, now); got != tt.want {
			t.Errorf("parseRetryAfter(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

const timeFormatHTTP = "Mon, 02 Jan 2006 15:04:05 GMT"

func TestNextDelay(t *testing.T) {
	sched := []time.Duration{0, 10 * time.Second, time.Minute}
	for attempt, base := range map[int]time.Duration{1: 10 * time.Second, 2: time.Minute} {
		for range 50 {
			d, ok := nextDelay(sched, attempt, 0.1, -1, time.Hour)
			if !ok || d < base*9/10 || d > base*11/10 {
				t.Fatalf("attempt %d: delay %s, %v; want %s ± 10%%", attempt, d, ok, base)
			}
		}
	}
	if _, ok := nextDelay(sched, 3, 0.1, -1, time.Hour); ok {
		t.Error("attempt 3 of 3: want no further attempt")
	}
	if d, _ := nextDelay(sched, 1, 0.1, 2*time.Hour, time.Hour); d != time.Hour {
		t.Errorf("Retry-After 2h capped at 1h: got %s", d)
	}
	if d, _ := nextDelay(sched, 1, 0.1, 3*time.Second, time.Hour); d != 3*time.Second {
		t.Errorf("Retry-After 3s: got %s", d)
	}
}

// TestRotation: during the overlap both secrets sign (old first), after the
// old one's expiresAt only the new one does.
func TestRotation(t *testing.T) {
	old, nw := mustSecret(t, vecSecret), mustSecret(t, "whsec_"+strings.Repeat("QUFB", 8))
	end := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	ks := []keyedSecret{{secret: old, expiresAt: &end}, {secret: nw}}
	during := active(ks, end.Add(-time.Second))
	if len(during) != 2 {
		t.Fatalf("during the overlap %d secrets sign, want 2", len(during))
	}
	sig := Sign(during, vecID, vecTS, []byte(vecBody))
	for i, s := range []Secret{old, nw} {
		if _, err := Verify([]Secret{s}, vecID, "1614265330", []byte(vecBody), sig, time.Time{}, 0); err != nil {
			t.Errorf("secret %d alone does not verify the overlap's signature: %v", i, err)
		}
	}
	after := active(ks, end)
	if len(after) != 1 {
		t.Fatalf("after expiry %d secrets sign, want 1", len(after))
	}
	if _, err := Verify([]Secret{old}, vecID, "1614265330", []byte(vecBody), Sign(after, vecID, vecTS, []byte(vecBody)), time.Time{}, 0); err == nil {
		t.Error("the expired secret still verifies")
	}
}
