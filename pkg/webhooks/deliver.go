package webhooks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/h402/settlement/pkg/events"
)

// Envelope is the body of every delivery (stable; a field is only ever added):
//
//	{"type": "payment.finalized" | "payment.failed",
//	 "timestamp": <the receipt's at, RFC 3339>,
//	 "data": <the receipt, as stored on receipts.<payTo>.<ns>.<net>>}
//
// It is the same bytes on every attempt of one receipt.
type Envelope struct {
	Type      string          `json:"type"`
	Timestamp time.Time       `json:"timestamp"`
	Data      *events.Receipt `json:"data"`
}

// Event types.
const (
	TypeFinalized = "payment.finalized"
	TypeFailed    = "payment.failed"
)

// Body is the delivery body of a receipt.
func Body(r *events.Receipt) ([]byte, error) {
	typ := TypeFinalized
	if r.State == events.StateFailed {
		typ = TypeFailed
	}
	return json.Marshal(Envelope{Type: typ, Timestamp: r.At.UTC(), Data: r})
}

// result is what one attempt gave.
type result struct {
	status     int
	err        string // a short description of a transport failure, never the URL
	latency    time.Duration
	retryAfter time.Duration // from the answer's Retry-After; -1 when absent
}

// outcome classifies an answer: 2xx delivered; 429, 5xx and transport
// errors retryable; anything else failed.
func (r result) outcome() string {
	switch {
	case r.err != "":
		return OutcomeRetry
	case r.status >= 200 && r.status < 300:
		return OutcomeDelivered
	case r.status == http.StatusTooManyRequests || r.status >= 500:
		return OutcomeRetry
	default:
		return OutcomeFailed
	}
}

// post makes one signed attempt.
func post(ctx context.Context, client *http.Client, target, id string, secrets []Secret, body []byte, now time.Time, timeout time.Duration) result {
	ts := now.Unix()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return result{err: "bad request URL", retryAfter: -1}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "h402-webhooks/1")
	req.Header.Set("webhook-id", id)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
	req.Header.Set("webhook-signature", Sign(secrets, id, ts, body))
	start := time.Now()
	resp, err := client.Do(req)
	lat := time.Since(start)
	if err != nil {
		return result{err: transportError(err), latency: lat, retryAfter: -1}
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	return result{status: resp.StatusCode, latency: time.Since(start), retryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())}
}

// transportError describes err without the URL (which may carry a token).
func transportError(err error) string {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, context.DeadlineExceeded) {
		return "timeout"
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		return "connection error: " + oe.Op + ": " + errString(oe.Err)
	}
	return "connection error: " + truncate(err.Error(), 200)
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return truncate(err.Error(), 200)
}

// parseRetryAfter reads delay-seconds or an HTTP date; -1 when absent or
// unreadable.
func parseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return -1
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil {
		if s < 0 {
			return -1
		}
		if s > 1<<31 {
			s = 1 << 31
		}
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0)
	}
	return -1
}

// nextDelay is the delay before attempt+1 after attempt failed retryably,
// and false when attempt was the last. Retry-After (≥ 0) replaces the
// schedule's delay, capped at maxRetryAfter.
func nextDelay(schedule []time.Duration, attempt int, jitter float64, retryAfter, maxRetryAfter time.Duration) (time.Duration, bool) {
	if attempt >= len(schedule) {
		return 0, false
	}
	if retryAfter >= 0 {
		return min(retryAfter, maxRetryAfter), true
	}
	d := schedule[attempt]
	if jitter > 0 && d > 0 {
		d = time.Duration(float64(d) * (1 + jitter*(2*rand.Float64()-1)))
	}
	return d, true
}

// redeliverRequest is the message the admin API publishes to send a
// receipt again (webhooks.redeliver.<endpointId>).
type redeliverRequest struct {
	Receipt     *events.Receipt `json:"receipt"`
	RequestedAt time.Time       `json:"requestedAt"`
}

// decodeRedeliver decodes and checks a redelivery request.
func decodeRedeliver(b []byte) (*redeliverRequest, error) {
	var r struct {
		Receipt     json.RawMessage `json:"receipt"`
		RequestedAt time.Time       `json:"requestedAt"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%w: redelivery request: %v", events.ErrMalformed, redactJSONError(err))
	}
	rc, err := events.DecodeReceipt(r.Receipt)
	if err != nil {
		return nil, fmt.Errorf("redelivery request: %w", err)
	}
	return &redeliverRequest{Receipt: rc, RequestedAt: r.RequestedAt}, nil
}
