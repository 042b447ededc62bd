package webhooks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/h402/settlement/pkg/events"
)

// Handler serves the admin API (mounted on the watcher's admin listener):
//
//	GET    /webhooks/endpoints                    every endpoint, secrets redacted, with its state
//	POST   /webhooks/endpoints                    add an endpoint (JSON Endpoint; secrets inline)
//	PUT    /webhooks/endpoints/{id}               replace an API-added endpoint
//	DELETE /webhooks/endpoints/{id}               delete an API-added endpoint and its consumers
//	POST   /webhooks/endpoints/{id}/enable        enable (also after a 410)
//	POST   /webhooks/endpoints/{id}/disable       disable
//	GET    /webhooks/endpoints/{id}/log?after=&limit=   delivery attempts, oldest first; "next" pages on
//	POST   /webhooks/endpoints/{id}/redeliver     {"receiptId": "..."} or {"from": RFC 3339, "to": RFC 3339}
//
// Errors are {"error": "<machine reason>", "message": "<sentence>"}.
// Endpoints of the config file cannot be changed or deleted here.
func (d *Dispatcher) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /webhooks/endpoints", d.listEndpoints)
	mux.HandleFunc("POST /webhooks/endpoints", func(w http.ResponseWriter, r *http.Request) { d.putEndpoint(w, r, "") })
	mux.HandleFunc("PUT /webhooks/endpoints/{id}", func(w http.ResponseWriter, r *http.Request) { d.putEndpoint(w, r, r.PathValue("id")) })
	mux.HandleFunc("DELETE /webhooks/endpoints/{id}", d.deleteEndpoint)
	mux.HandleFunc("POST /webhooks/endpoints/{id}/enable", func(w http.ResponseWriter, r *http.Request) { d.setState(w, r, true) })
	mux.HandleFunc("POST /webhooks/endpoints/{id}/disable", func(w http.ResponseWriter, r *http.Request) { d.setState(w, r, false) })
	mux.HandleFunc("GET /webhooks/endpoints/{id}/log", d.getLog)
	mux.HandleFunc("POST /webhooks/endpoints/{id}/redeliver", d.redeliver)
	return mux
}

// EndpointView is an endpoint as the admin API lists it.
type EndpointView struct {
	Endpoint
	Source   string    `json:"source"` // "config" or "api"
	Disabled *Disabled `json:"disabled,omitempty"`
}

func (d *Dispatcher) listEndpoints(w http.ResponseWriter, r *http.Request) {
	d.mu.Lock()
	out := []EndpointView{}
	for _, m := range []struct {
		src string
		eps map[string]Endpoint
	}{{"config", d.file}, {"api", d.api}} {
		for id, e := range m.eps {
			v := EndpointView{Endpoint: e.Redacted(), Source: m.src}
			if dis, ok := d.disabled[id]; ok {
				v.Disabled = &dis
			}
			out = append(out, v)
		}
	}
	d.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	writeJSON(w, http.StatusOK, struct {
		Endpoints []EndpointView `json:"endpoints"`
	}{out})
}

func (d *Dispatcher) putEndpoint(w http.ResponseWriter, r *http.Request, id string) {
	b, err := io.ReadAll(io.LimitReader(r.Body, 64<<10+1))
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid_body", "the request body could not be read")
		return
	}
	e, err := DecodeEndpoint(b)
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid_endpoint", err.Error())
		return
	}
	if id != "" && e.ID != id {
		writeError(w, http.StatusBadRequest, "invalid_endpoint", fmt.Sprintf("body id %q differs from the path's %q", e.ID, id))
		return
	}
	if _, fromFile, ok := d.endpoint(e.ID); ok && fromFile {
		writeError(w, http.StatusConflict, "config_endpoint", "endpoint "+e.ID+" is defined in the config file; change it there")
		return
	}
	val, _ := json.Marshal(e)
	if id == "" {
		_, err = d.kv.Create(r.Context(), keyEndpoint+e.ID, val)
		if errors.Is(err, jetstream.ErrKeyExists) {
			writeError(w, http.StatusConflict, "endpoint_exists", "endpoint "+e.ID+" exists; PUT /webhooks/endpoints/"+e.ID+" replaces it")
			return
		}
	} else {
		if _, _, ok := d.endpoint(id); !ok {
			writeError(w, http.StatusNotFound, "unknown_endpoint", "no endpoint "+id)
			return
		}
		_, err = d.kv.Put(r.Context(), keyEndpoint+e.ID, val)
	}
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "store_unavailable", "the endpoint could not be stored: "+err.Error())
		return
	}
	// Create the consumers now: receipts published from here on reach the
	// endpoint even before a runner starts.
	if _, _, err := d.ensureConsumers(r.Context(), *e, time.Time{}); err != nil {
		writeError(w, http.StatusServiceUnavailable, "store_unavailable", "the endpoint's consumers could not be created: "+err.Error())
		return
	}
	status := http.StatusOK
	if id == "" {
		status = http.StatusCreated
	}
	writeJSON(w, status, EndpointView{Endpoint: e.Redacted(), Source: "api"})
}

