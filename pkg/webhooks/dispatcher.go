package webhooks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/h402/settlement/pkg/events"
)

// Options configure a Dispatcher.
type Options struct {
	Config  *Config // defaulted and validated
	Streams events.StreamsConfig
	Logger  *slog.Logger
	Metrics *Metrics // nil: none
	// Client makes the requests (default: one that does not follow redirects).
	Client *http.Client
	// Lookup reads secretEnv variables (default os.LookupEnv).
	Lookup func(string) (string, bool)
}

// Dispatcher delivers receipts to every enabled endpoint; run one in each
// watcher replica.
type Dispatcher struct {
	js      jetstream.JetStream
	kv      jetstream.KeyValue
	cfg     *Config
	sched   []time.Duration
	log     *slog.Logger
	metrics *Metrics
	client  *http.Client
	lookup  func(string) (string, bool)
	streams events.StreamsConfig

	mu       sync.Mutex
	file     map[string]Endpoint // from the config file
	api      map[string]Endpoint // from the bucket
	disabled map[string]Disabled
	running  map[string]*runner
	synced   chan struct{} // closed once the bucket's current values were read
	// wake asks follow to reconcile now: a runner lost its consumer.
	wake chan struct{}
}

// Disabled records why an endpoint stopped receiving.
type Disabled struct {
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
}

const (
	keyEndpoint = "endpoint."
	keyDisabled = "disabled."
)

// New ensures the webhook stream and bucket and checks that every
// configured endpoint's secrets can be read.
func New(ctx context.Context, js jetstream.JetStream, o Options) (*Dispatcher, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Lookup == nil {
		o.Lookup = os.LookupEnv
	}
	if o.Client == nil {
		o.Client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	kv, err := events.EnsureWebhooks(ctx, js, o.Streams, time.Duration(o.Config.LogMaxAge))
	if err != nil {
		return nil, err
	}
	d := &Dispatcher{js: js, kv: kv, cfg: o.Config, sched: o.Config.schedule(), log: o.Logger.With("component", "webhooks"),
		metrics: o.Metrics, client: o.Client, lookup: o.Lookup, streams: o.Streams,
		file: map[string]Endpoint{}, api: map[string]Endpoint{}, disabled: map[string]Disabled{},
		running: map[string]*runner{}, synced: make(chan struct{}), wake: make(chan struct{}, 1)}
	for _, e := range o.Config.Endpoints {
		if _, err := e.resolve(o.Lookup); err != nil {
			return nil, err
		}
		d.file[e.ID] = e
	}
	return d, nil
}

// Run follows the bucket (endpoints added through the API, disabled
// marks), keeps one runner per enabled endpoint, and stops them all when
// ctx ends, waiting for attempts in flight.
func (d *Dispatcher) Run(ctx context.Context) error {
	defer d.stopAll()
	for {
		err := d.follow(ctx)
		if ctx.Err() != nil {
			return nil
		}
		d.log.Warn("webhook bucket watch ended; watching again", "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
		}
	}
}

func (d *Dispatcher) follow(ctx context.Context) error {
	w, err := d.kv.WatchAll(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = w.Stop() }()
	initial := true
	api, disabled := map[string]Endpoint{}, map[string]Disabled{}
	// Reconcile now and then too: an endpoint whose consumer could not be
	// created (the server was away) is started on a later round.
	tick := time.NewTicker(10 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			if !initial {
				d.reconcile(ctx)
			}
		case <-d.wake:
			if !initial {
				d.reconcile(ctx)
			}
		case e, ok := <-w.Updates():
			if !ok {
				return errors.New("watch closed")
			}
			if e == nil { // the current values were all read
				initial = false
				d.mu.Lock()
				d.api, d.disabled = api, disabled
				d.mu.Unlock()
				d.reconcile(ctx)
				select {
				case <-d.synced:
				default:
					close(d.synced)
				}
				continue
			}
			d.mu.Lock()
			if !initial {
				api, disabled = d.api, d.disabled
			}
			d.apply(api, disabled, e)
			d.mu.Unlock()
			if !initial {
				d.reconcile(ctx)
			}
		}
	}
}

