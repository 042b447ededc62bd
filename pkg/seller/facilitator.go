package seller

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/h402/settlement/pkg/h402"
)

// maxAnswerBytes bounds a facilitator answer read by the middleware.
const maxAnswerBytes = 64 << 10

// Verdict is a facilitator's answer to POST /verify, in any dialect: h402
// writes the sentence in errorMessage, x402 in invalidMessage.
type Verdict struct {
	IsValid        *bool       `json:"isValid"`
	InvalidReason  h402.Reason `json:"invalidReason"`
	ErrorMessage   string      `json:"errorMessage"`
	InvalidMessage string      `json:"invalidMessage"`
	Payer          string      `json:"payer"`
	PaymentID      string      `json:"paymentId"`
	State          string      `json:"state"`
}

func (v *Verdict) message() string {
	if v.ErrorMessage != "" {
		return v.ErrorMessage
	}
	return v.InvalidMessage
}

// Settlement is a facilitator's answer to POST /settle, in any dialect.
type Settlement struct {
	Success      *bool       `json:"success"`
	Transaction  string      `json:"transaction"`
	Network      string      `json:"network"`
	Payer        string      `json:"payer"`
	ErrorReason  h402.Reason `json:"errorReason"`
	Error        string      `json:"error"`
	ErrorMessage string      `json:"errorMessage"`
	PaymentID    string      `json:"paymentId"`
	State        string      `json:"state"`
}

func (s *Settlement) message() string {
	if s.Error != "" {
		return s.Error
	}
	return s.ErrorMessage
}

// Status is GET /payments/{id}.
type Status struct {
	ID          string      `json:"id"`
	State       string      `json:"state"`
	TxHash      string      `json:"txHash"`
	Block       uint64      `json:"block"`
	Reason      h402.Reason `json:"reason"`
	Message     string      `json:"message"`
	FinalizedAt time.Time   `json:"finalizedAt"`
}

// refusal is a facilitator answer that is not about the payment: an error
// object {reason, error} on a 4xx.
type refusal struct {
	Reason h402.Reason `json:"reason"`
	Error  string      `json:"error"`
}

// UnavailableError is a facilitator that could not decide: unreachable, a
// 5xx, a 429, refused credentials, or an answer that does not parse. The
// request is answered 503 and the content is not written.
type UnavailableError struct {
	Call       string
	Status     int // 0 when no answer came
	RetryAfter string
	Err        error
}

func (e *UnavailableError) Error() string {
	if e.Status != 0 {
		return fmt.Sprintf("facilitator %s: HTTP %d: %v", e.Call, e.Status, e.Err)
	}
	return fmt.Sprintf("facilitator %s: %v", e.Call, e.Err)
}

func (e *UnavailableError) Unwrap() error { return e.Err }

// DecodeVerify decodes the answer to POST /verify: a verdict on 200, an
// invalid verdict or a refusal ({reason, error}) on a 4xx about the request;
// anything else, a 4xx claiming validity, and any answer that does not
// parse, is an *UnavailableError.
func DecodeVerify(status int, body []byte) (*Verdict, error) {
	if status != http.StatusOK && !clientError(status) {
		return nil, &UnavailableError{Call: "verify", Status: status, Err: errors.New("unexpected answer")}
	}
	v := new(Verdict)
	if err := decodeObject(body, v); err == nil && v.IsValid != nil && (!*v.IsValid || status == http.StatusOK) {
		if !*v.IsValid && v.InvalidReason == "" {
			v.InvalidReason = h402.ReasonUnexpectedVerifyError
		}
		return v, nil
	}
	if r := decodeRefusal(status, body); r != nil && status != http.StatusOK {
		return &Verdict{IsValid: new(bool), InvalidReason: r.Reason, ErrorMessage: r.Error}, nil
	}
	return nil, &UnavailableError{Call: "verify", Status: status, Err: errors.New("the answer is not a verify response")}
}

// DecodeSettle decodes the answer to POST /settle, as DecodeVerify does.
func DecodeSettle(status int, body []byte) (*Settlement, error) {
	if status != http.StatusOK && !clientError(status) {
		return nil, &UnavailableError{Call: "settle", Status: status, Err: errors.New("unexpected answer")}
	}
	s := new(Settlement)
	if err := decodeObject(body, s); err == nil && s.Success != nil && (!*s.Success || status == http.StatusOK) {
		if !*s.Success && s.ErrorReason == "" {
			s.ErrorReason = h402.ReasonUnexpectedSettleError
		}
		return s, nil
	}
	if r := decodeRefusal(status, body); r != nil && status != http.StatusOK {
		return &Settlement{Success: new(bool), ErrorReason: r.Reason, Error: r.Error}, nil
	}
	return nil, &UnavailableError{Call: "settle", Status: status, Err: errors.New("the answer is not a settle response")}
}

