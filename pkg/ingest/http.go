package ingest

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/h402/settlement/pkg/chains"
	"github.com/h402/settlement/pkg/config"
	"github.com/h402/settlement/pkg/events"
	"github.com/h402/settlement/pkg/h402"
)

// HandlerOptions configure the HTTP API.
type HandlerOptions struct {
	Networks config.Networks
	// APIKeys, when non-empty, are required on /verify, /settle and /payments.
	APIKeys      []string
	MaxBodyBytes int64
	// Ready reports whether the service can accept payments (event log reachable).
	Ready   func(context.Context) error
	Replica string
	Logger  *slog.Logger
	Metrics *Metrics
	// MissBudget, when set, limits each caller's (API key, or remote IP
	// without keys) chain-state lookups of unknown payers; nil: no limit.
	MissBudget *chains.MissBudget
}

type handler struct {
	svc       *Service
	o         HandlerOptions
	resolve   h402.NetworkResolver
	keys      [][sha256.Size]byte
	supported []byte
}

// NewHandler returns the facilitator API of PROTOCOL.md §4.
func NewHandler(svc *Service, o HandlerOptions) http.Handler {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.MaxBodyBytes == 0 {
		o.MaxBodyBytes = h402.MaxRequestLen
	}
	h := &handler{svc: svc, o: o, resolve: Resolver(o.Networks)}
	for _, k := range o.APIKeys {
		h.keys = append(h.keys, sha256.Sum256([]byte(k)))
	}
	h.supported, _ = json.Marshal(Supported(o.Networks))
	mux := http.NewServeMux()
	mux.Handle("POST /verify", h.auth(h.budget(h.timed("verify", h.verify))))
	mux.Handle("POST /settle", h.auth(h.budget(h.timed("settle", h.settle))))
	mux.Handle("GET /payments/{id}", h.auth(h.timed("payment", h.payment)))
	mux.HandleFunc("GET /supported", h.supportedKinds)
	mux.HandleFunc("GET /health", h.health)
	mux.HandleFunc("GET /ready", h.ready)
	return mux
}

// Resolver maps x402 network strings to configured networks: CAIP-2 ids and
// v1 names from the config first, then the fixed tables.
func Resolver(networks config.Networks) h402.NetworkResolver {
	table := h402.NetworkTable{}
	for _, n := range networks {
		ref := h402.NetworkRef{Namespace: n.Namespace, NetworkID: n.NetworkID}
		if n.CAIP2 != "" {
			table[n.CAIP2] = ref
		}
		if n.X402Name != "" {
			table[n.X402Name] = ref
		}
	}
	return func(network string) (h402.NetworkRef, error) {
		if ref, err := table.Resolve(network); err == nil {
			return ref, nil
		}
		return h402.DefaultNetworkResolver(network)
	}
}

type statusWriter struct {
	http.ResponseWriter
	outcome string
}

func (h *handler) timed(route string, f func(w *statusWriter, r *http.Request)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, outcome: "ok"}
		f(sw, r)
		h.o.Metrics.observeRequest(route, sw.outcome, time.Since(start))
	})
}

func (h *handler) auth(next http.Handler) http.Handler {
	if len(h.keys) == 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := apiKey(r)
		sum := sha256.Sum256([]byte(key))
		match := 0
		for i := range h.keys { // every key is compared: no early exit
			match |= subtle.ConstantTimeCompare(sum[:], h.keys[i][:])
		}
		if key == "" || match != 1 {
			h.o.Metrics.observeRequest("auth", "unauthorized", 0)
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "a valid API key is required in the X-API-Key header", "reason": "unauthorized"})
			return
		}
		next.ServeHTTP(w, r)
	})
}

// budget charges the request's cache misses to its caller: the API key
// (hashed; auth has checked it) or, without keys, the remote IP.
func (h *handler) budget(next http.Handler) http.Handler {
	if h.o.MissBudget == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var caller string
		if len(h.keys) > 0 {
			sum := sha256.Sum256([]byte(apiKey(r)))
			caller = "key:" + hex.EncodeToString(sum[:8])
		} else {
			caller = "ip:" + r.RemoteAddr
			if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
				caller = "ip:" + host
			}
		}
		next.ServeHTTP(w, r.WithContext(chains.WithMissBudget(r.Context(), h.o.MissBudget, caller)))
	})
}

func apiKey(r *http.Request) string {
	key := r.Header.Get("X-API-Key")
	if key == "" {
		if v, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
			key = v
		}
	}
	return key
}