// apply records one bucket entry.
func (d *Dispatcher) apply(api map[string]Endpoint, disabled map[string]Disabled, e jetstream.KeyValueEntry) {
	deleted := e.Operation() != jetstream.KeyValuePut
	switch {
	case strings.HasPrefix(e.Key(), keyEndpoint):
		id := strings.TrimPrefix(e.Key(), keyEndpoint)
		if deleted {
			delete(api, id)
			return
		}
		var ep Endpoint
		if err := json.Unmarshal(e.Value(), &ep); err != nil || ep.Check(false) != nil || ep.ID != id {
			d.log.Error("webhook bucket holds an unreadable endpoint; skipped", "endpoint", id)
			return
		}
		api[id] = ep
	case strings.HasPrefix(e.Key(), keyDisabled):
		id := strings.TrimPrefix(e.Key(), keyDisabled)
		if deleted {
			delete(disabled, id)
			return
		}
		var m Disabled
		_ = json.Unmarshal(e.Value(), &m)
		disabled[id] = m
	}
}

// endpoint returns an endpoint by id and whether it comes from the file.
func (d *Dispatcher) endpoint(id string) (Endpoint, bool, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if e, ok := d.file[id]; ok {
		return e, true, true
	}
	e, ok := d.api[id]
	return e, false, ok
}

// reconcile starts, restarts and stops runners to match the endpoints.
func (d *Dispatcher) reconcile(ctx context.Context) {
	d.mu.Lock()
	want := map[string]Endpoint{}
	for id, e := range d.api {
		want[id] = e
	}
	for id, e := range d.file {
		want[id] = e
	}
	ndisabled := 0
	for id := range d.disabled {
		if _, ok := want[id]; ok {
			ndisabled++
		}
		delete(want, id)
	}
	var stop []*runner
	since := map[string]time.Time{}
	for id, r := range d.running {
		e, ok := want[id]
		if !ok || fingerprint(e) != r.fingerprint || r.lost.Load() {
			stop = append(stop, r)
			delete(d.running, id)
			if r.lost.Load() {
				// From just after the newest receipt this replica
				// delivered (what other replicas delivered since may come
				// again: at least once).
				since[id] = r.since().Add(time.Nanosecond)
			}
		}
	}
	var start []Endpoint
	for id, e := range want {
		if _, ok := d.running[id]; !ok {
			start = append(start, e)
		}
	}
	d.mu.Unlock()
	d.metrics.setDisabled(ndisabled)
	for _, r := range stop {
		r.stop()
	}
	sort.Slice(start, func(i, j int) bool { return start[i].ID < start[j].ID })
	for _, e := range start {
		r, err := d.startRunner(ctx, e, since[e.ID])
		if err != nil {
			d.log.Error("webhook endpoint not started", "endpoint", e.ID, "err", err)
			continue
		}
		d.mu.Lock()
		if old := d.running[e.ID]; old != nil {
			old.stop()
		}
		d.running[e.ID] = r
		d.mu.Unlock()
	}
}

func (d *Dispatcher) stopAll() {
	d.mu.Lock()
	rs := make([]*runner, 0, len(d.running))
	for id, r := range d.running {
		rs = append(rs, r)
		delete(d.running, id)
	}
	d.mu.Unlock()
	var wg sync.WaitGroup
	for _, r := range rs {
		wg.Add(1)
		go func() { defer wg.Done(); r.stop() }()
	}
	wg.Wait()
}

func fingerprint(e Endpoint) string {
	b, _ := json.Marshal(e)
	return string(b)
}

