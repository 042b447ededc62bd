package events

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// ScanFrom is where ScanSubject starts: a stream sequence, else a time,
// else the subject's first message.
type ScanFrom struct {
	Seq  uint64
	Time time.Time
}

// ScanSubject reads the messages of stream stored on subject, in order,
// from from up to stream sequence upTo (the subject's last message when
// the scan began), and calls fn with each until it returns true. It is for
// one-off searches (an ordered consumer, no acks); a subject with no
// message at or after from and at or below upTo must not be scanned.
func ScanSubject(ctx context.Context, js jetstream.JetStream, stream, subject string, from ScanFrom, upTo uint64, fn func(seq uint64, data []byte) bool) error {
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: []string{subject}, DeliverPolicy: jetstream.DeliverAllPolicy}
	switch {
	case from.Seq > 0:
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, from.Seq
	case !from.Time.IsZero():
		cfg.DeliverPolicy, cfg.OptStartTime = jetstream.DeliverByStartTimePolicy, &from.Time
	}
	cons, err := js.OrderedConsumer(ctx, stream, cfg)
	if err != nil {
		return fmt.Errorf("scan %s: %w", subject, err)
	}
	for {
		msg, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second))
		if err != nil {
			return fmt.Errorf("scan %s: %w", subject, err)
		}
		meta, err := msg.Metadata()
		if err != nil {
			return fmt.Errorf("scan %s: %w", subject, err)
		}
		if fn(meta.Sequence.Stream, msg.Data()) || meta.Sequence.Stream >= upTo {
			return nil
		}
	}
}