// DecodeStatus decodes GET /payments/{id} (200 only).
func DecodeStatus(status int, body []byte) (*Status, error) {
	if status != http.StatusOK {
		return nil, &UnavailableError{Call: "payment status", Status: status, Err: errors.New("unexpected answer")}
	}
	s := new(Status)
	if err := decodeObject(body, s); err != nil || s.State == "" {
		return nil, &UnavailableError{Call: "payment status", Status: status, Err: errors.New("the answer is not a payment status")}
	}
	return s, nil
}

// clientError: a 4xx that is about the request, not about the
// facilitator's availability or the middleware's credentials.
func clientError(status int) bool {
	return status >= 400 && status < 500 && status != http.StatusUnauthorized && status != http.StatusForbidden &&
		status != http.StatusTooManyRequests && status != http.StatusNotFound && status != http.StatusMethodNotAllowed
}

func decodeRefusal(status int, body []byte) *refusal {
	r := new(refusal)
	if decodeObject(body, r) != nil || r.Reason == "" {
		return nil
	}
	if r.Error == "" {
		r.Error = fmt.Sprintf("the facilitator refused the payment (HTTP %d)", status)
	}
	return r
}

func decodeObject(body []byte, v any) error {
	if len(body) > maxAnswerBytes {
		return errors.New("answer too large")
	}
	if t := bytes.TrimSpace(body); len(t) == 0 || t[0] != '{' {
		return errors.New("not a JSON object")
	}
	return json.Unmarshal(body, v)
}

// facilitator calls the facilitator's API.
type facilitator struct {
	base   string
	apiKey string
	client *http.Client
	m      *metrics
}

// call sends a request and returns the answer's status and body; a
// transport error, a 5xx, a 429 or refused credentials is an *UnavailableError.
func (f *facilitator) call(ctx context.Context, name, method, path string, body []byte, key string) (int, []byte, error) {
	start := time.Now()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, f.base+path, rd)
	if err != nil {
		return 0, nil, &UnavailableError{Call: name, Err: err}
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if key != "" {
		req.Header.Set(h402.HeaderIdempotencyKey, key)
	}
	if f.apiKey != "" {
		req.Header.Set("X-API-Key", f.apiKey)
	}
	resp, err := f.client.Do(req)
	if err != nil {
		f.m.facilitator(name, "error", time.Since(start))
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL is ours and known; keep the cause
		}
		return 0, nil, &UnavailableError{Call: name, Err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes+1))
	f.m.facilitator(name, fmt.Sprint(resp.StatusCode), time.Since(start))
	if err != nil {
		return 0, nil, &UnavailableError{Call: name, Status: resp.StatusCode, Err: err}
	}
	switch {
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests:
		return 0, nil, &UnavailableError{Call: name, Status: resp.StatusCode, RetryAfter: resp.Header.Get("Retry-After"), Err: errors.New(http.StatusText(resp.StatusCode))}
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return 0, nil, &UnavailableError{Call: name, Status: resp.StatusCode, Err: errors.New("the facilitator refused this seller's API key (seller.Config.APIKey)")}
	}
	return resp.StatusCode, b, nil
}

// attempts and retryDelay bound the retries of /verify and /settle when the
// facilitator could not answer: the request's idempotency key makes a
// repeat get the first answer, never a second payment.
const (
	attempts   = 3
	retryDelay = 200 * time.Millisecond
)

// retried calls the facilitator up to attempts times while it is unavailable.
func (f *facilitator) retried(ctx context.Context, name, path string, body []byte, key string) (int, []byte, error) {
	delay := retryDelay
	for i := 1; ; i++ {
		status, b, err := f.call(ctx, name, http.MethodPost, path, body, key)
		if err == nil || i == attempts {
			return status, b, err
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return status, b, err
		case <-t.C:
		}
		delay *= 2
	}
}

func (f *facilitator) verify(ctx context.Context, body []byte, key string) (*Verdict, []byte, error) {
	status, b, err := f.retried(ctx, "verify", "/verify", body, key)
	if err != nil {
		return nil, nil, err
	}
	v, err := DecodeVerify(status, b)
	return v, b, err
}

func (f *facilitator) settle(ctx context.Context, body []byte, key string) (*Settlement, []byte, error) {
	status, b, err := f.retried(ctx, "settle", "/settle", body, key)
	if err != nil {
		return nil, nil, err
	}
	s, err := DecodeSettle(status, b)
	return s, b, err
}

func (f *facilitator) status(ctx context.Context, id string) (*Status, error) {
	status, b, err := f.call(ctx, "payment", http.MethodGet, "/payments/"+url.PathEscape(id), nil, "")
	if err != nil {
		return nil, err
	}
	return DecodeStatus(status, b)
}
