package events

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/h402/settlement/pkg/jsensure"
)

// Stream and bucket names.
const (
	StreamPayments    = "PAYMENTS"
	StreamSettlements = "SETTLEMENTS"
	StreamReceipts    = "RECEIPTS"
	BucketReplay      = "h402_replay"
	BucketUsed        = "h402_used"
	BucketExposure    = "h402_exposure"
)

// StreamsConfig sizes the streams and buckets.
type StreamsConfig struct {
	// Replicas of every stream and bucket (1 on a single server, 3 in a cluster).
	Replicas int
	// MaxAge keeps the event log this long for audit, replay and ledger rebuild.
	MaxAge time.Duration
	// Duplicates is the Nats-Msg-Id window (a short-window optimisation; the
	// replay bucket is the durable guard).
	Duplicates time.Duration
	// ReplayTTL keeps replay keys longer than any payment can stay valid.
	ReplayTTL time.Duration
	// Memory selects memory storage (tests); default file storage.
	Memory bool
}

// DefaultStreams is a single-server configuration.
func DefaultStreams() StreamsConfig {
	return StreamsConfig{Replicas: 1, MaxAge: 90 * 24 * time.Hour, Duplicates: 10 * time.Minute, ReplayTTL: 48 * time.Hour}
}

func (c StreamsConfig) storage() jetstream.StorageType {
	if c.Memory {
		return jetstream.MemoryStorage
	}
	return jetstream.FileStorage
}

// Streams returns the stream configurations. All use Limits retention: a
// WorkQueue stream forgot its dedup ids across a restart (DESIGN.md).
func (c StreamsConfig) Streams() []jetstream.StreamConfig {
	mk := func(name, root, desc string) jetstream.StreamConfig {
		return jetstream.StreamConfig{
			Name:        name,
			Description: desc,
			Subjects:    []string{root + ".>"},
			Retention:   jetstream.LimitsPolicy,
			MaxAge:      c.MaxAge,
			Duplicates:  c.Duplicates,
			Storage:     c.storage(),
			Replicas:    c.Replicas,
			Discard:     jetstream.DiscardOld,
		}
	}
	return []jetstream.StreamConfig{
		mk(StreamPayments, rootPayments, "accepted payments, their state transitions and dead letters"),
		mk(StreamSettlements, rootSettlements, "settlement transactions submitted by settlers"),
		mk(StreamReceipts, rootReceipts, "terminal receipts, by seller"),
	}
}

// ReplayBucket is the durable replay guard: a key is written with Create,
// which fails if it exists.
func (c StreamsConfig) ReplayBucket() jetstream.KeyValueConfig {
	return jetstream.KeyValueConfig{
		Bucket:      BucketReplay,
		Description: "replay keys of accepted payments",
		TTL:         c.ReplayTTL,
		Storage:     c.storage(),
		Replicas:    c.Replicas,
		History:     1,
	}
}

// UsedBucket remembers for good the replay keys of client-broadcast
// payments: a transaction already on chain stays a valid transfer for ever,
// so its key must never expire (PROTOCOL.md §4). Written with Create.
func (c StreamsConfig) UsedBucket() jetstream.KeyValueConfig {
	return jetstream.KeyValueConfig{
		Bucket:      BucketUsed,
		Description: "replay keys of client-broadcast payments, kept for good",
		Storage:     c.storage(),
		Replicas:    c.Replicas,
		History:     1,
	}
}

// ExposureBucket holds each payer's pending amount per token, updated with
// compare-and-set.
func (c StreamsConfig) ExposureBucket() jetstream.KeyValueConfig {
	return jetstream.KeyValueConfig{
		Bucket:      BucketExposure,
		Description: "pending (accepted, not final) amounts per payer and token",
		Storage:     c.storage(),
		Replicas:    c.Replicas,
		History:     1,
	}
}

// Ensure creates every stream and bucket, or updates the ones whose
// configuration differs; it is idempotent and safe to call from every
// replica at start-up.
func Ensure(ctx context.Context, js jetstream.JetStream, c StreamsConfig) error {
	_, err := EnsureReport(ctx, js, c)
	return err
}

// EnsureReport is Ensure, and returns a sentence for each stream or bucket
// it updated, or whose larger settings it kept (jsensure): configuration
// differences an operator should see in the log.
func EnsureReport(ctx context.Context, js jetstream.JetStream, c StreamsConfig, opts ...jsensure.Option) (notes []string, err error) {
	note := func(what string, out jsensure.Outcome) {
		if len(out.Kept) > 0 {
			notes = append(notes, what+" keeps more than this process's settings: "+strings.Join(out.Kept, ", "))
		}
		if out.Updated {
			notes = append(notes, what+" updated to this process's settings")
		}
	}
	for _, sc := range c.Streams() {
		_, out, err := jsensure.Stream(ctx, js, sc, opts...)
		if err != nil {
			return notes, fmt.Errorf("ensure stream %s: %w", sc.Name, err)
		}
		note("stream "+sc.Name, out)
	}
	for _, kc := range []jetstream.KeyValueConfig{c.ReplayBucket(), c.UsedBucket(), c.ExposureBucket()} {
		_, out, err := jsensure.KeyValue(ctx, js, kc, opts...)
		if err != nil {
			return notes, fmt.Errorf("ensure bucket %s: %w", kc.Bucket, err)
		}
		note("bucket "+kc.Bucket, out)
	}
	return notes, nil
}
