package failover

import (
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// RPC endpoint URLs carry credentials (?api-key=…, /v3/<key>, user:pass@),
// and the RPC clients put the full URL into their errors (net/http's
// *url.Error: `Post "https://host/v3/<key>": …`). Every error that leaves a
// Pool goes through redact, so that logs, retries and dead letters carry
// scheme://host/… with the credentials removed.

// urlPattern finds URLs inside error text (quoted or bare).
var urlPattern = regexp.MustCompile(`[a-zA-Z][a-zA-Z0-9+.-]*://[^\s"'<>]+`)

// keyLike is a path segment that may be a credential: long, or mixing
// letters and digits beyond a short version tag such as v3 or rpc2.
var keyLike = regexp.MustCompile(`^[A-Za-z0-9_\-=.~]{16,}$|[0-9].*[A-Za-z].*[0-9]|[A-Za-z].*[0-9].*[A-Za-z]`)

// RedactURL returns u with what may be a credential removed: user info,
// every query value, the fragment, and path segments that look like keys
// (replaced by "…"). Text that does not parse as a URL becomes scheme://…
// (or "…").
func RedactURL(u string) string {
	p, err := url.Parse(u)
	if err != nil || p.Host == "" {
		if i := strings.Index(u, "://"); i > 0 {
			return u[:i] + "://…"
		}
		return "…"
	}
	var b strings.Builder
	b.WriteString(p.Scheme)
	b.WriteString("://")
	b.WriteString(p.Host)
	for _, seg := range strings.Split(strings.TrimPrefix(p.EscapedPath(), "/"), "/") {
		if seg == "" {
			continue
		}
		b.WriteByte('/')
		if keyLike.MatchString(seg) || len(seg) > 12 {
			b.WriteString("…")
		} else {
			b.WriteString(seg)
		}
	}
	if p.RawQuery != "" {
		q := p.Query()
		names := make([]string, 0, len(q))
		for k := range q {
			if len(k) > 32 {
				k = "…"
			}
			names = append(names, k+"=…")
		}
		slices.Sort(names)
		b.WriteByte('?')
		b.WriteString(strings.Join(names, "&"))
	}
	return b.String()
}

// RedactText replaces every URL in s with its redacted form, and every
// occurrence of a known secret URL (secrets) with its redacted form first.
func RedactText(s string, secrets ...string) string {
	for _, sec := range secrets {
		if sec != "" && strings.Contains(s, sec) {
			s = strings.ReplaceAll(s, sec, RedactURL(sec))
		}
	}
	return urlPattern.ReplaceAllStringFunc(s, RedactURL)
}

// redactedError keeps the error chain (errors.Is/As still see the RPC
// client's error types) but shows redacted text.
type redactedError struct {
	text string
	err  error
}

func (e *redactedError) Error() string { return e.text }
func (e *redactedError) Unwrap() error { return e.err }

// Redact wraps err so that its text carries no endpoint credentials. It
// returns err itself when its text has nothing to redact, and nil for nil.
func Redact(err error, secrets ...string) error {
	if err == nil {
		return nil
	}
	if _, done := err.(*redactedError); done {
		return err
	}
	text := err.Error()
	red := RedactText(text, secrets...)
	if red == text {
		return err
	}
	return &redactedError{text: red, err: err}
}