// readRequest reads and decodes a /verify or /settle body.
func (h *handler) readRequest(w http.ResponseWriter, r *http.Request) (*h402.Request, int, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.o.MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return &h402.Request{Dialect: h402.DialectH402}, http.StatusRequestEntityTooLarge, h402.Errorf(h402.ReasonPayloadTooLarge, "request body is larger than %d bytes", mbe.Limit)
		}
		return &h402.Request{Dialect: h402.DialectH402}, http.StatusBadRequest, h402.Wrap(h402.ReasonInvalidPayload, err, "request body could not be read")
	}
	req, err := h402.DecodeRequest(body, h.resolve)
	if err != nil {
		if req == nil {
			req = &h402.Request{Dialect: h402.DialectH402}
		}
		return req, 0, err
	}
	return req, 0, nil
}

func (h *handler) verify(w *statusWriter, r *http.Request) {
	req, status, err := h.readRequest(w, r)
	o := &Outcome{}
	if err == nil {
		o = h.svc.Verify(r.Context(), req)
	} else {
		classify(o, err)
	}
	if o.Err != nil && o.Retryable {
		h.unavailable(w, "verify", o.Err)
		return
	}
	v := &h402.VerifyResponse{IsValid: o.Err == nil}
	if o.Payment != nil {
		v.Payer = o.Payment.Payer
		v.TxHash = o.Payment.TxHash
		v.Type = h402.VerifyTypePayload
		if !o.Payment.Settle {
			v.Type = h402.VerifyTypeTransaction
		}
		if o.Err == nil {
			// The id this payment gets once settled (its replay key), so a
			// seller can name it before /settle (pkg/seller's handlers).
			v.PaymentID = o.Payment.ID
		}
	}
	code := http.StatusOK
	if o.Err != nil {
		v.InvalidReason = h402.ReasonOf(o.Err, h402.ReasonUnexpectedVerifyError)
		v.ErrorMessage = h402.MessageOf(o.Err)
		w.outcome = string(v.InvalidReason)
		if v.InvalidReason == h402.ReasonPaymentAlreadyUsed && o.Payment != nil {
			v.PaymentID, v.State = o.Payment.ID, string(o.State)
		}
		if req.Dialect == h402.DialectH402 {
			code = http.StatusBadRequest // h402: an invalid payment is a 400 carrying {error}
		}
		if status != 0 {
			code = status
		}
	}
	b, encErr := req.VerifyAnswer(v)
	if encErr != nil {
		h.fail(w, "verify", encErr)
		return
	}
	if req.Dialect == h402.DialectH402 && o.Err != nil {
		b = withError(b, v.ErrorMessage)
	}
	writeRaw(w, code, b)
}

func (h *handler) settle(w *statusWriter, r *http.Request) {
	req, status, err := h.readRequest(w, r)
	o := &Outcome{}
	if err == nil {
		var idem string
		if idem, err = req.IdempotencyKey(r.Header.Get(h402.HeaderIdempotencyKey)); err == nil {
			o = h.svc.Settle(r.Context(), req, idem)
		}
	}
	if err != nil {
		classify(o, err)
	}
	if o.Err != nil && o.Retryable {
		h.unavailable(w, "settle", o.Err)
		return
	}
	s := &h402.SettleResponse{Success: o.Err == nil, Transaction: o.TxHash}
	if o.Last != nil {
		s.Block = o.Last.Block
		if o.Last.State == events.StateFinalized {
			s.FinalizedAt = o.Last.At
		}
	}
	if req.Requirements != nil {
		s.Namespace = req.Requirements.Namespace
	}
	if o.Payment != nil {
		s.Payer = o.Payment.Payer
		s.Namespace = o.Payment.Namespace
	}
	code := http.StatusOK
	switch {
	case o.Err != nil:
		s.ErrorReason = h402.ReasonOf(o.Err, h402.ReasonUnexpectedSettleError)
		s.Error = h402.MessageOf(o.Err)
		w.outcome = string(s.ErrorReason)
		if s.ErrorReason == h402.ReasonPaymentAlreadyUsed && o.Payment != nil {
			s.PaymentID, s.State = o.Payment.ID, string(o.State)
		}
		if req.Dialect == h402.DialectH402 {
			code = http.StatusBadRequest
		}
		if status != 0 {
			code = status
		}
	case o.State == events.StateFailed:
		s.Success = false
		s.ErrorReason, s.Error = h402.ReasonUnexpectedSettleError, "the payment failed on chain"
		if o.Last != nil && o.Last.Reason != "" {
			s.ErrorReason, s.Error = o.Last.Reason, "the payment failed: "+o.Last.Message
		}
		s.PaymentID, s.State = o.Payment.ID, string(o.State)
		w.outcome = "failed"
	default:
		s.PaymentID, s.State = o.Payment.ID, string(o.State)
		if o.Pending {
			// Accepted and settling: never a failure, or the buyer would pay twice.
			s.ErrorReason, s.Error = ReasonSettlementPending, "the payment is accepted and will settle; the transaction arrives in its receipt"
			w.outcome = string(ReasonSettlementPending)
		}
	}
	b, encErr := req.SettleAnswer(s)
	if encErr != nil {
		h.fail(w, "settle", encErr)
		return
	}
	if s.Success {
		if name, value, err := req.SettleHeader(s); err == nil {
			w.Header().Set(name, value)
		}
	}
	writeRaw(w, code, b)
}