func (d *Dispatcher) deleteEndpoint(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	e, fromFile, ok := d.known(w, id)
	if !ok {
		return
	}
	if fromFile {
		writeError(w, http.StatusConflict, "config_endpoint", "endpoint "+e.ID+" is defined in the config file; remove it there")
		return
	}
	if err := d.kv.Delete(r.Context(), keyEndpoint+id); err != nil {
		writeError(w, http.StatusServiceUnavailable, "store_unavailable", "the endpoint could not be deleted: "+err.Error())
		return
	}
	// Forget it here at once: the bucket's watch brings the delete a moment
	// later, and until then this replica's API would still know the
	// endpoint (an enable right after the delete answered 200).
	d.mu.Lock()
	delete(d.api, id)
	d.mu.Unlock()
	_ = d.enable(r.Context(), id)
	if err := d.deleteConsumers(r.Context(), id); err != nil {
		writeError(w, http.StatusServiceUnavailable, "store_unavailable", "the endpoint's consumers could not be deleted: "+err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"deleted": id})
}

func (d *Dispatcher) setState(w http.ResponseWriter, r *http.Request, enable bool) {
	id := r.PathValue("id")
	if _, _, ok := d.known(w, id); !ok {
		return
	}
	var err error
	if enable {
		err = d.enable(r.Context(), id)
	} else {
		err = d.setDisabled(r.Context(), id, "disabled by an operator")
	}
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "store_unavailable", "the endpoint's state could not be stored: "+err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"endpoint": id, "enabled": enable})
}

func (d *Dispatcher) getLog(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := events.CheckEndpointID(id); err != nil {
		writeError(w, http.StatusBadRequest, "invalid_endpoint_id", err.Error())
		return
	}
	q := r.URL.Query()
	var after uint64
	if v := q.Get("after"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			writeError(w, http.StatusBadRequest, "invalid_cursor", "after must be a stream sequence (an unsigned integer)")
			return
		}
		after = n
	}
	limit := 100
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			writeError(w, http.StatusBadRequest, "invalid_limit", "limit must be between 1 and 1000")
			return
		}
		limit = n
	}
	recs, next, err := ReadLog(r.Context(), d.js, id, after, limit)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "store_unavailable", "the delivery log could not be read: "+err.Error())
		return
	}
	resp := struct {
		Records []LogRecord `json:"records"`
		Next    string      `json:"next,omitempty"`
	}{Records: recs}
	if next > 0 {
		resp.Next = strconv.FormatUint(next, 10)
	}
	writeJSON(w, http.StatusOK, resp)
}

// RedeliverRequest is the body of POST .../redeliver: one receipt, or the
// receipts stored in [from, to) for the endpoint's sellers.
type RedeliverRequest struct {
	ReceiptID string    `json:"receiptId,omitempty"`
	From      time.Time `json:"from,omitzero"`
	To        time.Time `json:"to,omitzero"`
}

// DecodeRedeliverRequest decodes and checks a redeliver body.
func DecodeRedeliverRequest(b []byte) (*RedeliverRequest, error) {
	var q RedeliverRequest
	if len(b) > 4096 {
		return nil, errors.New("redeliver body is more than 4 KiB")
	}
	if err := json.Unmarshal(b, &q); err != nil {
		return nil, fmt.Errorf("redeliver body: %s", redactJSONError(err))
	}
	switch {
	case q.ReceiptID != "" && (!q.From.IsZero() || !q.To.IsZero()):
		return nil, errors.New("give receiptId, or from and to, not both")
	case q.ReceiptID != "":
		if err := events.CheckPaymentID(q.ReceiptID); err != nil {
			return nil, fmt.Errorf("receiptId: %v", err)
		}
	case q.From.IsZero() || q.To.IsZero() || !q.From.Before(q.To):
		return nil, errors.New("give receiptId, or from and to (RFC 3339) with from before to")
	}
	return &q, nil
}

