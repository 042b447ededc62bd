package ledger

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/errgroup"
)

// Follow projects the three streams into l as their messages arrive, until
// ctx ends (it then returns nil), l cannot be written or a consumer cannot
// go on (an error: the caller logs it and calls Follow again, which resumes
// after what l has). Per stream it runs
// an ordered consumer (ephemeral, this process's own copy, no acks) starting
// after the stream's last applied sequence; the consumer recreates itself
// after a gap or a lost connection. Progress is visible through Applied and
// WaitFor.
func Follow(ctx context.Context, js jetstream.JetStream, l *Ledger) error {
	g, ctx := errgroup.WithContext(ctx)
	for _, s := range Streams {
		g.Go(func() error { return l.follow(ctx, js, s) })
	}
	err := g.Wait()
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return nil
	}
	return err
}

func (l *Ledger) follow(ctx context.Context, js jetstream.JetStream, stream string) error {
	from := l.Applied(stream)
	cfg := jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverAllPolicy}
	if from > 0 {
		cfg = jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: from + 1}
	}
	if _, err := l.checkStream(ctx, js, stream); err != nil {
		return fmt.Errorf("ledger: follow %s: %w", stream, err)
	}
	c, err := js.OrderedConsumer(ctx, stream, cfg)
	if err != nil {
		return fmt.Errorf("ledger: follow %s: %w", stream, err)
	}
	it, err := c.Messages()
	if err != nil {
		return fmt.Errorf("ledger: follow %s: %w", stream, err)
	}
	stop := context.AfterFunc(ctx, it.Stop)
	defer stop()
	defer it.Stop()
	l.log.Info("ledger: following", "stream", stream, "after_seq", from)

	// A reader hands messages over; the applier writes what has arrived
	// in one Update (up to maxBatch), so a busy stream costs one disk
	// write per batch, not per message.
	msgs := make(chan Msg, maxBatch)
	readErr := make(chan error, 1)
	go func() {
		defer close(msgs)
		for {
			msg, err := it.Next()
			if err != nil {
				if ctx.Err() != nil {
					readErr <- ctx.Err()
					return
				}
				if errors.Is(err, jetstream.ErrMsgIteratorClosed) {
					readErr <- fmt.Errorf("ledger: follow %s: %w", stream, err)
					return
				}
				l.log.Warn("ledger: consumer error", "stream", stream, "err", err)
				continue
			}
			md, err := msg.Metadata()
			if err != nil {
				l.log.Warn("ledger: message without metadata", "stream", stream, "subject", msg.Subject(), "err", err)
				continue
			}
			msgs <- Msg{Seq: md.Sequence.Stream, Subject: msg.Subject(), Data: msg.Data()}
		}
	}()
	batch := make([]Msg, 0, maxBatch)
	for m := range msgs {
		batch = append(batch[:0], m)
	drain:
		for len(batch) < maxBatch {
			select {
			case m, ok := <-msgs:
				if !ok {
					break drain
				}
				batch = append(batch, m)
			default:
				break drain
			}
		}
		if err := l.ApplyBatch(stream, batch); err != nil {
			it.Stop()
			for range msgs {
			}
			return err
		}
	}
	return <-readErr
}

// maxBatch bounds the messages Follow applies in one Update.
const maxBatch = 512

// CatchUp follows the streams until l has applied every message stored when
// it was called, then returns (rebuilds and one-off syncs).
func CatchUp(ctx context.Context, js jetstream.JetStream, l *Ledger) error {
	last, err := CheckStreams(ctx, js, l)
	if err != nil {
		return fmt.Errorf("ledger: catch up: %w", err)
	}
	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- Follow(fctx, js, l) }()
	for _, s := range Streams {
		if err := waitOrFail(fctx, l, s, last[s], errc); err != nil {
			cancel()
			<-errc
			return err
		}
	}
	cancel()
	return <-errc
}

func waitOrFail(ctx context.Context, l *Ledger, stream string, seq uint64, errc chan error) error {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- l.WaitFor(wctx, stream, seq) }()
	select {
	case err := <-done:
		return err
	case err := <-errc:
		errc <- err // for the caller's receive
		if err == nil {
			err = ctx.Err()
		}
		return fmt.Errorf("ledger: catch up %s: follow ended: %w", stream, err)
	}
}

// CheckStreams makes sure l projects the streams js holds (CheckOrigin) and
// has not applied more of any than it stores, which happens to a file kept
// from another event log; both are ErrOtherLog. It returns each stream's
// last sequence.
func CheckStreams(ctx context.Context, js jetstream.JetStream, l *Ledger) (map[string]uint64, error) {
	last := map[string]uint64{}
	for _, s := range Streams {
		seq, err := l.checkStream(ctx, js, s)
		if err != nil {
			return nil, err
		}
		last[s] = seq
	}
	return last, nil
}

func (l *Ledger) checkStream(ctx context.Context, js jetstream.JetStream, stream string) (uint64, error) {
	st, err := js.Stream(ctx, stream)
	if err != nil {
		return 0, fmt.Errorf("stream %s: %w", stream, err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("stream %s: %w", stream, err)
	}
	if err := l.CheckOrigin(stream, info.Created); err != nil {
		return 0, err
	}
	if applied := l.Applied(stream); applied > info.State.LastSeq {
		return 0, fmt.Errorf("%w: it has applied %s up to sequence %d but the stream ends at %d (purged or recreated; delete the file to rebuild)",
			ErrOtherLog, stream, applied, info.State.LastSeq)
	}
	return info.State.LastSeq, nil
}