func (h *handler) payment(w *statusWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := events.CheckPaymentID(id); err != nil {
		w.outcome = "bad_id"
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "not a payment id: " + err.Error(), "reason": "invalid_payment_id"})
		return
	}
	held, tr, err := h.svc.Lookup(r.Context(), id)
	if err != nil {
		h.unavailable(w, "payment", err)
		return
	}
	if held == nil {
		w.outcome = "not_found"
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no payment with this id", "reason": "payment_not_found"})
		return
	}
	out := PaymentStatus{ID: id, State: events.StateAccepted, AcceptedAt: held.Claim.At}
	if tr != nil {
		out.State, out.TxHash, out.Block, out.Reason, out.Message, out.UpdatedAt = tr.State, tr.TxHash, tr.Block, tr.Reason, tr.Message, tr.At
		if tr.State == events.StateFinalized {
			out.FinalizedAt = tr.At
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// PaymentStatus answers GET /payments/{id}: where the payment stands, from
// its latest state transition.
type PaymentStatus struct {
	ID    string       `json:"id"`
	State events.State `json:"state"`
	// TxHash is the transaction carrying the payment (submitted and later).
	TxHash string `json:"txHash,omitempty"`
	// Block is the block (EVM) or slot (Solana) that included the
	// transaction (confirmed, finalized, and a failure on chain).
	Block uint64 `json:"block,omitempty"`
	// Reason and Message explain a failure.
	Reason  h402.Reason `json:"reason,omitempty"`
	Message string      `json:"message,omitempty"`
	// AcceptedAt is when ingest accepted the payment; UpdatedAt is the time
	// of its latest transition; FinalizedAt, for a finalized payment, is the
	// finalized transition's time (the block time of finality).
	AcceptedAt  time.Time `json:"acceptedAt"`
	UpdatedAt   time.Time `json:"updatedAt,omitzero"`
	FinalizedAt time.Time `json:"finalizedAt,omitzero"`
}

func (h *handler) supportedKinds(w http.ResponseWriter, _ *http.Request) {
	writeRaw(w, http.StatusOK, h.supported)
}

func (h *handler) health(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok", "replica": h.o.Replica})
}

func (h *handler) ready(w http.ResponseWriter, r *http.Request) {
	if h.o.Ready != nil {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := h.o.Ready(ctx); err != nil {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "error": err.Error()})
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

func (h *handler) unavailable(w http.ResponseWriter, route string, err error) {
	var rl *chains.RateLimitError
	if errors.As(err, &rl) {
		h.rateLimited(w, rl)
		return
	}
	if sw, ok := w.(*statusWriter); ok {
		sw.outcome = string(ReasonUnavailable)
	}
	h.o.Logger.Warn("request could not be decided now", "route", route, "err", err)
	w.Header().Set("Retry-After", "1")
	writeJSON(w, http.StatusServiceUnavailable, map[string]string{
		"error":  "the facilitator cannot decide this payment right now; retry shortly",
		"reason": string(ReasonUnavailable),
	})
}

// ReasonRateLimited answers a caller over its budget of lookups of payers
// whose chain state is not cached (HTTP 429 with Retry-After).
const ReasonRateLimited h402.Reason = "rate_limited"

func (h *handler) rateLimited(w http.ResponseWriter, rl *chains.RateLimitError) {
	if sw, ok := w.(*statusWriter); ok {
		sw.outcome = string(ReasonRateLimited)
	}
	secs := int(math.Ceil(rl.RetryAfter.Seconds()))
	w.Header().Set("Retry-After", strconv.Itoa(max(1, secs)))
	writeJSON(w, http.StatusTooManyRequests, map[string]string{
		"error":  fmt.Sprintf("too many payments from payers this facilitator does not know yet; payers it knows are not limited; retry in %d s", max(1, secs)),
		"reason": string(ReasonRateLimited),
	})
}

func (h *handler) fail(w http.ResponseWriter, route string, err error) {
	if sw, ok := w.(*statusWriter); ok {
		sw.outcome = "error"
	}
	h.o.Logger.Error("answer could not be encoded", "route", route, "err", err)
	writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "internal error", "reason": "unexpected_" + route + "_error"})
}

// withError adds the h402 "error" field to an invalid verify answer.
func withError(b []byte, msg string) []byte {
	var m map[string]any
	if json.Unmarshal(b, &m) != nil {
		return b
	}
	m["error"] = msg
	out, err := json.Marshal(m)
	if err != nil {
		return b
	}
	return out
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, _ := json.Marshal(v)
	writeRaw(w, code, b)
}

func writeRaw(w http.ResponseWriter, code int, b []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(b)
}