// consumerConfigs are an endpoint's two durable consumers: its sellers'
// receipts, and its redelivery requests.
func (d *Dispatcher) consumerConfigs(e Endpoint) (receipts, redeliver jetstream.ConsumerConfig, err error) {
	var filters []string
	for _, s := range e.Sellers {
		f, err := events.WebhookReceiptFilter(s)
		if err != nil {
			return receipts, redeliver, err
		}
		if !contains(filters, f) {
			filters = append(filters, f)
		}
	}
	rsubj, err := events.WebhookRedeliverSubject(e.ID)
	if err != nil {
		return receipts, redeliver, err
	}
	ackWait := time.Duration(d.cfg.Timeout) + 30*time.Second
	maxDeliver := len(d.sched) + 5 // slack for deliveries lost to a crash
	mk := func(name, desc string, filters []string) jetstream.ConsumerConfig {
		return jetstream.ConsumerConfig{
			Durable:        name,
			Description:    desc,
			FilterSubjects: filters,
			// A new endpoint gets the receipts published after it was created.
			DeliverPolicy: jetstream.DeliverNewPolicy,
			AckPolicy:     jetstream.AckExplicitPolicy,
			AckWait:       ackWait,
			MaxDeliver:    maxDeliver,
			// Receipts waiting for a retry stay pending: leave room so they
			// never block new ones.
			MaxAckPending: d.cfg.MaxPending,
		}
	}
	return mk(events.WebhookConsumerName(e.ID), "webhook endpoint "+e.ID, filters),
		mk(events.WebhookRedeliverConsumerName(e.ID), "webhook redeliveries of endpoint "+e.ID, []string{rsubj}), nil
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// ensureConsumers creates or updates an endpoint's consumers. An existing
// consumer keeps its start (deliver policy and time). A receipts consumer
// that is missing while since is set (it was deleted under a running
// runner, which last saw a receipt stored at since) is created again from
// since, so that the receipts stored meanwhile are not skipped.
func (d *Dispatcher) ensureConsumers(ctx context.Context, e Endpoint, since time.Time) (jetstream.Consumer, jetstream.Consumer, error) {
	rc, rd, err := d.consumerConfigs(e)
	if err != nil {
		return nil, nil, err
	}
	prev, err := d.js.Consumer(ctx, events.StreamReceipts, rc.Durable)
	switch {
	case err == nil:
		rc.DeliverPolicy, rc.OptStartTime, rc.OptStartSeq = prev.CachedInfo().Config.DeliverPolicy, prev.CachedInfo().Config.OptStartTime, prev.CachedInfo().Config.OptStartSeq
	case errors.Is(err, jetstream.ErrConsumerNotFound):
		if !since.IsZero() {
			rc.DeliverPolicy, rc.OptStartTime = jetstream.DeliverByStartTimePolicy, &since
			d.log.Warn("webhook consumer was deleted; created again from the last receipt seen", "endpoint", e.ID, "since", since)
		}
	default:
		return nil, nil, fmt.Errorf("consumer %s: %w", rc.Durable, err)
	}
	c1, err := d.js.CreateOrUpdateConsumer(ctx, events.StreamReceipts, rc)
	if err != nil {
		return nil, nil, fmt.Errorf("consumer %s: %w", rc.Durable, err)
	}
	c2, err := d.js.CreateOrUpdateConsumer(ctx, events.StreamWebhooks, rd)
	if err != nil {
		return nil, nil, fmt.Errorf("consumer %s: %w", rd.Durable, err)
	}
	return c1, c2, nil
}

// deleteConsumers removes a deleted endpoint's consumers.
func (d *Dispatcher) deleteConsumers(ctx context.Context, id string) error {
	err1 := d.js.DeleteConsumer(ctx, events.StreamReceipts, events.WebhookConsumerName(id))
	err2 := d.js.DeleteConsumer(ctx, events.StreamWebhooks, events.WebhookRedeliverConsumerName(id))
	var errs []error
	for _, err := range []error{err1, err2} {
		if err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// runner delivers one endpoint's receipts in this replica.
type runner struct {
	d           *Dispatcher
	ep          Endpoint
	secrets     []keyedSecret
	fingerprint string
	cons        jetstream.Consumer // the receipts consumer
	// lost is set when a consumer went away under the runner (deleted):
	// the dispatcher starts it again, creating the consumer.
	lost atomic.Bool
	// seenMu guards seen: the stream time of the newest receipt delivered
	// (or, before any, when the runner started).
	seenMu sync.Mutex
	seen   time.Time
	cancel context.CancelFunc
	iters  []jetstream.MessagesContext
	wg     sync.WaitGroup
	sem    chan struct{}
}

func (d *Dispatcher) startRunner(ctx context.Context, e Endpoint, since time.Time) (*runner, error) {
	secrets, err := e.resolve(d.lookup)
	if err != nil {
		return nil, err
	}
	started := time.Now()
	// An API endpoint deleted (on this replica or another) has its
	// consumers deleted before the bucket change reaches every replica: a
	// start from an older view (a consumer gone under its runner, a
	// reconcile for another change) must not leave them created again.
	// DELETE removes the key, then the consumers; so a check of the key
	// after creating them sees the deletion whenever the creation came
	// after the consumers' removal.
	_, fromFile, _ := d.endpoint(e.ID)
	deleted := func() bool {
		if fromFile {
			return false
		}
		_, err := d.kv.Get(ctx, keyEndpoint+e.ID)
		return errors.Is(err, jetstream.ErrKeyNotFound)
	}
	if deleted() {
		return nil, fmt.Errorf("endpoint %s was deleted", e.ID)
	}
	c1, c2, err := d.ensureConsumers(ctx, e, since)
	if err != nil {
		return nil, err
	}
	if deleted() {
		if err := d.deleteConsumers(ctx, e.ID); err != nil {
			d.log.Error("webhook consumers of a deleted endpoint could not be deleted", "endpoint", e.ID, "err", err)
		}
		return nil, fmt.Errorf("endpoint %s was deleted", e.ID)
	}
	rctx, cancel := context.WithCancel(context.Background())
	if since.IsZero() {
		since = started
	}
	r := &runner{d: d, ep: e, secrets: secrets, fingerprint: fingerprint(e), cons: c1, cancel: cancel, seen: since,
		sem: make(chan struct{}, d.cfg.Concurrency)}
	for _, c := range []struct {
		cons      jetstream.Consumer
		redeliver bool
	}{{c1, false}, {c2, true}} {
		it, err := c.cons.Messages(jetstream.PullMaxMessages(d.cfg.Concurrency))
		if err != nil {
			r.stop()
			return nil, fmt.Errorf("endpoint %s: %w", e.ID, err)
		}
		r.iters = append(r.iters, it)
		r.wg.Add(1)
		go r.read(rctx, it, c.redeliver)
	}
	if d.metrics != nil {
		r.wg.Add(1)
		go r.sample(rctx, c1)
	}
	d.log.Info("webhook endpoint running", "endpoint", e.ID, "sellers", len(e.Sellers))
	return r, nil
}

// read takes a slot, then the next message, and delivers it in the slot.
func (r *runner) read(ctx context.Context, it jetstream.MessagesContext, redeliver bool) {
	defer r.wg.Done()
	for {
		select {
		case r.sem <- struct{}{}:
		case <-ctx.Done():
			return
		}
		msg, err := it.Next()
		if err != nil {
			<-r.sem
			if ctx.Err() != nil {
				return
			}
			if errors.Is(err, jetstream.ErrMsgIteratorClosed) || errors.Is(err, jetstream.ErrConsumerDeleted) ||
				errors.Is(err, jetstream.ErrConsumerNotFound) {
				// The consumer went away (deleted): have the dispatcher
				// start this endpoint again, which creates it.
				r.d.log.Warn("webhook consumer gone; starting the endpoint again", "endpoint", r.ep.ID, "err", err)
				r.lost.Store(true)
				select {
				case r.d.wake <- struct{}{}:
				default:
				}
				return
			}
			r.d.log.Warn("webhook consumer", "endpoint", r.ep.ID, "err", err)
			select { // a deleted consumer or a lost server: do not spin
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
			continue
		}
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			defer func() { <-r.sem }()
			r.deliver(ctx, msg, redeliver)
		}()
	}
}

// since is the stream time of the newest receipt this runner delivered.
func (r *runner) since() time.Time {
	r.seenMu.Lock()
	defer r.seenMu.Unlock()
	return r.seen
}

// sample sets the pending gauges from the consumer's info every 15s.
func (r *runner) sample(ctx context.Context, c jetstream.Consumer) {
	defer r.wg.Done()
	t := time.NewTicker(15 * time.Second)
	defer t.Stop()
	for {
		ictx, cancel := context.WithTimeout(ctx, 5*time.Second)
		info, err := c.Info(ictx)
		cancel()
		if err == nil {
			r.d.metrics.setPending(r.ep.ID, uint64(info.NumAckPending), info.NumPending)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// stop ends the runner and waits for attempts in flight.
func (r *runner) stop() {
	r.cancel()
	for _, it := range r.iters {
		it.Stop()
	}
	r.wg.Wait()
}

// deliver makes one attempt of one message and settles it with the
// consumer: Ack (delivered), NakWithDelay (retry), Term (failed, exhausted).
func (r *runner) deliver(ctx context.Context, msg jetstream.Msg, redeliver bool) {
	d := r.d
	meta, err := msg.Metadata()
	if err != nil {
		_ = msg.Term()
		return
	}
	attempt := int(meta.NumDelivered)
	if !redeliver {
		r.seenMu.Lock()
		if meta.Timestamp.After(r.seen) {
			r.seen = meta.Timestamp
		}
		r.seenMu.Unlock()
	}
	var rc *events.Receipt
	if redeliver {
		var req *redeliverRequest
		if req, err = decodeRedeliver(msg.Data()); err == nil {
			rc = req.Receipt
		}
	} else {
		rc, err = events.DecodeReceipt(msg.Data())
	}
	if err != nil {
		d.log.Error("webhook: undeliverable message; dropped", "endpoint", r.ep.ID, "subject", msg.Subject(), "err", err)
		_ = msg.TermWithReason("malformed")
		return
	}
	body, err := Body(rc)
	if err != nil {
		_ = msg.TermWithReason("malformed")
		return
	}
	if !r.ep.serves(rc.PayTo) && r.skip(ctx, msg, rc, attempt, redeliver) {
		return
	}
	now := time.Now()
	secrets := active(r.secrets, now)
	if len(secrets) == 0 {
		// Every secret expired: nothing may sign. Wait as for a retry.
		d.log.Error("webhook endpoint has no unexpired secret", "endpoint", r.ep.ID)
		_ = msg.NakWithDelay(time.Minute)
		return
	}
	// An attempt once started runs to its end (bounded by the timeout) even
	// when the runner stops: cutting it short would send the receipt again
	// to an endpoint that may have taken it.
	res := post(context.WithoutCancel(ctx), d.client, r.ep.URL, rc.ID, secrets, body, now, time.Duration(d.cfg.Timeout))
	rec := LogRecord{ReceiptID: rc.ID, Endpoint: r.ep.ID, Attempt: attempt, Redelivery: redeliver, Status: res.status,
		Error: res.err, LatencyMs: float64(res.latency.Microseconds()) / 1000, At: now.UTC(), Outcome: res.outcome()}
	var delay time.Duration
	if rec.Outcome == OutcomeFailed && res.status == http.StatusGone {
		// 410 disables the endpoint; the receipt is kept (not terminated)
		// and waits in the consumer until the endpoint is enabled again,
		// like the receipts published meanwhile. So are the receipts
		// answered 410 beside it before every replica stopped.
		rec.Outcome = OutcomeDisabled
		delay = goneDelay(d.sched, attempt)
		rec.NextDelayMs = delay.Milliseconds()
	}
	if rec.Outcome == OutcomeRetry {
		var ok bool
		delay, ok = nextDelay(d.sched, attempt, d.cfg.Jitter, res.retryAfter, time.Duration(d.cfg.MaxRetryAfter))
		if ok {
			rec.NextDelayMs = delay.Milliseconds()
		} else {
			rec.Outcome = OutcomeExhausted
		}
	}
	lctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := appendLog(lctx, d.js, rec); err != nil {
		d.log.Error("webhook delivery log", "endpoint", r.ep.ID, "payment_id", rc.ID, "err", err)
	}
	d.metrics.attempt(r.ep.ID, rec.Outcome, res.latency)
	lg := d.log.With("endpoint", r.ep.ID, "payment_id", rc.ID, "attempt", attempt, "status", res.status)
	switch rec.Outcome {
	case OutcomeDelivered:
		lg.Debug("webhook delivered")
		_ = msg.Ack()
	case OutcomeRetry:
		lg.Info("webhook attempt failed; retrying", "err", res.err, "delay", delay)
		_ = msg.NakWithDelay(delay)
	case OutcomeExhausted:
		lg.Warn("webhook delivery exhausted", "err", res.err)
		_ = msg.TermWithReason("exhausted")
	case OutcomeDisabled:
		// Kept either way: when the mark could not be stored, the next
		// attempt (410 again) tries again.
		if err := d.setDisabled(lctx, r.ep.ID, "410 Gone"); err != nil {
			lg.Error("webhook endpoint answered 410 but could not be disabled", "err", err)
		} else {
			lg.Warn("webhook endpoint answered 410 Gone: disabled; the receipt waits until it is enabled")
		}
		_ = msg.NakWithDelay(delay)
	case OutcomeFailed:
		lg.Warn("webhook delivery failed; not retried")
		_ = msg.TermWithReason(fmt.Sprintf("status %d", res.status))
	}
}

// skip handles a receipt whose payTo is not one of the runner's sellers: a
// retry or redelivery queued before the endpoint's sellers changed, or an
// injected request; never another seller's receipt. Unless the consumer's
// filter (shared by every replica) takes it now: then this runner is the
// stale one (a change still spreading, a rolling config change) and the
// receipt is posted (false). A skipped receipt is logged and terminated.
func (r *runner) skip(ctx context.Context, msg jetstream.Msg, rc *events.Receipt, attempt int, redeliver bool) bool {
	d := r.d
	wanted, err := r.filterTakes(ctx, rc)
	if err != nil {
		d.log.Warn("webhook: consumer filter unknown; receipt kept for later", "endpoint", r.ep.ID, "payment_id", rc.ID, "err", err)
		_ = msg.NakWithDelay(time.Second)
		return true
	}
	if wanted {
		return false
	}
	rec := LogRecord{ReceiptID: rc.ID, Endpoint: r.ep.ID, Attempt: attempt, Redelivery: redeliver,
		Error: "receipt's payTo is not one of the endpoint's sellers", At: time.Now().UTC(), Outcome: OutcomeSkipped}
	lctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := appendLog(lctx, d.js, rec); err != nil {
		d.log.Error("webhook delivery log", "endpoint", r.ep.ID, "payment_id", rc.ID, "err", err)
	}
	d.log.Warn("webhook: receipt of a seller the endpoint does not serve; not posted", "endpoint", r.ep.ID, "payment_id", rc.ID)
	_ = msg.TermWithReason("not this endpoint's seller")
	return true
}

// filterTakes tells whether the endpoint's receipts consumer, as the
// server has it now, takes the receipt's subject.
func (r *runner) filterTakes(ctx context.Context, rc *events.Receipt) (bool, error) {
	subj, err := events.ReceiptSubject(rc.PayTo, rc.Namespace, rc.NetworkID)
	if err != nil {
		return false, nil
	}
	ictx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	info, err := r.cons.Info(ictx)
	if err != nil {
		return false, err
	}
	filters := info.Config.FilterSubjects
	if info.Config.FilterSubject != "" {
		filters = append(filters, info.Config.FilterSubject)
	}
	for _, f := range filters {
		// Filters are receipts.<payTo>.> (WebhookReceiptFilter).
		if p, ok := strings.CutSuffix(f, ">"); ok && strings.HasPrefix(subj, p) || f == subj {
			return true, nil
		}
	}
	return false, nil
}

// goneDelay is how long a receipt answered 410 waits before it may be
// offered again: the schedule's next delay (at least a second, so that a
// replica that has not yet seen the disabled mark does not ask again at
// once); a disabled endpoint has no runner, so it waits until enabled.
func goneDelay(sched []time.Duration, attempt int) time.Duration {
	d := time.Second
	if attempt < len(sched) {
		d = max(d, sched[attempt])
	} else if len(sched) > 0 {
		d = max(d, sched[len(sched)-1])
	}
	return d
}

// setDisabled marks an endpoint disabled for every replica.
func (d *Dispatcher) setDisabled(ctx context.Context, id, reason string) error {
	b, _ := json.Marshal(Disabled{Reason: reason, At: time.Now().UTC()})
	_, err := d.kv.Put(ctx, keyDisabled+id, b)
	return err
}

// enable removes an endpoint's disabled mark.
func (d *Dispatcher) enable(ctx context.Context, id string) error {
	err := d.kv.Delete(ctx, keyDisabled+id)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil
	}
	return err
}

// WaitSynced blocks until the bucket's current values were read once.
func (d *Dispatcher) WaitSynced(ctx context.Context) error {
	select {
	case <-d.synced:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
