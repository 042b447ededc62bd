package webhooks

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// SecretPrefix starts every endpoint secret: whsec_<base64 key>.
const SecretPrefix = "whsec_"

// Errors of Verify and ParseSecret.
var (
	ErrBadSecret    = errors.New("webhooks: malformed secret")
	ErrNoSignature  = errors.New("webhooks: no matching v1 signature")
	ErrBadTimestamp = errors.New("webhooks: timestamp missing, malformed or outside the tolerance")
)

// Secret is a signing key decoded from whsec_<base64>. Its String never
// shows the key.
type Secret struct{ key []byte }

// ParseSecret decodes whsec_<base64> (standard base64, padded or not). The
// error never contains the secret.
func ParseSecret(s string) (Secret, error) {
	b64, ok := strings.CutPrefix(strings.TrimSpace(s), SecretPrefix)
	if !ok {
		return Secret{}, fmt.Errorf("%w: does not start with %s", ErrBadSecret, SecretPrefix)
	}
	key, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		key, err = base64.RawStdEncoding.DecodeString(b64)
	}
	if err != nil {
		return Secret{}, fmt.Errorf("%w: key is not base64", ErrBadSecret)
	}
	if len(key) < 16 || len(key) > 128 {
		return Secret{}, fmt.Errorf("%w: key is %d bytes, want 16 to 128", ErrBadSecret, len(key))
	}
	return Secret{key: key}, nil
}

// String redacts the key.
func (s Secret) String() string { return SecretPrefix + "…" }

// GoString redacts the key.
func (s Secret) GoString() string { return s.String() }

func (s Secret) mac(id string, ts int64, body []byte) []byte {
	h := hmac.New(sha256.New, s.key)
	h.Write([]byte(id))
	h.Write([]byte{'.'})
	h.Write([]byte(strconv.FormatInt(ts, 10)))
	h.Write([]byte{'.'})
	h.Write(body)
	return h.Sum(nil)
}

// Sign returns the webhook-signature header value: "v1,<base64>" per
// secret, space-separated, in the order given.
func Sign(secrets []Secret, id string, ts int64, body []byte) string {
	parts := make([]string, len(secrets))
	for i, s := range secrets {
		parts[i] = "v1," + base64.StdEncoding.EncodeToString(s.mac(id, ts, body))
	}
	return strings.Join(parts, " ")
}

// Verify checks a delivery as a receiver does: the timestamp (unix seconds)
// within tolerance of now (0 skips the check), and at least one v1
// signature in header made by one of secrets (constant-time compare). It
// returns the index of the secret that verified.
func Verify(secrets []Secret, id, timestamp string, body []byte, header string, now time.Time, tolerance time.Duration) (int, error) {
	ts, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return -1, fmt.Errorf("%w: %q", ErrBadTimestamp, truncate(timestamp, 20))
	}
	if tolerance > 0 {
		d := now.Sub(time.Unix(ts, 0))
		if d > tolerance || d < -tolerance {
			return -1, fmt.Errorf("%w: %d is %s from now", ErrBadTimestamp, ts, d.Round(time.Second))
		}
	}
	var sigs [][]byte
	for _, p := range strings.Fields(header) {
		v, b64, ok := strings.Cut(p, ",")
		if !ok || v != "v1" {
			continue
		}
		if sig, err := base64.StdEncoding.DecodeString(b64); err == nil {
			sigs = append(sigs, sig)
		}
	}
	for i, s := range secrets {
		want := s.mac(id, ts, body)
		for _, sig := range sigs {
			if hmac.Equal(sig, want) {
				return i, nil
			}
		}
	}
	return -1, ErrNoSignature
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