// maxRedeliver caps one time-range redelivery.
const maxRedeliver = 10_000

func (d *Dispatcher) redeliver(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	e, _, ok := d.known(w, id)
	if !ok {
		return
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, 4097))
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid_body", "the request body could not be read")
		return
	}
	q, err := DecodeRedeliverRequest(b)
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid_redeliver", err.Error())
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 60*time.Second)
	defer cancel()
	if _, _, err := d.ensureConsumers(ctx, e, time.Time{}); err != nil {
		writeError(w, http.StatusServiceUnavailable, "store_unavailable", err.Error())
		return
	}
	receipts, err := d.findReceipts(ctx, e, q)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "store_unavailable", "receipts could not be read: "+err.Error())
		return
	}
	if q.ReceiptID != "" && len(receipts) == 0 {
		writeError(w, http.StatusNotFound, "unknown_receipt", "no receipt "+q.ReceiptID+" for the sellers of endpoint "+id)
		return
	}
	subj, _ := events.WebhookRedeliverSubject(id)
	for _, rc := range receipts {
		body, _ := json.Marshal(redeliverRequest{Receipt: rc, RequestedAt: time.Now().UTC()})
		if _, err := d.js.Publish(ctx, subj, body, jetstream.WithExpectStream(events.StreamWebhooks)); err != nil {
			writeError(w, http.StatusServiceUnavailable, "store_unavailable", "redelivery could not be queued: "+err.Error())
			return
		}
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"endpoint": id, "queued": len(receipts)})
}

// findReceipts reads the receipts to redeliver from RECEIPTS.
func (d *Dispatcher) findReceipts(ctx context.Context, e Endpoint, q *RedeliverRequest) ([]*events.Receipt, error) {
	var filters []string
	for _, s := range e.Sellers {
		f, err := events.WebhookReceiptFilter(s)
		if err != nil {
			return nil, err
		}
		if !contains(filters, f) {
			filters = append(filters, f)
		}
	}
	st, err := d.js.Stream(ctx, events.StreamReceipts)
	if err != nil {
		return nil, err
	}
	info, err := st.Info(ctx)
	if err != nil {
		return nil, err
	}
	if info.State.Msgs == 0 {
		return nil, nil
	}
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: filters, DeliverPolicy: jetstream.DeliverAllPolicy}
	if q.ReceiptID == "" {
		from := q.From
		cfg.DeliverPolicy, cfg.OptStartTime = jetstream.DeliverByStartTimePolicy, &from
	}
	cons, err := d.js.OrderedConsumer(ctx, events.StreamReceipts, cfg)
	if err != nil {
		return nil, err
	}
	var out []*events.Receipt
	for len(out) < maxRedeliver {
		m, err := cons.Next(jetstream.FetchMaxWait(2 * time.Second))
		if err != nil {
			// Nothing more matches before the stream's end.
			if errors.Is(err, nats.ErrTimeout) || errors.Is(err, jetstream.ErrNoMessages) || errors.Is(err, context.DeadlineExceeded) {
				break
			}
			return nil, err
		}
		meta, _ := m.Metadata()
		if meta != nil && !q.To.IsZero() && !meta.Timestamp.Before(q.To) {
			break
		}
		rc, err := events.DecodeReceipt(m.Data())
		if err == nil && (q.ReceiptID == "" || rc.ID == q.ReceiptID) {
			out = append(out, rc)
			if q.ReceiptID != "" {
				break
			}
		}
		if meta != nil && meta.Sequence.Stream >= info.State.LastSeq {
			break
		}
	}
	return out, nil
}

// known answers 404 for an unknown endpoint.
func (d *Dispatcher) known(w http.ResponseWriter, id string) (Endpoint, bool, bool) {
	if err := events.CheckEndpointID(id); err != nil {
		writeError(w, http.StatusBadRequest, "invalid_endpoint_id", err.Error())
		return Endpoint{}, false, false
	}
	e, fromFile, ok := d.endpoint(id)
	if !ok {
		writeError(w, http.StatusNotFound, "unknown_endpoint", "no endpoint "+id)
	}
	return e, fromFile, ok
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, reason, msg string) {
	writeJSON(w, status, map[string]string{"error": reason, "message": msg})
}
