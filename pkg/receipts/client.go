package receipts

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/h402/settlement/pkg/events"
	"github.com/h402/settlement/pkg/h402"
)

// Config selects a seller's receipts and names its consumer.
type Config struct {
	// PayTo is the seller's address (EVM hex, any case; Solana base58).
	PayTo string
	// Namespace of PayTo: "evm" or "solana".
	Namespace h402.Namespace
	// Networks to receive (network ids, e.g. "8453"); empty: every network
	// of the namespace. Receipts of other networks are acked unhandled.
	Networks []string
	// Consumer is the durable consumer's name, e.g. "seller-<name>": one
	// subject token, and the name the seller's NATS permissions allow.
	Consumer string
	// AckWait bounds how long a delivered receipt stays with this client
	// before the server offers it again; default 30s.
	AckWait time.Duration
	// FetchWait is how long one pull waits for a receipt; default 5s.
	FetchWait time.Duration
	// Logger; default slog.Default().
	Logger *slog.Logger
}

func (c *Config) setDefaults() {
	if c.AckWait == 0 {
		c.AckWait = 30 * time.Second
	}
	if c.FetchWait == 0 {
		c.FetchWait = 5 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Client delivers one seller's receipts to a handler exactly once, in
// sellerSeq order per subject, across restarts (package doc).
type Client[Tx any] struct {
	js       jetstream.JetStream
	cfg      Config
	consumer jetstream.ConsumerConfig
	store    Store[Tx]
	handle   Handler[Tx]
	log      *slog.Logger
	// resetAt remembers, per subject, the checkpoint from which the
	// consumer was last sent back to fill a gap: a second gap from the same
	// checkpoint means the receipt is not in the stream.
	resetAt map[string]uint64
	// resync: an ack was not confirmed; the consumer goes back to its ack
	// floor before the next pull instead of holding the receipt for AckWait.
	resync bool
	// known is the highest checkpoint seen per subject: a checkpoint only
	// grows, so a receipt below it is skipped without a transaction (a
	// consumer read again from the start costs no write per receipt).
	known map[string]Checkpoint
}

// New checks cfg and returns a client; nothing is contacted before Run.
func New[Tx any](js jetstream.JetStream, cfg Config, store Store[Tx], handle Handler[Tx]) (*Client[Tx], error) {
	cfg.setDefaults()
	if store == nil || handle == nil {
		return nil, errors.New("receipts: a store and a handler are required")
	}
	if cfg.Namespace != h402.NamespaceEVM && cfg.Namespace != h402.NamespaceSolana {
		return nil, fmt.Errorf("receipts: namespace: want evm or solana (got %q)", cfg.Namespace)
	}
	cc, err := events.ReceiptsConsumer(cfg.Consumer, cfg.PayTo, cfg.Namespace, cfg.Networks, cfg.AckWait)
	if err != nil {
		return nil, fmt.Errorf("receipts: %w", err)
	}
	return &Client[Tx]{js: js, cfg: cfg, consumer: cc, store: store, handle: handle, log: cfg.Logger, resetAt: map[string]uint64{}, known: map[string]Checkpoint{}}, nil
}

// Run receives receipts until ctx ends (then it returns nil) or until an
// error stops it: a gap (ErrGap), an unreadable receipt (ErrBadReceipt), a
// conflict (ErrConflict), a handler or store error, or, at start, a
// consumer it cannot create. The receipt in hand is then left unacked, and
// the next Run gets it again first. Later trouble with the server (a
// reconnect, a deleted consumer) is retried until ctx ends. Run one client
// per consumer at a time: a second is harmless to exactly-once (the
// checkpoint decides) but each start sends the shared consumer back.
func (c *Client[Tx]) Run(ctx context.Context) error {
	// What an earlier Run learnt may not hold any more (a store restored
	// from a backup in between).
	c.known, c.resetAt, c.resync = map[string]Checkpoint{}, map[string]uint64{}, false
	cons, err := c.ensure(ctx, true)
	if err != nil {
		return stopped(ctx, err)
	}
	failures := 0
	for ctx.Err() == nil {
		if c.resync {
			// Bounded: a request sent across a reconnect can go unanswered.
			rctx, cancel := context.WithTimeout(ctx, c.cfg.FetchWait)
			if _, err := c.js.ResetConsumer(rctx, events.StreamReceipts, c.cfg.Consumer); err == nil {
				c.resync = false
			}
			cancel()
		}
		fctx, cancel := context.WithTimeout(ctx, c.cfg.FetchWait)
		batch, err := cons.Fetch(1, jetstream.FetchContext(fctx))
		if err == nil {
			for msg := range batch.Messages() {
				if err := c.process(ctx, msg); err != nil {
					cancel()
					return stopped(ctx, err)
				}
			}
			err = batch.Error()
		}
		cancel()
		switch {
		case ctx.Err() != nil:
			return nil
		case err == nil, errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout):
			failures = 0
			continue
		}
		// The consumer was deleted, or the server is away: make sure the
		// consumer exists (created again from the stream's start; the
		// checkpoints skip what was handled) and pull again.
		failures++
		c.log.Warn("receipts: pull failed; checking the consumer", "consumer", c.cfg.Consumer, "attempt", failures, "err", err)
		if !pause(ctx, failures) {
			return nil
		}
		ectx, ecancel := context.WithTimeout(ctx, c.cfg.FetchWait)
		next, err := c.ensure(ectx, true)
		ecancel()
		if err != nil {
			// The connection reconnects by itself: keep trying (the
			// first ensure, at start, reports a misconfiguration at once).
			c.log.Warn("receipts: consumer not ready", "consumer", c.cfg.Consumer, "attempt", failures, "err", err)
			continue
		}
		cons = next
	}
	return nil
}

// stopped is nil when ctx ended (the error was the shutdown's), else err.
func stopped(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// pause waits a little longer after each failure, or until ctx ends.
func pause(ctx context.Context, failures int) bool {
	d := time.Duration(min(failures, 20)) * 100 * time.Millisecond
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// ensure creates the consumer or updates its settings and, with reset,
// sends it back to its ack floor, so that a receipt whose ack was lost (a
// killed client, a server away) is delivered again now rather than after
// AckWait; the checkpoint skips it.
//
// A consumer whose filter changes (the seller chose other networks) keeps
// its position, which would skip what the new filter adds before it: it is
// sent back to the stream's start instead, and the checkpoints skip what
// was handled.
func (c *Client[Tx]) ensure(ctx context.Context, reset bool) (jetstream.Consumer, error) {
	refilter := false
	prev, err := c.js.Consumer(ctx, events.StreamReceipts, c.cfg.Consumer)
	switch {
	case err == nil:
		// A choice of networks under the same filter changed too: the
		// receipts of a network added were acked unhandled before.
		pc := prev.CachedInfo().Config
		refilter = pc.FilterSubject != c.consumer.FilterSubject ||
			pc.Metadata[events.ReceiptsNetworksKey] != c.consumer.Metadata[events.ReceiptsNetworksKey]
	case !errors.Is(err, jetstream.ErrConsumerNotFound):
		return nil, fmt.Errorf("receipts: consumer %s on %s: %w", c.cfg.Consumer, events.StreamReceipts, err)
	}
	cons, err := c.js.CreateOrUpdateConsumer(ctx, events.StreamReceipts, c.consumer)
	if err != nil {
		return nil, fmt.Errorf("receipts: consumer %s on %s: %w", c.cfg.Consumer, events.StreamReceipts, err)
	}
	if refilter {
		c.log.Info("receipts: consumer filter or networks changed; reading the stream from its start", "consumer", c.cfg.Consumer,
			"from", prev.CachedInfo().Config.FilterSubject, "to", c.consumer.FilterSubject,
			"networks", c.consumer.Metadata[events.ReceiptsNetworksKey])
		if _, err := c.js.ResetConsumerToSequence(ctx, events.StreamReceipts, c.cfg.Consumer, 1); err != nil {
			return nil, fmt.Errorf("receipts: reset consumer %s to the stream's start: %w", c.cfg.Consumer, err)
		}
		return cons, nil
	}
	if reset {
		if _, err := c.js.ResetConsumer(ctx, events.StreamReceipts, c.cfg.Consumer); err != nil {
			return nil, fmt.Errorf("receipts: reset consumer %s to its ack floor: %w", c.cfg.Consumer, err)
		}
	}
	return cons, nil
}

// process handles one delivered message: skip (ack) what the checkpoint
// has, apply the next receipt and its checkpoint in one transaction then
// ack, and on a jump read the stream again from the checkpoint.
func (c *Client[Tx]) process(ctx context.Context, msg jetstream.Msg) error {
	meta, err := msg.Metadata()
	if err != nil {
		return fmt.Errorf("%w: %s: metadata: %w", ErrBadReceipt, msg.Subject(), err)
	}
	subj, seq := msg.Subject(), meta.Sequence.Stream
	r, err := c.decode(subj, msg.Data())
	if err != nil {
		return fmt.Errorf("%w (%s, stream sequence %d): %w", ErrBadReceipt, subj, seq, err)
	}
	if len(c.cfg.Networks) > 1 && !slices.Contains(c.cfg.Networks, r.NetworkID) {
		c.ack(ctx, msg, subj, seq)
		return nil
	}
	if k := c.known[subj]; r.SellerSeq < k.SellerSeq || r.SellerSeq == k.SellerSeq && r.ID == k.ID {
		c.ack(ctx, msg, subj, seq)
		return nil
	}
	var (
		gap     *Checkpoint
		handled bool
		seen    Checkpoint
	)
	err = c.store.Update(ctx, func(tx Tx) error {
		gap, handled = nil, false
		cp, err := c.store.Checkpoint(tx, subj)
		if err != nil {
			return err
		}
		seen = cp
		switch {
		case r.SellerSeq == cp.SellerSeq && r.ID != cp.ID:
			return fmt.Errorf("%w: %s sellerSeq %d is payment %s at stream sequence %d, the handled one was %s",
				ErrConflict, subj, r.SellerSeq, r.ID, seq, cp.ID)
		case r.SellerSeq <= cp.SellerSeq:
			return nil
		case r.SellerSeq > cp.SellerSeq+1:
			gap = &cp
			return nil
		}
		if err := c.handle(ctx, tx, r); err != nil {
			return fmt.Errorf("receipts: handler, receipt %s (%s sellerSeq %d): %w", r.ID, subj, r.SellerSeq, err)
		}
		handled = true
		seen = Checkpoint{SellerSeq: r.SellerSeq, StreamSeq: seq, ID: r.ID}
		return c.store.SetCheckpoint(tx, subj, seen)
	})
	if err != nil {
		return err
	}
	if seen.SellerSeq > c.known[subj].SellerSeq {
		c.known[subj] = seen
	}
	if gap != nil {
		return c.fill(ctx, subj, *gap, r.SellerSeq, seq)
	}
	if handled {
		delete(c.resetAt, subj)
	}
	c.ack(ctx, msg, subj, seq)
	return nil
}

// decode reads a receipt and makes sure it belongs on its subject and to
// this seller.
func (c *Client[Tx]) decode(subj string, data []byte) (*events.Receipt, error) {
	r, err := events.DecodeReceipt(data)
	if err != nil {
		return nil, err
	}
	want, err := events.ReceiptSubject(r.PayTo, r.Namespace, r.NetworkID)
	if err != nil {
		return nil, err
	}
	if want != subj {
		return nil, fmt.Errorf("receipt %s belongs on %s, not %s", r.ID, want, subj)
	}
	same := r.PayTo == c.cfg.PayTo || c.cfg.Namespace == h402.NamespaceEVM && strings.EqualFold(r.PayTo, c.cfg.PayTo)
	if !same || r.Namespace != c.cfg.Namespace {
		return nil, fmt.Errorf("receipt %s pays %s:%s, not this seller", r.ID, r.Namespace, r.PayTo)
	}
	return r, nil
}

// ack confirms a processed receipt. A lost ack is harmless: the receipt
// comes again and the checkpoint skips it.
func (c *Client[Tx]) ack(ctx context.Context, msg jetstream.Msg, subj string, seq uint64) {
	if err := msg.DoubleAck(ctx); err != nil && ctx.Err() == nil {
		c.resync = true
		c.log.Warn("receipts: ack not confirmed; it will come again and be skipped", "subject", subj, "stream_seq", seq, "err", err)
	}
}

// fill handles a jump on subj (got arrived at stream sequence seq while the
// checkpoint is cp): the consumer is sent back to just after the
// checkpoint's stream position, so the missing receipts come again in
// order (and receipts of other subjects are skipped by their checkpoints).
// The message in hand is not acked. When the stream holds nothing between,
// or the same jump comes back after a reset, the receipts are missing.
func (c *Client[Tx]) fill(ctx context.Context, subj string, cp Checkpoint, got, seq uint64) error {
	gapErr := &GapError{Subject: subj, Want: cp.SellerSeq + 1, Got: got, StreamSeq: seq}
	if last, ok := c.resetAt[subj]; (ok && last == cp.SellerSeq) || cp.StreamSeq+1 >= seq {
		return gapErr
	}
	c.resetAt[subj] = cp.SellerSeq
	from := cp.StreamSeq + 1
	c.log.Warn("receipts: sellerSeq jumped; reading the stream again from the checkpoint",
		"subject", subj, "want", cp.SellerSeq+1, "got", got, "from_stream_seq", from)
	if _, err := c.js.ResetConsumerToSequence(ctx, events.StreamReceipts, c.cfg.Consumer, from); err != nil {
		return fmt.Errorf("receipts: read %s again from stream sequence %d: %w (after %v)", subj, from, err, gapErr)
	}
	return nil
}
