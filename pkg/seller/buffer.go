package seller

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
)

// errTooLarge is returned to the handler's Write past MaxResponseBytes.
var errTooLarge = errors.New("seller: the response is larger than MaxResponseBytes")

// buffer is an http.ResponseWriter that keeps the handler's answer until
// the payment is settled.
type buffer struct {
	header   http.Header
	status   int
	body     bytes.Buffer
	limit    int64
	overflow bool
}

func newBuffer(limit int64) *buffer { return &buffer{header: http.Header{}, limit: limit} }

func (b *buffer) Header() http.Header { return b.header }

func (b *buffer) WriteHeader(code int) {
	// As net/http: an invalid code panics in the handler, before anything
	// is settled (not later, when the settled answer is written).
	if code < 100 || code > 999 {
		panic(fmt.Sprintf("invalid WriteHeader code %v", code))
	}
	// An informational answer (103 Early Hints) is not the answer: the
	// status that decides settlement is the final one.
	if b.status == 0 && code >= 200 {
		b.status = code
	}
}

func (b *buffer) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	if b.overflow || int64(b.body.Len()+len(p)) > b.limit {
		b.overflow = true
		return 0, errTooLarge
	}
	return b.body.Write(p)
}

func (b *buffer) code() int {
	if b.status == 0 {
		return http.StatusOK
	}
	return b.status
}

// flush writes the buffered answer to w, with extra headers.
func (b *buffer) flush(w http.ResponseWriter, extra http.Header) {
	h := w.Header()
	for k, v := range b.header {
		h[k] = v
	}
	for k, v := range extra {
		h[k] = v
	}
	w.WriteHeader(b.code())
	_, _ = w.Write(b.body.Bytes())
}
